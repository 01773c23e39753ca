"""The realistic clinic generator: its features are there, and its declared truth is right.

The declared truths are expectations computed inside the generator; they are checked here
against what the generator's own draws give when every woman is assigned one strategy (a
randomised clinic), by Monte Carlo, at four binomial standard errors.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from analysis.data.clinic import PLAIN_CLINIC, ClinicFeatures, simulate_clinic
from analysis.data.cohort import load_cohort
from analysis.data.synthetic import write_cohort
from analysis.data.validation import validate_cohort

OPEN_ENDED = dict(data_cut="2045-12-31", lost_share=0.0, sibling_return=0.0)


def _first_and_cumulative(clinic, horizon):
    tr = clinic.transfers.merge(clinic.patients[["patient_id", "immune_profile"]], on="patient_id")
    t0 = tr.groupby("patient_id")["transfer_date"].transform("min")
    rel = (tr["transfer_date"] - t0).dt.days
    first = tr[tr["transfer_number"] == 1]
    lb_by_h = (tr["live_birth"].eq(1) & (rel <= horizon)).groupby(tr["patient_id"]).any()
    return first, lb_by_h


@pytest.mark.parametrize("arm,strategy", [("none", "never"), ("personalized", "always_personalized")])
def test_declared_strategy_truth_matches_a_randomised_clinic(arm, strategy):
    features = ClinicFeatures(assigned_arm=arm, **OPEN_ENDED)
    clinic = simulate_clinic(8000, seed=71, features=features)
    first, lb_by_h = _first_and_cumulative(clinic, clinic.truth["cumulative"]["horizon_days"])
    n = len(lb_by_h)
    declared = clinic.truth["cumulative"]["with_dropout"][strategy]["all"]["by_horizon"]
    observed = lb_by_h.mean()
    se = np.sqrt(declared * (1 - declared) / n)
    assert abs(observed - declared) < 4 * se, (observed, declared, se)
    risk = clinic.truth["first_transfer"]["all"][f"risk_{arm}"]
    obs_first = first["live_birth"].mean()
    assert abs(obs_first - risk) < 4 * np.sqrt(risk * (1 - risk) / len(first)), (obs_first, risk)


def test_null_clinic_declares_no_effect_and_effects_clinic_declares_benefit_where_dysregulated():
    null = simulate_clinic(1500, seed=5, null=True).truth
    for group in ("all", "dysregulated", "balanced"):
        assert null["first_transfer"][group]["rd_personalized_vs_none"] == 0.0
        assert null["cumulative"]["no_dropout"]["difference"][group]["by_horizon"] == 0.0
    truth = simulate_clinic(1500, seed=5).truth
    assert truth["first_transfer"]["dysregulated"]["rd_personalized_vs_none"] > 0.08
    # The negative control: personalized therapy gives no agent in balanced profiles.
    assert truth["first_transfer"]["balanced"]["rd_personalized_vs_none"] == pytest.approx(0.0, abs=1e-12)
    assert truth["cumulative"]["with_dropout"]["difference"]["dysregulated"]["by_horizon"] > 0.05


def test_clinic_cohort_passes_the_data_contract(tmp_path):
    clinic = simulate_clinic(600, seed=9)
    checked = validate_cohort(clinic.patients, clinic.transfers)
    assert not (checked.problems["severity"] == "error").any()
    write_cohort(clinic, tmp_path)
    cohort = load_cohort(tmp_path)
    assert len(cohort.transfers) == len(clinic.transfers)


def test_same_seed_same_clinic():
    a, b = simulate_clinic(400, seed=3), simulate_clinic(400, seed=3)
    pd.testing.assert_frame_equal(a.transfers, b.transfers)
    assert a.truth == b.truth


def _delay_by_first_arm(clinic):
    first = clinic.transfers[clinic.transfers["transfer_number"] == 1].merge(
        clinic.patients[["patient_id", "biopsy_date"]], on="patient_id"
    )
    delay = (first["transfer_date"] - first["biopsy_date"]).dt.days
    return delay.groupby(first["treatment_arm"]).mean()


def test_each_feature_shows_in_the_data_and_vanishes_when_switched_off():
    on = simulate_clinic(4000, seed=21)
    off = simulate_clinic(4000, seed=21, features=PLAIN_CLINIC)
    # Arm-dependent delay: personalized first transfers come later only when the feature is on.
    d_on, d_off = _delay_by_first_arm(on), _delay_by_first_arm(off)
    assert d_on["personalized"] - d_on["none"] > 30
    assert abs(d_off["personalized"] - d_off["none"]) < 8

    # Switching toward personalized after a failure, in dysregulated profiles.
    def moved_to_personalized(clinic):
        tr = clinic.transfers.sort_values(["patient_id", "transfer_number"])
        prev = tr.groupby("patient_id")["treatment_arm"].shift()
        return ((prev != "personalized") & prev.notna() & (tr["treatment_arm"] == "personalized")).mean()

    assert moved_to_personalized(on) > 1.5 * moved_to_personalized(off)

    # Returns for a sibling: transfers after a live birth.
    def after_birth(clinic):
        tr = clinic.transfers.sort_values(["patient_id", "transfer_number"])
        born = tr["live_birth"].eq(1).groupby(tr["patient_id"]).cumsum() - tr["live_birth"].eq(1)
        return int((born > 0).sum())

    assert after_birth(on) > 20 and after_birth(off) == 0
    # Administrative censoring: women still in treatment at the cut, outcomes pending.
    cut = pd.Timestamp(ClinicFeatures().data_cut)
    assert (on.patients["follow_up_end_date"] == cut).mean() > 0.9
    pending = on.transfers["transfer_date"] > cut - pd.Timedelta(days=ClinicFeatures().pending_days)
    assert on.transfers.loc[pending, "live_birth"].isna().all() and pending.sum() > 20
    # Markers missing and the lab's profile mostly absent.
    assert on.patients["immune_profile"].isna().mean() > 0.5
    assert off.patients["immune_profile"].isna().mean() < 0.1


def test_single_marker_profiles_put_one_marker_outside_the_range():
    clinic = simulate_clinic(3000, seed=4, features=dataclasses.replace(ClinicFeatures(), markers_missing=False))
    p = clinic.patients
    out = pd.DataFrame(
        {
            "il15": (p["il15_fn14_ratio"] < 0.5) | (p["il15_fn14_ratio"] > 2.0),
            "il18": (p["il18_tweak_ratio"] < 0.5) | (p["il18_tweak_ratio"] > 2.0),
            "unk": (p["unk_cd56_percent"] < 1.2) | (p["unk_cd56_percent"] > 4.5),
        }
    ).sum(axis=1)
    true_profile = clinic.truth  # the lab profile column is the truth where present
    single = p["immune_profile"].isin(["over_activated", "under_activated"])
    assert (out[single] == 1).mean() > 0.9
    assert true_profile["immune_profile"]["shares"]["balanced"] < 0.25


def test_old_biopsy_origin_cox_design_reports_an_effect_on_a_null_clinic():
    """The error the realistic clinic exists to catch: time zero at the biopsy, arm of the first transfer.

    On a clinic where no arm does anything, personalized women wait weeks for their agents
    after the biopsy, at risk of nothing; the old design reads that as an arm effect. If this
    test stopped failing the old design, the generator would have lost the feature.
    """
    clinic = simulate_clinic(4000, seed=13, null=True)
    tr = clinic.transfers.merge(
        clinic.patients[
            ["patient_id", "biopsy_date", "follow_up_end_date", "age_at_biopsy_years", "prior_failed_transfers"]
        ],
        on="patient_id",
    )
    first_arm = tr[tr["transfer_number"] == 1].set_index("patient_id")["treatment_arm"]
    lb = tr[tr["live_birth"].eq(1)].groupby("patient_id")["transfer_date"].min()
    pat = tr.groupby("patient_id").first()[
        ["biopsy_date", "follow_up_end_date", "age_at_biopsy_years", "prior_failed_transfers"]
    ]
    pat["arm"] = first_arm
    pat["event"] = pat.index.isin(lb.index).astype(int)
    end = lb.reindex(pat.index).fillna(pat["follow_up_end_date"])
    pat["days"] = (end - pat["biopsy_date"]).dt.days.clip(lower=1)
    design = pd.get_dummies(
        pat[["days", "event", "age_at_biopsy_years", "prior_failed_transfers", "arm"]], columns=["arm"], dtype=float
    ).drop(columns="arm_none")
    # Early follow-up (the first 120 days after the biopsy) is where the waiting shows.
    early = design.copy()
    early["event"] = np.where(early["days"] > 120, 0, early["event"])
    early["days"] = early["days"].clip(upper=120)
    fit = CoxPHFitter().fit(early, duration_col="days", event_col="event")
    upper = float(np.exp(fit.confidence_intervals_.loc["arm_personalized"].iloc[1]))
    assert upper < 0.8  # a strong spurious "harm" of personalized therapy early after the biopsy
