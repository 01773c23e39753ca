"""Figures of the biomarker analysis: ROC curves, calibration, OR curves, benefit and decision curves.

Each function takes tidy frames or arrays from :mod:`analysis.methods.discrimination`,
:mod:`analysis.methods.prognostic` and :mod:`analysis.methods.benefit`, draws on ``ax`` (current Axes when
None) and returns the Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from analysis.output.disclosure import calibration_groups, coarse_roc_points, format_count
from analysis.output.plotting.core import plot_forest
from analysis.output.style import NEUTRAL_COLOR, OKABE_ITO, label_for, legend_beside

_SERIES = [OKABE_ITO[k] for k in ("blue", "vermillion", "bluish_green", "reddish_purple", "orange", "sky_blue")]

__all__ = [
    "plot_benefit_quintiles",
    "plot_calibration",
    "plot_calibration_corrected",
    "plot_decision_curve",
    "plot_or_curve",
    "plot_roc",
    "plot_subgroup_forest",
]


def plot_roc(predictions: dict, y, *, aucs: dict | None = None, min_cell_count: int = 0, ax=None):
    """ROC curves of several scores for the same outcome (legend with each AUC).

    With ``min_cell_count`` above 1 each curve is drawn through coarse vertices that never
    reveal fewer than that many patients between, above or below them
    (:func:`analysis.output.disclosure.coarse_roc_points`); the AUCs in the legend stay those of
    the exact curves.
    """
    ax = ax or plt.gca()
    y = np.asarray(y, dtype=float)
    for (name, p), color in zip(predictions.items(), _SERIES):
        fpr, tpr = coarse_roc_points(p, y, min_cell_count)
        label = name if aucs is None else f"{name} (AUC {aucs[name]:.2f})"
        ax.plot(fpr, tpr, color=color, lw=1.2, label=label)
    ax.plot([0, 1], [0, 1], color=NEUTRAL_COLOR, lw=0.6, ls="--")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_aspect("equal")
    legend_beside(ax, fontsize=6)
    return ax


def plot_calibration(p, y, *, groups: int = 10, min_cell_count: int = 0, ax=None):
    """Grouped (deciles of predicted risk) and lowess-smoothed calibration of predicted probabilities.

    With ``min_cell_count`` above 1 there are fewer groups when needed, so every group holds at
    least that many events and non-events (:func:`analysis.output.disclosure.calibration_groups`).
    The lowess curve (span 0.6, no robustness iterations) fits locally at points 1% of the range
    of predicted risk apart and interpolates between them, as R's ``lowess`` does by default.
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    ax = ax or plt.gca()
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    bins = calibration_groups(p, y, groups, min_cell_count)
    grouped = pd.DataFrame({"p": p, "y": y, "g": bins}).groupby("g").mean()
    label = "Deciles" if len(grouped) == groups else f"{len(grouped)} groups of predicted risk"
    ax.scatter(grouped["p"], grouped["y"], s=12, color=OKABE_ITO["blue"], zorder=3, label=label)
    # no robustness passes (they distort 0/1 data); local fits 1% of the range apart and
    # interpolated between, R's lowess default: without it every row gets its own local fit,
    # which took 142 s on 500,000 first transfers
    smooth = lowess(y, p, frac=0.6, it=0, delta=0.01 * float(np.ptp(p)) if len(p) else 0.0, return_sorted=True)
    ax.plot(smooth[:, 0], smooth[:, 1], color=OKABE_ITO["blue"], lw=1.0, label="Lowess")
    top = max(grouped["p"].max(), grouped["y"].max()) * 1.1
    ax.plot([0, top], [0, top], color=NEUTRAL_COLOR, lw=0.6, ls="--")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("Predicted probability of live birth")
    ax.set_ylabel("Observed proportion")
    legend_beside(ax, fontsize=6)
    return ax


def plot_or_curve(curve: pd.DataFrame, *, ylabel: str = "Odds ratio (95% CI)", ax=None):
    """An odds-ratio curve along a marker with its confidence band, log scale, line at 1."""
    ax = ax or plt.gca()
    ax.fill_between(
        curve["value"], curve["conf_low"], curve["conf_high"], color=OKABE_ITO["bluish_green"], alpha=0.25, lw=0
    )
    ax.plot(curve["value"], curve["odds_ratio"], color=OKABE_ITO["bluish_green"], lw=1.2)
    ax.axhline(1, color=NEUTRAL_COLOR, lw=0.6, ls="--")
    ax.set_yscale("log")
    # plain numbers at 1-2-5 steps, no labelled minor ticks (they crowd on a short log range)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label_for(curve["marker"].iloc[0]))
    ax.set_ylabel(ylabel)
    return ax


def plot_benefit_quintiles(table: pd.DataFrame, *, ax=None):
    """Observed (with CI) against predicted benefit by fifth of predicted benefit."""
    ax = ax or plt.gca()
    x = table["predicted_benefit"] * 100
    ax.errorbar(
        x,
        table["observed_benefit"] * 100,
        yerr=[
            (table["observed_benefit"] - table["conf_low"]) * 100,
            (table["conf_high"] - table["observed_benefit"]) * 100,
        ],
        fmt="o",
        ms=3,
        color=OKABE_ITO["blue"],
        lw=0.8,
        capsize=2,
    )
    lims = [min(x.min(), (table["conf_low"] * 100).min()), max(x.max(), (table["conf_high"] * 100).max())]
    ax.plot(lims, lims, color=NEUTRAL_COLOR, lw=0.6, ls="--")
    ax.axhline(0, color=NEUTRAL_COLOR, lw=0.4)
    ax.set_xlabel("Predicted benefit (percentage points)")
    ax.set_ylabel("Observed benefit (percentage points)")
    return ax


