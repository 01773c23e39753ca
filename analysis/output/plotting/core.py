"""Figures for the manuscripts, drawn from tidy tables.

Every function takes its data (a tidy DataFrame) first and options by keyword, draws on ``ax``
(the current Axes when ``ax`` is None) and returns the Axes, so panels compose freely::

    fig, axes = plt.subplots(1, 2, figsize=figure_size("double", aspect=0.4))
    plot_prevalence(patients, ax=axes[0], min_cell_count=0)
    plot_forest(estimates, ax=axes[1])

Colours and display names come from :mod:`analysis.output.style` (an arm, profile or profile group
has the same colour in every figure); fonts and line weights come from the rcParams set by
:func:`analysis.output.style.apply_style`. Nothing here changes global state.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis.data.contract import ARMS, DERIVED_PROFILES, PROFILE_GROUPS
from analysis.output.disclosure import masked_label
from analysis.output.risk_table import RISK_TABLE_STATS
from analysis.output.style import (
    MARKER_SHORT_LABELS,
    NEUTRAL_COLOR,
    colors_for,
    label_for,
    legend_beside,
)

_PREFERRED_ORDER = tuple(dict.fromkeys(tuple(DERIVED_PROFILES) + tuple(PROFILE_GROUPS) + tuple(ARMS)))
_SMALL = 6  # font size (pt) of secondary annotations: cut-off labels, in-bar percentages


# --------------------------------------------------------------------------------------------
# helpers


def _get_ax(ax):
    return plt.gca() if ax is None else ax


def _levels(values, preferred: Sequence = _PREFERRED_ORDER) -> list:
    """Distinct non-missing values: known levels in ``preferred`` order, then the rest sorted."""
    present = list(pd.unique(pd.Series(values).dropna()))
    as_str = {str(v): v for v in present}
    first = [as_str[p] for p in preferred if p in as_str]
    rest = sorted((v for v in present if str(v) not in set(preferred)), key=str)
    return first + rest


def _plain_log_axis(axis, vmin: float, vmax: float) -> None:
    """Log axis with plain-number tick labels (0.5, 1, 2 rather than 10^x)."""
    span = np.log10(vmax / vmin) if vmin > 0 and vmax > 0 else np.inf
    subs = (1.0, 2.0, 5.0) if span <= 3 else (1.0,)
    axis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(ticker.NullLocator())


def _is_right_skewed(values: np.ndarray) -> bool:
    values = values[np.isfinite(values)]
    if len(values) < 3 or (values <= 0).any():
        return False
    skew = pd.Series(values).skew()
    return bool(np.isfinite(skew) and skew > 1)


def _text_color(hex_color: str) -> str:
    """Black or white, whichever contrasts more with ``hex_color`` (WCAG relative luminance)."""
    from matplotlib.colors import to_rgb

    def channel(c):
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in to_rgb(hex_color))
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "white" if (1.05 / (lum + 0.05)) > ((lum + 0.05) / 0.05) else "black"


def _cutoff_lines(cutoffs, marker: str | None = None) -> list[tuple[str, float]]:
    """Normalise cut-offs to ``[(label, value), ...]``.

    Accepts a dict ``{"low": a, "high": b}``, a dict like
    :data:`analysis.data.profiles.DEFAULT_CUTOFFS` (keys ``<marker prefix>_low``/``_high``; only the
    keys whose prefix starts ``marker`` are kept), a list of numbers or a single number.
    """
    if cutoffs is None:
        return []
    if isinstance(cutoffs, dict):
        out = []
        for key, value in cutoffs.items():
            if value is None:
                continue
            key = str(key)
            if key in ("low", "high"):
                out.append((key, float(value)))
            elif marker is not None and (key.endswith("_low") or key.endswith("_high")):
                prefix, _, side = key.rpartition("_")
                if marker.startswith(prefix):
                    out.append((side, float(value)))
            else:
                out.append((key, float(value)))
        return out
    if np.isscalar(cutoffs):
        return [("", float(cutoffs))]
    return [("", float(v)) for v in cutoffs]


def _n_label(level, n: int, wrap: bool, min_cell_count: int) -> str:
    """Display name and n on two lines; with ``wrap``, hyphenated names break after the hyphen."""
    name = label_for(level)
    if wrap and "-" in name:
        name = name.replace("-", "-\n", 1)
    return f"{name}\n(n = {_n(n, min_cell_count)})"


def _whiskers(groups, min_cell_count: int):
    """Whisker rule of box plots: 1.5 IQR; with disclosure control, percentiles whose tails hold at
    least ``k`` patients in every group (whiskers end at a percentile, never at one patient's value)."""
    if min_cell_count <= 1:
        return 1.5
    sizes = [len(g) for g in groups if len(g)]
    if not sizes:
        return (25, 75)
    tail = min(25.0, float(np.ceil(100.0 * min_cell_count / min(sizes))))
    return (tail, 100.0 - tail)


def _hexbin(ax, x: np.ndarray, y: np.ndarray, *, log: tuple[bool, bool], min_cell_count: int) -> None:
    """Patients as hexagonal bins, each drawn only when it holds at least ``min_cell_count`` patients.

    Values beyond the percentiles whose tails hold ``min_cell_count`` patients are pulled in to
    those percentiles first, so neither a bin nor the axis range shows one patient's extreme value.
    """
    if len(x) < min_cell_count:
        return
    tail = min(50.0, 100.0 * min_cell_count / len(x))
    x = np.clip(x, *np.percentile(x, [tail, 100 - tail]))
    y = np.clip(y, *np.percentile(y, [tail, 100 - tail]))
    ax.hexbin(
        x,
        y,
        gridsize=15,
        xscale="log" if log[0] else "linear",
        yscale="log" if log[1] else "linear",
        mincnt=min_cell_count,
        cmap="Greys",
        linewidths=0.2,
        zorder=2,
    )
    ax.set_title(f"Hexagonal bins of at least {min_cell_count} patients", fontsize=_SMALL)


def _n(n, min_cell_count: int) -> str:
    """A count as printed in figures: ``"<k"`` below the disclosure threshold."""
    return masked_label(min_cell_count) if 0 < int(n) < min_cell_count else str(int(n))


# --------------------------------------------------------------------------------------------
# markers and profiles


def plot_marker_distribution(
    data: pd.DataFrame,
    *,
    marker: str,
    by: str = "immune_profile",
    log: bool | None = None,
    cutoffs=None,
    ax=None,
    seed: int = 0,
    min_cell_count: int,
):
    """Strip plot over a box plot of one marker by profile (or another grouping column).

    Parameters
    ----------
    data : DataFrame
        One row per patient with columns ``marker`` and ``by``. Rows with a missing marker or
        group are left out.
    marker : str
        Marker column, e.g. ``"il15_fn14_ratio"``.
    by : str
        Grouping column; profiles, profile groups and arms get their fixed colours and order.
    log : bool, optional
        Log10 y-axis. By default it is used when the marker is right-skewed (all values
        positive and sample skewness > 1).
    cutoffs : dict, list or float, optional
        Cut-offs drawn as dashed horizontal lines: ``{"low": 0.5, "high": 2}``,
        :data:`analysis.data.profiles.DEFAULT_CUTOFFS` (the keys of this marker are used), or numbers.
    ax : Axes, optional
    seed : int
        Seed of the horizontal jitter of the points (fixed, so figures are reproducible).

    Returns
    -------
    Axes
        Tick labels give each group's n.
    """
    ax = _get_ax(ax)
    df = data[[by, marker]].copy()
    df[marker] = pd.to_numeric(df[marker], errors="coerce")
    df = df.dropna()
    values = df[marker].to_numpy(float)
    if log is None:
        log = _is_right_skewed(values)
    if log and (values <= 0).any():
        raise ValueError(f"{marker} has values <= 0; a log axis needs log=False")
    levels = _levels(df[by])
    colors = colors_for(levels)
    rng = np.random.default_rng(seed)
    groups = [df.loc[df[by] == level, marker].to_numpy(float) for level in levels]
    positions = np.arange(len(levels))
    binned = min_cell_count > 1
    drawn = [g if not binned or len(g) >= min_cell_count else g[:0] for g in groups]
    if levels:
        bp = ax.boxplot(
            drawn,
            positions=positions,
            widths=0.5,
            showfliers=False,
            whis=_whiskers(drawn, min_cell_count),
            patch_artist=True,
            manage_ticks=False,
            zorder=2,
            medianprops={"color": "black", "linewidth": 1.0},
            whiskerprops={"linewidth": 0.6},
            capprops={"linewidth": 0.6},
            boxprops={"linewidth": 0.6},
        )
        for patch, level in zip(bp["boxes"], levels):
            patch.set_facecolor("none")
            patch.set_edgecolor(colors[level])
        for i, level in enumerate(levels):
            for item in bp["whiskers"][2 * i : 2 * i + 2] + bp["caps"][2 * i : 2 * i + 2]:
                item.set_color(colors[level])
    if not binned:  # with disclosure control no patient's own value is drawn: box only
        for pos, level, vals in zip(positions, levels, groups):
            x = pos + rng.uniform(-0.15, 0.15, size=len(vals))
            ax.scatter(x, vals, s=6, color=colors[level], alpha=0.6, linewidths=0, zorder=3)
    else:
        whis = _whiskers(drawn, min_cell_count)
        values = np.concatenate([np.percentile(g, whis) for g in drawn if len(g)] or [values[:0]])
        values = values if len(values) else np.array([1.0, 10.0])
    if log:
        ax.set_yscale("log")
        _plain_log_axis(ax.yaxis, values.min(), values.max())
    for name, value in _cutoff_lines(cutoffs, marker):
        ax.axhline(value, color=NEUTRAL_COLOR, linestyle="--", linewidth=0.6, zorder=1)
        ax.annotate(
            f"{name} {value:g}".strip(),
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(2, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=_SMALL,
            color=NEUTRAL_COLOR,
            annotation_clip=False,
        )
    ax.set_xticks(positions)
    wrap = len(levels) > 3
    ax.set_xticklabels([_n_label(level, len(g), wrap, min_cell_count) for level, g in zip(levels, groups)])
    ax.set_xlim(-0.6, len(levels) - 0.4)
    ax.set_ylabel(label_for(marker))
    ax.tick_params(axis="x", length=0)
    return ax


def plot_prevalence(
    data: pd.DataFrame, *, by: str | None = None, profile_col: str = "immune_profile", ax=None, min_cell_count: int
):
    """Stacked 100 % bars of the immune-profile prevalence, overall or by a column.

    Parameters
    ----------
    data : DataFrame
        One row per patient. Patients with a missing profile (or ``by`` value) are left out of
        the denominators.
    by : str, optional
        Column giving one bar per level (e.g. ``"center_id"``); one bar for all patients if None.
    profile_col : str
        Column with the profile.
    ax : Axes, optional

    Returns
    -------
    Axes
        Percentages are printed in segments of at least 8 %; n above each bar.
    """
    ax = _get_ax(ax)
    cols = [profile_col] + ([by] if by is not None else [])
    df = data[cols].dropna()
    if by is None:
        keys = pd.Series("All patients", index=df.index)
    else:
        keys = df[by]
    bars = _levels(keys)
    profiles = _levels(df[profile_col])
    counts = pd.crosstab(keys, df[profile_col]).reindex(index=bars, columns=profiles, fill_value=0)
    totals = counts.sum(axis=1)
    pct = counts.div(totals.where(totals > 0), axis=0).fillna(0) * 100
    colors = colors_for(profiles)
    x = np.arange(len(bars))
    bottom = np.zeros(len(bars))
    for profile in profiles:
        heights = pct[profile].to_numpy(float)
        ax.bar(
            x,
            heights,
            bottom=bottom,
            width=0.7,
            color=colors[profile],
            edgecolor="white",
            linewidth=0.5,
            label=label_for(profile),
        )
        for xi, b, h, c in zip(x, bottom, heights, counts[profile].to_numpy()):
            if h >= 8 and not 0 < c < min_cell_count:
                ax.text(
                    xi,
                    b + h / 2,
                    f"{h:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=_SMALL,
                    color=_text_color(colors[profile]),
                )
        bottom += heights
    for xi, n in zip(x, totals):
        ax.annotate(
            f"n = {_n(n, min_cell_count)}",
            xy=(xi, 100),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            annotation_clip=False,
        )
    ax.set_xticks(x)
    ax.set_xticklabels([label_for(b) for b in bars])
    ax.set_xlim(-0.6, len(bars) - 0.4)
    ax.set_ylim(0, 100)
    ax.set_ylabel("Patients (%)")
    if by is not None:
        ax.set_xlabel(label_for(by))
    ax.tick_params(axis="x", length=0)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles[::-1],
        labels[::-1],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        title="Immune profile",
        alignment="left",
    )
    return ax


def plot_prevalence_table(table: pd.DataFrame, *, ax=None, min_cell_count: int, overall_label: str = "All patients"):
    """Horizontal 100 % bars of profile prevalence from a tidy (masked) prevalence table, n on each bar.

    Drawn from what the run publishes (``profile_prevalence.csv`` and
    ``profile_prevalence_by_centre.csv`` after masking), so the figure shows no count the tables
    hide: a cell masked by disclosure control (missing ``n`` or ``percent``) is not drawn as its
    own segment; the masked cells of a bar are drawn together as one hatched grey segment, whose
    width the published table gives already (the bar's total less its shown counts).

    Parameters
    ----------
    table : DataFrame
        Columns ``group``, ``immune_profile``, ``n``, ``total``, ``percent``
        (:func:`analysis.methods.landscape.profile_prevalence`); the group ``"overall"`` is drawn
        first, as ``overall_label``, the others in their order.
    ax : Axes, optional
    min_cell_count : int
        Disclosure threshold; a masked total is printed as ``<k``.
    overall_label : str
        Label of the ``overall`` group.

    Returns
    -------
    Axes
        One bar per group (top to bottom), percentages printed in segments of at least 10 %, the
        group's n in its tick label; the legend sits above the axes.
    """
    ax = _get_ax(ax)
    missing = {"group", "immune_profile", "n", "total", "percent"} - set(table.columns)
    if missing:
        raise ValueError(f"prevalence table lacks column(s) {sorted(missing)}")
    df = table.copy()
    df["group"] = df["group"].astype(str)
    groups = list(dict.fromkeys(df["group"]))
    if "overall" in groups:
        groups = ["overall"] + [g for g in groups if g != "overall"]
    profiles = _levels(df["immune_profile"].astype(str))
    colors = colors_for(profiles)
    y = np.arange(len(groups))[::-1]  # first group on top
    labels = []
    drew_masked = False
    for yi, group in zip(y, groups):
        rows = df[df["group"] == group].set_index(df.loc[df["group"] == group, "immune_profile"].astype(str))
        left = 0.0
        for profile in profiles:
            if profile not in rows.index:
                continue
            pct = pd.to_numeric(rows.at[profile, "percent"], errors="coerce")
            if not np.isfinite(pct):
                continue
            ax.barh(yi, pct, left=left, height=0.7, color=colors[profile], edgecolor="white", linewidth=0.5)
            if pct >= 10:
                ax.text(
                    left + pct / 2,
                    yi,
                    f"{pct:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=_SMALL,
                    color=_text_color(colors[profile]),
                )
            left += pct
        if left < 100 - 1e-9 and pd.to_numeric(rows["percent"], errors="coerce").isna().any():
            drew_masked = True
            ax.barh(
                yi,
                100 - left,
                left=left,
                height=0.7,
                color="white",
                edgecolor=NEUTRAL_COLOR,
                hatch="////",
                linewidth=0.4,
            )
        total = pd.to_numeric(rows["total"], errors="coerce").dropna()
        n_text = _n(total.iloc[0], min_cell_count) if len(total) else masked_label(min_cell_count)
        n_text = n_text.replace("<", "< ") if n_text.startswith("<") else f"= {n_text}"
        labels.append(f"{overall_label if group == 'overall' else label_for(group)} (n {n_text})")
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_ylim(-0.6, len(groups) - 0.4)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Patients (%)")
    ax.tick_params(axis="y", length=0)
    handles = [Patch(facecolor=colors[p], edgecolor="white", label=label_for(p)) for p in profiles]
    if drew_masked:
        handles.append(
            Patch(
                facecolor="white",
                edgecolor=NEUTRAL_COLOR,
                hatch="////",
                label=f"Masked ({masked_label(min_cell_count)})",
            )
        )
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncols=2,
        borderaxespad=0.0,
        handlelength=1.0,
        columnspacing=0.8,
        handletextpad=0.4,
    )
    return ax


