"""Against the generator's declared marker roles (truth.json → marker_roles): the declared
prognostic signal ranks first, declared null markers do not modify the therapy effect, and the
benefit model's top fifth holds the patients the generator says benefit."""

import pytest

from analysis.data.cohort import derive_cohort
from analysis.data.synthetic import MARKER_ROLES, simulate_cohort
from analysis.data.validation import validate_cohort
from analysis.methods import benefit, prognostic

MARKERS = ["il15_fn14_ratio", "il18_tweak_ratio", "unk_cd56_percent", "blood_nk_percent", "blood_th1_th2_ratio"]


@pytest.fixture(scope="module")
def first():
    sim = simulate_cohort(12000, seed=404)
    assert sim.truth["marker_roles"] == MARKER_ROLES
    f = derive_cohort(validate_cohort(sim.patients, sim.transfers)).population("first")
    return f.assign(dysregulated=(f["profile_group"].astype(str) == "dysregulated").astype(float))


def test_declared_prognostic_signal_ranks_first_among_untreated(first):
    untreated = first[first["treatment_arm"].astype(str) == "none"]
    table = prognostic.prognostic_table(untreated, [MARKER_ROLES["prognostic"], *MARKERS], n_bootstrap=10, nk=3)
    ranked = table.sort_values("rank_statistic", ascending=False)["marker"].tolist()
    assert ranked[0] == MARKER_ROLES["prognostic"], table[["marker", "rank_statistic"]]


def test_declared_null_markers_do_not_modify_the_therapy_effect(first):
    _, tests = benefit.interaction_tests(
        first,
        [m for m in MARKER_ROLES["null"] if m != "cd138_per_hpf"],
        covariates=["age_at_biopsy_years", "prior_failed_transfers"],
    )
    for row in tests.itertuples():
        assert row.conf_low <= 1 <= row.conf_high, row


def test_top_fifth_of_predicted_benefit_is_the_declared_beneficiaries(first):
    b = benefit.predicted_benefit(
        first, modifiers=MARKER_ROLES["effect_modifiers"], covariates=["age_at_biopsy_years", "prior_failed_transfers"]
    )
    top = b[b["benefit"].rank(pct=True) > 0.8]
    assert (top["profile_group"].astype(str) == "dysregulated").all()
    assert (
        b.loc[b["profile_group"].astype(str) == "dysregulated", "benefit"].mean()
        > b.loc[b["profile_group"].astype(str) == "balanced", "benefit"].mean() + 0.05
    )
