"""Models that cannot be fitted raise ModelError with a message naming the problem.

Also: inputs are not modified, term names are made plain for the results contract, and the
step-function helpers behave at the edges (before the first and after the last time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.core.exceptions import AnalysisError, ModelError
from analysis.models import (
    aalen_johansen,
    fit_conditional_logit,
    fit_cox,
    fit_gee_logit,
    fit_logit,
    kaplan_meier,
    likelihood_ratio_test,
    linear_combination,
    logrank_test,
    survival_at,
    tidy_glm,
)
from analysis.models.design import design_matrix, plain_column_names

ARM = "C(treatment_arm, Treatment(reference='none'))"


@pytest.fixture()
def cohort() -> pd.DataFrame:
    """A small IVF-like cohort: transfers clustered in patients, three arms, two profiles."""
    rng = np.random.default_rng(20261124)
    n = 240
    patient = np.repeat(np.arange(100), 3)[:n]
    arm = np.array(["none", "empirical", "personalized"])[rng.integers(0, 3, n)]
    profile = np.array(["balanced", "dysregulated"])[rng.integers(0, 2, n)]
    age = rng.normal(35, 4, n).round(1)
    lp = -0.5 + 0.4 * (arm == "personalized") - 0.05 * (age - 35)
    live_birth = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    days = rng.integers(20, 400, n).astype(float)
    return pd.DataFrame(
        {
            "patient_id": patient,
            "treatment_arm": arm,
            "profile_group": profile,
            "age": age,
            "live_birth": live_birth,
            "days": days,
        }
    )


def test_model_error_is_an_analysis_error():
    assert issubclass(ModelError, AnalysisError)


# --------------------------------------------------------------------------------------------
# logistic regression
# --------------------------------------------------------------------------------------------


def test_subgroup_without_events_raises(cohort):
    """A population (subgroup) with no live births at all."""
    sub = cohort.assign(live_birth=0)
    with pytest.raises(ModelError, match=r"lb_sub: no events: live_birth is 0 in all 240 rows"):
        fit_logit(sub, f"live_birth ~ {ARM} + age", model_id="lb_sub")


def test_outcome_with_only_events_raises(cohort):
    with pytest.raises(ModelError, match=r"events only: live_birth is 1 in all 240 rows"):
        fit_logit(cohort.assign(live_birth=1), "live_birth ~ age")


def test_level_without_events_names_the_level(cohort):
    """No live births in the empirical arm: that level's OR is not estimable."""
    data = cohort.assign(live_birth=np.where(cohort["treatment_arm"] == "empirical", 0, cohort["live_birth"]))
    n_emp = int((data["treatment_arm"] == "empirical").sum())
    with pytest.raises(
        ModelError,
        match=rf"lb_first_adjusted: live_birth has no events among the {n_emp} rows with treatment_arm=empirical",
    ):
        fit_logit(data, f"live_birth ~ {ARM} + age", model_id="lb_first_adjusted")


def test_perfect_separation_by_a_continuous_covariate_raises(cohort):
    data = cohort.assign(live_birth=(cohort["age"] < 35).astype(int))
    with pytest.raises(ModelError, match=r"separation: live_birth is predicted without error by age"):
        fit_logit(data, f"live_birth ~ {ARM} + age")


def test_quasi_separation_in_an_interaction_cell_raises(cohort):
    """Events in every arm and every profile, but none for personalized x dysregulated."""
    cell = (cohort["treatment_arm"] == "personalized") & (cohort["profile_group"] == "dysregulated")
    data = cohort.assign(live_birth=np.where(cell, 0, cohort["live_birth"]))
    with pytest.raises(
        ModelError,
        match=r"quasi-complete separation: live_birth is predicted without error by treatment_arm\[personalized\]:profile_group\[dysregulated\]",
    ):
        fit_logit(data, f"live_birth ~ {ARM} * profile_group")


def test_one_level_covariate_raises(cohort):
    data = cohort.assign(profile_group="balanced")
    with pytest.raises(ModelError, match=r"profile_group \(always 'balanced'\) takes a single value"):
        fit_logit(data, f"live_birth ~ {ARM} + profile_group")


