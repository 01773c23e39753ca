"""The runner's cohort, read, validated, derived and cached in a process of its own.

At a million transfers reading and deriving the cohort takes about 3 GiB. A process does not give
most of that back to the system when the objects are freed (CPython and glibc keep the small
blocks), so a runner that derived the cohort itself stayed at about 2.9 GiB beside its notebook
kernels for the whole run. :class:`CohortProcess` does that work in a child process that exits
once the cache is written: the runner's memory stays that of an interpreter with pandas.

The work comes in two steps, so that nothing is written before the data have passed:

1. ``checked()``: read (or reuse an earlier run's cache), validate and derive the cohort, and
   check the plan against it. A bad cohort or plan raises here, in the runner, the same error
   (and message) as if the runner had done it itself.
2. ``write(findings_file, cache_dir)``: once the runner has prepared its run folder, write the
   validation findings (masked under disclosure control) and the Parquet cache into it.

The child is forked when the runner has no other thread (no import, no copy of the runner's
memory until written to), and spawned otherwise: forking a process whose other threads may hold
locks (a Dask client's event loop, a thread pool) can leave the child waiting on a lock forever.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
import traceback
from pathlib import Path

from analysis.core.exceptions import AnalysisError, RunError

__all__ = ["CohortProcess", "start_method"]


def start_method() -> str:
    """``"fork"`` when this process has one thread (and the platform forks), else ``"spawn"``."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _failure(exc: BaseException) -> BaseException:
    """``exc`` as it can cross to the runner: a user's error as it is, anything else with its traceback."""
    if not isinstance(exc, AnalysisError):
        exc.add_note("in the cohort process:\n" + "".join(traceback.format_exception(exc)).rstrip())
    return exc


def _send_failure(conn, exc: BaseException) -> None:
    try:
        conn.send(("failed", _failure(exc)))
    except Exception:  # an exception that does not pickle: its type and message, at least
        conn.send(("failed", RunError(f"preparing the cohort failed: {type(exc).__name__}: {exc}")))


def _serve(conn, data_dir: Path, config: dict, reuse_cache: Path | None) -> None:
    """The child: prepare the cohort, report, then write it where the runner says (or nothing)."""
    from analysis.data.cohort import load_cohort
    from analysis.data.cohort_cache import read_cohort_cache, write_cohort_cache
    from analysis.output.disclosure import mask_table
    from analysis.output.results import write_table
    from analysis.run.plan_check import check_plan_against_cohort

    try:
        t = time.perf_counter()
        if reuse_cache is not None:  # validated when the earlier run derived it; the inputs are the same bytes
            cohort = read_cohort_cache(reuse_cache)
        else:
            cohort = load_cohort(
                data_dir,
                profile_cutoffs=config.get("profile_cutoffs"),
                outcome=config["outcome"],
                missing_marker_rule=config.get("missing_marker_rule", "indeterminate"),
            )
        check_plan_against_cohort(config, cohort)  # covariates usable, levels present
        conn.send(
            (
                "checked",
                {
                    "patients": len(cohort.patients),
                    "transfers": len(cohort.transfers),
                    "warnings": len(cohort.problems),
                    "seconds": time.perf_counter() - t,
                },
            )
        )
    except BaseException as exc:
        _send_failure(conn, exc)
        return
    order = conn.recv()
    if order is None:  # the runner stopped before writing
        return
    findings_file, cache_dir, min_cell_count = order
    try:
        t = time.perf_counter()
        k = int(min_cell_count or 0)
        findings = cohort.problems if k <= 1 else mask_table(cohort.problems.drop(columns="example_ids"), k)
        write_table(findings, Path(findings_file))  # example ids only without disclosure control
        cache = write_cohort_cache(cohort, Path(cache_dir))
        conn.send(("written", {"cache": str(cache), "seconds": time.perf_counter() - t}))
    except BaseException as exc:
        _send_failure(conn, exc)


class CohortProcess:
    """Read, validate and derive a cohort in a child process, then cache it in a run folder.

    Parameters
    ----------
    data_dir : Path
        The cohort folder.
    config : dict
        The resolved plan (``profile_cutoffs``, ``outcome``, ``missing_marker_rule`` and what
        :func:`analysis.run.plan_check.check_plan_against_cohort` reads).
    reuse_cache : Path, optional
        An earlier run's cache of the same inputs: read it instead of the data, and write
        nothing (the rerun's folder already holds it).

    Examples
    --------
    >>> with CohortProcess(data_dir, config) as cohort:      # doctest: +SKIP
    ...     summary = cohort.checked()    # raises CohortValidationError, ConfigError, ...
    ...     written = cohort.write(findings_file, cache_dir, min_cell_count=5)
    """

    def __init__(self, data_dir: Path, config: dict, *, reuse_cache: Path | None = None):
        self.reuse_cache = reuse_cache
        context = multiprocessing.get_context(start_method())
        self._conn, child_conn = context.Pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self._process = context.Process(
            target=_serve, args=(child_conn, Path(data_dir), dict(config), reuse_cache), name="cohort", daemon=True
        )
        self._process.start()
        child_conn.close()
        self._waiting_for_order = False

    def _receive(self, expected: str) -> dict:
        try:
            kind, payload = self._conn.recv()
        except EOFError:
            self._process.join()
            raise RunError(
                f"the process preparing the cohort ended without an answer (exit code {self._process.exitcode}; "
                "a negative code is the signal that stopped it, -9 often the system running out of memory)"
            ) from None
        if kind == "failed":
            raise payload
        if kind != expected:  # a protocol slip of this module, not of the data
            raise RunError(f"the cohort process answered {kind!r} where {expected!r} was due")
        return payload

    def checked(self) -> dict:
        """Wait for the cohort to be read, validated, derived and checked against the plan.

        Returns
        -------
        dict
            ``patients``, ``transfers``, ``warnings`` (counts) and ``seconds``.

        Raises
        ------
        CohortValidationError, DataReadError, ConfigError
            As :func:`analysis.data.cohort.load_cohort` and the plan check raise them.
        """
        summary = self._receive("checked")
        self._waiting_for_order = True
        return summary

    def write(self, findings_file: Path, cache_dir: Path, *, min_cell_count: int = 0) -> dict:
        """Write the validation findings to ``findings_file`` and the cache to ``cache_dir``; the child then exits.

        Under disclosure control (``min_cell_count`` above 1) the findings lose their example ids
        and small counts are masked. With ``reuse_cache`` nothing is written (``cache`` is ``None``).

        Returns
        -------
        dict
            ``cache`` (the cache folder, or ``None``) and ``seconds``.
        """
        self._waiting_for_order = False
        if self.reuse_cache is not None:
            self._conn.send(None)
            return {"cache": None, "seconds": 0.0}
        self._conn.send((str(findings_file), str(cache_dir), int(min_cell_count or 0)))
        written = self._receive("written")
        return {"cache": Path(written["cache"]), "seconds": written["seconds"]}

    def close(self) -> None:
        """Let the child go (without writing, if it still waits) and wait for it to end."""
        if self._waiting_for_order:
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._waiting_for_order = False
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()

    def __enter__(self) -> CohortProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
