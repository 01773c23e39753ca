"""Safety methods on hand-made data: denominators, twins as one event, adverse events per woman,
the harm-checked rule, and what leaves the run (masking, Table 3, the Figure 6 caption).

Every expected number is counted by hand from the small frames below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.methods import safety
from analysis.methods.proportions import clopper_pearson_interval, newcombe_difference_interval
from analysis.output import captions, pubtables
from analysis.output.declarations import declaration_for
from analysis.output.disclosure import mask_declared, mask_table


def _transfers():
    """Eight first transfers: arm none (4) and personalized (4) with known pregnancy courses.

    none: a singleton live birth at 270 d; a biochemical loss; a first-trimester miscarriage; hCG negative.
    personalized: twins at 250 d (preterm); a singleton at 240 d (preterm); an ectopic; unknown outcome.
    """
    return pd.DataFrame(
        {
            "patient_id": list("ABCDEFGH"),
            "transfer_number": [1] * 8,
            "treatment_arm": ["none"] * 4 + ["personalized"] * 4,
            "treatment_agents": ["", "", "", "", "prednisolone", "prednisolone;intralipid", "hcg_intrauterine", ""],
            "embryo_stage": ["blastocyst"] * 8,
            "positive_hcg": pd.array([True, True, True, False, True, True, True, True], dtype="boolean"),
            "clinical_pregnancy": pd.array([True, False, True, False, True, True, True, True], dtype="boolean"),
            "miscarriage": [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, np.nan],
            "live_birth": [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, np.nan],
            "pregnancy_location": [
                "intrauterine",
                None,
                "intrauterine",
                None,
                "intrauterine",
                "intrauterine",
                "ectopic",
                "intrauterine",
            ],
            "pregnancy_loss_type": [
                "none",
                "biochemical",
                "miscarriage_first_trimester",
                None,
                "none",
                "none",
                "ectopic",
                None,
            ],
            "fetal_heartbeats": [1, 0, 1, np.nan, 2, 1, 0, 1],
            "gestational_age_days": [270, np.nan, np.nan, np.nan, 250, 240, np.nan, np.nan],
        }
    )


def _births():
    """A's singleton (3,400 g), E's twins (one 1,500 g with an anomaly, one 2,400 g), F's singleton (2,600 g)."""
    return pd.DataFrame(
        {
            "patient_id": ["A", "E", "E", "F"],
            "transfer_number": [1, 1, 1, 1],
            "baby_number": [1, 1, 2, 1],
            "birthweight_g": [3400.0, 1500.0, 2400.0, 2600.0],
            "neonatal_death": pd.array([False, False, False, False], dtype="boolean"),
            "major_congenital_anomaly": pd.array([False, True, False, False], dtype="boolean"),
        }
    )


@pytest.fixture()
def outcomes():
    return safety.pregnancy_outcomes(_transfers(), _births())


def test_twins_are_one_pregnancy_event(outcomes):
    """E's twins: one live birth, one multiple pregnancy, one anomaly event (any baby), two babies.
    Catches counting babies instead of deliveries (2 live births, 2 low-birthweight events)."""
    e = outcomes.set_index("patient_id").loc["E"]
    assert e["n_babies"] == 2 and e["multiple_birth"] == 1 and e["multiple_pregnancy"] == 1
    assert e["major_congenital_anomaly"] == 1 and e["low_birthweight"] == 1
    table = safety.core_outcome_table(outcomes, by="treatment_arm")
    row = table.set_index(["group", "outcome", "denominator"])
    assert row.loc[("personalized", "low_birthweight", "live_birth"), ["n_events", "n"]].tolist() == [1, 2]
    assert row.loc[("personalized", "major_congenital_anomaly", "live_birth"), ["n_events", "n"]].tolist() == [1, 2]


