"""Benchmarks of the suite: ``python -m benchmarks.run [--sizes 1000 10000 100000 1000000]``.

For each size (number of transfers) a synthetic cohort is simulated (about 1.9 transfers per
patient), then every stage runs in its own process (``benchmarks.stage``) so its wall time and
peak memory are its own: loading and validation, each model fit, each notebook (up to
``--notebooks-up-to``), and the whole suite with ``--jobs 2`` at every size (the serial suite up
to ``--notebooks-up-to``, and above it only with ``--serial-suite-all-sizes``). Peak memory is
that of the stage's whole process tree (kernels and their worker pools), sampled by
:class:`benchmarks.memory.TreePeakSampler`. Where R is installed the same model fits are timed in
R (``benchmarks/r_fits.R``) on the same rows and the ratio is reported. On the shipped cohort
``make report`` itself (``python -m analysis run --jobs 2``) is timed.

Results go to ``benchmarks/results/latest.csv`` and ``latest.png``; ``--write-docs``
puts the table and the verdicts on :data:`TARGETS` (:func:`verdict_table`, computed from the
measured table, dated) into ``docs/performance.md``. ``--max-cohort`` searches the largest
cohort whose whole suite (``--jobs 2``) stays within 8 GiB (:func:`search_max_cohort`). Nothing
here is asserted: targets are reported as met or missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from benchmarks.memory import TreePeakSampler

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TRANSFERS_PER_PATIENT = 1.92  # measured on the generator (seed 1, 50,000 patients)
MODEL_STAGES = ["load_validate", "fit_logit", "fit_gee", "fit_cox", "fit_iptw", "fit_aipw_point"]
R_FITS = ["fit_logit", "fit_gee", "fit_cox"]
#: Issue 18's targets. Sizes are the nominal ``--sizes`` (transfers); "shipped" is data/synthetic.
TARGETS = {
    "suite_1m_jobs2_s": 300,  # whole suite, 1M transfers, run --jobs 2: wall seconds
    "suite_1m_jobs2_gib": 8,  # ... and peak memory of its process tree
    "suite_100k_jobs2_s": 60,  # whole suite, 100k transfers, run --jobs 2
    "shipped_report_s": 30,  # make report (run --jobs 2) on the shipped cohort
    "fit_vs_r_from_10k": 1.0,  # every model fit / R's on the same rows, 10k transfers and up
    "fit_vs_r_1k": 2.0,  # ... at 1k transfers
    "growth_x10": 11.0,  # time ratio for ×10 rows between 100k and 1M, every stage
}
MAX_COHORT_LIMIT_GIB = 8


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


#: The process tree's two sampled peaks (:class:`benchmarks.memory.TreePeakSampler`): RSS sum, PSS sum.
TREE_PEAKS = ("peak_mib_tree", "peak_mib_tree_pss")


def peak_mib(row) -> float:
    """Return a stage's peak memory in MiB: the largest of its process tree's sampled peak and
    the getrusage peaks of its own process and of its largest finished descendant (each a lower
    bound of what the tree held at once); NaN if none was measured.

    The tree's peak is its PSS sum (``peak_mib_tree_pss``, physical memory) when measured, else
    its RSS sum (``peak_mib_tree``, rows of runs before 2026-12-03 night), which counts pages
    shared by forked kernels once per kernel (:mod:`benchmarks.memory`)."""
    pss = row.get("peak_mib_tree_pss")
    tree = "peak_mib_tree_pss" if pss is not None and pss == pss and float(pss) > 0 else "peak_mib_tree"
    values = [row.get(k) for k in (tree, "peak_mib_process", "peak_mib_children")]
    values = [float(v) for v in values if v is not None and v == v]
    return max(values) if values else float("nan")


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill a stage process and every descendant it started (kernels, worker pools)."""
    try:
        procs = [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]
    except psutil.Error:
        procs = []
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.wait()


