"""What ``04_time_to_live_birth`` shows: the emulated target trial of time to live birth.

Time zero is the first transfer after the biopsy, the arm at that transfer the assigned strategy
(:mod:`analysis.methods.target_trial`): cumulative live birth (Kaplan–Meier, Figure 4), the
intention-to-treat-analogue Cox model with its proportional-hazards check, competing risks with
drop-out, and the per-protocol analyses (weighted Cox, cumulative live birth by transfer under
"always personalized" vs "never", the discrete-time hazard model).

Each function takes the run context (:class:`analysis.study.context.RunContext`) and the
notebook's analysis parameters, saves what the notebook writes (tables, figures, caption,
estimates) through the context, and returns a small result object with what the notebook shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.methods import follow_up as follow_up_time
from analysis.methods import survival_analysis, target_trial, time_to_event
from analysis.methods.outcomes import attempt
from analysis.methods.survival_analysis import CoxWithPHCheck, KaplanMeierCurves
from analysis.methods.target_trial import Course, CumulativeResult
from analysis.output import captions, plotting, style
from analysis.output.plotting import biomarkers as biomarker_plots
from analysis.output.plotting import effects as effect_plots
from analysis.output.risk_table import RISK_TABLE_COLUMNS, numbers_at_risk
from analysis.study.context import RunContext
from analysis.study.messages import Message, not_estimable

__all__ = [
    "AdjustedCox",
    "CompetingRisks",
    "CumulativeLiveBirth",
    "FollowUp",
    "PerProtocol",
    "Protocol",
    "TransferCurves",
    "adjusted_cox",
    "competing_risks",
    "cumulative_live_birth",
    "cumulative_live_birth_by_transfer",
    "follow_up",
    "follow_up_duration",
    "per_protocol",
    "protocol",
    "save_survival_results",
    "schoenfeld_figure",
]

COX_MODEL_ID = "ttlb_cox_itt"
PP_COX_MODEL_ID = "ttlb_cox_pp"
PP_CUMULATIVE_MODEL_ID = "clb_pp"
DISCRETE_TIME_MODEL_ID = "clb_dth"
#: The groupings of the Kaplan–Meier curves and log-rank tests (panels a and b of Figure 4).
GROUPINGS = ["treatment_arm", "profile_group"]
#: Days at which the Aalen–Johansen curves are read off for the reader.
COMPETING_RISK_DAYS = [180, 365, 730]
#: Horizon of the cumulative live birth quoted in the Figure 4 caption (three years).
CAPTION_HORIZON_DAYS = 3 * 365.25
STATUS_LABELS = {0: "censored", 1: "live birth", 2: "drop-out"}
#: Groups of the per-protocol cumulative live birth (all women, then by profile group).
PP_GROUPS = ("all", "dysregulated", "balanced")
PANEL_LETTERS = "abcdefgh"


@dataclass(frozen=True)
class FollowUp:
    """The emulated trial's population and how each woman's follow-up ended.

    Attributes
    ----------
    course : Course
        Each woman's course of transfers from time zero, cut at her first live birth.
    ttlb : DataFrame
        One row per woman: ``treatment_arm`` (arm at time zero), ``time_days`` from time zero,
        ``event`` (live birth), ``status`` (0 censored, 1 live birth, 2 drop-out), baseline covariates.
    status_counts : DataFrame
        How follow-up ended (live birth, drop-out, outcome unknown, end of follow-up) and n, masked.
    after_birth : int
        Transfers after a woman's first live birth: reported, not counted.
    """

    course: Course
    ttlb: pd.DataFrame
    status_counts: pd.DataFrame
    after_birth: int


@dataclass(frozen=True)
class Protocol:
    """The target-trial protocol (TARGET items) and the delay from biopsy to time zero by arm.

    Attributes
    ----------
    table : DataFrame
        ``item, target_trial, emulation`` as saved in ``tables/target_trial_protocol.csv``.
    delay : DataFrame
        Days from the biopsy to the first transfer by arm (``tables/delay_biopsy_to_first_transfer.csv``).
    """

    table: pd.DataFrame
    delay: pd.DataFrame


@dataclass(frozen=True)
class PerProtocol:
    """Per-protocol analyses: censored at a switch of arm, with stabilised IPTW × IPCW.

    Each part is fitted on its own; a part the data cannot support (a weight model separated in a
    small cohort, say) is shown as the reason, and the others go on.

    Attributes
    ----------
    cox : DataFrame or Message
        Hazard ratios of the weighted Cox model (``ttlb_cox_pp``), or why there are none.
    cumulative : CumulativeResult or None
        Cumulative live birth by transfer under each strategy, and the difference (``clb_pp``).
    differences : DataFrame or Message
        Always personalized − never by transfer and group, or why there is none.
    figure : Figure
        ``supp_cumulative_per_protocol``: the strategies' curves for all women and by profile group.
    discrete_time : DataFrame or Message
        Odds ratios of the discrete-time hazard model of live birth per transfer (``clb_dth``).
    estimates : DataFrame
        All their estimate rows, as saved.
    """

    cox: pd.DataFrame | Message
    cumulative: CumulativeResult | None
    differences: pd.DataFrame | Message
    figure: Figure
    discrete_time: pd.DataFrame | Message
    estimates: pd.DataFrame


@dataclass(frozen=True)
class CumulativeLiveBirth:
    """Kaplan–Meier cumulative live birth by arm and by profile group (Figure 4) and log-rank tests.

    Attributes
    ----------
    curves : KaplanMeierCurves
    figure : Figure
        Figure 4, saved as ``figure_4_cumulative_live_birth``.
    logrank : DataFrame
        The log-rank tests, as saved in ``tables/logrank_tests.csv``.
    risk_table : DataFrame
        The rows under Figure 4 (``tables/risk_table_figure_4.csv``): by grouping, group and time,
        the numbers at risk, cumulative live births and cumulative censored, read off the curves
        as published (:func:`analysis.output.risk_table.numbers_at_risk`).
    """

    curves: KaplanMeierCurves
    figure: Figure
    logrank: pd.DataFrame
    risk_table: pd.DataFrame


@dataclass(frozen=True)
class AdjustedCox:
    """The adjusted Cox model, its proportional-hazards check and the arm's Schoenfeld residuals.

    Attributes
    ----------
    model : CoxWithPHCheck
        The fitted model and check.
    decision : str
        What the check decided, for the reader.
    ph_test : DataFrame
        As saved in ``tables/ph_tests.csv``.
    status : DataFrame
        As saved in ``tables/model_status_04.csv``.
    estimates : DataFrame
        Tidy rows of every fitted Cox model.
    """

    model: CoxWithPHCheck
    decision: str
    ph_test: pd.DataFrame
    status: pd.DataFrame
    estimates: pd.DataFrame


@dataclass(frozen=True)
class CompetingRisks:
    """Aalen–Johansen cumulative live birth with drop-out as a competing event.

    Attributes
    ----------
    curves : DataFrame
        Cumulative incidence by arm.
    figure : Figure
        Saved as ``supp_aalen_johansen``.
    at_days : DataFrame
        The curves read at :data:`COMPETING_RISK_DAYS`.
    """

    curves: pd.DataFrame
    figure: Figure
    at_days: pd.DataFrame


@dataclass(frozen=True)
class TransferCurves:
    """Cumulative live birth by transfer number (conservative and optimistic).

    Attributes
    ----------
    table : DataFrame
        As saved in ``tables/cumulative_live_birth_by_transfer.csv``.
    figure : Figure
        Saved as ``supp_cumulative_by_transfer``.
    shown : DataFrame
        The columns a reader looks at.
    """

    table: pd.DataFrame
    figure: Figure
    shown: pd.DataFrame


def follow_up(ctx: RunContext, *, dropout_days: int) -> FollowUp:
    """Return each woman's course from time zero, her time to live birth and how follow-up ended.

    Parameters
    ----------
    ctx : RunContext
    dropout_days : int
        No transfer for this many days after a failure, with follow-up beyond it, is drop-out.

    Returns
    -------
    FollowUp
    """
    course = target_trial.first_course(ctx.cohort, dropout_days=dropout_days)
    ttlb = course.women.assign(treatment_arm=course.women["assigned_arm"])
    counts = ttlb["end"].str.replace("_", " ").value_counts().rename_axis("end of follow-up").reset_index(name="n")
    return FollowUp(course=course, ttlb=ttlb, status_counts=ctx.mask(counts), after_birth=len(course.after_birth))


def follow_up_duration(ctx: RunContext, ttlb: pd.DataFrame) -> pd.DataFrame:
    """Write and return the median follow-up by reverse Kaplan–Meier with its IQR, per arm and overall.

    Follow-up runs from time zero of the emulated trial; a live birth censors the time a woman
    would still have been followed (:func:`analysis.methods.follow_up.reverse_km_follow_up`).

    Parameters
    ----------
    ctx : RunContext
    ttlb : DataFrame
        :attr:`FollowUp.ttlb`.

    Returns
    -------
    DataFrame
        ``tables/follow_up_by_arm.csv``: group (arm, then ``overall``), n, n_ended (follow-up ended
        without a live birth), median_days, q1_days, q3_days; masked.
    """
    data = ttlb.assign(treatment_arm=ttlb["treatment_arm"].astype(str))
    by_arm = follow_up_time.reverse_km_follow_up(
        data, duration_col="time_days", event_col="event", group_col="treatment_arm"
    )
    order = [a for a in ("none", "empirical", "personalized") if a in set(by_arm["group"])]
    by_arm = by_arm.set_index("group").loc[order + sorted(set(by_arm["group"]) - set(order))].reset_index()
    overall = follow_up_time.reverse_km_follow_up(data, duration_col="time_days", event_col="event")
    table = pd.concat([by_arm, overall.assign(group="overall")], ignore_index=True)
    return ctx.save_table(table, "follow_up_by_arm")


def protocol(
    ctx: RunContext, *, covariates: list[str], dropout_days: int, max_transfers: int, n_bootstrap: int
) -> Protocol:
    """Save and return the target-trial protocol table and the biopsy-to-first-transfer delay by arm.

    Parameters
    ----------
    ctx : RunContext
    covariates : list of str
        Baseline confounders of the arm at time zero.
    dropout_days : int
        The drop-out rule.
    max_transfers : int
        Transfers of the per-protocol cumulative live birth.
    n_bootstrap : int
        Bootstrap replicates of its intervals.

    Returns
    -------
    Protocol
    """
    table = target_trial.protocol_table(
        covariates=covariates,
        dropout_days=dropout_days,
        max_k=max_transfers,
        conf_level=ctx.conf_level,
        n_boot=n_bootstrap,
    )
    table = ctx.save_table(table, "target_trial_protocol")
    delay = ctx.save_table(target_trial.delay_by_arm(ctx.cohort), "delay_biopsy_to_first_transfer")
    return Protocol(table=table, delay=delay)


def per_protocol(
    ctx: RunContext,
    follow: FollowUp,
    *,
    covariates: list[str],
    max_transfers: int,
    n_bootstrap: int,
    seed: int,
    n_jobs: int,
) -> PerProtocol:
    """Fit the per-protocol analyses; save their estimates, curves and figure.

    Parameters
    ----------
    ctx : RunContext
    follow : FollowUp
    covariates : list of str
        Baseline confounders (also in the switch model, with transfer number and profile group).
    max_transfers : int
        Cumulative live birth by transfer 1 … this number.
    n_bootstrap, seed, n_jobs : int
        Bootstrap of the cumulative live birth (whole courses resampled, weights refitted).

    Returns
    -------
    PerProtocol
    """
    course = follow.course
    cox = attempt(
        lambda: target_trial.per_protocol_cox(
            course, covariates=covariates, conf_level=ctx.conf_level, notebook=ctx.notebook, model_id=PP_COX_MODEL_ID
        )
    )
    cumulative = attempt(
        lambda: target_trial.per_protocol_cumulative(
            course,
            covariates=covariates,
            max_k=max_transfers,
            groups=PP_GROUPS,
            n_boot=n_bootstrap,
            seed=seed,
            n_jobs=n_jobs,
            conf_level=ctx.conf_level,
            notebook=ctx.notebook,
            model_id=PP_CUMULATIVE_MODEL_ID,
        )
    )
    dth = attempt(
        lambda: target_trial.discrete_time_hazard(
            course,
            covariates=covariates,
            conf_level=ctx.conf_level,
            notebook=ctx.notebook,
            model_id=DISCRETE_TIME_MODEL_ID,
        )
    )
    fig, axes = plt.subplots(1, len(PP_GROUPS), figsize=style.figure_size("double", aspect=0.38), sharey=True)
    if cumulative.ok:
        ctx.save_table(cumulative.value.curves, "cumulative_live_birth_per_protocol")
    for ax, group, letter in zip(axes, PP_GROUPS, PANEL_LETTERS):
        _strategy_panel(ctx, cumulative, group, ax)
        style.add_panel_letter(ax, letter)
    style.legend_on_last(axes)
    ctx.save_figure(fig, "supp_cumulative_per_protocol")
    plt.close(fig)
    parts = [a.value if a.ok else None for a in (cox, dth)]
    parts.append(cumulative.value.estimates if cumulative.ok else None)
    estimates = (
        pd.concat([e for e in parts if e is not None], ignore_index=True)
        if any(e is not None for e in parts)
        else pd.DataFrame()
    )
    return PerProtocol(
        cox=cox.value if cox.ok else not_estimable(cox.reason),
        cumulative=cumulative.value if cumulative.ok else None,
        differences=(cumulative.value.differences if cumulative.ok else not_estimable(cumulative.reason)),
        figure=fig,
        discrete_time=dth.value if dth.ok else not_estimable(dth.reason),
        estimates=estimates,
    )


def _strategy_panel(ctx: RunContext, cumulative, group: str, ax) -> None:
    """One panel of the per-protocol figure: the strategies' curves, or why there are none."""
    if cumulative.ok:
        effect_plots.plot_strategy_curves(cumulative.value.curves, group=group, ci_label=ctx.ci_label, ax=ax)
    else:
        biomarker_plots.plot_message(f"Not estimable: {cumulative.reason}", ax=ax)


