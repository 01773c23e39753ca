"""The rows under a survival figure: numbers at risk, cumulative events and cumulative censored.

As ggsurvfit's risk table (``add_risktable(risktable_stats = c("n.risk", "cum.event",
"cum.censor"))``), read off the curves as published. At each time :math:`\\tau` of the table:

* ``n_at_risk``: women still followed at :math:`\\tau` (time :math:`\\ge \\tau`);
* ``cum_events``: events before :math:`\\tau`;
* ``cum_censored``: censored (or competing) exits before :math:`\\tau`,

so that the three add up to the group's size at every time (ggsurvfit counts events *at*
:math:`\\tau` too; counting them before :math:`\\tau` keeps the identity exact).

With disclosure control (``min_cell_count`` > 1) the curves are coarsened
(:func:`analysis.output.disclosure.coarsen_curves`): each row is an interval holding at least k
events whose censored exits are 0 or at least k, cut where fewer than k remain at risk. The table
then reads each count at the start of the interval holding :math:`\\tau`, as the figure's
at-risk row does (:func:`analysis.output.disclosure.at_risk_from_curves`), so every cumulative
count is a sum of whole intervals: the difference between two columns is 0 or at least k, and no
censoring count between two rows can be derived. Beyond a curve's end every cell is blank.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["RISK_TABLE_COLUMNS", "RISK_TABLE_STATS", "numbers_at_risk"]

#: Columns of :func:`numbers_at_risk`.
RISK_TABLE_COLUMNS = ["group", "time_days", "n_at_risk", "cum_events", "cum_censored"]

#: The statistics a risk table can show, with their row headers.
RISK_TABLE_STATS = {
    "n_at_risk": "Number at risk",
    "cum_events": "Cumulative events",
    "cum_censored": "Cumulative censored",
}


def _exact(g: pd.DataFrame, times: Sequence[float]) -> list[dict]:
    t = g["time_days"].to_numpy(float)
    n = g["n_at_risk"].to_numpy(float)
    d = g["n_events"].to_numpy(float)
    n0 = float(n[0]) if len(n) else 0.0
    rows = []
    for tau in times:
        after = np.flatnonzero(t >= tau)
        at_risk = float(n[after[0]]) if len(after) else 0.0
        events = float(d[t < tau].sum())
        rows.append({"n_at_risk": at_risk, "cum_events": events, "cum_censored": n0 - at_risk - events})
    return rows


def _coarsened(g: pd.DataFrame, times: Sequence[float]) -> list[dict]:
    ends = g["time_days"].to_numpy(float)
    n = g["n_at_risk"].to_numpy(float)
    d = g["n_events"].to_numpy(float)
    starts = np.r_[0.0, ends[:-1]]
    n0 = float(n[0]) if len(n) else 0.0
    rows = []
    for tau in times:
        # the interval (start, end] holding tau; the row at time 0 (start = end = 0) holds tau = 0
        hit = np.flatnonzero((starts <= tau) & (tau < ends) | ((ends == 0) & (tau == 0)))
        if not len(hit):
            rows.append({"n_at_risk": np.nan, "cum_events": np.nan, "cum_censored": np.nan})
            continue
        j = int(hit[-1])
        at_risk = float(n[j])
        events = float(d[ends <= starts[j]].sum()) if starts[j] > 0 else 0.0
        rows.append({"n_at_risk": at_risk, "cum_events": events, "cum_censored": n0 - at_risk - events})
    return rows


def numbers_at_risk(curves: pd.DataFrame, times: Sequence[float], *, min_cell_count: int) -> pd.DataFrame:
    """Return the risk table of published curves at ``times``: at risk, cumulative events and censored.

    Parameters
    ----------
    curves : DataFrame
        Curves as published (``survival.csv`` form: group, time_days, n_at_risk, n_events, one
        row per time, or per coarsened interval when ``min_cell_count`` > 1).
    times : sequence of float
        Times of the table's columns (days).
    min_cell_count : int
        The run's disclosure threshold; above 1 the curves are read as coarsened intervals.

    Returns
    -------
    DataFrame
        :data:`RISK_TABLE_COLUMNS`, one row per group and time, counts as floats (NaN beyond a
        coarsened curve's end).

    Examples
    --------
    >>> km = pd.DataFrame({"group": "a", "time_days": [2.0, 5.0, 9.0], "n_at_risk": [4, 3, 1],
    ...                    "n_events": [1, 1, 1]})
    >>> numbers_at_risk(km, [0, 6], min_cell_count=0)[["n_at_risk", "cum_events", "cum_censored"]].values.tolist()
    [[4.0, 0.0, 0.0], [1.0, 2.0, 1.0]]
    """
    missing = {"group", "time_days", "n_at_risk", "n_events"} - set(curves.columns)
    if missing:
        raise ValueError(f"numbers_at_risk: curves lack column(s) {sorted(missing)}")
    read = _coarsened if min_cell_count > 1 else _exact
    out = []
    for group, g in curves.groupby("group", sort=False):
        g = g.sort_values("time_days", kind="stable")
        for tau, row in zip(times, read(g, [float(v) for v in times])):
            out.append({"group": group, "time_days": float(tau), **row})
    return pd.DataFrame(out, columns=RISK_TABLE_COLUMNS)