def _timed_process(command: list[str], timeout: float) -> tuple[dict, subprocess.CompletedProcess | None]:
    """Run ``command`` with the tree sampler; return (wall, tree peak, status) and the finished process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=HERE.parent)
    with TreePeakSampler(proc.pid) as sampler:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            proc.communicate()
            return {
                "status": f"timed out after {timeout:.0f} s",
                "wall_seconds": float("nan"),
                "peak_mib_tree": round(sampler.peak_mib, 1),
                "peak_mib_tree_pss": round(sampler.peak_pss_mib, 1),
            }, None
    wall = time.perf_counter() - t0
    done = subprocess.CompletedProcess(command, proc.returncode, out, err)
    return {
        "wall_outside_seconds": round(wall, 3),
        "peak_mib_tree": round(sampler.peak_mib, 1),
        "peak_mib_tree_pss": round(sampler.peak_pss_mib, 1),
    }, done


def _stage(stage: str, data_dir: Path, work: Path, timeout: float) -> dict:
    measured, proc = _timed_process(
        [sys.executable, "-m", "benchmarks.stage", stage, str(data_dir), str(work)], timeout
    )
    if proc is None:
        return {"stage": stage, **measured}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {
            "stage": stage,
            "status": f"failed: {tail[:200]}",
            "wall_seconds": measured["wall_outside_seconds"],
            **{k: measured[k] for k in TREE_PEAKS},
        }
    return {**json.loads(lines[-1]), **{k: measured[k] for k in TREE_PEAKS}, "status": "ok"}


def _report_cli(data_dir: Path, work: Path, timeout: float) -> dict:
    """Time what ``make report`` runs (``python -m analysis run --jobs 2``), start-up included."""
    command = [sys.executable, "-m", "analysis", "run", "--data", str(data_dir), "--out", str(work / "report")]
    measured, proc = _timed_process([*command, "--force", "--jobs", "2"], timeout)
    row = {"stage": "make_report", **{k: measured[k] for k in TREE_PEAKS}}
    if proc is None:
        return {**row, "status": measured["status"], "wall_seconds": float("nan")}
    if proc.returncode:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {**row, "status": f"failed: {tail[:200]}", "wall_seconds": measured["wall_outside_seconds"]}
    return {**row, "status": "ok", "wall_seconds": measured["wall_outside_seconds"]}


def _r_stages(work: Path) -> list[dict]:
    if not shutil.which("Rscript"):
        return []
    proc = subprocess.run(["Rscript", str(HERE / "r_fits.R"), str(work)], capture_output=True, text=True)
    rows = []
    for line in proc.stdout.splitlines():
        name, wall = line.split(",")
        rows.append({"stage": name, "wall_seconds": float(wall), "status": "ok"})
    return rows


def benchmark_size(
    n_transfers: int,
    *,
    timeout: float,
    notebooks: list[str],
    suite: bool,
    suite_timeout: float,
    serial_suite: bool = True,
    model_stages: bool = True,
    with_r: bool = True,
    progress: Path | None = None,
    cells_dir: Path | None = None,
) -> pd.DataFrame:
    """Run every stage on a cohort of about ``n_transfers`` transfers; return one row per stage.

    ``suite`` runs the whole suite with ``--jobs 2`` (and serially too when ``serial_suite``);
    ``model_stages=False`` leaves out loading and the model fits (the max-cohort search).
    ``cells_dir``: where the ``--jobs 2`` suite's cell times go (:func:`_write_cells`).
    """
    from analysis.data.synthetic import simulate_cohort, write_cohort

    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        tmp = Path(tmp)
        data, work = tmp / "data", tmp / "work"
        work.mkdir()
        t0 = time.perf_counter()
        cohort = simulate_cohort(max(10, round(n_transfers / TRANSFERS_PER_PATIENT)), seed=1)
        write_cohort(cohort, data)
        rows = [{"stage": "simulate_and_write", "wall_seconds": round(time.perf_counter() - t0, 3), "status": "ok"}]
        n_actual = len(cohort.transfers)
        del cohort

        def keep(row):  # each finished stage is written at once, so a long size leaves partial results
            rows.append(row)
            if progress is not None:
                pd.DataFrame(rows).assign(size=n_transfers, n_transfers=n_actual).to_csv(progress, index=False)

        for stage in MODEL_STAGES if model_stages else []:
            keep(_stage(stage, data, work, timeout))
        if model_stages and with_r and _stage("export_r", data, work, timeout)["status"] == "ok":
            rows += _r_stages(work)
        for nb in notebooks:
            row = _stage(f"notebook:{nb}", data, work, timeout)
            row.pop("cells", None)
            keep(row)
        if suite:
            row = _stage("suite_jobs2", data, work, suite_timeout)
            cells = row.pop("cells", None)
            if cells_dir is not None:
                _write_cells(cells, cells_dir, n_transfers, n_actual)
            keep(row)
            if serial_suite:
                row = _stage("suite", data, work, suite_timeout)
                row.pop("cells", None)
                keep(row)
                rows += [
                    {"stage": f"suite:{nb}", "wall_seconds": wall, "status": "ok"}
                    for nb, wall in (row.get("notebooks_in_suite") or {}).items()
                ]
    out = pd.DataFrame(rows).drop(columns="notebooks_in_suite", errors="ignore")
    out.insert(0, "n_transfers", n_actual)
    out.insert(0, "size", n_transfers)
    out["date"] = _today()
    return out


def _write_cells(cells: list[dict] | None, folder: Path, size: int | str, n_transfers: int) -> None:
    """Keep the cell times of the ``--jobs 2`` suite at ``size`` in ``folder/cells_<size>.csv``.

    The suite's run folder is temporary; without these the time of a size could not be traced
    to the cells that spent it. Each size's file is replaced by its latest run.
    """
    if not cells:
        return
    table = pd.DataFrame(cells).assign(size=size, n_transfers=n_transfers, date=_today())
    table.to_csv(Path(folder) / f"cells_{size}.csv", index=False)


def benchmark_shipped(data_dir: Path, *, suite_timeout: float, cells_dir: Path | None = None) -> pd.DataFrame:
    """Time ``make report``, loading, and the whole suite (serial and ``--jobs 2``) on the shipped cohort.

    ``make_report`` is the 30-second target: the command ``make report`` runs
    (``python -m analysis run --jobs 2``), timed from outside, interpreter and kernel start-ups
    included. Rows have ``size`` "shipped".
    """
    from analysis.data.cohort import load_cohort

    n_actual = len(load_cohort(data_dir).transfers)
    with tempfile.TemporaryDirectory(prefix="bench_shipped_") as tmp:
        work = Path(tmp)
        rows = [_report_cli(data_dir, work, suite_timeout)]
        rows += [_stage(stage, data_dir, work, suite_timeout) for stage in ("load_validate", "suite_jobs2", "suite")]
    for row in rows:
        cells = row.pop("cells", None)
        if row["stage"] == "suite_jobs2" and cells_dir is not None:
            _write_cells(cells, cells_dir, "shipped", n_actual)
    rows += [
        {"stage": f"suite:{nb}", "wall_seconds": wall, "status": "ok"}
        for nb, wall in (rows[-1].get("notebooks_in_suite") or {}).items()
    ]
    out = pd.DataFrame(rows).drop(columns="notebooks_in_suite", errors="ignore")
    out.insert(0, "n_transfers", n_actual)
    out.insert(0, "size", "shipped")
    out["date"] = _today()
    return out


def _ratios(table: pd.DataFrame) -> pd.DataFrame:
    table = table.drop(columns=["r_wall_seconds", "ratio_to_r"], errors="ignore")
    r = table[table["stage"].str.startswith("R:")].assign(stage=lambda d: d["stage"].str[2:])
    merged = table.merge(
        r[["size", "stage", "wall_seconds"]].rename(columns={"wall_seconds": "r_wall_seconds"}),
        on=["size", "stage"],
        how="left",
    )
    merged["ratio_to_r"] = merged["wall_seconds"] / merged["r_wall_seconds"]
    return merged


def growth_x10(n_small: float, t_small: float, n_large: float, t_large: float) -> float:
    r"""Return the time ratio for ×10 rows at the growth measured between two sizes.

    With the log–log slope :math:`b = \log(t_2/t_1) / \log(n_2/n_1)` (1 for linear growth),
    the ratio is :math:`10^b`: 10 for linear, 100 for quadratic. The issue's "no stage grows
    faster than linearly" reads ``growth_x10 <= 11``.

    Examples
    --------
    >>> round(growth_x10(100_000, 2.0, 1_000_000, 20.0), 6)
    10.0
    >>> round(growth_x10(100_000, 1.0, 400_000, 16.0), 6)  # quadratic
    100.0
    """
    if min(n_small, t_small, n_large, t_large) <= 0 or n_large <= n_small:
        raise ValueError(f"growth needs positive times and n_large > n_small, got {n_small, t_small, n_large, t_large}")
    slope = math.log(t_large / t_small) / math.log(n_large / n_small)
    return 10**slope


def _measured(table: pd.DataFrame, size, stage: str):
    """The one row of ``stage`` at ``size`` (a dict), or None if not run."""
    rows = table[(table["size"].astype(str) == str(size)) & (table["stage"] == stage)]
    return None if rows.empty else rows.iloc[-1].to_dict()


def _gib(mib: float) -> str:
    return f"{mib / 1024:.2f} GiB"


def verdict_table(table: pd.DataFrame, max_cohort: dict | None = None) -> pd.DataFrame:
    """Return one row per target of :data:`TARGETS`: target, measured, verdict (met / missed / not measured).

    Computed from the benchmark table only (``size``, ``n_transfers``, ``stage``,
    ``wall_seconds``, ``status``, peak memory columns, ``ratio_to_r``), so the verdicts in
    docs/performance.md are never typed by hand. ``max_cohort`` (from :func:`search_max_cohort`)
    adds the largest cohort within 8 GiB.
    """
    out = []

    def add(target, measured, met):
        verdict = met if isinstance(met, str) else ("not measured" if met is None else ("met" if met else "missed"))
        out.append({"target": target, "measured": measured, "verdict": verdict})

    def wall_target(label, size, stage, limit_s, limit_gib=None):
        row = _measured(table, size, stage)
        if row is None:
            add(label, "not run", None)
            return
        if row["status"] != "ok":  # timed out (at a limit above the target) or failed: not done in time
            mem = peak_mib(row)
            add(label, row["status"] + (f"; tree peak {_gib(mem)} until then" if mem == mem and mem > 0 else ""), False)
            return
        mem = peak_mib(row)
        text = f"{row['wall_seconds']:.1f} s on {int(row['n_transfers']):,} transfers"
        met = row["wall_seconds"] <= limit_s
        if limit_gib is not None:
            text += f", peak {_gib(mem)} (process tree)"
            met = met and mem == mem and mem <= limit_gib * 1024
        add(label, text, met)

    wall_target(
        f"whole suite, 1M transfers, `--jobs 2`: ≤ {TARGETS['suite_1m_jobs2_s']} s and ≤ {TARGETS['suite_1m_jobs2_gib']} GiB",
        1_000_000,
        "suite_jobs2",
        TARGETS["suite_1m_jobs2_s"],
        TARGETS["suite_1m_jobs2_gib"],
    )
    wall_target(
        f"whole suite, 100k transfers, `--jobs 2`: ≤ {TARGETS['suite_100k_jobs2_s']} s",
        100_000,
        "suite_jobs2",
        TARGETS["suite_100k_jobs2_s"],
    )
    wall_target(
        f"`make report` on the shipped cohort: ≤ {TARGETS['shipped_report_s']} s",
        "shipped",
        "make_report",
        TARGETS["shipped_report_s"],
    )
    # model fits against R
    fits = table[table["stage"].isin(R_FITS) & table["ratio_to_r"].notna()].copy()
    fits = fits[fits["size"].astype(str) != "shipped"]
    fits["nominal"] = fits["size"].astype(int)
    for label, keep, limit in (
        (
            f"every model fit ≤ {TARGETS['fit_vs_r_from_10k']:g}× R, 10k transfers and up",
            fits["nominal"] >= 10_000,
            TARGETS["fit_vs_r_from_10k"],
        ),
        (
            f"every model fit ≤ {TARGETS['fit_vs_r_1k']:g}× R at 1k transfers",
            fits["nominal"] == 1_000,
            TARGETS["fit_vs_r_1k"],
        ),
    ):
        part = fits[keep].sort_values(["nominal", "stage"])
        if part.empty:
            add(label, "not run (R not timed at these sizes)", None)
            continue
        worse = part[part["ratio_to_r"] > limit]
        text = "; ".join(
            f"{int(n):,}: "
            + ", ".join(f"{s.removeprefix('fit_')} ×{r:.2f}" for s, r in zip(g["stage"], g["ratio_to_r"]))
            for n, g in part.groupby("nominal")
        )
        add(label, text, worse.empty)
    # growth between 100k and 1M
    label = f"no stage grows faster than linearly, 100k → 1M transfers (time ratio for ×10 rows ≤ {TARGETS['growth_x10']:g})"
    rows = growth_table(table, 100_000, 1_000_000)
    if rows.empty:
        add(label, "not run at both sizes", None)
    else:
        worst = rows.sort_values("growth_x10", ascending=False)
        text = ", ".join(f"{s} ×{g:.1f}" for s, g in zip(worst["stage"], worst["growth_x10"]))
        add(label, text, bool((rows["growth_x10"] <= TARGETS["growth_x10"]).all()))
    if max_cohort is not None:
        add(
            f"the biggest cohort the machine handles within {MAX_COHORT_LIMIT_GIB} GiB (whole suite, `--jobs 2`)",
            max_cohort_text(max_cohort),
            "confirmed by a run" if max_cohort.get("confirmed") else "extrapolated only",
        )
    return pd.DataFrame(out)


def growth_table(table: pd.DataFrame, small, large) -> pd.DataFrame:
    """Return :func:`growth_x10` of every stage measured (status ok, positive time) at both nominal sizes."""
    t = table[(table["status"] == "ok") & (table["wall_seconds"] > 0)]
    a = t[t["size"].astype(str) == str(small)].set_index("stage")
    b = t[t["size"].astype(str) == str(large)].set_index("stage")
    both = [s for s in a.index if s in b.index and not s.startswith("R:") and s != "simulate_and_write"]
    return pd.DataFrame(
        [
            {
                "stage": s,
                "growth_x10": growth_x10(
                    a.at[s, "n_transfers"], a.at[s, "wall_seconds"], b.at[s, "n_transfers"], b.at[s, "wall_seconds"]
                ),
            }
            for s in both
        ],
        columns=["stage", "growth_x10"],
    )


def search_max_cohort(
    measure: Callable[[int], dict],
    *,
    known: list[tuple[int, float]],
    limit_mib: float,
    max_runs: int = 3,
    margin: float = 0.9,
    shrink: float = 0.75,
    step: int = 100_000,
) -> dict:
    """Find the largest cohort whose run stays within ``limit_mib``: extrapolate, then confirm by running.

    Peak memory is taken as linear in transfers, ``peak = a + b n``, fitted by least squares
    to ``known`` (n, peak MiB) pairs and every run made here; the candidate is ``margin`` times
    the size where the line meets the limit, rounded down to ``step``. A candidate that
    finishes within the limit is confirmed, and a bigger one is tried (from the refitted line)
    while runs are left and the line promises at least 25% more; one that fails or goes over
    is shrunk by ``shrink``.

    Parameters
    ----------
    measure : callable
        ``measure(n)`` runs the suite on about ``n`` transfers and returns ``{"n_transfers",
        "peak_mib", "status", "wall_seconds"}`` (status "ok" when it finished).
    known : list of (int, float)
        Earlier measurements (transfers, peak MiB), at least two sizes.
    limit_mib : float
    max_runs : int
        Runs allowed (each is a whole suite at registry size: minutes to tens of minutes).

    Returns
    -------
    dict
        ``extrapolated`` (size where the final line meets the limit), ``confirmed`` (largest size
        run within the limit, or None), ``runs`` (list of the measurements), ``line`` (a, b).
    """
    points = [(float(n), float(m)) for n, m in known]
    if len({n for n, _ in points}) < 2:
        raise ValueError("search_max_cohort needs peak memory at two sizes at least to extrapolate")
    runs: list[dict] = []
    confirmed = None

    def line():
        n, m = np.array(points).T
        b, a = np.polyfit(n, m, 1)
        if b <= 0:
            raise ValueError(f"peak memory does not grow with the cohort in {points}: nothing to extrapolate")
        return a, b

    a, b = line()
    candidate = int(margin * (limit_mib - a) / b // step * step)
    while len(runs) < max_runs and candidate >= step:
        result = measure(candidate)
        runs.append({"size": candidate, **result})
        ok = result["status"] == "ok" and result["peak_mib"] <= limit_mib
        if result["peak_mib"] == result["peak_mib"] and result["peak_mib"] > 0 and result["status"] == "ok":
            points.append((float(result["n_transfers"]), float(result["peak_mib"])))
            a, b = line()
        if ok:
            confirmed = max(confirmed or 0, int(result["n_transfers"]))
            bigger = int(margin * (limit_mib - a) / b // step * step)
            if bigger < 1.25 * candidate:
                break
            candidate = bigger
        else:
            candidate = int(candidate * shrink // step * step)
    return {
        "extrapolated": round((limit_mib - a) / b),
        "confirmed": confirmed,
        "runs": runs,
        "line": (a, b),
        "limit_mib": limit_mib,
    }


def max_cohort_text(result: dict) -> str:
    """The max-cohort search in words, saying what was run and what is extrapolated."""
    a, b = result["line"]
    runs = "; ".join(
        f"{r['n_transfers']:,} transfers: {r['status']}"
        + (f", {r['wall_seconds']:.0f} s, peak {_gib(r['peak_mib'])}" if r["status"] == "ok" else "")
        + (" (over the limit)" if r["peak_mib"] > result.get("limit_mib", float("inf")) else "")
        for r in result["runs"]
    )
    text = (
        f"extrapolated {result['extrapolated']:,} transfers (peak ≈ {a:.0f} MiB + {b * 1e6:.0f} MiB per million transfers); "
        + (
            f"confirmed by a run: {result['confirmed']:,} transfers"
            if result["confirmed"]
            else "**not confirmed by a run**"
        )
    )
    return text + (f" (runs: {runs})" if runs else "")


def plot(table: pd.DataFrame, path: Path) -> None:
    """Draw wall time against transfers, log–log, one panel per stage, with a dashed linear reference.

    Each panel shows our stage (solid), R's same fit where timed (open markers), and a dashed
    line of slope 1 through our first point: a stage above it at large sizes grows faster than
    the rows. Saved as PNG and SVG with the suite's style (:mod:`analysis.output.style`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.output import style

    ok = table[(table["status"] == "ok") & (table["size"].astype(str) != "shipped") & (table["wall_seconds"] > 0)]
    stages = [
        s
        for s in [*MODEL_STAGES, "suite_jobs2", "suite", *sorted(set(ok["stage"]) - set(MODEL_STAGES))]
        if s in set(ok["stage"]) and not s.startswith(("R:", "suite:")) and s != "simulate_and_write"
    ]
    stages = list(dict.fromkeys(stages))
    ncol = 4
    nrow = max(1, math.ceil(len(stages) / ncol))
    with style.style_context():
        fig, axes = plt.subplots(
            nrow, ncol, figsize=style.figure_size("double", aspect=0.28 * nrow), layout="constrained", squeeze=False
        )
        for ax, stage in zip(axes.flat, stages):
            ours = ok[ok["stage"] == stage].sort_values("n_transfers")
            ax.plot(
                ours["n_transfers"], ours["wall_seconds"], marker="o", ms=3, color=style.OKABE_ITO["blue"], label="ours"
            )
            r = ok[ok["stage"] == f"R:{stage}"].sort_values("n_transfers")
            if len(r):
                ax.plot(
                    r["n_transfers"],
                    r["wall_seconds"],
                    marker="o",
                    ms=3,
                    mfc="white",
                    color=style.OKABE_ITO["orange"],
                    label="R",
                )
            n0, t0 = ours["n_transfers"].iloc[0], ours["wall_seconds"].iloc[0]
            n1 = max(ours["n_transfers"].max(), r["n_transfers"].max() if len(r) else 0, n0 * 10)
            ax.plot([n0, n1], [t0, t0 * n1 / n0], ls="--", lw=0.6, color=style.OKABE_ITO["grey"], label="linear")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(stage.replace("notebook:", "nb "), fontsize=7)
            ax.set_xlabel("Transfers")
            ax.set_ylabel("Wall time (s)")
        for ax in list(axes.flat)[len(stages) :]:
            ax.set_visible(False)
        if stages:
            handles = {}
            for ax in list(axes.flat)[: len(stages)]:
                for h, lab in zip(*ax.get_legend_handles_labels()):
                    handles.setdefault(lab, h)
            fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=3, frameon=False)
        # PNG only: the SVG of every per-stage point was 260 kB of text in each benchmark commit
        fig.savefig(path.with_suffix(".png"), dpi=150, metadata={"Software": None})
        plt.close(fig)


