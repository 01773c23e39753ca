"""Captions of the main figures, written from the run's own numbers.

Each function takes the tidy tables a figure was drawn from and returns the caption text; the
notebooks save it with :func:`analysis.output.session.save_caption` as ``figures/figure_N.txt``.
Counts pass through :func:`analysis.output.disclosure.format_count`, so small counts are masked here
as everywhere else.
"""

from __future__ import annotations

import pandas as pd

from analysis.output.disclosure import curve_rule_statement, format_count
from analysis.output.style import label_for

__all__ = [
    "figure_1_caption",
    "figure_2_caption",
    "figure_3_caption",
    "figure_4_caption",
    "figure_5_caption",
    "subgroup_forest_caption",
    "figure_6_caption",
]


def _pct(conf_level: float) -> str:
    return f"{conf_level * 100:g}%"


def figure_1_caption(flow: pd.DataFrame, *, min_cell_count: int) -> str:
    """Caption of the study flow diagram."""
    start = flow[flow["step"] == flow["step"].min()].iloc[0]
    first = flow[(flow["stage"] == "first_transfer") & (flow["kind"] == "analysed")]
    excluded = flow[flow["kind"] == "excluded"]
    text = (
        f"Figure 1. Study flow. Of {format_count(start['n_patients'], min_cell_count)} patients with an "
        f"endometrial immune biopsy ({format_count(start['n_transfers'], min_cell_count)} transfers), "
    )
    if len(first):
        text += (
            f"{format_count(first.iloc[0]['n_transfers'], min_cell_count)} first transfers with a known "
            f"outcome were analysed. "
        )
    text += (
        "Exclusions, from the exclusion log: "
        + "; ".join(
            f"{str(r.reason).replace('_', ' ')} ({format_count(r.n_patients if r.stage in ('cohort',) else r.n_transfers, min_cell_count)})"
            for r in excluded.itertuples()
        )
        + "."
    )
    return text


def figure_2_caption(prevalence: pd.DataFrame, *, n_patients: int, min_cell_count: int) -> str:
    """Caption of the immune-landscape figure (prevalence of each profile overall)."""
    overall = prevalence[prevalence["group"] == "overall"]
    parts = []
    for r in overall.itertuples():
        share = "" if 0 < r.n < min_cell_count else f", {r.percent:.1f}%"
        parts.append(f"{label_for(r.immune_profile).lower()} {format_count(r.n, min_cell_count)}{share}")
    return (
        f"Figure 2. Endometrial immune landscape of {format_count(n_patients, min_cell_count)} included patients. "
        f"(a) Immune profile overall and by centre (n per bar; percentages in segments of at least 10%; "
        f"segments of counts masked by disclosure control drawn together, hatched); overall: "
        + "; ".join(parts)
        + ". (b) uNK CD56+ cells by profile, with the lab's "
        "cut-offs. (c) Spearman correlations of the endometrial and blood markers. (d) Blood NK cells against "
        "endometrial uNK cells, with the blood cut-off and the endometrial upper cut-off."
    )


def figure_3_caption(forest: pd.DataFrame, *, n_obs: int, conf_level: float = 0.95, min_cell_count: int) -> str:
    """Caption of the forest plot of adjusted ORs, overall and by profile group."""
    pers = forest[forest["treatment_arm"] == "personalized"]
    parts = [
        f"{g.lower()} {r.estimate:.2f} ({r.conf_low:.2f}–{r.conf_high:.2f})"
        for g, r in zip(pers["group"], pers.itertuples())
    ]
    return (
        f"Figure 3. Adjusted odds ratios of live birth at the first transfer for empirical and personalized "
        f"immunotherapy against none, overall and within balanced and dysregulated profiles "
        f"({format_count(n_obs, min_cell_count)} first transfers; logistic regression adjusted for the analysis "
        f"plan's covariates; stratum ORs from the arm × profile-group interaction model; {_pct(conf_level)} "
        f"Wald CIs). Personalized vs none: " + "; ".join(parts) + "."
    )


