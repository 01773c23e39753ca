"""The runner: validate a cohort, then execute the notebooks through papermill into one run folder.

A run folder holds the executed notebooks (``notebooks/``), ``figures/``, ``tables/`` and
``manifest.json``. The cohort is read, validated and derived once, before any notebook runs, in a
process of its own that exits afterwards (:mod:`analysis.run.cohort_process`: the runner's memory
stays small beside the kernels), and cached as Parquet in the run's private ``interim/cohort/``;
each notebook that declares the parameter ``cohort_file`` reads that cache instead of deriving the
cohort again. ``interim/`` holds patient-level data: it is removed when the run succeeds
(``keep_interim`` keeps it) and is never linked from ``report.html`` nor read by the report, the
publication tables or a sweep. The run is written into ``<out>.partial`` and renamed to ``<out>``
only when every notebook succeeded, so a run folder is never half written; a failed run leaves the
``.partial`` folder with the partly executed notebook for inspection. The notebooks' kernels are
forked from one process that imported the package while the cohort was prepared
(:mod:`analysis.run.warm_kernels`), unless ``warm_kernels=False``.
"""

from __future__ import annotations

import contextlib
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
from analysis.data.loading import input_files, sha256_file
from analysis.methods.resampling import SCHEDULER_VARIABLE, blas_thread_environment
from analysis.output.checklists import write_checklists
from analysis.output.disclosure import hide_close_model_counts
from analysis.output.report import write_report
from analysis.output.results import drop_notebook_estimates, read_estimates_file, write_table
from analysis.output.results_draft import write_results_draft
from analysis.run.cohort_process import CohortProcess
from analysis.run.config import RUNNER_PARAMETERS, check_plan, cohort_folder, resolve_config
from analysis.run.warm_kernels import warm_kernels as start_warm_kernels

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


#: Notebooks that read the outputs of earlier notebooks (none does today: each reads the cohort
#: only). A rerun of a notebook listed as a value forces the notebooks that read it.
READS_OUTPUTS_OF: dict[str, tuple[str, ...]] = {}
#: Files in ``tables/`` every notebook writes into (merged by notebook), never one notebook's output.
SHARED_OUTPUTS = ("tables/estimates.csv", "tables/skipped_sections.csv", "tables/validation_findings.csv")


def _snapshot(run_dir: Path) -> dict[str, tuple[int, int]]:
    """(mtime in ns, size) of every file a notebook may write (``figures/``, ``tables/`` but publication)."""
    out = {}
    for sub in ("figures", "tables"):
        for path in (run_dir / sub).rglob("*"):
            rel = path.relative_to(run_dir).as_posix()
            if (
                path.is_file()
                and not rel.startswith("tables/publication/")
                and rel not in SHARED_OUTPUTS
                and path.suffix not in (".lock", ".tmp")
            ):
                stat = path.stat()
                out[rel] = (stat.st_mtime_ns, stat.st_size)
    return out


def _previous_run(out_dir: Path) -> dict | None:
    """The manifest of a finished run in ``out_dir``, or None."""
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("status") == "ok" else None