def plot_decision_curve(curve: pd.DataFrame, *, ax=None):
    """Net benefit of each treatment strategy across thresholds of required benefit.

    With ``conf_low``/``conf_high`` columns (bootstrap bands), the model's band is shaded.
    """
    ax = ax or plt.gca()
    styles = {"treat none": (NEUTRAL_COLOR, ":"), "treat all": (NEUTRAL_COLOR, "--")}
    others = iter(_SERIES)
    for name, rows in curve.groupby("strategy", sort=False):
        color, ls = styles.get(name, (next(others), "-"))
        ax.plot(rows["threshold"] * 100, rows["net_benefit"] * 100, color=color, ls=ls, lw=1.1, label=name.capitalize())
        if "conf_low" in rows and name.startswith("treat by model"):
            ax.fill_between(
                rows["threshold"] * 100, rows["conf_low"] * 100, rows["conf_high"] * 100, color=color, alpha=0.2, lw=0
            )
    ax.set_xlabel("Smallest gain worth treating (percentage points)")
    ax.set_ylabel("Net benefit (live births per 100)")
    ax.set_ylim(bottom=min(0, curve["net_benefit"].min() * 100) - 0.5)
    legend_beside(ax, fontsize=6)
    return ax


#: Headings of the subgroups of :func:`plot_subgroup_forest` (others: the name with spaces).
SUBGROUP_LABELS = {
    "age_band": "Age",
    "prior_failed_2plus": "Prior failed transfers",
    "embryo_quality": "Embryo quality",
    "pgt_a": "PGT-A",
    "cycle_type": "Fresh or frozen transfer",
    "indication_rif_rpl": "Indication",
}


def plot_subgroup_forest(effects: pd.DataFrame, tests: pd.DataFrame, *, min_cell_count: int, ax=None):
    """Risk difference of personalized vs none in each level of each subgroup (percentage points).

    One heading per subgroup with its interaction p-value (raw and multiplicity-adjusted); each
    row names the level and its number of women (masked below ``min_cell_count``).

    Parameters
    ----------
    effects : DataFrame
        ``subgroup, group, n, risk_difference, conf_low, conf_high`` (:func:`analysis.methods.benefit.subgroup_effects`).
    tests : DataFrame
        ``subgroup, p_value, p_adjusted, multiplicity``.
    min_cell_count : int
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    ax = ax or plt.gca()
    p = tests.set_index("subgroup")
    how = {"holm": "Holm", "fixed_sequence": "fixed sequence", "none": "unadjusted"}

    def heading(name):
        r = p.loc[name]
        return (
            f"{SUBGROUP_LABELS.get(name, label_for(name).replace('_', ' '))}: interaction p = {r.p_value:.2g} "
            f"({how.get(r.multiplicity, r.multiplicity)} {r.p_adjusted:.2g})"
        )

    frame = pd.DataFrame(
        {
            "label": [
                f"{g} (n = {format_count(int(n), min_cell_count)})" for g, n in zip(effects["group"], effects["n"])
            ],
            "heading": [heading(s) for s in effects["subgroup"]],
            "estimate": effects["risk_difference"] * 100,
            "conf_low": effects["conf_low"] * 100,
            "conf_high": effects["conf_high"] * 100,
        }
    )
    plot_forest(
        frame,
        group_col="heading",
        ref=0.0,
        log=False,
        xlabel="Risk difference, personalized vs none (percentage points)",
        ax=ax,
    )
    return ax


def plot_message(text: str, *, ax=None):
    """An empty panel saying why it has no figure (e.g. a model that could not be estimated)."""
    import textwrap

    ax = ax or plt.gca()
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        "\n".join(textwrap.wrap(text, 45)),
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=6,
        color=NEUTRAL_COLOR,
    )
    return ax


def plot_calibration_corrected(curve: pd.DataFrame, *, ax=None):
    """Apparent and optimism-corrected calibration curves (``rms::calibrate`` style) against the diagonal.

    Parameters
    ----------
    curve : DataFrame
        Output of :func:`analysis.methods.discrimination.calibration_curve_corrected`.
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    ax = ax or plt.gca()
    ax.plot(curve["predicted"], curve["apparent"], color=NEUTRAL_COLOR, lw=1.0, ls=":", label="Apparent")
    ax.plot(curve["predicted"], curve["corrected"], color=OKABE_ITO["blue"], lw=1.2, label="Bias-corrected")
    top = float(max(curve["predicted"].max(), curve[["apparent", "corrected"]].max().max())) * 1.1
    ax.plot([0, top], [0, top], color=NEUTRAL_COLOR, lw=0.6, ls="--", label="Ideal")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("Predicted probability of live birth")
    ax.set_ylabel("Observed proportion")
    legend_beside(ax, fontsize=6)
    return ax
