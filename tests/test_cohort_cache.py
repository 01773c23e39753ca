"""The cohort cache (interim/cohort) gives back exactly the cohort that was derived."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.core.exceptions import DataReadError
from analysis.data.cohort import derive_cohort, load_cohort
from analysis.data.cohort_cache import COHORT_TABLES, read_cohort_cache, write_cohort_cache
from analysis.data.loading import read_cohort_tables
from analysis.data.validation import validate_cohort
from analysis.study.context import open_context
from tests.conftest import SHIPPED


def _assert_same(a, b):
    assert a.outcome == b.outcome
    for name in COHORT_TABLES:
        left, right = getattr(a, name), getattr(b, name)
        assert list(left.dtypes.astype(str)) == list(right.dtypes.astype(str)), name
        for c, dtype in left.dtypes.items():
            if isinstance(dtype, pd.CategoricalDtype):
                assert list(right[c].cat.categories) == list(dtype.categories), (name, c)
                assert right[c].cat.ordered == dtype.ordered
        pd.testing.assert_frame_equal(
            left,
            right,
            check_exact=True,
            check_dtype=True,
            check_index_type=True,
            check_column_type=True,
            check_categorical=True,
        )


def test_shipped_cohort_round_trips_exactly(tmp_path):
    cohort = load_cohort(SHIPPED)
    folder = write_cohort_cache(cohort, tmp_path / "interim" / "cohort")
    _assert_same(cohort, read_cohort_cache(folder))
    _assert_same(cohort, read_cohort_cache(folder / "cohort.json"))


def test_round_trip_keeps_warnings_missing_levels_and_unused_categories(tmp_path):
    raw = read_cohort_tables(SHIPPED)
    patients = raw["patients"].copy()
    patients.loc[patients.index[:5], "il15_fn14_ratio"] = np.nan
    patients.loc[patients.index[:5], "immune_profile"] = pd.NA
    cohort = derive_cohort(validate_cohort(patients, raw["transfers"]), outcome="clinical_pregnancy")
    cohort.problems = pd.concat(
        [
            cohort.problems,
            pd.DataFrame(
                [
                    dict(
                        table="patients",
                        column="bmi_kg_m2",
                        rule="range",
                        severity="warning",
                        n_rows=3,
                        example_ids="P1, P2, P3",
                        message="implausible",
                    )
                ]
            ),
        ],
        ignore_index=True,
    )
    # a categorical with an unused level, in a non-alphabetical order
    cohort.transfers["treatment_arm"] = cohort.transfers["treatment_arm"].cat.set_categories(
        ["personalized", "none", "empirical", "unused"]
    )
    folder = write_cohort_cache(cohort, tmp_path / "c")
    back = read_cohort_cache(folder)
    _assert_same(cohort, back)
    assert back.patients["immune_profile_lab"].isna().any() and back.patients["il15_fn14_ratio"].isna().any()
    assert list(back.transfers["treatment_arm"].cat.categories) == ["personalized", "none", "empirical", "unused"]


def test_a_cache_that_does_not_match_its_record_is_refused(tmp_path):
    cohort = load_cohort(SHIPPED)
    folder = write_cohort_cache(cohort, tmp_path / "c")
    meta = json.loads((folder / "cohort.json").read_text())
    meta["tables"]["patients"]["columns"]["immune_profile"]["categories"].reverse()
    (folder / "cohort.json").write_text(json.dumps(meta))
    with pytest.raises(DataReadError, match="does not match"):
        read_cohort_cache(folder)
    with pytest.raises(DataReadError, match="cohort.json missing"):
        read_cohort_cache(tmp_path / "nowhere")


def test_context_from_the_cache_equals_the_interactive_context(tmp_path):
    cohort = load_cohort(SHIPPED)
    folder = write_cohort_cache(cohort, tmp_path / "interim" / "cohort")
    cached = open_context("00_test", data_dir="", run_dir=tmp_path / "a", cohort_file=str(folder), min_cell_count=0)
    interactive = open_context("00_test", data_dir=SHIPPED, run_dir=tmp_path / "b", min_cell_count=0)
    _assert_same(interactive.cohort, cached.cohort)
