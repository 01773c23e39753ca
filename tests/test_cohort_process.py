"""The runner's cohort is read, validated, derived and cached in a process of its own.

At 1M transfers a runner that derived the cohort itself kept about 2.9 GiB resident beside its
two notebook kernels for the whole run (the interpreter does not give small freed blocks back to
the system), even after dropping every reference: the suite's tree peaked at 11.7 GiB. Now a
child process does that work and exits once the cache is written. These tests show where the
cohort is loaded, that errors reach the user as before (same type, same message, the problems
table intact), that nothing is written before validation passes, and that a forked and a spawned
child write the same bytes.
"""

from __future__ import annotations

import os
import threading

import pandas as pd
import pytest
from conftest import SHIPPED
from test_rerun import _notebook

from analysis.core.exceptions import CohortValidationError, ConfigError, RunError
from analysis.data import cohort as cohort_module
from analysis.data.loading import read_cohort_tables
from analysis.run import cohort_process
from analysis.run.cohort_process import CohortProcess, start_method
from analysis.run.config import resolve_config
from analysis.run.runner import COHORT_CACHE, notebook_paths, run_suite


def _config(**overrides):
    from analysis.run.runner import declared_parameters

    declared = {name for path in notebook_paths() for name in declared_parameters(path)}
    return resolve_config(declared, None, [f"{k}={v}" for k, v in overrides.items()])


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_runner_never_loads_the_cohort_in_its_own_process(small_cohort_dir, tmp_path, monkeypatch):
    """Fails on the old runner, which called ``load_cohort`` itself (no pid recorded, or its own)."""
    folder = tmp_path / "nb"
    folder.mkdir()
    suite = [_notebook(folder, "01_uses_seed", "seed = 1", "seed")]
    record = tmp_path / "pids"
    real_load = cohort_module.load_cohort

    def load(*args, **kwargs):
        with open(record, "a") as f:
            f.write(f"{os.getpid()}\n")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(cohort_module, "load_cohort", load)
    monkeypatch.setattr(cohort_process, "start_method", lambda: "fork")  # the patch reaches a forked child only
    run = run_suite(small_cohort_dir, tmp_path / "run", notebooks=suite, quiet=True, keep_interim=True)
    loaded_in = [int(x) for x in record.read_text().split()]
    assert len(loaded_in) == 1 and loaded_in[0] != os.getpid()
    assert (run / COHORT_CACHE / "cohort.json").is_file()
    assert pd.read_csv(run / "tables" / "01_uses_seed.csv")["patients"].iloc[0] == 300


def test_a_forked_and_a_spawned_child_write_the_same_bytes(tmp_path, monkeypatch):
    """The spawn path (taken when the runner has another thread) is the same preparation."""
    config = _config()
    out = {}
    for method in ("fork", "spawn"):
        folder = tmp_path / method
        (folder / "tables").mkdir(parents=True)
        monkeypatch.setattr(cohort_process, "start_method", lambda m=method: m)
        with CohortProcess(SHIPPED, config) as process:
            summary = process.checked()
            written = process.write(folder / "tables" / "validation_findings.csv", folder / "cache", min_cell_count=0)
        assert process._process.exitcode == 0
        assert written["cache"] == folder / "cache"
        out[method] = (summary["patients"], summary["transfers"], _files(folder))
    assert out["fork"][:2] == (1500, 2903)
    assert out["fork"] == out["spawn"]


def test_another_thread_makes_the_child_spawned(monkeypatch):
    """Forking beside a live thread (a Dask client's loop, a pool) can leave the child on a lock held by it."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert start_method() == "spawn"
    finally:
        stop.set()
        thread.join()
    monkeypatch.setattr(cohort_process.threading, "active_count", lambda: 1)  # the runner alone
    assert start_method() == "fork"


def _broken_cohort(tmp_path):
    tables = read_cohort_tables(SHIPPED)
    tables["patients"].loc[:2, "age_at_biopsy_years"] = "-4"
    folder = tmp_path / "broken"
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_a_broken_cohort_raises_the_same_error_and_writes_nothing(tmp_path):
    folder = _broken_cohort(tmp_path)
    with pytest.raises(CohortValidationError) as in_runner:
        cohort_module.load_cohort(folder)
    with pytest.raises(CohortValidationError) as from_child:
        run_suite(folder, tmp_path / "run", notebooks=notebook_paths()[:1], quiet=True)
    assert str(from_child.value) == str(in_runner.value)
    pd.testing.assert_frame_equal(from_child.value.problems, in_runner.value.problems)
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_a_plan_the_cohort_cannot_serve_is_a_config_error_from_the_child(tmp_path):
    config = _config(ps_covariates='["age_at_biopsy_years","no_such_column"]')
    with CohortProcess(SHIPPED, config) as process, pytest.raises(ConfigError, match="no_such_column"):
        process.checked()


def test_a_child_that_dies_is_a_run_error_naming_its_exit_code(monkeypatch):
    monkeypatch.setattr(cohort_process, "start_method", lambda: "fork")
    monkeypatch.setattr(cohort_module, "load_cohort", lambda *a, **k: os._exit(3))
    with CohortProcess(SHIPPED, _config()) as process, pytest.raises(RunError, match="exit code 3"):
        process.checked()


def test_an_unexpected_error_keeps_its_type_and_the_child_traceback(monkeypatch):
    def load(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cohort_process, "start_method", lambda: "fork")
    monkeypatch.setattr(cohort_module, "load_cohort", load)
    with CohortProcess(SHIPPED, _config()) as process, pytest.raises(ZeroDivisionError) as err:
        process.checked()
    assert any("in the cohort process" in note and "ZeroDivisionError: a bug" in note for note in err.value.__notes__)
