"""What ``07_safety`` shows: maternal and fetal health under immunotherapy and the core outcome set.

Each function takes the run context (:class:`analysis.study.context.RunContext`) and the
notebook's parameters, saves what the notebook writes through the context (so the run's
disclosure rule masks every small count), and returns a small result object. Outcomes the data
do not record (no pregnancy columns, no ``births`` or ``adverse_events`` table) are reported as
not recorded; nothing is skipped silently.

Populations: every transfer of the analysed women up to and including the first live birth
(``population("all", None)``), the first transfer (``first``) and each woman (her arm at the
first transfer: an intention-to-treat grouping, since the arm changes after failures).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.methods import benefit, effects, propensity, safety
from analysis.methods.outcomes import ModelLog
from analysis.output import captions, style
from analysis.output.plotting import safety as safety_plots
from analysis.study.context import RunContext
from analysis.study.messages import Message

__all__ = [
    "AdverseEvents",
    "BenefitHarm",
    "CoreOutcomes",
    "Figure6",
    "Harms",
    "SafetyData",
    "WeightedHarms",
    "adverse_events",
    "benefit_harm",
    "core_outcomes",
    "figure_6",
    "harms",
    "rare_outcome_models",
    "safety_data",
    "save_models",
    "weighted_harms",
]

TREATED = "personalized"
PRETERM_IPTW_ID = "preterm_first_iptw"
LOSS_IPTW_ID = "loss_per_hcg_iptw"
PRETERM_AGENT_FIRTH_ID = "preterm_lb_agent_firth"
ANOMALY_FIRTH_ID = "anomaly_lb_arm_firth"
NEONATAL_DEATH_FIRTH_ID = "neonatal_death_lb_arm_firth"
#: Harms compared between arms and agents, with their denominators.
HARMS = (
    ("preterm_birth", "unit"),
    ("preterm_birth", "live_birth"),
    ("very_preterm_birth", "live_birth"),
    ("any_pregnancy_loss", "positive_hcg"),
    ("biochemical_loss", "positive_hcg"),
    ("miscarriage", "clinical_pregnancy"),
    ("ectopic_pregnancy", "clinical_pregnancy"),
    ("small_for_gestational_age", "live_birth"),
    ("major_congenital_anomaly", "live_birth"),
    ("neonatal_death", "live_birth"),
)
#: Rows of Figure 6a.
FIGURE_OUTCOMES = (
    ("live_birth", "woman"),
    ("any_pregnancy_loss", "positive_hcg"),
    ("multiple_pregnancy", "clinical_pregnancy"),
    ("preterm_birth", "live_birth"),
    ("small_for_gestational_age", "live_birth"),
    ("major_congenital_anomaly", "live_birth"),
)


@dataclass(frozen=True)
class SafetyData:
    """The outcomes of every population, and what the data record.

    Attributes
    ----------
    transfers : DataFrame
        :func:`analysis.methods.safety.pregnancy_outcomes` of every analysed transfer.
    first : DataFrame
        The first transfers with a known live-birth outcome (the rows of notebook 05's weights).
    women : DataFrame
        One row per woman (:func:`analysis.methods.safety.woman_outcomes`), with her first arm
        and profile group.
    recorded : Message
        Which core outcomes the data record and which not.
    """

    transfers: pd.DataFrame
    first: pd.DataFrame
    women: pd.DataFrame
    recorded: Message


def safety_data(ctx: RunContext, *, outcome: str) -> SafetyData:
    """Derive every core outcome per transfer, first transfer and woman.

    Parameters
    ----------
    ctx : RunContext
    outcome : str
        The primary outcome whose known values define the first-transfer population (as in 05).

    Returns
    -------
    SafetyData
    """
    cohort = ctx.cohort
    everything = safety.pregnancy_outcomes(cohort.population("all", None), cohort.births)
    first = safety.pregnancy_outcomes(cohort.population("first", outcome), cohort.births)
    women = safety.woman_outcomes(everything, group="treatment_arm")
    groups = everything.sort_values(["patient_id", "transfer_number"]).groupby("patient_id")["profile_group"].first()
    women["profile_group"] = women["patient_id"].map(groups).astype(str)
    recorded = everything.attrs["recorded"]
    missing = [o for o in dict(safety.CORE_OUTCOMES) if o not in recorded]
    text = f"**Recorded:** {', '.join(o.replace('_', ' ') for o in recorded)}."
    if missing:
        text += f" **Not recorded** (their columns or tables are absent): {', '.join(o.replace('_', ' ') for o in missing)}."
    if cohort.adverse_events is None:
        text += " No adverse-event table: adverse events are not recorded."
    return SafetyData(transfers=everything, first=first, women=women, recorded=Message(text))


@dataclass(frozen=True)
class CoreOutcomes:
    """The COMMIT core outcome tables, as saved (masked).

    Attributes
    ----------
    women_by_arm, women_by_profile, transfers_by_arm : DataFrame
        ``tables/core_outcomes_women_by_arm.csv`` (Table 3), ``…_women_by_profile.csv``,
        ``…_transfers_by_arm.csv``.
    gestational_age : DataFrame
        ``tables/gestational_age_by_arm.csv``.
    birthweight : DataFrame
        ``tables/birthweight_by_arm.csv`` (by plurality).
    """

    women_by_arm: pd.DataFrame
    women_by_profile: pd.DataFrame
    transfers_by_arm: pd.DataFrame
    gestational_age: pd.DataFrame
    birthweight: pd.DataFrame


def core_outcomes(ctx: RunContext, data: SafetyData) -> CoreOutcomes:
    """Core outcome set per woman (by first arm, by profile group) and per transfer (by arm); save them.

    Parameters
    ----------
    ctx : RunContext
    data : SafetyData

    Returns
    -------
    CoreOutcomes
    """
    level = ctx.conf_level
    women_arm = safety.core_outcome_table(data.women, by="treatment_arm", unit="woman", conf_level=level)
    women_profile = safety.core_outcome_table(data.women, by="profile_group", unit="woman", conf_level=level)
    transfers_arm = safety.core_outcome_table(data.transfers, by="treatment_arm", unit="transfer", conf_level=level)
    ga = safety.gestational_age_table(data.transfers, by="treatment_arm")
    return CoreOutcomes(
        women_by_arm=ctx.save_table(women_arm, "core_outcomes_women_by_arm"),
        women_by_profile=ctx.save_table(women_profile, "core_outcomes_women_by_profile"),
        transfers_by_arm=ctx.save_table(transfers_arm, "core_outcomes_transfers_by_arm"),
        gestational_age=ctx.save_table(ga, "gestational_age_by_arm"),
        birthweight=ctx.save_table(
            safety.birthweight_table(ctx.cohort.births, data.transfers, by="treatment_arm"), "birthweight_by_arm"
        ),
    )


@dataclass(frozen=True)
class AdverseEvents:
    """Adverse events by agent (``tables/adverse_events_by_agent.csv``, masked)."""

    table: pd.DataFrame


def adverse_events(ctx: RunContext, data: SafetyData) -> AdverseEvents:
    """Adverse events by agent and severity, per 100 women treated with exact intervals; save the table.

    Parameters
    ----------
    ctx : RunContext
    data : SafetyData

    Returns
    -------
    AdverseEvents
    """
    table = safety.adverse_event_table(ctx.cohort.adverse_events, data.transfers, conf_level=ctx.conf_level)
    return AdverseEvents(table=ctx.save_table(table, "adverse_events_by_agent"))


@dataclass(frozen=True)
class Harms:
    """Crude risk differences of each harm with Newcombe intervals, as saved.

    Attributes
    ----------
    by_arm : DataFrame
        Per woman, each arm at the first transfer against none (``harm_differences_by_arm``).
    by_agent : DataFrame
        Per transfer (per its denominator), each agent against no immunotherapy
        (``harm_differences_by_agent``).
    by_profile : DataFrame
        Per woman, personalized against none within each profile group (``harm_differences_by_profile``).
    """

    by_arm: pd.DataFrame
    by_agent: pd.DataFrame
    by_profile: pd.DataFrame


def harms(ctx: RunContext, data: SafetyData, *, reference_arm: str) -> Harms:
    """Risk differences of every harm by arm, by agent and by profile group; save them.

    Parameters
    ----------
    ctx : RunContext
    data : SafetyData
    reference_arm : str

    Returns
    -------
    Harms
    """
    level = ctx.conf_level
    by_arm = safety.harm_differences(data.women, harms=HARMS, reference=reference_arm, conf_level=level)
    by_agent = safety.harm_differences(
        data.transfers, harms=HARMS[1:], contrast="agent", reference=reference_arm, conf_level=level
    )
    by_profile = safety.harm_differences(
        data.women, harms=HARMS, reference=reference_arm, by="profile_group", conf_level=level
    )
    return Harms(
        by_arm=ctx.save_table(by_arm, "harm_differences_by_arm"),
        by_agent=ctx.save_table(by_agent, "harm_differences_by_agent"),
        by_profile=ctx.save_table(by_profile, "harm_differences_by_profile"),
    )


@dataclass(frozen=True)
class WeightedHarms:
    """IPTW risk differences and ratios of harms at the first transfer.

    Attributes
    ----------
    log : ModelLog
        Rows ``preterm_first_iptw`` (OR), ``preterm_first_iptw_rd``/``_rr`` and
        ``loss_per_hcg_iptw`` (OR), ``…_rd``/``_rr``.
    shown : DataFrame
        The rows, for display.
    """

    log: ModelLog
    shown: pd.DataFrame


def _notebook_05_weights(
    first: pd.DataFrame, *, ps_covariates: list[str], reference_arm: str, estimand: str, weight_truncation: list[float]
) -> pd.Series:
    """The IPTW weights of notebook 05: the same propensity model, estimand and truncation on the same rows."""
    scores = propensity.propensity_scores(first, covariates=ps_covariates, reference=reference_arm)
    raw = propensity.iptw_weights(scores, estimand=estimand, treated=TREATED)
    return propensity.truncate_weights(raw, weight_truncation)


def weighted_harms(
    ctx: RunContext,
    data: SafetyData,
    *,
    ps_covariates: list[str],
    reference_arm: str,
    estimand: str,
    weight_truncation: list[float],
) -> WeightedHarms:
    """Preterm birth per woman and pregnancy loss per positive hCG at the first transfer, weighted as in 05.

    The loss comparison is among first transfers with a positive hCG: a population selected
    after treatment, so it describes the pregnancies that occurred rather than a causal effect
    on loss (the arms that raise implantation change who has a positive hCG).

    Parameters
    ----------
    ctx : RunContext
    data : SafetyData
    ps_covariates : list of str
    reference_arm : str
    estimand : str
    weight_truncation : list of float

    Returns
    -------
    WeightedHarms
    """
    log = ModelLog(ctx.notebook)
    first = data.first
    w = _notebook_05_weights(
        first,
        ps_covariates=ps_covariates,
        reference_arm=reference_arm,
        estimand=estimand,
        weight_truncation=weight_truncation,
    )
    for model_id, outcome, rows in (
        (PRETERM_IPTW_ID, "preterm_birth", first.loc[w.index]),
        (LOSS_IPTW_ID, "any_pregnancy_loss", first.loc[w.index][first.loc[w.index, "positive_hcg"] == 1]),
    ):
        if outcome not in first.columns:
            log.failed(model_id, outcome, "first_transfer", f"{model_id}: {outcome} is not recorded")
            continue
        rows = rows[rows[outcome].notna()]
        weights = w.loc[rows.index]
        population = "first_transfer" if model_id == PRETERM_IPTW_ID else "first_transfer_positive_hcg"
        common = dict(
            outcome=outcome,
            reference=reference_arm,
            model_id=model_id,
            notebook=ctx.notebook,
            conf_level=ctx.conf_level,
            population=population,
        )
        log.run(model_id, outcome, population, len(rows), partial(effects.iptw_logit_rows, rows, weights, **common))
        rd_rr, _ = effects.iptw_risk_rows(rows, weights, **common)
        log.record(rd_rr, outcome, population)
    est = log.estimates_frame()
    shown = est[["model_id", "outcome", "term", "estimate", "conf_low", "conf_high", "n_obs", "n_events"]]
    return WeightedHarms(log=log, shown=ctx.mask(shown))


def rare_outcome_models(ctx: RunContext, data: SafetyData, *, reference_arm: str) -> ModelLog:
    """Firth models of rare outcomes among live births: preterm birth by agent, anomaly and neonatal death by arm.

    ``preterm_lb_agent_firth``: preterm birth ~ one indicator per agent given + a multiple birth,
    among live births of every transfer (each woman has at most one: transfers stop at the
    first live birth). ``anomaly_lb_arm_firth`` and ``neonatal_death_lb_arm_firth``: the outcome
    ~ arm among live births. Profile penalised-likelihood intervals.

    Parameters
    ----------
    ctx : RunContext
    data : SafetyData
    reference_arm : str

    Returns
    -------
    ModelLog
    """
    log = ModelLog(ctx.notebook)
    born = data.transfers[data.transfers["live_birth"] == 1]
    born = born.join(safety.agent_indicators(born))
    given = [c for c in safety.agent_indicators(born.iloc[:0]).columns if born[c].sum() > 0]
    common = dict(notebook=ctx.notebook, conf_level=ctx.conf_level, population="live_births")
    models = [
        (PRETERM_AGENT_FIRTH_ID, "preterm_birth", [*given, "multiple_birth"], None),
        (ANOMALY_FIRTH_ID, "major_congenital_anomaly", ["treatment_arm"], {"treatment_arm": reference_arm}),
        (NEONATAL_DEATH_FIRTH_ID, "neonatal_death", ["treatment_arm"], {"treatment_arm": reference_arm}),
    ]
    for model_id, outcome, covariates, references in models:
        if outcome not in born.columns or any(c not in born.columns for c in covariates):
            log.failed(model_id, outcome, "live_births", f"{model_id}: {outcome} is not recorded")
            continue
        rows = born.dropna(subset=[outcome, *covariates])
        log.run(
            model_id,
            outcome,
            "live_births",
            len(rows),
            partial(
                safety.firth_rows,
                rows,
                outcome=outcome,
                covariates=covariates,
                model_id=model_id,
                references=references,
                **common,
            ),
        )
    return log


def rare_outcome_estimates(ctx: RunContext, log) -> pd.DataFrame:
    """The Firth estimates of the rare outcomes as a reader sees them (small counts masked).

    Parameters
    ----------
    ctx : RunContext
    log : ModelLog
        :func:`rare_outcome_models`.

    Returns
    -------
    DataFrame
        model_id, term, estimate, conf_low, conf_high, n_obs, n_events.
    """
    shown = log.estimates_frame()[["model_id", "term", "estimate", "conf_low", "conf_high", "n_obs", "n_events"]]
    return ctx.mask(shown)


@dataclass(frozen=True)
class BenefitHarm:
    """Notebook 06's supported rule weighed against the declared harms.

    Attributes
    ----------
    benefit : DataFrame
        The supported rule as notebook 06 computes it (:func:`analysis.methods.benefit.rule_table`
        on the doubly robust estimates by profile group and by immune profile), masked.
    table : DataFrame
        ``tables/benefit_harm.csv`` per 100 women.
    rule : DataFrame
        ``tables/harm_checked_rule.csv``: recommended or not, with the verdict (masked).
    verdicts : Message
    drawn : DataFrame
        The unmasked profile-group rows Figure 6c is drawn from (the plot masks small counts itself).
    """

    benefit: pd.DataFrame
    table: pd.DataFrame
    rule: pd.DataFrame
    verdicts: Message
    drawn: pd.DataFrame


def benefit_harm(
    ctx: RunContext,
    data: SafetyData,
    *,
    outcome: str,
    ps_covariates: list[str],
    reference_arm: str,
    safety_outcomes: list[str],
    multiplicity: str,
    alpha: float,
) -> BenefitHarm:
    """Notebook 06's supported rule weighed against the declared safety outcomes; save both tables.

    The live-birth side is the rule itself (:func:`analysis.methods.benefit.aipw_rule_strata` and
    :func:`analysis.methods.benefit.rule_table` with the same population, confounders,
    multiplicity and alpha as notebook 06, so its numbers equal ``tables/benefit.csv``); the harm
    side is each declared outcome's first-transfer risk difference (Newcombe) within the same
    groups. :func:`analysis.methods.safety.harm_checked_rule` recommends a group only when the
    rule treats it and the gain exceeds every harm with confidence.

    Parameters
    ----------
    ctx : RunContext
    data : SafetyData
    outcome : str
        The benefit outcome (live birth).
    ps_covariates : list of str
        Confounders of the AIPW scores (notebook 06's ``ps_covariates``).
    reference_arm : str
    safety_outcomes : list of str
        The declared harms, each per woman (first transfer).
    multiplicity : str
        ``holm``, ``fixed_sequence`` or ``none`` (the plan's ``analysis_hierarchy``).
    alpha : float

    Returns
    -------
    BenefitHarm
    """
    strata, reasons = benefit.aipw_rule_strata(
        ctx.cohort.population("first", outcome),
        outcome=outcome,
        ps_covariates=ps_covariates,
        reference_arm=reference_arm,
        conf_level=ctx.conf_level,
    )
    rule = (
        benefit.rule_table(strata, alpha=alpha, multiplicity=multiplicity)
        if len(strata)
        else pd.DataFrame(columns=benefit.RULE_COLUMNS)
    )
    harms_first = pd.concat(
        [
            safety.harm_differences(
                data.first,
                harms=[(o, "unit") for o in safety_outcomes],
                reference=reference_arm,
                by=grouping,
                conf_level=ctx.conf_level,
            ).assign(grouping=grouping)
            for grouping in dict.fromkeys(rule["grouping"])
        ]
        or [pd.DataFrame(columns=["grouping", "stratum", "outcome", "comparison"])],
        ignore_index=True,
    )
    harms_first = harms_first[harms_first["comparison"] == f"{TREATED} vs {reference_arm}"]
    weighed = safety.benefit_harm_table(rule, harms_first, harm_outcomes=safety_outcomes)
    checked = safety.harm_checked_rule(rule, harms_first, harm_outcomes=safety_outcomes, conf_level=ctx.conf_level)
    saved_rule = ctx.save_table(checked, "harm_checked_rule")
    lines = [
        f"- {v}" if v != ctx.masked_label() else f"- {g}: not shown (its counts are masked)"
        for g, v in zip(saved_rule["group"], saved_rule["display"])
    ]
    lines += [f"- not estimable by {r}" for r in reasons]
    return BenefitHarm(
        benefit=ctx.mask(rule),
        table=ctx.save_table(weighed, "benefit_harm"),
        drawn=weighed[weighed["grouping"] == "profile_group"] if len(weighed) else weighed,
        rule=saved_rule,
        verdicts=Message("\n\n".join(lines) or "The data support no rule to weigh against harm."),
    )


@dataclass(frozen=True)
class Figure6:
    """Figure 6 and its caption."""

    figure: Figure
    caption: str


def figure_6(
    ctx: RunContext, data: SafetyData, core: CoreOutcomes, harm: Harms, weighed: BenefitHarm, *, reference_arm: str
) -> Figure6:
    """Draw and save Figure 6 (core outcomes by arm, preterm birth by agent, benefit against harm) and its caption.

    Parameters
    ----------
    ctx : RunContext
    data : SafetyData
    core : CoreOutcomes
    harm : Harms
    weighed : BenefitHarm
    reference_arm : str

    Returns
    -------
    Figure6
    """
    # a on top, b and c below: three panels side by side leave each too narrow for its labels
    # panel a holds a row per outcome and arm: the taller row, so masked rows' "<k" labels stay apart
    fig = plt.figure(figsize=style.figure_size("double", aspect=0.85))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.4, 1])
    axes = [fig.add_subplot(grid[0, :]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])]
    table = safety.core_outcome_table(data.women, by="treatment_arm", unit="woman", conf_level=ctx.conf_level)
    arms = [a for a in ("none", "empirical", "personalized") if a in set(table["group"])]
    ctx.plot(safety_plots.plot_outcome_proportions, table, outcomes=FIGURE_OUTCOMES, groups=arms, ax=axes[0])
    agent_rows = safety.harm_differences(
        data.transfers,
        harms=[("preterm_birth", "live_birth")],
        contrast="agent",
        reference=reference_arm,
        conf_level=ctx.conf_level,
    )
    ctx.plot(safety_plots.plot_harm_differences, agent_rows, ax=axes[1])
    ctx.plot(safety_plots.plot_benefit_harm, weighed.drawn, ax=axes[2])
    for ax, letter in zip(axes, "abc"):
        style.add_panel_letter(ax, letter)
    ctx.save_figure(fig, "figure_6_safety")
    caption = ctx.caption(
        captions.figure_6_caption,
        agent_rows,
        weighed.rule,
        n_women=len(data.women),
        harm_outcome="preterm_birth",
    )
    return Figure6(figure=fig, caption=ctx.save_caption(caption, 6))


def save_models(ctx: RunContext, *logs: ModelLog) -> pd.DataFrame:
    """Save the estimates and the model status of every section's models; return the status as saved.

    Parameters
    ----------
    ctx : RunContext
    *logs : ModelLog

    Returns
    -------
    DataFrame
        As saved in ``tables/model_status_07.csv``.
    """
    log = ModelLog(
        ctx.notebook,
        estimates=[rows for log in logs for rows in log.estimates],
        status=[row for log in logs for row in log.status],
    )
    ctx.save_estimates(log.estimates_frame())
    return ctx.save_table(log.status_frame(), "model_status_07")
