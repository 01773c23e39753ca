"""Disclosure control against an intruder: secondary suppression on hand-made tables whose
protecting cells are known, derived values of hidden counts, curve coarsening on a hand-made
Kaplan–Meier curve, the declaration every saved table needs, and the intruder's routes on tables
built to leak by each of them."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection

from analysis.core.exceptions import DisclosureError
from analysis.output import session
from analysis.output.audit import audit_run, audit_table, audit_text
from analysis.output.declarations import DECLARATIONS, declaration_for
from analysis.output.disclosure import (
    SUPPRESSED,
    GroupSum,
    TableDisclosure,
    at_risk_from_curves,
    calibration_groups,
    coarse_roc_points,
    coarsen_curves,
    hide_close_model_counts,
    mask_declared,
    mask_estimates,
    mask_table,
)
from analysis.output.plotting import biomarkers, core
from analysis.run.cli import main
from analysis.study.context import open_context

K = 10
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "synthetic"
LABEL = f"<{K}"
REPO_DATA = Path(__file__).resolve().parents[1] / "data" / "synthetic"


def _hidden(frame: pd.DataFrame, column: str) -> list[int]:
    return [i for i, v in enumerate(frame[column]) if isinstance(v, str)]


# -- secondary suppression ---------------------------------------------------------------------


def test_one_small_cell_of_a_row_with_its_total_is_protected_by_the_smallest_other_cell():
    """A row of counts with its total: the small cell (3) is primary; the intruder would get it
    back as total − rest, so the smallest other positive cell (12, not 0 and not 40) is hidden too.
    The old design (mask by column name, no secondary suppression) published 12, 40, 45 and the
    total 100, so 3 = 100 − 97: this test fails on it."""
    t = pd.DataFrame({"group": ["a"] * 5, "level": list("vwxyz"), "n": [3, 0, 12, 40, 45], "total": [100] * 5})
    t["percent"] = 100 * t["n"] / t["total"]
    decl = TableDisclosure(
        counts=("n", "total"),
        denominators={"n": "total"},
        derived={"percent": ("n", "total")},
        group_sums=(GroupSum("n", ("group",), total="total"),),
    )
    out, report = mask_declared(t, decl, K)
    assert out["n"].tolist() == [LABEL, 0, SUPPRESSED, 40, 45]
    assert _hidden(out, "percent") == [0, 2]
    assert (report.primary, report.secondary, report.derived) == (1, 1, 2)
    old = mask_table(t, K)
    assert old["n"].tolist()[2:] == [12, 40, 45]  # the old design: 3 = 100 − 12 − 40 − 45
    assert audit_table(old.astype(str), "t", K, decl)  # ... and the intruder says so
    assert not audit_table(out.astype(str), "t", K, decl)


def test_a_small_cell_of_a_two_way_table_is_protected_by_a_rectangle():
    """A 3 × 3 table with known margins and one small cell (3 at row 0, column 1): the protecting
    pattern of τ-ARGUS / sdcTable's heuristic is the rectangle through the smallest cell of its row
    (20) and column (40), closed at (1, 0) = 25. Masking the 3 alone, or a line through it, leaves
    it recoverable from a margin."""
    t = pd.DataFrame({"row": ["r0", "r1", "r2"], "a": [20, 25, 35], "b": [3, 40, 45], "c": [30, 50, 60]})
    out, report = mask_declared(t, TableDisclosure(crosstab=True), K)
    hidden = {(i, c) for c in "abc" for i in _hidden(out, c)}
    assert hidden == {(0, "b"), (0, "a"), (1, "b"), (1, "a")}
    assert out.loc[0, "b"] == LABEL and report.secondary == 3
    assert not audit_table(out.astype(str), "t", K, TableDisclosure(crosstab=True))


def test_a_complement_below_k_is_masked_and_not_recomputable():
    """95 events of 100: showing 95 and 100 gives the 5 non-events back; the count is masked (and
    its risk), the old design showed both."""
    t = pd.DataFrame({"arm": ["x", "y"], "n": [100, 80], "events": [95, 30]})
    t["risk"] = t["events"] / t["n"]
    decl = TableDisclosure(counts=("n", "events"), denominators={"events": "n"}, derived={"risk": ("events", "n")})
    out, report = mask_declared(t, decl, K)
    assert out.loc[0, "events"] == SUPPRESSED and out.loc[0, "risk"] == SUPPRESSED
    assert out.loc[1, "events"] == 30 and report.complement == 1
    assert any(f["route"] == "complement" for f in audit_table(t.astype(str), "t", K, decl))
    assert not audit_table(out.astype(str), "t", K, decl)


def test_benefit_counts_and_everything_derived_from_them_are_masked():
    """The supported-rule table (AIPW risks by group): the old column-name pattern masks a small
    n_treated but leaves its risk (n × p gives the count of births back) and the group total
    (n − n_untreated gives n_treated back); the declaration masks the risk, everything computed
    from it, and a cell that protects the masked count from the row sum."""
    t = pd.DataFrame(
        {
            "grouping": ["profile_group"] * 2,
            "group": ["balanced", "dysregulated"],
            "n": [44, 700],
            "n_treated": [4, 300],
            "n_untreated": [40, 400],
            "risk_treated": [0.25, 0.40],
            "risk_untreated": [0.30, 0.28],
        }
    )
    t["risk_difference"] = t["risk_treated"] - t["risk_untreated"]
    for c in ("conf_low", "conf_high", "nnt", "nnt_low", "nnt_high"):
        t[c] = t["risk_difference"] * 1.1
    t["nnt_kind"] = "NNTB"
    t["nnt_display"] = "NNTB 12"
    t["verdict"] = "no rule"
    old = mask_table(t, K)
    assert old.loc[0, "risk_treated"] == 0.25  # the old pattern left the risk of a masked count
    assert old.loc[0, "n"] - old.loc[0, "n_untreated"] == 4  # and the total minus the rest
    out = mask_declared(t, declaration_for("benefit"), K)[0]
    assert out.loc[0, "n_treated"] == LABEL
    assert SUPPRESSED in (out.loc[0, "n"], out.loc[0, "n_untreated"])  # the row sum no longer pins it
    for c in ("risk_treated", "risk_difference", "conf_low", "nnt", "nnt_kind", "nnt_display"):
        assert out.loc[0, c] == SUPPRESSED, c
    assert out.loc[1, "risk_treated"] == t.loc[1, "risk_treated"]
    assert not audit_table(out.astype(str), "benefit", K)


def test_extremes_of_too_few_people_are_masked():
    """A minimum or maximum is one person's value; a 1st percentile of 300 people is 3 people's."""
    t = pd.DataFrame({"arm": ["a", "b"], "n": [300, 2000], "min": [0.1, 0.2], "p01": [0.15, 0.25], "median": [1, 1]})
    out, report = mask_declared(
        t, TableDisclosure(counts=("n",), extremes={"min": 0.0, "p01": 0.01}, extremes_n="n"), K
    )
    assert out["min"].tolist() == [SUPPRESSED, SUPPRESSED]
    assert out["p01"].tolist() == [SUPPRESSED, 0.25]  # 1% of 2000 = 20 people ≥ 10
    assert out["median"].tolist() == [1, 1] and report.extremes == 3


def test_no_control_returns_the_same_table():
    """min_cell_count 0 publishes exactly what was computed (bytes of an unmasked run unchanged)."""
    t = pd.DataFrame({"n": [3, 40], "events": [1, 2]})
    for decl in DECLARATIONS.values():
        assert mask_declared(t, decl, 0)[0] is t


# -- curves ------------------------------------------------------------------------------------


def _hand_made_curve() -> pd.DataFrame:
    """Kaplan–Meier of 40 patients: (time, at risk just before, events, censored at that time)."""
    steps = [
        (5, 40, 3, 0),
        (12, 37, 4, 1),  # 1 censored at day 12
        (20, 32, 3, 0),
        (40, 29, 2, 0),
        (45, 27, 9, 0),
        (70, 18, 5, 0),
        (95, 13, 2, 6),
        (100, 5, 3, 0),
    ]
    rows, s = [], 1.0
    for t, n, d, _c in steps:
        s *= 1 - d / n
        rows.append(
            {
                "group": "km:arm=x",
                "time_days": t,
                "estimate": 1 - s,
                "conf_low": np.nan,
                "conf_high": np.nan,
                "n_at_risk": n,
                "n_events": d,
            }
        )
    return pd.DataFrame(rows)


def test_km_coarsening_on_a_hand_made_curve():
    """k = 5, 30-day intervals. (0, 30]: 10 events, but 40 − 29 − 10 = 1 censored: merged with
    (30, 60] → 21 events, 40 − 18 − 21 = 1 censored still: merged with (60, 90] → 26 events,
    40 − 13 − 26 = 1: merged with (90, 120]: 31 events and nothing follows (the curve ends at
    120 with at least 5 at risk at the start of the merged interval). The raw table gives back
    1 censored patient and every step's events; the coarsened one nothing."""
    curve = _hand_made_curve()
    out = coarsen_curves(curve, min_cell_count=5, interval_days=30)
    assert out["time_days"].tolist() == [0.0, 120.0]
    assert out["n_at_risk"].tolist() == [40, 40]
    assert out["n_events"].tolist() == [0, 31]
    assert math.isclose(out["estimate"].iloc[-1], curve["estimate"].iloc[-1])
    routes = {f["route"] for f in audit_table(curve.astype(str), "survival", 5)}
    assert {"direct", "curve step (censored between rows)"} <= routes
    # the old design masked the small event counts but kept the daily estimate and at-risk counts:
    # every masked step comes back as n × (1 − S(t)/S(t−))
    old = mask_table(curve, 5)
    assert (old["n_events"] == "<5").sum() == 6
    steps = [f for f in audit_table(old.astype(str), "survival", 5) if f["route"].startswith("curve step (n ×")]
    assert sorted(f["value"] for f in steps) == [2, 2, 3, 3, 3, 4]
    assert not audit_table(out.astype(str), "survival", 5)