def test_no_complete_rows_raises(cohort):
    data = cohort.assign(age=np.nan)
    with pytest.raises(ModelError, match=r"no rows left after dropping missing values of live_birth"):
        fit_logit(data, "live_birth ~ age")


def test_rank_deficient_design_raises(cohort):
    data = cohort.assign(age2=cohort["age"] * 2)
    with pytest.raises(ModelError, match=r"rank deficient: age2? is a linear combination"):
        fit_logit(data, "live_birth ~ age + age2")


def test_non_binary_outcome_raises(cohort):
    with pytest.raises(ModelError, match=r"must be coded 0/1"):
        fit_logit(cohort.assign(live_birth=cohort["live_birth"] * 2), "live_birth ~ age")


def test_complete_case_rows_are_reported(cohort):
    data = cohort.copy()
    data.loc[data.index[:10], "age"] = np.nan
    fit = fit_logit(data, "live_birth ~ age")
    assert fit.nobs == len(cohort) - 10
    tidy = tidy_glm(fit, notebook="nb", model_id="m", outcome="live_birth", population="all")
    assert (tidy["n_obs"] == len(cohort) - 10).all()
    assert (tidy["n_events"] == data["live_birth"][data["age"].notna()].sum()).all()


def test_fitters_do_not_modify_their_input(cohort):
    before = cohort.copy()
    fit_logit(cohort, f"live_birth ~ {ARM} + age")
    fit_gee_logit(cohort.sample(frac=1, random_state=1), f"live_birth ~ {ARM}", groups="patient_id")
    fit_cox(cohort, duration_col="days", event_col="live_birth", covariates=["age"])
    kaplan_meier(cohort, duration_col="days", event_col="live_birth", group_col="treatment_arm")
    pd.testing.assert_frame_equal(cohort, before)


def test_likelihood_ratio_test_on_different_rows_raises(cohort):
    data = cohort.copy()
    data.loc[data.index[:5], "age"] = np.nan
    full = fit_logit(data, f"live_birth ~ {ARM} + age")
    reduced = fit_logit(data, f"live_birth ~ {ARM}")
    with pytest.raises(ModelError, match=r"full model used 235 rows and the reduced model 240"):
        likelihood_ratio_test(full, reduced)


def test_likelihood_ratio_test_needs_more_parameters_in_full(cohort):
    fit = fit_logit(cohort, "live_birth ~ age")
    with pytest.raises(ModelError, match=r"must have more"):
        likelihood_ratio_test(fit, fit)


def test_linear_combination_of_unknown_term_raises(cohort):
    fit = fit_logit(cohort, f"live_birth ~ {ARM}")
    # parameters carry plain names; patsy's own spelling is not one of them
    with pytest.raises(ModelError, match=r"'treatment_arm\[T.personalized\]' is not a term of the model"):
        linear_combination(fit, {"treatment_arm[T.personalized]": 1})


def test_conditional_logit_without_discordant_sets_raises(cohort):
    data = cohort.assign(live_birth=(cohort["patient_id"] % 2).astype(int))
    with pytest.raises(ModelError, match=r"no matched set of patient_id has both a case and a control"):
        fit_conditional_logit(data, "live_birth ~ age", groups="patient_id")


# --------------------------------------------------------------------------------------------
# GEE
# --------------------------------------------------------------------------------------------


def test_gee_non_convergence_raises_with_iterations(cohort):
    with pytest.raises(ModelError, match=r"the GEE did not converge within maxiter=1 iterations"):
        fit_gee_logit(cohort, f"live_birth ~ {ARM} + age", groups="patient_id", maxiter=1)


def test_gee_without_events_raises(cohort):
    with pytest.raises(ModelError, match=r"gee_lb: no events: live_birth is 0"):
        fit_gee_logit(cohort.assign(live_birth=0), "live_birth ~ age", groups="patient_id", model_id="gee_lb")


