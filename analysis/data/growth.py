"""Fetal growth reference: the Hadlock (1991) in-utero weight standard.

Small for gestational age (SGA) is a birthweight below the 10th centile for the gestational age.
The suite uses the sonographic weight standard of Hadlock, Harrist & Martinez-Poyer (Radiology
1991;181:129–133): mean weight :math:`\\ln w = 0.578 + 0.332\\,t - 0.00354\\,t^2` (:math:`t` in
weeks; 3,619 g at 40 weeks) with a standard deviation of 12.7% of the mean at every age, the
basis of the global birthweight reference of Mikolajczyk et al. (Lancet 2011). An in-utero
standard classifies more preterm babies as SGA than a birthweight chart does (preterm babies are
smaller than fetuses of the same age that stay in utero), which is why it is preferred for
preterm births; a study with a national birthweight chart can pass its own centile function.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

__all__ = ["HADLOCK_SD_FRACTION", "hadlock_centile_weight", "hadlock_mean_weight"]

HADLOCK_SD_FRACTION = 0.127


def hadlock_mean_weight(gestational_age_days) -> np.ndarray:
    """Mean fetal weight (g) at a gestational age by the Hadlock (1991) standard.

    Parameters
    ----------
    gestational_age_days : array-like
        Completed days.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> round(float(hadlock_mean_weight(280)))
    3619
    """
    t = np.asarray(gestational_age_days, dtype=float) / 7
    return np.exp(0.578 + 0.332 * t - 0.00354 * t**2)


def hadlock_centile_weight(gestational_age_days, centile: float = 10.0) -> np.ndarray:
    """Weight (g) at a centile of the Hadlock standard: mean × (1 + z × 0.127).

    Parameters
    ----------
    gestational_age_days : array-like
    centile : float
        Centile in (0, 100); 10 gives the SGA threshold.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> round(float(hadlock_centile_weight(280, 10)))
    3030
    """
    z = scipy.stats.norm.ppf(centile / 100)
    return hadlock_mean_weight(gestational_age_days) * (1 + z * HADLOCK_SD_FRACTION)