def test_km_coarsening_cuts_the_curve_where_fewer_than_k_remain():
    """No censoring: each 30-day interval stands alone once it holds k events; the interval
    starting with fewer than k at risk is cut."""
    rows, n, s = [], 60, 1.0
    for t, d in [(10, 12), (40, 11), (70, 15), (100, 14), (130, 4)]:
        s *= 1 - d / n
        rows.append(
            {
                "group": "km:a",
                "time_days": t,
                "estimate": 1 - s,
                "conf_low": 0,
                "conf_high": 0,
                "n_at_risk": n,
                "n_events": d,
            }
        )
        n -= d
    out = coarsen_curves(pd.DataFrame(rows), min_cell_count=10, interval_days=30)
    assert out["time_days"].tolist() == [0.0, 30.0, 60.0, 90.0, 120.0]
    assert out["n_at_risk"].tolist() == [60, 60, 48, 37, 22]
    assert (out["n_at_risk"] >= 10).all() and (out["n_events"].iloc[1:] >= 10).all()
    at_risk = at_risk_from_curves(out)  # the figure's row: counts at interval starts, blank from the cut
    assert at_risk["time_days"].tolist() == [0.0, 30.0, 60.0, 90.0, 120.0]
    assert at_risk["n_at_risk"].tolist()[:4] == [60, 48, 37, 22] and np.isnan(at_risk["n_at_risk"].iloc[4])