def _disclosed(ctx: RunContext, km: KaplanMeierCurves) -> KaplanMeierCurves:
    """The curves as published: coarsened, with numbers at risk taken from them (unchanged with no control)."""
    if ctx.min_cell_count <= 1:
        return km
    curves = {by: ctx.coarsen_curves(c) for by, c in km.curves.items()}
    at_risk = {by: ctx.at_risk_of(c) for by, c in curves.items()}
    return KaplanMeierCurves(curves=curves, at_risk=at_risk, at_risk_times=km.at_risk_times)


def cumulative_live_birth(
    ctx: RunContext, ttlb: pd.DataFrame, *, risk_table_events: bool = False, risk_table_censored: bool = False
) -> CumulativeLiveBirth:
    """Draw and save Figure 4 (Kaplan–Meier by arm and by profile group), its risk table and the log-rank tests.

    Parameters
    ----------
    ctx : RunContext
    ttlb : DataFrame
        :attr:`FollowUp.ttlb`.
    risk_table_events, risk_table_censored : bool
        Add rows of cumulative live births, and of cumulative censored, under the numbers at
        risk (the table always holds all three).

    Returns
    -------
    CumulativeLiveBirth
    """
    km = _disclosed(ctx, survival_analysis.cumulative_live_birth_curves(ttlb, by=GROUPINGS, conf_level=ctx.conf_level))
    risk = {by: numbers_at_risk(km.curves[by], km.at_risk_times, min_cell_count=ctx.min_cell_count) for by in GROUPINGS}
    stats = ["n_at_risk"] + ["cum_events"] * risk_table_events + ["cum_censored"] * risk_table_censored
    rows = 1 + len(stats) * (1 + max(km.curves[by]["group"].nunique() for by in GROUPINGS))
    fig, axes = plt.subplots(
        1, len(GROUPINGS), figsize=style.figure_size("double", aspect=0.4 + 0.022 * rows), sharey=True
    )
    for ax, by, letter in zip(axes, GROUPINGS, PANEL_LETTERS):
        plotting.plot_cumulative_incidence(
            km.curves[by],
            at_risk=risk[by],
            at_risk_times=km.at_risk_times,
            ax=ax,
            min_cell_count=ctx.min_cell_count,
            at_risk_stats=stats,
        )
        style.add_panel_letter(ax, letter)
    ctx.save_figure(fig, "figure_4_cumulative_live_birth")
    compared = [by for by in GROUPINGS if ttlb[by].nunique() > 1]  # a profile group may have no patient
    for by in sorted(set(GROUPINGS) - set(compared)):
        print(
            ctx.skip(f"Log-rank test by {by}", [by], f"`{by}` takes one value among the patients: nothing to compare")
        )
    logrank = ctx.save_table(survival_analysis.logrank_table(ttlb, by=compared), "logrank_tests")
    table = pd.concat([r.assign(grouping=by) for by, r in risk.items()], ignore_index=True)
    table = ctx.save_table(table[["grouping", *RISK_TABLE_COLUMNS]], "risk_table_figure_4")
    return CumulativeLiveBirth(curves=km, figure=fig, logrank=logrank, risk_table=table)


