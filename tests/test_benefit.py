"""Who benefits: NNT, Holm, the supported rule, c-for-benefit by hand; net benefit from outcomes
against R (tests/reference/make_benefit_reference.R); the decision curve on a cohort without
effect modification."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from analysis.core.exceptions import ModelError
from analysis.data.cohort import derive_cohort
from analysis.data.synthetic import simulate_cohort, write_cohort
from analysis.data.validation import validate_cohort
from analysis.methods import benefit, effects
from analysis.methods.multiplicity import adjusted_p_values, fixed_sequence_p_values, holm_p_values
from analysis.output import pubtables
from analysis.study import s06_biomarkers as s06
from analysis.study.context import open_context

REFERENCE = Path(__file__).parent / "reference"
PS = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id", "profile_group"]
CLINICAL = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id"]


def test_by_profile_risk_difference_and_nnt_by_hand():
    # dysregulated: treated 40/100, untreated 20/100 -> RD 0.2, SE sqrt(.24/100 + .16/100) = 0.0632
    rows = []
    for arm, events, n in [("personalized", 40, 100), ("none", 20, 100)]:
        rows += [
            {"treatment_arm": arm, "profile_group": "dysregulated", "live_birth": int(i < events)} for i in range(n)
        ]
    t = benefit.by_profile_table(pd.DataFrame(rows)).iloc[0]
    se = np.sqrt(0.4 * 0.6 / 100 + 0.2 * 0.8 / 100)
    assert t["risk_difference"] == pytest.approx(0.2)
    assert t["conf_low"] == pytest.approx(0.2 - 1.959964 * se, rel=1e-5)
    assert t["nnt"] == pytest.approx(5.0)
    assert t["nnt_low"] == pytest.approx(1 / (0.2 + 1.959964 * se), rel=1e-5)
    assert t["nnt_kind"] == "NNT (benefit)"


def test_holm_by_hand_and_against_r_p_adjust():
    """Holm: p = (0.01, 0.04, 0.03, 0.2) sorted 0.01, 0.03, 0.04, 0.2 → 4·0.01 = 0.04, 3·0.03 = 0.09,
    max(0.09, 2·0.04) = 0.09, 0.2; and R's p.adjust(…, "holm") on six values. Would catch
    Bonferroni (×m for all), a step-up (Hochberg) or a missing running maximum."""
    assert holm_p_values([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    ref = pd.read_csv(REFERENCE / "benefit_reference.csv")
    holm = ref[ref["quantity"] == "holm"]
    p = [float(r.split("=")[1]) for r in holm["rule"]]
    np.testing.assert_allclose(holm_p_values(p), holm["value"].to_numpy(), rtol=1e-12)
    # a test that could not be computed stays out of the family
    out = holm_p_values([0.01, np.nan, 0.03])
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.03)
    assert fixed_sequence_p_values([0.01, 0.04, 0.03]).tolist() == [0.01, 0.04, 0.04]
    with pytest.raises(ValueError, match="holm, fixed_sequence, none"):
        adjusted_p_values([0.1], "bonferoni")


def test_number_needed_altman_by_hand():
    """RD 0.2 (0.1 to 0.3) → NNTB 5 (3.3 to 10); RD 0.05 (−0.04 to 0.14) → NNTB 20 with the
    interval NNTH 25 to ∞ to NNTB 7.1 (Altman 1998). Would catch an interval given as
    (1/0.14, 1/−0.04) = (7.1, −25), the nonsense Altman warns about."""
    a = benefit.number_needed(0.2, 0.1, 0.3)
    assert (a["nnt_kind"], a["nnt"], a["nnt_low"], a["nnt_high"]) == (
        "NNTB",
        pytest.approx(5),
        pytest.approx(1 / 0.3),
        pytest.approx(10),
    )
    b = benefit.number_needed(0.05, -0.04, 0.14)
    assert b["nnt_display"] == "NNTB 20.0 (NNTH 25.0 to ∞ to NNTB 7.1)"
    assert np.isnan(b["nnt_low"])
    c = benefit.number_needed(-0.1, -0.15, -0.05)
    assert c["nnt_kind"] == "NNTH" and c["nnt"] == pytest.approx(10) and c["nnt_high"] == pytest.approx(20)


def _strata(rd, se, n=100):
    z = 1.959964
    return pd.DataFrame(
        {
            "grouping": "profile_group",
            "group": [f"g{i}" for i in range(len(rd))],
            "n": n,
            "risk_treated": 0.3 + np.array(rd),
            "risk_untreated": 0.3,
            "risk_difference": rd,
            "conf_low": np.array(rd) - z * np.array(se),
            "conf_high": np.array(rd) + z * np.array(se),
            "p_value": 2 * norm.sf(np.abs(np.array(rd) / np.array(se))),
        }
    )


def test_rule_uses_multiplicity_and_says_when_no_rule():
    """Two groups with raw p 0.03 and 0.04: each interval excludes 0 (the old crude rule would
    treat both), but Holm gives 0.06 and 0.06, so the data support no rule and the sentence
    says so. A third case: one clear benefit (p < 0.001) is kept. Would catch a rule from raw
    intervals (the old design)."""
    se = [0.1 / norm.isf(0.015), 0.1 / norm.isf(0.02)]
    strata = _strata([0.1, 0.1], se)
    rule = benefit.rule_table(strata, alpha=0.05, multiplicity="holm")
    assert rule["p_value"].round(3).tolist() == [0.03, 0.04]
    assert rule["p_adjusted"].round(3).tolist() == [0.06, 0.06]
    assert (rule["conf_low"] > 0).all()
    assert (rule["verdict"] == "no rule").all()
    assert benefit.rule_statement(rule).startswith("The data support no treatment rule")
    assert (benefit.rule_table(strata, multiplicity="none")["verdict"] == "treat").all()
    clear = benefit.rule_table(_strata([0.15, 0.0], [0.03, 0.05]))
    assert clear["verdict"].tolist() == ["treat", "no rule"]
    text = benefit.rule_statement(clear)
    assert "support offering personalized immunotherapy to women with a g0" in text
    assert "g0 (profile group), 100 women" in text and "NNTB 6.7" in text
    # the input table is not changed, and a missing column is named
    assert "p_adjusted" not in strata
    with pytest.raises(ValueError, match="p_value"):
        benefit.rule_table(strata.drop(columns="p_value"))


def test_c_for_benefit_by_hand():
    """Treated predicted benefits 0.1, 0.3, 0.5 (outcomes 0, 1, 1); controls 0.12, 0.28, 0.52,
    0.9 (outcomes 0, 0, 1, 0). Greedy matching of the smaller (treated) arm in order of
    benefit: 0.1–0.12, 0.3–0.28, 0.5–0.52. Pairs: predicted 0.11, 0.29, 0.51; observed 0, 1, 0.
    Usable pairs of pairs (different observed benefit): (1,2) concordant, (2,3) discordant →
    C = 1/2. Would catch matching on the outcome, unmatched pairing by position, or counting
    ties in the observed benefit."""
    pred = np.array([0.1, 0.3, 0.5, 0.12, 0.28, 0.52, 0.9])
    t = np.array([1, 1, 1, 0, 0, 0, 0])
    y = np.array([0, 1, 1, 0, 0, 1, 0])
    pairs = benefit.benefit_matched_pairs(pred, t, y)
    assert pairs["control_position"].tolist() == [3, 4, 5]
    assert pairs["predicted_benefit"].to_numpy() == pytest.approx([0.11, 0.29, 0.51])
    assert pairs["observed_benefit"].tolist() == [0, 1, 0]
    out = benefit.c_for_benefit(pred, t, y, n_bootstrap=20)
    assert out["c_for_benefit"] == pytest.approx(0.5) and out["n_usable"] == 2 and out["n_pairs"] == 3
    # a perfectly ordered case: observed benefit rises with predicted benefit → C = 1
    assert benefit.concordance(np.array([0.1, 0.2, 0.3]), np.array([-1, 0, 1])) == (1.0, 3)


@pytest.fixture(scope="module")
def causal_data():
    return pd.read_csv(REFERENCE / "causal_data.csv")


@pytest.mark.parametrize("augmented", [True, False])
def test_net_benefit_from_outcomes_against_r(causal_data, augmented):
    """Net benefit of treat all / dysregulated / age < 37 / none at four thresholds, AIPW and IPW,
    against the hand-derived formula in R (nnet::multinom, glm; make_benefit_reference.R),
    tolerance 1e-6 (multinom's optimiser). Would catch a net benefit computed from predicted
    benefit (the old design), a missing threshold × share term, or scores weighted by the wrong arm."""
    ref = pd.read_csv(REFERENCE / "benefit_reference.csv")
    kind = "aipw" if augmented else "ipw"
    scores = benefit.aipw_scores(
        causal_data, ps_covariates=PS, outcome_covariates=CLINICAL, modifier="profile_group", augmented=augmented
    )
    assert len(scores) == len(causal_data)
    rules = {
        "treat_all": np.ones(len(scores)),
        "treat_dysregulated": (causal_data["profile_group"] == "dysregulated").to_numpy(float),
        "treat_age_under_37": (causal_data["age_at_biopsy_years"] < 37).to_numpy(float),
        "treat_none": np.zeros(len(scores)),
    }
    for r in ref[ref["quantity"] == f"net_benefit_{kind}"].itertuples():
        got = benefit.net_benefit(scores["effect_score"], rules[r.rule], r.threshold)
        assert got == pytest.approx(r.value, abs=1e-6), (r.rule, r.threshold)
    risks = ref.set_index("quantity")["value"]
    assert scores["score_treated"].mean() == pytest.approx(risks[f"risk_personalized_{kind}"], abs=1e-6)
    assert scores["score_untreated"].mean() == pytest.approx(risks[f"risk_none_{kind}"], abs=1e-6)


def test_aipw_scores_reproduce_notebook_05_stratum_risks(causal_data):
    """The mean scores by profile group equal effects.aipw_risks (notebook 05's point estimates)
    to 1e-8: the rule is built on the same doubly robust estimates. Would catch a different
    outcome-model design (e.g. no arm × profile term) or a two-arm propensity model."""
    scores = benefit.aipw_scores(causal_data, ps_covariates=PS, outcome_covariates=PS, modifier="profile_group")
    strata = benefit.stratum_effects(scores, by="profile_group")
    risks = effects.aipw_risks(causal_data, ps_covariates=PS, outcome_covariates=PS).set_index(["stratum", "arm"])
    for r in strata.itertuples():
        key = f"profile_group={r.group}"
        assert r.risk_treated == pytest.approx(risks.loc[(key, "personalized"), "risk"], abs=1e-8)
        assert r.risk_untreated == pytest.approx(risks.loc[(key, "none"), "risk"], abs=1e-8)


def test_aipw_scores_list_every_empty_cell(causal_data):
    """Personalized therapy absent among balanced profiles and no untreated dysregulated women:
    both empty cells are named in one error."""
    arm, prof = causal_data["treatment_arm"], causal_data["profile_group"]
    d = causal_data[~(((arm == "personalized") & (prof == "balanced")) | ((arm == "none") & (prof == "dysregulated")))]
    with pytest.raises(ModelError, match="balanced received personalized; .*dysregulated received none"):
        benefit.aipw_scores(d, ps_covariates=PS, outcome_covariates=PS, modifier="profile_group")


#: A benefit model with room to overfit: arm × (profile group, the three profile markers and
#: three clinical covariates).
RICH_MODIFIERS = [
    "profile_group",
    "il15_fn14_ratio",
    "il18_tweak_ratio",
    "unk_cd56_percent",
    "age_at_biopsy_years",
    "prior_failed_transfers",
    "bmi_kg_m2",
]
THRESHOLDS = [0.0, 0.01, 0.02, 0.05]


@pytest.fixture(scope="module")
def null_first():
    """First transfers of a 2,500-woman cohort whose generator gives personalized therapy no
    effect in any profile (``personalized_effect=False``: no effect modification declared)."""
    sim = simulate_cohort(2500, seed=7, personalized_effect=False)
    assert sim.truth["marker_roles"]["effect_modifiers"] == []
    assert sim.truth["marginal_first_transfer"]["dysregulated"]["rd_personalized_vs_none"] == 0
    return derive_cohort(validate_cohort(sim.patients, sim.transfers)).population("first", "live_birth")


def test_decision_curve_shows_no_model_benefit_without_effect_modification(null_first):
    """Where no rule can beat treat none (true net benefit of any rule = −threshold × share
    treated), the cross-validated model's net benefit from observed outcomes is not above the
    better of treat all and treat none beyond noise (1.96 influence-function SEs of the
    difference), at every threshold. The old in-sample method, mean(max(b̂ − t, 0)) over the
    model's own predictions, claims at every threshold that the model beats both strategies and
    that its net benefit is positive: the test would fail on the old design."""
    scores = benefit.aipw_scores(null_first, ps_covariates=PS, outcome_covariates=PS, modifier="profile_group")
    predicted = benefit.cross_validated_benefit(null_first, modifiers=RICH_MODIFIERS, covariates=CLINICAL, seed=1)
    curve = benefit.decision_curve(scores, predicted, thresholds=THRESHOLDS).set_index(["threshold", "strategy"])
    idx = predicted.dropna().index.intersection(scores.index)
    d, b = scores.loc[idx, "effect_score"].to_numpy(), predicted.loc[idx].to_numpy()
    for t in THRESHOLDS:
        model = curve.loc[(t, "treat by model (cross-validated)"), "net_benefit"]
        best = max(curve.loc[(t, "treat all"), "net_benefit"], curve.loc[(t, "treat none"), "net_benefit"])
        comparator = np.ones(len(d)) if curve.loc[(t, "treat all"), "net_benefit"] > 0 else np.zeros(len(d))
        diff = ((b > t) - comparator) * (d - t)
        noise = 1.959964 * diff.std(ddof=1) / np.sqrt(len(d))
        assert model - best == pytest.approx(diff.mean(), abs=1e-12)
        assert model - best <= noise, (t, model, best, noise)
        share = curve.loc[(t, "treat by model (cross-validated)"), "share_treated"]
        assert model - (-t * share) <= 1.959964 * d.std(ddof=1) / np.sqrt(len(d))
    # the old design: net benefit from the model's own in-sample predictions
    old = benefit.predicted_benefit(null_first, modifiers=RICH_MODIFIERS, covariates=CLINICAL)["benefit"].to_numpy()
    for t in THRESHOLDS:
        old_model = np.mean(np.maximum(old - t, 0))
        old_all = np.mean(old - t)
        assert old_model > max(old_all, 0.0) + 0.005, t  # claims a benefit that the generator does not have


def _estimates(rows):
    return pd.DataFrame(
        [
            {
                "model_id": m,
                "term": t,
                "estimator": "aipw_rd",
                "estimate": 0.1,
                "conf_low": 0.0,
                "conf_high": 0.2,
                "p_value": p,
            }
            for m, t, p in rows
        ]
    )


HIERARCHY = {
    "primary": {"model_id": "a", "arm": "personalized", "within": {"profile_group": "dysregulated"}},
    "secondary": [
        {"model_id": "a", "arm": "personalized"},
        {"model_id": "b", "arm": "personalized"},
        {"model_id": "c", "arm": "personalized"},
        {"model_id": "missing", "arm": "personalized"},
    ],
    "multiplicity": "holm",
    "alpha": 0.05,
}


def test_hierarchy_gatekeeping_and_holm_by_hand():
    """Primary p 0.01 rejects; secondaries 0.01, 0.04, 0.03 → Holm 0.03, 0.06, 0.06 (each at
    least the primary's 0.01); a declared analysis missing from the estimates gets a message and
    no p. With the primary at 0.2 nothing downstream is significant (serial gatekeeping), and the
    fixed sequence gives the running maximum. Would catch secondaries tested without a gate, or
    unadjusted p-values in the table."""
    est = _estimates(
        [
            ("a", "treatment_arm[personalized] | profile_group=dysregulated", 0.01),
            ("a", "treatment_arm[personalized]", 0.01),
            ("b", "treatment_arm[personalized]", 0.04),
            ("c", "treatment_arm[personalized]", 0.03),
        ]
    )
    h = pubtables.hierarchy_table(est, HIERARCHY)
    assert h["role"].tolist() == ["primary"] + ["secondary"] * 4
    assert h["p_adjusted"].iloc[:4].round(6).tolist() == [0.01, 0.03, 0.06, 0.06]
    assert h["significant"].tolist() == [True, True, False, False, False]
    assert np.isnan(h["p_adjusted"].iloc[4]) and "not in estimates" in h["message"].iloc[4]
    seq = pubtables.hierarchy_table(est, {**HIERARCHY, "multiplicity": "fixed_sequence"})
    assert seq["p_adjusted"].iloc[:4].round(6).tolist() == [0.01, 0.01, 0.04, 0.04]
    gated = pubtables.hierarchy_table(est.assign(p_value=[0.2, 0.01, 0.04, 0.03]), HIERARCHY)
    assert not gated["significant"].any() and (gated["p_adjusted"].iloc[1:4] >= 0.2).all()
    assert gated["message"].iloc[1] == "not confirmatory: the primary did not reject"
    table2 = pubtables.model_table(est.assign(n_obs=100), min_cell_count=0, hierarchy=HIERARCHY).frame
    assert table2["Role"].tolist()[:4] == ["primary", "secondary 1", "secondary 2", "secondary 3"]
    assert "P (adjusted)" in table2


def test_hierarchy_lists_every_problem():
    with pytest.raises(ValueError, match=r"secondary\[0\] needs model_id.*multiplicity 'bonferoni'.*alpha 5"):
        pubtables.hierarchy_table(
            _estimates([]),
            {**HIERARCHY, "secondary": [{"arm": "x"}], "multiplicity": "bonferoni", "alpha": 5},
        )


def test_subgroup_interaction_by_hand():
    """Level a: scores 0, 0.2, 0.4 (RD 0.2, SE 0.2/√3); level b: 0.5, 0.6, 0.7 (RD 0.6, SE
    0.1/√3). Difference b − a = 0.4, SE √(0.04/3 + 0.01/3); Wald χ² = 0.4²/(0.05/3) = 9.6 on 1 df.
    Would catch a test on pooled scores or SEs added instead of variances."""
    s = pd.DataFrame(
        {
            "g": ["a"] * 3 + ["b"] * 3,
            "effect_score": [0, 0.2, 0.4, 0.5, 0.6, 0.7],
            "score_treated": 0.5,
            "score_untreated": 0.3,
            "treated": [1, 0, 0, 1, 0, 0],
            "arm": ["personalized", "none", "none", "personalized", "none", "empirical"],
        }
    )
    effects, tests = benefit.subgroup_effects({"g": s})
    assert effects["std_error"].tolist() == pytest.approx([0.2 / np.sqrt(3), 0.1 / np.sqrt(3)])
    assert effects["n_untreated"].tolist() == [2, 1]
    t = tests.iloc[0]
    assert t["difference"] == pytest.approx(0.4) and t["statistic"] == pytest.approx(9.6)
    assert t["p_value"] == pytest.approx(float(norm.sf(np.sqrt(9.6)) * 2))


def test_decision_curve_bands_cover_the_curve_and_replicates_match_the_rules(causal_data):
    """The vectorised bootstrap replicate equals net_benefit rule by rule; the point curve is
    decision_curve's; each band holds its curve (20 resamples). Would catch a replicate whose
    strategies are in another order than the curve's."""
    scores = benefit.aipw_scores(causal_data, ps_covariates=PS, outcome_covariates=PS, modifier="profile_group")
    curve, predicted = benefit.decision_curve_with_bands(
        causal_data, scores, modifiers=["profile_group"], covariates=CLINICAL, thresholds=[0, 0.05, 0.1], n_bootstrap=20
    )
    again = benefit.decision_curve(scores, predicted, thresholds=[0, 0.05, 0.1])
    np.testing.assert_allclose(curve["net_benefit"], again["net_benefit"], atol=1e-15)
    moving = curve["strategy"] != "treat none"
    assert ((curve["conf_low"] <= curve["net_benefit"] + 1e-12) & (curve["net_benefit"] <= curve["conf_high"] + 1e-12))[
        moving
    ].all()
    rows = causal_data.loc[predicted.index]
    arrays = benefit._benefit_arrays(
        rows,
        outcome="live_birth",
        treatment="treatment_arm",
        treated="personalized",
        reference="none",
        modifiers=["profile_group"],
        covariates=CLINICAL,
    )
    pos = np.random.default_rng(2).integers(0, len(rows), len(rows))
    got = benefit._decision_curve_replicate(
        pos,
        designs=benefit._replicate_designs(arrays),
        effect_score=scores.loc[rows.index, "effect_score"].to_numpy(),
        profile=rows["profile_group"].to_numpy(),
        treat_level="dysregulated",
        thresholds=[0, 0.05],
        n_folds=5,
        fold_seed=0,
    )
    oof = benefit._out_of_fold_benefit({k: v[pos] for k, v in arrays.items()}, pos, n_folds=5, seed=0)
    d = scores.loc[rows.index, "effect_score"].to_numpy()[pos]
    prof = rows["profile_group"].to_numpy()[pos]
    want = [
        benefit.net_benefit(d, r, t) for t in [0, 0.05] for r in benefit._rules(oof, prof, "dysregulated", t).values()
    ]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_marker_tests_are_holm_adjusted_across_the_markers(tmp_path):
    """Six markers tested at once: the saved interaction and prognostic tables carry Holm-adjusted
    p-values beside the raw ones (the old tables had raw p-values only, so with six null
    markers one in four runs would show a 'significant' marker at 0.05)."""
    write_cohort(simulate_cohort(300, seed=11), tmp_path / "data")
    ctx = open_context("06_biomarkers", data_dir=tmp_path / "data", run_dir=tmp_path / "run", min_cell_count=0)
    rows = s06.populations(ctx, outcome="live_birth", reference_arm="none")
    covariates = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers"]
    s06.effect_modification(ctx, rows.first, outcome="live_birth", covariates=covariates, reference_arm="none")
    s06.prognostic_markers(ctx, rows.untreated, outcome="live_birth", spline_knots=3, n_bootstrap=5, seed=1)
    plt.close("all")
    tests = pd.read_csv(tmp_path / "run" / "tables" / "interaction_tests_markers.csv")
    np.testing.assert_allclose(tests["p_holm"], holm_p_values(tests["p_value"]), rtol=1e-12)
    assert (tests["p_holm"].dropna() >= tests["p_value"].dropna()).all()
    prog = pd.read_csv(tmp_path / "run" / "tables" / "prognostic_markers.csv")
    np.testing.assert_allclose(prog["p_per_sd_holm"], holm_p_values(prog["p_per_sd"]), rtol=1e-12)
    # Holm by hand on the smallest p: multiplied by the number of markers tested
    m = int(prog["p_per_sd"].notna().sum())
    smallest = prog["p_per_sd"].idxmin()
    assert prog.loc[smallest, "p_per_sd_holm"] == pytest.approx(min(1.0, m * prog.loc[smallest, "p_per_sd"]))


def test_interaction_tests_keep_their_columns_when_no_marker_can_be_estimated():
    """Found on a 150-woman cohort: when every marker's model failed, the tests table had only
    ``marker`` and ``message`` and notebook 06 stopped with KeyError: 'p_value' (Holm across the
    markers). The tables now keep their columns, NaN where nothing was estimated."""
    from analysis.data.cohort import load_cohort
    from analysis.methods.multiplicity import holm_p_values

    shipped = Path(__file__).resolve().parents[1] / "data" / "synthetic"
    first = load_cohort(shipped).population("first", "live_birth").head(12)
    curves, tests = benefit.interaction_tests(
        first, ["unk_cd56_percent", "blood_nk_percent"], outcome="live_birth", covariates=[], reference="none"
    )
    assert list(tests["marker"]) == ["unk_cd56_percent", "blood_nk_percent"] and tests["p_value"].isna().all()
    assert (tests["message"].str.len() > 0).all() and np.isnan(holm_p_values(tests["p_value"])).all()
    assert curves.empty and {"marker", "odds_ratio"} <= set(curves.columns)


def test_table_2_says_how_the_aipw_interval_was_computed():
    """Before, Table 2's footnote called every AIPW interval a percentile bootstrap, also when
    ``aipw_inference`` chose the influence function (above ``aipw_if_above`` patients)."""
    est = _estimates([("lb_first_aipw", "treatment_arm[personalized]", 0.01)]).assign(n_obs=100)
    boot = " ".join(pubtables.model_table(est, min_cell_count=0).footnotes)
    infl = " ".join(pubtables.model_table(est.assign(estimator="aipw_if_rd"), min_cell_count=0).footnotes)
    assert "AIPW: percentile bootstrap CI over patients" in boot
    assert "AIPW: influence-function CI" in infl and "bootstrap" not in infl.split("AIPW:")[1].split(".")[0]
