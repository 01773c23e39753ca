"""The safety part of the data contract: the optional pregnancy columns and the ``births`` and
``adverse_events`` tables. Valid data pass; each rule, broken on purpose, yields its own named
error (table, column and rule), and a cohort without the optional tables is unaffected."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data.cohort import load_cohort
from analysis.data.cohort_cache import read_cohort_cache, write_cohort_cache
from analysis.data.loading import read_cohort_tables
from analysis.data.validation import validate_cohort


def _check(raw):
    return validate_cohort(raw["patients"], raw["transfers"], raw.get("births"), raw.get("adverse_events"))


def _errors(checked):
    e = checked.errors
    return {(t, c, r): n for t, c, r, n in zip(e["table"], e["column"], e["rule"], e["n_rows"])}


def _row(frame, **where):
    mask = pd.Series(True, index=frame.index)
    for col, value in where.items():
        mask &= frame[col] == value
    return frame.index[mask]


def test_shipped_cohort_with_optional_tables_has_no_problem(raw_tables):
    """The shipped cohort's births and adverse events pass every rule without a warning."""
    assert {"births", "adverse_events"} <= set(raw_tables)
    checked = _check(raw_tables)
    assert checked.problems.empty, checked.problems
    assert len(checked.births) == len(raw_tables["births"])
    assert checked.births["neonatal_death"].dtype == "boolean"


def test_absent_optional_tables_and_columns_are_not_warned_about(raw_tables):
    """Without the optional tables and the pregnancy columns the old two-table cohort still
    validates without a finding (safety outcomes are then reported as not recorded)."""
    t = raw_tables["transfers"].drop(
        columns=[
            "pregnancy_location",
            "pregnancy_loss_type",
            "fetal_heartbeats",
            "gestational_age_days",
            "delivery_mode",
        ]
    )
    checked = validate_cohort(raw_tables["patients"], t)
    assert checked.problems.empty, checked.problems
    assert checked.births is None and checked.adverse_events is None


def _break_transfers(raw, rule):
    t = raw["transfers"]
    if rule == "loss_type_needs_positive_hcg":
        rows = _row(t, positive_hcg="false")[:3]
        t.loc[rows, "pregnancy_loss_type"] = "biochemical"
    elif rule == "loss_type_matches_outcomes":
        rows = _row(t, pregnancy_loss_type="none")[:3]
        t.loc[rows, "pregnancy_loss_type"] = "miscarriage_first_trimester"
    elif rule == "ectopic_location":
        rows = _row(t, pregnancy_loss_type="ectopic")[:3]
        t.loc[rows, "pregnancy_location"] = "intrauterine"
    elif rule == "location_needs_clinical_pregnancy":
        rows = _row(t, pregnancy_loss_type="biochemical")[:3]
        t.loc[rows, "pregnancy_location"] = "intrauterine"
    elif rule == "heartbeats_need_clinical_pregnancy":
        rows = _row(t, pregnancy_loss_type="biochemical")[:3]
        t.loc[rows, "fetal_heartbeats"] = "1"
    elif rule == "gestational_age_needs_delivery":
        rows = _row(t, pregnancy_loss_type="miscarriage_first_trimester")[:2].append(
            _row(t, pregnancy_loss_type="none")[:1]
        )
        t.loc[rows[:2], "gestational_age_days"] = "270"
        t.loc[rows[2:], "gestational_age_days"] = None
    return len(rows)


TRANSFER_RULES = [
    ("pregnancy_loss_type", "loss_type_needs_positive_hcg"),
    ("pregnancy_loss_type", "loss_type_matches_outcomes"),
    ("pregnancy_location", "ectopic_location"),
    ("pregnancy_location", "location_needs_clinical_pregnancy"),
    ("fetal_heartbeats", "heartbeats_need_clinical_pregnancy"),
    ("gestational_age_days", "gestational_age_needs_delivery"),
]


@pytest.mark.parametrize("column,rule", TRANSFER_RULES)
def test_each_pregnancy_rule_broken_gives_its_named_error(raw_tables, column, rule):
    """Catches a rule that is never checked, or checked under another name."""
    n = _break_transfers(raw_tables, rule)
    errors = _errors(_check(raw_tables))
    assert errors.get(("transfers", column, rule)) == n, errors


def _singleton_birth(births):
    size = births.groupby(["patient_id", "transfer_number"])["baby_number"].transform("size")
    return births.index[size == 1]