def test_gee_successes_above_trials_raise(cohort):
    data = cohort.assign(embryos=1, sacs=2)
    with pytest.raises(ModelError, match=r"sacs outside 0..embryos"):
        fit_gee_logit(data, "sacs ~ age", groups="patient_id", trials="embryos")


def test_gee_unknown_working_correlation_raises(cohort):
    with pytest.raises(ModelError, match=r"cov_struct must be one of exchangeable, independence"):
        fit_gee_logit(cohort, "live_birth ~ age", groups="patient_id", cov_struct="ar1")


def test_gee_level_without_events_raises(cohort):
    data = cohort.assign(live_birth=np.where(cohort["treatment_arm"] == "none", 0, cohort["live_birth"]))
    with pytest.raises(ModelError, match=r"live_birth has no events among the \d+ rows with treatment_arm=none"):
        fit_gee_logit(data, f"live_birth ~ {ARM}", groups="patient_id")


# --------------------------------------------------------------------------------------------
# survival
# --------------------------------------------------------------------------------------------


def test_cox_without_events_raises(cohort):
    with pytest.raises(ModelError, match=r"cox_lb: no events: live_birth is 0 in all 240 rows"):
        fit_cox(
            cohort.assign(live_birth=0),
            duration_col="days",
            event_col="live_birth",
            covariates=["age"],
            model_id="cox_lb",
        )


def test_cox_one_level_covariate_raises(cohort):
    with pytest.raises(ModelError, match=r"profile_group \(always 'balanced'\) takes a single value"):
        fit_cox(
            cohort.assign(profile_group="balanced"),
            duration_col="days",
            event_col="live_birth",
            formula="age + C(profile_group)",
        )


def test_cox_level_without_events_raises(cohort):
    data = cohort.assign(live_birth=np.where(cohort["treatment_arm"] == "empirical", 0, cohort["live_birth"]))
    with pytest.raises(ModelError, match=r"live_birth has no events among the \d+ rows with treatment_arm=empirical"):
        fit_cox(data, duration_col="days", event_col="live_birth", formula="age + C(treatment_arm)")


def test_cox_non_convergence_raises(cohort):
    with pytest.raises(ModelError, match=r"the Cox model did not converge within maxiter=1 Newton-Raphson steps"):
        fit_cox(cohort, duration_col="days", event_col="live_birth", covariates=["age"], maxiter=1)


def test_cox_text_covariate_without_formula_raises(cohort):
    with pytest.raises(ModelError, match=r"covariates treatment_arm are not numeric"):
        fit_cox(cohort, duration_col="days", event_col="live_birth", covariates=["treatment_arm"])


def test_cox_needs_formula_or_covariates(cohort):
    with pytest.raises(ModelError, match=r"exactly one of formula or covariates"):
        fit_cox(cohort, duration_col="days", event_col="live_birth")


def test_logrank_with_one_group_raises(cohort):
    with pytest.raises(ModelError, match=r"single group"):
        logrank_test(cohort.assign(g="a"), duration_col="days", event_col="live_birth", group_col="g")


def test_aalen_johansen_without_events_of_interest_raises(cohort):
    with pytest.raises(ModelError, match=r"no event of type 2"):
        aalen_johansen(cohort, duration_col="days", event_col="live_birth", event_of_interest=2)


def test_event_column_must_be_binary(cohort):
    with pytest.raises(ModelError, match=r"must be an event indicator coded 0/1"):
        kaplan_meier(cohort.assign(e=2), duration_col="days", event_col="e")


def test_groups_come_in_natural_order_of_their_values():
    """Numeric groups sort as numbers (2 before 10), not as strings; floats that are whole
    numbers are labelled without a decimal point."""
    data = pd.DataFrame({"t": [1.0, 2.0, 3.0, 4.0], "e": [1, 1, 1, 0], "g": [10.0, 2.0, 10.0, 2.0]})
    km = kaplan_meier(data, duration_col="t", event_col="e", group_col="g")
    assert list(pd.unique(km["group"])) == ["2", "10"]
    assert list(pd.unique(survival_at(km, [1.5, 3])["group"])) == ["2", "10"]


