"""The models of ``analysis.models`` against R's reference implementations.

Every expected value was computed by R (4.2.2, survival 3.5.3, geepack 1.3.9) and stored as
CSV: the shared set (``tests/reference/shared/``, a copy of ``/work/shared/reference`` made by
its ``make_reference.R``) and this module's set (``tests/reference/model_reference_*.csv``,
made by ``tests/reference/make_model_reference.R``). R is not run here. Coefficients, standard
errors and test statistics are compared with ``numpy.testing.assert_allclose(rtol=1e-4)``.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.models import (
    aalen_johansen,
    cumulative_incidence_from_km,
    fit_conditional_logit,
    fit_cox,
    fit_gee_logit,
    fit_logit,
    kaplan_meier,
    likelihood_ratio_test,
    linear_combination,
    logrank_test,
    proportional_hazards_test,
    survival_at,
    tidy_cox,
    tidy_gee,
    tidy_glm,
    tidy_linear_combination,
)
from analysis.output.results import ESTIMATE_COLUMNS

RTOL = 1e-4
REFERENCE = Path(__file__).resolve().parent / "reference"
OUTSIDE_SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"
SHARED = REFERENCE / "shared" if (REFERENCE / "shared").is_dir() else OUTSIDE_SHARED
SHARED_FILES = [
    "infert.csv",
    "ohio.csv",
    "lung.csv",
    "reference_coefficients.csv",
    "reference_km_lung_by_sex.csv",
    "reference_logrank_lung_by_sex.csv",
    "make_reference.R",
]


# --------------------------------------------------------------------------------------------
# data and reference values
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def infert() -> pd.DataFrame:
    data = pd.read_csv(SHARED / "infert.csv")
    return data.assign(
        spont_any=np.where(data["spontaneous"] > 0, "yes", "no"),
        induced_any=np.where(data["induced"] > 0, "yes", "no"),
    )


@pytest.fixture(scope="module")
def ohio() -> pd.DataFrame:
    return pd.read_csv(SHARED / "ohio.csv")


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    data = pd.read_csv(SHARED / "lung.csv")
    return data.assign(dead=(data["status"] == 2).astype(int), ph_ecog=data["ph.ecog"])


@pytest.fixture(scope="module")
def implantation() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "implantation.csv")


@pytest.fixture(scope="module")
def ref_coefs() -> pd.DataFrame:
    return pd.concat(
        [
            pd.read_csv(SHARED / "reference_coefficients.csv"),
            pd.read_csv(REFERENCE / "model_reference_coefficients.csv"),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def ref_tests() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "model_reference_tests.csv")


def r_values(ref: pd.DataFrame, model_id: str, terms: list[str], column: str) -> np.ndarray:
    """Return R's ``column`` for ``terms`` of ``model_id``, in the order given."""
    rows = ref[ref["model_id"] == model_id].set_index("term")
    return rows.loc[terms, column].to_numpy(dtype=float)


def test_shared_reference_copy_matches_outside_folder():
    """The copy in tests/reference/shared/ is byte-identical to /work/shared/reference."""
    if not OUTSIDE_SHARED.is_dir():
        pytest.skip("the shared reference folder is not beside the repository")
    for name in SHARED_FILES:
        assert filecmp.cmp(REFERENCE / "shared" / name, OUTSIDE_SHARED / name, shallow=False), name


# --------------------------------------------------------------------------------------------
# logistic regression
# --------------------------------------------------------------------------------------------

EDU = "C(education, Treatment('0-5yrs'))"


def test_glm_crude_matches_r_glm_infert(infert, ref_coefs):
    """fit_logit vs R ``glm(case ~ spontaneous + induced, family = binomial(), data = infert)``."""
    fit = fit_logit(infert, "case ~ spontaneous + induced")
    r_terms = ["(Intercept)", "spontaneous", "induced"]
    py_terms = ["(Intercept)", "spontaneous", "induced"]
    assert_allclose(fit.params[py_terms], r_values(ref_coefs, "glm_logit_crude", r_terms, "coef"), rtol=RTOL)
    assert_allclose(fit.bse[py_terms], r_values(ref_coefs, "glm_logit_crude", r_terms, "std_error"), rtol=RTOL)
    assert fit.nobs == 248


