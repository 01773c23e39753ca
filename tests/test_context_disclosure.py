"""Disclosure control through the run context fails closed.

With ``min_cell_count = 10`` every public plotting, caption and table function of the output
layer (found by introspection, so a new one without a case here fails the test) is called
through a :class:`~analysis.study.context.RunContext` on real inputs from the methods layer, on a
small synthetic cohort full of small counts. What they emit -- CSV cells, caption text, the text
artists of figures -- is scanned for any count from 1 to 9 presented as a count. The scanners are
shown to find such counts when nothing masks them, so the test can fail.
"""

from __future__ import annotations

import inspect
import re
from types import ModuleType

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from analysis.methods import (
    benefit,
    discrimination,
    landscape,
    outcomes,
    prognostic,
    propensity,
    safety,
    survival_analysis,
    time_to_event,
)
from analysis.methods.follow_up import reverse_km_follow_up
from analysis.output import captions, pubtables, session
from analysis.output.declarations import declaration_for
from analysis.output.plotting import biomarkers, core, effects, flow
from analysis.output.plotting import safety as safety_plots
from analysis.output.risk_table import numbers_at_risk
from analysis.run.config import default_config
from analysis.study import summaries
from analysis.study.context import RunContext, open_context

K = 10
COVARIATES = ["age_at_biopsy_years", "bmi_kg_m2"]
SURFACE: tuple[ModuleType, ...] = (core, flow, biomarkers, effects, safety_plots, captions, pubtables, summaries)

# -- scanners -------------------------------------------------------------------------------------
_COUNT_COLUMN = re.compile(r"^(n|count|events|missing|n_.+|.+_n|.+_count)$", re.I)
_NOT_COUNTS = {"n_bootstrap", "n_imputations", "n_jobs", "n_failed_replicates", "n_clusters_total"}
_IN_TEXT = [
    re.compile(r"\bn\s*=\s*(\d[\d,]*)"),  # n = 5
    re.compile(r"\b(\d[\d,]*)\s+(?:first\s+)?(?:included\s+)?(?:patients|transfers|observations)\b"),
    re.compile(r"\((\d[\d,]*)\)"),  # reason (5)
    re.compile(r"(?:^|[\s;:])(\d[\d,]*)\s*\(\d+(?:\.\d+)?%\)"),  # 5 (3.3%)
    re.compile(r"(?:^|[\s;:])(\d[\d,]*), \d+(?:\.\d+)?%"),  # 5, 3.3%
]
_BARE_INTEGER = re.compile(r"^\s*(\d[\d,]*)\s*$")


def _small(value: str) -> bool:
    return 1 <= int(value.replace(",", "")) < K


def small_counts_in_text(text: str) -> list[str]:
    """Counts from 1 to K - 1 presented as counts in free text (captions, figure labels)."""
    return [m.group(0) for pattern in _IN_TEXT for m in pattern.finditer(str(text)) if _small(m.group(1))]


def small_counts_in_table(frame: pd.DataFrame) -> list[str]:
    """Cells of count columns holding 1..K-1, and text cells presenting such a count."""
    found = []
    for c in frame.columns:
        for v in frame[c].dropna().astype(str):
            bare = _BARE_INTEGER.match(v.replace(".0", "", 1) if v.endswith(".0") else v)
            if bare and _COUNT_COLUMN.match(str(c)) and str(c) not in _NOT_COUNTS and _small(bare.group(1)):
                found.append(f"{c}={v}")
            found += [f"{c}: {hit}" for hit in small_counts_in_text(v)]
    return found


def small_counts_in_figure(fig) -> list[str]:
    """Figure texts presenting a count 1..K-1: labelled counts anywhere, bare integers in annotations."""
    ticks = {
        id(label)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]
        for label in (tick.label1, tick.label2)
    }
    found = []
    for artist in fig.findobj(Text):
        if not artist.get_visible():
            continue
        text = artist.get_text()
        found += small_counts_in_text(text)
        bare = _BARE_INTEGER.match(text)
        if bare and id(artist) not in ticks and _small(bare.group(1)):
            found.append(f"annotation {text!r}")
    return found