def markdown_table(table: pd.DataFrame) -> str:
    """The benchmark table as Markdown: stages down, sizes across (seconds / peak MiB of the process tree)."""

    def cell(r):
        if r["status"] != "ok":
            return r["status"]
        mem = peak_mib(r)
        text = f"{r['wall_seconds']:.2f} s"
        if mem == mem and mem > 0:
            text += f" / {mem:.0f} MiB"
        if r.get("ratio_to_r") == r.get("ratio_to_r") and r.get("ratio_to_r") is not None:
            text += f" (×{r['ratio_to_r']:.2f} R)"
        return text

    t = table.copy()
    t["cell"] = t.apply(cell, axis=1)
    wide = t.pivot_table(index="stage", columns="n_transfers", values="cell", aggfunc="first", sort=False)
    shipped = set(t.loc[t["size"].astype(str) == "shipped", "n_transfers"])
    head = (
        "| stage | "
        + " | ".join(f"{c:,} transfers" + (" (shipped cohort)" if c in shipped else "") for c in wide.columns)
        + " |"
    )
    sep = "|---" * (len(wide.columns) + 1) + "|"
    body = ["| " + s + " | " + " | ".join(str(v) if v == v else "" for v in row) + " |" for s, row in wide.iterrows()]
    return "\n".join([head, sep, *body])


