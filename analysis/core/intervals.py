"""The normal quantile of a two-sided confidence interval, in one place.

Every Wald interval of the suite, :math:`\\hat\\theta \\mp z\\,\\widehat{se}`, takes its
:math:`z` from :func:`z_value`, so the formula (and therefore the bytes of every limit) has
one owner.
"""

from __future__ import annotations

import scipy.stats

__all__ = ["z_value"]


def z_value(conf_level: float) -> float:
    """Return the two-sided normal quantile :math:`z_{1-(1-c)/2}` of a confidence level.

    Parameters
    ----------
    conf_level : float
        Confidence level :math:`c` in (0, 1), e.g. 0.95.

    Returns
    -------
    float
        :math:`\\Phi^{-1}(1/2 + c/2)`, e.g. 1.959963984540054 for 0.95.

    Examples
    --------
    >>> round(z_value(0.95), 6)
    1.959964
    """
    return float(scipy.stats.norm.ppf(0.5 + conf_level / 2))