# -- declarations ------------------------------------------------------------------------------


def test_saving_an_undeclared_table_is_refused(tmp_path):
    """Fail closed: a table without a declaration, or with an undeclared count column, is not written."""
    paths = session.run_paths(tmp_path, min_cell_count=0)
    with pytest.raises(DisclosureError, match="no disclosure declaration"):
        session.save_table(pd.DataFrame({"n": [1]}), "a_new_table", paths)
    with pytest.raises(DisclosureError, match="n_extra"):
        session.save_table(pd.DataFrame({"n_extra": [1]}), "exclusions", paths)
    assert not list(paths.tables.glob("*.csv"))
    out = session.save_table(
        pd.DataFrame({"n": [3, 50]}), "a_new_table", paths, declaration=TableDisclosure(counts=("n",))
    )
    assert out["n"].tolist() == [3, 50]


def test_masked_runs_log_what_was_masked(tmp_path):
    paths = session.run_paths(tmp_path, min_cell_count=K)
    session.save_table(pd.DataFrame({"n": [3, 50]}), "t", paths, declaration=TableDisclosure(counts=("n",)))
    assert '"primary": 1' in (tmp_path / "disclosure" / "t.json").read_text()


def test_the_text_scanner_reads_counts_written_as_counts():
    assert sorted({f["value"] for f in audit_text("Of 300 patients, 4 patients (1.3%) and n = 7", "c", K)}) == [4, 7]
    assert not audit_text("At 2 years: 35.1% (30.2–40.0)", "c", K)


def test_a_small_exclusion_of_the_flow_is_not_given_back_by_the_counts_around_it():
    """1,468 first transfers, 6 excluded, 1,462 analysed: the old design showed "<10" next to
    1,468 and 1,462, so 1,468 − 1,462 = 6. The flow's relations (an included row = its
    exclusions + the next row) hide the smallest other cell of that relation."""
    flow = pd.DataFrame(
        {
            "step": [1, 2, 3, 4, 5, 6],
            "stage": ["cohort", "cohort", "analysed", "first_transfer", "first_transfer", "first_transfer"],
            "kind": ["included", "excluded", "included", "included", "excluded", "analysed"],
            "reason": list("abcdef"),
            "n_patients": [1500, 32, 1468, 1468, 6, 1462],
            "n_transfers": [2903, 0, 2903, 1468, 6, 1462],
        }
    )
    decl = declaration_for("exclusions")
    old = mask_table(flow, K)
    assert {f["value"] for f in audit_table(old.astype(str), "exclusions", K)} == {6}
    out, report = mask_declared(flow, decl, K)
    assert out.loc[4, "n_patients"] == LABEL and out.loc[5, "n_patients"] == SUPPRESSED
    assert out.loc[3, "n_patients"] == 1468 and report.secondary == 2
    assert not audit_table(out.astype(str), "exclusions", K)


