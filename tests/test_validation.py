"""The data contract: valid data passes; each rule, broken on purpose, yields its own named error."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.core.exceptions import CohortValidationError
from analysis.data.validation import validate_cohort


def _rules(checked, severity="error"):
    p = checked.problems
    return set(zip(p.loc[p["severity"] == severity, "column"], p.loc[p["severity"] == severity, "rule"]))


def test_shipped_cohort_passes_without_errors_or_warnings(raw_tables):
    checked = validate_cohort(raw_tables["patients"], raw_tables["transfers"])
    assert checked.problems.empty, checked.problems
    assert len(checked.patients) == len(raw_tables["patients"])
    assert len(checked.transfers) == len(raw_tables["transfers"])


def test_caller_frames_are_not_modified(raw_tables):
    before = raw_tables["patients"].copy()
    validate_cohort(raw_tables["patients"], raw_tables["transfers"])
    pd.testing.assert_frame_equal(raw_tables["patients"], before)


# (table, column, value-or-callable, expected (column, rule))
BREAKS = [
    ("patients", "age_at_biopsy_years", "abc", ("age_at_biopsy_years", "type_float")),
    ("patients", "age_at_biopsy_years", "75", ("age_at_biopsy_years", "range")),
    ("patients", "indication", "ivf", ("indication", "allowed_levels")),
    ("patients", "immune_profile", "weird", ("immune_profile", "allowed_levels")),
    ("patients", "biopsy_date", "2020-13-45", ("biopsy_date", "type_date")),
    ("patients", "center_id", None, ("center_id", "not_null")),
    ("patients", "prior_failed_transfers", "2.5", ("prior_failed_transfers", "type_integer")),
    ("transfers", "treatment_arm", "placebo", ("treatment_arm", "allowed_levels")),
    ("transfers", "embryos_transferred", "7", ("embryos_transferred", "range")),
    ("transfers", "live_birth", "maybe", ("live_birth", "type_boolean")),
]


@pytest.mark.parametrize("table,column,value,expected", BREAKS)
def test_each_column_rule_broken_gives_its_named_error(raw_tables, table, column, value, expected):
    frame = raw_tables[table]
    frame.loc[frame.index[:3], column] = value
    checked = validate_cohort(raw_tables["patients"], raw_tables["transfers"])
    assert expected in _rules(checked)
    row = checked.errors.set_index(["column", "rule"]).loc[expected]
    assert row["n_rows"] == 3
    assert row["example_ids"]  # names the offending rows


def _first_transfer_rows(t, n=2):
    return t.index[t["transfer_number"] == "1"][:n]


def test_duplicate_patient_id_is_an_error(raw_tables):
    p = raw_tables["patients"]
    p.loc[1, "patient_id"] = p.loc[0, "patient_id"]
    assert ("patient_id", "unique") in _rules(validate_cohort(p, raw_tables["transfers"]))


def test_missing_required_column_is_named(raw_tables):
    t = raw_tables["transfers"].drop(columns=["embryo_stage"])
    checked = validate_cohort(raw_tables["patients"], t)
    assert ("embryo_stage", "required_column") in _rules(checked)


def test_unknown_patient_id(raw_tables):
    t = raw_tables["transfers"]
    t.loc[0, "patient_id"] = "P99999"
    assert ("patient_id", "patient_id_known") in _rules(validate_cohort(raw_tables["patients"], t))


def test_transfer_before_biopsy(raw_tables):
    t = raw_tables["transfers"]
    t.loc[0, "transfer_date"] = "2000-01-01"
    assert ("transfer_date", "biopsy_before_transfer") in _rules(validate_cohort(raw_tables["patients"], t))


def test_transfer_after_follow_up_end(raw_tables):
    t = raw_tables["transfers"]
    t.loc[0, "transfer_date"] = "2030-01-01"
    assert ("transfer_date", "transfer_before_follow_up_end") in _rules(validate_cohort(raw_tables["patients"], t))


def test_follow_up_end_before_biopsy(raw_tables):
    p = raw_tables["patients"]
    p.loc[0, "follow_up_end_date"] = "2000-01-01"
    assert ("follow_up_end_date", "biopsy_before_follow_up_end") in _rules(validate_cohort(p, raw_tables["transfers"]))


def test_transfer_numbers_with_gap(raw_tables):
    t = raw_tables["transfers"]
    second = t.index[t["transfer_number"] == "2"][0]
    t.loc[second, "transfer_number"] = "3"
    assert ("transfer_number", "transfer_numbers_consecutive") in _rules(validate_cohort(raw_tables["patients"], t))


def test_sacs_more_than_embryos(raw_tables):
    t = raw_tables["transfers"]
    t.loc[0, ["embryos_transferred", "gestational_sacs", "clinical_pregnancy", "positive_hcg"]] = [
        "1",
        "2",
        "true",
        "true",
    ]
    assert ("gestational_sacs", "sacs_within_embryos") in _rules(validate_cohort(raw_tables["patients"], t))


def test_live_birth_without_clinical_pregnancy(raw_tables):
    t = raw_tables["transfers"]
    i = t.index[(t["live_birth"] == "true")][0]
    t.loc[i, ["clinical_pregnancy", "gestational_sacs"]] = ["false", "0"]
    rules = _rules(validate_cohort(raw_tables["patients"], t))
    assert ("live_birth", "live_birth_implies_clinical_pregnancy") in rules


def test_clinical_pregnancy_without_positive_hcg(raw_tables):
    t = raw_tables["transfers"]
    i = t.index[(t["clinical_pregnancy"] == "true")][0]
    t.loc[i, "positive_hcg"] = "false"
    rules = _rules(validate_cohort(raw_tables["patients"], t))
    assert ("clinical_pregnancy", "clinical_pregnancy_implies_positive_hcg") in rules


def test_clinical_pregnancy_iff_sacs(raw_tables):
    t = raw_tables["transfers"]
    i = t.index[(t["clinical_pregnancy"] == "false") & (t["positive_hcg"] == "false")][0]
    t.loc[i, "gestational_sacs"] = "1"
    rules = _rules(validate_cohort(raw_tables["patients"], t))
    assert ("clinical_pregnancy", "clinical_pregnancy_iff_sacs") in rules


def test_unknown_agent_and_agents_on_none_arm(raw_tables):
    t = raw_tables["transfers"]
    none_row = t.index[t["treatment_arm"] == "none"][0]
    emp_row = t.index[t["treatment_arm"] == "empirical"][0]
    t.loc[none_row, "treatment_agents"] = "prednisolone"
    t.loc[emp_row, "treatment_agents"] = "aspirin"
    rules = _rules(validate_cohort(raw_tables["patients"], t))
    assert ("treatment_agents", "agents_match_arm") in rules
    assert ("treatment_agents", "allowed_levels") in rules


def test_patient_without_any_endometrial_marker(raw_tables):
    p = raw_tables["patients"]
    p.loc[0, ["il15_fn14_ratio", "il18_tweak_ratio", "unk_cd56_percent", "cd138_per_hpf"]] = None
    rules = _rules(validate_cohort(p, raw_tables["transfers"]))
    assert any(rule == "at_least_one_endometrial_marker" for _, rule in rules)


def test_every_problem_reported_at_once_and_error_lists_them(raw_tables):
    p, t = raw_tables["patients"], raw_tables["transfers"]
    p.loc[0, "indication"] = "ivf"
    p.loc[1, "bmi_kg_m2"] = "heavy"
    t.loc[0, "treatment_arm"] = "placebo"
    checked = validate_cohort(p, t)
    assert len(checked.errors) == 3
    with pytest.raises(CohortValidationError) as info:
        checked.raise_for_errors()
    text = str(info.value)
    for needle in ("patients.indication", "patients.bmi_kg_m2", "transfers.treatment_arm", "3 error(s)"):
        assert needle in text


def test_soft_findings_are_warnings_and_extra_columns_are_kept(raw_tables):
    p = raw_tables["patients"]
    p["blood_th1_th2_ratio"] = None
    p["hospital_note"] = "x"
    p.loc[0, "bmi_kg_m2"] = "55"  # possible, unusual
    checked = validate_cohort(p, raw_tables["transfers"])
    assert checked.errors.empty
    warn = _rules(checked, "warning")
    assert ("blood_th1_th2_ratio", "all_missing") in warn
    assert ("hospital_note", "extra_column") in warn
    assert ("bmi_kg_m2", "plausible_range") in warn
    assert "hospital_note" in checked.patients.columns


def test_parquet_and_excel_read_like_csv(tmp_path, raw_tables):
    from analysis.data.loading import read_cohort_tables

    checked_csv = validate_cohort(raw_tables["patients"], raw_tables["transfers"])
    checked_csv.patients.to_parquet(tmp_path / "patients.parquet")
    with pd.ExcelWriter(tmp_path / "transfers.xlsx") as xl:
        raw_tables["transfers"].head(200).to_excel(xl, index=False)
    raw = read_cohort_tables(tmp_path)
    t200 = raw["transfers"]
    keep = raw["patients"]["patient_id"].isin(t200["patient_id"])
    checked = validate_cohort(raw["patients"][keep], t200)
    assert checked.errors.empty, checked.errors
    pd.testing.assert_series_equal(
        checked.patients["age_at_biopsy_years"].reset_index(drop=True),
        checked_csv.patients.loc[keep.to_numpy(), "age_at_biopsy_years"].reset_index(drop=True),
    )


def _live_birth_at_first_of_several(t):
    """Make transfer 1 of a woman with several transfers a live birth (consistent outcome cells)."""
    several = t.groupby("patient_id")["transfer_number"].transform("size") > 1
    i = t.index[several & (t["transfer_number"] == "1")][0]
    t.loc[i, ["positive_hcg", "gestational_sacs", "clinical_pregnancy", "miscarriage", "live_birth"]] = [
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
            t.loc[i, column] = value
    return t.loc[i, "patient_id"], int((t["patient_id"] == t.loc[i, "patient_id"]).sum()) - 1


def test_transfer_after_live_birth_is_a_warning_with_ids(raw_tables):
    t = raw_tables["transfers"]
    pid, n_after = _live_birth_at_first_of_several(t)
    checked = validate_cohort(raw_tables["patients"], t)
    assert checked.errors.empty
    assert ("live_birth", "transfer_after_live_birth") in _rules(checked, "warning")
    row = checked.warnings.set_index("rule").loc["transfer_after_live_birth"]
    assert row["n_rows"] == n_after and row["example_ids"].startswith(f"{pid}#2")
    assert len(checked.transfers) == len(t)  # reported, never dropped here
