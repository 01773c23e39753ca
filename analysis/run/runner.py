"""The runner: validate a cohort, then execute the notebooks through papermill into one run folder.

A run folder holds the executed notebooks (``notebooks/``), ``figures/``, ``tables/`` and
``manifest.json``. The cohort is read, validated and derived once, before any notebook runs, and
cached as Parquet in the run's private ``interim/cohort/``; each notebook that declares the
parameter ``cohort_file`` reads that cache instead of deriving the cohort again. ``interim/``
holds patient-level data: it is removed when the run succeeds (``keep_interim`` keeps it) and is
never linked from ``report.html`` nor read by the report, the publication tables or a sweep. The run is written into ``<out>.partial`` and renamed to ``<out>`` only when
every notebook succeeded, so a run folder is never half written; a failed run leaves the
``.partial`` folder with the partly executed notebook for inspection.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from analysis import __version__
from analysis.core.exceptions import RunError
from analysis.data.cohort import load_cohort
from analysis.data.cohort_cache import write_cohort_cache
from analysis.data.loading import input_files, sha256_file
from analysis.output.disclosure import mask_table
from analysis.output.report import write_report
from analysis.output.results import write_table
from analysis.run.config import RUNNER_PARAMETERS, check_plan, cohort_folder, resolve_config
from analysis.run.plan_check import check_plan_against_cohort

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
INTERIM_DIR = "interim"  # private part of a run folder: never shared, never in the report
COHORT_CACHE = f"{INTERIM_DIR}/cohort"
VERSIONED_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "lifelines",
    "matplotlib",
    "seaborn",
    "papermill",
    "pandera",
    "pyarrow",
)


def notebook_paths(notebook_dir: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """Return the suite's notebooks in reading order (``NN_name.ipynb``)."""
    paths = sorted(p for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise RunError(f"no notebooks found in {notebook_dir}")
    return paths


def declared_parameters(path: str | Path) -> dict[str, dict]:
    """Return the parameters a notebook declares in its ``parameters`` cell (papermill's view)."""
    import papermill

    return papermill.inspect_notebook(str(path))


def known_parameters(paths: list[Path]) -> dict[str, set[str]]:
    """Map each parameter name to the notebooks that declare it."""
    known: dict[str, set[str]] = {}
    for path in paths:
        for name in declared_parameters(path):
            known.setdefault(name, set()).add(path.stem)
    return known


def _git_commit() -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        )
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _versions() -> dict:
    out = {"python": platform.python_version(), "analysis": __version__}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, flush=True)