def test_glm_adjusted_with_education_factor_matches_r_glm_infert(infert, ref_coefs):
    """fit_logit vs R ``glm(case ~ age + parity + education + spontaneous + induced,
    family = binomial(), data = infert)`` with ``education`` a factor whose reference is
    ``0-5yrs`` (R's ``education6-11yrs`` is the plain term ``education[6-11yrs]``).

    R's standard errors come from the working weights of its last IRLS iteration, about 2e-5
    (relative) away from those at the converged estimate that statsmodels reports (R with
    ``glm.control(epsilon = 1e-14)`` agrees with statsmodels to 1e-9).
    """
    fit = fit_logit(infert, f"case ~ age + parity + {EDU} + spontaneous + induced")
    names = {
        "(Intercept)": "(Intercept)",
        "age": "age",
        "parity": "parity",
        "education6-11yrs": "education[6-11yrs]",
        "education12+ yrs": "education[12+ yrs]",
        "spontaneous": "spontaneous",
        "induced": "induced",
    }
    r_terms, py_terms = list(names), list(names.values())
    assert_allclose(fit.params[py_terms], r_values(ref_coefs, "glm_logit_adjusted", r_terms, "coef"), rtol=RTOL)
    assert_allclose(fit.bse[py_terms], r_values(ref_coefs, "glm_logit_adjusted", r_terms, "std_error"), rtol=RTOL)


def test_glm_with_prior_weights_matches_r_glm_weights_infert(infert, ref_coefs):
    """fit_logit(weights="parity") vs R ``glm(case ~ spontaneous + induced, family =
    binomial(), weights = parity, data = infert)`` (prior weights; standard errors within
    1.2e-5 of R's, for the reason given in the adjusted-model test)."""
    fit = fit_logit(infert, "case ~ spontaneous + induced", weights="parity")
    r_terms = ["(Intercept)", "spontaneous", "induced"]
    py_terms = ["(Intercept)", "spontaneous", "induced"]
    model_id = "glm_logit_weighted_by_parity"
    assert_allclose(fit.params[py_terms], r_values(ref_coefs, model_id, r_terms, "coef"), rtol=RTOL)
    assert_allclose(fit.bse[py_terms], r_values(ref_coefs, model_id, r_terms, "std_error"), rtol=RTOL)
    same = fit_logit(infert, "case ~ spontaneous + induced", weights=infert["parity"].to_numpy())
    assert_allclose(same.params, fit.params, rtol=1e-12)


INTERACTION_NAMES = {
    "(Intercept)": "(Intercept)",
    "spont_anyyes": "spont_any[yes]",
    "induced_anyyes": "induced_any[yes]",
    "age": "age",
    "spont_anyyes:induced_anyyes": "spont_any[yes]:induced_any[yes]",
}


def test_glm_interaction_matches_r_glm_infert(infert, ref_coefs):
    """fit_logit vs R ``glm(case ~ spont_any * induced_any + age, family = binomial())`` on
    infert with ``spont_any = factor(spontaneous > 0)``, ``induced_any = factor(induced > 0)``.
    R's default-convergence standard errors differ from the converged ones by up to 5e-5
    (relative); see the adjusted-model test.
    """
    fit = fit_logit(infert, "case ~ spont_any * induced_any + age")
    r_terms, py_terms = list(INTERACTION_NAMES), list(INTERACTION_NAMES.values())
    assert_allclose(fit.params[py_terms], r_values(ref_coefs, "glm_logit_interaction", r_terms, "coef"), rtol=RTOL)
    assert_allclose(
        fit.bse[py_terms],
        r_values(ref_coefs, "glm_logit_interaction", r_terms, "std_error"),
        rtol=RTOL,
    )