def test_births_rules_each_give_their_named_error(raw_tables):
    """Every births rule broken once, all in one cohort: each is reported under its own name
    with the number of rows broken (the report lists every problem at once)."""
    b, t = raw_tables["births"], raw_tables["transfers"]
    single = _singleton_birth(b)
    # births_transfer_known: a baby of a transfer that does not exist
    b.loc[single[0], "transfer_number"] = "40"
    # births_need_live_birth: a baby attached to a transfer without a live birth (the woman's
    # earlier failed transfer); her real live birth then has no baby (live_birth_has_baby)
    later = [i for i in single[1:] if b.loc[i, "transfer_number"] != "1"][0]
    b.loc[later, "transfer_number"] = str(int(b.loc[later, "transfer_number"]) - 1)
    # baby_numbers_consecutive
    b.loc[single[5], "baby_number"] = "2"
    # birth_date_matches_gestational_age
    b.loc[single[6], "birth_date"] = (pd.Timestamp(b.loc[single[6], "birth_date"]) + pd.Timedelta(days=10)).strftime(
        "%Y-%m-%d"
    )
    # babies_within_heartbeats
    pid, num = b.loc[single[7], "patient_id"], b.loc[single[7], "transfer_number"]
    t.loc[(t["patient_id"] == pid) & (t["transfer_number"] == num), "fetal_heartbeats"] = "0"
    # twins_same_birth_date
    size = b.groupby(["patient_id", "transfer_number"])["baby_number"].transform("size")
    twin = b.index[(size == 2) & (b["baby_number"] == "2")][0]
    b.loc[twin, "birth_date"] = (pd.Timestamp(b.loc[twin, "birth_date"]) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    # live_birth_has_baby: a singleton's row removed
    raw_tables["births"] = b.drop(index=single[8])
    errors = _errors(_check(raw_tables))
    assert errors.get(("births", "transfer_number", "births_transfer_known")) == 1
    assert errors.get(("births", "transfer_number", "births_need_live_birth")) == 1
    assert errors.get(("transfers", "live_birth", "live_birth_has_baby")) == 3  # the moved, the 40 and the dropped
    assert errors.get(("births", "baby_number", "baby_numbers_consecutive")) == 1
    assert errors.get(("births", "birth_date", "birth_date_matches_gestational_age")) == 1
    assert errors.get(("births", "baby_number", "babies_within_heartbeats")) == 1
    assert errors.get(("births", "birth_date", "twins_same_birth_date")) == 2


def test_adverse_event_rules_each_give_their_named_error(raw_tables):
    """Unknown woman, an event outside follow-up, an agent she never received, and a
    life-threatening event not marked serious (ICH E2A): four named errors."""
    e = raw_tables["adverse_events"]
    e.loc[e.index[0], "patient_id"] = "P99999"
    e.loc[e.index[1], "event_date"] = "2000-01-01"
    e.loc[e.index[2], "agent"] = "tacrolimus"
    e.loc[e.index[3], ["severity", "serious"]] = ["life_threatening", "false"]
    errors = _errors(_check(raw_tables))
    assert errors.get(("adverse_events", "patient_id", "adverse_event_patient_known")) == 1
    assert errors.get(("adverse_events", "event_date", "adverse_event_in_follow_up")) == 1
    assert errors.get(("adverse_events", "agent", "adverse_event_agent_given")) == 1
    assert errors.get(("adverse_events", "serious", "serious_if_life_threatening")) == 1


def test_column_rules_apply_to_the_optional_tables(raw_tables):
    """Types, levels and required columns of the optional tables are checked like the others."""
    raw_tables["births"].loc[raw_tables["births"].index[:2], "birthweight_g"] = "heavy"
    raw_tables["adverse_events"].loc[raw_tables["adverse_events"].index[:1], "severity"] = "grade9"
    raw_tables["adverse_events"] = raw_tables["adverse_events"].drop(columns="serious")
    errors = _errors(_check(raw_tables))
    assert errors.get(("births", "birthweight_g", "type_float")) == 2
    assert errors.get(("adverse_events", "severity", "allowed_levels")) == 1
    assert ("adverse_events", "serious", "required_column") in errors


def test_optional_tables_reach_the_cohort_and_its_cache(small_cohort_dir, tmp_path):
    """load_cohort carries births and adverse events; the runner's cache writes and reads them
    back with their dtypes; a cohort folder without them gives None."""
    cohort = load_cohort(small_cohort_dir)
    assert cohort.births is not None and len(cohort.births) > 0
    back = read_cohort_cache(write_cohort_cache(cohort, tmp_path / "cache"))
    pd.testing.assert_frame_equal(back.births, cohort.births)
    pd.testing.assert_frame_equal(back.adverse_events, cohort.adverse_events)
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("patients.csv", "transfers.csv"):
        (bare / name).write_bytes((small_cohort_dir / name).read_bytes())
    assert set(read_cohort_tables(bare)) == {"patients", "transfers"}
    plain = load_cohort(bare)
    assert plain.births is None and plain.adverse_events is None
    again = read_cohort_cache(write_cohort_cache(plain, tmp_path / "cache2"))
    assert again.births is None
