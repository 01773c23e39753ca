"""Figures of the treatment-effect analysis: score overlap, covariate balance (love plot), weights.

Each function takes a tidy frame from :mod:`analysis.methods.propensity` first, draws on ``ax`` (the
current Axes when None) and returns the Axes. Arm colours and labels come from
:mod:`analysis.output.style`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from analysis.output.style import NEUTRAL_COLOR, color_for, label_for, legend_beside

__all__ = ["plot_love", "plot_overlap", "plot_strategy_curves"]


def plot_overlap(scores: pd.DataFrame, *, score: str = "ps_personalized", bins: int = 30, ax=None):
    """Histogram of one propensity score within each arm, as densities on a shared scale.

    Parameters
    ----------
    scores : DataFrame
        Output of :func:`analysis.methods.propensity.propensity_scores` (``arm`` and ``ps_*`` columns).
    score : str
        The score column drawn (e.g. the probability of personalized therapy).
    """
    ax = ax or plt.gca()
    edges = np.linspace(0, 1, bins + 1)
    for arm in dict.fromkeys(scores["arm"]):
        values = scores.loc[scores["arm"] == arm, score].to_numpy()
        ax.hist(
            values,
            bins=edges,
            density=True,
            histtype="step",
            linewidth=1.2,
            color=color_for(arm),
            label=f"{label_for(arm)} (n = {len(values)})",
        )
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"Estimated probability of {label_for(score.removeprefix('ps_')).lower()}")
    ax.set_ylabel("Density")
    legend_beside(ax)
    return ax


def plot_love(balance: pd.DataFrame, *, group: str = "personalized", threshold: float = 0.1, ax=None):
    """Love plot: absolute standardized mean difference of each covariate before and after weighting.

    Parameters
    ----------
    balance : DataFrame
        Output of :func:`analysis.methods.propensity.balance_table`; ``smd_matched`` is drawn too when present.
    group : str
        The arm compared with the reference.
    threshold : float
        Dashed line of acceptable imbalance (0.1; Austin 2009, Stat Med 28:3083).
    """
    ax = ax or plt.gca()
    rows = balance[balance["group"] == group].reset_index(drop=True)
    rows = rows.iloc[np.argsort(-rows["smd_unweighted"].abs().to_numpy(), kind="stable")].reset_index(drop=True)
    y = np.arange(len(rows))[::-1]
    series = [
        ("smd_unweighted", "Unweighted", "o", NEUTRAL_COLOR, "none"),
        ("smd_weighted", "Weighted", "o", color_for(group), color_for(group)),
    ]
    if "smd_matched" in rows:
        series.append(("smd_matched", "Matched", "^", color_for(group), "none"))
    for col, name, marker, edge, face in series:
        ax.scatter(rows[col].abs(), y, marker=marker, s=18, edgecolors=edge, facecolors=face, label=name, zorder=3)
    ax.axvline(threshold, color=NEUTRAL_COLOR, linestyle="--", linewidth=0.8)
    ax.set_yticks(y, [str(label_for(v)).replace("_", " ") for v in rows["variable"]])
    ax.set_xlabel(f"|SMD|, {label_for(group).lower()}\nvs {label_for(rows['reference'].iloc[0]).lower()}")
    ax.set_xlim(left=0)
    legend_beside(ax)
    return ax


def plot_strategy_curves(
    curves: pd.DataFrame, *, group: str = "all", strategies=("none", "personalized"), ci_label: str = "95% CI", ax=None
):
    """Cumulative live birth by transfer number under each strategy, with its interval band.

    Parameters
    ----------
    curves : DataFrame
        ``group, strategy, k, estimate, conf_low, conf_high`` (proportions), e.g.
        :attr:`analysis.methods.target_trial.CumulativeResult.curves`.
    group : str
        The group drawn (``all``, ``dysregulated``, ``balanced``).
    strategies : sequence of str
        Arms drawn, each held at every transfer ("always …"; ``none`` is "never").
    ci_label : str
        How the band is named in the legend (follows the run's confidence level).
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    ax = ax or plt.gca()
    sub = curves[curves["group"] == group]
    for arm in strategies:
        rows = sub[sub["strategy"] == arm].sort_values("k")
        if rows.empty:
            continue
        color = color_for(arm)
        name = "Never immunotherapy" if arm == "none" else f"Always {label_for(arm).lower()}"
        ax.plot(rows["k"], rows["estimate"], marker="o", markersize=3.5, color=color, label=name)
        ax.fill_between(
            rows["k"].to_numpy(float),
            rows["conf_low"].to_numpy(float),
            rows["conf_high"].to_numpy(float),
            color=color,
            alpha=0.18,
            linewidth=0,
        )
    ks = sorted(sub["k"].unique())
    ax.set_xticks(ks)
    ax.set_xlim(min(ks, default=1) - 0.3, max(ks, default=1) + 0.3)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel("Embryo transfers from time zero")
    ax.set_ylabel(f"Cumulative live birth ({ci_label})")
    ax.set_title(label_for(group) if group != "all" else "All women")
    legend_beside(ax)
    return ax
