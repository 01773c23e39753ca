"""Parameter sweeps: many runs of the suite into one sweep folder, locally or on Dask.

A sweep file (YAML) names what every run shares and what varies::

    data: data/synthetic            # cohort folder (relative to the sweep file), or a list of them
    config: study.yaml              # optional study config for every run
    notebooks: [03_outcomes_logistic]   # optional subset of the suite (names without .ipynb)
    base:                           # overrides for every run
      n_bootstrap: 200
    sets:                           # optional named parameter sets, crossed with the grid
      main: {}
      att: {estimand: ATT}
    grid:                           # every combination of these values
      outcome: [live_birth, clinical_pregnancy]

Runs are the product data × sets × grid, in that order, each written as a normal run folder
``<sweep>/runs/<slug>`` (slug: ``001_<set>_<key>-<value>…``, stable for a given sweep file).
A run whose folder holds a ``manifest.json`` with status ``ok`` is skipped, so an interrupted
sweep resumes where it stopped; a failing run is recorded and never stops the others.
At the end ``<sweep>/estimates.csv`` stacks every finished run's estimates with the run's
parameter values as columns, and ``<sweep>/sweep_status.csv`` lists each run's status, wall
time and error message.

Runs execute in local processes (``jobs``) or, with ``scheduler``, as tasks on a Dask
distributed cluster (``distributed.Client(scheduler)``); workers must see the same files.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from analysis.core.exceptions import AnalysisError, ConfigError
from analysis.output.results import read_estimates_file, write_table
from analysis.run.runner import NOTEBOOK_DIR, run_suite

__all__ = ["SweepRun", "plan_sweep", "run_sweep"]

_SPEC_KEYS = {"data", "config", "notebooks", "base", "sets", "grid"}


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its slug, cohort folder and the parameter values that define it."""

    slug: str
    data_dir: str
    set_name: str
    parameters: dict = field(default_factory=dict)