def test_a_share_whose_count_is_small_is_masked():
    """3 of 300 outside the propensity-score support, published as a share next to n: n × p = 3."""
    t = pd.DataFrame({"arm": ["a", "b"], "n": [300, 200], "outside_support": [0.01, 0.1]})
    decl = TableDisclosure(counts=("n",), proportions={"outside_support": "n"})
    assert {f["value"] for f in audit_table(t.astype(str), "t", K, decl)} == {3}
    out = mask_declared(t, decl, K)[0]
    assert out["outside_support"].tolist() == [SUPPRESSED, 0.1]
    assert not audit_table(out.astype(str), "t", K, decl)


# -- patient-level plots -------------------------------------------------------------------------


def _patients(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "immune_profile": rng.choice(["balanced", "over_activated", "under_activated", "mixed"], n),
            "il15_fn14_ratio": rng.lognormal(0, 1, n),
            "il18_tweak_ratio": rng.lognormal(0, 1, n),
        }
    )


def test_patient_level_plots_draw_no_patient_with_control():
    """With k > 0 a strip plot draws no point and its whiskers end inside the data (a percentile
    with k patients beyond it, never the minimum or maximum); a scatter becomes hexagonal bins of
    at least k patients; Schoenfeld residuals become means of at least k events. Without control
    every patient is drawn (the old design drew them whatever the threshold)."""
    data = _patients()
    fig, (a, b, c, d) = plt.subplots(1, 4)
    core.plot_marker_distribution(data, marker="il15_fn14_ratio", ax=a, min_cell_count=0)
    assert sum(len(p.get_offsets()) for p in a.collections if isinstance(p, PathCollection)) == len(data)
    core.plot_marker_distribution(data, marker="il15_fn14_ratio", ax=b, min_cell_count=K)
    assert not [p for p in b.collections if isinstance(p, PathCollection)]
    lowest = min(line.get_ydata().min() for line in b.get_lines() if len(line.get_ydata()))
    assert lowest > data["il15_fn14_ratio"].min()
    core.plot_cutoff_scatter(data, x="il15_fn14_ratio", y="il18_tweak_ratio", ax=c, min_cell_count=K)
    hexes = [p for p in c.collections if isinstance(p, PolyCollection)]
    assert hexes and (hexes[0].get_array() >= K).all()
    assert not [p for p in c.collections if isinstance(p, PathCollection) and not isinstance(p, PolyCollection)]
    res = pd.DataFrame({"time": np.arange(40.0), "residual": np.sin(np.arange(40.0))})
    core.plot_schoenfeld(res, covariate="x", ax=d, min_cell_count=K)
    points = [p for p in d.collections if isinstance(p, PathCollection)]
    assert len(points[0].get_offsets()) == 4  # 40 events in 4 groups of 10
    plt.close(fig)


def test_the_audit_command_exits_1_on_a_leak_0_on_none_and_2_on_a_wrong_folder(tmp_path, capsys):
    """`python -m analysis audit RUN_DIR` on a hand-made run folder: a rates table with 4 events
    of 40 (and its percentage) leaks; masked by its declaration it does not."""
    (tmp_path / "tables").mkdir()
    (tmp_path / "manifest.json").write_text('{"parameters": {"min_cell_count": 10}}')
    rates = pd.DataFrame({"profile_group": ["a", "b"], "treatment_arm": ["x", "x"], "n": [40, 50], "events": [4, 20]})
    rates["percent"] = 100 * rates["events"] / rates["n"]
    rates.to_csv(tmp_path / "tables" / "rates_first_by_profile_arm.csv", index=False)
    assert main(["audit", str(tmp_path)]) == 1
    assert "rates_first_by_profile_arm.csv: row 0, events: direct: 4" in capsys.readouterr().out
    masked = mask_declared(rates, declaration_for("rates_first_by_profile_arm"), K)[0]
    masked.to_csv(tmp_path / "tables" / "rates_first_by_profile_arm.csv", index=False)
    assert main(["audit", str(tmp_path)]) == 0
    assert main(["audit", str(tmp_path / "nope")]) == 2


# -- ROC and calibration figures ------------------------------------------------------------------


def _roc_counts(fpr, tpr, positives, negatives):
    """What an intruder reads off a drawn ROC curve: the false and true positives at each vertex."""
    return np.rint(np.asarray(fpr) * negatives).astype(int), np.rint(np.asarray(tpr) * positives).astype(int)


