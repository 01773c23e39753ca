"""Benchmarks of the suite: ``python -m benchmarks.run [--sizes 1000 10000 100000 1000000]``.

For each size (number of transfers) a synthetic cohort is simulated (about 1.9 transfers per
patient), then every stage runs in its own process (``benchmarks.stage``) so its wall time and
peak memory are its own: loading and validation, each model fit, each notebook, and the whole
suite (serially and with ``--jobs 2``). Where R is installed the same model fits are timed in R
(``benchmarks/r_fits.R``) on the same rows and the ratio is reported. Results go to
``benchmarks/results/latest.csv`` and ``latest.png``; ``--write-docs`` puts the table into
``docs/performance.md``. Nothing here is asserted: targets are reported as met or missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TRANSFERS_PER_PATIENT = 1.92  # measured on the generator (seed 1, 50,000 patients)
MODEL_STAGES = ["load_validate", "fit_logit", "fit_gee", "fit_cox", "fit_iptw", "fit_aipw_point"]
TARGETS = {"suite_shipped_s": 60, "suite_1m_s": 15 * 60, "suite_1m_gib": 8, "fit_vs_r": 2.0}


def _stage(stage: str, data_dir: Path, work: Path, timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.stage", stage, str(data_dir), str(work)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE.parent,
        )
    except subprocess.TimeoutExpired:
        return {"stage": stage, "status": f"timed out after {timeout:.0f} s", "wall_seconds": float("nan")}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"stage": stage, "status": f"failed: {tail[:200]}", "wall_seconds": round(time.perf_counter() - t0, 3)}
    return {**json.loads(lines[-1]), "status": "ok"}


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
    with_r: bool = True,
    progress: Path | None = None,
) -> pd.DataFrame:
    """Run every stage on a cohort of about ``n_transfers`` transfers; return one row per stage."""
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

        for stage in MODEL_STAGES:
            keep(_stage(stage, data, work, timeout))
        if with_r and _stage("export_r", data, work, timeout)["status"] == "ok":
            rows += _r_stages(work)
        for nb in notebooks:
            keep(_stage(f"notebook:{nb}", data, work, timeout))
        if suite:
            row = _stage("suite", data, work, suite_timeout)
            keep(row)
            rows += [
                {"stage": f"suite:{nb}", "wall_seconds": wall, "status": "ok"}
                for nb, wall in (row.get("notebooks_in_suite") or {}).items()
            ]
            if notebooks:
                rows.append(_stage("suite_jobs2", data, work, suite_timeout))
    out = pd.DataFrame(rows).drop(columns="notebooks_in_suite", errors="ignore")
    out.insert(0, "n_transfers", n_actual)
    out.insert(0, "size", n_transfers)
    return out


def benchmark_shipped(data_dir: Path, *, suite_timeout: float) -> pd.DataFrame:
    """Time loading and the whole suite (serial and ``--jobs 2``) on the shipped cohort.

    This is the 60-second target: what ``make report`` costs a user on the cohort that comes
    with the project, kernel start-ups included. Rows have ``size`` "shipped".
    """
    from analysis.data.cohort import load_cohort

    n_actual = len(load_cohort(data_dir).transfers)
    with tempfile.TemporaryDirectory(prefix="bench_shipped_") as tmp:
        work = Path(tmp)
        rows = [_stage(stage, data_dir, work, suite_timeout) for stage in ("load_validate", "suite", "suite_jobs2")]
    rows = (
        rows[:2]
        + [
            {"stage": f"suite:{nb}", "wall_seconds": wall, "status": "ok"}
            for nb, wall in (rows[1].get("notebooks_in_suite") or {}).items()
        ]
        + rows[2:]
    )
    out = pd.DataFrame(rows).drop(columns="notebooks_in_suite", errors="ignore")
    out.insert(0, "n_transfers", n_actual)
    out.insert(0, "size", "shipped")
    return out


def _ratios(table: pd.DataFrame) -> pd.DataFrame:
    r = table[table["stage"].str.startswith("R:")].assign(stage=lambda d: d["stage"].str[2:])
    merged = table.merge(
        r[["size", "stage", "wall_seconds"]].rename(columns={"wall_seconds": "r_wall_seconds"}),
        on=["size", "stage"],
        how="left",
    )
    merged["ratio_to_r"] = merged["wall_seconds"] / merged["r_wall_seconds"]
    return merged


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for stage, rows in table[table["status"] == "ok"].groupby("stage", sort=False):
        if len(rows) > 1 and not stage.startswith("notebook:"):
            rows = rows.sort_values("n_transfers")
            ax.plot(rows["n_transfers"], rows["wall_seconds"], marker="o", label=stage)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Transfers")
    ax.set_ylabel("Wall time (s)")
    if ax.get_lines():
        ax.legend(fontsize=6, ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=150, metadata={"Software": None})
    plt.close(fig)


def markdown_table(table: pd.DataFrame) -> str:
    """The benchmark table as Markdown: stages down, sizes across (seconds / peak MiB)."""

    def cell(r):
        if r["status"] != "ok":
            return r["status"]
        mem = max(r.get("peak_mib_process", float("nan")) or 0, r.get("peak_mib_children", float("nan")) or 0)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per stage")
    parser.add_argument(
        "--suite-timeout",
        type=float,
        default=900,
        help="seconds allowed for the whole suite (default 900: the 1M-transfer target)",
    )
    parser.add_argument(
        "--notebooks-up-to",
        type=int,
        default=100_000,
        help="largest size at which each notebook and the --jobs 2 suite are also run on their own",
    )
    parser.add_argument("--no-suite", action="store_true", help="skip the notebooks and the whole suite")
    parser.add_argument("--no-r", action="store_true", help="do not time R even where it is installed")
    parser.add_argument("--out", default=str(RESULTS / "latest.csv"))
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/performance.md")
    parser.add_argument(
        "--no-shipped", action="store_true", help="skip the suite on the shipped cohort (data/synthetic)"
    )
    parser.add_argument(
        "--keep-other-sizes", action="store_true", help="keep the rows of sizes not run now from the existing --out CSV"
    )
    args = parser.parse_args(argv)
    from analysis.run.runner import notebook_paths

    notebooks = [] if args.no_suite else [p.stem for p in notebook_paths()]
    frames = []
    if args.keep_other_sizes and Path(args.out).exists():
        old = pd.read_csv(args.out, dtype={"size": str})
        rerun = {str(s) for s in args.sizes} | (set() if args.no_shipped or args.no_suite else {"shipped"})
        old = old[~old["size"].isin(rerun)].drop(columns=["r_wall_seconds", "ratio_to_r"], errors="ignore")
        frames.append(old.assign(size=lambda d: d["size"].map(lambda v: v if v == "shipped" else int(v))))
    if not (args.no_shipped or args.no_suite):
        print("shipped cohort …", flush=True)
        frames.append(benchmark_shipped(HERE.parent / "data" / "synthetic", suite_timeout=args.suite_timeout))
    for size in args.sizes:
        print(f"size {size:,} …", flush=True)
        frames.append(
            benchmark_size(
                size,
                timeout=args.timeout,
                suite=not args.no_suite,
                suite_timeout=args.suite_timeout,
                notebooks=notebooks if size <= args.notebooks_up_to else [],
                with_r=not args.no_r,
                progress=Path(args.out).with_suffix(".in_progress.csv"),
            )
        )
        table = _ratios(pd.concat(frames, ignore_index=True))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)  # after every size, so a long run leaves partial results
        print(table[table["size"] == size][["stage", "wall_seconds", "status"]].to_string(index=False), flush=True)
    table = _ratios(pd.concat(frames, ignore_index=True))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    plot(table, Path(args.out).with_suffix(".png"))
    if args.write_docs:
        write_docs(table)
    return 0


def write_docs(table: pd.DataFrame, path: Path = HERE.parent / "docs" / "performance.md") -> None:
    """Replace the generated table between the markers of docs/performance.md."""
    text = path.read_text()
    start, end = "<!-- benchmark table: start -->", "<!-- benchmark table: end -->"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    path.write_text(before + start + "\n" + markdown_table(table) + "\n" + end + after)


if __name__ == "__main__":
    raise SystemExit(main())
