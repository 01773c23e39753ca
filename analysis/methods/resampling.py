"""Bootstrap resampling that gives the same numbers whatever the number of workers.

Every replicate ``b`` draws its resample from its own generator,
``numpy.random.default_rng(SeedSequence(seed).spawn(n_boot)[b])``, so replicate ``b`` is the
same whether the replicates run in one process or are shared among several, and in whatever
order the workers finish. Resampling is by cluster when ``cluster`` is given (patients, for
transfer-level data): whole clusters are drawn with replacement, each copy keeping all its rows.

Workers are processes (``concurrent.futures.ProcessPoolExecutor``); the statistic must then be
a module-level function (picklable). ``n_jobs=1`` runs in the calling process, and so does work
too small to pay for starting the workers (:data:`POOL_START_SECONDS`). When the
environment names a Dask distributed scheduler (:data:`SCHEDULER_VARIABLE`, set by the runner for
the notebooks of ``run --scheduler``), the replicates become tasks on that cluster instead
(:func:`map_chunks`), with the same numbers.

Every process computes with :data:`BLAS_THREADS` BLAS thread: the worker processes here, the
tasks on a Dask cluster, and the notebooks' kernels (the runner starts them with
:func:`blas_thread_environment`; :func:`analysis.study.context.open_context` limits an interactive
kernel too). Parallel work is shared among processes, never among the BLAS threads of each: with
OpenBLAS's default of one thread per core, two processes on this project's 2-core machine ran a
500-replicate AIPW bootstrap in 42 s each instead of 3.6 s (threads spinning against each
other), and OpenBLAS's sums over many rows (``X.T @ v``, ``v @ w``) give other last bits with
two threads than with one, so results would depend on how a run was shared out.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

#: Worker processes start from a fork server, not by forking the caller: forking a Jupyter kernel
#: copies its ZeroMQ sockets into the child, which then aborts (``signaler.cpp`` assertion).
_WORKERS = multiprocessing.get_context("forkserver")
#: The fork server imports the estimators once; each worker is then a fork of it and starts in
#: milliseconds instead of importing pandas, SciPy and the package again (2–10 s per worker on a
#: loaded 2-core machine). A module that fails to import here is simply imported by the worker.
_WORKERS.set_forkserver_preload(
    [
        "analysis.methods.benefit",
        "analysis.methods.discrimination",
        "analysis.methods.effects",
        "analysis.methods.imputation",
        "analysis.methods.prognostic",
        "analysis.methods.target_trial",
    ]
)

#: Seconds a local worker pool costs before it computes anything (starting the processes from the
#: fork server and importing the package in each: 2–3 s measured on this project's 2-core machine,
#: 2026-12-03). :func:`map_chunks` starts a pool only when the work it would share out is expected
#: to save more than this.
POOL_START_SECONDS = 3.0

#: BLAS threads of every process that computes (kernels, local workers, Dask tasks); see the
#: module's notes. Parallelism comes from processes, and the last bits do not depend on it.
BLAS_THREADS = 1

#: Environment variables through which BLAS and OpenMP libraries read their thread count when
#: they load (OpenBLAS, MKL, Apple Accelerate, OpenMP, numexpr).
_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

#: Environment variable naming a Dask scheduler (``tcp://host:8786``) for the replicates.
SCHEDULER_VARIABLE = "ENDOIMMUNE_DASK_SCHEDULER"

__all__ = [
    "BLAS_THREADS",
    "SCHEDULER_VARIABLE",
    "blas_thread_environment",
    "bootstrap",
    "bootstrap_frequencies",
    "bootstrap_rows",
    "frequency_bootstrap",
    "limit_blas_threads",
    "map_chunks",
    "numbered_bootstrap",
    "percentile_interval",
    "resolve_jobs",
]


def blas_thread_environment() -> dict[str, str]:
    """Return the environment variables that start a process with :data:`BLAS_THREADS` BLAS threads.

    For processes started from here (the notebooks' kernels): the libraries read them when they
    load, before any limit could be applied from inside.

    Returns
    -------
    dict of str to str
    """
    return dict.fromkeys(_THREAD_VARIABLES, str(BLAS_THREADS))


_LIMITS = None


def limit_blas_threads() -> None:
    """Hold the BLAS libraries loaded in this process to :data:`BLAS_THREADS` threads from now on.

    Uses ``threadpoolctl`` (the libraries already loaded; a process started with
    :func:`blas_thread_environment` is limited from the start). Called by every worker process
    and Dask task of :func:`map_chunks`, and by :func:`analysis.study.context.open_context`, so
    an interactive kernel computes the same bits as the runner's.
    """
    global _LIMITS
    _LIMITS = threadpool_limits(limits=BLAS_THREADS, user_api="blas")


def resolve_jobs(n_jobs: int | None) -> int:
    """Return the number of worker processes: ``None`` or ``-1`` means every available core."""
    if n_jobs is None or n_jobs == -1:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs}")
    return int(n_jobs)


def _replicate_seeds(seed: int, n_boot: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence(seed).spawn(n_boot)


def bootstrap_rows(
    n_rows: int | None = None, *, cluster: np.ndarray | pd.Series | None = None, seed_sequence: np.random.SeedSequence
) -> np.ndarray:
    """Return the row positions of one bootstrap resample.

    Parameters
    ----------
    n_rows : int, optional
        Number of rows (ignored when ``cluster`` is given).
    cluster : array-like, optional
        Cluster label of each row; whole clusters are resampled.
    seed_sequence : numpy.random.SeedSequence
        The replicate's own seed.

    Returns
    -------
    numpy.ndarray
        Positions into the data (with repeats), in a deterministic order.
    """
    rng = np.random.default_rng(seed_sequence)
    if cluster is None:
        return rng.integers(0, n_rows, size=n_rows)
    codes, uniques = pd.factorize(pd.Series(cluster), sort=True)
    n_clusters = len(uniques)
    drawn = rng.integers(0, n_clusters, size=n_clusters)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n_clusters))
    sizes = np.bincount(codes, minlength=n_clusters)
    # rows of each drawn cluster, concatenated without a Python loop over clusters
    lengths = sizes[drawn]
    offsets = np.repeat(starts[drawn] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return order[np.arange(lengths.sum()) + offsets]


def bootstrap_frequencies(n_clusters: int, *, seed_sequence: np.random.SeedSequence) -> np.ndarray:
    """Return how many times each cluster is drawn in one resample.

    The draws are those of :func:`bootstrap_rows` with the same seed: cluster ``i`` is the
    ``i``-th label in sorted order, so a statistic of frequency weights and the same statistic
    of the resampled rows see the same resample.

    Parameters
    ----------
    n_clusters : int
        Number of clusters (or rows, without clusters).
    seed_sequence : numpy.random.SeedSequence
        The replicate's own seed.

    Returns
    -------
    numpy.ndarray
        Counts (int), one per cluster, summing to ``n_clusters``.
    """
    rng = np.random.default_rng(seed_sequence)
    return np.bincount(rng.integers(0, n_clusters, size=n_clusters), minlength=n_clusters)


def map_chunks(function: Callable, shared, chunks: list, *, jobs: int) -> list:
    """Return ``[function(shared, chunk) for chunk in chunks]``, computed by workers when asked.

    Parameters
    ----------
    function : callable
        Module-level (picklable) ``function(shared, chunk)``.
    shared : object
        The large argument every chunk needs (the data): sent once per worker process, not per
        chunk, locally and on a Dask cluster.
    chunks : list
        The per-task arguments (for example each task's replicate seeds).
    jobs : int
        Local worker processes at most; ``1`` runs in the calling process. The first chunk is
        computed in the calling process and timed; a pool is started for the others only when
        sharing them out would save more than :data:`POOL_START_SECONDS`. Ignored when the
        environment names a Dask scheduler (:data:`SCHEDULER_VARIABLE`): the chunks are then
        tasks on its cluster.

    Returns
    -------
    list
        One result per chunk, in the chunks' order whatever the order the workers finish in.
    """
    address = os.environ.get(SCHEDULER_VARIABLE)
    if address:
        from distributed import Client

        with Client(address, set_as_default=False) as client:
            [remote] = client.scatter([shared], broadcast=True)
            futures = [  # keys named for the function, as Dask would, so the task stream says what ran
                client.submit(_single_threaded, function, remote, chunk, key=f"{function.__name__}-{uuid.uuid4().hex}")
                for chunk in chunks
            ]
            return client.gather(futures)
    # chunks computed here get the workers' single BLAS thread too, whatever the caller's setting
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        if jobs == 1 or len(chunks) == 1:
            return [function(shared, chunk) for chunk in chunks]
        # The first chunk runs here and is timed: a pool of `jobs` workers saves at most
        # (1 - 1/jobs) of the remaining time, and starting it costs POOL_START_SECONDS, so small
        # work (a bootstrap on the shipped cohort) stays in this process. The results do not depend
        # on the choice.
        started = time.perf_counter()
        first = function(shared, chunks[0])
        remaining = (time.perf_counter() - started) * (len(chunks) - 1)
        if remaining * (1 - 1 / jobs) <= POOL_START_SECONDS:
            return [first] + [function(shared, chunk) for chunk in chunks[1:]]
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=_WORKERS, initializer=_hold_shared, initargs=(shared,)
    ) as pool:  # the shared data is sent once per worker, not once per chunk
        return [first] + list(pool.map(_apply_to_held, [function] * (len(chunks) - 1), chunks[1:]))


_HELD = None


def _hold_shared(shared) -> None:
    """Keep the shared argument in a worker process and limit its BLAS threads (the pool's initializer)."""
    global _HELD
    limit_blas_threads()
    _HELD = shared


def _single_threaded(function: Callable, shared, chunk):
    """``function(shared, chunk)`` with :data:`BLAS_THREADS` BLAS threads (a task on a Dask worker)."""
    limit_blas_threads()
    return function(shared, chunk)


def _apply_to_held(function: Callable, chunk):
    return function(_HELD, chunk)


def _run_chunk(shared, seeds) -> list:
    statistic, data, cluster, kwargs = shared
    out = []
    for ss in seeds:
        rows = bootstrap_rows(len(data), cluster=cluster, seed_sequence=ss)
        sample = data.iloc[rows].reset_index(drop=True) if isinstance(data, pd.DataFrame) else data[rows]
        try:
            out.append(np.atleast_1d(np.asarray(statistic(sample, **kwargs), dtype=float)))
        except Exception:  # a replicate where the statistic is not estimable counts as missing
            out.append(None)
    return out


def bootstrap(
    statistic: Callable,
    data: pd.DataFrame | np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    cluster: str | np.ndarray | None = None,
    n_jobs: int | None = 1,
    **kwargs,
) -> np.ndarray:
    """Return the bootstrap replicates of a statistic.

    Parameters
    ----------
    statistic : callable
        ``statistic(sample, **kwargs)`` returning a scalar or a 1-d array of fixed length.
        Module-level (picklable) when ``n_jobs > 1``. A replicate on which it raises is recorded
        as a row of NaN (count them with ``np.isnan(reps).any(axis=1).sum()``).
    data : DataFrame or ndarray
        The rows to resample.
    n_boot : int
        Number of replicates.
    seed : int
        Seed of the whole set of replicates.
    cluster : str or array-like, optional
        Column name (DataFrame) or labels whose clusters are resampled whole.
    n_jobs : int, optional
        Worker processes; ``None`` or ``-1`` for every core. The result does not depend on it
        (nor on a Dask cluster named by :data:`SCHEDULER_VARIABLE`, which replaces the local workers).
    **kwargs
        Passed to ``statistic``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_boot, k)``, replicate ``b`` in row ``b``.
    """
    labels = data[cluster].to_numpy() if isinstance(cluster, str) else cluster
    return _replicates(_run_chunk, (statistic, data, labels, kwargs), n_boot=n_boot, seed=seed, n_jobs=n_jobs)


def _replicates(run_chunk: Callable, shared, *, n_boot: int, seed: int, n_jobs: int | None) -> np.ndarray:
    """The replicates of ``run_chunk(shared, seeds)`` over chunks of the replicate seeds, one row each."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    seeds = _replicate_seeds(seed, n_boot)
    jobs = min(resolve_jobs(n_jobs), n_boot)
    n_chunks = min(n_boot, 16) if jobs > 1 or os.environ.get(SCHEDULER_VARIABLE) else 1
    bounds = np.linspace(0, n_boot, n_chunks + 1).astype(int)
    chunks = [seeds[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    results = [r for chunk in map_chunks(run_chunk, shared, chunks, jobs=jobs) for r in chunk]
    width = max((len(r) for r in results if r is not None), default=1)
    return np.vstack([r if r is not None else np.full(width, np.nan) for r in results])


def _run_numbered_chunk(shared, seeds) -> list:
    statistic, n_rows, kwargs = shared
    out = []
    for ss in seeds:
        positions = bootstrap_rows(n_rows, seed_sequence=ss)
        try:  # the replicate's number is its place among the seed's children (SeedSequence.spawn)
            out.append(np.atleast_1d(np.asarray(statistic(positions, ss.spawn_key[-1], **kwargs), dtype=float)))
        except Exception:
            out.append(None)
    return out


def numbered_bootstrap(
    statistic: Callable, n_rows: int, *, n_boot: int = 1000, seed: int = 0, n_jobs: int | None = 1, **kwargs
) -> np.ndarray:
    """Return bootstrap replicates of a statistic that also receives the replicate's number.

    For a statistic that reuses what an earlier bootstrap with the same ``seed`` computed in
    the same replicate (the model refitted in it): replicate ``b`` draws the row positions of
    replicate ``b`` of :func:`bootstrap` on ``n_rows`` rows, whatever ``n_jobs``.

    Parameters
    ----------
    statistic : callable
        ``statistic(positions, b, **kwargs)``: the replicate's row positions (with repeats) and
        its number ``b`` (0 to ``n_boot`` − 1); a scalar or a 1-d array of fixed length.
        Module-level (picklable) when ``n_jobs > 1``. A replicate on which it raises is a row of NaN.
    n_rows : int
        Number of rows resampled.
    n_boot, seed, n_jobs
        As in :func:`bootstrap`.
    **kwargs
        Passed to ``statistic``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_boot, k)``, replicate ``b`` in row ``b``.
    """
    return _replicates(_run_numbered_chunk, (statistic, int(n_rows), kwargs), n_boot=n_boot, seed=seed, n_jobs=n_jobs)


def _run_frequency_chunk(shared, seeds) -> list:
    statistic, data, n_clusters, kwargs, failures = shared
    out = []
    for ss in seeds:
        counts = bootstrap_frequencies(n_clusters, seed_sequence=ss)
        try:
            out.append(np.atleast_1d(np.asarray(statistic(data, counts, **kwargs), dtype=float)))
        except failures:
            out.append(None)
    return out


def frequency_bootstrap(
    statistic: Callable,
    data,
    *,
    n_clusters: int,
    n_boot: int = 1000,
    seed: int = 0,
    n_jobs: int | None = 1,
    failures: tuple[type[BaseException], ...] = (Exception,),
    **kwargs,
) -> np.ndarray:
    """Return bootstrap replicates of a statistic of frequency weights.

    The statistic receives the data once built and, per replicate, how many times each cluster
    was drawn (:func:`bootstrap_frequencies`): a statistic that is a function of weighted sums
    (estimating equations, weighted means) then needs no resampled copy of the data. Replicate
    ``b`` draws the same clusters as replicate ``b`` of :func:`bootstrap` with the same
    ``seed`` and the clusters in sorted order, whatever ``n_jobs``.

    Parameters
    ----------
    statistic : callable
        ``statistic(data, counts, **kwargs)`` returning a 1-d array of fixed length;
        module-level (picklable) when ``n_jobs > 1``.
    data : object
        Whatever the statistic needs, built once (sent once per worker chunk).
    n_clusters : int
        Number of clusters resampled.
    n_boot, seed, n_jobs
        As in :func:`bootstrap`.
    failures : tuple of exception types
        Exceptions that make a replicate missing (a row of NaN) instead of stopping.
    **kwargs
        Passed to ``statistic``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_boot, k)``, replicate ``b`` in row ``b``.
    """
    shared = (statistic, data, int(n_clusters), kwargs, tuple(failures))
    return _replicates(_run_frequency_chunk, shared, n_boot=n_boot, seed=seed, n_jobs=n_jobs)


def percentile_interval(replicates: np.ndarray, *, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Return the percentile bootstrap interval of each column, ignoring failed (NaN) replicates.

    ``replicates`` is (n_boot, k), or (n_boot,) for the replicates of one statistic: a vector is
    one column, not one replicate of ``n_boot`` statistics (read as a row, the Youden cut-off's
    interval of ``cutoffs.csv`` was the first replicate's threshold twice).
    """
    alpha = 1 - conf_level
    reps = np.asarray(replicates, dtype=float)
    reps = reps[:, None] if reps.ndim == 1 else np.atleast_2d(reps)
    low = np.nanquantile(reps, alpha / 2, axis=0)
    high = np.nanquantile(reps, 1 - alpha / 2, axis=0)
    return low, high