def notebooks_to_rerun(
    previous: dict, requested: list[str], inputs: dict[str, str], config: dict, declared: dict[str, set[str]]
) -> tuple[list[str], dict[str, str]]:
    """Decide which notebooks a rerun executes and why the unrequested ones must run again.

    A notebook of the earlier run that was not requested is reused when the inputs' hashes and
    every parameter it declares are unchanged; otherwise, or when it reads the outputs of a
    notebook that runs again (:data:`READS_OUTPUTS_OF`), it is forced.

    Parameters
    ----------
    previous : dict
        The earlier run's manifest.
    requested : list of str
        Notebook stems asked for.
    inputs : dict
        Input files (and config) with their SHA-256, as the manifest records them.
    config : dict
        The resolved analysis plan of this run.
    declared : dict
        Notebook stem → the parameters its ``parameters`` cell declares.

    Returns
    -------
    list of str, dict
        The stems to execute (requested and forced), and the reason of each forced one.

    Examples
    --------
    >>> prev = {"inputs_sha256": {"p.csv": "a"}, "parameters": {"seed": 1, "k": 0},
    ...         "notebooks": [{"notebook": "01_x.ipynb"}, {"notebook": "02_y.ipynb"}]}
    >>> notebooks_to_rerun(prev, ["02_y"], {"p.csv": "a"}, {"seed": 2, "k": 0}, {"01_x": {"seed"}, "02_y": {"k"}})
    (['01_x', '02_y'], {'01_x': 'parameter(s) changed: seed'})
    """
    earlier = [Path(n["notebook"]).stem for n in previous.get("notebooks", [])]
    old_params = previous.get("parameters", {})
    forced: dict[str, str] = {}
    old_inputs = previous.get("inputs_sha256", {})
    inputs_changed = sorted(  # the data files; a config file counts through the parameters it sets
        k for k in set(inputs) | set(old_inputs) if not k.startswith("config:") and inputs.get(k) != old_inputs.get(k)
    )
    for stem in earlier:
        if stem in requested:
            continue
        if inputs_changed:
            forced[stem] = f"input(s) changed: {', '.join(inputs_changed)}"
            continue
        names = sorted(n for n in declared.get(stem, set()) if n not in RUNNER_PARAMETERS)
        changed = [n for n in names if config.get(n) != old_params.get(n)]
        if changed:
            forced[stem] = f"parameter(s) changed: {', '.join(changed)}"
    running = set(requested) | set(forced)
    for stem in earlier:
        reads = [r for r in READS_OUTPUTS_OF.get(stem, ()) if r in running]
        if stem not in running and reads:
            forced[stem] = f"reads the outputs of {', '.join(reads)}, which run again"
            running.add(stem)
    order = [*earlier, *[r for r in requested if r not in earlier]]
    return [stem for stem in order if stem in running], forced


