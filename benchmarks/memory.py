"""Peak memory of a whole process tree: a stage, its notebook kernels and their worker pools.

``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the largest resident set of any *single*
descendant that has ended and been waited for (getrusage(2): "the resident set size of the
largest child", the maximum over descendants, not their sum). It cannot see memory that is held
at the same time by several processes: two kernels of ``run --jobs 2``, or a kernel and the
process-pool workers of its bootstrap or imputations (forkserver workers are grandchildren of
the kernel; they are counted only if every process between them and the stage waited for them).
For the "≤ 8 GiB" target what matters is what the tree holds at once, so :class:`TreePeakSampler`
samples the tree with psutil every ``interval`` seconds and keeps the largest sum of resident
set sizes over the root and all its live descendants.

Sampling can miss a peak shorter than the interval, and summing RSS counts a page shared by
several processes (libraries, copy-on-write pages) once per process. The first makes the sample
a lower bound, the second an upper bound of the physical memory held. Since the runner's
kernels are forked from one warm process (:mod:`analysis.run.warm_kernels`), every kernel shares
the pages of the imported libraries with it: a few hundred MiB that the RSS sum counts once per
kernel. The sampler therefore also sums the proportional set size (PSS: each shared page divided
among the processes that share it), which is the tree's physical memory, every
``pss_every``-th sample (reading it costs milliseconds per GiB). The benchmark reports both and
its verdicts use the PSS sum next to the getrusage peaks (:func:`benchmarks.run.peak_mib`).
"""

from __future__ import annotations

import threading

import psutil

MIB = 1024 * 1024


def tree_rss_mib(root: psutil.Process, *, proportional: bool = False) -> float:
    """Return the summed resident set size of ``root`` and all its live descendants, in MiB.

    ``proportional``: the summed proportional set size instead (a page shared by k processes
    counts 1/k in each), the tree's physical memory. Processes that end while being read are
    skipped (they hold no memory any more).
    """
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for proc in procs:
        try:
            total += proc.memory_full_info().pss if proportional else proc.memory_info().rss
        except psutil.Error:
            continue
    return total / MIB


class TreePeakSampler:
    """Sample the summed RSS (and PSS) of a process tree in a background thread; keep the peaks.

    Parameters
    ----------
    pid : int
        Root of the tree (the stage's process).
    interval : float
        Seconds between samples.
    pss_every : int
        Sum the PSS at every this many samples (and at the first).

    Attributes
    ----------
    peak_mib, peak_pss_mib : float
        Largest RSS sum and largest PSS sum seen.

    Examples
    --------
    >>> import subprocess, sys
    >>> proc = subprocess.Popen([sys.executable, "-c", "pass"])
    >>> with TreePeakSampler(proc.pid) as sampler:
    ...     _ = proc.wait()
    >>> sampler.peak_mib >= 0 and sampler.peak_pss_mib >= 0
    True
    """

    def __init__(self, pid: int, *, interval: float = 0.1, pss_every: int = 5):
        self.interval = interval
        self.pss_every = max(1, int(pss_every))
        self.peak_mib = 0.0
        self.peak_pss_mib = 0.0
        self.samples = 0
        self._root = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, tree_rss_mib(self._root))
            if self.samples % self.pss_every == 0:
                self.peak_pss_mib = max(self.peak_pss_mib, tree_rss_mib(self._root, proportional=True))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> TreePeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
