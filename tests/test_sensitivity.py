"""Sensitivity sets select exactly the rows their rule names, and a failing set never stops the rest."""

from functools import partial

import pandas as pd
import pytest

from analysis.core.exceptions import ConfigError
from analysis.data.cohort import derive_cohort
from analysis.data.synthetic import simulate_cohort
from analysis.data.validation import validate_cohort
from analysis.methods import effects, sensitivity, target_trial
from analysis.models.schema import conform_estimates

COV = ["age_at_biopsy_years", "prior_failed_transfers", "center_id"]


@pytest.fixture(scope="module")
def cohort():
    sim = simulate_cohort(600, seed=31)
    return derive_cohort(validate_cohort(sim.patients, sim.transfers))


def test_each_set_keeps_the_rows_its_rule_names(cohort):
    first = cohort.population("first", "live_birth")
    sets = {**sensitivity.DEFAULT_SETS, "all_transfers": {"population": "all"}}  # no longer a default set
    pops = {p.label: p for p in sensitivity.sensitivity_populations(cohort, sets)}
    assert len(pops["all_transfers"].data) == len(cohort.population("all", "live_birth"))
    assert len(pops["no_donor_oocytes"].data) == int((first["oocyte_source"] != "donor").sum())
    assert not pops["no_donor_oocytes"].data["oocyte_source"].eq("donor").any()
    assert len(pops["no_pgt_a"].data) == int((~first["pgt_a"].astype(bool)).sum())
    assert (pops["rif_only"].data["prior_failed_transfers"] >= 3).all()
    assert len(pops["rif_only"].data) == int((first["prior_failed_transfers"] >= 3).sum())
    centres = sorted(first["center_id"].unique())
    loo = [k for k in pops if k.startswith("leave_one_centre_out_")]
    assert loo == [f"leave_one_centre_out_{c}" for c in centres]
    for c in centres:
        kept = pops[f"leave_one_centre_out_{c}"].data
        assert c not in set(kept["center_id"]) and len(kept) == int((first["center_id"] != c).sum())


def test_bad_specs_are_listed_together(cohort):
    bad = {
        "a": {"populaton": "all"},
        "b": {"exclude": {"nope": ["x"]}},
        "c": {"leave_one_out": "zzz"},
        "d": {"population": "some"},
    }
    with pytest.raises(ConfigError) as err:
        sensitivity.sensitivity_populations(cohort, bad)
    text = str(err.value)
    for piece in ["a: unknown key", "b: exclude names column 'nope'", "c: leave_one_out", "d: population"]:
        assert piece in text


def test_failing_set_is_reported_and_others_go_on(cohort):
    sets = {"ok": {}, "empty_arm": {"exclude": {"treatment_arm": ["personalized"]}}}
    pops = sensitivity.sensitivity_populations(cohort, sets)

    def estimator(data, *, population, model_id):
        return effects.iptw_estimate(
            data, covariates=COV, population=population, model_id=model_id, notebook="05_treatment_effects"
        )

    out = sensitivity.run_sensitivity(pops, estimator, term="treatment_arm[personalized]")
    status = out.status.set_index("label")
    assert status.loc["ok", "status"] == "ok"
    assert status.loc["empty_arm", "status"] == "not estimable" and "no patient" in status.loc["empty_arm", "message"]
    assert list(out.summary["label"]) == ["ok"]
    assert set(out.estimates["model_id"]) == {"lb_sens_ok"}


def test_all_transfer_rerun_clusters_on_patients(cohort):
    pops = sensitivity.sensitivity_populations(cohort, {"all": {"population": "all"}})
    rows = effects.iptw_estimate(
        pops[0].data, covariates=COV, population="all_transfers", model_id="m", notebook="05_treatment_effects"
    )
    assert rows["n_clusters"].iloc[0] == pops[0].data["patient_id"].nunique() < rows["n_obs"].iloc[0]


def test_sequential_trials_set_is_the_target_trial_emulation(cohort):
    """The default all-transfer set runs the sequential trials on the course, with its own model id."""
    pops = {p.label: p for p in sensitivity.sensitivity_populations(cohort, sensitivity.DEFAULT_SETS)}
    assert "all_transfers" not in pops
    trials = pops["sequential_trials"]
    course = target_trial.first_course(cohort)
    assert len(trials.data) == int(course.transfers["lb"].notna().sum()) == len(cohort.population("all", "live_birth"))
    out = sensitivity.run_sensitivity(
        [trials],
        None,
        term="treatment_arm[personalized]",
        trial_estimator=partial(target_trial.sequential_trials, covariates=COV, notebook="05_treatment_effects"),
    )
    direct = target_trial.sequential_trials(
        course, covariates=COV, notebook="05_treatment_effects", model_id="lb_sens_sequential_trials"
    )
    pd.testing.assert_frame_equal(out.estimates.reset_index(drop=True), conform_estimates(direct))
    assert out.status["status"].tolist() == ["ok"] and list(out.summary["label"]) == ["sequential_trials"]
    assert set(out.estimates["population"]) == {"sequential_trials"}


def test_sequential_trials_set_takes_no_other_key_and_needs_its_estimator(cohort):
    with pytest.raises(ConfigError, match="takes no other key"):
        sensitivity.sensitivity_populations(
            cohort, {"s": {"population": "sequential_trials", "leave_one_out": "center_id"}}
        )
    pops = sensitivity.sensitivity_populations(cohort, {"s": {"population": "sequential_trials"}})
    with pytest.raises(ValueError, match="trial_estimator"):
        sensitivity.run_sensitivity(pops, None, term="treatment_arm[personalized]")


def test_leave_one_out_sets_hold_row_selections_not_copies(cohort):
    """At a million transfers each leave-one-centre-out set held its own copy of the first
    transfers, all at once: notebook 05's kernel peaked 3 GiB above its cohort in the reruns.
    The sets now select rows of one shared frame and copy them out one at a time, when read:
    building every set costs the one frame and a mask per set, not a frame per centre."""
    import tracemalloc

    first = cohort.population("first", "live_birth")
    frame = int(first.memory_usage(deep=False).sum())
    n_centres = first["center_id"].nunique()
    assert n_centres >= 4

    def peak_bytes(build):
        tracemalloc.start()
        try:
            built = build()
            return tracemalloc.get_traced_memory()[1], built
        finally:
            tracemalloc.stop()

    base, _ = peak_bytes(lambda: cohort.population("first", "live_birth"))  # the sets' frame is built inside
    peak, pops = peak_bytes(
        lambda: sensitivity.sensitivity_populations(cohort, {"loo": {"leave_one_out": "center_id"}})
    )
    assert len(pops) == n_centres
    # masks and the centre labels; a copy per centre would add about n_centres - 1 frames
    assert peak - base < 0.5 * frame, (peak, base, frame, n_centres)
    # and what a set reads is still exactly its rows
    for p in pops:
        centre = p.label.removeprefix("loo_")
        assert p.n_obs == len(p.data) == int((first["center_id"].astype(str) != centre).sum())