def small_counts_in_run(ctx: RunContext) -> list[str]:
    """Scan every CSV under ``tables/`` and every caption under ``figures/`` of the context's run."""
    found = []
    for path in sorted(ctx.paths.tables.rglob("*.csv")):
        found += [f"{path.name}: {hit}" for hit in small_counts_in_table(pd.read_csv(path, dtype=str))]
    for path in sorted(ctx.paths.figures.glob("*.txt")):
        found += [f"{path.name}: {hit}" for hit in small_counts_in_text(path.read_text())]
    return found


# -- the context and the inputs, from the methods layer ------------------------------------------
@pytest.fixture(scope="module")
def ctx(small_cohort_dir, tmp_path_factory) -> RunContext:
    return open_context(
        "99_disclosure",
        data_dir=small_cohort_dir,
        run_dir=tmp_path_factory.mktemp("run"),
        min_cell_count=K,
        figure_formats=("svg",),
        figure_dpi=50,
    )


@pytest.fixture(scope="module")
def inputs(ctx) -> dict:
    cohort = ctx.cohort
    patients = landscape.included_patients(cohort)
    first = cohort.population("first", "live_birth")
    untreated = first[first["treatment_arm"].astype(str) == "none"]
    ttlb = time_to_event.time_to_live_birth(cohort)
    km = survival_analysis.cumulative_live_birth_curves(ttlb, by=["treatment_arm"], conf_level=ctx.conf_level)
    aj = survival_analysis.competing_risk_curves(ttlb, by="treatment_arm", conf_level=ctx.conf_level)
    cox = survival_analysis.fit_cox_with_ph_check(
        ttlb,
        covariates=COVARIATES,
        reference_arm="none",
        conf_level=ctx.conf_level,
        notebook="99_disclosure",
        model_id="ttlb_cox_itt",
    )
    arm_term = next(t for t in cox.design.columns if t.startswith("treatment_arm["))
    log = outcomes.ModelLog("99_disclosure")
    refs = {"treatment_arm": "none"}
    for model_id, cov in (("lb_first_crude", []), ("lb_first_adjusted", COVARIATES)):
        outcomes.fit_logit_model(
            log,
            first,
            model_id=model_id,
            outcome="live_birth",
            population="first_transfer",
            exposures=["treatment_arm"],
            covariates=cov,
            references=refs,
            conf_level=ctx.conf_level,
        )
    interaction = outcomes.fit_logit_model(
        log,
        first,
        model_id="lb_first_interaction",
        outcome="live_birth",
        population="first_transfer",
        exposures=["treatment_arm*profile_group"],
        covariates=COVARIATES,
        references=refs,
        conf_level=ctx.conf_level,
    )
    outcomes.stratum_effects(
        log,
        interaction,
        model_id="lb_first_interaction",
        outcome="live_birth",
        population="first_transfer",
        arm_levels=["empirical", "personalized"],
        modifier="profile_group",
        modifier_levels=["balanced", "dysregulated"],
        reference_arm="none",
        conf_level=ctx.conf_level,
        data=first,
    )
    scores = propensity.propensity_scores(first, covariates=COVARIATES, reference="none")
    weights = propensity.iptw_weights(scores, estimand="ATE")
    comparison = prognostic.compare_marker_models(
        untreated,
        outcome="live_birth",
        clinical=COVARIATES,
        endometrial=["il15_fn14_ratio", "il18_tweak_ratio", "unk_cd56_percent"],
        blood=["blood_nk_percent"],
        conf_level=ctx.conf_level,
        n_bootstrap=20,
    )
    name, p = next(iter(comparison.predictions.items()))
    rows = outcomes.model_frame(untreated, ["live_birth", *COVARIATES, "unk_cd56_percent"])
    risk_model = prognostic.LogisticRiskModel(outcomes.formula("live_birth", ["unk_cd56_percent"], COVARIATES, rows))
    ps = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id", "profile_group"]
    aipw = benefit.aipw_scores(first, ps_covariates=ps, outcome_covariates=ps, modifier="profile_group")
    predicted = benefit.cross_validated_benefit(
        first, outcome="live_birth", modifiers=["profile_group"], covariates=COVARIATES, reference="none"
    )
    dysregulated = first[first["profile_group"].astype(str) == "dysregulated"]
    subgroup_scores = {
        "cycle_type": benefit.aipw_scores(
            dysregulated, ps_covariates=ps[:-1], outcome_covariates=ps[:-1], modifier="cycle_type"
        )
    }
    subgroup_effects, subgroup_tests = benefit.subgroup_effects(subgroup_scores)
    pregnancies = safety.pregnancy_outcomes(cohort.population("all", None), cohort.births)
    women = safety.woman_outcomes(pregnancies, group="treatment_arm")
    by_profile = safety.harm_differences(
        safety.pregnancy_outcomes(first, cohort.births),
        harms=[("preterm_birth", "unit")],
        by="profile_group",
    )
    by_profile = by_profile[by_profile["comparison"] == "personalized vs none"]
    strata, _ = benefit.aipw_rule_strata(
        first, outcome="live_birth", ps_covariates=ps, reference_arm="none", groupings=("profile_group",)
    )
    benefit_table = benefit.rule_table(strata)
    return {
        "cohort": cohort,
        "safety_women": women,
        "safety_core": safety.core_outcome_table(women, by="treatment_arm", unit="woman"),
        "safety_agents": safety.harm_differences(
            pregnancies, harms=[("preterm_birth", "live_birth")], contrast="agent"
        ),
        "safety_benefit_harm": safety.benefit_harm_table(benefit_table, by_profile, harm_outcomes=["preterm_birth"]),
        "safety_rule": safety.harm_checked_rule(benefit_table, by_profile, harm_outcomes=["preterm_birth"]),
        "patients": patients,
        "first": first,
        "ttlb": ttlb,
        "km": km,
        "aj": aj,
        "logrank": survival_analysis.logrank_table(ttlb, by=["treatment_arm"]),
        "per_transfer": time_to_event.cumulative_live_birth_by_transfer(
            cohort, group_col="treatment_arm", max_transfer=4, conf_level=ctx.conf_level
        ),
        "schoenfeld": survival_analysis.schoenfeld_residuals(cox, term=arm_term),
        "arm_term": arm_term,
        "estimates": log.estimates_frame(),
        "forest": outcomes.forest_rows(
            log.estimates_frame(), adjusted_id="lb_first_adjusted", stratified_id="lb_first_interaction"
        ),
        "n_first": int(log.status_frame().set_index("model_id").loc["lb_first_adjusted", "n_obs"]),
        "scores": scores,
        "strategy_curves": pd.DataFrame(
            {
                "group": "all",
                "strategy": ["none"] * 3 + ["personalized"] * 3,
                "k": [1, 2, 3] * 2,
                "estimate": [0.3, 0.45, 0.55, 0.4, 0.6, 0.7],
                "conf_low": [0.25, 0.4, 0.5, 0.33, 0.52, 0.6],
                "conf_high": [0.35, 0.5, 0.6, 0.47, 0.68, 0.8],
            }
        ),
        "balance": propensity.balance_table(first, covariates=COVARIATES, weights=weights, reference="none"),
        "spline": prognostic.spline_or_curve(
            untreated, "unk_cd56_percent", outcome="live_birth", nk=3, conf_level=ctx.conf_level
        ),
        "comparison": comparison,
        "calibration": (p, comparison.y),
        "calibration_curve": discrimination.calibration_curve_corrected(
            *risk_model.arrays(rows), n_points=20, n_bootstrap=5
        ),
        "validation": discrimination.optimism_corrected(
            rows, outcome="live_birth", fit_predict=risk_model, n_bootstrap=10, seed=1, n_jobs=1
        ),
        "quintiles": benefit.benefit_by_fifth(aipw, predicted, conf_level=ctx.conf_level),
        "decisions": benefit.decision_curve(aipw, predicted, thresholds=np.linspace(0, 0.2, 11)),
        "subgroup_effects": subgroup_effects,
        "subgroup_tests": subgroup_tests,
        "prevalence": landscape.profile_prevalence(patients),
        "corr": landscape.marker_correlations(patients),
        "missing": summaries.missingness(cohort),
        "cutoffs": landscape.marker_cutoff_lines(),
    }