def verdict_markdown(verdicts: pd.DataFrame, when: str, measured_on: list[str]) -> str:
    """The verdicts as a dated Markdown table (``when`` written, ``measured_on`` the table's dates)."""
    dates = ", ".join(measured_on) if measured_on else "dates not recorded"
    lines = [
        f"Computed by `python -m benchmarks.run --write-docs` on {when} from the table above (measured {dates}).",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {r.target} | {r.measured} | **{r.verdict}** |" for r in verdicts.itertuples()]
    return "\n".join(lines)


def _measure_suite_jobs2(size: int, *, suite_timeout: float) -> dict:
    """Run the whole suite with ``--jobs 2`` on about ``size`` transfers; return its peak and wall."""
    rows = benchmark_size(
        size,
        timeout=suite_timeout,
        notebooks=[],
        suite=True,
        suite_timeout=suite_timeout,
        serial_suite=False,
        model_stages=False,
        with_r=False,
    )
    row = rows[rows["stage"] == "suite_jobs2"].iloc[0].to_dict()
    return {
        "n_transfers": int(row["n_transfers"]),
        "peak_mib": peak_mib(row),
        "status": row["status"],
        "wall_seconds": row["wall_seconds"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per stage")
    parser.add_argument(
        "--suite-timeout",
        type=float,
        default=2400,
        help="seconds allowed for one whole suite (default 2400: 8× the 300 s target at 1M, so a miss is measured)",
    )
    parser.add_argument(
        "--notebooks-up-to",
        type=int,
        default=100_000,
        help="largest size at which each notebook and the serial suite are also run on their own",
    )
    parser.add_argument(
        "--serial-suite-all-sizes",
        action="store_true",
        help="run the serial suite above --notebooks-up-to too (the 1M target is for --jobs 2)",
    )
    parser.add_argument("--no-suite", action="store_true", help="skip the notebooks and the whole suite")
    parser.add_argument("--no-r", action="store_true", help="do not time R even where it is installed")
    parser.add_argument("--out", default=str(RESULTS / "latest.csv"))
    parser.add_argument(
        "--write-docs", action="store_true", help="write the table and the verdicts into docs/performance.md"
    )
    parser.add_argument(
        "--no-shipped",
        action="store_true",
        help="skip make report and the suite on the shipped cohort (data/synthetic)",
    )
    parser.add_argument(
        "--keep-other-sizes", action="store_true", help="keep the rows of sizes not run now from the existing --out CSV"
    )
    parser.add_argument(
        "--max-cohort",
        action="store_true",
        help="instead of the sizes: find the biggest cohort whose suite (--jobs 2) stays within 8 GiB, "
        "extrapolated from the peaks in --out and confirmed by up to --max-cohort-runs runs",
    )
    parser.add_argument("--max-cohort-runs", type=int, default=1, help="confirming runs allowed (default 1)")
    parser.add_argument(
        "--max-cohort-limit-gib",
        type=float,
        default=MAX_COHORT_LIMIT_GIB,
        help="memory limit of the search (default 8, the issue's; smaller to try the search cheaply)",
    )
    args = parser.parse_args(argv)
    if args.max_cohort:
        return _main_max_cohort(args)
    from analysis.run.runner import notebook_paths

    notebooks = [] if args.no_suite else [p.stem for p in notebook_paths()]
    frames = []
    if args.keep_other_sizes and Path(args.out).exists():
        old = pd.read_csv(args.out, dtype={"size": str})
        rerun = {str(s) for s in args.sizes} | (set() if args.no_shipped or args.no_suite else {"shipped"})
        old = old[~old["size"].isin(rerun)]
        frames.append(old.assign(size=lambda d: d["size"].map(lambda v: v if v == "shipped" else int(v))))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if not (args.no_shipped or args.no_suite):
        print("shipped cohort …", flush=True)
        frames.append(
            benchmark_shipped(
                HERE.parent / "data" / "synthetic", suite_timeout=args.suite_timeout, cells_dir=Path(args.out).parent
            )
        )
    for size in args.sizes:
        print(f"size {size:,} …", flush=True)
        frames.append(
            benchmark_size(
                size,
                timeout=args.timeout,
                suite=not args.no_suite,
                suite_timeout=args.suite_timeout,
                serial_suite=size <= args.notebooks_up_to or args.serial_suite_all_sizes,
                notebooks=notebooks if size <= args.notebooks_up_to else [],
                with_r=not args.no_r,
                progress=Path(args.out).with_suffix(".in_progress.csv"),
                cells_dir=Path(args.out).parent,
            )
        )
        table = _ratios(pd.concat(frames, ignore_index=True))
        table.to_csv(args.out, index=False)  # after every size, so a long run leaves partial results
        print(table[table["size"] == size][["stage", "wall_seconds", "status"]].to_string(index=False), flush=True)
    table = _ratios(pd.concat(frames, ignore_index=True))
    table.to_csv(args.out, index=False)
    plot(table, Path(args.out).with_suffix(".png"))
    max_cohort_json = Path(args.out).with_name("max_cohort.json")
    max_cohort = json.loads(max_cohort_json.read_text()) if max_cohort_json.exists() else None
    if max_cohort is not None and max_cohort.get("limit_gib", MAX_COHORT_LIMIT_GIB) != MAX_COHORT_LIMIT_GIB:
        max_cohort = None  # a trial search at another limit is not the issue's
    verdicts = verdict_table(table, max_cohort)
    print(verdicts.to_string(index=False), flush=True)
    if args.write_docs:
        write_docs(table, verdicts)
    return 0


def _main_max_cohort(args) -> int:
    """``--max-cohort``: extrapolate from the suite_jobs2 peaks in --out, confirm by running, save JSON."""
    table = pd.read_csv(args.out, dtype={"size": str})
    suites = table[(table["stage"] == "suite_jobs2") & (table["status"] == "ok") & (table["size"] != "shipped")]
    known = [(int(r["n_transfers"]), peak_mib(r)) for r in suites.to_dict("records") if int(r["size"]) >= 100_000]
    if len(known) < 2:
        known = [(int(r["n_transfers"]), peak_mib(r)) for r in suites.to_dict("records")]
    result = search_max_cohort(
        lambda n: _measure_suite_jobs2(n, suite_timeout=args.suite_timeout),
        known=known,
        limit_mib=args.max_cohort_limit_gib * 1024,
        max_runs=args.max_cohort_runs,
        step=100_000 if args.max_cohort_limit_gib >= 4 else 1_000,
    )
    result["known"] = known
    result["limit_gib"] = args.max_cohort_limit_gib
    result["date"] = _today()
    Path(args.out).with_name("max_cohort.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(max_cohort_text(result), flush=True)
    if args.write_docs and args.max_cohort_limit_gib != MAX_COHORT_LIMIT_GIB:
        raise SystemExit(f"--write-docs reports the {MAX_COHORT_LIMIT_GIB} GiB search only")
    if args.write_docs:
        write_docs(_ratios(table), verdict_table(_ratios(table), result))
    return 0


def _replace_between(text: str, name: str, content: str) -> str:
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    if start not in text or end not in text:
        raise ValueError(f"docs/performance.md has no {start} … {end} markers")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    return before + start + "\n" + content + "\n" + end + after


def write_docs(
    table: pd.DataFrame,
    verdicts: pd.DataFrame,
    path: Path = HERE.parent / "docs" / "performance.md",
    when: str | None = None,
) -> None:
    """Replace the generated table and the verdicts between their markers in docs/performance.md."""
    dates = sorted(table["date"].dropna().astype(str).unique()) if "date" in table else []
    text = _replace_between(path.read_text(), "benchmark table", markdown_table(table))
    text = _replace_between(text, "benchmark verdicts", verdict_markdown(verdicts, when or _today(), dates))
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