def test_each_loss_is_counted_over_its_own_denominator(outcomes):
    """none: 3 positive hCG, 2 clinical pregnancies; 1 biochemical loss per positive hCG (1/3), 1
    miscarriage per clinical pregnancy (1/2) and per positive hCG (1/3). Unknown outcomes (H) are
    left out of every denominator. Catches losses over all transfers (1/4) or biochemical losses
    counted among clinical pregnancies (where there can be none)."""
    row = safety.core_outcome_table(outcomes, by="treatment_arm").set_index(["group", "outcome", "denominator"])
    assert row.loc[("none", "biochemical_loss", "positive_hcg"), ["n_events", "n"]].tolist() == [1, 3]
    assert row.loc[("none", "miscarriage", "clinical_pregnancy"), ["n_events", "n"]].tolist() == [1, 2]
    assert row.loc[("none", "miscarriage", "positive_hcg"), ["n_events", "n"]].tolist() == [1, 3]
    assert row.loc[("none", "any_pregnancy_loss", "positive_hcg"), ["n_events", "n"]].tolist() == [2, 3]
    assert row.loc[("personalized", "ectopic_pregnancy", "clinical_pregnancy"), ["n_events", "n"]].tolist() == [1, 3]
    assert row.loc[("personalized", "preterm_birth", "transfer"), ["n_events", "n"]].tolist() == [2, 3]
    assert row.loc[("personalized", "preterm_birth", "live_birth"), ["n_events", "n"]].tolist() == [2, 2]
    assert row.loc[("none", "preterm_birth", "live_birth"), ["n_events", "n"]].tolist() == [0, 1]
    low, high = clopper_pearson_interval([1], [3])
    r = row.loc[("none", "biochemical_loss", "positive_hcg")]
    assert r["conf_low_proportion"] == pytest.approx(low[0]) and r["conf_high_proportion"] == pytest.approx(high[0])


def test_small_for_gestational_age_uses_the_hadlock_10th_centile(outcomes):
    """Hadlock 10th centile at 250 d is about 2,280 g and at 240 d about 2,000 g: E's 1,500 g twin is
    small, F's 2,600 g baby is not, A's 3,400 g at 270 d is not."""
    sga = outcomes.set_index("patient_id")["small_for_gestational_age"]
    assert sga["E"] == 1 and sga["F"] == 0 and sga["A"] == 0


def test_unrecorded_outcomes_are_flagged_not_zero():
    """Without the pregnancy columns and births, the loss types, preterm birth and baby outcomes are
    reported as not recorded (no numbers), never as zero events."""
    bare = _transfers().drop(
        columns=["pregnancy_location", "pregnancy_loss_type", "fetal_heartbeats", "gestational_age_days"]
    )
    table = safety.core_outcome_table(safety.pregnancy_outcomes(bare, None))
    rec = table.set_index(["outcome", "denominator"])["recorded"]
    assert not rec[("preterm_birth", "live_birth")] and not rec[("major_congenital_anomaly", "live_birth")]
    assert not rec[("biochemical_loss", "positive_hcg")]
    assert rec[("live_birth", "transfer")] and rec[("miscarriage", "clinical_pregnancy")]
    assert table.loc[~table["recorded"], "n_events"].isna().all()


def test_woman_outcomes_count_a_woman_once():
    """A woman with a miscarriage at transfer 1 and a live birth at 2 counts once for each, in the
    group of her first arm (intention to treat)."""
    t = pd.DataFrame(
        {
            "patient_id": ["A", "A", "B"],
            "transfer_number": [1, 2, 1],
            "treatment_arm": ["none", "personalized", "none"],
            "live_birth": [0.0, 1.0, 0.0],
            "miscarriage": [1.0, 0.0, 0.0],
        }
    )
    women = safety.woman_outcomes(t.assign(positive_hcg=1.0, clinical_pregnancy=[1.0, 1.0, 0.0]), group="treatment_arm")
    assert women.set_index("patient_id").loc["A", ["live_birth", "miscarriage", "treatment_arm"]].tolist() == [
        1.0,
        1.0,
        "none",
    ]


def test_harm_differences_are_newcombe(outcomes):
    """preterm per live birth, personalized 2/2 against none 0/1: RD 1.0 with the Newcombe limits of
    those counts; by agent, prednisolone is given in E and F (2/2)."""
    d = safety.harm_differences(outcomes, harms=[("preterm_birth", "live_birth")])
    row = d[d["comparison"] == "personalized vs none"].iloc[0]
    _, low, high = newcombe_difference_interval(2, 2, 0, 1)
    assert row["rd_proportion"] == 1.0
    assert row["rd_low_proportion"] == pytest.approx(low[0]) and row["rd_high_proportion"] == pytest.approx(high[0])
    by_agent = safety.harm_differences(outcomes, harms=[("preterm_birth", "live_birth")], contrast="agent")
    pred = by_agent[by_agent["comparison"] == "prednisolone vs none"].iloc[0]
    assert (pred["n_events_treated"], pred["n_treated"]) == (2, 2)