def select_notebooks(names: str, notebook_dir: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """Return the notebooks named by ``names``: comma-separated numbers or stems (``"05,06"``, ``"06_biomarkers"``).

    Raises
    ------
    RunError
        A name matches no notebook (the message lists the notebooks).
    """
    paths = notebook_paths(notebook_dir)
    chosen, unknown = [], []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        match = [p for p in paths if p.stem == name or p.name == name or p.stem.split("_", 1)[0] == name]
        chosen += match
        if not match:
            unknown.append(name)
    if unknown or not chosen:
        raise RunError(f"unknown notebook(s) {unknown}; the suite has {', '.join(p.stem for p in paths)}")
    return sorted(set(chosen))


def notebook_paths(notebook_dir: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """Return the suite's notebooks in reading order (``NN_name.ipynb``)."""
    paths = sorted(p for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise RunError(f"no notebooks found in {notebook_dir}")
    return paths


def _import_papermill():
    """Import papermill without the IRI grammar jsonschema would compile for it.

    papermill validates notebooks with nbformat, which imports jsonschema's format checkers;
    those import ``rfc3987_syntax`` when it is installed (jupyterlab's dependencies install it),
    and compiling its grammar cost 1.6-2.0 s CPU at the start of every run on this project's
    machine, for an ``iri`` format no notebook schema uses. Marking the module absent makes
    jsonschema skip that one checker (its import is optional there).
    """
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)
    import papermill

    return papermill


def declared_parameters(path: str | Path) -> dict[str, dict]:
    """Return the parameters a notebook declares in its ``parameters`` cell (papermill's view)."""
    papermill = _import_papermill()

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
    share_cohort: bool = True,
    scheduler=None,
    warm_kernels: bool = True,
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
    share_cohort : bool
        Hand the cached cohort to the notebooks (the default). ``False`` makes each notebook
        read, validate and derive the cohort itself, as before the cache existed; the tables are
        the same bytes, only slower. It exists so ``benchmarks.cohort_once --suite`` can time
        both designs on the same code.
    scheduler : str or distributed.Client, optional
        A Dask distributed scheduler (``tcp://host:8786``) or client: the notebooks become tasks
        on its workers (``jobs`` is then ignored; each notebook keeps the plan's ``n_jobs``).
        Workers must see the repository, the cohort and ``out_dir`` at the same paths (a shared
        file system) and have the Jupyter kernel installed. The tables and figures are the same
        bytes as a local run's.
    warm_kernels : bool
        Fork the notebooks' kernels from one process that has imported the package while the
        cohort was prepared (:mod:`analysis.run.warm_kernels`): about three seconds less per
        notebook, the same bytes. ``False`` starts every kernel the ordinary way.

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
    out_dir = Path(out_dir).resolve()
    # an existing folder stops the run before anything starts (the warm process included)
    previous = _previous_run(out_dir) if out_dir.exists() and notebooks and not force else None
    if out_dir.exists() and not force and previous is None:
        raise RunError(
            f"run folder {out_dir} exists; choose another --out or pass --force to replace it "
            "(to rerun some notebooks of a finished run, name them with --notebooks)"
        )
    # the warm process imports while the cohort is prepared; its kernels get the BLAS environment too
    with start_warm_kernels(
        kernel_name, enabled=warm_kernels and scheduler is None, environment=blas_thread_environment()
    ) as warm:
        return _run_suite(
            data_dir,
            out_dir,
            config_path=config_path,
            overrides=overrides,
            notebooks=notebooks,
            kernel_name=kernel_name,
            quiet=quiet,
            jobs=jobs,
            keep_interim=keep_interim,
            share_cohort=share_cohort,
            scheduler=scheduler,
            warm=warm,
            previous=previous,
        )


def _run_suite(
    data_dir,
    out_dir,
    *,
    config_path,
    overrides,
    notebooks,
    kernel_name,
    quiet,
    jobs,
    keep_interim,
    share_cohort,
    scheduler,
    warm,
    previous,
) -> Path:
    """:func:`run_suite` with its warm process (:class:`analysis.run.warm_kernels.WarmKernels`) or None.

    ``out_dir`` is resolved and checked, and ``previous`` is the finished run in it whose
    notebooks are rerun (or None).
    """
    kernel_manager_class = warm.manager_class if warm is not None else None
    data_dir = cohort_folder(data_dir, config_path)  # a database URL is read into a temporary cohort folder
    paths = list(notebooks) if notebooks else notebook_paths()

    # Known names come from the whole suite (a config serves every notebook, even when only
    # some are run) and from the notebooks being run.
    suite = list(dict.fromkeys([*notebook_paths(), *paths]))
    per_notebook = {path: set(declared_parameters(path)) for path in suite}
    declared = {name for names in per_notebook.values() for name in names}
    config = resolve_config(declared, config_path, overrides)
    check_plan(config)  # types, ranges and names of the plan, before the data are read
    inputs = {str(p.relative_to(data_dir)): sha256_file(p) for p in input_files(data_dir)}
    if config_path is not None:
        inputs[f"config:{Path(config_path).name}"] = sha256_file(config_path)
    rerun = None
    if previous is not None:  # a rerun of some notebooks of a finished run: decide what runs again
        known_paths = {p.stem: p for p in [*notebook_paths(paths[0].parent), *suite]}
        stems, forced = notebooks_to_rerun(
            previous,
            [p.stem for p in paths],
            inputs,
            config,
            {s: set(declared_parameters(p)) for s, p in known_paths.items()},
        )
        unknown = [s for s in stems if s not in known_paths]
        if unknown:
            raise RunError(f"the earlier run in {out_dir} ran notebooks that no longer exist: {unknown}")
        paths = [known_paths[s] for s in stems]
        per_notebook.update({p: set(declared_parameters(p)) for p in paths if p not in per_notebook})
        same_cohort = all(
            config.get(k) == previous["parameters"].get(k)
            for k in ("profile_cutoffs", "outcome", "missing_marker_rule")
        ) and {k: v for k, v in inputs.items() if not k.startswith("config:")} == {
            k: v for k, v in previous["inputs_sha256"].items() if not k.startswith("config:")
        }
        earlier = [Path(n["notebook"]).stem for n in previous["notebooks"]]
        rerun = {
            "previous_started": previous.get("started"),
            "requested": [p.stem for p in (notebooks or [])],
            "executed": stems,
            "forced": forced,
            "reused": [s for s in earlier if s not in stems],
            "cohort_reused": bool(same_cohort and (out_dir / COHORT_CACHE / "cohort.json").is_file()),
        }
        _say(
            f"Rerun in {out_dir}: running {', '.join(stems)}"
            + (f" (forced: {'; '.join(f'{k}: {v}' for k, v in forced.items())})" if forced else "")
            + f"; reused {', '.join(rerun['reused']) or 'none'}; cohort {'reused' if rerun['cohort_reused'] else 'derived'}",
            quiet,
        )
    # The cohort is read, validated and derived in a process of its own (CohortProcess): the
    # runner would otherwise keep its memory (2.9 GiB at 1M transfers) beside the kernels for the
    # whole run. Validation and the plan check come before anything is written: errors stop here.
    reused_cache = out_dir / COHORT_CACHE if rerun is not None and rerun["cohort_reused"] else None
    with CohortProcess(data_dir, config, reuse_cache=reused_cache) as prepared:
        summary = prepared.checked()
        _say(
            f"Cohort in {data_dir}: {summary['patients']} patients, {summary['transfers']} transfers, "
            f"{summary['warnings']} warning(s)",
            quiet,
        )

        partial = out_dir.with_name(out_dir.name + ".partial")
        if partial.exists():
            shutil.rmtree(partial)
        if rerun is not None:  # start from the earlier run: files copied with their times, outputs of reruns removed
            shutil.copytree(out_dir, partial, copy_function=shutil.copy2)
            outputs = {Path(n["notebook"]).stem: n.get("outputs") or [] for n in previous["notebooks"]}
            for stem in rerun["executed"]:
                for rel in outputs.get(stem, []):
                    (partial / rel).unlink(missing_ok=True)
                drop_notebook_estimates(partial, stem)
        for sub in ("notebooks", "figures", "tables"):
            (partial / sub).mkdir(parents=True, exist_ok=True)
        written = prepared.write(
            partial / "tables" / "validation_findings.csv",
            partial / COHORT_CACHE,
            min_cell_count=int(config.get("min_cell_count", 0) or 0),
        )
        cache = written["cache"] or partial / COHORT_CACHE  # a rerun's copied folder already holds the reused cache
        derive_seconds = summary["seconds"] + written["seconds"]
    sharing = [path.stem for path in paths if share_cohort and "cohort_file" in per_notebook[path]]
    _say(
        f"cohort derived once ({derive_seconds:.1f} s), shared by {len(sharing)} of {len(paths)} notebooks"
        + (
            f" (the others derive it themselves: {', '.join(p.stem for p in paths if p.stem not in sharing)})"
            if len(sharing) < len(paths)
            else ""
        ),
        quiet,
    )

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
            "derived_once": bool(sharing),
            "derive_seconds": round(derive_seconds, 2),
            "interim": COHORT_CACHE,
            "shared_with": sharing,
            "reused": bool(rerun and rerun["cohort_reused"]),
        },
    }
    if rerun is not None:
        manifest["rerun"] = rerun
    start = time.perf_counter()
    jobs = max(1, min(int(jobs), len(paths)))
    # Notebooks side by side share the cores: a notebook's own workers ("n_jobs: -1", every
    # core) get their share, so bootstraps do not fight each other. Results do not depend on it.
    inner_jobs = config.get("n_jobs")
    if jobs > 1 and inner_jobs in (-1, None):
        inner_jobs = max(1, (os.cpu_count() or 1) // jobs)

    def execute_parameters(path: Path) -> dict:
        params = {k: v for k, v in config.items() if k in per_notebook[path]}
        if "n_jobs" in params:
            params["n_jobs"] = inner_jobs
        params.update(data_dir=str(data_dir), run_dir=str(partial))
        if path.stem in sharing:
            params["cohort_file"] = str(cache)
        return params

    def execute(i: int, path: Path, snapshot: bool) -> dict:
        params = execute_parameters(path)
        _say(f"[{i}/{len(paths)}] {path.stem} … ({time.perf_counter() - start:.1f} s so far)", quiet)
        record = execute_notebook(
            path, partial, params, kernel_name=kernel_name, snapshot=snapshot, kernel_manager_class=kernel_manager_class
        )
        if record["status"] == "ok":
            _say(f"      {path.stem} done in {record['wall_seconds']:.1f} s", quiet)
        return record

    # The kernels compute with one BLAS thread (see analysis.methods.resampling): notebooks side by
    # side would otherwise spin each other's threads, and their bits depend on the thread count.
    with _kernel_environment(blas_thread_environment()):
        if scheduler is not None:
            records = _execute_on_cluster(
                scheduler,
                [(path, partial, execute_parameters(path), kernel_name) for path in paths],
                order=_longest_first(paths, out_dir),
                quiet=quiet,
            )
        elif jobs == 1:
            records = []
            for i, path in enumerate(paths, 1):
                records.append(execute(i, path, snapshot=True))
                if records[-1]["status"] != "ok":
                    break
        else:
            # Notebooks are independent (each reads the cohort and writes its own tables and
            # figures; estimates.csv is merged under a lock), so they may run side by side.
            # Longest first, so the last notebook to start is a short one: by the wall times of
            # the previous run in out_dir when there is one, else the typical ones
            # (TYPICAL_WALL_SECONDS). The manifest keeps the notebooks' own order.
            order = _longest_first(paths, out_dir)
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {k: pool.submit(execute, k + 1, paths[k], False) for k in order}
                records = [futures[k].result() for k in range(len(paths))]
    failed = [r for r in records if r["status"] != "ok"]
    manifest["notebooks"] = [{k: v for k, v in r.items() if k != "error"} for r in records]
    forked = warm.forked() if warm is not None else 0  # the others started cold (disabled, or declined)
    manifest["kernels"] = {"forked_from_warm_process": forked, "started_cold": len(records) - forked}
    if rerun is not None:  # the reused notebooks keep their earlier record, in the earlier order
        ran = {r["notebook"]: r for r in manifest["notebooks"]}
        manifest["notebooks"] = [ran.get(n["notebook"], {**n, "reused": True}) for n in previous["notebooks"]] + [
            r for name, r in ran.items() if name not in {n["notebook"] for n in previous["notebooks"]}
        ]
    for lock in ("estimates.csv.lock", "skipped_sections.csv.lock"):
        (partial / "tables" / lock).unlink(missing_ok=True)
    if failed:
        manifest.update(status="failed", finished=_now())
        _write_manifest(partial, manifest)
        raise RunError("\n".join(r["error"] for r in failed))

    _hide_close_model_counts(partial, int(config.get("min_cell_count") or 0))
    if not keep_interim and not (previous and previous.get("cohort", {}).get("interim")):  # a kept cache stays kept
        shutil.rmtree(partial / INTERIM_DIR)
        manifest["cohort"]["interim"] = None
    manifest.update(status="ok", finished=_now(), wall_seconds=round(time.perf_counter() - start, 2))
    _write_manifest(partial, manifest)
    # the Results draft first (from tables/ only), so the report's disclosure audit reads this
    # run's draft; then the publication tables and report.html; then the checklists pointing into both
    try:
        write_results_draft(partial)
        write_report(partial, manifest)
        write_checklists(partial)
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


@contextlib.contextmanager
def _kernel_environment(variables: dict[str, str]):
    """Set ``variables`` in this process's environment, inherited by the kernels started inside; restore on leaving.

    Set once around all the notebooks (not per notebook: kernels start from threads side by side,
    and one thread restoring the environment must not race another starting its kernel).
    """
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute_notebook(
    path: Path,
    run_dir: Path,
    params: dict,
    *,
    kernel_name: str,
    snapshot: bool = False,
    scheduler_address: str = "",
    kernel_manager_class: type | None = None,
) -> dict:
    """Execute one notebook into ``run_dir/notebooks`` and return its manifest record.

    A module-level function, so a Dask worker can run it (``run_suite(scheduler=...)``); the
    worker must see ``run_dir`` and the cohort at the same paths.

    Parameters
    ----------
    path : Path
        The notebook to execute.
    run_dir : Path
        The run's ``.partial`` folder (the kernel's working directory).
    params : dict
        Papermill parameters.
    kernel_name : str
    snapshot : bool
        Record which files the notebook wrote (only meaningful when notebooks run one at a time).
    scheduler_address : str
        On a Dask worker: the scheduler the notebook's bootstrap replicates go to (handed to the
        kernel as :data:`analysis.methods.resampling.SCHEDULER_VARIABLE`). The task then leaves
        the worker's thread pool (``distributed.secede``) while the notebook runs, so the
        replicates it submits find free threads on the same workers.
    kernel_manager_class : type, optional
        The Jupyter kernel manager (:func:`analysis.run.warm_kernels.warm_kernels`'s, whose
        kernels are forked from the warm process); default Jupyter's own.

    Returns
    -------
    dict
        ``notebook``, ``status`` (``ok`` or ``failed``), ``wall_seconds``, with ``error`` (the
        notebook, cell and error) when it failed and ``outputs`` when ``snapshot``.
    """
    papermill = _import_papermill()
    from papermill.exceptions import PapermillExecutionError

    target = run_dir / "notebooks" / path.name
    if scheduler_address:
        from distributed import secede

        os.environ[SCHEDULER_VARIABLE] = scheduler_address  # inherited by the kernel papermill starts
        os.environ.update(blas_thread_environment())  # as a local run's kernels (a worker without a nanny lacks them)
        secede()
    t0 = time.perf_counter()
    before = _snapshot(run_dir) if snapshot else None
    for attempt in (1, 2):
        try:
            papermill.execute_notebook(
                str(path),
                str(target),
                parameters=params,
                kernel_name=kernel_name,
                # the kernel's working directory, without papermill's process-wide chdir (``cwd=``):
                # notebooks run side by side in threads would restore each other's directory
                # and leave the caller in the renamed .partial folder
                resources={"metadata": {"path": str(run_dir)}},
                progress_bar=False,
                log_output=False,
                report_mode=False,
                **({"kernel_manager_class": kernel_manager_class} if kernel_manager_class else {}),
            )
            break
        except PapermillExecutionError as exc:
            return _failed_record(
                path.name,
                time.perf_counter() - t0,
                f"notebook {path.name} failed in cell {exc.cell_index + 1} (execution count "
                f"{exc.exec_count}): {exc.ename}: {exc.evalue}\n  partly executed notebook: {target}",
            )
        except Exception as exc:  # kernel start failures and the like: one retry (papermill issues 239, 511)
            if attempt == 2:
                return _failed_record(
                    path.name,
                    time.perf_counter() - t0,
                    f"notebook {path.name} could not be executed: {type(exc).__name__}: {exc}\n"
                    f"  partly executed notebook (if any): {target}",
                )
    record = {"notebook": path.name, "status": "ok", "wall_seconds": round(time.perf_counter() - t0, 2)}
    if before is not None:  # what this notebook wrote, so a rerun can replace exactly that
        record["outputs"] = sorted(rel for rel, stat in _snapshot(run_dir).items() if before.get(rel) != stat)
    return record


def _failed_record(notebook: str, seconds: float, error: str) -> dict:
    """The manifest record of a notebook that failed (``error`` names the notebook, cell and cause)."""
    return {"notebook": notebook, "status": "failed", "wall_seconds": round(seconds, 2), "error": error}


#: Wall seconds of each notebook of the suite in a ``--jobs 2`` run on 100k transfers (benchmark of
#: 2026-12-03, after the single BLAS thread): the order of a first run in a folder, where no
#: earlier manifest says how long each notebook takes. Only the order matters.
TYPICAL_WALL_SECONDS = {
    "06_biomarkers.ipynb": 84.4,
    "05_treatment_effects.ipynb": 58.6,
    "04_time_to_live_birth.ipynb": 31.8,
    "07_safety.ipynb": 18.5,
    "02_immune_landscape.ipynb": 12.5,
    "03_outcomes_logistic.ipynb": 10.0,
    "01_cohort.ipynb": 9.0,
}


def _longest_first(paths: list[Path], out_dir: Path) -> list[int]:
    """Indices of ``paths``, longest first.

    By the previous run's wall times in ``out_dir`` when there is one, else by
    :data:`TYPICAL_WALL_SECONDS`; notebooks known to neither go last, later ones first. Two at a
    time, the longest notebook then starts at once instead of after a short one.
    """
    previous = _previous_wall_seconds(out_dir) or TYPICAL_WALL_SECONDS
    return sorted(range(len(paths)), key=lambda k: (-previous.get(paths[k].name, 0.0), -k))


def _execute_on_cluster(scheduler, tasks: list[tuple], *, order: list[int], quiet: bool) -> list[dict]:
    """Run :func:`execute_notebook` for each task on a Dask distributed cluster; records in task order.

    Parameters
    ----------
    scheduler : str or distributed.Client
        Scheduler address (``tcp://host:8786``) or a connected client (left open).
    tasks : list of tuple
        ``(path, run_dir, params, kernel_name)`` per notebook.
    order : list of int
        Submission order (longest first); the records come back in the tasks' order.
    quiet : bool
    """
    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        address = client.scheduler.address
        futures = {}
        for k in order:
            path, run_dir, params, kernel_name = tasks[k]
            futures[k] = client.submit(
                execute_notebook,
                path,
                run_dir,
                params,
                kernel_name=kernel_name,
                scheduler_address=address,
                key=f"notebook-{path.stem}-{time.time_ns()}",
                pure=False,
            )
        index = {future.key: k for k, future in futures.items()}
        records: dict[int, dict] = {}
        for future in as_completed(list(futures.values())):
            k = index[future.key]
            try:
                records[k] = future.result()
            except Exception as exc:  # the worker died or could not import the package
                name = tasks[k][0].name
                records[k] = _failed_record(
                    name, 0.0, f"notebook {name} could not run on the cluster: {type(exc).__name__}: {exc}"
                )
            _say(f"      {records[k]['notebook']}: {records[k]['status']} ({records[k]['wall_seconds']} s)", quiet)
        return [records[k] for k in range(len(tasks))]
    finally:
        if not isinstance(scheduler, Client):
            client.close()


def _hide_close_model_counts(run_dir: Path, min_cell_count: int) -> None:
    """Hide model counts of one population that differ by fewer than ``k`` across notebooks.

    Each notebook masks its own estimates; only the finished ``estimates.csv`` shows every
    notebook's models side by side (:func:`analysis.output.disclosure.hide_close_model_counts`).
    """
    path = run_dir / "tables" / "estimates.csv"
    if min_cell_count <= 1 or not path.exists():
        return
    estimates = read_estimates_file(path)
    masked = hide_close_model_counts(estimates, min_cell_count)
    if masked is not estimates:
        write_table(masked, path)


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