def test_linear_combination_matches_r_vcov_contrast_infert(infert, ref_coefs, ref_tests):
    """linear_combination vs R: with ``L`` = 1 for ``spont_anyyes`` and
    ``spont_anyyes:induced_anyyes``, ``sum(L * coef(m))``, ``sqrt(t(L) %*% vcov(m) %*% L)`` and
    ``2 * pnorm(-abs(z))`` for ``m <- glm(case ~ spont_any * induced_any + age, binomial)``.
    """
    fit = fit_logit(infert, "case ~ spont_any * induced_any + age")
    lc = linear_combination(fit, {"spont_any[yes]": 1, "spont_any[yes]:induced_any[yes]": 1})
    term = "lincom:spont_anyyes+spont_anyyes:induced_anyyes"
    ref = ref_coefs.set_index(["model_id", "term"]).loc[("glm_logit_interaction", term)]
    assert_allclose([lc["coef"], lc["std_error"]], [ref["coef"], ref["std_error"]], rtol=RTOL)
    p_ref = ref_tests.set_index("term").loc[term, "p_value"]
    assert_allclose(lc["p_value"], p_ref, rtol=RTOL)
    assert_allclose(lc["estimate"], np.exp(ref["coef"]), rtol=RTOL)
    assert_allclose(
        [lc["conf_low"], lc["conf_high"]],
        np.exp(ref["coef"] + np.array([-1, 1]) * 1.959963984540054 * ref["std_error"]),
        rtol=RTOL,
    )
    row = tidy_linear_combination(
        fit,
        {"spont_any[yes]": 1, "spont_any[yes]:induced_any[yes]": 1},
        term="spont_any[yes] | induced_any=yes",
        notebook="nb",
        model_id="m",
        outcome="case",
        population="infert",
    )
    assert list(row.columns) == ESTIMATE_COLUMNS
    assert_allclose(row["coef"].iloc[0], ref["coef"], rtol=RTOL)
    assert row["n_obs"].iloc[0] == 248 and row["n_events"].iloc[0] == 83


@pytest.mark.parametrize(
    ("model_id", "full", "reduced"),
    [
        (
            "lrt_adjusted_vs_crude",
            f"case ~ age + parity + {EDU} + spontaneous + induced",
            "case ~ spontaneous + induced",
        ),
        (
            "lrt_interaction_vs_main",
            "case ~ spont_any * induced_any + age",
            "case ~ spont_any + induced_any + age",
        ),
    ],
)
def test_likelihood_ratio_test_matches_r_anova_lrt_infert(infert, ref_tests, model_id, full, reduced):
    """likelihood_ratio_test vs R ``anova(m_reduced, m_full, test = "LRT")`` (deviance
    difference, df, ``Pr(>Chi)``) for binomial glm fits on infert."""
    lrt = likelihood_ratio_test(fit_logit(infert, full), fit_logit(infert, reduced))
    ref = ref_tests.set_index("model_id").loc[model_id]
    assert_allclose([lrt["statistic"], lrt["p_value"]], [ref["statistic"], ref["p_value"]], rtol=RTOL)
    assert lrt["df"] == ref["df"]


def test_conditional_logit_matches_r_clogit_infert(infert, ref_coefs):
    """fit_conditional_logit vs R ``clogit(case ~ spontaneous + induced + strata(stratum),
    data = infert)`` (exact conditional likelihood)."""
    fit = fit_conditional_logit(infert, "case ~ spontaneous + induced", groups="stratum")
    terms = ["spontaneous", "induced"]
    assert_allclose(fit.params[terms], r_values(ref_coefs, "clogit_matched_sets", terms, "coef"), rtol=RTOL)
    assert_allclose(fit.bse[terms], r_values(ref_coefs, "clogit_matched_sets", terms, "std_error"), rtol=RTOL)


# --------------------------------------------------------------------------------------------
# GEE
# --------------------------------------------------------------------------------------------


def test_gee_exchangeable_matches_geepack_ohio(ohio, ref_coefs):
    """fit_gee_logit vs R ``geeglm(resp ~ age + smoke, id = id, data = ohio,
    family = binomial(), corstr = "exchangeable")``: coefficients, robust SEs (``vcov``), the
    working correlation (``geese$alpha``) and scale (``geese$gamma``)."""
    fit = fit_gee_logit(ohio, "resp ~ age + smoke", groups="id")
    model_id = "gee_logit_exchangeable_by_child"
    r_terms = ["(Intercept)", "age", "smoke"]
    py_terms = ["(Intercept)", "age", "smoke"]
    assert_allclose(fit.params[py_terms], r_values(ref_coefs, model_id, r_terms, "coef"), rtol=RTOL)
    assert_allclose(fit.bse[py_terms], r_values(ref_coefs, model_id, r_terms, "std_error"), rtol=RTOL)
    assert_allclose(
        [fit.alpha, fit.scale],
        r_values(ref_coefs, model_id, ["working_correlation_alpha", "scale_phi"], "coef"),
        rtol=RTOL,
    )
    assert fit.n_clusters == 537 and fit.nobs == 2148