def test_adverse_events_count_women_not_events():
    """Two events of one woman on prednisolone count one woman with an event (1 of 2 treated, 50 per
    100) and two events; a woman never given the agent is not in its denominator."""
    transfers = pd.DataFrame(
        {"patient_id": ["A", "B", "C"], "treatment_agents": ["prednisolone", "prednisolone;lmwh", ""]}
    )
    events = pd.DataFrame(
        {
            "patient_id": ["A", "A", "B"],
            "agent": ["prednisolone", "prednisolone", "lmwh"],
            "severity": ["mild", "severe", "mild"],
            "serious": pd.array([False, True, False], dtype="boolean"),
        }
    )
    table = safety.adverse_event_table(events, transfers).set_index("agent")
    assert table.loc["prednisolone", ["n_women_treated", "n_women_with_event", "n_events", "n_serious"]].tolist() == [
        2,
        1,
        2,
        1,
    ]
    assert table.loc["prednisolone", "women_with_event_percent"] == 50
    assert table.loc["lmwh", ["n_women_treated", "n_women_with_event"]].tolist() == [1, 1]
    low, high = clopper_pearson_interval([1], [2])
    assert table.loc["prednisolone", "conf_low_percent"] == pytest.approx(100 * low[0])
    assert safety.adverse_event_table(None, transfers).empty


def _benefit(low, rd, high, verdict=None):
    """One row of notebook 06's rule table (benefit.rule_table): the verdict follows the interval."""
    return pd.DataFrame(
        {
            "grouping": ["profile_group"],
            "group": ["dysregulated"],
            "n_treated": [200],
            "n_untreated": [200],
            "risk_difference": [rd],
            "conf_low": [low],
            "conf_high": [high],
            "p_adjusted": [0.01 if low > 0 else 0.4],
            "multiplicity": ["holm"],
            "verdict": [verdict or ("treat" if low > 0 else "no rule")],
        }
    )


def _harm(rd, low, high, outcome="preterm_birth"):
    return pd.DataFrame(
        {
            "stratum": ["dysregulated"],
            "outcome": [outcome],
            "n_events_treated": [20],
            "n_events_reference": [12],
            "rd_proportion": [rd],
            "rd_low_proportion": [low],
            "rd_high_proportion": [high],
        }
    )


def test_harm_checked_rule_recommends_only_when_gain_exceeds_harm():
    """Hand cases: (1) gain 10 (4 to 16) per 100, harm 1 (−1 to 3): net 9, lower limit 9 −
    sqrt(6² + 2²) = 2.68 > 0: recommended. (2) same gain, harm 8 (2 to 14): net 2, lower limit
    2 − sqrt(6² + 6²) < 0: benefit shown, not recommended. (3) no benefit. (4) a declared harm
    with no estimate: fails closed. Catches a rule that ignores harms (case 2 recommended) or
    that needs only the harm interval to cover zero."""
    ok = safety.harm_checked_rule(_benefit(0.04, 0.10, 0.16), _harm(0.01, -0.01, 0.03), harm_outcomes=["preterm_birth"])
    assert ok["recommended"].tolist() == [True]
    table = safety.benefit_harm_table(
        _benefit(0.04, 0.10, 0.16), _harm(0.01, -0.01, 0.03), harm_outcomes=["preterm_birth"]
    )
    assert table["net_low_percent"].iloc[0] == pytest.approx(9 - np.sqrt(6**2 + 2**2))
    harmed = safety.harm_checked_rule(
        _benefit(0.04, 0.10, 0.16), _harm(0.08, 0.02, 0.14), harm_outcomes=["preterm_birth"]
    )
    assert harmed[["benefit_shown", "recommended"]].iloc[0].tolist() == [True, False]
    assert "cannot be excluded" in harmed["display"].iloc[0]
    none = safety.harm_checked_rule(
        _benefit(-0.02, 0.03, 0.08), _harm(0.0, -0.01, 0.01), harm_outcomes=["preterm_birth"]
    )
    assert none["recommended"].tolist() == [False] and "no benefit shown" in none["display"].iloc[0]
    missing = safety.harm_checked_rule(
        _benefit(0.04, 0.10, 0.16), _harm(0.01, -0.01, 0.03), harm_outcomes=["preterm_birth", "any_pregnancy_loss"]
    )
    assert missing["recommended"].tolist() == [False] and "not estimable" in missing["display"].iloc[0]


