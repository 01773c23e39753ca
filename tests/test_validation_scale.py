"""Validation at registry size: column rules over whole columns, no Python call per row.

Counting interpreter function calls (cProfile) is deterministic, unlike timing: with every rule
vectorised, validating four times the rows makes (almost) no more calls. The old parsing
trimmed and lower-cased text with Python's ``str`` methods cell by cell, and split agent lists
with ``str.split`` per transfer: about 60 calls per row of the transfers table.
"""

from __future__ import annotations

import cProfile
import pstats

import pandas as pd

from analysis.core.text import exploded_lists
from analysis.data.synthetic import simulate_cohort
from analysis.data.validation import validate_cohort


def _calls(n_patients: int) -> tuple[int, int]:
    cohort = simulate_cohort(n_patients, seed=2)
    tables = [cohort.patients.astype(str), cohort.transfers.astype(str), cohort.births.astype(str), None]
    profile = cProfile.Profile()
    profile.enable()
    validate_cohort(*tables)
    profile.disable()
    return pstats.Stats(profile).total_calls, len(cohort.transfers) + len(cohort.patients)


def test_validation_makes_no_python_call_per_row():
    small, rows_small = _calls(400)
    large, rows_large = _calls(1600)
    # a few calls per distinct level or per problem found are allowed: 0.1 per added row (the
    # old design made about 70)
    assert large - small < 0.1 * (rows_large - rows_small), (small, large)


def test_exploded_lists_equal_pandas_split_and_explode():
    values = pd.Series(["a;b", "", None, "c", ";x", "a;;b", "prednisolone"], index=[5, 3, 9, 1, 2, 7, 8])
    expected = values.fillna("").str.split(";").explode()
    got = exploded_lists(values)
    assert got.tolist() == expected.tolist() and got.index.tolist() == expected.index.tolist()