def test_invalid_prior_weights_raise(cohort):
    with pytest.raises(ModelError, match=r"missing, zero or negative weight"):
        fit_logit(cohort, "live_birth ~ age", weights=np.r_[0.0, np.ones(len(cohort) - 1)])


def test_kaplan_meier_last_death_gives_missing_limits():
    """When everyone left at risk dies, S = 0: R reports NA limits and std.err."""
    data = pd.DataFrame({"t": [1.0, 2.0, 3.0], "e": [1, 0, 1]})
    km = kaplan_meier(data, duration_col="t", event_col="e")
    assert km["estimate"].iloc[-1] == 0
    assert np.isnan(km["conf_low"].iloc[-1]) and np.isnan(km["std_error"].iloc[-1])


def test_survival_at_before_first_and_after_last_time():
    """R ``summary(fit, times=)``: before the first time S = 1 with everyone at risk; after the
    last observed time the row is dropped unless extend=True (then 0 at risk)."""
    data = pd.DataFrame({"t": [2.0, 4.0, 4.0, 6.0], "e": [1, 1, 0, 0]})
    km = kaplan_meier(data, duration_col="t", event_col="e")
    at = survival_at(km, [1, 4, 10])
    assert list(at["time_days"]) == [1.0, 4.0]
    assert list(at["estimate"]) == [1.0, 0.5]
    assert list(at["n_at_risk"]) == [4, 3]
    assert list(at["n_events"]) == [0, 2]
    ext = survival_at(km, [1, 4, 10], extend=True)
    assert list(ext["n_at_risk"]) == [4, 3, 0]
    assert ext["estimate"].iloc[-1] == 0.5


# --------------------------------------------------------------------------------------------
# plain term names
# --------------------------------------------------------------------------------------------


NAMING_DATA = pd.DataFrame(
    {
        "treatment_arm": ["none", "empirical", "personalized", "none", "personalized", "empirical"],
        "profile_group": ["balanced", "dysregulated"] * 3,
        "education": ["0-5yrs", "6-11yrs", "12+ yrs"] * 2,
        "arm name": ["a", "b"] * 3,
        "age": [30.0, 31.0, 35.0, 38.0, 40.0, 42.0],
        "ph.ecog": [0.0, 1.0, 2.0, 1.0, 0.0, 1.0],
    }
)


@pytest.mark.parametrize(
    ("rhs", "raw", "plain"),
    [
        ("age", "Intercept", "(Intercept)"),
        (ARM, "C(treatment_arm, Treatment(reference='none'))[T.personalized]", "treatment_arm[personalized]"),
        (
            'C(treatment_arm, Treatment("none"))',
            'C(treatment_arm, Treatment("none"))[T.empirical]',
            "treatment_arm[empirical]",
        ),
        ("treatment_arm", "treatment_arm[T.personalized]", "treatment_arm[personalized]"),
        (
            "treatment_arm*profile_group",
            "treatment_arm[T.personalized]:profile_group[T.dysregulated]",
            "treatment_arm[personalized]:profile_group[dysregulated]",
        ),
        (
            f"{ARM}*C(profile_group)",
            "C(treatment_arm, Treatment(reference='none'))[T.empirical]:C(profile_group)[T.dysregulated]",
            "treatment_arm[empirical]:profile_group[dysregulated]",
        ),
        ("C(education, Treatment('0-5yrs'))", "C(education, Treatment('0-5yrs'))[T.12+ yrs]", "education[12+ yrs]"),
        ("C(Q('arm name'))", "C(Q('arm name'))[T.b]", "arm name[b]"),
        ("age", "age", "age"),
        ("I(age ** 2)", "I(age ** 2)", "I(age ** 2)"),
        ("age:treatment_arm", "age:treatment_arm[empirical]", "age:treatment_arm[empirical]"),
        (
            "C(treatment_arm, Treatment('empirical'))",
            "C(treatment_arm, Treatment('empirical'))[T.none]",
            "treatment_arm[none]",
        ),
        ("Q('ph.ecog')", "Q('ph.ecog')", "ph.ecog"),
    ],
)
def test_plain_column_names_from_the_design_structure(rhs, raw, plain):
    """The plain name of the design column patsy calls ``raw`` is ``plain``: built from the
    design's terms, factors and contrast matrices (no parsing of ``raw``), whatever the coding
    wrapper, quoting or interaction."""
    design = design_matrix(rhs, NAMING_DATA)
    names = plain_column_names(design.design_info)
    assert names[list(design.columns).index(raw)] == plain
    assert len(set(names)) == len(names)