def _small_steps(counts, total, k):
    steps = np.diff(counts)
    derived = np.r_[steps, counts, total - counts]  # between vertices, above and below each vertex
    return derived[(derived > 0) & (derived < k)]


def test_roc_vertices_reveal_no_count_below_k_and_the_exact_curve_does():
    """An empirical ROC curve moves one patient at a time; with the numbers of events and
    non-events known (they are in Table 2 and the flow), every step is a count of one patient.
    With k = 10 the drawn vertices leave only counts of 0 or at least 10 between, above and below
    them, ties stay in one block, and the curve still runs from (0, 0) to (1, 1). The exact curve
    (k = 0: the old plot) has steps of one patient, so this test can fail."""
    rng = np.random.default_rng(7)
    y = rng.binomial(1, 0.35, 137)
    score = np.round(rng.normal(y * 0.8, 1.0), 1)  # rounded: many ties
    P, N = int(y.sum()), int((1 - y).sum())
    fpr, tpr = coarse_roc_points(score, y, K)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    fp, tp = _roc_counts(fpr, tpr, P, N)
    assert len(fp) > 3  # still a curve
    assert len(_small_steps(fp, N, K)) == 0 and len(_small_steps(tp, P, K)) == 0
    # ties: every vertex sits between distinct scores (its count equals the patients scored above a value)
    cuts = np.sort(np.unique(score))[::-1]
    above = {int((score >= c).sum()) for c in cuts}
    assert set((fp + tp)[1:].tolist()) <= above
    exact_fp, exact_tp = _roc_counts(*coarse_roc_points(score, y, 0), P, N)
    assert len(_small_steps(exact_tp, P, K)) > 0


def test_the_drawn_roc_and_calibration_plots_follow_the_threshold():
    """Through the figure itself: the line of ``plot_roc`` drawn with k = 10 gives no count below
    10, and the grouped calibration points each stand for at least 10 events and 10 non-events
    (fewer groups than deciles when needed); drawn without control, both show small counts."""
    rng = np.random.default_rng(3)
    y = rng.binomial(1, 0.2, 160)
    p = np.clip(rng.beta(2, 6, 160) + 0.1 * y, 0, 1)
    P, N = int(y.sum()), int((1 - y).sum())
    fig, ax = plt.subplots()
    biomarkers.plot_roc({"score": p}, y, min_cell_count=K, ax=ax)
    fp, tp = _roc_counts(*ax.lines[0].get_data(), P, N)
    assert len(_small_steps(fp, N, K)) == 0 and len(_small_steps(tp, P, K)) == 0
    plt.close(fig)
    labels = calibration_groups(p, y, 10, K)
    events = np.bincount(labels, weights=y)
    sizes = np.bincount(labels)
    assert (events >= K).all() and (sizes - events >= K).all() and 1 < len(sizes) < 10
    open_labels = calibration_groups(p, y, 10, 0)
    assert len(np.bincount(open_labels)) == 10 and (np.bincount(open_labels, weights=y) < K).any()
    fig, ax = plt.subplots()
    biomarkers.plot_calibration(p, y, min_cell_count=K, ax=ax)
    assert len(ax.collections[0].get_offsets()) == len(sizes)
    plt.close(fig)


# -- nested populations and linked tables -----------------------------------------------------------


def _estimates(rows):
    cols = ["notebook", "model_id", "outcome", "population", "estimator", "term", "estimate", "n_obs", "n_events"]
    return pd.DataFrame(
        [("03", m, "live_birth", "first_transfer", "logit", t, 1.0, n, e) for m, t, n, e in rows], columns=cols
    )


_MODELS = [
    ("lb_first_crude", "treatment_arm[personalized]", 1462, 400),
    ("lb_first_adjusted", "treatment_arm[personalized]", 1456, 398),
    ("lb_first_adjusted", "age_at_biopsy_years", 1456, 398),
    ("lb_first_rif_only", "treatment_arm[personalized]", 1200, 393),
]
#: 1,468 first transfers, 6 with live birth unknown, 1,462 analysed (the flow of the test above)
_SIZES = {("first_transfer", "live_birth"): (1462, 400, 1468)}


