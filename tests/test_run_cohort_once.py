"""The runner derives the cohort once and hands it to the notebooks through ``interim/cohort``.

Two small notebooks stand in for the suite: one declares ``cohort_file`` and reads the cache
through its run context, one does not declare it (and must still run). ``interim/`` is removed
from a finished run unless it is kept, and nothing shareable refers to it.
"""

from __future__ import annotations

import json
import os

import nbformat
import pandas as pd
import pytest

from analysis.data.cohort import load_cohort
from analysis.run.cli import _parser
from analysis.run.runner import COHORT_CACHE, run_suite

READS_CACHE = """\
from analysis.study.context import open_context
ctx = open_context("01_reads_cache", data_dir=data_dir, run_dir=run_dir, cohort_file=cohort_file,
                   min_cell_count=0)
assert cohort_file, "the runner passes the cache"
from analysis.output.disclosure import TableDisclosure
ctx.save_table(pd.DataFrame({"patients": [len(ctx.cohort.patients)], "cohort_file": [cohort_file]}), "cache_seen",
               declaration=TableDisclosure(note="a test table"))
"""
DERIVES_ITSELF = """\
from analysis.data.cohort import load_cohort
cohort = load_cohort(data_dir)
pd.DataFrame({"patients": [len(cohort.patients)]}).to_csv(run_dir + "/tables/derived_here.csv", index=False)
"""


def _notebook(folder, name, parameters, body):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("import pandas as pd"), cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def two_notebooks(tmp_path):
    folder = tmp_path / "nb"
    folder.mkdir()
    return [
        _notebook(folder, "01_reads_cache", 'data_dir = ""\nrun_dir = ""\ncohort_file = ""', READS_CACHE),
        _notebook(folder, "02_derives_itself", 'data_dir = ""\nrun_dir = ""', DERIVES_ITSELF),
    ]


def test_cohort_is_derived_once_shared_and_interim_removed(small_cohort_dir, two_notebooks, tmp_path, capsys):
    out = tmp_path / "run"
    run_suite(small_cohort_dir, out, notebooks=two_notebooks)
    log = capsys.readouterr().out
    assert "cohort derived once (" in log and "shared by 1 of 2 notebooks" in log
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cohort"]["derived_once"] is True
    assert manifest["cohort"]["derive_seconds"] > 0
    assert manifest["cohort"]["shared_with"] == ["01_reads_cache"]
    assert manifest["cohort"]["interim"] is None and not (out / "interim").exists()
    n = len(load_cohort(small_cohort_dir).patients)
    seen = pd.read_csv(out / "tables" / "cache_seen.csv")
    assert seen["patients"].iloc[0] == n and seen["cohort_file"].iloc[0].endswith(".partial/" + COHORT_CACHE)
    assert pd.read_csv(out / "tables" / "derived_here.csv")["patients"].iloc[0] == n
    # nothing shareable names or holds the private area
    for path in out.rglob("*"):
        assert "interim" not in path.parts and not path.suffix == ".parquet"
    report = (out / "report.html").read_text()
    assert 'href="interim' not in report and 'src="interim' not in report and ".parquet" not in report


def test_keep_interim_keeps_the_cache_out_of_the_report(small_cohort_dir, two_notebooks, tmp_path):
    assert _parser().parse_args(["run", "--keep-interim"]).keep_interim is True
    assert _parser().parse_args(["run"]).keep_interim is False
    out = tmp_path / "kept"
    run_suite(small_cohort_dir, out, notebooks=two_notebooks, keep_interim=True, quiet=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cohort"]["interim"] == COHORT_CACHE
    assert (out / COHORT_CACHE / "cohort.json").is_file()
    report = (out / "report.html").read_text()
    assert 'href="interim' not in report and 'src="interim' not in report and ".parquet" not in report
    assert not list((out / "tables").rglob("*.parquet")) and not list((out / "figures").rglob("*.parquet"))


RECORDS_THREADS = """\
import os
from threadpoolctl import threadpool_info
import numpy
threads = max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
pd.DataFrame({"blas_threads": [threads], "variable": [os.environ.get("OPENBLAS_NUM_THREADS")]}).to_csv(
    run_dir + "/tables/threads_" + name + ".csv", index=False)
"""


def test_kernels_side_by_side_compute_with_one_blas_thread(small_cohort_dir, tmp_path, monkeypatch):
    """Would catch kernels started with the caller's BLAS threads (OpenBLAS: one per core): two
    notebooks side by side then spun each other's threads, and notebook 05's bootstrap took 33 s
    instead of 4 s in `make report`. The caller's own setting comes back after the run."""
    from analysis.methods.resampling import BLAS_THREADS

    folder = tmp_path / "nb"
    folder.mkdir()
    notebooks = [
        _notebook(folder, name, f'data_dir = ""\nrun_dir = ""\nname = "{name}"', RECORDS_THREADS)
        for name in ("01_first", "02_second")
    ]
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    run_suite(small_cohort_dir, tmp_path / "run", notebooks=notebooks, jobs=2, quiet=True)
    for name in ("01_first", "02_second"):
        seen = pd.read_csv(tmp_path / "run" / "tables" / f"threads_{name}.csv")
        assert seen["blas_threads"].tolist() == [BLAS_THREADS] and seen["variable"].tolist() == [BLAS_THREADS]
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