ARM = "C(arm, Treatment('none'))"
GEE_TRIAL_NAMES = {
    "(Intercept)": "(Intercept)",
    "age": "age",
    "armempirical": "arm[empirical]",
    "armpersonalized": "arm[personalized]",
}


@pytest.mark.parametrize("cov_struct", ["exchangeable", "independence"])
def test_gee_binomial_trials_matches_geepack_implantation(implantation, ref_coefs, cov_struct):
    """fit_gee_logit with trials vs R ``geeglm(cbind(sacs, embryos - sacs) ~ age + arm,
    id = patient_id, data = implantation, family = binomial(), corstr = cov_struct)``: geepack
    fits the proportion ``sacs / embryos`` with prior weights ``embryos``; coefficients, robust
    SEs and (exchangeable) alpha and scale."""
    fit = fit_gee_logit(
        implantation,
        f"sacs ~ age + {ARM}",
        groups="patient_id",
        trials="embryos",
        cov_struct=cov_struct,
    )
    model_id = f"gee_trials_{cov_struct}"
    r_terms, py_terms = list(GEE_TRIAL_NAMES), list(GEE_TRIAL_NAMES.values())
    assert_allclose(fit.params[py_terms], r_values(ref_coefs, model_id, r_terms, "coef"), rtol=RTOL)
    assert_allclose(fit.bse[py_terms], r_values(ref_coefs, model_id, r_terms, "std_error"), rtol=RTOL)
    if cov_struct == "exchangeable":
        assert_allclose(
            [fit.alpha, fit.scale],
            r_values(ref_coefs, model_id, ["working_correlation_alpha", "scale_phi"], "coef"),
            rtol=RTOL,
        )
    assert fit.n_events == implantation["sacs"].sum()
    assert fit.n_clusters == implantation["patient_id"].nunique()


def test_gee_on_shuffled_rows_matches_geepack_implantation(implantation, ref_coefs):
    """fit_gee_logit sorts rows by cluster itself: on shuffled rows it still matches R's
    ``geeglm(cbind(sacs, embryos - sacs) ~ age + arm, id = patient_id, corstr =
    "exchangeable")`` fitted on rows sorted by patient."""
    shuffled = implantation.sample(frac=1, random_state=3)
    fit = fit_gee_logit(shuffled, f"sacs ~ age + {ARM}", groups="patient_id", trials="embryos")
    r_terms, py_terms = list(GEE_TRIAL_NAMES), list(GEE_TRIAL_NAMES.values())
    ref = "gee_trials_exchangeable"
    assert_allclose(fit.params[py_terms], r_values(ref_coefs, ref, r_terms, "coef"), rtol=RTOL)
    assert_allclose(fit.bse[py_terms], r_values(ref_coefs, ref, r_terms, "std_error"), rtol=RTOL)


def test_tidy_gee_rows_match_geepack_implantation(implantation, ref_coefs):
    """tidy_gee on the trials GEE reproduces R ``geeglm(cbind(sacs, embryos - sacs) ~ age +
    arm, ...)`` coefficients and SEs under plain term names, with the contract's columns."""
    fit = fit_gee_logit(implantation, f"sacs ~ age + {ARM}", groups="patient_id", trials="embryos")
    tidy = tidy_gee(fit, notebook="nb", model_id="impl", outcome="sacs", population="all")
    assert list(tidy.columns) == ESTIMATE_COLUMNS
    assert list(tidy["term"]) == ["(Intercept)", "arm[empirical]", "arm[personalized]", "age"]
    r_terms = ["(Intercept)", "armempirical", "armpersonalized", "age"]
    assert_allclose(tidy["coef"], r_values(ref_coefs, "gee_trials_exchangeable", r_terms, "coef"), rtol=RTOL)
    assert_allclose(
        tidy["std_error"],
        r_values(ref_coefs, "gee_trials_exchangeable", r_terms, "std_error"),
        rtol=RTOL,
    )
    assert_allclose(tidy["estimate"], np.exp(tidy["coef"]), rtol=1e-12)
    assert (tidy["n_obs"] == len(implantation)).all()
    assert (tidy["n_events"] == implantation["sacs"].sum()).all()
    assert (tidy["n_clusters"] == implantation["patient_id"].nunique()).all()


