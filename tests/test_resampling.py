"""Bootstrap replicates: cluster resampling by hand, and the same numbers whatever the workers."""

import os

import numpy as np
import pandas as pd
import pytest

from analysis.methods import resampling
from analysis.methods.resampling import (
    bootstrap,
    bootstrap_frequencies,
    bootstrap_rows,
    frequency_bootstrap,
    map_chunks,
    percentile_interval,
)
from analysis.models.multinomial import fit_multinomial_logit


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


def _weighted_mean_y(data, counts):
    y, cluster = data
    w = counts[cluster]
    return np.sum(w * y) / np.sum(w)


def test_frequency_bootstrap_draws_the_resamples_of_the_row_bootstrap():
    """Replicate b of the frequency bootstrap weights each cluster by its number of draws in
    replicate b of the row bootstrap (same seed, clusters in sorted order), for any workers."""
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"id": rng.choice(list("qwertyuiopasdfgh"), 120), "y": rng.normal(size=120)})
    codes, labels = pd.factorize(data["id"], sort=True)
    for ss in np.random.SeedSequence(9).spawn(5):
        rows = bootstrap_rows(cluster=data["id"], seed_sequence=ss)
        drawn_rows = data.iloc[rows].groupby("id").size().reindex(labels, fill_value=0) / data.groupby("id").size()
        counts = pd.Series(bootstrap_frequencies(len(labels), seed_sequence=ss), index=labels)
        pd.testing.assert_series_equal(
            drawn_rows.reindex(labels).astype(int), counts, check_names=False, check_index_type=False
        )
    rows_reps = bootstrap(_mean_y, data, n_boot=30, seed=5, cluster="id")
    freq_reps = frequency_bootstrap(
        _weighted_mean_y, (data["y"].to_numpy(), codes), n_clusters=len(labels), n_boot=30, seed=5
    )
    np.testing.assert_allclose(freq_reps, rows_reps, rtol=1e-12)


@pytest.mark.slow
def test_frequency_bootstrap_identical_for_one_and_two_workers(monkeypatch):
    monkeypatch.setattr(resampling, "POOL_START_SECONDS", -1.0)  # the two workers do start
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 25, 150)
    data = (rng.normal(size=150), codes)
    one = frequency_bootstrap(_weighted_mean_y, data, n_clusters=25, n_boot=40, seed=3, n_jobs=1)
    two = frequency_bootstrap(_weighted_mean_y, data, n_clusters=25, n_boot=40, seed=3, n_jobs=2)
    np.testing.assert_array_equal(one, two)


def test_frequency_weighted_multinomial_equals_the_fit_on_repeated_rows():
    rng = np.random.default_rng(8)
    X = np.column_stack([np.ones(90), rng.normal(size=90), rng.integers(0, 2, 90)])
    codes = rng.integers(0, 3, 90)
    counts = rng.integers(0, 4, 90)
    keep = counts > 0
    beta_w, cov_w, probs_w = fit_multinomial_logit(X[keep], codes[keep], n_classes=3, weights=counts[keep])
    rep = np.repeat(np.arange(90), counts)
    beta_r, cov_r, _ = fit_multinomial_logit(X[rep], codes[rep], n_classes=3)
    np.testing.assert_allclose(beta_w, beta_r, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cov_w, cov_r, rtol=1e-9, atol=1e-14)
    started = fit_multinomial_logit(X[keep], codes[keep], n_classes=3, weights=counts[keep], start=beta_r * 0.9)
    np.testing.assert_allclose(started[0], beta_r, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(probs_w.sum(axis=1), 1)


def _blas_threads(shared, chunk):
    from threadpoolctl import threadpool_info

    return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


def _sum_over_rows(shared, chunk):
    x, v = shared
    return (x.T @ v).tobytes()


def test_every_chunk_computes_with_one_blas_thread_whatever_the_caller(monkeypatch):
    """Would catch workers and chunks computed with OpenBLAS's default of one thread per core:
    two notebooks side by side then ran a 500-replicate AIPW bootstrap in 42 s each instead of
    3.6 s on the 2-core machine, and sums over many rows change their last bits with the
    thread count, so a result would depend on whether a pool was started."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(8)
    data = (rng.normal(size=(400_000, 3)), rng.normal(size=400_000))
    with threadpool_limits(limits=1, user_api="blas"):
        one_thread = _sum_over_rows(data, None)
    with threadpool_limits(limits=4, user_api="blas"):  # a caller with several BLAS threads
        four_threads = _sum_over_rows(data, None)
        assert _blas_threads(None, None) == 4
        assert four_threads != one_thread  # the check below can see a chunk computed with 4 threads
        assert map_chunks(_sum_over_rows, data, [0, 1], jobs=1) == [one_thread] * 2
        monkeypatch.setattr(resampling, "POOL_START_SECONDS", -1.0)  # the workers do start
        assert map_chunks(_blas_threads, None, list(range(4)), jobs=2) == [resampling.BLAS_THREADS] * 4
        assert map_chunks(_sum_over_rows, data, [0, 1, 2], jobs=2) == [one_thread] * 3


def test_percentile_interval_reads_a_vector_as_the_replicates_of_one_statistic():
    """A vector of 200 replicates is one statistic's, not one replicate of 200 statistics."""
    reps = np.arange(200, dtype=float)
    low, high = percentile_interval(reps, conf_level=0.9)
    assert low.shape == high.shape == (1,)
    np.testing.assert_allclose([low[0], high[0]], np.quantile(reps, [0.05, 0.95]), rtol=1e-14)
    low2, high2 = percentile_interval(reps[:, None], conf_level=0.9)
    assert low2[0] == low[0] and high2[0] == high[0]


@pytest.mark.parametrize("draw", ["bootstrap", "frequency_bootstrap", "numbered_bootstrap"])
def test_every_bootstrap_refuses_fewer_than_one_replicate(draw):
    calls = {
        "bootstrap": lambda: bootstrap(_mean_y, pd.DataFrame({"y": [1.0, 2.0]}), n_boot=0),
        "frequency_bootstrap": lambda: resampling.frequency_bootstrap(_weighted_mean_y, None, n_clusters=2, n_boot=0),
        "numbered_bootstrap": lambda: resampling.numbered_bootstrap(lambda rows, b: 0.0, 2, n_boot=0),
    }
    with pytest.raises(ValueError, match="n_boot must be at least 1, got 0"):
        calls[draw]()
