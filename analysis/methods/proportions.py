"""Intervals for rare proportions and their differences: exact binomial, Wilson and Newcombe.

Harms are rare, and the Wald interval :math:`\\hat p \\mp z \\sqrt{\\hat p(1-\\hat p)/n}` collapses
to a point when no event is seen. The safety tables therefore use

* the exact (Clopper & Pearson 1934) interval of a proportion, the inversion of two one-sided
  binomial tests, as R's ``binom.test``:
  :math:`p_L = B(\\alpha/2;\\, x,\\, n - x + 1)`, :math:`p_U = B(1 - \\alpha/2;\\, x + 1,\\, n - x)`
  with :math:`B(q; a, b)` the beta quantile (:math:`p_L = 0` when :math:`x = 0`, :math:`p_U = 1`
  when :math:`x = n`);
* the Wilson (1927) score interval, as R's ``prop.test(correct = FALSE)``:
  :math:`\\{\\hat p + z^2/2n \\mp z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}\\}/(1 + z^2/n)`;
* for a difference :math:`d = p_1 - p_2`, Newcombe's (1998, Stat Med 17:873) hybrid score
  interval (his method 10), built from the two Wilson intervals :math:`(l_i, u_i)`:
  :math:`d - \\sqrt{(p_1 - l_1)^2 + (u_2 - p_2)^2}` to :math:`d + \\sqrt{(u_1 - p_1)^2 + (p_2 - l_2)^2}`.

Checked against R (``tests/reference/make_safety_reference.R``) and Newcombe's published
examples (56/70 against 48/80: 0.0524 to 0.3339).
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from analysis.core.intervals import z_value

__all__ = ["clopper_pearson_interval", "newcombe_difference_interval", "wilson_interval"]


def clopper_pearson_interval(events, n, *, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Return the exact (Clopper–Pearson) limits of ``events / n``.

    Parameters
    ----------
    events, n : array-like of int
        Events and trials (``n`` > 0; rows with ``n`` = 0 give NaN limits).
    conf_level : float
        Two-sided confidence level.

    Returns
    -------
    (ndarray, ndarray)
        Lower and upper limits, as ``binom.test(x, n)$conf.int``.

    Examples
    --------
    >>> low, high = clopper_pearson_interval([0], [20])
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.0, 0.1684)
    """
    x = np.atleast_1d(np.asarray(events, dtype=float))
    n = np.atleast_1d(np.asarray(n, dtype=float))
    alpha = 1 - conf_level
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(x > 0, scipy.stats.beta.ppf(alpha / 2, x, n - x + 1), 0.0)
        high = np.where(x < n, scipy.stats.beta.ppf(1 - alpha / 2, x + 1, n - x), 1.0)
    empty = n <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def wilson_interval(events, n, *, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Return the Wilson score limits of ``events / n`` (R's ``prop.test(correct = FALSE)``).

    Parameters
    ----------
    events, n : array-like of int
    conf_level : float

    Returns
    -------
    (ndarray, ndarray)
        NaN where ``n`` is 0.
    """
    x = np.atleast_1d(np.asarray(events, dtype=float))
    n = np.atleast_1d(np.asarray(n, dtype=float))
    z = z_value(conf_level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        centre = p + z**2 / (2 * n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
        denom = 1 + z**2 / n
        low, high = (centre - half) / denom, (centre + half) / denom
    return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)


def newcombe_difference_interval(
    events_1, n_1, events_2, n_2, *, conf_level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return :math:`p_1 - p_2` and its Newcombe hybrid score limits (method 10).

    Parameters
    ----------
    events_1, n_1 : array-like of int
        Events and total of the first group (e.g. an arm).
    events_2, n_2 : array-like of int
        Of the second (reference) group.
    conf_level : float

    Returns
    -------
    (ndarray, ndarray, ndarray)
        Difference, lower and upper limit; NaN where a group is empty.

    Examples
    --------
    >>> d, low, high = newcombe_difference_interval([56], [70], [48], [80])
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.0524, 0.3339)
    """
    x1, m1 = np.atleast_1d(np.asarray(events_1, float)), np.atleast_1d(np.asarray(n_1, float))
    x2, m2 = np.atleast_1d(np.asarray(events_2, float)), np.atleast_1d(np.asarray(n_2, float))
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = x1 / m1, x2 / m2
    l1, u1 = wilson_interval(x1, m1, conf_level=conf_level)
    l2, u2 = wilson_interval(x2, m2, conf_level=conf_level)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high