def plot_correlation_heatmap(
    corr: pd.DataFrame, *, ax=None, annotate: bool = True, colorbar: bool = True, label: str = "Spearman ρ"
):
    """Lower triangle of a correlation matrix on a diverging colour scale centred at 0.

    The diagonal (all 1) and the upper triangle are not drawn: rows are the variables 2..k,
    columns 1..k−1, and cells above the diagonal are masked.

    Parameters
    ----------
    corr : DataFrame
        Square correlation matrix (e.g. ``df.corr(method="spearman")``) with the same labels
        on rows and columns.
    ax : Axes, optional
    annotate : bool
        Print the coefficient in each cell.
    colorbar : bool
        Add a colour bar beside ``ax``.
    label : str
        Colour-bar label.

    Returns
    -------
    Axes
    """
    ax = _get_ax(ax)
    if corr.shape[0] != corr.shape[1] or corr.shape[0] < 2:
        raise ValueError("corr must be a square matrix with at least 2 variables")
    values = corr.to_numpy(float)
    sub = values[1:, :-1]
    k = sub.shape[0]
    upper = np.triu(np.ones((k, k), bool), k=1)
    shown = np.ma.masked_array(sub, mask=upper | ~np.isfinite(sub))
    im = ax.imshow(shown, cmap="RdBu_r", vmin=-1, vmax=1, aspect="equal", interpolation="nearest")
    if annotate:
        for i in range(k):
            for j in range(i + 1):
                v = sub[i, j]
                if np.isfinite(v):
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}".replace("-", "\u2212"),
                        ha="center",
                        va="center",
                        fontsize=_SMALL,
                        color="white" if abs(v) > 0.6 else "black",
                    )

    def short(name):
        return MARKER_SHORT_LABELS.get(str(name), label_for(name))

    ax.set_xticks(np.arange(k))
    ax.set_xticklabels([short(c) for c in corr.columns[:-1]], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(np.arange(k))
    ax.set_yticklabels([short(r) for r in corr.index[1:]])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if colorbar:
        # The colour bar sits in an inset of the heat map's own axes, so it stays beside the
        # cells whatever room the (square-celled) heat map leaves in its grid cell.
        cax = ax.inset_axes([1.04, 0.0, 0.05, 1.0])
        cb = ax.figure.colorbar(im, cax=cax, ticks=[-1, -0.5, 0, 0.5, 1])
        cb.set_label(label)
        cb.outline.set_visible(False)
        cb.ax.tick_params(length=2)
    return ax


def plot_cutoff_scatter(
    data: pd.DataFrame,
    *,
    x: str,
    y: str,
    x_cutoff=None,
    y_cutoff=None,
    hue: str | None = None,
    log: tuple[bool, bool] = (False, False),
    ax=None,
    min_cell_count: int,
):
    """Scatter of two markers with their cut-offs drawn and labelled.

    Parameters
    ----------
    data : DataFrame
        One row per patient; rows with ``x`` or ``y`` missing are left out.
    x, y : str
        Marker columns.
    x_cutoff, y_cutoff : float or sequence of float, optional
        Cut-off(s) on each axis (e.g. ``(0.5, 2.0)`` for low and high), drawn as dashed lines
        with their value.
    hue : str, optional
        Column colouring the points (profiles and groups get their fixed colours); rows with a
        missing ``hue`` are grey and labelled "Missing".
    log : tuple of bool
        Log10 scale on x and y.
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    ax = _get_ax(ax)
    cols = [x, y] + ([hue] if hue is not None and hue not in (x, y) else [])
    df = data[cols].copy()
    df[x] = pd.to_numeric(df[x], errors="coerce")
    df[y] = pd.to_numeric(df[y], errors="coerce")
    df = df.dropna(subset=[x, y])
    for col, is_log in zip((x, y), log):
        if is_log:
            df = df[df[col] > 0]
    style = {"s": 8, "alpha": 0.7, "linewidths": 0}
    if min_cell_count > 1:
        _hexbin(ax, df[x].to_numpy(float), df[y].to_numpy(float), log=log, min_cell_count=min_cell_count)
        if log[0] and len(df):
            ax.set_xscale("log")
        if log[1] and len(df):
            ax.set_yscale("log")
        log = (False, False)  # scales set; ticks below as for points
    elif hue is None:
        ax.scatter(df[x], df[y], color=NEUTRAL_COLOR, **style)
    else:
        levels = _levels(df[hue])
        colors = colors_for(levels)
        for level in levels:
            sub = df[(df[hue] == level).fillna(False).astype(bool)]
            ax.scatter(
                sub[x],
                sub[y],
                color=colors[level],
                label=f"{label_for(level)} (n = {_n(len(sub), min_cell_count)})",
                **style,
            )
        missing = df[df[hue].isna()]
        if len(missing):
            ax.scatter(missing[x], missing[y], color="#BBBBBB", label=f"Missing (n = {len(missing)})", **style)
        # Beside the axes, never on the points (a "best" legend still covers some of a dense cloud).
        legend_beside(ax, markerscale=1.5, handletextpad=0.2)
    for is_log, axis in zip(log, (ax.xaxis, ax.yaxis)):
        if is_log:
            (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
    if log[0] and len(df):
        _plain_log_axis(ax.xaxis, df[x].min(), df[x].max())
    if log[1] and len(df):
        _plain_log_axis(ax.yaxis, df[y].min(), df[y].max())
    line = {"color": NEUTRAL_COLOR, "linestyle": "--", "linewidth": 0.6, "zorder": 1}
    for _, v in _cutoff_lines(x_cutoff):
        ax.axvline(v, **line)
        ax.text(
            v,
            1.0,
            f" {v:g}",
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="top",
            fontsize=_SMALL,
            color=NEUTRAL_COLOR,
        )
    for _, v in _cutoff_lines(y_cutoff):
        ax.axhline(v, **line)
        ax.text(
            1.0,
            v,
            f"{v:g}",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="bottom",
            fontsize=_SMALL,
            color=NEUTRAL_COLOR,
        )
    ax.set_xlabel(label_for(x))
    ax.set_ylabel(label_for(y))
    return ax


# --------------------------------------------------------------------------------------------
# models


def plot_forest(
    estimates: pd.DataFrame,
    *,
    label_col: str = "label",
    estimate_col: str = "estimate",
    low_col: str = "conf_low",
    high_col: str = "conf_high",
    group_col: str | None = None,
    ref: float = 1.0,
    log: bool = True,
    xlabel: str = "Odds ratio (95% CI)",
    ax=None,
    annotate: bool = True,
):
    """Horizontal forest plot of ratio estimates with their confidence intervals.

    Parameters
    ----------
    estimates : DataFrame
        One row per estimate, drawn top to bottom in frame order. A row with a missing
        estimate is shown as "not estimable". With a ``treatment_arm`` column the points are
        coloured by arm.
    label_col, estimate_col, low_col, high_col : str
        Columns with the row label, the estimate and its confidence limits.
    group_col : str, optional
        Column of group headings (e.g. ``"overall"``, ``"balanced"``, ``"dysregulated"``):
        a bold heading row precedes each group's rows, groups in order of first appearance.
    ref : float
        Position of the vertical reference line (no effect).
    log : bool
        Log scale on x (for ratios).
    xlabel : str
    ax : Axes, optional
    annotate : bool
        Write "estimate (low–high)" in a column right of the plot.

    Returns
    -------
    Axes
    """
    ax = _get_ax(ax)
    df = estimates.reset_index(drop=True)
    rows: list[tuple[str, str, int | None]] = []
    if group_col is not None:
        heading = df[group_col].astype(object).where(df[group_col].notna(), "")
        for g in pd.unique(heading):
            rows.append(("heading", label_for(g), None))
            rows.extend(("row", str(df.at[i, label_col]), i) for i in df.index[heading == g])
    else:
        rows = [("row", str(df.at[i, label_col]), i) for i in df.index]
    n_rows = len(rows)
    ypos = {i: n_rows - 1 - k for k, (_, _, i) in enumerate(rows) if i is not None}

    est = pd.to_numeric(df[estimate_col], errors="coerce").to_numpy(float)
    low = pd.to_numeric(df[low_col], errors="coerce").to_numpy(float)
    high = pd.to_numeric(df[high_col], errors="coerce").to_numpy(float)
    finite = np.concatenate([v[np.isfinite(v)] for v in (est, low, high)] + [np.array([ref])])
    if log:
        if (finite <= 0).any():
            raise ValueError("a log forest plot needs positive estimates and limits")
        lo_lim, hi_lim = finite.min() / 1.3, finite.max() * 1.3
    else:
        pad = 0.08 * (finite.max() - finite.min() or 1.0)
        lo_lim, hi_lim = finite.min() - pad, finite.max() + pad

    by_arm = "treatment_arm" in df.columns
    arm_colors = colors_for(_levels(df["treatment_arm"])) if by_arm else {}
    ax.axvline(ref, color=NEUTRAL_COLOR, linewidth=0.6, zorder=1)
    for i in df.index:
        y = ypos[i]
        color = arm_colors.get(df.at[i, "treatment_arm"], "black") if by_arm else "black"
        if not np.isfinite(est[i]):
            if annotate:
                ax.text(
                    1.02,
                    y,
                    "not estimable",
                    transform=ax.get_yaxis_transform(),
                    ha="left",
                    va="center",
                    style="italic",
                    color=NEUTRAL_COLOR,
                )
            else:
                ax.annotate(
                    "not estimable",
                    xy=(ref, y),
                    xytext=(3, 0),
                    textcoords="offset points",
                    ha="left",
                    va="center",
                    style="italic",
                    color=NEUTRAL_COLOR,
                )
            continue
        lo = low[i] if np.isfinite(low[i]) else lo_lim
        hi = high[i] if np.isfinite(high[i]) else hi_lim
        if np.isfinite(low[i]) or np.isfinite(high[i]):
            ax.hlines(y, lo, hi, color=color, linewidth=1.0, zorder=2)
        ax.scatter([est[i]], [y], marker="s", s=14, color=color, zorder=3, linewidths=0)
        if annotate:
            both = np.isfinite(low[i]) and np.isfinite(high[i])
            ci = f" ({low[i]:.2f}–{high[i]:.2f})" if both else ""
            ax.text(1.02, y, f"{est[i]:.2f}{ci}", transform=ax.get_yaxis_transform(), ha="left", va="center")
    if log:
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis, lo_lim, hi_lim)
    ax.set_xlim(lo_lim, hi_lim)
    ax.set_ylim(-0.6, n_rows - 0.4)
    ax.set_yticks([n_rows - 1 - k for k in range(n_rows)])
    ax.set_yticklabels([text for _, text, _ in rows])
    for tick, (kind, _, _) in zip(ax.get_yticklabels(), rows):
        if kind == "heading":
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(xlabel)
    if by_arm and arm_colors:
        handles = [
            Line2D([], [], marker="s", linestyle="-", color=c, markersize=4, label=label_for(a))
            for a, c in arm_colors.items()
        ]
        ax.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncol=len(handles),
            borderaxespad=0.2,
            handlelength=1.2,
            columnspacing=1.0,
        )
    return ax


def plot_cumulative_incidence(
    curves: pd.DataFrame,
    *,
    group_col: str = "group",
    time_col: str = "time_days",
    estimate_col: str = "estimate",
    low_col: str = "conf_low",
    high_col: str = "conf_high",
    ax=None,
    colors: dict | None = None,
    at_risk: pd.DataFrame | None = None,
    at_risk_times: Sequence[float] | None = None,
    xlabel: str = "Days since biopsy",
    ylabel: str = "Cumulative live birth",
    min_cell_count: int | None = None,
    at_risk_stats: Sequence[str] = ("n_at_risk",),
):
    """Cumulative-incidence step curves with confidence bands and a numbers-at-risk table.

    Parameters
    ----------
    curves : DataFrame
        Tidy curves (e.g. ``survival.csv`` of a run): one row per group and time, already on
        the cumulative scale (1 − S, or an Aalen–Johansen estimate), values in [0, 1]. Missing
        or absent ``low_col``/``high_col`` give no band.
    group_col, time_col, estimate_col, low_col, high_col : str
        Column names.
    ax : Axes, optional
    colors : dict, optional
        Group → colour; by default arms, profiles and groups get their fixed colours.
    at_risk : DataFrame, optional
        Columns ``group``, ``time_days``, ``n_at_risk`` (names as in ``curves``). When given, a
        table of the numbers at risk at ``at_risk_times`` is written below the x-axis, one row
        per group, each number under its tick. A time missing from the table shows the count
        at the latest earlier time (the first count before the first time), so give counts at
        ``at_risk_times`` for exact numbers.
    at_risk_times : sequence of float, optional
        Times of the table columns; they become the x ticks. Default: the x ticks.
    xlabel, ylabel : str
    min_cell_count : int
        Disclosure threshold of the numbers at risk. Required whenever ``at_risk`` is given (the
        only counts this figure draws): leaving it out then raises ``TypeError`` instead of
        drawing unmasked counts. Curves alone show no count and need none.
    at_risk_stats : sequence of str
        Blocks of the table under the axis, in order: any of ``"n_at_risk"``, ``"cum_events"``
        and ``"cum_censored"`` (columns of ``at_risk``; see
        :func:`analysis.output.risk_table.numbers_at_risk`), as ggsurvfit's ``risktable_stats``.

    Returns
    -------
    Axes
    """
    if at_risk is not None and min_cell_count is None:
        raise TypeError(
            "plot_cumulative_incidence() draws numbers at risk: the keyword argument "
            "'min_cell_count' is required with at_risk"
        )
    ax = _get_ax(ax)
    groups = _levels(curves[group_col])
    palette = colors_for(groups)
    if colors:
        palette.update(colors)
    top = 0.0
    for g in groups:
        sub = curves[curves[group_col] == g].sort_values(time_col, kind="stable")
        t = sub[time_col].to_numpy(float)
        est = sub[estimate_col].to_numpy(float)
        color = palette[g]
        ax.step(t, est, where="post", color=color, label=label_for(g), zorder=3)
        top = max(top, np.nanmax(est) if len(est) else 0)
        if low_col in sub and high_col in sub:
            lo = sub[low_col].to_numpy(float)
            hi = sub[high_col].to_numpy(float)
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                ax.fill_between(t, lo, hi, where=ok, step="post", color=color, alpha=0.15, linewidth=0, zorder=2)
                top = max(top, np.nanmax(hi[ok]))
    tmax = float(np.nanmax(curves[time_col])) if len(curves) else 1.0
    if at_risk_times is not None:
        tmax = max(tmax, float(np.max(at_risk_times)))
    ax.set_xlim(0, tmax)
    ax.set_ylim(0, min(1.0, top * 1.08) if top > 0 else 1.0)
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    # above the axes, spread over their width in rows of two: never on the curves or their bands,
    # and no wider than the axes (a legend wider than its axes makes constrained layout shrink them)
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.02, 1.0, 0.1),
        mode="expand",
        ncols=min(len(groups), 2) or 1,
        borderaxespad=0.0,
        handlelength=1.2,
        columnspacing=1.0,
        frameon=False,
    )
    if at_risk is not None:
        if at_risk_times is None:
            at_risk_times = [v for v in ax.get_xticks() if 0 <= v <= tmax]
        times = [float(v) for v in at_risk_times]
        ax.set_xticks(times)
        ax.set_xticklabels([f"{v:g}" for v in times])
        _at_risk_table(ax, at_risk, times, groups, palette, group_col, time_col, min_cell_count, at_risk_stats)
    return ax


def _at_risk_table(ax, at_risk, times, groups, palette, group_col, time_col, min_cell_count, stats=("n_at_risk",)):
    """Numbers at risk (and the other ``stats``) under the x label, in points below the axis."""
    unknown = [s for s in stats if s not in RISK_TABLE_STATS or s not in at_risk.columns]
    if unknown:
        raise ValueError(f"at_risk_stats {unknown} are not columns of at_risk among {sorted(RISK_TABLE_STATS)}")
    rc = plt.rcParams
    line = 1.25 * float(rc["xtick.labelsize"] if not isinstance(rc["xtick.labelsize"], str) else rc["font.size"])
    # tick marks + tick labels + x label, then a gap
    start = rc["xtick.major.size"] + rc["xtick.major.pad"] + line + rc["axes.labelpad"] + line + 4.0
    table = at_risk.copy()
    for block, n_col in enumerate(stats):
        top = start + block * (len(groups) + 1) * line
        _at_risk_block(ax, table, times, groups, palette, group_col, time_col, min_cell_count, n_col, top, line)


def _at_risk_block(ax, table, times, groups, palette, group_col, time_col, min_cell_count, n_col, start, line):
    """One block of the table: its header, then one row per group ``start`` points below the axis."""
    common = dict(xycoords=("data", "axes fraction"), textcoords="offset points", va="top", annotation_clip=False)
    # group labels end left of the numbers under t = 0 (half of a 4-digit number, plus a gap)
    label_gap = 0.5 * 4 * 0.6 * line / 1.25 + 4.0
    ax.annotate(
        RISK_TABLE_STATS[n_col],
        xy=(0, 0),
        xycoords="axes fraction",
        xytext=(-label_gap, -start),
        textcoords="offset points",
        ha="right",
        va="top",
        fontweight="bold",
        annotation_clip=False,
        gid="at-risk-header" if n_col == "n_at_risk" else f"risk-table-header-{n_col}",
    )
    for k, g in enumerate(groups, start=1):
        sub = table[table[group_col] == g].sort_values(time_col, kind="stable")
        dy = -start - k * line
        ax.annotate(
            label_for(g),
            xy=(0, 0),
            xycoords="axes fraction",
            xytext=(-label_gap, dy),
            textcoords="offset points",
            ha="right",
            va="top",
            color=palette[g],
            annotation_clip=False,
            gid="at-risk-label",
        )
        if sub.empty:
            continue
        t = sub[time_col].to_numpy(float)
        n = sub[n_col].to_numpy()
        for time in times:
            idx = np.searchsorted(t, time, side="right") - 1
            value = n[max(idx, 0)]
            text = "" if pd.isna(value) else _n(value, min_cell_count)
            gid = "at-risk-number" if n_col == "n_at_risk" else f"risk-table-{n_col}"
            ax.annotate(text, xy=(time, 0), xytext=(0, dy), ha="center", gid=gid, **common)


def plot_cumulative_by_transfer(
    table: pd.DataFrame,
    *,
    ax=None,
    xlabel: str = "Embryo transfers since biopsy",
    ylabel: str = "Cumulative live birth",
):
    """Cumulative live birth by transfer: conservative (solid) and optimistic (dashed) bounds.

    Parameters
    ----------
    table : DataFrame
        Columns ``group``, ``transfer_number`` (1, 2, 3, 4 where the last means "4+"),
        ``conservative`` and ``optimistic`` (proportions), e.g. from
        :func:`analysis.methods.time_to_event.cumulative_live_birth_by_transfer`. A ``label`` column,
        if present, gives the tick labels; otherwise the last transfer number is labelled "k+".
    ax : Axes, optional
    xlabel, ylabel : str

    Returns
    -------
    Axes
    """
    ax = _get_ax(ax)
    # cells hidden by disclosure control (text) are not drawn
    values = [c for c in table.columns if c.startswith(("conservative", "optimistic"))]
    table = table.assign(**{c: pd.to_numeric(table[c], errors="coerce") for c in values})
    groups = _levels(table["group"])
    palette = colors_for(groups)
    for g in groups:
        sub = table[table["group"] == g].sort_values("transfer_number")
        x = sub["transfer_number"].to_numpy(float)
        color = palette[g]
        ax.plot(x, sub["conservative"], linestyle="-", marker="o", color=color, markersize=3.5)
        ax.plot(x, sub["optimistic"], linestyle="--", marker="o", color=color, markersize=3.5, markerfacecolor="white")
    numbers = sorted(pd.unique(table["transfer_number"].astype(int)))
    if "label" in table:
        first = table.drop_duplicates("transfer_number").set_index("transfer_number")["label"]
        labels = [str(first[v]) for v in numbers]
    else:
        labels = [str(v) for v in numbers[:-1]] + [f"{numbers[-1]}+"] if numbers else []
    ax.set_xticks(numbers)
    ax.set_xticklabels(labels)
    if numbers:
        ax.set_xlim(numbers[0] - 0.3, numbers[-1] + 0.3)
    bounds = table[["conservative", "optimistic"]].to_numpy(float)
    top = float(np.nanmax(bounds)) if bounds.size else 1.0
    ax.set_ylim(0, min(1.0, top * 1.1) if top > 0 else 1.0)
    ax.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    handles = [Patch(color=palette[g], label=label_for(g)) for g in groups]
    handles += [
        Line2D([], [], color=NEUTRAL_COLOR, linestyle="-", marker="o", markersize=3.5, label="Conservative"),
        Line2D(
            [],
            [],
            color=NEUTRAL_COLOR,
            linestyle="--",
            marker="o",
            markersize=3.5,
            markerfacecolor="white",
            label="Optimistic",
        ),
    ]
    legend_beside(ax, handles=handles)
    return ax


def plot_schoenfeld(
    residuals: pd.DataFrame,
    *,
    covariate: str,
    coef: float | None = None,
    frac: float = 2 / 3,
    ax=None,
    xlabel: str = "Days since biopsy",
    min_cell_count: int,
):
    """Scaled Schoenfeld residuals against time with a lowess smooth (proportional hazards).

    Each residual belongs to one patient's event: with ``min_cell_count`` > 1 the points are
    replaced by the mean residual of consecutive groups of at least ``min_cell_count`` events
    (at their mean time).

    A smooth that stays flat around the coefficient supports proportional hazards for the
    covariate.

    Parameters
    ----------
    residuals : DataFrame
        Columns ``time`` and ``residual``; if it also has a ``covariate`` column, only the
        rows of ``covariate`` are used.
    covariate : str
        Name of the covariate (title of the panel).
    coef : float, optional
        The model's coefficient, drawn as a dashed horizontal line.
    frac : float
        Lowess span (``statsmodels.nonparametric.lowess``, three robustness iterations, local
        fits 1% of the time range apart as in R's ``lowess``).
    ax : Axes, optional
    xlabel : str

    Returns
    -------
    Axes
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    ax = _get_ax(ax)
    df = residuals
    if "covariate" in df.columns:
        df = df[df["covariate"] == covariate]
    df = df[["time", "residual"]].apply(pd.to_numeric, errors="coerce").dropna()
    t = df["time"].to_numpy(float)
    r = df["residual"].to_numpy(float)
    if min_cell_count <= 1:
        ax.scatter(t, r, s=6, color=NEUTRAL_COLOR, alpha=0.5, linewidths=0, zorder=2)
    elif len(t) >= min_cell_count:
        order = np.argsort(t, kind="stable")
        bins = np.array_split(order, len(t) // min_cell_count)  # each ≥ k events
        ax.scatter(
            [t[b].mean() for b in bins],
            [r[b].mean() for b in bins],
            s=14,
            marker="D",
            color=NEUTRAL_COLOR,
            linewidths=0,
            zorder=2,
            label=f"Mean of ≥ {min_cell_count} events",
        )
    if len(t) >= 3:
        # local fits 1% of the follow-up range apart, interpolated between (R's lowess default):
        # one local fit per event time is quadratic in events at registry size
        smooth = lowess(r, t, frac=frac, delta=0.01 * float(np.ptp(t)), return_sorted=True)
        ax.plot(smooth[:, 0], smooth[:, 1], color="#0072B2", linewidth=1.2, zorder=3, label="Lowess")
    if coef is not None:
        ax.axhline(coef, color="black", linestyle="--", linewidth=0.6, zorder=1, label="Coefficient")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Scaled Schoenfeld residual")
    ax.set_title(label_for(covariate))
    if len(t) >= 3 or coef is not None:
        legend_beside(ax)
    return ax


# --------------------------------------------------------------------------------------------
# data quality


def plot_missingness(table: pd.DataFrame, *, ax=None):
    """Horizontal bars of the percentage missing per variable, most missing at the top.

    Parameters
    ----------
    table : DataFrame
        Columns ``variable`` and ``percent_missing`` (0–100).
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    ax = _get_ax(ax)
    df = table[["variable", "percent_missing"]].copy()
    # a masked cell (disclosure control, e.g. "<10") keeps its text and gets no bar
    df["label"] = df["percent_missing"].map(lambda v: v if isinstance(v, str) else None)
    df["percent_missing"] = pd.to_numeric(df["percent_missing"], errors="coerce").fillna(0.0)
    df = df.sort_values("percent_missing", ascending=True, kind="stable")
    y = np.arange(len(df))
    ax.barh(y, df["percent_missing"], height=0.65, color=NEUTRAL_COLOR)
    for yi, p, label in zip(y, df["percent_missing"], df["label"]):
        text = f"{label} missing" if label else f"{p:.1f}%"
        ax.annotate(
            text,
            xy=(p, yi),
            xytext=(2, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=_SMALL,
            annotation_clip=False,
        )
    ax.set_yticks(y)
    ax.set_yticklabels([str(v) for v in df["variable"]])
    pmax = float(df["percent_missing"].max()) if len(df) else 0.0
    ax.set_xlim(0, max(5.0, pmax) * 1.15)
    ax.set_ylim(-0.6, len(df) - 0.4)
    ax.xaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=0))
    ax.set_xlabel("Missing")
    ax.tick_params(axis="y", length=0)
    return ax
