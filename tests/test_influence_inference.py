"""Influence-function (stacked estimating equation) inference of the AIPW and IPTW risks.

Against R: ``tests/reference/make_influence_reference.R`` computes, on
``tests/reference/influence_data.csv`` (every transfer of 225 synthetic women, clusters =
women), the stacked sandwich :math:`A^{-1} B A^{-\\top}` by hand: ``nnet::multinom`` polished by
Newton steps, ``glm`` for the outcome, the stacked :math:`\\psi` functions, the bread by central
finite differences of :math:`\\sum_i \\psi_i(\\theta)`, the meat from patient sums (R 4.2.2,
``R_VERSIONS_influence.txt``). Against a declared truth: a simulation where the outcome model
leaves out the confounder, so the propensity model's estimation changes the variance; the
variance that ignores it is visibly too wide there.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.special

from analysis.core.exceptions import ModelError
from analysis.data.cohort import load_cohort
from analysis.methods import effects, propensity
from analysis.models.logistic import fit_binomial_irls
from analysis.models.multinomial import fit_multinomial_logit

REF = Path(__file__).parent / "reference"
DATA = Path(__file__).resolve().parents[1] / "data" / "synthetic"
PS = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id", "profile_group"]
RTOL = 1e-6  # R's bread is a central finite difference (h = 1e-5): agreement is ~1e-8 relative
ARMS = ["none", "empirical", "personalized"]


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(REF / "influence_data.csv", dtype={"center_id": str, "patient_id": str})
    d["treatment_arm"] = pd.Categorical(d["treatment_arm"], categories=ARMS)
    d["profile_group"] = pd.Categorical(d["profile_group"], categories=["balanced", "dysregulated"])
    return d


@pytest.fixture(scope="module")
def ref():
    r = pd.read_csv(REF / "influence_reference.csv", keep_default_na=False)
    assert r.set_index("quantity").loc["multinom_max_score", "value"] < 1e-9  # R's fit is at its optimum
    assert r.set_index("quantity").loc["aipw_max_estimating_equation", "value"] < 1e-9
    return r.set_index(["quantity", "stratum", "arm"])["value"]


def test_aipw_influence_variance_matches_r_stacked_sandwich(data, ref):
    """Clustered by woman: risks, their SEs and the RD SEs equal R's A^-1 B A^-T."""
    out = effects.aipw_rd_rows(
        data,
        ps_covariates=PS,
        outcome_covariates=PS,
        inference="influence",
        cluster="patient_id",
        model_id="lb_first_aipw",
        notebook="05_treatment_effects",
    )
    assert out.inference == "influence"
    assert set(out.estimates["estimator"]) == {"aipw_if_rd"}
    assert set(out.risks["ci_method"]) == {"influence_function"}
    for r in out.risks.itertuples():
        np.testing.assert_allclose(r.risk, ref[("aipw_risk", r.stratum, r.arm)], rtol=RTOL)
        np.testing.assert_allclose(r.std_error, ref[("aipw_risk_se", r.stratum, r.arm)], rtol=RTOL)
    for r in out.estimates.itertuples():
        arm = r.term.split("[")[1].split("]")[0]
        stratum = r.term.split(" | ")[1] if " | " in r.term else "all"
        np.testing.assert_allclose(r.estimate, ref[("aipw_rd", stratum, arm)], rtol=RTOL)
        np.testing.assert_allclose(r.std_error, ref[("aipw_rd_se", stratum, arm)], rtol=RTOL)
        z = 1.959963984540054
        np.testing.assert_allclose(
            [r.conf_low, r.conf_high], [r.estimate - z * r.std_error, r.estimate + z * r.std_error]
        )


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATO"])
def test_stacked_iptw_risks_match_r_stacked_sandwich(data, ref, estimand):
    scores = propensity.propensity_scores(data, covariates=PS)
    w = propensity.iptw_weights(scores, estimand=estimand, treated="personalized")
    est, risks = effects.iptw_risk_rows(
        data,
        w,
        cluster="patient_id",
        model_id="lb_first_iptw",
        notebook="05_treatment_effects",
        variance="stacked",
        ps_covariates=PS,
        estimand=estimand,
    )
    for r in risks.itertuples():
        np.testing.assert_allclose(r.risk, ref[(f"iptw_stacked_risk_{estimand}", "all", r.arm)], rtol=RTOL)
        np.testing.assert_allclose(r.std_error, ref[(f"iptw_stacked_risk_se_{estimand}", "all", r.arm)], rtol=RTOL)
    rd = est[est["estimator"] == "iptw_stacked_rd"]
    for r in rd.itertuples():
        arm = r.term.split("[")[1].rstrip("]")
        np.testing.assert_allclose(r.std_error, ref[(f"iptw_stacked_rd_se_{estimand}", "all", arm)], rtol=RTOL)
    assert set(est["estimator"]) == {"iptw_stacked_rd", "iptw_stacked_rr"}


def test_stacked_iptw_refuses_truncated_weights(data):
    scores = propensity.propensity_scores(data, covariates=PS)
    w = propensity.truncate_weights(propensity.iptw_weights(scores), [5, 95])
    with pytest.raises(ModelError, match="untruncated ATE weights"):
        effects.iptw_risk_rows(
            data, w, model_id="m", notebook="05_treatment_effects", variance="stacked", ps_covariates=PS
        )