def test_model_counts_within_k_of_their_population_are_masked():
    """The adjusted model leaves out 6 of the 1,462 analysed first transfers (incomplete
    covariates): with the population's size known the estimates hide its n_obs and, with 2 events
    left out, its n_events; the unadjusted model's n_obs is 6 short of the flow's 1,468 first
    transfers (unknown outcomes) and is hidden too; the RIF subset (262 left out, 7 events) keeps
    n_obs and hides n_events. The old mask (only counts 1 … k − 1) showed every one of them, so
    1,462 − 1,456 = 6 came back."""
    est = _estimates(_MODELS)
    # without the population sizes only the models' own sizes are compared: 1,456 is 6 from the
    # crude model's 1,462 and hidden (the old mask hid nothing here)
    alone = mask_estimates(est, K)
    assert alone["n_obs"].isna().tolist() == [False, True, True, False]
    out = mask_estimates(est, K, _SIZES).set_index(["model_id", "term"])
    assert out["n_obs"].isna().tolist() == [True, True, True, False]
    assert out["n_events"].isna().tolist() == [False, True, True, True]
    assert mask_estimates(est, 0, _SIZES).equals(est)  # no control, nothing changes


def test_the_intruder_puts_a_hidden_flow_cell_back_from_the_models(tmp_path):
    """Linked tables: the flow hides the 6 unknown outcomes and, to protect them, the 1,462
    analysed; the unadjusted model publishes n_obs 1,462, which put back into the flow gives the
    6 again, and the adjusted model's 1,456 gives 6 by the nested route. Masked with the
    population sizes, neither route recovers anything."""
    flow = pd.DataFrame(
        {
            "step": [1, 2, 3, 4, 5, 6],
            "stage": ["cohort", "cohort", "analysed", "first_transfer", "first_transfer", "first_transfer"],
            "kind": ["included", "excluded", "included", "included", "excluded", "analysed"],
            "reason": ["a", "b", "c", "d", "e", "first-transfer population for live_birth"],
            "n_patients": [1500, 32, 1468, 1468, 6, 1462],
            "n_transfers": [2903, 0, 2903, 1468, 6, 1462],
        }
    )
    masked_flow, _ = mask_declared(flow, declaration_for("exclusions"), K)
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    masked_flow.to_csv(run / "tables" / "exclusions.csv", index=False)
    _estimates(_MODELS).to_csv(run / "tables" / "estimates.csv", index=False)  # counts as the models give them
    found = audit_run(run, min_cell_count=K, include_report=False)
    routes = set(zip(found["route"], found["value"]))
    assert ("linked tables", 6) in routes and ("nested populations", 6) in routes
    mask_estimates(_estimates(_MODELS), K, _SIZES).to_csv(run / "tables" / "estimates.csv", index=False)
    assert audit_run(run, min_cell_count=K, include_report=False).empty


def test_a_table_that_adds_up_to_a_hidden_population_keeps_a_hidden_cell(tmp_path):
    """The 1,462 analysed first transfers are hidden in the flow (6 unknown outcomes), but live
    birth by profile × arm has every cell above k and its n add up to 1,462: the intruder puts
    the sum back into the flow and gets 6. Declared ``sums_to`` the first-transfer population,
    the table hides its smallest n (and that row's percentage) when the context says the flow
    hides that population; without that (the old design) nothing was hidden."""
    rates = pd.DataFrame(
        {
            "profile_group": ["balanced"] * 3 + ["dysregulated"] * 3,
            "treatment_arm": ["none", "empirical", "personalized"] * 2,
            "n": [110, 73, 66, 458, 384, 371],
            "events": [35, 18, 22, 132, 103, 140],
        }
    ).assign(percent=lambda t: 100 * t["events"] / t["n"])
    decl = declaration_for("rates_first_by_profile_arm")
    assert decl.sums_to == {"n": "first_transfer"} and rates["n"].sum() == 1462
    open_table, _ = mask_declared(rates, decl, K)
    assert open_table.equals(rates)  # nothing small: the old design published every cell
    out, report = mask_declared(rates, decl, K, hidden_totals=frozenset({"first_transfer"}))
    assert out.loc[2, "n"] == SUPPRESSED and out.loc[2, "percent"] == SUPPRESSED and report.secondary == 1
    flow = pd.DataFrame(
        {
            "step": [1, 2, 3, 4],
            "stage": ["analysed", "first_transfer", "first_transfer", "first_transfer"],
            "kind": ["included", "included", "excluded", "analysed"],
            "reason": ["a", "b", "c", "first-transfer population for live_birth"],
            "n_patients": [1468, 1468, 6, 1462],
            "n_transfers": [2903, 1468, 6, 1462],
        }
    )
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    mask_declared(flow, declaration_for("exclusions"), K)[0].to_csv(run / "tables" / "exclusions.csv", index=False)
    rates.to_csv(run / "tables" / "rates_first_by_profile_arm.csv", index=False)
    found = audit_run(run, min_cell_count=K, include_report=False)
    assert ("linked tables", 6) in set(zip(found["route"], found["value"]))
    out.to_csv(run / "tables" / "rates_first_by_profile_arm.csv", index=False)
    assert audit_run(run, min_cell_count=K, include_report=False).empty


