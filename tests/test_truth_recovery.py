"""Against the truth: on synthetic cohorts, the adjusted models' 95% CIs cover the effects
declared in truth.json (a few seeds here; the coverage study over many seeds is marked slow)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.data.cohort import derive_cohort
from analysis.data.synthetic import simulate_cohort
from analysis.data.validation import validate_cohort
from analysis.methods.outcomes import ModelLog, fit_logit_model, stratum_effects

COVARIATES = [
    "age_at_biopsy_years",
    "bmi_kg_m2",
    "prior_failed_transfers",
    "embryo_stage",
    "good_quality_embryos",
    "cycle_type",
    "oocyte_source",
    "center_id",
]


def _first(seed, n):
    sim = simulate_cohort(n, seed=seed)
    cohort = derive_cohort(validate_cohort(sim.patients, sim.transfers))
    return cohort.population("first"), sim.truth


def _match_model(first, log):
    fit_logit_model(
        log,
        first,
        model_id="lb_first_matching",
        outcome="live_birth",
        population="first_transfer",
        exposures=["therapy_match", "profile_group"],
        covariates=COVARIATES,
    )
    return log.estimates_frame().set_index("term")


def _covers(est, term, truth_or):
    row = est.loc[term]
    return row["conf_low"] <= truth_or <= row["conf_high"]


@pytest.mark.parametrize("seed", [101, 202])
def test_match_model_cis_cover_declared_odds_ratios(seed):
    first, truth = _first(seed, 3000)
    est = _match_model(first, ModelLog("test"))
    ors = truth["live_birth_model"]["odds_ratios"]
    for term in (
        "therapy_match[matched]",
        "therapy_match[mismatched]",
        "age_at_biopsy_years",
        "prior_failed_transfers",
        "profile_group[dysregulated]",
    ):
        assert _covers(est, term, ors[term]), (
            term,
            est.loc[term, ["estimate", "conf_low", "conf_high"]].tolist(),
            ors[term],
        )


def test_stratum_or_of_personalized_in_dysregulated_covers_truth():
    first, truth = _first(303, 3000)
    log = ModelLog("test")
    fit = fit_logit_model(
        log,
        first,
        model_id="lb_first_interaction",
        outcome="live_birth",
        population="first_transfer",
        exposures=["treatment_arm*profile_group"],
        covariates=COVARIATES,
    )
    strata = stratum_effects(
        log,
        fit,
        model_id="lb_first_interaction",
        outcome="live_birth",
        population="first_transfer",
        arm_levels=["empirical", "personalized"],
        modifier="profile_group",
        modifier_levels=["balanced", "dysregulated"],
        data=first,
    ).set_index("term")
    declared = truth["declared_effects"]["personalized_vs_none_OR"]
    assert _covers(strata, "treatment_arm[personalized] | profile_group=dysregulated", declared["dysregulated"])
    assert _covers(strata, "treatment_arm[personalized] | profile_group=balanced", declared["balanced"])
    assert _covers(
        strata,
        "treatment_arm[empirical] | profile_group=balanced",
        truth["declared_effects"]["empirical_vs_none_OR"]["balanced"],
    )


def test_crude_personalized_or_is_biased_in_the_declared_direction():
    first, truth = _first(404, 4000)
    log = ModelLog("test")
    fit_logit_model(
        log,
        first,
        model_id="crude",
        outcome="live_birth",
        population="first_transfer",
        exposures=["treatment_arm"],
        covariates=[],
    )
    fit_logit_model(
        log,
        first,
        model_id="adjusted",
        outcome="live_birth",
        population="first_transfer",
        exposures=["treatment_arm"],
        covariates=COVARIATES,
    )
    est = log.estimates_frame()
    pick = est[est["term"] == "treatment_arm[personalized]"].set_index("model_id")["estimate"]
    assert truth["confounding"]["personalized_vs_none"]["crude_bias"] == "downward"
    assert pick["crude"] < pick["adjusted"]


@pytest.mark.slow
def test_coverage_study_over_many_seeds():
    """Coverage of the 95% CI of the matched-therapy OR over 200 cohorts: near 95%."""
    hits = []
    for seed in range(1000, 1200):
        first, truth = _first(seed, 1500)
        est = _match_model(first, ModelLog("cov"))
        hits.append(
            _covers(est, "therapy_match[matched]", truth["live_birth_model"]["odds_ratios"]["therapy_match[matched]"])
        )
    coverage = float(np.mean(hits))
    print(f"coverage of the matched-therapy OR over {len(hits)} seeds: {coverage:.3f}")
    assert 0.91 <= coverage <= 0.985
