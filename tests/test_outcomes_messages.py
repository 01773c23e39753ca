"""Hard cases at the notebook level: a model that cannot be fitted gives a clear status row and the
notebook goes on (no crash, no silent number)."""

from __future__ import annotations

from conftest import SHIPPED

from analysis.data.cohort import load_cohort
from analysis.methods.outcomes import ModelLog, fit_gee_model, fit_logit_model, stratum_effects

COV = ["age_at_biopsy_years", "center_id"]


def _first():
    return load_cohort(SHIPPED).population("first")


def test_subgroup_without_events_is_reported_not_estimable():
    first = _first()
    first.loc[first["treatment_arm"] == "empirical", "live_birth"] = 0
    log = ModelLog("t")
    assert (
        fit_logit_model(
            log,
            first,
            model_id="m",
            outcome="live_birth",
            population="first",
            exposures=["treatment_arm"],
            covariates=COV,
        )
        is None
    )
    status = log.status_frame().iloc[0]
    assert status["status"] == "not estimable" and "empirical" in status["message"]
    assert log.estimates_frame().empty


def test_covariate_with_one_level_is_reported():
    first = _first()
    first["center_id"] = "C1"
    log = ModelLog("t")
    fit_logit_model(
        log, first, model_id="m", outcome="live_birth", population="first", exposures=["treatment_arm"], covariates=COV
    )
    assert "center_id" in log.status_frame().iloc[0]["message"]


def test_profile_group_too_small_for_its_stratum_model():
    first = _first()
    # keep only a handful of balanced patients: their stratum ORs must not be estimated
    small = first[
        (first["profile_group"] == "dysregulated")
        | (first.index.isin(first.index[first["profile_group"] == "balanced"][:12]))
    ]
    log = ModelLog("t")
    fit = fit_logit_model(
        log,
        small,
        model_id="i",
        outcome="live_birth",
        population="first",
        exposures=["treatment_arm*profile_group"],
        covariates=["age_at_biopsy_years"],
    )
    strata = stratum_effects(
        log,
        fit,
        model_id="i",
        outcome="live_birth",
        population="first",
        arm_levels=["empirical", "personalized"],
        modifier="profile_group",
        modifier_levels=["balanced", "dysregulated"],
        data=small,
    )
    assert not strata["term"].str.contains("balanced").any()
    msgs = log.status_frame()
    assert msgs["message"].str.contains("too few for a stratum-specific OR|could not be fitted").any()
    assert (msgs["status"] == "not estimable").any()


def test_gee_that_cannot_converge_or_has_no_events_is_reported():
    cohort = load_cohort(SHIPPED)
    all_t = cohort.population("all")
    all_t["live_birth"] = 0
    log = ModelLog("t")
    assert (
        fit_gee_model(
            log,
            all_t,
            model_id="g",
            outcome="live_birth",
            population="all",
            exposures=["treatment_arm"],
            covariates=COV,
        )
        is None
    )
    assert log.status_frame().iloc[0]["status"] == "not estimable"
