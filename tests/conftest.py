"""Shared fixtures: small synthetic cohorts written to temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

# One BLAS thread per process: the suite runs several processes at once (kernels side by side,
# bootstrap workers) on a small machine, and two-thread BLAS on 2 cores oversubscribes them (small
# solves then take 100 times longer under load). Set before numpy is imported; kernels inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "synthetic"


@pytest.fixture(scope="session")
def small_cohort_dir(tmp_path_factory) -> Path:
    """A 300-patient synthetic cohort (seed 7) in a temporary folder."""
    from analysis.data.synthetic import simulate_cohort, write_cohort

    out = tmp_path_factory.mktemp("small_cohort")
    write_cohort(simulate_cohort(300, seed=7), out)
    return out


@pytest.fixture()
def raw_tables():
    """Raw (text) tables of the shipped cohort, fresh copies for each test to break."""
    from analysis.data.loading import read_cohort_tables

    return read_cohort_tables(SHIPPED)


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a real PostgreSQL server started for this session (never skipped: fails if it cannot start)."""
    from postgres_server import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.fail(f"the PostgreSQL test server could not start: {exc}", pytrace=False)
    yield server.url
    server.stop()
