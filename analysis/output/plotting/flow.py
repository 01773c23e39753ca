"""The study flow diagram (STROBE style), drawn from the exclusion log.

Every box and count comes from the ``exclusions`` table of :func:`analysis.data.cohort.derive_cohort`
(``step, stage, kind, reason, n_patients, n_transfers``); nothing is typed by hand. Included and
analysed steps form the main column, exclusions branch to the right of the step they leave.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import FancyBboxPatch

from analysis.output.disclosure import format_count
from analysis.output.style import NEUTRAL_COLOR

__all__ = ["plot_flow"]

_STAGE_TITLES = {
    "cohort": "Cohort",
    "analysed": "Analysed",
    "first_transfer": "First transfer",
    "all_transfers": "All transfers",
}


def _counts(row, min_cell_count: int) -> str:
    # a flow already masked by its declaration holds text ("<10", "masked") in hidden cells
    patients, transfers = row.n_patients, row.n_transfers
    hidden = isinstance(patients, str) or isinstance(transfers, str)
    parts = [f"{format_count(patients, min_cell_count)} patients"]
    if hidden:
        if row.stage in ("first_transfer", "all_transfers"):
            parts = [f"{format_count(transfers, min_cell_count)} transfers"]
        elif not (transfers == 0 or transfers == patients):
            parts.append(f"{format_count(transfers, min_cell_count)} transfers")
    elif transfers == transfers and transfers > 0 and transfers != patients:
        parts.append(f"{format_count(transfers, min_cell_count)} transfers")
    elif row.stage in ("first_transfer", "all_transfers") and transfers == patients:
        parts = [f"{format_count(transfers, min_cell_count)} transfers"]
    return ", ".join(parts)


def plot_flow(flow: pd.DataFrame, *, min_cell_count: int, ax=None, wrap: int = 38):
    """Draw the flow diagram of a cohort's exclusion log.

    Parameters
    ----------
    flow : DataFrame
        The exclusion log (``exclusions.csv``), in step order.
    min_cell_count : int
        Counts below it are shown as ``"<k"``.
    wrap : int
        Characters per line in a box.

    Returns
    -------
    Axes
    """
    ax = ax or plt.gca()
    rows = list(flow.sort_values("step").itertuples())
    n = len(rows)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.5, n - 0.5)
    ax.invert_yaxis()
    ax.axis("off")
    main_x, side_x, width, height = 0.27, 0.76, 0.44, 0.78
    previous_main = None
    for i, row in enumerate(rows):
        excluded = row.kind == "excluded"
        x = side_x if excluded else main_x
        reason = str(row.reason).replace("_", " ")
        text = "\n".join(textwrap.wrap(reason[0].upper() + reason[1:], wrap))
        text += "\n" + _counts(row, min_cell_count)
        box = FancyBboxPatch(
            (x - width / 2, i - height / 2),
            width,
            height,
            boxstyle="round,pad=0.0,rounding_size=0.02",
            linewidth=0.8,
            edgecolor=NEUTRAL_COLOR,
            facecolor="white" if excluded else "#F2F2F2",
            mutation_aspect=1 / max(n, 1),
        )
        ax.add_patch(box)
        ax.text(x, i, text, ha="center", va="center", fontsize=6.5)
        if excluded:
            ax.annotate(
                "",
                xy=(side_x - width / 2, i),
                xytext=(main_x, i),
                arrowprops=dict(arrowstyle="-|>", lw=0.7, color=NEUTRAL_COLOR, shrinkA=0, shrinkB=0),
            )
        else:
            if previous_main is not None:
                ax.annotate(
                    "",
                    xy=(main_x, i - height / 2),
                    xytext=(main_x, previous_main + height / 2),
                    arrowprops=dict(arrowstyle="-|>", lw=0.7, color=NEUTRAL_COLOR, shrinkA=0, shrinkB=0),
                )
            previous_main = i
    return ax
