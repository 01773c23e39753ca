"""Transfers after a woman's first live birth: flagged, logged, left out of the per-woman analyses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.data.cohort import Cohort, analysis_population, derive_cohort
from analysis.data.validation import validate_cohort
from analysis.methods.time_to_event import cumulative_live_birth_by_transfer


@pytest.fixture()
def cohort_with_siblings(raw_tables):
    """The shipped cohort with transfer 1 of the first two women with several transfers made a live birth."""
    t = raw_tables["transfers"]
    several = t.groupby("patient_id")["transfer_number"].transform("size") > 1
    rows = t.index[several & (t["transfer_number"] == "1")][:2]
    t.loc[rows, ["positive_hcg", "gestational_sacs", "clinical_pregnancy", "miscarriage", "live_birth"]] = [
        "true",
        "1",
        "true",
        "false",
        "true",
    ]
    pregnancy = {  # the optional pregnancy columns of a live birth, where the data have them
        "pregnancy_location": "intrauterine",
        "pregnancy_loss_type": "none",
        "fetal_heartbeats": "1",
        "gestational_age_days": "275",
        "delivery_mode": "vaginal",
    }
    for column, value in pregnancy.items():
        if column in t.columns:
            t.loc[rows, column] = value
    women = t.loc[rows, "patient_id"]
    n_after = int(t["patient_id"].isin(women).sum()) - len(rows)
    return derive_cohort(validate_cohort(raw_tables["patients"], t)), set(women), n_after


def test_siblings_are_flagged_logged_and_left_out_of_all_transfers(cohort_with_siblings):
    cohort, women, n_after = cohort_with_siblings
    flagged = cohort.transfers[cohort.transfers["after_first_live_birth"]]
    assert set(flagged["patient_id"]) == women and len(flagged) == n_after
    assert (flagged["transfer_number"] > 1).all()
    row = cohort.flow[cohort.flow["reason"].str.startswith("transfers after the woman's first live birth")]
    assert len(row) == 1 and row.iloc[0][["stage", "kind"]].tolist() == ["all_transfers", "excluded"]
    assert row.iloc[0]["n_transfers"] == n_after and row.iloc[0]["n_patients"] == len(women)
    everything = analysis_population(cohort, "all", None)
    assert not everything["after_first_live_birth"].any()
    assert (
        len(everything)
        == len(
            cohort.transfers[
                cohort.transfers["patient_id"].isin(cohort.patients.loc[cohort.patients["included"], "patient_id"])
            ]
        )
        - n_after
    )
    analysed = cohort.flow[(cohort.flow["stage"] == "all_transfers") & (cohort.flow["kind"] == "analysed")]
    assert analysed.iloc[0]["n_transfers"] == len(cohort.population("all", "live_birth"))
    assert cohort.problems["rule"].eq("transfer_after_live_birth").sum() == 1


def test_shipped_cohort_has_no_sibling_row_in_its_flow(raw_tables):
    cohort = derive_cohort(validate_cohort(raw_tables["patients"], raw_tables["transfers"]))
    assert not cohort.transfers["after_first_live_birth"].any()
    assert not cohort.flow["reason"].str.contains("first live birth").any()


def _hand_cohort() -> Cohort:
    """Four women. A: fail, live birth, live birth (a sibling); B: live birth, fail (a sibling attempt);
    C: fail, fail, unknown; D: fail, then stops."""
    transfers = pd.DataFrame(
        {
            "patient_id": ["A", "A", "A", "B", "B", "C", "C", "C", "D"],
            "transfer_number": [1, 2, 3, 1, 2, 1, 2, 3, 1],
            "live_birth": pd.array([False, True, True, True, False, False, False, None, False], dtype="boolean"),
        }
    )
    patients = pd.DataFrame({"patient_id": ["A", "B", "C", "D"], "included": True})
    return Cohort(patients, transfers, pd.DataFrame(), pd.DataFrame())


def test_cumulative_live_birth_counts_each_woman_once_up_to_her_first_birth():
    out = cumulative_live_birth_by_transfer(_hand_cohort(), max_transfer=4).set_index("transfer_number")
    # Conservative: women with a first live birth by transfer k, out of 4 (A's second birth not counted).
    assert out["n_live_births"].tolist() == [1, 1, 0, 0]
    assert_allclose(out["conservative"], [1 / 4, 2 / 4, 2 / 4, 2 / 4])
    # Risk sets: B leaves after her birth at transfer 1, A after hers at transfer 2.
    assert out["n_reaching"].tolist() == [4, 2, 1, 0]
    assert out["n_known"].tolist() == [4, 2, 0, 0]
    survival = np.cumprod([1 - 1 / 4, 1 - 1 / 2, 1, 1])
    assert_allclose(out["optimistic"], 1 - survival)


def test_a_population_is_one_copy_of_its_rows(small_cohort_dir):
    """Every notebook takes its populations from the cohort many times, and each row carries
    every cohort column: the population's rows are copied once (peak allocation under half the
    result's deep size on this cohort, whose strings are shared, not copied; the earlier mask,
    copy and reset_index reached 0.73)."""
    import tracemalloc

    from analysis.data.cohort import load_cohort

    cohort = load_cohort(small_cohort_dir)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rows = analysis_population(cohort, "all", None)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert isinstance(rows.index, pd.RangeIndex)
    assert peak < 0.5 * rows.memory_usage(deep=True).sum(), peak / rows.memory_usage(deep=True).sum()