def adjusted_cox(ctx: RunContext, ttlb: pd.DataFrame, *, covariates: list[str], reference_arm: str) -> AdjustedCox:
    """Fit the adjusted Cox model with its proportional-hazards check; save the test and model status.

    Parameters
    ----------
    ctx : RunContext
    ttlb : DataFrame
        :attr:`FollowUp.ttlb`.
    covariates : list of str
        Patient-level adjustment set.
    reference_arm : str
        Reference level of the arm.

    Returns
    -------
    AdjustedCox
    """
    cox = survival_analysis.fit_cox_with_ph_check(
        ttlb,
        covariates=covariates,
        reference_arm=reference_arm,
        conf_level=ctx.conf_level,
        notebook=ctx.notebook,
        model_id=COX_MODEL_ID,
    )
    ph_test = ctx.save_table(cox.ph_test, "ph_tests")
    status = ctx.save_table(cox.status, "model_status_04")
    return AdjustedCox(model=cox, decision=cox.decision, ph_test=ph_test, status=status, estimates=cox.estimates)


def schoenfeld_figure(ctx: RunContext, cox: AdjustedCox) -> Figure:
    """Draw and save the scaled Schoenfeld residuals of each arm term (``supp_schoenfeld_arm``).

    An empty panel stands in when the model could not be fitted.

    Parameters
    ----------
    ctx : RunContext
    cox : AdjustedCox

    Returns
    -------
    Figure
    """
    terms = cox.model.arm_terms
    fig, axes = plt.subplots(1, max(len(terms), 1), figsize=style.figure_size("double", aspect=0.35), squeeze=False)
    for ax, term, letter in zip(axes[0], terms, PANEL_LETTERS):
        plotting.plot_schoenfeld(
            survival_analysis.schoenfeld_residuals(cox.model, term=term),
            covariate=term,
            ax=ax,
            min_cell_count=ctx.min_cell_count,
        )
        style.add_panel_letter(ax, letter)
    ctx.save_figure(fig, "supp_schoenfeld_arm")
    return fig