def figure_4_caption(
    curves: pd.DataFrame,
    logrank: pd.DataFrame,
    *,
    horizon_days: float,
    conf_level: float = 0.95,
    min_cell_count: int,
    curve_rule: str = "",
) -> str:
    """Caption of the cumulative live-birth curves by arm, with the estimate at ``horizon_days``.

    ``curve_rule`` (:func:`analysis.output.disclosure.curve_rule_statement`) states how the curves
    were coarsened; with disclosure control and no rule given, the default rule is stated.
    """
    if min_cell_count > 1 and not curve_rule:
        curve_rule = curve_rule_statement(min_cell_count)
    km = curves[curves["group"].str.startswith("km:treatment_arm=")]
    at = []
    for group, rows in km.groupby("group", sort=False):
        rows = rows[rows["time_days"] <= horizon_days]
        if len(rows):
            last = rows.iloc[-1]
            at.append(
                f"{label_for(group.split('=', 1)[1]).lower()} {100 * last['estimate']:.1f}% "
                f"({100 * last['conf_low']:.1f}–{100 * last['conf_high']:.1f})"
            )
    test = logrank[logrank["comparison"] == "by treatment_arm"]
    p = f"; log-rank p = {test.iloc[0]['p_value']:.2g}" if len(test) else ""
    return (
        f"Figure 4. Cumulative live birth from the first embryo transfer after the biopsy (time zero of the "
        f"emulated target trial) by arm at that transfer (1 − Kaplan–Meier, "
        f"{_pct(conf_level)} CIs; numbers at risk below"
        + (f", counts under {min_cell_count} masked). " if min_cell_count > 1 else "). ")
        + f"At {horizon_days / 365.25:.0f} years: "
        + "; ".join(at)
        + p
        + "."
        + (f" {curve_rule}" if min_cell_count > 1 else "")
    )


def figure_5_caption(
    discrimination: pd.DataFrame | None,
    tests: pd.DataFrame | None,
    validation: pd.DataFrame | None,
    *,
    conf_level: float = 0.95,
    min_cell_count: int,
) -> str:
    """Caption of the biomarker figure: discrimination, calibration, benefit and decisions.

    A part whose model could not be estimated (None) is said so.
    """
    if discrimination is not None and len(discrimination):
        aucs = "; ".join(
            f"{r.model} {r.auc:.2f} ({r.conf_low:.2f}–{r.conf_high:.2f})" for r in discrimination.itertuples()
        )
        endo = tests[
            tests["test"].str.startswith("DeLong AUC difference")
            & (tests["comparison"] == "clinical + endometrial markers vs clinical + blood markers")
        ]
        delong = f"; endometrial vs blood markers, DeLong p = {endo.iloc[0]['p_value']:.2g}" if len(endo) else ""
        n = format_count(int(discrimination["n"].iloc[0]), min_cell_count)
        part_a = (
            f"(a) ROC curves among untreated first transfers ({n} patients): AUC ({_pct(conf_level)} DeLong "
            f"CI) {aucs}{delong}."
        )
    else:
        part_a = "(a) The marker models could not be estimated on these data (see notebook 06)."
    if validation is not None:
        v = validation.set_index("measure")
        part_b = (
            f"(b) Calibration of the clinical + endometrial model (deciles and lowess); optimism-corrected "
            f"AUC {v.loc['auc', 'corrected']:.2f}, calibration slope {v.loc['calibration_slope', 'corrected']:.2f}."
        )
    else:
        part_b = "(b) The clinical + endometrial model could not be validated on these data."
    return (
        f"Figure 5. Biomarkers and who benefits. {part_a} {part_b} (c) Observed against predicted benefit of "
        f"personalized therapy by fifth of cross-validated predicted benefit, observed benefit the doubly robust "
        f"(AIPW) risk difference. (d) Net benefit, estimated from observed outcomes (AIPW), of treating none, all, "
        f"dysregulated profiles, or by the cross-validated benefit model (shaded: {_pct(conf_level)} bootstrap band) "
        f"across the smallest gain in live birth judged worth the therapy."
    )


