"""The work of ``02_immune_landscape``: markers by profile, prevalence, correlations, blood vs endometrium.

Each function takes the run context (and the notebook's analysis parameters), writes its tables,
figures and caption through the context, and returns what the notebook shows. The population is
the included patients (:func:`analysis.methods.landscape.included_patients`); the prevalence
table and panels also report the women whose profile is ``indeterminate``
(:func:`analysis.methods.landscape.profiled_patients`), who are left out of every analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.methods import landscape
from analysis.output import captions, disclosure, plotting, style
from analysis.output.declarations import declaration_for
from analysis.study.context import RunContext
from analysis.study.messages import Message

__all__ = [
    "Prevalence",
    "MarkerCorrelations",
    "BloodVsEndometrium",
    "LandscapeFigure",
    "markers_by_profile",
    "prevalence",
    "profile_concordance",
    "marker_correlations",
    "blood_vs_endometrium",
    "landscape_figure",
]

#: The blood and endometrial markers drawn against each other, with the cut-offs of both.
BLOOD_MARKER = "blood_nk_percent"
ENDOMETRIAL_MARKER = "unk_cd56_percent"


@dataclass(frozen=True)
class Prevalence:
    """Immune-profile prevalence overall and by centre.

    Attributes
    ----------
    overall, by_centre : DataFrame
        ``tables/profile_prevalence.csv`` and ``profile_prevalence_by_centre.csv`` as written.
    figure : Figure
        Stacked bars, overall and by centre (``supp_profile_prevalence``).
    """

    overall: pd.DataFrame
    by_centre: pd.DataFrame
    figure: Figure


@dataclass(frozen=True)
class MarkerCorrelations:
    """Spearman correlations of the endometrial and blood markers.

    Attributes
    ----------
    matrix : DataFrame
        The correlation matrix (written as ``tables/marker_correlations.csv``).
    figure : Figure
        Its heat map (``supp_marker_correlations``).
    """

    matrix: pd.DataFrame
    figure: Figure


@dataclass(frozen=True)
class BloodVsEndometrium:
    """Does peripheral blood NK reflect the endometrium?

    Attributes
    ----------
    spearman : DataFrame or Message
        Blood NK % against each endometrial marker (``tables/blood_vs_endometrium_spearman.csv``).
    kappa : DataFrame
        Cohen's kappa of elevated blood NK against an over-activated endometrium (``blood_nk_kappa``).
    agreement : DataFrame
        The 2 × 2 table behind kappa, small counts masked.
    figure : Figure
        Blood NK against endometrial uNK with both cut-offs (``supp_blood_vs_endometrium``).
    """

    spearman: pd.DataFrame | Message
    kappa: pd.DataFrame | Message
    agreement: pd.DataFrame | Message
    figure: Figure | Message


@dataclass(frozen=True)
class LandscapeFigure:
    """Figure 2, the immune landscape in four panels, and its caption.

    Attributes
    ----------
    figure : Figure
        Figure 2 (``figures/figure_2_landscape.*``).
    caption : str
        Its caption (``figures/figure_2.txt``).
    """

    figure: Figure
    caption: str


def _patients(ctx: RunContext) -> pd.DataFrame:
    return landscape.included_patients(ctx.cohort)


def _letter_panels(axes, letters: str) -> None:
    for ax, letter in zip(axes, letters, strict=True):
        style.add_panel_letter(ax, letter)


def _save(ctx: RunContext, fig: Figure, name: str) -> Figure:
    """Save ``fig`` through the context and close it; the result object shows it."""
    ctx.save_figure(fig, name)
    plt.close(fig)
    return fig


def _as_published(ctx: RunContext, frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """``frame`` masked as ``tables/<name>.csv`` is (its declaration, the run's threshold)."""
    masked, _ = disclosure.mask_declared(
        frame, declaration_for(name), ctx.min_cell_count, name=name, hidden_totals=ctx._hidden_totals
    )
    return masked


def _absent_panel(ax, columns: list[str]) -> None:
    """Leave a panel empty with the reason: the columns it draws are absent or empty."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, "not in the data: " + ", ".join(columns), ha="center", va="center", transform=ax.transAxes)


def _cutoff_scatter(
    ctx: RunContext, patients: pd.DataFrame, ax, *, profile_cutoffs: dict, blood_nk_cutoff: float
) -> None:
    missing = ctx.missing_columns(patients, [BLOOD_MARKER, ENDOMETRIAL_MARKER])
    if missing:
        _absent_panel(ax, missing)
        return
    upper = landscape.marker_cutoff_lines(profile_cutoffs)[ENDOMETRIAL_MARKER]["high"]
    plotting.plot_cutoff_scatter(
        patients,
        x=BLOOD_MARKER,
        y=ENDOMETRIAL_MARKER,
        x_cutoff=blood_nk_cutoff,
        y_cutoff=upper,
        hue="immune_profile",
        log=(False, True),
        ax=ax,
        min_cell_count=ctx.min_cell_count,
    )


def markers_by_profile(ctx: RunContext, *, profile_cutoffs: dict) -> Figure:
    """Draw each endometrial marker by profile with the cut-offs of the profile rule (``supp_markers_by_profile``).

    Parameters
    ----------
    ctx : RunContext
    profile_cutoffs : dict
        The profile cut-off rule (:func:`analysis.data.profiles.resolve_cutoffs`).

    Returns
    -------
    Figure
    """
    patients = _patients(ctx)
    lines = landscape.marker_cutoff_lines(profile_cutoffs)
    fig, axes = plt.subplots(2, 2, figsize=style.figure_size("double", aspect=0.7))
    for ax, marker in zip(axes.flat, lines, strict=True):
        if ctx.missing_columns(patients, [marker]):
            _absent_panel(ax, [marker])
            continue
        plotting.plot_marker_distribution(
            patients, marker=marker, cutoffs=lines[marker], ax=ax, min_cell_count=ctx.min_cell_count
        )
    _letter_panels(axes.flat, "abcd")
    return _save(ctx, fig, "supp_markers_by_profile")


def prevalence(ctx: RunContext) -> Prevalence:
    """Write the profile prevalence overall and by centre, with their figure.

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    Prevalence
    """
    patients = landscape.profiled_patients(ctx.cohort)
    overall = ctx.save_table(landscape.profile_prevalence(patients), "profile_prevalence")
    by_centre = ctx.save_table(landscape.profile_prevalence(patients, by="center_id"), "profile_prevalence_by_centre")
    fig, axes = plt.subplots(
        1, 2, figsize=style.figure_size("double", aspect=0.4), gridspec_kw={"width_ratios": [1, 4]}
    )
    plotting.plot_prevalence(patients, ax=axes[0], min_cell_count=ctx.min_cell_count)
    plotting.plot_prevalence(patients, by="center_id", ax=axes[1], min_cell_count=ctx.min_cell_count)
    _letter_panels(axes, "ab")
    return Prevalence(overall=overall, by_centre=by_centre, figure=_save(ctx, fig, "supp_profile_prevalence"))


def profile_concordance(ctx: RunContext) -> pd.DataFrame | Message:
    """Write and return the lab's profile against the profile the cut-off rule derives (masked).

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    DataFrame or Message
        Cross-table, lab profile by row and derived profile by column (``tables/profile_concordance.csv``);
        without the lab's profile, the sentence saying the comparison was skipped.
    """
    missing = ctx.missing_columns(ctx.cohort.patients, ["immune_profile_lab"])
    if missing:
        return ctx.skip("Lab profile against the derived profile", ["immune_profile"])
    table = disclosure.mask_crosstab(landscape.profile_concordance(_patients(ctx)), ctx.min_cell_count)
    ctx.save_table(table.reset_index(), "profile_concordance")
    return table


def marker_correlations(ctx: RunContext) -> MarkerCorrelations:
    """Write the Spearman correlation matrix of the markers and its heat map.

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    MarkerCorrelations
    """
    matrix = landscape.marker_correlations(_patients(ctx))
    ctx.save_table(matrix.reset_index(names="marker"), "marker_correlations")
    fig, ax = plt.subplots()
    plotting.plot_correlation_heatmap(matrix, ax=ax)
    return MarkerCorrelations(matrix=matrix, figure=_save(ctx, fig, "supp_marker_correlations"))


def blood_vs_endometrium(ctx: RunContext, *, profile_cutoffs: dict, blood_nk_cutoff: float) -> BloodVsEndometrium:
    """Write the blood-vs-endometrium correlations, the elevated-NK kappa and their scatter plot.

    Intervals follow ``ctx.conf_level``.

    Parameters
    ----------
    ctx : RunContext
    profile_cutoffs : dict
        The profile cut-off rule; its upper uNK cut-off is drawn.
    blood_nk_cutoff : float
        Blood NK % above which blood NK counts as elevated.

    Returns
    -------
    BloodVsEndometrium
        Without blood NK (absent or empty), every field is the sentence saying the section was skipped.
    """
    patients = _patients(ctx)
    if ctx.missing_columns(patients, [BLOOD_MARKER]):
        skipped = ctx.skip("Blood NK against the endometrium", [BLOOD_MARKER])
        return BloodVsEndometrium(spearman=skipped, kappa=skipped, agreement=skipped, figure=skipped)
    spearman = ctx.save_table(
        landscape.blood_vs_endometrium(patients, blood=BLOOD_MARKER, conf_level=ctx.conf_level),
        "blood_vs_endometrium_spearman",
    )
    nk = landscape.elevated_nk_agreement(patients, blood_nk_cutoff=blood_nk_cutoff, conf_level=ctx.conf_level)
    kappa = ctx.save_table(landscape.kappa_table(nk["kappa"], blood_nk_cutoff=blood_nk_cutoff), "blood_nk_kappa")
    fig, ax = plt.subplots()
    _cutoff_scatter(ctx, patients, ax, profile_cutoffs=profile_cutoffs, blood_nk_cutoff=blood_nk_cutoff)
    return BloodVsEndometrium(
        spearman=spearman,
        kappa=kappa,
        agreement=disclosure.mask_crosstab(nk["table"], ctx.min_cell_count),
        figure=_save(ctx, fig, "supp_blood_vs_endometrium"),
    )


def landscape_figure(ctx: RunContext, *, profile_cutoffs: dict, blood_nk_cutoff: float) -> LandscapeFigure:
    """Draw Figure 2 and write its caption: (a) prevalence by centre, (b) uNK by profile, (c) correlations, (d) blood vs uNK.

    Panel a is drawn from the prevalence tables as published (overall and by centre, masked), so
    it shows no count the tables hide. Panel b gets the wider column of the top row, so its
    group labels (name and n) have room side by side.

    Parameters
    ----------
    ctx : RunContext
    profile_cutoffs : dict
        The profile cut-off rule (lines of panels b and d).
    blood_nk_cutoff : float
        Blood NK cut-off (panel d).

    Returns
    -------
    LandscapeFigure
    """
    patients = _patients(ctx)
    profiled = landscape.profiled_patients(ctx.cohort)
    table = pd.concat(
        [
            _as_published(ctx, landscape.profile_prevalence(profiled), "profile_prevalence"),
            _as_published(ctx, landscape.profile_prevalence(profiled, by="center_id"), "profile_prevalence_by_centre"),
        ],
        ignore_index=True,
    )
    fig = plt.figure(figsize=style.figure_size("double", aspect=0.8))
    rows = fig.add_gridspec(2, 1, height_ratios=[1, 1])
    top = rows[0].subgridspec(1, 2, width_ratios=[1, 1.5])
    bottom = rows[1].subgridspec(1, 2, width_ratios=[1, 1.25])
    axes = [fig.add_subplot(top[0]), fig.add_subplot(top[1]), fig.add_subplot(bottom[0]), fig.add_subplot(bottom[1])]
    plotting.plot_prevalence_table(table, ax=axes[0], min_cell_count=ctx.min_cell_count)
    axes[0].set_ylabel("Centre")
    if ctx.missing_columns(patients, [ENDOMETRIAL_MARKER]):
        _absent_panel(axes[1], [ENDOMETRIAL_MARKER])
    else:
        plotting.plot_marker_distribution(
            patients,
            marker=ENDOMETRIAL_MARKER,
            cutoffs=landscape.marker_cutoff_lines(profile_cutoffs)[ENDOMETRIAL_MARKER],
            ax=axes[1],
            min_cell_count=ctx.min_cell_count,
        )
    plotting.plot_correlation_heatmap(landscape.marker_correlations(patients), ax=axes[2])
    _cutoff_scatter(ctx, patients, axes[3], profile_cutoffs=profile_cutoffs, blood_nk_cutoff=blood_nk_cutoff)
    _letter_panels(axes, "abcd")
    caption = captions.figure_2_caption(
        landscape.profile_prevalence(profiled), n_patients=len(profiled), min_cell_count=ctx.min_cell_count
    )
    absent = ctx.missing_columns(patients, [ENDOMETRIAL_MARKER, BLOOD_MARKER])
    if absent:  # the panels that draw them are left empty and say so
        caption += f" Not in the data, so not drawn: {', '.join(absent)}."
    return LandscapeFigure(figure=_save(ctx, fig, "figure_2_landscape"), caption=ctx.save_caption(caption, 2))