def _previous_wall_seconds(out_dir: Path) -> dict[str, float]:
    """Wall seconds per notebook from an earlier run's manifest in ``out_dir`` (empty if none)."""
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
        return {n["notebook"]: float(n["wall_seconds"]) for n in manifest.get("notebooks", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run_suite(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    config_path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    force: bool = False,
    notebooks: list[Path] | None = None,
    kernel_name: str = "python3",
    quiet: bool = False,
    jobs: int = 1,
    keep_interim: bool = False,
) -> Path:
    """Validate the cohort, then execute every notebook into one run folder.

    Parameters
    ----------
    data_dir : path or str
        Cohort folder (``patients`` and ``transfers`` tables), or a SQLAlchemy database URL
        (tables or queries from the config's ``data_source`` section, see
        :func:`analysis.run.config.cohort_folder`).
    out_dir : path
        Run folder to create, e.g. ``reports/my_study``.
    config_path : path, optional
        Study config (YAML) overriding the package defaults.
    overrides : list of str
        ``key=value`` overrides applied last.
    force : bool
        Replace an existing run folder.
    notebooks : list of Path, optional
        Notebooks to run (default: every ``NN_*.ipynb`` in ``notebooks/``, in order).
    kernel_name : str
        Jupyter kernel to execute with.
    quiet : bool
        Print no progress.
    jobs : int
        Notebooks executed at the same time (each in its own kernel). The run folder's tables
        and figures are the same bytes as a serial run's.
    keep_interim : bool
        Keep ``interim/`` (the cached derived cohort, patient-level data) in the finished run
        folder; by default it is removed when the run succeeds. A failed run keeps it in the
        ``.partial`` folder for inspection.

    Returns
    -------
    Path
        The finished run folder.

    Raises
    ------
    RunError
        The run folder exists (without ``force``) or a notebook failed (the message names the
        notebook, the cell, the error and the partly executed notebook).
    ConfigError, DataReadError, CohortValidationError
        Bad parameters or data, before anything is written.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    data_dir = cohort_folder(data_dir, config_path)  # a database URL is read into a temporary cohort folder
    out_dir = Path(out_dir).resolve()
    paths = list(notebooks) if notebooks else notebook_paths()
    if out_dir.exists() and not force:
        raise RunError(f"run folder {out_dir} exists; choose another --out or pass --force to replace it")

    # Known names come from the whole suite (a config serves every notebook, even when only
    # some are run) and from the notebooks being run.
    suite = list(dict.fromkeys([*notebook_paths(), *paths]))
    per_notebook = {path: set(declared_parameters(path)) for path in suite}
    declared = {name for names in per_notebook.values() for name in names}
    config = resolve_config(declared, config_path, overrides)
    check_plan(config)  # types, ranges and names of the plan, before the data are read
    # Validation before anything is written: hard errors stop here.
    t_derive = time.perf_counter()
    cohort = load_cohort(data_dir, profile_cutoffs=config.get("profile_cutoffs"), outcome=config["outcome"])
    derive_seconds = time.perf_counter() - t_derive
    check_plan_against_cohort(config, cohort)  # the plan against this cohort (covariates usable, levels present)
    _say(
        f"Cohort in {data_dir}: {len(cohort.patients)} patients, {len(cohort.transfers)} transfers, "
        f"{len(cohort.problems)} warning(s)",
        quiet,
    )

    partial = out_dir.with_name(out_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    for sub in ("notebooks", "figures", "tables"):
        (partial / sub).mkdir(parents=True)
    k = int(config.get("min_cell_count", 0) or 0)
    findings = cohort.problems if k <= 1 else mask_table(cohort.problems.drop(columns="example_ids"), k)
    write_table(findings, partial / "tables" / "validation_findings.csv")  # ids only when no disclosure control
    t_cache = time.perf_counter()
    cache = write_cohort_cache(cohort, partial / COHORT_CACHE)
    derive_seconds += time.perf_counter() - t_cache
    sharing = [path.stem for path in paths if "cohort_file" in per_notebook[path]]
    _say(
        f"cohort derived once ({derive_seconds:.1f} s), shared by {len(sharing)} of {len(paths)} notebooks"
        + (
            f" (the others derive it themselves: {', '.join(p.stem for p in paths if p.stem not in sharing)})"
            if len(sharing) < len(paths)
            else ""
        ),
        quiet,
    )

    inputs = {str(p.relative_to(data_dir)): sha256_file(p) for p in input_files(data_dir)}
    if config_path is not None:
        inputs[f"config:{Path(config_path).name}"] = sha256_file(config_path)
    manifest = {
        "suite_version": __version__,
        "data_dir": str(data_dir),
        "config_file": str(Path(config_path).resolve()) if config_path else None,
        "overrides": list(overrides),
        "inputs_sha256": inputs,
        "parameters": config,
        "versions": _versions(),
        "git": _git_commit(),
        "started": _now(),
        "finished": None,
        "status": "running",
        "notebooks": [],
        "cohort": {
            "derived_once": True,
            "derive_seconds": round(derive_seconds, 2),
            "interim": COHORT_CACHE,
            "shared_with": sharing,
        },
    }
    start = time.perf_counter()
    jobs = max(1, min(int(jobs), len(paths)))
    # Notebooks side by side share the cores: a notebook's own workers ("n_jobs: -1", every
    # core) get their share, so bootstraps do not fight each other. Results do not depend on it.
    inner_jobs = config.get("n_jobs")
    if jobs > 1 and inner_jobs in (-1, None):
        inner_jobs = max(1, (os.cpu_count() or 1) // jobs)

    def execute(i: int, path: Path) -> dict:
        params = {k: v for k, v in config.items() if k in per_notebook[path]}
        if "n_jobs" in params:
            params["n_jobs"] = inner_jobs
        params.update(data_dir=str(data_dir), run_dir=str(partial))
        if "cohort_file" in per_notebook[path]:
            params["cohort_file"] = str(cache)
        target = partial / "notebooks" / path.name
        _say(f"[{i}/{len(paths)}] {path.stem} … ({time.perf_counter() - start:.1f} s so far)", quiet)
        t0 = time.perf_counter()
        for attempt in (1, 2):
            try:
                papermill.execute_notebook(
                    str(path),
                    str(target),
                    parameters=params,
                    kernel_name=kernel_name,
                    cwd=str(partial),
                    progress_bar=False,
                    log_output=False,
                    report_mode=False,
                )
                break
            except PapermillExecutionError as exc:
                return {
                    "notebook": path.name,
                    "status": "failed",
                    "wall_seconds": round(time.perf_counter() - t0, 2),
                    "error": (
                        f"notebook {path.name} failed in cell {exc.cell_index + 1} (execution count "
                        f"{exc.exec_count}): {exc.ename}: {exc.evalue}\n  partly executed notebook: {target}"
                    ),
                }
            except Exception as exc:  # kernel start failures and the like: one retry (papermill issues 239, 511)
                if attempt == 2:
                    return {
                        "notebook": path.name,
                        "status": "failed",
                        "wall_seconds": round(time.perf_counter() - t0, 2),
                        "error": (
                            f"notebook {path.name} could not be executed: {type(exc).__name__}: {exc}\n"
                            f"  partly executed notebook (if any): {target}"
                        ),
                    }
        wall = time.perf_counter() - t0
        _say(f"      {path.stem} done in {wall:.1f} s", quiet)
        return {"notebook": path.name, "status": "ok", "wall_seconds": round(wall, 2)}

    if jobs == 1:
        records = []
        for i, path in enumerate(paths, 1):
            records.append(execute(i, path))
            if records[-1]["status"] != "ok":
                break
    else:
        # Notebooks are independent (each reads the cohort and writes its own tables and
        # figures; estimates.csv is merged under a lock), so they may run side by side.
        # Longest first, so the last notebook to start is a short one: by the wall times of
        # the previous run in out_dir when there is one, else later notebooks first (they
        # build on more and run longer). The manifest keeps the notebooks' own order.
        previous = _previous_wall_seconds(out_dir)
        order = sorted(range(len(paths)), key=lambda k: (-previous.get(paths[k].name, 0.0), -k))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {k: pool.submit(execute, k + 1, paths[k]) for k in order}
            records = [futures[k].result() for k in range(len(paths))]
    failed = [r for r in records if r["status"] != "ok"]
    manifest["notebooks"] = [{k: v for k, v in r.items() if k != "error"} for r in records]
    lock = partial / "tables" / "estimates.csv.lock"
    if lock.exists():
        lock.unlink()
    if failed:
        manifest.update(status="failed", finished=_now())
        _write_manifest(partial, manifest)
        raise RunError("\n".join(r["error"] for r in failed))

    if not keep_interim:
        shutil.rmtree(partial / INTERIM_DIR)
        manifest["cohort"]["interim"] = None
    manifest.update(status="ok", finished=_now(), wall_seconds=round(time.perf_counter() - start, 2))
    _write_manifest(partial, manifest)
    try:  # publication tables and report.html, from what the notebooks wrote
        write_report(partial, manifest)
    except Exception as exc:
        raise RunError(
            f"the notebooks ran, but the report could not be written: {type(exc).__name__}: {exc}\n"
            f"  run folder so far: {partial}"
        ) from None
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    _say(f"Run finished in {time.perf_counter() - start:.1f} s: {out_dir}", quiet)
    return out_dir


def _write_manifest(run_dir: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
    tmp = run_dir / ".manifest.json.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(run_dir / "manifest.json")


__all__ = [
    "COHORT_CACHE",
    "INTERIM_DIR",
    "run_suite",
    "notebook_paths",
    "known_parameters",
    "declared_parameters",
    "RUNNER_PARAMETERS",
]
