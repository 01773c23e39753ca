"""Follow-up time by the reverse Kaplan–Meier method: median and interquartile range per group.

The reverse Kaplan–Meier estimator swaps the roles of event and censoring: the end of follow-up
without the event is the "event", and the event censors the time a woman would still have been
followed. Its median is the potential follow-up time, which, unlike the median of observed times,
is not shortened by early events [Schemper & Smith 1996]. It is R's
``survfit(Surv(time, 1 - event) ~ group)``, and its quantiles are R's ``quantile.survfit``.

[Schemper & Smith 1996] Schemper M, Smith TL. A note on quantifying follow-up in studies of
failure time. Control Clin Trials 1996;17:343-346.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.models.survival import kaplan_meier

__all__ = ["FOLLOW_UP_COLUMNS", "reverse_km_follow_up", "survival_quantile"]

#: Columns of :func:`reverse_km_follow_up`.
FOLLOW_UP_COLUMNS = ["group", "n", "n_ended", "median_days", "q1_days", "q3_days"]

_TOL = np.sqrt(np.finfo(float).eps)


def survival_quantile(times: np.ndarray, surv: np.ndarray, p: float) -> float:
    """Return the ``p`` quantile of a survival curve as R's ``quantile.survfit`` does.

    The quantile is the first time at which the curve falls to ``1 - p`` or below; where the
    curve sits exactly on ``1 - p`` (within a tolerance) over an interval, it is the midpoint of
    that interval's start and the next time at which the curve drops. NaN when the curve never
    reaches ``1 - p``.

    Parameters
    ----------
    times : array
        Distinct times, increasing.
    surv : array
        The curve at those times (non-increasing).
    p : float
        0 < p < 1 (0.5: the median).

    Returns
    -------
    float

    Examples
    --------
    >>> survival_quantile(np.array([1.0, 2, 3, 4]), np.array([0.75, 0.5, 0.5, 0.25]), 0.5)
    3.0
    >>> survival_quantile(np.array([1.0, 2, 3]), np.array([0.9, 0.6, 0.4]), 0.5)
    3.0
    """
    target = 1.0 - p
    below = np.flatnonzero(surv <= target + _TOL)
    if not len(below):
        return float("nan")
    i = int(below[0])
    if abs(surv[i] - target) < _TOL:
        later = np.flatnonzero(surv < target - _TOL)
        if len(later):
            return float((times[i] + times[int(later[0])]) / 2)
        return float("nan") if surv[-1] > 0 else float(times[i])
    return float(times[i])


def reverse_km_follow_up(
    data: pd.DataFrame, *, duration_col: str, event_col: str, group_col: str | None = None
) -> pd.DataFrame:
    """Return the median follow-up (reverse Kaplan–Meier) with its quartiles, per group.

    Parameters
    ----------
    data : DataFrame
        One row per woman; not modified. Rows with a missing time, event or group are left out
        (as :func:`analysis.models.survival.kaplan_meier` does).
    duration_col, event_col : str
        Time from time zero (days) and the event indicator (0/1).
    group_col : str, optional
        One row per value; without it one row, group ``"all"``.

    Returns
    -------
    DataFrame
        :data:`FOLLOW_UP_COLUMNS`: ``n`` women, ``n_ended`` whose follow-up ended without the
        event (the reverse curve's events), ``median_days`` and the quartiles ``q1_days`` (25 % of
        potential follow-up is shorter) and ``q3_days``; NaN where the reverse curve does not
        reach the level.
    """
    for col in (duration_col, event_col) + ((group_col,) if group_col else ()):
        if col not in data.columns:
            raise KeyError(f"reverse_km_follow_up: column {col!r} is not in the data")
    rev = data.assign(_ended=1 - pd.to_numeric(data[event_col], errors="coerce"))
    km = kaplan_meier(rev, duration_col=duration_col, event_col="_ended", group_col=group_col)
    rows = []
    for group, curve in km.groupby("group", sort=False):
        t = curve["time_days"].to_numpy(float)
        s = curve["estimate"].to_numpy(float)
        rows.append(
            {
                "group": group,
                "n": int(curve["n_at_risk"].iloc[0]),
                "n_ended": int(curve["n_events"].sum()),
                "median_days": survival_quantile(t, s, 0.5),
                "q1_days": survival_quantile(t, s, 0.25),
                "q3_days": survival_quantile(t, s, 0.75),
            }
        )
    return pd.DataFrame(rows, columns=FOLLOW_UP_COLUMNS)