def test_the_context_hides_what_would_give_back_the_unknown_outcomes(tmp_path):
    """On the shipped cohort 41 of the 1,457 first transfers have live birth unknown (the flow):
    with k = 50 that exclusion is small, so the context masks a model's n_obs of 1,416 (the
    unadjusted model's, 41 short of the flow) and keeps a hidden cell in the profile × arm table
    that adds up to 1,416; with k = 10 it is not small and neither is masked."""
    rates = pd.DataFrame(
        {"profile_group": ["balanced", "dysregulated"], "treatment_arm": ["none", "none"], "n": [400, 1016]}
    ).assign(events=[100, 300], percent=lambda t: 100 * t["events"] / t["n"])
    est = _estimates([("lb_first_crude", "treatment_arm[personalized]", 1416, 400)])
    for k, hidden in ((50, True), (10, False)):
        ctx = open_context(
            "99_totals",
            data_dir=REPO_DATA,
            run_dir=tmp_path / str(k),
            min_cell_count=k,
            figure_formats=("svg",),
            figure_dpi=50,
        )
        first = ctx.cohort.population("first", "live_birth")
        flow = ctx.cohort.flow
        included = flow[(flow["stage"] == "first_transfer") & (flow["kind"] == "included")]
        assert len(first) == 1416 and included["n_transfers"].tolist() == [1457]
        assert (ctx._hidden_totals == {"first_transfer"}) == hidden
        saved = ctx.save_table(rates, "rates_first_by_profile_arm")
        assert (saved.loc[0, "n"] == SUPPRESSED) == hidden
        ctx.save_estimates(est)
        written = pd.read_csv(ctx.paths.tables / "estimates.csv")
        assert bool(written["n_obs"].isna().all()) == hidden


def test_a_run_masked_at_one_threshold_can_be_audited_at_a_higher_one():
    """A run masked at k = 5 audited with ``--min-cell-count 10``: its ``<5`` cells are hidden
    cells (1..4), not unreadable numbers. Before, the audit crashed with KeyError on them; now it
    reads them as hidden, finds the published 8 (below 10) and nothing in the protected row."""
    t = pd.DataFrame(
        {
            "group": ["a"] * 4 + ["b"] * 2,
            "level": list("wxyz") + list("wx"),
            "n": [3, 6, 40, 45, 8, 30],
            "total": [94] * 4 + [38] * 2,
        }
    )
    decl = TableDisclosure(
        counts=("n", "total"),
        denominators={"n": "total"},
        group_sums=(GroupSum("n", ("group",), total="total"),),
    )
    at_five, _ = mask_declared(t, decl, 5)
    assert at_five["n"].tolist()[:2] == ["<5", SUPPRESSED]
    found = audit_table(at_five.astype(str), "t", K, decl)
    assert {(f["route"], f["value"]) for f in found} == {("direct", 8), ("complement", 8)}


def test_sensitivity_rows_nested_in_the_main_analysis_hide_small_differences(tmp_path):
    """Found by the disclosure sweep (600 women, k = 10): leaving centre C5 out removed 9 live
    births, so main − leave_one_centre_out_C5 gave 9 back. Every row of the summary is nested in
    the main analysis (or contains it), so a count whose difference, or whose complement's
    difference, from the main row is 1 … k − 1 is hidden; the old audit also looked only at the
    centre rows, so the 4 non-events the RIF subset leaves out went unnoticed."""
    summary = pd.DataFrame(
        {
            "label": ["main analysis", "leave_one_centre_out_C5", "rif_only", "no_pgt_a"],
            "estimate": [1.8, 1.7, 2.1, 1.9],
            "n_obs": [600, 540, 550, 450],
            "n_events": [200, 191, 154, 150],
        }
    )
    decl = declaration_for("sensitivity_summary")
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    summary.to_csv(run / "tables" / "sensitivity_summary.csv", index=False)
    found = audit_run(run, min_cell_count=K, include_report=False)
    assert {(f.location, f.value) for f in found.itertuples()} == {
        ("main analysis − leave_one_centre_out_C5, n_events", 9),  # 200 − 191
        ("main analysis − rif_only, n_obs − n_events", 4),  # (600 − 200) − (550 − 154)
    }
    masked, report = mask_declared(summary, decl, K)
    assert masked.loc[1, "n_events"] == SUPPRESSED and masked.loc[2, "n_events"] == SUPPRESSED
    assert masked.loc[3, "n_events"] == 150 and masked.loc[0, "n_events"] == 200
    masked.to_csv(run / "tables" / "sensitivity_summary.csv", index=False)
    assert audit_run(run, min_cell_count=K, include_report=False).empty