# -- one case per public function: what it emits through the context -----------------------------
def _figure(draw) -> list[str]:
    fig, ax = plt.subplots()
    try:
        draw(ax)
        return small_counts_in_figure(fig)
    finally:
        plt.close(fig)


def _saved(ctx, frame, name) -> list[str]:
    # "rates" and "first_transfers_by_centre" (events by centre and group) are test tables, declared
    # like the rates table of notebook 03
    test_tables = ("rates", "first_transfers_by_centre")
    declaration = declaration_for("rates_first_by_profile_arm") if name in test_tables else None
    return small_counts_in_table(ctx.save_table(frame, name, declaration=declaration))


def _publication(ctx, t) -> list[str]:
    ctx_folder = ctx.paths.tables / "publication"
    pubtables.write_table_formats(t, ctx_folder)
    return (
        small_counts_in_table(pd.read_csv(ctx_folder / f"{t.name}.csv", dtype=str))
        + small_counts_in_text(t.title)
        + [h for n in t.footnotes for h in small_counts_in_text(n)]
    )


def _reread(ctx, frame) -> pd.DataFrame:
    """A saved table as the publication tables read it back (text)."""
    return frame.astype(str).replace({"nan": ""})


def _table_one(ctx, i):
    by = ctx.table(summaries.table_one_by, i["cohort"], "treatment_arm")
    return (
        _saved(ctx, by.long, "table1_by_arm")
        + _saved(ctx, by.smd, "table1_by_arm_smd")
        + _saved(ctx, by.wide, "table1_by_arm_display")
    )