def test_fitted_models_carry_plain_names_and_group_columns_by_term():
    """fit_logit, fit_gee_logit and fit_cox return parameters named as the results contract
    names them, so no caller has to translate patsy's strings; a Cox factor's columns are one
    term for the joint test."""
    rng = np.random.default_rng(3)
    data = pd.concat([NAMING_DATA] * 40, ignore_index=True)
    data["age"] = rng.normal(35, 4, len(data))
    data["y"] = rng.binomial(1, 0.4, len(data))
    data["pid"] = np.repeat(np.arange(len(data) // 2), 2)
    data["days"] = rng.exponential(100, len(data))
    fit = fit_logit(data, f"y ~ {ARM} + age")
    assert list(fit.params.index) == ["(Intercept)", "treatment_arm[empirical]", "treatment_arm[personalized]", "age"]
    gee = fit_gee_logit(data, f"y ~ {ARM} + age", groups="pid")
    assert list(gee.params.index) == list(fit.params.index)
    cox = fit_cox(data, duration_col="days", event_col="y", formula=f"{ARM} + age")
    assert list(cox.params_.index) == ["treatment_arm[empirical]", "treatment_arm[personalized]", "age"]
    assert cox.column_terms == ["treatment_arm", "treatment_arm", "age"]


def test_covariate_sources_group_a_factors_dummies_under_its_column():
    """The Cox PH test groups a categorical's dummies by the covariate they come from, taken
    from the design itself (not by cutting names at "[")."""
    from analysis.models.design import covariate_design, covariate_sources

    data = NAMING_DATA.assign(center_id=["A", "B", "C"] * 2)
    spec = dict(references={"treatment_arm": "none"}, intercept=False)
    _, names = covariate_design(data, ["treatment_arm", "age", "center_id"], **spec)
    sources = covariate_sources(data, ["treatment_arm", "age", "center_id"], **spec)
    assert list(sources) == names
    assert sources == {
        "treatment_arm[empirical]": "treatment_arm",
        "treatment_arm[personalized]": "treatment_arm",
        "age": "age",
        "center_id[B]": "center_id",
        "center_id[C]": "center_id",
    }


def test_forest_rows_look_up_contract_terms_and_leave_out_strata_not_estimated():
    """Forest rows are found by the terms the contract's levels name, in the contract's order;
    a stratum without an estimate (too few events) is absent rather than misread."""
    from analysis.methods.outcomes import forest_rows, stratum_term

    est = pd.DataFrame(
        {
            "model_id": ["adj", "adj", "adj", "int", "int", "int"],
            "term": [
                "age",
                "treatment_arm[personalized]",
                "treatment_arm[empirical]",
                stratum_term("personalized", "profile_group", "dysregulated"),
                stratum_term("empirical", "profile_group", "dysregulated"),
                stratum_term("personalized", "profile_group", "balanced"),
            ],
            "estimate": [1.01, 2.0, 1.1, 2.5, 0.9, 1.2],
            "conf_low": [1.0, 1.5, 0.8, 1.6, 0.6, 0.7],
            "conf_high": [1.02, 2.6, 1.5, 3.9, 1.3, 2.1],
        }
    )
    rows = forest_rows(est, adjusted_id="adj", stratified_id="int", arm_labels={"personalized": "Personalized"})
    assert list(zip(rows["group"], rows["treatment_arm"], rows["estimate"])) == [
        ("Overall", "empirical", 1.1),
        ("Overall", "personalized", 2.0),
        ("Balanced", "personalized", 1.2),
        ("Dysregulated", "empirical", 0.9),
        ("Dysregulated", "personalized", 2.5),
    ]
    assert rows["label"].tolist()[1] == "Personalized"