def competing_risks(ctx: RunContext, ttlb: pd.DataFrame) -> CompetingRisks:
    """Aalen–Johansen cumulative live birth by arm with drop-out competing; save its figure.

    Parameters
    ----------
    ctx : RunContext
    ttlb : DataFrame
        :attr:`FollowUp.ttlb`.

    Returns
    -------
    CompetingRisks
    """
    aj = ctx.coarsen_curves(
        survival_analysis.competing_risk_curves(ttlb, by="treatment_arm", conf_level=ctx.conf_level)
    )
    _, ax = plt.subplots()  # its own figure: the current one may be another notebook figure
    plotting.plot_cumulative_incidence(
        aj, ylabel="Cumulative live birth (drop-out competing)", ax=ax, min_cell_count=ctx.min_cell_count
    )
    ctx.save_figure(ax.figure, "supp_aalen_johansen")
    return CompetingRisks(curves=aj, figure=ax.figure, at_days=survival_analysis.curves_at(aj, COMPETING_RISK_DAYS))


def cumulative_live_birth_by_transfer(ctx: RunContext, *, max_transfer_number: int) -> TransferCurves:
    """Cumulative live birth by transfer number and arm; save the table and its figure.

    Parameters
    ----------
    ctx : RunContext
    max_transfer_number : int
        Transfers 1 … this number (the last pooled, "k+").

    Returns
    -------
    TransferCurves
    """
    table = time_to_event.cumulative_live_birth_by_transfer(
        ctx.cohort, group_col="treatment_arm", max_transfer=max_transfer_number, conf_level=ctx.conf_level
    )
    table = ctx.save_table(table, "cumulative_live_birth_by_transfer")
    # its own figure, 1.5 columns wide: the legend (arms and the two bounds) sits beside the axes
    _, ax = plt.subplots(figsize=style.figure_size("onehalf", aspect=0.6))
    plotting.plot_cumulative_by_transfer(table, ax=ax)
    ctx.save_figure(ax.figure, "supp_cumulative_by_transfer")
    shown = table[["group", "label", "n_reaching", "n_live_births", "conservative", "optimistic"]]
    return TransferCurves(table=table, figure=ax.figure, shown=shown)


def save_survival_results(
    ctx: RunContext, km: CumulativeLiveBirth, cox: AdjustedCox, competing: CompetingRisks, per_protocol: PerProtocol
) -> str:
    """Save every curve (``survival.csv``), the Cox estimates and the Figure 4 caption; return the caption.

    Parameters
    ----------
    ctx : RunContext
    km : CumulativeLiveBirth
    cox : AdjustedCox
    competing : CompetingRisks
    per_protocol : PerProtocol

    Returns
    -------
    str
        The caption of Figure 4.
    """
    curves = ctx.save_table(survival_analysis.survival_table(km.curves, competing.curves), "survival")
    ctx.save_estimates(pd.concat([e for e in (cox.estimates, per_protocol.estimates) if len(e)], ignore_index=True))
    caption = captions.figure_4_caption(
        curves,
        km.logrank,
        horizon_days=CAPTION_HORIZON_DAYS,
        conf_level=ctx.conf_level,
        min_cell_count=ctx.min_cell_count,
        curve_rule=ctx.curve_rule(),
    )
    return ctx.save_caption(caption, 4)