CASES = {
    # plotting
    "plot_flow": lambda ctx, i: _figure(lambda ax: ctx.plot(flow.plot_flow, i["cohort"].flow, ax=ax)),
    "plot_prevalence_table": lambda ctx, i: _figure(
        lambda ax: ctx.plot(
            core.plot_prevalence_table,
            ctx.save_table(landscape.profile_prevalence(i["patients"], by="center_id"), "profile_prevalence_by_centre"),
            ax=ax,
        )
    ),
    "plot_prevalence": lambda ctx, i: (
        _figure(lambda ax: ctx.plot(core.plot_prevalence, i["patients"], ax=ax))
        + _figure(lambda ax: ctx.plot(core.plot_prevalence, i["patients"], by="center_id", ax=ax))
    ),
    "plot_marker_distribution": lambda ctx, i: _figure(
        lambda ax: ctx.plot(
            core.plot_marker_distribution,
            i["patients"],
            marker="unk_cd56_percent",
            cutoffs=i["cutoffs"]["unk_cd56_percent"],
            ax=ax,
        )
    ),
    "plot_cutoff_scatter": lambda ctx, i: _figure(
        lambda ax: ctx.plot(
            core.plot_cutoff_scatter,
            i["patients"],
            x="blood_nk_percent",
            y="unk_cd56_percent",
            x_cutoff=12.0,
            hue="immune_profile",
            ax=ax,
        )
    ),
    "plot_correlation_heatmap": lambda ctx, i: _figure(
        lambda ax: ctx.plot(core.plot_correlation_heatmap, i["corr"], ax=ax)
    ),
    "plot_forest": lambda ctx, i: _figure(lambda ax: ctx.plot(core.plot_forest, i["forest"], group_col="group", ax=ax)),
    "plot_cumulative_incidence": lambda ctx, i: (
        _figure(
            lambda ax: ctx.plot(
                core.plot_cumulative_incidence,
                i["km"].curves["treatment_arm"],
                at_risk=i["km"].at_risk["treatment_arm"],
                at_risk_times=i["km"].at_risk_times,
                ax=ax,
            )
        )
        + _figure(lambda ax: ctx.plot(core.plot_cumulative_incidence, i["aj"], ax=ax))
        + _figure(  # issue 19: cumulative events and censored under the curves, read off the published curves
            lambda ax: ctx.plot(
                core.plot_cumulative_incidence,
                ctx.coarsen_curves(i["km"].curves["treatment_arm"]),
                at_risk=numbers_at_risk(
                    ctx.coarsen_curves(i["km"].curves["treatment_arm"]), i["km"].at_risk_times, min_cell_count=K
                ),
                at_risk_times=i["km"].at_risk_times,
                at_risk_stats=("n_at_risk", "cum_events", "cum_censored"),
                ax=ax,
            )
        )
    ),
    "plot_cumulative_by_transfer": lambda ctx, i: _figure(
        lambda ax: ctx.plot(
            core.plot_cumulative_by_transfer,
            ctx.save_table(i["per_transfer"], "cumulative_live_birth_by_transfer"),
            ax=ax,
        )
    ),
    "plot_schoenfeld": lambda ctx, i: _figure(
        lambda ax: ctx.plot(core.plot_schoenfeld, i["schoenfeld"], covariate=i["arm_term"], ax=ax)
    ),
    "plot_missingness": lambda ctx, i: _figure(
        lambda ax: ctx.plot(core.plot_missingness, ctx.save_table(i["missing"], "missingness"), ax=ax)
    ),
    "plot_overlap": lambda ctx, i: _figure(lambda ax: ctx.plot(effects.plot_overlap, i["scores"], ax=ax)),
    "plot_love": lambda ctx, i: _figure(lambda ax: ctx.plot(effects.plot_love, i["balance"], ax=ax)),
    "plot_strategy_curves": lambda ctx, i: _figure(
        lambda ax: ctx.plot(effects.plot_strategy_curves, i["strategy_curves"], ax=ax)
    ),
    "plot_roc": lambda ctx, i: _figure(
        lambda ax: ctx.plot(biomarkers.plot_roc, i["comparison"].predictions, i["comparison"].y, ax=ax)
    ),
    "plot_calibration": lambda ctx, i: _figure(
        lambda ax: ctx.plot(biomarkers.plot_calibration, *i["calibration"], ax=ax)
    ),
    "plot_calibration_corrected": lambda ctx, i: _figure(
        lambda ax: ctx.plot(biomarkers.plot_calibration_corrected, i["calibration_curve"], ax=ax)
    ),
    "plot_or_curve": lambda ctx, i: _figure(lambda ax: ctx.plot(biomarkers.plot_or_curve, i["spline"], ax=ax)),
    "plot_benefit_quintiles": lambda ctx, i: _figure(
        lambda ax: ctx.plot(biomarkers.plot_benefit_quintiles, i["quintiles"], ax=ax)
    ),
    "plot_decision_curve": lambda ctx, i: _figure(
        lambda ax: ctx.plot(biomarkers.plot_decision_curve, i["decisions"], ax=ax)
    ),
    "plot_subgroup_forest": lambda ctx, i: _figure(
        lambda ax: ctx.plot(biomarkers.plot_subgroup_forest, i["subgroup_effects"], i["subgroup_tests"], ax=ax)
    ),
    "plot_message": lambda ctx, i: _figure(
        lambda ax: ctx.plot(biomarkers.plot_message, "The model could not be estimated.", ax=ax)
    ),
    "plot_outcome_proportions": lambda ctx, i: _figure(
        lambda ax: ctx.plot(
            safety_plots.plot_outcome_proportions,
            i["safety_core"],
            outcomes=[
                ("live_birth", "woman"),
                ("preterm_birth", "live_birth"),
                ("major_congenital_anomaly", "live_birth"),
            ],
            groups=["none", "empirical", "personalized"],
            ax=ax,
        )
    ),
    "plot_harm_differences": lambda ctx, i: _figure(
        lambda ax: ctx.plot(safety_plots.plot_harm_differences, i["safety_agents"], ax=ax)
    ),
    "plot_benefit_harm": lambda ctx, i: _figure(
        lambda ax: ctx.plot(safety_plots.plot_benefit_harm, i["safety_benefit_harm"], ax=ax)
    ),
    # captions
    "figure_1_caption": lambda ctx, i: small_counts_in_text(
        ctx.save_caption(ctx.caption(captions.figure_1_caption, i["cohort"].flow), 1)
    ),
    "figure_2_caption": lambda ctx, i: small_counts_in_text(
        ctx.save_caption(ctx.caption(captions.figure_2_caption, i["prevalence"], n_patients=len(i["patients"])), 2)
    ),
    "figure_3_caption": lambda ctx, i: small_counts_in_text(
        ctx.save_caption(ctx.caption(captions.figure_3_caption, i["forest"], n_obs=i["n_first"]), 3)
    ),
    "figure_4_caption": lambda ctx, i: small_counts_in_text(
        ctx.save_caption(
            ctx.caption(
                captions.figure_4_caption,
                survival_analysis.survival_table(i["km"], i["aj"]),
                i["logrank"],
                horizon_days=3 * 365.25,
            ),
            4,
        )
    ),
    "figure_5_caption": lambda ctx, i: small_counts_in_text(
        ctx.save_caption(
            ctx.caption(
                captions.figure_5_caption, i["comparison"].discrimination, i["comparison"].tests, i["validation"]
            ),
            5,
        )
    ),
    "subgroup_forest_caption": lambda ctx, i: small_counts_in_text(
        ctx.save_caption(
            ctx.caption(
                captions.subgroup_forest_caption,
                i["subgroup_tests"],
                [],
                population="dysregulated profiles",
                n=int(i["subgroup_effects"]["n"].sum()),
            ),
            "supp_subgroup_forest",
        )
    ),
    "figure_6_caption": lambda ctx, i: small_counts_in_text(
        ctx.save_caption(
            ctx.caption(
                captions.figure_6_caption,
                i["safety_agents"],
                i["safety_rule"],
                n_women=len(i["safety_women"]),
                harm_outcome="preterm_birth",
            ),
            6,
        )
    ),
    # tables
    "table_one_by": _table_one,
    "hierarchy_table": lambda ctx, i: _saved(
        ctx, pubtables.hierarchy_table(i["estimates"], default_config()["analysis_hierarchy"]), "hierarchy"
    ),
    "table_three": lambda ctx, i: (
        _publication(
            ctx,
            ctx.table(
                pubtables.table_three,
                pd.read_csv(
                    ctx.save_table(i["safety_core"], "core_outcomes_women_by_arm").pipe(
                        lambda _: ctx.paths.tables / "core_outcomes_women_by_arm.csv"
                    ),
                    dtype=str,
                    keep_default_na=False,
                ),
            ),
        )
        + _saved(ctx, i["safety_rule"], "harm_checked_rule")
        + _saved(ctx, i["safety_benefit_harm"], "benefit_harm")
    ),
    "missingness": lambda ctx, i: (
        _saved(ctx, summaries.missingness(i["cohort"]), "missingness")
        + _saved(ctx, summaries.missingness(i["cohort"], by="treatment_arm"), "missing_by_arm")
    ),
    "missing_by_arm_table": lambda ctx, i: _publication(
        ctx,
        ctx.table(
            pubtables.missing_by_arm_table,
            _reread(ctx, ctx.save_table(summaries.missingness(i["cohort"], by="treatment_arm"), "missing_by_arm")),
        ),
    ),
    "follow_up_table": lambda ctx, i: _publication(
        ctx,
        ctx.table(
            pubtables.follow_up_table,
            _reread(
                ctx,
                ctx.save_table(
                    pd.concat(
                        [
                            reverse_km_follow_up(
                                i["ttlb"].assign(treatment_arm=i["ttlb"]["treatment_arm"].astype(str)),
                                duration_col="time_days",
                                event_col="event",
                                group_col="treatment_arm",
                            ),
                            reverse_km_follow_up(i["ttlb"], duration_col="time_days", event_col="event").assign(
                                group="overall"
                            ),
                        ],
                        ignore_index=True,
                    ),
                    "follow_up_by_arm",
                ),
            ),
        ),
    ),
    "risk_table": lambda ctx, i: _publication(
        ctx,
        ctx.table(
            pubtables.risk_table,
            _reread(
                ctx,
                ctx.save_table(
                    numbers_at_risk(
                        ctx.coarsen_curves(i["km"].curves["treatment_arm"]), i["km"].at_risk_times, min_cell_count=K
                    ).assign(grouping="treatment_arm"),
                    "risk_table_figure_4",
                ),
            ),
        ),
    ),
    "table_two_merged": lambda ctx, i: _publication(ctx, ctx.table(pubtables.table_two_merged, i["estimates"])),
    "first_transfers_described": lambda ctx, i: _saved(
        ctx,
        outcomes.events_by(
            summaries.first_transfers_described(i["cohort"]), outcome="live_birth", by=["center_id", "treatment_arm"]
        ),
        "first_transfers_by_centre",
    ),
    "table_one": lambda ctx, i: _publication(
        ctx,
        ctx.table(
            pubtables.table_one,
            pd.read_csv(ctx.paths.tables / "table1_by_arm_display.csv", dtype=str, keep_default_na=False),
            by="treatment_arm",
        ),
    ),
    "model_table": lambda ctx, i: _publication(ctx, ctx.table(pubtables.model_table, i["estimates"])),
    "model_terms_table": lambda ctx, i: _publication(
        ctx, ctx.table(pubtables.model_terms_table, i["estimates"], "lb_first_adjusted", title="Terms")
    ),
    "write_table_formats": lambda ctx, i: _publication(ctx, ctx.table(pubtables.model_table, i["estimates"])),
    "write_publication_tables": lambda ctx, i: [
        hit
        for t in ctx.table(pubtables.write_publication_tables, ctx.paths.run_dir)
        for hit in small_counts_in_table(t.frame)
    ],
    # the context's own writers
    "save_table": lambda ctx, i: _saved(
        ctx, outcomes.events_by(i["first"], outcome="live_birth", by=["center_id", "immune_profile"]), "rates"
    ),
    "save_estimates": lambda ctx, i: (
        ctx.save_estimates(i["estimates"])
        and small_counts_in_table(
            pd.read_csv(ctx.paths.run_dir / "tables" / "estimates.csv", dtype=str)[["n_obs", "n_events"]].rename(
                columns={"n_obs": "n", "n_events": "events"}
            )
        )
    ),
    "save_caption": lambda ctx, i: small_counts_in_text(
        ctx.save_caption(ctx.caption(captions.figure_1_caption, i["cohort"].flow), 1)
    ),
    "save_figure": lambda ctx, i: _figure(
        lambda ax: ctx.save_figure(ctx.plot(flow.plot_flow, i["cohort"].flow, ax=ax).figure, "figure_1_flow")
    ),
}
ORDER = list(CASES)  # table_one reads the display table that table_one_by saved, so cases run in this order