def subgroup_forest_caption(
    tests: pd.DataFrame, skipped: list[str], *, population: str, n: int, conf_level: float = 0.95, min_cell_count: int
) -> str:
    """Caption of the supplementary subgroup forest plot: estimator, population, tests and adjustment."""
    how = {"holm": "Holm", "fixed_sequence": "fixed-sequence", "none": "no"}
    method = how.get(str(tests["multiplicity"].iloc[0]), "") if len(tests) else "no"
    skip = (" Not shown (column absent from the data): " + "; ".join(skipped) + ".") if skipped else ""
    return (
        f"Supplementary figure: live birth at the first transfer with personalized immunotherapy against none by "
        f"subgroup, {population} ({format_count(n, min_cell_count)} women). Risk differences (percentage points) "
        f"are doubly robust (AIPW; outcome model with arm × subgroup) with {_pct(conf_level)} influence-function "
        f"CIs. Interaction p: Wald test that the risk differences are equal across the subgroup's levels, with "
        f"{method} adjustment across the {len(tests)} subgroups in brackets.{skip}"
    )


def figure_6_caption(
    differences: pd.DataFrame,
    rule: pd.DataFrame,
    *,
    n_women: int,
    harm_outcome: str,
    conf_level: float = 0.95,
    min_cell_count: int,
) -> str:
    """Caption of the safety figure: core outcomes by arm, harm by agent, benefit against harm.

    Parameters
    ----------
    differences : DataFrame
        The agent-against-none risk differences of ``harm_outcome`` drawn in panel b
        (:func:`analysis.methods.safety.harm_differences`).
    rule : DataFrame
        :func:`analysis.methods.safety.harm_checked_rule` (one verdict per profile group).
    n_women : int
        Women in panel a.
    harm_outcome : str
        The harm of panel b.
    """
    shown = []
    for r in differences.itertuples(index=False):
        small = any(0 < int(c) < min_cell_count for c in (r.n_events_treated, r.n_events_reference))
        if small:
            shown.append(f"{r.comparison.split(' vs ')[0]} masked (small counts)")
        else:
            shown.append(
                f"{r.comparison.split(' vs ')[0]} {100 * r.rd_proportion:+.1f} "
                f"({100 * r.rd_low_proportion:+.1f} to {100 * r.rd_high_proportion:+.1f})"
            )
    harm = harm_outcome.replace("_", " ")
    recommended = [str(g) for g, ok in zip(rule["group"], rule["recommended"]) if ok] if len(rule) else []
    verdict = (
        f"Recommended once harms are weighed: {', '.join(label_for(g).lower() for g in recommended)} profiles."
        if recommended
        else "No group that the supported rule would treat had a gain in live births exceeding every declared harm "
        "with confidence."
    )
    return (
        f"Figure 6. Maternal and fetal safety. (a) Core outcomes (COMMIT) per 100 of their denominators (women, "
        f"positive hCG tests, clinical pregnancies, live births) by arm at the first transfer "
        f"({format_count(n_women, min_cell_count)} women), exact (Clopper–Pearson) {_pct(conf_level)} intervals. (b) {harm.capitalize()} per 100 live births with each agent against no immunotherapy, "
        f"Newcombe hybrid score {_pct(conf_level)} intervals: " + "; ".join(shown) + ". (c) Live births gained "
        "against harm added per 100 women with personalized therapy in each profile group (live births: the doubly "
        "robust differences of notebook 06's supported rule; harms: first-transfer Newcombe differences); the dotted "
        "line marks a gain equal to the harm. " + verdict
    )
