"""Figures for the manuscripts, drawn from tidy tables.

One module per family of figures; the general ones (cohort, landscape, forest plots, survival
curves) live in :mod:`analysis.output.plotting.core` and are importable from here. Every function
takes its data first and options by keyword, draws on ``ax`` (the current Axes when ``ax`` is
None) and returns the Axes; colours, labels and sizes come from :mod:`analysis.output.style`.
"""

from analysis.output.plotting.core import (
    plot_correlation_heatmap,
    plot_cumulative_by_transfer,
    plot_cumulative_incidence,
    plot_cutoff_scatter,
    plot_forest,
    plot_marker_distribution,
    plot_missingness,
    plot_prevalence,
    plot_prevalence_table,
    plot_schoenfeld,
)

__all__ = [
    "plot_correlation_heatmap",
    "plot_cumulative_by_transfer",
    "plot_cumulative_incidence",
    "plot_cutoff_scatter",
    "plot_forest",
    "plot_marker_distribution",
    "plot_missingness",
    "plot_prevalence",
    "plot_prevalence_table",
    "plot_schoenfeld",
]
