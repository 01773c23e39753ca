"""The work of ``01_cohort``: the study flow, the validation findings, Table 1 and missing values.

Each function takes the run context, writes its tables, figure and caption through it (so the
disclosure rule is applied), and returns what the notebook shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.output import captions, disclosure, plotting, style
from analysis.output.plotting import flow as flow_plots
from analysis.study import summaries
from analysis.study.context import RunContext

__all__ = [
    "StudyFlow",
    "MissingValues",
    "study_flow",
    "validation_findings",
    "table_one_by_arm",
    "table_one_by_profile",
    "missing_values",
    "missing_values_by_arm",
]

#: Columns of the validation findings a reader sees (no example ids).
FINDING_COLUMNS = ["table", "column", "rule", "severity", "n_rows", "message"]


@dataclass(frozen=True)
class StudyFlow:
    """The study flow: exclusions with their reasons, Figure 1 and its caption.

    Attributes
    ----------
    table : DataFrame
        ``tables/exclusions.csv`` as written (small counts masked).
    figure : Figure
        Figure 1, the flow diagram.
    caption : str
        Caption of Figure 1.
    """

    table: pd.DataFrame
    figure: Figure
    caption: str


@dataclass(frozen=True)
class MissingValues:
    """Missing values per variable in the first-transfer population.

    Attributes
    ----------
    table : DataFrame
        ``tables/missingness.csv`` as written.
    figure : Figure
        Bars of the percentage missing (``supp_missingness``).
    """

    table: pd.DataFrame
    figure: Figure


def study_flow(ctx: RunContext) -> StudyFlow:
    """Write the exclusion table, Figure 1 (flow diagram) and its caption.

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    StudyFlow
    """
    table = ctx.save_table(ctx.cohort.flow, "exclusions")
    flow = table  # the figure and caption show the flow as published (secondary suppression included)
    fig, ax = plt.subplots(figsize=style.figure_size("double", aspect=0.9))
    flow_plots.plot_flow(flow, min_cell_count=ctx.min_cell_count, ax=ax)
    ctx.save_figure(fig, "figure_1_flow")
    plt.close(fig)  # shown through the result, not again by the notebook's backend
    caption = ctx.save_caption(captions.figure_1_caption(flow, min_cell_count=ctx.min_cell_count), 1)
    return StudyFlow(table=table, figure=fig, caption=caption)


def validation_findings(ctx: RunContext) -> pd.DataFrame:
    """Return the data contract's warnings, small counts masked (errors stop a run before this).

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    DataFrame
        table, column, rule, severity, n_rows, message.
    """
    return disclosure.mask_table(ctx.cohort.problems[FINDING_COLUMNS], ctx.min_cell_count)


def _table_one(ctx: RunContext, by: str, name: str) -> summaries.TableOne:
    """Write Table 1 grouped by ``by`` as ``name``, ``name_smd`` and ``name_display``; return what was written.

    The rows of optional columns the cohort lacks (absent or empty) are left out, said in one printed sentence.
    """
    missing = ctx.missing_columns(ctx.cohort.transfers, [*summaries.TABLE1_CONTINUOUS, *summaries.TABLE1_CATEGORICAL])
    if missing:
        print(ctx.skip(f"Table 1 by {by}, the rows of {', '.join(missing)}", missing))
    table = summaries.table_one_by(ctx.cohort, by, min_cell_count=ctx.min_cell_count)
    return summaries.TableOne(
        long=ctx.save_table(table.long, name),
        smd=ctx.save_table(table.smd, f"{name}_smd"),
        wide=ctx.save_table(table.wide, f"{name}_display"),
    )


def table_one_by_arm(ctx: RunContext) -> summaries.TableOne:
    """Write and return Table 1 by arm at the first transfer (``tables/table1_by_arm*.csv``).

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    analysis.study.summaries.TableOne
        The tables as written (small counts masked); ``wide`` is the display table.
    """
    return _table_one(ctx, "treatment_arm", "table1_by_arm")


def table_one_by_profile(ctx: RunContext) -> summaries.TableOne:
    """Write and return Table 1 by immune profile (``tables/table1_by_profile*.csv``).

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    analysis.study.summaries.TableOne
        The tables as written (small counts masked); ``wide`` is the display table.
    """
    profiles = summaries.first_transfers_described(ctx.cohort)["immune_profile"]
    if profiles.nunique() < 2:  # a lab reporting one profile only: nothing to compare
        shown = ctx.skip("Table 1 by immune profile", ["immune_profile"], "one immune profile among the patients")
        return summaries.TableOne(long=shown, smd=shown, wide=shown)
    return _table_one(ctx, "immune_profile", "table1_by_profile")


def missing_values(ctx: RunContext) -> MissingValues:
    """Write the missing-value table of the first-transfer population and its figure.

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    MissingValues
    """
    table = ctx.save_table(summaries.missingness(ctx.cohort), "missingness")
    # one row of 7 pt text every 0.17 in at least, so the variable names never touch
    width, height = style.figure_size("single")
    fig, ax = plt.subplots(figsize=(width, max(height, 0.6 + 0.17 * len(table))))
    plotting.plot_missingness(table, ax=ax)
    ctx.save_figure(fig, "supp_missingness")
    plt.close(fig)
    return MissingValues(table=table, figure=fig)


def missing_values_by_arm(ctx: RunContext) -> pd.DataFrame:
    """Write and return the missing values per variable by arm at the first transfer (``missing_by_arm``).

    One row per variable and arm, then the variable's ``overall`` row: ``n`` women in the group,
    ``n_missing`` and ``percent_missing``, masked by the run's disclosure rule.

    Parameters
    ----------
    ctx : RunContext

    Returns
    -------
    DataFrame
    """
    return ctx.save_table(summaries.missingness(ctx.cohort, by="treatment_arm"), "missing_by_arm")