def _slug_part(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-")[:40] or "x"


def read_sweep(path: str | Path) -> dict:
    """Read and check a sweep file; every problem is listed in one :class:`ConfigError`."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"sweep file {path} cannot be read: {exc}") from None
    problems = []
    if not isinstance(spec, dict):
        raise ConfigError(f"sweep file {path} must be a mapping")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        problems.append(f"unknown key(s) {sorted(unknown)} (known: {sorted(_SPEC_KEYS)})")
    if "data" not in spec:
        problems.append("'data' (a cohort folder or a list of them) is required")
    for key in ("base", "sets", "grid"):
        if key in spec and not isinstance(spec[key], dict):
            problems.append(f"'{key}' must be a mapping")
    for key, values in (spec.get("grid") or {}).items():
        if not isinstance(values, list) or not values:
            problems.append(f"grid.{key} must be a non-empty list of values")

    missing = [n for n in spec.get("notebooks") or [] if not (NOTEBOOK_DIR / f"{n}.ipynb").exists()]
    if missing:
        problems.append(f"notebooks {missing} do not exist in {NOTEBOOK_DIR}")
    if problems:
        raise ConfigError(f"sweep file {path} has problems:\n  - " + "\n  - ".join(problems))
    base_dir = path.resolve().parent
    data = spec["data"] if isinstance(spec["data"], list) else [spec["data"]]
    spec["data"] = [str((base_dir / d).resolve()) for d in data]
    if spec.get("config"):
        spec["config"] = str((base_dir / spec["config"]).resolve())
    return spec


def plan_sweep(spec: dict) -> list[SweepRun]:
    """Return the runs of a sweep, in a stable order (data × sets × grid)."""
    sets = spec.get("sets") or {"": {}}
    grid = spec.get("grid") or {}
    keys = list(grid)
    runs = []
    for data_dir, (set_name, set_params), values in itertools.product(
        spec["data"], sets.items(), itertools.product(*[grid[k] for k in keys])
    ):
        params = {**(spec.get("base") or {}), **(set_params or {}), **dict(zip(keys, values))}
        parts = [f"{len(runs) + 1:03d}"]
        if len(spec["data"]) > 1:
            parts.append(_slug_part(Path(data_dir).name))
        if set_name:
            parts.append(_slug_part(set_name))
        parts += [f"{_slug_part(k)}-{_slug_part(v)}" for k, v in zip(keys, values)]
        runs.append(SweepRun("_".join(parts), data_dir, set_name, params))
    return runs


def _finished(run_dir: Path) -> bool:
    manifest = run_dir / "manifest.json"
    try:
        return json.loads(manifest.read_text()).get("status") == "ok"
    except (OSError, ValueError):
        return False


def execute_run(run: SweepRun, out_dir: str, config: str | None, notebooks: list[str] | None) -> dict:
    """Run the suite for one sweep run and return its status record (never raises)."""

    target = Path(out_dir) / "runs" / run.slug
    t0 = time.perf_counter()
    try:
        paths = [NOTEBOOK_DIR / f"{name}.ipynb" for name in notebooks] if notebooks else None
        overrides = [f"{k}={json.dumps(v)}" for k, v in run.parameters.items()]
        run_suite(
            run.data_dir, target, config_path=config, overrides=overrides, force=True, notebooks=paths, quiet=True
        )
        status, message = "ok", ""
    except AnalysisError as exc:
        status, message = "failed", str(exc)
    except Exception as exc:  # a sweep reports every failure and goes on
        status, message = "failed", f"{type(exc).__name__}: {exc}"
    return {"run": run.slug, "status": status, "wall_seconds": round(time.perf_counter() - t0, 2), "message": message}


def run_sweep(
    sweep_file: str | Path, out_dir: str | Path, *, jobs: int = 1, scheduler: str | None = None, quiet: bool = False
) -> pd.DataFrame:
    """Run every run of a sweep (skipping finished ones) and write the combined tables.

    Parameters
    ----------
    sweep_file : path
        The sweep YAML (module docstring).
    out_dir : path
        Sweep folder; runs go into ``runs/``.
    jobs : int
        Local worker processes (ignored with ``scheduler``).
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``) or a ``distributed.Client``.

    Returns
    -------
    DataFrame
        The sweep status table (also written as ``sweep_status.csv``).
    """
    spec = read_sweep(sweep_file)
    runs = plan_sweep(spec)
    out = Path(out_dir).resolve()
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(
        json.dumps(
            {
                "sweep_file": str(Path(sweep_file).resolve()),
                "spec": spec,
                "runs": [
                    {"run": r.slug, "data_dir": r.data_dir, "set": r.set_name, "parameters": r.parameters} for r in runs
                ],
            },
            indent=2,
            sort_keys=True,
            default=str,
        )
        + "\n"
    )
    todo = [r for r in runs if not _finished(out / "runs" / r.slug)]
    done = {
        r.slug: {"run": r.slug, "status": "ok", "wall_seconds": 0.0, "message": "finished earlier; skipped"}
        for r in runs
        if r not in todo
    }
    if not quiet:
        print(f"Sweep {out}: {len(runs)} runs, {len(done)} finished earlier, {len(todo)} to run", flush=True)
    args = [(r, str(out), spec.get("config"), spec.get("notebooks")) for r in todo]
    if scheduler is not None and todo:
        from distributed import Client, as_completed

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        try:
            futures = [
                client.submit(execute_run, *a, key=f"sweep-{a[0].slug}-{time.time_ns()}", pure=False) for a in args
            ]
            for future in as_completed(futures):
                record = future.result()
                done[record["run"]] = record
                if not quiet:
                    print(f"  {record['run']}: {record['status']} ({record['wall_seconds']} s)", flush=True)
        finally:
            if not isinstance(scheduler, Client):
                client.close()
    elif jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for record in pool.map(execute_run, *zip(*args)):
                done[record["run"]] = record
    else:
        for a in args:
            record = execute_run(*a)
            done[record["run"]] = record
            if not quiet:
                print(f"  {record['run']}: {record['status']} ({record['wall_seconds']} s)", flush=True)
    status = pd.DataFrame([done[r.slug] for r in runs], columns=["run", "status", "wall_seconds", "message"])
    write_table(status, out / "sweep_status.csv")
    write_table(combined_estimates(out, runs), out / "estimates.csv")
    return status


def combined_estimates(out_dir: Path, runs: list[SweepRun]) -> pd.DataFrame:
    """Stack the estimates of every finished run, with the run's slug and parameter values as columns."""
    keys = list(dict.fromkeys(k for r in runs for k in r.parameters))
    frames = []
    for r in runs:
        path = out_dir / "runs" / r.slug / "tables" / "estimates.csv"
        if not (_finished(out_dir / "runs" / r.slug) and path.exists()):
            continue
        est = read_estimates_file(path)
        head = {"run": r.slug, "data_dir": Path(r.data_dir).name, "set": r.set_name}
        head.update(
            {
                f"param_{k}": json.dumps(r.parameters[k])
                if isinstance(r.parameters.get(k), (list, dict))
                else r.parameters.get(k)
                for k in keys
            }
        )
        frames.append(pd.concat([pd.DataFrame([head] * len(est)), est.reset_index(drop=True)], axis=1))
    if not frames:
        return pd.DataFrame(columns=["run", "data_dir", "set", *[f"param_{k}" for k in keys]])
    return pd.concat(frames, ignore_index=True)