def public_surface() -> set[str]:
    """Every public function of the plotting, caption, table and summary modules, and the context's writers."""
    names = {
        name
        for module in SURFACE
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and fn.__module__ == module.__name__
    }
    return names | {name for name in vars(RunContext) if name.startswith("save_")}


def test_every_public_output_function_has_a_case():
    assert public_surface() - set(CASES) == set(), "a public output function without a disclosure case"


def test_no_count_below_k_leaves_through_the_context(ctx, inputs):
    found = {}
    for name in ORDER:
        hits = CASES[name](ctx, inputs)
        if hits:
            found[name] = hits
    found["files of the run"] = small_counts_in_run(ctx)
    assert {k: v for k, v in found.items() if v} == {}
    # the cohort really has small counts: masking happened, or this test proves nothing
    masked = [p for p in ctx.paths.tables.rglob("*.csv") if ctx.masked_label() in p.read_text()]
    captions_masked = [p for p in ctx.paths.figures.glob("*.txt") if ctx.masked_label() in p.read_text()]
    assert masked and captions_masked


def test_the_scanners_find_counts_when_nothing_masks_them(ctx, inputs, tmp_path):
    open_paths = session.run_paths(tmp_path, min_cell_count=0)
    rates = outcomes.events_by(inputs["first"], outcome="live_birth", by=["center_id", "immune_profile"])
    assert small_counts_in_table(
        session.save_table(rates, "rates", open_paths, declaration=declaration_for("rates_first_by_profile_arm"))
    )
    assert small_counts_in_text(captions.figure_1_caption(inputs["cohort"].flow, min_cell_count=0))
    assert _figure(lambda ax: flow.plot_flow(inputs["cohort"].flow, ax=ax, min_cell_count=0))
    assert _figure(
        lambda ax: core.plot_cumulative_incidence(
            inputs["km"].curves["treatment_arm"],
            at_risk=inputs["km"].at_risk["treatment_arm"],
            at_risk_times=inputs["km"].at_risk_times,
            ax=ax,
            min_cell_count=0,
        )
    )
    by = summaries.table_one_by(inputs["cohort"], "treatment_arm", min_cell_count=0)
    assert small_counts_in_table(by.wide)


def test_a_forgotten_min_cell_count_is_an_error_not_a_small_count(inputs):
    with pytest.raises(TypeError, match="min_cell_count"):
        captions.figure_1_caption(inputs["cohort"].flow)
    with pytest.raises(TypeError, match="min_cell_count"):
        flow.plot_flow(inputs["cohort"].flow)
    with pytest.raises(TypeError, match="min_cell_count"):
        summaries.table_one_by(inputs["cohort"], "treatment_arm")
    km = inputs["km"]
    with pytest.raises(TypeError, match="min_cell_count"):
        core.plot_cumulative_incidence(
            km.curves["treatment_arm"], at_risk=km.at_risk["treatment_arm"], at_risk_times=km.at_risk_times
        )
    plt.close("all")


def test_the_context_refuses_to_lower_the_rule(ctx, inputs):
    with pytest.raises(ValueError, match="min_cell_count"):
        ctx.caption(captions.figure_1_caption, inputs["cohort"].flow, min_cell_count=0)
