"""What deriving the cohort once saves: ``python -m benchmarks.cohort_once [--transfers 100000]``.

Before the run context every notebook read, validated and derived the cohort itself; now the
runner does it once and each notebook reads the Parquet cache (``interim/cohort``). This script
times, on one synthetic cohort, (a) read + validate + derive (:func:`analysis.data.cohort.load_cohort`,
what each notebook used to do), (b) writing the cache (once per run) and (c) reading it (what each
notebook does now), each the median of ``--repeats`` runs in this process, and prints the saving
per notebook and for a suite of ``--notebooks`` notebooks. Results are appended to
``benchmarks/results/cohort_once.csv``; docs/performance.md quotes them.

``--suite`` also times the whole suite end to end on the same cohort, serially, once with the
cohort shared (the runner's default) and once with every notebook deriving it itself
(``run_suite(share_cohort=False)``, the design before the cache), in alternating order over
``--repeats`` pairs; the rows go to ``benchmarks/results/cohort_once_suite.csv``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from analysis.data.cohort import load_cohort
from analysis.data.cohort_cache import read_cohort_cache, write_cohort_cache
from analysis.data.synthetic import simulate_cohort, write_cohort
from benchmarks.run import RESULTS, TRANSFERS_PER_PATIENT


def _median_seconds(step, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cohort_once_timings(n_transfers: int, *, repeats: int = 3, notebooks: int = 6, seed: int = 1) -> dict:
    """Return the wall seconds of deriving, caching and reading a cohort of about ``n_transfers`` transfers."""
    with tempfile.TemporaryDirectory(prefix="cohort_once_") as tmp:
        data = Path(tmp) / "data"
        write_cohort(simulate_cohort(round(n_transfers / TRANSFERS_PER_PATIENT), seed=seed), data)
        cohort = load_cohort(data)
        derive = _median_seconds(lambda: load_cohort(data), repeats)
        write = _median_seconds(lambda: write_cohort_cache(cohort, Path(tmp) / "cache"), repeats)
        read = _median_seconds(lambda: read_cohort_cache(Path(tmp) / "cache"), repeats)
    saved = derive - read
    return {
        "transfers": len(cohort.transfers),
        "patients": len(cohort.patients),
        "derive_seconds": round(derive, 3),
        "cache_write_seconds": round(write, 3),
        "cache_read_seconds": round(read, 3),
        "saved_per_notebook_seconds": round(saved, 3),
        "notebooks": notebooks,
        "saved_per_suite_seconds": round(notebooks * saved - write, 3),
    }


def _tables_digest(tables: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in tables.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(tables)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def suite_timings(n_transfers: int, *, repeats: int = 1, seed: int = 1) -> list[dict]:
    """Return the wall seconds of whole serial suite runs with and without the shared cohort."""
    from analysis.run.runner import run_suite

    rows = []
    with tempfile.TemporaryDirectory(prefix="cohort_once_suite_") as tmp:
        data = Path(tmp) / "data"
        write_cohort(simulate_cohort(round(n_transfers / TRANSFERS_PER_PATIENT), seed=seed), data)
        n = len(pd.read_csv(data / "transfers.csv", usecols=["patient_id"]))
        for rep in range(repeats):
            order = (True, False) if rep % 2 == 0 else (False, True)  # alternate, so drift hits both
            for shared in order:
                out = Path(tmp) / f"run_{rep}_{shared}"
                t0 = time.perf_counter()
                run_suite(data, out, quiet=True, share_cohort=shared)
                wall = time.perf_counter() - t0
                manifest = json.loads((out / "manifest.json").read_text())
                row = {"transfers": n, "repeat": rep, "cohort_shared": shared, "wall_seconds": round(wall, 1)}
                row.update({Path(nb["notebook"]).stem[:2]: nb.get("wall_seconds") for nb in manifest["notebooks"]})
                row["tables_sha256"] = _tables_digest(out / "tables")
                rows.append(row)
                shutil.rmtree(out)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--notebooks", type=int, default=6)
    parser.add_argument("--suite", action="store_true", help="also time whole suite runs, shared vs not")
    args = parser.parse_args(argv)
    if args.suite:
        suite = pd.DataFrame([r for n in args.transfers for r in suite_timings(n, repeats=args.repeats)])
        print(suite.to_string(index=False))
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / "cohort_once_suite.csv"
        suite.to_csv(path, mode="a", header=not path.exists(), index=False)
        return
    rows = [cohort_once_timings(n, repeats=args.repeats, notebooks=args.notebooks) for n in args.transfers]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "cohort_once.csv"
    table.to_csv(path, mode="a", header=not path.exists(), index=False)


if __name__ == "__main__":
    main()
