"""Figures of the safety analysis (Figure 6): harms by arm and agent, and benefit against harm.

Each function takes a tidy frame from :mod:`analysis.methods.safety` first, draws on ``ax`` (the
current Axes when None) and returns the Axes. Counts shown in labels follow the run's disclosure
rule (``min_cell_count``, required).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.output.disclosure import format_count
from analysis.output.style import NEUTRAL_COLOR, color_for, label_for, legend_beside

__all__ = ["plot_benefit_harm", "plot_harm_differences", "plot_outcome_proportions"]


_TEXT = {"positive_hcg": "positive hCG", "hcg_intrauterine": "intrauterine hCG", "ivig": "IVIG", "lmwh": "LMWH"}


def _label(text: str) -> str:
    text = str(text)
    if text in _TEXT:
        return _TEXT[text]
    return label_for(text) if label_for(text) != text else text.replace("_", " ")


def plot_outcome_proportions(table: pd.DataFrame, *, outcomes, groups, min_cell_count: int, per: int = 100, ax=None):
    """Dot-and-interval plot of core outcomes (per ``per``) in each group, with exact intervals.

    Parameters
    ----------
    table : DataFrame
        :func:`analysis.methods.safety.core_outcome_table` (one denominator per outcome drawn).
    outcomes : sequence of (outcome, denominator)
        Rows drawn, top to bottom.
    groups : sequence of str
        Groups (arms), one colour each.
    min_cell_count : int
        Events below it are not drawn (their row is masked) and labelled ``<k``.
    """
    ax = ax or plt.gca()
    step = 0.8 / max(len(groups), 1)
    labels = []
    for i, (outcome, denominator) in enumerate(outcomes):
        labels.append(f"{_label(outcome)}\n(per {_label(denominator)})")
        for j, g in enumerate(groups):
            r = table[(table["outcome"] == outcome) & (table["denominator"] == denominator) & (table["group"] == g)]
            if not len(r) or pd.isna(r.iloc[0]["proportion"]):
                continue
            r = r.iloc[0]
            y = i + (j - (len(groups) - 1) / 2) * step
            small = 0 < int(r["n_events"]) < min_cell_count
            if small:
                ax.text(0, y, f" {format_count(int(r['n_events']), min_cell_count)}", va="center", fontsize=6)
                continue
            p, lo, hi = per * r["proportion"], per * r["conf_low_proportion"], per * r["conf_high_proportion"]
            ax.errorbar(
                p,
                y,
                xerr=[[p - lo], [hi - p]],
                fmt="o",
                ms=3,
                color=color_for(g),
                lw=1,
                capsize=0,
                label=_label(g) if i == 0 else None,
            )
    ax.set_yticks(range(len(outcomes)), labels)
    # every row inside the axes, drawn or masked (a masked row's "<k" is text, not data to autoscale on)
    ax.set_ylim(len(outcomes) - 0.5, -0.5)
    ax.set_xlabel(f"Events per {per} (exact interval)")
    ax.set_xlim(left=0)
    legend_beside(ax, fontsize=6)
    return ax


def plot_harm_differences(differences: pd.DataFrame, *, min_cell_count: int, per: int = 100, ax=None):
    """Forest of risk differences (per ``per``) of one harm for each comparison, Newcombe intervals.

    Parameters
    ----------
    differences : DataFrame
        Rows of :func:`analysis.methods.safety.harm_differences` for one outcome and stratum.
    min_cell_count : int
        Comparisons whose event counts are masked are listed but not drawn.
    """
    ax = ax or plt.gca()
    rows = differences.reset_index(drop=True)
    for i, r in rows.iterrows():
        counts = (int(r["n_events_treated"]), int(r["n_events_reference"]))
        if any(0 < c < min_cell_count for c in counts):
            ax.text(
                0,
                i,
                f" masked ({format_count(min(c for c in counts if c > 0), min_cell_count)} events)",
                va="center",
                fontsize=6,
            )
            continue
        d, lo, hi = per * r["rd_proportion"], per * r["rd_low_proportion"], per * r["rd_high_proportion"]
        ax.errorbar(d, i, xerr=[[d - lo], [hi - d]], fmt="s", ms=3, color=NEUTRAL_COLOR, lw=1, capsize=0)
    ax.axvline(0, color="0.5", lw=0.6, ls="--")
    ax.set_yticks(range(len(rows)), [_label(c.split(" vs ")[0]) for c in rows["comparison"]])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # every row inside the axes, drawn or masked
    ax.set_xlabel(f"Difference per {per}\nagainst no immunotherapy")
    if len(rows):
        outcome, denominator = rows["outcome"].iloc[0], rows["denominator"].iloc[0]
        ax.set_title(f"{_label(outcome).capitalize()} per {per} {_label(denominator).lower()}s", fontsize=7)
    return ax


def plot_benefit_harm(table: pd.DataFrame, *, min_cell_count: int, ax=None):
    """Live birth gained against harm added per 100 women, each profile group a point with both intervals.

    Parameters
    ----------
    table : DataFrame
        :func:`analysis.methods.safety.benefit_harm_table` (one marker shape per harm).
    min_cell_count : int
        A group whose counts are small is not drawn; the legend says it is masked.
    """
    ax = ax or plt.gca()
    markers = dict(zip(dict.fromkeys(table["harm"]), ("o", "^", "s", "D")))
    counts = [c for c in table.columns if c.startswith("n_")]
    for r in table.itertuples(index=False):
        values = [getattr(r, c) for c in counts]
        if any(pd.notna(v) and 0 < int(v) < min_cell_count for v in values):
            ax.plot([], [], " ", label=f"{_label(r.group)}: masked (small counts)")
            continue
        if np.isnan(r.gained_percent) or np.isnan(r.added_percent):
            continue
        ax.errorbar(
            r.added_percent,
            r.gained_percent,
            xerr=[[r.added_percent - r.added_low_percent], [r.added_high_percent - r.added_percent]],
            yerr=[[r.gained_percent - r.gained_low_percent], [r.gained_high_percent - r.gained_percent]],
            fmt=markers[r.harm],
            ms=4,
            color=color_for(r.group),
            lw=0.9,
            capsize=0,
            label=f"{_label(r.group)}: {_label(r.harm).lower()}",
        )
    limits = table[["gained_low_percent", "gained_high_percent", "added_low_percent", "added_high_percent"]]
    lim = np.nanmax(np.abs(limits.to_numpy(float))) if len(table) else np.nan
    lim = 10.0 if not np.isfinite(lim) else float(np.ceil(lim / 5) * 5)
    ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=0.6, ls=":")  # gain equal to harm
    ax.axhline(0, color="0.5", lw=0.6, ls="--")
    ax.axvline(0, color="0.5", lw=0.6, ls="--")
    ax.set_xlabel("Harm added per 100 women")
    ax.set_ylabel("Live births gained per 100 women")
    legend_beside(ax, fontsize=6)
    return ax