def _simulated(n, rng):
    """Three arms by a multinomial logit in x; live birth depends on x (strongly) and on personalized."""
    x = rng.normal(size=n)
    eta = np.column_stack([np.zeros(n), 0.2 + 1.0 * x, -0.3 + 1.6 * x])
    p = scipy.special.softmax(eta, axis=1)
    a = (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    y = (rng.random(n) < scipy.special.expit(-0.8 + 2.5 * x + 0.6 * (a == 2))).astype(float)
    return x, a, y


def test_stacked_variance_matches_monte_carlo_sd_where_known_weights_is_too_wide():
    """250 simulated cohorts of 800 with a declared truth; the outcome model leaves out x.

    Then the AIPW estimator is close to IPW and the propensity model's estimation lowers its
    variance: the influence function that omits the propensity term (``naive``) and the
    known-weights IPTW variance overstate the Monte-Carlo SD by about 30%, the stacked ones are
    within 10% of it, and the stacked Wald interval covers the true RD at its level.
    The truth: RD = E[expit(-0.2 + 2.5x)] - E[expit(-0.8 + 2.5x)], x ~ N(0, 1) (Gauss-Hermite).
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    truth = float(weights @ (scipy.special.expit(-0.2 + 2.5 * nodes) - scipy.special.expit(-0.8 + 2.5 * nodes)))
    rng = np.random.default_rng(20261203)
    n, c, z = 800, np.array([-1.0, 0.0, 1.0]), 1.959963984540054
    res = []
    for _ in range(250):
        x, a, y = _simulated(n, rng)
        X_ps = np.column_stack([np.ones(n), x])
        X = np.column_stack([np.ones(n), a == 1, a == 2]).astype(float)
        X_arm = [np.tile([1.0, j == 1, j == 2], (n, 1)) for j in range(3)]
        risks, phi = effects.aipw_risk_influence(
            y=y, codes=a, levels=ARMS, X_ps=X_ps, X=X, X_arm=X_arm, strata={"all": np.ones(n, dtype=bool)}
        )
        # the variance without the propensity (and outcome) model terms, for contrast
        e = fit_multinomial_logit(X_ps, a, n_classes=3)[2]
        m = [scipy.special.expit(X_arm[j] @ fit_binomial_irls(X, y, np.ones(n)).coef) for j in range(3)]
        d = (m[2] + (a == 2) * (y - m[2]) / e[:, 2]) - (m[0] + (a == 0) * (y - m[0]) / e[:, 0])
        w = 1 / e[np.arange(n), a]
        _, cov_stacked = effects.stacked_weighted_risks(y, a, w, X_ps, n_classes=3)
        mu_known, cov_known = effects.weighted_risks(y, a.astype(str), w, ["0", "1", "2"])
        res.append(
            (
                risks @ c,
                np.sqrt(((phi @ c) ** 2).sum()),
                d.std() / np.sqrt(n),
                mu_known @ c,
                np.sqrt(c @ cov_stacked @ c),
                np.sqrt(c @ cov_known @ c),
            )
        )
    rd, se_if, se_naive, rd_iptw, se_stacked, se_known = np.array(res).T
    sd_aipw, sd_iptw = rd.std(ddof=1), rd_iptw.std(ddof=1)
    assert 0.9 <= se_if.mean() / sd_aipw <= 1.1
    assert se_naive.mean() / sd_aipw > 1.2
    assert 0.9 <= se_stacked.mean() / sd_iptw <= 1.1
    assert se_known.mean() / sd_iptw > 1.2
    assert np.mean(np.abs(rd - truth) <= z * se_if) >= 0.92
    assert np.mean(np.abs(rd_iptw - truth) <= z * se_stacked) >= 0.92


@pytest.fixture(scope="module")
def shipped_first():
    return load_cohort(DATA).population("first")


def test_influence_and_bootstrap_agree_on_shipped_cohort(shipped_first):
    """Shipped cohort (1,500 women), 200 patient resamples: SE ratio within 0.85-1.15, limits within 0.5 SE."""
    out = effects.aipw_rd_rows(
        shipped_first,
        ps_covariates=PS,
        outcome_covariates=PS,
        inference="bootstrap",
        n_bootstrap=200,
        seed=11,
        n_jobs=1,
        model_id="lb_first_aipw",
        notebook="05_treatment_effects",
    )
    cmp = out.comparison
    assert len(cmp) == 6 and (cmp["n_bootstrap"] == 200).all()
    assert cmp["se_ratio_influence_to_bootstrap"].between(0.85, 1.15).all(), cmp
    for side in ("conf_low", "conf_high"):
        gap = (cmp[f"{side}_influence"] - cmp[f"{side}_bootstrap"]).abs()
        assert (gap <= 0.5 * cmp["std_error_bootstrap"]).all(), cmp
    # the bootstrap rows carry the bootstrap interval and say so
    assert set(out.estimates["estimator"]) == {"aipw_rd"}
    np.testing.assert_allclose(out.estimates["conf_low"], cmp["conf_low_bootstrap"])


def test_auto_inference_chooses_by_number_of_patients(shipped_first):
    assert effects.aipw_inference_method("auto", 5001, 5000) == "influence"
    assert effects.aipw_inference_method("auto", 5000, 5000) == "bootstrap"
    assert effects.aipw_inference_method("bootstrap", 10**6, 5000) == "bootstrap"
    with pytest.raises(ModelError, match="AIPW inference must be one of"):
        effects.aipw_inference_method("jackknife", 10, 5000)
    out = effects.aipw_rd_rows(
        shipped_first,
        ps_covariates=PS,
        outcome_covariates=PS,
        influence_above=1000,  # the shipped cohort has 1,500 women
        model_id="lb_first_aipw",
        notebook="05_treatment_effects",
    )
    assert out.inference == "influence" and set(out.estimates["estimator"]) == {"aipw_if_rd"}
    assert out.comparison["std_error_bootstrap"].isna().all()
    assert (out.risks["n_bootstrap"] == 0).all()
