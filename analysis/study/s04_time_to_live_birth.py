"""What ``04_time_to_live_birth`` shows: cumulative live birth, the adjusted Cox model, competing risks.

Each function takes the run context (:class:`analysis.study.context.RunContext`) and the
notebook's analysis parameters, saves what the notebook writes (tables, figures, caption,
estimates) through the context, and returns a small result object with what the notebook shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.methods import survival_analysis, time_to_event
from analysis.methods.survival_analysis import CoxWithPHCheck, KaplanMeierCurves
from analysis.output import captions, disclosure, plotting, style
from analysis.study.context import RunContext

__all__ = [
    "AdjustedCox", "CompetingRisks", "CumulativeLiveBirth", "FollowUp", "TransferCurves", "adjusted_cox",
    "competing_risks", "cumulative_live_birth", "cumulative_live_birth_by_transfer", "follow_up",
    "save_survival_results", "schoenfeld_figure",
]

COX_MODEL_ID = "ttlb_cox_adjusted"
#: The groupings of the Kaplan–Meier curves and log-rank tests (panels a and b of Figure 4).
GROUPINGS = ["treatment_arm", "profile_group"]
#: Days at which the Aalen–Johansen curves are read off for the reader.
COMPETING_RISK_DAYS = [180, 365, 730]
#: Horizon of the cumulative live birth quoted in the Figure 4 caption (three years).
CAPTION_HORIZON_DAYS = 3 * 365.25
STATUS_LABELS = {0: "censored", 1: "live birth", 2: "drop-out"}
PANEL_LETTERS = "abcdefgh"


@dataclass(frozen=True)
class FollowUp:
    """Time from biopsy to live birth of each patient, and how each follow-up ended.

    Attributes
    ----------
    ttlb : DataFrame
        One row per patient (:func:`analysis.methods.time_to_event.time_to_live_birth`).
    status_counts : DataFrame
        status (censored, live birth, drop-out) and n, small counts masked.
    """

    ttlb: pd.DataFrame
    status_counts: pd.DataFrame


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
    """

    curves: KaplanMeierCurves
    figure: Figure
    logrank: pd.DataFrame


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


def follow_up(ctx: RunContext) -> FollowUp:
    """Return each patient's time to live birth and the counts of how follow-up ended.

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    FollowUp
    """
    ttlb = time_to_event.time_to_live_birth(ctx.cohort)
    counts = ttlb["status"].map(STATUS_LABELS).value_counts().rename_axis("status").reset_index(name="n")
    return FollowUp(ttlb=ttlb, status_counts=disclosure.mask_table(counts, ctx.min_cell_count))


def cumulative_live_birth(ctx: RunContext, ttlb: pd.DataFrame) -> CumulativeLiveBirth:
    """Draw and save Figure 4 (Kaplan–Meier by arm and by profile group) and the log-rank tests.

    Parameters
    ----------
    ctx : RunContext
    ttlb : DataFrame
        :attr:`FollowUp.ttlb`.

    Returns
    -------
    CumulativeLiveBirth
    """
    km = survival_analysis.cumulative_live_birth_curves(ttlb, by=GROUPINGS, conf_level=ctx.conf_level)
    fig, axes = plt.subplots(1, len(GROUPINGS), figsize=style.figure_size("double", aspect=0.5), sharey=True)
    for ax, by, letter in zip(axes, GROUPINGS, PANEL_LETTERS):
        plotting.plot_cumulative_incidence(km.curves[by], at_risk=km.at_risk[by], at_risk_times=km.at_risk_times,
                                           ax=ax, min_cell_count=ctx.min_cell_count)
        style.add_panel_letter(ax, letter)
    ctx.save_figure(fig, "figure_4_cumulative_live_birth")
    logrank = ctx.save_table(survival_analysis.logrank_table(ttlb, by=GROUPINGS), "logrank_tests")
    return CumulativeLiveBirth(curves=km, figure=fig, logrank=logrank)


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
    cox = survival_analysis.fit_cox_with_ph_check(ttlb, covariates=covariates, reference_arm=reference_arm,
                                                  conf_level=ctx.conf_level, notebook=ctx.notebook,
                                                  model_id=COX_MODEL_ID)
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
        plotting.plot_schoenfeld(survival_analysis.schoenfeld_residuals(cox.model, term=term), covariate=term, ax=ax)
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
    aj = survival_analysis.competing_risk_curves(ttlb, by="treatment_arm", conf_level=ctx.conf_level)
    ax = plotting.plot_cumulative_incidence(aj, ylabel="Cumulative live birth (drop-out competing)",
                                            min_cell_count=ctx.min_cell_count)
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
    table = time_to_event.cumulative_live_birth_by_transfer(ctx.cohort, group_col="treatment_arm",
                                                            max_transfer=max_transfer_number,
                                                            conf_level=ctx.conf_level)
    table = ctx.save_table(table, "cumulative_live_birth_by_transfer")
    ax = plotting.plot_cumulative_by_transfer(table)
    ctx.save_figure(ax.figure, "supp_cumulative_by_transfer")
    shown = table[["group", "label", "n_reaching", "n_live_births", "conservative", "optimistic"]]
    return TransferCurves(table=table, figure=ax.figure, shown=shown)


def save_survival_results(ctx: RunContext, km: CumulativeLiveBirth, cox: AdjustedCox,
                          competing: CompetingRisks) -> str:
    """Save every curve (``survival.csv``), the Cox estimates and the Figure 4 caption; return the caption.

    Parameters
    ----------
    ctx : RunContext
    km : CumulativeLiveBirth
    cox : AdjustedCox
    competing : CompetingRisks

    Returns
    -------
    str
        The caption of Figure 4.
    """
    curves = survival_analysis.survival_table(km.curves, competing.curves)
    ctx.save_table(curves, "survival")
    ctx.save_estimates(cox.estimates)
    caption = captions.figure_4_caption(curves, km.logrank, horizon_days=CAPTION_HORIZON_DAYS,
                                        conf_level=ctx.conf_level, min_cell_count=ctx.min_cell_count)
    return ctx.save_caption(caption, 4)