def test_models_of_one_population_saved_by_different_notebooks_never_differ_by_less_than_k(tmp_path):
    """Found by the disclosure sweep (150 women, k = 5): notebook 05's weighted model used the
    1,462 rows with a propensity score and notebook 03's adjusted model 1,459 complete cases, so
    the two published n_obs gave back 3 women without a complete covariate set. Each notebook's
    own mask could not see the other's model; the finished file is masked as a whole."""
    rows = [
        ("03_outcomes_logistic", "lb_first_adjusted", 1459, 480),
        ("05_treatment_effects", "lb_first_iptw", 1462, 481),
        ("05_treatment_effects", "lb_first_matching", 700, 230),
    ]
    est = pd.DataFrame(
        [
            {
                "notebook": nb,
                "model_id": m,
                "term": t,
                "population": "first_transfer",
                "outcome": "live_birth",
                "n_obs": n,
                "n_events": e,
                "estimate": 1.0,
            }
            for nb, m, n, e in rows
            for t in ("(Intercept)", "treatment_arm[personalized]")
        ]
    )
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    est.to_csv(run / "tables" / "estimates.csv", index=False)
    found = audit_run(run, min_cell_count=5, include_report=False)
    assert ("nested populations", 3) in set(zip(found["route"], found["value"]))
    masked = hide_close_model_counts(est, 5)
    shown = masked.drop_duplicates("model_id").set_index("model_id")
    # sizes from the largest down: 1,462 kept, 1,459 (3 away) hidden, 700 kept; events 481
    # kept, 480 (1 away) hidden
    assert shown["n_obs"].isna().tolist() == [True, False, False]
    assert shown["n_events"].isna().tolist() == [True, False, False]
    masked.to_csv(run / "tables" / "estimates.csv", index=False)
    assert audit_run(run, min_cell_count=5, include_report=False).empty
    assert hide_close_model_counts(est, 0) is est


def test_counts_in_figure_texts_are_masked_before_saving(tmp_path):
    """Found by the disclosure sweep (150 women, k = 10): the spline panel of a marker that could
    not be fitted said "blood_nk_percent: 7 events or non-events are too few", in the SVG and the
    report. Every text of a figure the context saves is masked first; the audit reads the same
    forms, so it finds the count in the unmasked figure and nothing in the saved one."""
    import matplotlib.pyplot as plt

    from analysis.output.audit import audit_text
    from analysis.output.disclosure import mask_counts_in_text
    from analysis.study.context import open_context

    message = "blood_nk_percent: 7 events or non-events are too few for a 4-knot spline"
    assert audit_text(message, "svg", K) and not audit_text(mask_counts_in_text(message, K), "svg", K)
    assert mask_counts_in_text("Personalized (n = 412)", K) == "Personalized (n = 412)"
    assert mask_counts_in_text(message, 0) == message
    ctx = open_context("t", data_dir=SHIPPED, run_dir=tmp_path, min_cell_count=K, figure_formats=("svg",))
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, message)
    ax.set_title("Empirical (n = 3)")
    ctx.save_figure(fig, "supp_message")
    plt.close(fig)
    svg = (tmp_path / "figures" / "supp_message.svg").read_text()
    assert "&lt;10 events" in svg and "n = &lt;10" in svg and not audit_text(svg, "svg", K)


def test_counts_in_the_messages_of_a_saved_table_are_masked_and_audited(tmp_path):
    """Found by the disclosure sweep (150 women, k = 10): ``marker_shape.csv`` and
    ``prognostic_markers.csv`` carried the failure message "blood_nk_percent: 7 events or
    non-events are too few", and the report inlined it. The audit now reads the text cells of
    every table, and saving masks them."""
    from analysis.study.context import open_context

    table = pd.DataFrame(
        {
            "marker": ["blood_nk_percent", "unk_cd56_percent"],
            "n": [40, 80],
            "message": ["blood_nk_percent: 7 events or non-events are too few", ""],
        }
    )
    decl = TableDisclosure(counts=("n",))
    run = tmp_path / "open"
    (run / "tables").mkdir(parents=True)
    table.to_csv(run / "tables" / "marker_shape.csv", index=False)
    found = audit_run(run, min_cell_count=K, include_report=False)
    assert list(zip(found["source"], found["route"], found["value"])) == [("marker_shape.csv", "text", 7)]
    ctx = open_context("t", data_dir=SHIPPED, run_dir=tmp_path / "masked", min_cell_count=K)
    saved = ctx.save_table(table, "marker_shape", declaration=decl)
    assert saved["message"].iloc[0] == "blood_nk_percent: <10 events or non-events are too few"
    assert audit_run(tmp_path / "masked", min_cell_count=K, include_report=False).empty
