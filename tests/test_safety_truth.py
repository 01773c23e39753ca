"""The safety analyses recover the generator's declared truth on the shipped cohort.

``data/synthetic/truth.json`` declares (``safety``): prednisolone raises preterm birth among live
births (OR 2.30, from the prednisone RCT of Sun et al., JAMA 2023), no other agent does (OR 1),
a multiple birth has OR 12, congenital anomalies do not depend on the arm, and the marginal risk
difference of a preterm live birth at the first transfer with personalized therapy against none.
One draw (the shipped seed), so each interval is checked to cover its declared value, and the
declared harm to be found (interval above 1); one cohort load per module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.data.cohort import load_cohort
from analysis.data.synthetic import read_truth
from analysis.methods import effects, propensity, safety

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "synthetic"
PS_COVARIATES = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id", "profile_group"]


@pytest.fixture(scope="module")
def shipped():
    cohort = load_cohort(SHIPPED)
    everything = safety.pregnancy_outcomes(cohort.population("all", None), cohort.births)
    first = safety.pregnancy_outcomes(cohort.population("first", "live_birth"), cohort.births)
    return cohort, everything, first, read_truth(SHIPPED)["safety"]


def test_declared_harm_of_prednisolone_on_preterm_birth_is_recovered(shipped):
    """Firth model of preterm birth among live births on every agent and a multiple birth: the
    prednisolone OR interval covers the declared 2.30 and lies above 1 (the harm is found); the
    multiple-birth OR covers 12. Catches a model without the multiple-birth term (twins are
    preterm whatever the agent) or agents coded from the arm instead of the agents given."""
    _, everything, _, truth = shipped
    born = everything[everything["live_birth"] == 1]
    born = born.join(safety.agent_indicators(born))
    agents = ["agent_prednisolone", "agent_intralipid", "agent_hcg_intrauterine", "agent_lmwh", "agent_ivig"]
    rows = safety.firth_rows(
        born,
        outcome="preterm_birth",
        covariates=[*agents, "multiple_birth"],
        model_id="preterm_lb_agent_firth",
        population="live_births",
        notebook="test",
    ).set_index("term")
    declared = truth["declared_harm"]["odds_ratio"]
    assert declared == pytest.approx(2.30, abs=0.01)
    pred = rows.loc["agent_prednisolone"]
    assert pred["conf_low"] <= declared <= pred["conf_high"]
    assert pred["conf_low"] > 1
    multiple = rows.loc["multiple_birth"]
    assert multiple["conf_low"] <= truth["preterm_model"]["multiple_odds_ratio"] <= multiple["conf_high"]
    # no harm where none is declared: every other agent's interval covers its declared OR of 1
    for term in agents[1:]:
        assert truth["preterm_model"]["agent_odds_ratios"][term.removeprefix("agent_")] == 1.0
        assert rows.loc[term, "conf_low"] <= 1 <= rows.loc[term, "conf_high"], term


def test_no_harm_on_congenital_anomalies_where_none_is_declared(shipped):
    """Anomalies are declared independent of arm: the Firth ORs of both arms among live births
    cover 1, and the Newcombe risk differences per live birth cover 0."""
    _, everything, _, truth = shipped
    assert "whatever the arm" in truth["declared_nulls"]["major_congenital_anomaly"]
    born = everything[everything["live_birth"] == 1]
    rows = safety.firth_rows(
        born,
        outcome="major_congenital_anomaly",
        covariates=["treatment_arm"],
        model_id="anomaly_lb_arm_firth",
        population="live_births",
        notebook="test",
        references={"treatment_arm": "none"},
    )
    assert ((rows["conf_low"] <= 1) & (rows["conf_high"] >= 1)).all(), rows
    d = safety.harm_differences(everything, harms=[("major_congenital_anomaly", "live_birth")])
    assert ((d["rd_low_proportion"] <= 0) & (d["rd_high_proportion"] >= 0)).all(), d


def test_weighted_preterm_difference_covers_the_declared_marginal_difference(shipped):
    """IPTW (notebook 05's weights: multinomial propensity on the same confounders, ATE) risk
    difference of a preterm live birth at the first transfer, personalized vs none, covers the
    declared marginal difference (about +2.6 per 100 women). Catches a preterm outcome counted
    among live births only (a different estimand, +0.5) or unweighted arms."""
    _, _, first, truth = shipped
    scores = propensity.propensity_scores(first, covariates=PS_COVARIATES, reference="none")
    w = propensity.iptw_weights(scores, estimand="ATE", treated="personalized")
    rows = first.loc[w.index]
    est, _ = effects.iptw_risk_rows(
        rows, w, outcome="preterm_birth", model_id="preterm_first_iptw", notebook="test", conf_level=0.95
    )
    rd = est[(est["model_id"] == "preterm_first_iptw_rd") & (est["term"] == "treatment_arm[personalized]")].iloc[0]
    declared = truth["preterm_first_marginal"]["all"]["rd_personalized_vs_none"]
    assert 0.02 < declared < 0.03
    assert rd["conf_low"] <= declared <= rd["conf_high"]
    assert np.isfinite(rd["std_error"]) and rd["n_obs"] == len(rows)