def test_harm_check_follows_the_verdict_of_notebook_06s_rule_not_the_raw_interval():
    """Issue 17 part 4: the harm check weighs notebook 06's supported rule, so a group whose
    unadjusted interval lies above zero but whose multiplicity-adjusted p-value does not pass
    alpha (verdict "no rule") is not recommended even though every harm is excluded, and a group
    the rule marks as harmed says so. The old check, on a crude first-transfer difference with
    its own criterion (lower limit above zero), recommended the first group."""
    adjusted_away = safety.harm_checked_rule(
        _benefit(0.01, 0.08, 0.15, verdict="no rule"), _harm(0.0, -0.01, 0.01), harm_outcomes=["preterm_birth"]
    )
    row = adjusted_away.iloc[0]
    assert row["harm_excluded"] and not row["benefit_shown"] and not row["recommended"]
    assert row["rule_verdict"] == "no rule" and "rule: no rule" in row["display"]
    harmed = safety.harm_checked_rule(
        _benefit(-0.15, -0.08, -0.01, verdict="do not treat (harm)"),
        _harm(0.0, -0.01, 0.01),
        harm_outcomes=["preterm_birth"],
    )
    assert not harmed["recommended"].iloc[0] and "fewer live births" in harmed["display"].iloc[0]
    with pytest.raises(ValueError, match="rule table lacks"):
        safety.harm_checked_rule(
            _benefit(0.01, 0.08, 0.15).drop(columns="verdict"), _harm(0.0, -0.01, 0.01), harm_outcomes=["preterm_birth"]
        )


def test_small_counts_mask_the_proportions_and_verdicts_of_their_rows(outcomes):
    """With k = 10 every saved safety table masks counts 1–9 and, in the same row, the proportions,
    differences and the verdict text, so no rate recovers a small count."""
    core = mask_table(safety.core_outcome_table(outcomes, by="treatment_arm"), 10)
    small = core[(core["n_events"].astype(str) == "<10") & core["recorded"]]
    assert len(small) and (small["conf_high_proportion"] == "<10").all() and (small["proportion"] == "<10").all()
    harms = mask_table(safety.harm_differences(outcomes, harms=[("preterm_birth", "live_birth")]), 10)
    assert (harms["rd_low_proportion"] == "<10").all()
    rule = safety.harm_checked_rule(
        _benefit(0.04, 0.10, 0.16).assign(n_treated=5), _harm(0.01, -0.01, 0.03), harm_outcomes=["preterm_birth"]
    )
    assert mask_table(rule, 10)["display"].tolist() == ["<10"]
    few_harms = _harm(0.01, -0.01, 0.03).assign(n_events_treated=3)
    rule = safety.harm_checked_rule(_benefit(0.04, 0.10, 0.16), few_harms, harm_outcomes=["preterm_birth"])
    assert rule["fewest_harm_events"].tolist() == [3]
    masked, _ = mask_declared(rule, declaration_for("harm_checked_rule"), 10, name="harm_checked_rule")
    # as saved: the declaration names the harm count, so the count and the verdict's numbers go
    assert masked["fewest_harm_events"].tolist() == ["<10"] and not any(
        ch.isdigit() for ch in masked["display"].iloc[0]
    )


def test_table_three_in_four_formats(outcomes, tmp_path):
    """Table 3 from the saved (masked) core-outcome table: events/denominator with the exact
    interval, masked cells shown as ``<k``, unrecorded outcomes said so; written as CSV, HTML,
    LaTeX and Word."""
    women = safety.woman_outcomes(outcomes, group="treatment_arm")
    saved = mask_table(safety.core_outcome_table(women, by="treatment_arm", unit="woman"), 2)
    path = tmp_path / "core.csv"
    saved.to_csv(path, index=False)
    t = pubtables.table_three(pd.read_csv(path, dtype=str, keep_default_na=False), min_cell_count=2)
    frame = t.frame.set_index(["Outcome", "Denominator"])
    assert frame.loc[("Live birth", "per woman"), "No immunotherapy"].startswith("<2/4")
    assert frame.loc[("Live birth", "per woman"), "Personalized"].startswith("2/3 (66.7%;")
    assert frame.loc[("Neonatal intensive care", "per live birth"), "Personalized"] == "not recorded"
    paths = pubtables.write_table_formats(t, tmp_path / "publication")
    assert sorted(p.suffix for p in paths) == [".csv", ".docx", ".html", ".tex"]


def test_figure_6_caption_masks_small_counts():
    """Agents whose preterm counts are small are named as masked in the caption, not given numbers."""
    rows = pd.DataFrame(
        {
            "comparison": ["prednisolone vs none", "ivig vs none"],
            "n_events_treated": [44, 2],
            "n_events_reference": [26, 26],
            "rd_proportion": [0.084, 0.02],
            "rd_low_proportion": [0.027, -0.07],
            "rd_high_proportion": [0.142, 0.24],
        }
    )
    rule = pd.DataFrame({"group": ["dysregulated"], "recommended": [True]})
    text = captions.figure_6_caption(rows, rule, n_women=1427, harm_outcome="preterm_birth", min_cell_count=10)
    assert "prednisolone +8.4 (+2.7 to +14.2)" in text and "ivig masked" in text and "+2.0" not in text
    assert "dysregulated profiles" in text


