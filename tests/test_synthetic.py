"""The synthetic generator: determinism, the contract, and the declared truth carried by the data."""

from __future__ import annotations

import filecmp
import json

import numpy as np
import pandas as pd
import pytest
from conftest import SHIPPED

from analysis.data.cohort import load_cohort
from analysis.data.synthetic import LIVE_BIRTH_LOG_ODDS, read_truth, simulate_cohort, write_cohort


def test_shipped_cohort_regenerates_byte_for_byte(tmp_path):
    truth = read_truth(SHIPPED)
    write_cohort(simulate_cohort(truth["n_patients"], seed=truth["seed"]), tmp_path)
    for name in ("patients.csv", "transfers.csv", "truth.json"):
        assert filecmp.cmp(SHIPPED / name, tmp_path / name, shallow=False), name


def test_different_seeds_differ():
    a = simulate_cohort(100, seed=1).patients
    b = simulate_cohort(100, seed=2).patients
    assert not a["age_at_biopsy_years"].equals(b["age_at_biopsy_years"])


def test_truth_file_declares_the_generator_coefficients():
    truth = read_truth(SHIPPED)
    declared = truth["live_birth_model"]["log_odds"]
    assert declared == pytest.approx(LIVE_BIRTH_LOG_ODDS)
    eff = truth["declared_effects"]
    assert eff["personalized_vs_none_OR"]["dysregulated"] > 1  # personalized helps dysregulated
    assert eff["mismatched_vs_none_OR"] < 1  # mismatched therapy harms
    assert eff["age_OR_per_year"] < 1  # age lowers live birth


@pytest.fixture(scope="module")
def big():
    """A 6,000-patient cohort: large enough for shares to sit near their declared values."""
    c = simulate_cohort(6000, seed=11)
    return c


def test_first_transfer_arm_shares_match_truth(big):
    first = big.transfers[big.transfers["transfer_number"] == 1]
    share = first["treatment_arm"].value_counts(normalize=True)
    n = len(first)
    for arm, declared in big.truth["treatment_assignment"]["first_transfer_arm_expected_share"].items():
        # realised share within 4 binomial standard errors of the assignment model's expectation
        assert abs(share[arm] - declared) < 4 * np.sqrt(declared * (1 - declared) / n)
        assert 0.15 < declared < 0.6  # every arm well represented


def test_confounding_goes_the_declared_way(big):
    """Personalized therapy goes to women with more prior failures (declared 'downward' crude bias)."""
    first = big.transfers[big.transfers["transfer_number"] == 1].merge(big.patients, on="patient_id")
    prior = first.groupby("treatment_arm")["prior_failed_transfers"].mean()
    assert prior["personalized"] > prior["none"] + 0.3
    year = first.assign(y=pd.to_datetime(first["biopsy_date"]).dt.year).groupby("treatment_arm")["y"].mean()
    assert year["personalized"] > year["none"] + 0.5  # rises over calendar time
    assert big.truth["confounding"]["personalized_vs_none"]["crude_bias"] == "downward"


def test_profile_shares_near_published_prevalence(big):
    share = big.patients["immune_profile"].value_counts(normalize=True)
    assert share["over_activated"] == pytest.approx(0.43, abs=0.03)
    assert share["balanced"] == pytest.approx(0.17, abs=0.03)


def test_blood_nk_only_weakly_tracks_endometrial_unk(big):
    rho = big.patients[["blood_nk_percent", "unk_cd56_percent"]].corr(method="spearman").iloc[0, 1]
    assert 0.0 < rho < 0.25


def test_live_birth_rate_and_dropout_realistic(big):
    first = big.transfers[big.transfers["transfer_number"] == 1]
    assert first["live_birth"].mean() == pytest.approx(0.31, abs=0.04)  # LBR/ET about 30 % [S3]
    per_patient = big.transfers.groupby("patient_id").size()
    assert 1.5 < per_patient.mean() < 2.3
    assert big.transfers["live_birth"].isna().mean() == pytest.approx(0.03, abs=0.01)


def test_marginal_truth_is_consistent_with_declared_conditional_effects(big):
    m = big.truth["marginal_first_transfer"]
    assert m["balanced"]["rd_personalized_vs_none"] == 0.0
    assert m["dysregulated"]["rd_personalized_vs_none"] > 0.05
    assert m["balanced"]["rd_empirical_vs_none"] < 0


def test_synthetic_cohort_obeys_the_contract(tmp_path):
    write_cohort(simulate_cohort(400, seed=5), tmp_path)
    cohort = load_cohort(tmp_path)  # raises on any contract error
    assert cohort.problems.empty
    assert set(cohort.patients["profile_source"].dropna()) == {"lab", "derived"}
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["n_transfers"] == len(cohort.transfers)


def test_personalized_therapy_matches_profile_by_construction(big):
    from analysis.data.therapy import therapy_match

    t = big.transfers.merge(big.patients[["patient_id", "immune_profile"]], on="patient_id")
    t = t[t["immune_profile"].notna()]
    match = therapy_match(t["treatment_agents"], t["immune_profile"])
    pers = t["treatment_arm"] == "personalized"
    assert (match[pers & (t["immune_profile"] != "balanced")] == "matched").all()
    assert (match[pers & (t["immune_profile"] == "balanced")] == "none").all()
    assert (match[(t["treatment_arm"] == "empirical") & (t["immune_profile"] == "balanced")] == "mismatched").all()