# --------------------------------------------------------------------------------------------
# Cox regression and proportional-hazards test
# --------------------------------------------------------------------------------------------

COX_COVARIATES = ["age", "sex", "ph.ecog"]


@pytest.fixture(scope="module")
def lung_cox(lung):
    return fit_cox(lung, duration_col="time", event_col="dead", covariates=COX_COVARIATES)


def test_cox_efron_matches_r_coxph_lung(lung, lung_cox, ref_coefs):
    """fit_cox vs R ``coxph(Surv(time, status == 2) ~ age + sex + ph.ecog, data = lung_cc,
    ties = "efron")`` on the complete cases of age, sex and ph.ecog."""
    model_id = "coxph_efron_complete_case"
    assert_allclose(lung_cox.params_[COX_COVARIATES], r_values(ref_coefs, model_id, COX_COVARIATES, "coef"), rtol=RTOL)
    assert_allclose(
        lung_cox.standard_errors_[COX_COVARIATES],
        r_values(ref_coefs, model_id, COX_COVARIATES, "std_error"),
        rtol=RTOL,
    )
    tidy = tidy_cox(lung_cox, notebook="nb", model_id="cox", outcome="death", population="lung")
    assert list(tidy.columns) == ESTIMATE_COLUMNS
    assert list(tidy["term"]) == COX_COVARIATES
    assert tidy["n_obs"].iloc[0] == 227 and tidy["n_events"].iloc[0] == 164


def test_cox_formula_matches_r_coxph_lung(lung, ref_coefs):
    """fit_cox with a formula gives R ``coxph(Surv(time, status == 2) ~ age + sex + ph.ecog,
    ties = "efron")`` too."""
    cox = fit_cox(lung, duration_col="time", event_col="dead", formula="age + sex + ph_ecog")
    terms = ["age", "sex", "ph_ecog"]
    model_id = "coxph_efron_complete_case"
    assert_allclose(cox.params_[terms], r_values(ref_coefs, model_id, COX_COVARIATES, "coef"), rtol=RTOL)


def test_cox_stratified_matches_r_coxph_strata_lung(lung, ref_coefs):
    """fit_cox with strata vs R ``coxph(Surv(time, status == 2) ~ age + ph.ecog +
    strata(sex), data = lung_cc, ties = "efron")``."""
    cox = fit_cox(lung, duration_col="time", event_col="dead", covariates=["age", "ph.ecog"], strata="sex")
    terms = ["age", "ph.ecog"]
    assert_allclose(cox.params_[terms], r_values(ref_coefs, "coxph_efron_strata_sex", terms, "coef"), rtol=RTOL)
    assert_allclose(
        cox.standard_errors_[terms],
        r_values(ref_coefs, "coxph_efron_strata_sex", terms, "std_error"),
        rtol=RTOL,
    )


def test_counting_process_solver_with_strata_matches_r_coxph_strata_lung(lung, ref_coefs):
    """The vectorised Efron solver given ``strata`` (rows at risk from the origin) vs R
    ``coxph(Surv(time, status == 2) ~ age + ph.ecog + strata(sex), data = lung_cc, ties =
    "efron")``: coefficients and model-based standard errors."""
    from analysis.models.survival import cox_counting_process_fit

    cc = lung.dropna(subset=["time", "dead", "age", "ph.ecog", "sex"])
    fit = cox_counting_process_fit(
        cc[["age", "ph.ecog"]].to_numpy(float),
        stop=cc["time"].to_numpy(float),
        event=cc["dead"].to_numpy(float),
        strata=cc["sex"].to_numpy(),
    )
    terms = ["age", "ph.ecog"]
    assert_allclose(fit.coef, r_values(ref_coefs, "coxph_efron_strata_sex", terms, "coef"), rtol=RTOL)
    assert_allclose(
        np.sqrt(np.diag(fit.covariance)), r_values(ref_coefs, "coxph_efron_strata_sex", terms, "std_error"), rtol=RTOL
    )