def test_birthweight_by_arm_and_plurality(outcomes):
    """Babies, not deliveries: E's twins (1,500 and 2,400 g) are two multiple-birth babies with
    median 1,950 g; F's 2,600 g and A's 3,400 g are singletons of their arms."""
    table = safety.birthweight_table(_births(), outcomes, by="treatment_arm").set_index(["group", "plurality"])
    assert table.loc[("personalized", "multiple"), ["n", "median_g"]].tolist() == [2, 1950.0]
    assert table.loc[("personalized", "singleton"), ["n", "median_g"]].tolist() == [1, 2600.0]
    assert table.loc[("none", "singleton"), ["n", "median_g"]].tolist() == [1, 3400.0]
    assert safety.birthweight_table(None, outcomes, by="treatment_arm").empty


def test_table_three_shows_secondary_suppression_as_published():
    """Found by the disclosure sweep (150 women, k = 10): a core-outcome row whose count was
    hidden by secondary suppression ("masked", not "<k") stopped the report with ValueError:
    could not convert string to float: 'masked'. Such cells are shown as published."""
    core = pd.DataFrame(
        {
            "outcome": ["live_birth", "live_birth", "live_birth"],
            "denominator": ["woman"] * 3,
            "group": ["none", "empirical", "personalized"],
            "n_events": ["masked", "12", "<10"],
            "n": ["40", "40", "38"],
            "proportion": ["masked", "masked", "masked"],
            "conf_low_proportion": ["masked"] * 3,
            "conf_high_proportion": ["masked"] * 3,
            "recorded": ["True"] * 3,
        }
    )
    cells = [pubtables._core_cell(r, 0.95) for _, r in core.iterrows()]
    assert cells == ["masked/40", "12/40 (masked)", "<10/38"]


def test_agent_indicators_split_each_distinct_list_once():
    """Would catch a Python call per transfer (the old ``map`` of a lambda over the split lists:
    two million calls at 100k transfers): the work must not grow with the rows, and the columns
    must be those of splitting every row's list."""
    import cProfile
    import pstats

    from analysis.methods.safety import AGENTS, agent_indicators

    lists = np.array(["", "ivig", "ivig;g_csf", "intralipid;prednisolone", None, "g_csf;ivig;tacrolimus"], object)
    rng = np.random.default_rng(0)

    def frame(n):
        return pd.DataFrame({"treatment_agents": lists[rng.integers(0, len(lists), n)]})

    def calls(data):
        profile = cProfile.Profile()
        profile.enable()
        agent_indicators(data)
        profile.disable()
        return pstats.Stats(profile).total_calls

    small, large = frame(100), frame(20_000)
    calls(small)  # one-time costs
    assert calls(large) - calls(small) < 200
    got = agent_indicators(large)
    for agent in AGENTS:
        expected = [float(agent in (text or "").split(";")) for text in large["treatment_agents"]]
        assert got[f"agent_{agent}"].tolist() == expected


def test_harm_differences_without_a_recorded_harm_keep_their_columns():
    """Would catch the KeyError 'comparison' that stopped notebook 07 on a cohort recording none
    of the harm outcomes (the lean cohort of test_optional_columns)."""
    frame = pd.DataFrame({"treatment_arm": ["none", "personalized", "none"], "live_birth": [1.0, 0.0, 1.0]})
    out = safety.harm_differences(frame, harms=[("miscarriage", "unit")], reference="none")
    assert out.empty and list(out.columns) == safety.HARM_DIFFERENCE_COLUMNS


def test_pregnancy_outcomes_add_the_deliveries_without_copying_the_transfers_again(small_cohort_dir):
    """Each transfer row carries every cohort column, so a copy of the frame is what the
    outcomes cost at registry size. With a births table, the delivery columns are looked up by
    key: the peak allocation stays under the one copy the result needs (the earlier left merge
    copied the whole frame again: 1.7 frames on the shipped cohort)."""
    import tracemalloc

    from analysis.data.cohort import load_cohort

    cohort = load_cohort(small_cohort_dir)
    assert cohort.births is not None and len(cohort.births)
    frame = cohort.population("all", "live_birth")
    frame_bytes = frame.memory_usage(deep=True).sum()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = safety.pregnancy_outcomes(frame, cohort.births)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # the deliveries land on their transfers: babies counted per transfer as in the births table
    got = out.set_index(["patient_id", "transfer_number"])["n_babies"]
    counted = cohort.births.groupby(["patient_id", "transfer_number"]).size().reindex(got.index, fill_value=0)
    assert counted.sum() > 0 and (got == counted).all()
    assert peak < 1.2 * frame_bytes, peak / frame_bytes
