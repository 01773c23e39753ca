"""Notebooks as tasks on a Dask cluster (``run --scheduler``), and reruns with notebooks side by side.

The two small notebooks of ``test_rerun`` stand in for the suite (a Dask run of the whole suite
is in the slow tests). A multi-process ``LocalCluster`` started here plays the cluster: its
workers are other processes, so the notebook tasks are pickled, shipped and executed as on
remote machines sharing the file system.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from test_rerun import suite  # noqa: F401  (the two small notebooks, a fixture)

from analysis.run.cli import _parser
from analysis.run.runner import run_suite


def _tables(run):
    return {p.name: p.read_bytes() for p in sorted((run / "tables").glob("*.csv"))}


def test_a_dask_run_writes_the_bytes_of_a_local_run_and_reruns_side_by_side(small_cohort_dir, suite, tmp_path):  # noqa: F811
    """Would catch a cluster path that loses a notebook's outputs, merges estimates out of order,
    or records the notebooks in completion order instead of the suite's. The local run and its
    rerun have two notebooks side by side: before, ``jobs > 1`` reused the name of the earlier
    run's manifest for the wall times, so the rerun failed with KeyError: 'notebooks'; and
    papermill's process-wide chdir, raced by two threads, could leave the caller in the renamed
    .partial folder (later process start-ups then failed on os.getcwd())."""
    from distributed import Client, LocalCluster

    here = os.getcwd()
    local = run_suite(small_cohort_dir, tmp_path / "local", notebooks=suite, quiet=True, jobs=2)
    assert os.getcwd() == here
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        remote = run_suite(small_cohort_dir, tmp_path / "remote", notebooks=suite, quiet=True, scheduler=client)
    assert _tables(remote) == _tables(local) and len(_tables(local)) >= 3
    manifest = json.loads((remote / "manifest.json").read_text())
    assert [n["notebook"] for n in manifest["notebooks"]] == ["01_uses_seed.ipynb", "02_uses_k.ipynb"]
    assert manifest["status"] == "ok" and all(n["status"] == "ok" for n in manifest["notebooks"])

    run_suite(small_cohort_dir, local, notebooks=suite, overrides=["seed=3"], quiet=True, jobs=2)
    manifest = json.loads((local / "manifest.json").read_text())
    assert manifest["rerun"]["executed"] == ["01_uses_seed", "02_uses_k"]
    assert [n["notebook"] for n in manifest["notebooks"]] == ["01_uses_seed.ipynb", "02_uses_k.ipynb"]


def test_run_takes_a_scheduler_address():
    assert _parser().parse_args(["run", "--scheduler", "tcp://10.0.0.5:8786"]).scheduler == "tcp://10.0.0.5:8786"


@pytest.fixture(scope="module")
def cluster():
    """A two-process ``LocalCluster`` shared by the replicate tests of this module."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield cluster, client


def test_bootstrap_replicates_on_a_dask_cluster_equal_the_local_ones(cluster, monkeypatch):
    """Would catch replicates that go to the cluster with other seeds or come back out of order,
    and a cluster path that silently runs locally (the task stream must show the chunks)."""
    from distributed import get_task_stream

    from analysis.methods.resampling import SCHEDULER_VARIABLE, bootstrap

    local_cluster, client = cluster
    data = np.random.default_rng(3).normal(size=(200, 2))
    local = bootstrap(np.mean, data, n_boot=40, seed=11, n_jobs=1)
    monkeypatch.setenv(SCHEDULER_VARIABLE, local_cluster.scheduler_address)
    with get_task_stream(client) as stream:
        remote = bootstrap(np.mean, data, n_boot=40, seed=11, n_jobs=1)
    assert np.array_equal(remote, local) and remote.shape == (40, 1)
    assert sum(task["key"].startswith("_run_chunk") for task in stream.data) == 16


def test_imputations_on_a_dask_cluster_equal_the_local_ones(cluster, monkeypatch):
    """Would catch imputations that stay in local processes when the run names a cluster, or that
    come back with other seeds or out of order: one task per imputation, the bytes of a local run."""
    from distributed import get_task_stream
    from test_imputation import _with_gaps

    from analysis.methods import imputation
    from analysis.methods.resampling import SCHEDULER_VARIABLE

    local_cluster, client = cluster
    data = _with_gaps()
    arguments = dict(columns=["x", "g"], predictors=["y", "arm"], m=4, seed=9, n_iter=5)
    local = imputation.impute_chained(data, **arguments)
    monkeypatch.setenv(SCHEDULER_VARIABLE, local_cluster.scheduler_address)
    with get_task_stream(client) as stream:
        remote = imputation.impute_chained(data, **arguments)
    assert [frame.to_csv().encode() for frame in remote] == [frame.to_csv().encode() for frame in local]
    assert sum(task["key"].startswith("_one_imputation") for task in stream.data) == 4
