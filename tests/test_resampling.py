"""Bootstrap replicates: cluster resampling by hand, and the same numbers whatever the workers."""

import os

import numpy as np
import pandas as pd

from analysis.methods import resampling
from analysis.methods.resampling import bootstrap, bootstrap_rows, map_chunks, percentile_interval


def _mean_y(sample):
    return sample["y"].mean()


def test_cluster_resample_keeps_whole_clusters():
    data = pd.DataFrame({"id": ["a", "a", "b", "c", "c", "c"], "y": np.arange(6.0)})
    rows = bootstrap_rows(cluster=data["id"], seed_sequence=np.random.SeedSequence(3))
    picked = data.iloc[rows]
    # every drawn cluster appears with all its rows, in multiples of its size
    counts = picked.groupby("id").size()
    sizes = data.groupby("id").size()
    assert ((counts % sizes[counts.index]) == 0).all()


def _pid(shared, chunk):
    return os.getpid()


def test_a_worker_pool_starts_only_when_the_work_pays_for_starting_it(monkeypatch):
    """Would catch the old behaviour: two workers started (2–3 s each under load) for a bootstrap
    that takes a second in the calling process, which made notebook 05 slower with n_jobs=-1."""
    here = os.getpid()
    assert map_chunks(_pid, None, list(range(8)), jobs=2) == [here] * 8  # microseconds of work
    monkeypatch.setattr(resampling, "POOL_START_SECONDS", -1.0)  # any work pays
    pids = map_chunks(_pid, None, list(range(8)), jobs=2)
    assert pids[0] == here and here not in pids[1:]  # the first chunk is timed here, the rest go to workers


def test_replicates_identical_for_one_and_two_workers(monkeypatch):
    monkeypatch.setattr(resampling, "POOL_START_SECONDS", -1.0)  # the two workers do start
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"id": rng.integers(0, 40, 200), "y": rng.normal(size=200)})
    one = bootstrap(_mean_y, data, n_boot=50, seed=11, cluster="id", n_jobs=1)
    two = bootstrap(_mean_y, data, n_boot=50, seed=11, cluster="id", n_jobs=2)
    np.testing.assert_array_equal(one, two)
    assert one.shape == (50, 1)


def test_bootstrap_se_of_mean_matches_theory():
    # SE of a mean of 400 iid N(0,1) draws is 0.05; 2000 replicates estimate it within about 4 %.
    data = pd.DataFrame({"y": np.random.default_rng(5).normal(size=400)})
    reps = bootstrap(_mean_y, data, n_boot=2000, seed=2)
    assert abs(reps.std(ddof=1) / (data["y"].std(ddof=1) / 20) - 1) < 0.08
    low, high = percentile_interval(reps)
    assert low[0] < data["y"].mean() < high[0]
