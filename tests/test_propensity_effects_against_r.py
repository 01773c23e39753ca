"""Propensity scores, IPTW, AIPW, matching and balance against R on fixed data.

``tests/reference/make_causal_reference.R`` made the expected values from
``tests/reference/causal_data.csv`` (nnet::multinom, glm, survey::svyglm / svyby / svycontrast,
MatchIt::matchit nearest with caliper, sandwich::vcovCL; versions in R_VERSIONS_causal.txt).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.methods import effects, propensity

REF = Path(__file__).parent / "reference"
COVARIATES = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id", "profile_group"]
RTOL = 1e-6  # nnet::multinom stops at reltol 1e-14 on the deviance; scores agree to ~1e-8


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(REF / "causal_data.csv", dtype={"center_id": str, "patient_id": str})
    d["treatment_arm"] = pd.Categorical(d["treatment_arm"], categories=["none", "empirical", "personalized"])
    d["profile_group"] = pd.Categorical(d["profile_group"], categories=["balanced", "dysregulated"])
    return d


@pytest.fixture(scope="module")
def ref():
    return pd.read_csv(REF / "causal_reference_values.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def ref_scores():
    return pd.read_csv(REF / "causal_reference_scores.csv", dtype={"patient_id": str})


def value(ref, quantity, arm="", term=""):
    row = ref[(ref["quantity"] == quantity) & (ref["arm"] == arm) & (ref["term"] == term)]
    assert len(row) == 1, (quantity, arm, term)
    return float(row["value"].iloc[0])


@pytest.fixture(scope="module")
def scores(data):
    return propensity.propensity_scores(data, covariates=COVARIATES)


def test_multinomial_scores_and_weights_match_nnet(data, scores, ref_scores):
    """R: fitted(multinom(treatment_arm ~ ..., reltol = 1e-14)); w = share / e_received."""
    for col in ["ps_none", "ps_empirical", "ps_personalized"]:
        np.testing.assert_allclose(scores[col].to_numpy(), ref_scores[col].to_numpy(), rtol=RTOL)
    np.testing.assert_allclose(propensity.iptw_weights(scores).to_numpy(), ref_scores["w_ate"], rtol=RTOL)
    att = propensity.iptw_weights(scores, estimand="ATT", treated="personalized")
    np.testing.assert_allclose(att.to_numpy(), ref_scores["w_att"], rtol=RTOL)


def test_pairwise_score_matches_glm(data, ref_scores):
    ps = propensity.pairwise_propensity(data, treated="personalized", covariates=COVARIATES)
    expected = ref_scores.set_index("patient_id")["ps_pair"].dropna()
    got = pd.Series(ps.to_numpy(), index=data.loc[ps.index, "patient_id"])
    np.testing.assert_allclose(got.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-8)


@pytest.mark.parametrize("estimand", ["ate", "att"])
def test_weighted_or_rd_rr_match_survey(data, scores, ref, estimand):
    """R: svyglm(live_birth ~ arm, svydesign(ids=~1, weights=~w), quasibinomial); svyby + svycontrast."""
    w = propensity.iptw_weights(scores, estimand=estimand.upper(), treated="personalized")
    rows = effects.iptw_logit_rows(data, w, model_id="lb_first_iptw", notebook="05_treatment_effects").set_index("term")
    est, risks = effects.iptw_risk_rows(data, w, model_id="lb_first_iptw", notebook="05_treatment_effects")
    est = est.set_index(["model_id", "term"])
    for arm in ["empirical", "personalized"]:
        term = f"treatment_arm[{arm}]"
        np.testing.assert_allclose(
            rows.loc[term, "coef"], value(ref, f"iptw_logit_coef_{estimand}", term=f"treatment_arm{arm}"), rtol=RTOL
        )
        np.testing.assert_allclose(
            rows.loc[term, "std_error"], value(ref, f"iptw_logit_se_{estimand}", term=f"treatment_arm{arm}"), rtol=RTOL
        )
        np.testing.assert_allclose(
            est.loc[("lb_first_iptw_rd", term), "coef"], value(ref, f"rd_{estimand}", arm), rtol=RTOL
        )
        np.testing.assert_allclose(
            est.loc[("lb_first_iptw_rd", term), "std_error"], value(ref, f"rd_se_{estimand}", arm), rtol=RTOL
        )
        np.testing.assert_allclose(
            est.loc[("lb_first_iptw_rr", term), "coef"], value(ref, f"log_rr_{estimand}", arm), rtol=RTOL
        )
        np.testing.assert_allclose(
            est.loc[("lb_first_iptw_rr", term), "std_error"], value(ref, f"log_rr_se_{estimand}", arm), rtol=RTOL
        )
    for r in risks.itertuples():
        np.testing.assert_allclose(r.risk, value(ref, f"risk_{estimand}", r.arm), rtol=RTOL)
        np.testing.assert_allclose(r.std_error, value(ref, f"risk_se_{estimand}", r.arm), rtol=RTOL)


def test_aipw_risks_match_hand_computation_in_r(data, ref):
    risks = effects.aipw_risks(data, ps_covariates=COVARIATES, outcome_covariates=COVARIATES)
    for r in risks.itertuples():
        q = "aipw_risk_all" if r.stratum == "all" else "aipw_risk_" + r.stratum.split("=")[1]
        np.testing.assert_allclose(r.risk, value(ref, q, r.arm), rtol=RTOL)


def test_matched_or_on_matchit_pairs_matches_vcovcl(data, ref):
    """R: glm(live_birth ~ arm, match.data(matchit(...))) with sandwich::vcovCL(cluster = ~subclass).

    The pairs are MatchIt's own, so this checks the matched-sample model and its pair-clustered
    variance. (Our greedy matching agreed with MatchIt 4.5.1 on 134 of 167 pairs without a caliper;
    MatchIt's pairs here lie up to 0.70 apart on the logit scale although its reported caliper is
    0.17, so the pairing itself is checked by hand in test_propensity.py instead.)
    """
    expected = pd.read_csv(REF / "causal_reference_pairs.csv", dtype=str)
    position = pd.Series(data.index, index=data["patient_id"])
    pairs = pd.DataFrame(
        {
            "pair": np.arange(1, len(expected) + 1),
            "treated_index": position.loc[expected["treated_id"]].to_numpy(),
            "control_index": position.loc[expected["control_id"]].to_numpy(),
            "distance": np.nan,
        }
    )
    rows = effects.matched_logit_rows(data, pairs, model_id="lb_first_matched", notebook="05_treatment_effects")
    np.testing.assert_allclose(rows["coef"].iloc[0], value(ref, "matched_coef", term="personalized"), rtol=1e-7)
    np.testing.assert_allclose(rows["std_error"].iloc[0], value(ref, "matched_se", term="personalized"), rtol=1e-7)


def test_balance_smds_match_r(data, scores, ref):
    w = propensity.iptw_weights(scores)
    table = propensity.balance_table(data, covariates=COVARIATES, weights=w)
    table = table[table["group"] == "personalized"].set_index("variable")
    for v in ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers"]:
        np.testing.assert_allclose(table.loc[v, "smd_unweighted"], value(ref, "smd_none", "personalized", v), rtol=1e-9)
        np.testing.assert_allclose(
            table.loc[v, "smd_weighted"], value(ref, "smd_ate", "personalized", v), rtol=RTOL, atol=1e-7
        )  # weighted SMDs are near 0; weights carry nnet's ~1e-8 error