def test_scaled_schoenfeld_residuals_equal_lifelines_without_ties(lung):
    """Without tied event times Efron's means reduce to the risk-set means, so fit_cox's scaled
    Schoenfeld residuals (R's ``residuals(fit, "scaledsch")`` definition: d V r + beta) less
    beta must equal lifelines' ``compute_residuals(kind="scaled_schoenfeld")`` (d V r: lifelines
    does not add the coefficients) on the same rows."""
    from lifelines import CoxPHFitter

    cc = lung.dropna(subset=["time", "dead", *COX_COVARIATES]).copy()
    cc["time"] = cc["time"] + np.arange(len(cc)) * 1e-4  # break every tie
    ours = fit_cox(cc, duration_col="time", event_col="dead", covariates=COX_COVARIATES)
    theirs = CoxPHFitter().fit(
        cc[["time", "dead", *COX_COVARIATES]],
        duration_col="time",
        event_col="dead",
        fit_options={"precision": 1e-12, "r_precision": 1e-14},
    )
    mine = ours.compute_residuals(cc, kind="scaled_schoenfeld")
    ref = theirs.compute_residuals(cc[["time", "dead", *COX_COVARIATES]], kind="scaled_schoenfeld")
    assert list(mine.index) == list(ref.index)
    shifted = mine[COX_COVARIATES].to_numpy() - ours.params_[COX_COVARIATES].to_numpy()
    assert_allclose(shifted, ref[COX_COVARIATES].to_numpy(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("transform", ["km", "identity", "rank", "log"])
def test_proportional_hazards_test_matches_r_cox_zph_lung(lung, lung_cox, ref_tests, transform):
    """proportional_hazards_test vs R ``cox.zph(coxph(Surv(time, status == 2) ~ age + sex +
    ph.ecog, ties = "efron"), transform = transform)$table`` (survival 3.5 score test): chisq,
    df and p per covariate and GLOBAL."""
    zph = proportional_hazards_test(lung_cox, lung, transform=transform)
    ref = ref_tests[ref_tests["model_id"] == f"coxzph_{transform}"]
    assert list(zph["term"]) == list(ref["term"])
    assert_allclose(zph["statistic"], ref["statistic"], rtol=RTOL)
    assert_allclose(zph["p_value"], ref["p_value"], rtol=RTOL)
    assert list(zph["df"]) == list(ref["df"])


def test_proportional_hazards_test_stratified_matches_r_cox_zph_lung(lung, ref_tests):
    """proportional_hazards_test vs R ``cox.zph(coxph(Surv(time, status == 2) ~ age + ph.ecog +
    strata(sex), ties = "efron"))$table`` (risk sets within strata, km time scale pooled)."""
    cox = fit_cox(lung, duration_col="time", event_col="dead", covariates=["age", "ph.ecog"], strata="sex")
    zph = proportional_hazards_test(cox, lung)
    ref = ref_tests[ref_tests["model_id"] == "coxzph_km_strata_sex"]
    assert list(zph["term"]) == list(ref["term"])
    assert_allclose(zph["statistic"], ref["statistic"], rtol=RTOL)
    assert_allclose(zph["p_value"], ref["p_value"], rtol=RTOL)


def test_cox_factor_and_its_joint_ph_test_match_r_coxph_and_cox_zph_lung(lung, ref_coefs, ref_tests):
    """fit_cox(formula="age + sex + C(ecog)") and proportional_hazards_test vs R
    ``m <- coxph(Surv(time, status == 2) ~ age + sex + factor(ph.ecog), ties = "efron")`` on
    complete cases with ph.ecog < 3 and ``cox.zph(m)$table``: the factor gets one 2-df test
    (R's ``terms = TRUE``)."""
    data = lung[lung["ph.ecog"] < 3].assign(ecog=lambda d: d["ph.ecog"].astype("Int64").astype(str))
    cox = fit_cox(data, duration_col="time", event_col="dead", formula="age + sex + C(ecog)")
    names = {"age": "age", "sex": "sex", "ecog1": "ecog[1]", "ecog2": "ecog[2]"}
    model_id = "coxph_efron_factor_ecog"
    assert_allclose(cox.params_[list(names.values())], r_values(ref_coefs, model_id, list(names), "coef"), rtol=RTOL)
    assert_allclose(
        cox.standard_errors_[list(names.values())],
        r_values(ref_coefs, model_id, list(names), "std_error"),
        rtol=RTOL,
    )
    zph = proportional_hazards_test(cox, data)
    ref = ref_tests[ref_tests["model_id"] == "coxzph_km_factor_ecog"]
    assert list(zph["term"]) == list(ref["term"]) == ["age", "sex", "ecog", "GLOBAL"]
    assert list(zph["df"]) == list(ref["df"])
    assert_allclose(zph["statistic"], ref["statistic"], rtol=RTOL)
    assert_allclose(zph["p_value"], ref["p_value"], rtol=RTOL)


# --------------------------------------------------------------------------------------------
# Kaplan-Meier, log-rank, Aalen-Johansen
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def km_by_sex(lung):
    return kaplan_meier(lung, duration_col="time", event_col="dead", group_col="sex")


def test_kaplan_meier_at_times_matches_r_summary_survfit_lung_by_sex(km_by_sex):
    """survival_at(kaplan_meier(...)) vs R ``summary(survfit(Surv(time, status == 2) ~ sex,
    data = lung, conf.type = "log"), times = c(90, 180, 365, 730))``: n.risk, n.event (since
    the previous time), surv, std.err and the log-transformed 95% limits."""
    ref = pd.read_csv(SHARED / "reference_km_lung_by_sex.csv")
    ours = survival_at(km_by_sex, [90, 180, 365, 730])
    assert list(ours["group"]) == list(ref["group"].str.replace("sex=", ""))
    assert list(ours["time_days"]) == list(ref["time"])
    assert list(ours["n_at_risk"]) == list(ref["n_risk"])
    assert list(ours["n_events"]) == list(ref["n_event"])
    for ours_col, ref_col in [
        ("estimate", "survival"),
        ("std_error", "std_error"),
        ("conf_low", "conf_low"),
        ("conf_high", "conf_high"),
    ]:
        assert_allclose(ours[ours_col], ref[ref_col], rtol=RTOL, err_msg=ours_col)


def test_kaplan_meier_every_time_matches_r_survfit_lung_by_sex(km_by_sex):
    """kaplan_meier vs R ``summary(survfit(Surv(time, status == 2) ~ sex, data = lung),
    censored = TRUE)`` at every observed time: n.risk, n.event, n.censor, surv, std.err,
    lower, upper (NA where R has NA)."""
    ref = pd.read_csv(REFERENCE / "model_reference_km_lung_by_sex.csv")
    assert list(km_by_sex["group"]) == list(ref["group"].astype(str))
    assert_allclose(km_by_sex["time_days"], ref["time"], rtol=0)
    for ours_col, ref_col in [("n_at_risk", "n_risk"), ("n_events", "n_event"), ("n_censored", "n_censor")]:
        assert list(km_by_sex[ours_col]) == list(ref[ref_col]), ours_col
    for ours_col, ref_col in [
        ("estimate", "survival"),
        ("std_error", "std_error"),
        ("conf_low", "conf_low"),
        ("conf_high", "conf_high"),
    ]:
        assert_allclose(km_by_sex[ours_col], ref[ref_col], rtol=RTOL, err_msg=ours_col)


def test_cumulative_incidence_from_km_matches_one_minus_r_survfit_lung_by_sex(km_by_sex):
    """cumulative_incidence_from_km at the R times equals 1 - surv with limits 1 - upper,
    1 - lower of R ``summary(survfit(Surv(time, status == 2) ~ sex), times = ...)``."""
    ref = pd.read_csv(SHARED / "reference_km_lung_by_sex.csv")
    ci = cumulative_incidence_from_km(survival_at(km_by_sex, [90, 180, 365, 730]))
    assert_allclose(ci["estimate"], 1 - ref["survival"], rtol=RTOL)
    assert_allclose(ci["conf_low"], 1 - ref["conf_high"], rtol=RTOL)
    assert_allclose(ci["conf_high"], 1 - ref["conf_low"], rtol=RTOL)


def test_logrank_matches_r_survdiff_lung_by_sex(lung):
    """logrank_test vs R ``survdiff(Surv(time, status == 2) ~ sex, data = lung)``: chisq, df,
    p."""
    ref = pd.read_csv(SHARED / "reference_logrank_lung_by_sex.csv").iloc[0]
    test = logrank_test(lung, duration_col="time", event_col="dead", group_col="sex")
    assert_allclose([test["statistic"], test["p_value"]], [ref["chisq"], ref["p_value"]], rtol=RTOL)
    assert test["df"] == ref["df"]


def test_logrank_three_groups_matches_r_survdiff_lung_by_ecog(lung, ref_tests):
    """logrank_test vs R ``survdiff(Surv(time, status == 2) ~ ph.ecog, data = lung_e)`` with
    ph.ecog in 0, 1, 2 (2 df)."""
    lung_e = lung[lung["ph.ecog"].notna() & (lung["ph.ecog"] < 3)]
    ref = ref_tests.set_index("model_id").loc["logrank_by_ph_ecog_0_2"]
    test = logrank_test(lung_e, duration_col="time", event_col="dead", group_col="ph.ecog")
    assert_allclose([test["statistic"], test["p_value"]], [ref["statistic"], ref["p_value"]], rtol=RTOL)
    assert test["df"] == ref["df"] == 2


@pytest.mark.parametrize("state", [1, 2])
@pytest.mark.parametrize("grouped", [False, True])
def test_aalen_johansen_matches_r_survfit_multistate(state, grouped):
    """aalen_johansen vs R ``survfit(Surv(time, factor(event)) ~ 1)`` (and ``~ sex``) on
    lung_competing.csv (event 1 = death before 65, 2 = death at 65+, 0 = censored): pstate of
    the state, its infinitesimal-jackknife std.err, log 95% limits, n.risk and n.event at every
    observed time."""
    data = pd.read_csv(REFERENCE / "lung_competing.csv")
    ref = pd.read_csv(REFERENCE / "model_reference_aalen_johansen.csv")
    ref = ref[(ref["state"] == state) & ((ref["group"] != "all") if grouped else (ref["group"] == "all"))]
    ours = aalen_johansen(
        data,
        duration_col="time",
        event_col="event",
        event_of_interest=state,
        group_col="sex" if grouped else None,
    )
    assert list(ours["group"]) == list(ref["group"].astype(str))
    assert_allclose(ours["time_days"], ref["time"], rtol=0)
    assert list(ours["n_at_risk"]) == list(ref["n_risk"])
    assert list(ours["n_events"]) == list(ref["n_event"])
    for col in ["estimate", "std_error", "conf_low", "conf_high"]:
        assert_allclose(ours[col], ref[col], rtol=RTOL, err_msg=col)


def test_aalen_johansen_at_times_uses_r_summary_semantics():
    """survival_at on an Aalen-Johansen table gives R ``summary(survfit(Surv(time,
    factor(event)) ~ 1), times = c(3, 200, 500))`` values: 0 before the first time, the step
    value after."""
    data = pd.read_csv(REFERENCE / "lung_competing.csv")
    ref = pd.read_csv(REFERENCE / "model_reference_aalen_johansen.csv")
    ref = ref[(ref["state"] == 1) & (ref["group"] == "all")]
    table = aalen_johansen(data, duration_col="time", event_col="event", event_of_interest=1)
    at = survival_at(table, [3, 200, 500])
    step = [ref.loc[ref["time"] <= t, "estimate"].iloc[-1] for t in (200, 500)]
    assert_allclose(at["estimate"], [0.0, *step], rtol=RTOL)
    assert list(at["n_at_risk"]) == [228, int((data["time"] >= 200).sum()), int((data["time"] >= 500).sum())]


def test_tidy_glm_matches_r_glm_infert_under_plain_names(infert, ref_coefs):
    """tidy_glm of fit_logit(case ~ age + parity + education + spontaneous + induced) has R
    ``glm(..., binomial)`` coefficients under plain names (``education[6-11yrs]``), Wald
    limits on the OR scale and the contract's columns."""
    fit = fit_logit(infert, f"case ~ age + parity + {EDU} + spontaneous + induced")
    tidy = tidy_glm(fit, notebook="nb", model_id="adj", outcome="case", population="infert")
    assert list(tidy.columns) == ESTIMATE_COLUMNS
    tidy = tidy.set_index("term")
    names = {
        "(Intercept)": "(Intercept)",
        "education6-11yrs": "education[6-11yrs]",
        "education12+ yrs": "education[12+ yrs]",
        "age": "age",
    }
    assert_allclose(
        tidy.loc[list(names.values()), "coef"],
        r_values(ref_coefs, "glm_logit_adjusted", list(names), "coef"),
        rtol=RTOL,
    )
    z = 1.959963984540054
    assert_allclose(tidy["conf_low"], np.exp(tidy["coef"] - z * tidy["std_error"]), rtol=1e-12)
    assert (tidy["n_obs"] == 248).all() and (tidy["n_events"] == 83).all()
    assert tidy["n_clusters"].isna().all()
