"""Propensity scores, weights, matching and E-values: hand-computable cases and hard inputs."""

import numpy as np
import pandas as pd
import pytest

from analysis.core.exceptions import ModelError
from analysis.methods import effects, propensity


def _toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    arm = np.where(rng.random(n) < 1 / (1 + np.exp(-x)), "personalized", "none")
    y = (rng.random(n) < 0.3).astype(int)
    return pd.DataFrame({"patient_id": [f"P{i:04d}" for i in range(n)], "x": x, "treatment_arm": arm, "live_birth": y})


def test_greedy_matching_by_hand():
    # logit scores: treated 2.0, 1.0, 0.0; controls 1.9, 1.05, 0.5, -3.
    logit = pd.Series([2.0, 1.0, 0.0, 1.9, 1.05, 0.5, -3.0], index=list("abcdefg"))
    ps = 1 / (1 + np.exp(-logit))
    treated = pd.Series([True, True, True, False, False, False, False], index=ps.index)
    # Without caliper: a (largest) takes d (0.1), b takes e (0.05), c takes f (0.5).
    pairs = propensity.match_nearest(ps, treated, caliper_sd=0)
    assert list(zip(pairs["treated_index"], pairs["control_index"])) == [("a", "d"), ("b", "e"), ("c", "f")]
    # Caliper 0.1 SD of the logit scores (SD 1.67 → 0.167): c's nearest (0.5 away) is too far.
    pairs = propensity.match_nearest(ps, treated, caliper_sd=0.1)
    assert list(zip(pairs["treated_index"], pairs["control_index"])) == [("a", "d"), ("b", "e")]
    np.testing.assert_allclose(pairs["distance"], [0.1, 0.05], atol=1e-12)


def test_ate_weights_by_hand_and_truncation():
    scores = pd.DataFrame(
        {
            "arm": ["none", "none", "personalized", "personalized"],
            "ps_none": [0.8, 0.5, 0.5, 0.2],
            "ps_personalized": [0.2, 0.5, 0.5, 0.8],
        }
    )
    w = propensity.iptw_weights(scores)  # share 0.5 over the received score
    np.testing.assert_allclose(w, [0.625, 1.0, 1.0, 0.625])
    att = propensity.iptw_weights(scores, estimand="ATT", treated="personalized")
    np.testing.assert_allclose(att, [0.25, 1.0, 1.0, 1.0])
    t = propensity.truncate_weights(pd.Series([1.0, 2, 3, 4, 100]), [0, 75])
    np.testing.assert_allclose(t, [1, 2, 3, 4, 4])
    with pytest.raises(ModelError, match="weight_truncation"):
        propensity.truncate_weights(pd.Series([1.0]), [99, 1])


def test_evalue_by_hand():
    # VanderWeele & Ding (2017): RR 3.9 gives E = 3.9 + sqrt(3.9 * 2.9) = 7.26
    assert effects.evalue(3.9) == pytest.approx(3.9 + np.sqrt(3.9 * 2.9))
    assert effects.evalue(1 / 3.9) == pytest.approx(effects.evalue(3.9))
    est = pd.DataFrame(
        {
            "model_id": ["m"],
            "term": ["t"],
            "estimator": ["iptw_logit"],
            "estimate": [2.25],
            "conf_low": [1.21],
            "conf_high": [4.0],
        }
    )
    common = effects.evalue_table(est, outcome_risk=0.3).iloc[0]  # common outcome: RR ~ sqrt(OR) = 1.5
    assert common["rr_scale_estimate"] == pytest.approx(1.5)
    assert common["evalue_estimate"] == pytest.approx(1.5 + np.sqrt(1.5 * 0.5))
    assert common["evalue_ci_limit"] == pytest.approx(1.1 + np.sqrt(1.1 * 0.1))
    rare = effects.evalue_table(est.assign(conf_low=0.9), outcome_risk=0.05).iloc[0]
    assert rare["rr_scale_estimate"] == pytest.approx(2.25) and rare["evalue_ci_limit"] == 1.0


def test_empty_arm_gives_a_sentence():
    d = _toy()
    d.loc[d["treatment_arm"] == "personalized", "treatment_arm"] = "none"
    with pytest.raises(ModelError, match="no patient"):
        propensity.propensity_scores(d, covariates=["x"], levels=("none", "personalized"))


def test_covariate_predicting_treatment_is_named():
    d = _toy()
    d["site"] = np.where(d["treatment_arm"] == "personalized", "A", "B")
    with pytest.raises(ModelError, match="separat|perfect"):
        propensity.propensity_scores(d, covariates=["x", "site"], levels=("none", "personalized"))


def test_extreme_weights_are_reported_not_hidden():
    d = _toy(n=400, seed=3)
    d["x"] = d["x"] * 4 + np.where(d["treatment_arm"] == "personalized", 2.5, -2.5)
    scores = propensity.propensity_scores(d, covariates=["x"], levels=("none", "personalized"))
    w = propensity.iptw_weights(scores)
    warnings = propensity.positivity_warnings(scores, weights=w)
    assert any("below 0.025" in s for s in warnings)
    assert any("outside" in s for s in warnings) or any("exceed" in s for s in warnings)
    bad = pd.Series(np.r_[w.to_numpy()[:-1], np.inf], index=w.index)
    with pytest.raises(ModelError, match="finite"):
        effects.iptw_logit_rows(d, bad, model_id="lb_first_iptw", notebook="05_treatment_effects")


def test_arm_missing_from_a_profile_group_is_named():
    from analysis.data.cohort import derive_cohort
    from analysis.data.synthetic import simulate_cohort
    from analysis.data.validation import validate_cohort

    sim = simulate_cohort(500, seed=8)
    first = derive_cohort(validate_cohort(sim.patients, sim.transfers)).population("first")
    first = first[~((first["profile_group"] == "balanced") & (first["treatment_arm"] == "personalized"))]
    cov = ["age_at_biopsy_years", "prior_failed_transfers", "profile_group"]
    with pytest.raises(ModelError, match="no patient received personalized in profile_group=balanced"):
        effects.aipw_rd_rows(
            first,
            ps_covariates=cov,
            outcome_covariates=cov,
            n_bootstrap=5,
            model_id="lb_first_aipw",
            notebook="05_treatment_effects",
        )
    # without the modifier the overall effect is still estimable
    cov = ["age_at_biopsy_years", "prior_failed_transfers"]
    rows = effects.aipw_rd_rows(
        first,
        ps_covariates=cov,
        outcome_covariates=cov,
        modifier=None,
        n_bootstrap=20,
        model_id="lb_first_aipw",
        notebook="05_treatment_effects",
    ).estimates
    assert rows["estimate"].notna().all() and np.isfinite(rows["conf_low"]).all()
