"""Association and agreement between two measurements: Spearman's rho with a confidence
interval, and Cohen's kappa with its large-sample standard error.

Both functions use the pairwise-complete observations: a pair is dropped when either value is
missing (``pandas.isna``). Inputs are aligned by position, not by index, and are never modified.

References
----------
.. [BW] Bonett DG, Wright TA (2000). Sample size requirements for estimating Pearson, Kendall
   and Spearman correlations. Psychometrika 65:23-28.
.. [FHP] Fieller EC, Hartley HO, Pearson ES (1957). Tests for rank correlation coefficients. I.
   Biometrika 44:470-481.
.. [FCE] Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and
   weighted kappa. Psychological Bulletin 72:323-327.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from analysis.core.intervals import z_value

SPEARMAN_CI_METHODS = ("fisher", "fieller")


def _as_1d(values, name):
    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return pd.Series(arr)


def _paired(x, y, names=("x", "y")):
    """Return the pairwise-complete values of two equally long 1-d inputs as two Series."""
    xs, ys = _as_1d(x, names[0]), _as_1d(y, names[1])
    if len(xs) != len(ys):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length "
            f"(got {len(xs)} and {len(ys)}); they are paired by position"
        )
    ok = (xs.notna() & ys.notna()).to_numpy()
    return xs[ok].reset_index(drop=True), ys[ok].reset_index(drop=True)


def _check_conf_level(conf_level):
    if not (0 < conf_level < 1):
        raise ValueError(f"conf_level must be strictly between 0 and 1, got {conf_level!r}")


def spearman_ci(x, y, *, conf_level=0.95, method="fisher"):
    r"""Return Spearman's rank correlation with a confidence interval and a p-value.

    Parameters
    ----------
    x, y : array-like
        Paired numeric measurements of the same length (paired by position). Pairs with a
        missing value in either are dropped.
    conf_level : float
        Confidence level of the interval (default 0.95).
    method : {"fisher", "fieller"}
        Standard error of :math:`z = \operatorname{artanh}(\rho)` for the interval:

        - ``"fisher"`` (default): Fisher z with the Bonett & Wright (2000) standard error
          :math:`\mathrm{SE} = \sqrt{(1 + \hat\rho^2/2)/(n - 3)}` [BW]_;
        - ``"fieller"``: the Fieller, Hartley & Pearson (1957) standard error
          :math:`\mathrm{SE} = 1.06/\sqrt{n - 3}` [FHP]_.

        The plain Pearson SE :math:`1/\sqrt{n-3}` is deliberately not offered: it is too
        narrow for Spearman's rho.

    Returns
    -------
    dict
        ``rho``, ``conf_low``, ``conf_high``, ``p_value``, ``n`` (number of complete pairs).

    Notes
    -----
    :math:`\hat\rho` is Pearson's correlation of the mid-ranks (ties get average ranks). The
    interval is :math:`\tanh(z \pm z_{1-\alpha/2}\,\mathrm{SE})` with
    :math:`z = \operatorname{artanh}(\hat\rho)`; it is ``(1, 1)`` or ``(-1, -1)`` when
    :math:`|\hat\rho| = 1`.

    The two-sided p-value is that of :func:`scipy.stats.spearmanr`, the t approximation
    :math:`t = \hat\rho\sqrt{(n-2)/(1-\hat\rho^2)}` on :math:`n-2` degrees of freedom. It equals
    R's ``cor.test(x, y, method = "spearman", exact = FALSE)``, also with ties (checked in
    ``tests/test_agreement.py``). It is not R's default exact p-value for small samples
    without ties.

    Raises
    ------
    ValueError
        Fewer than 4 complete pairs (the SE needs :math:`n - 3 > 0`), a constant variable
        (rho undefined), an unknown ``method`` or a ``conf_level`` outside (0, 1).
    """
    _check_conf_level(conf_level)
    if method not in SPEARMAN_CI_METHODS:
        raise ValueError(f"method must be one of {SPEARMAN_CI_METHODS}, got {method!r}")
    xs, ys = _paired(x, y)
    n = len(xs)
    if n < 4:
        raise ValueError(f"Spearman confidence interval needs at least 4 complete pairs (SE uses n - 3); got {n}")
    xv = pd.to_numeric(xs, errors="raise").to_numpy(dtype=float)
    yv = pd.to_numeric(ys, errors="raise").to_numpy(dtype=float)
    for name, v in (("x", xv), ("y", yv)):
        if np.all(v == v[0]):
            raise ValueError(f"{name} is constant over the {n} complete pairs: rho is undefined")
    res = stats.spearmanr(xv, yv)
    rho = float(res.statistic)
    if method == "fisher":
        se = np.sqrt((1.0 + rho**2 / 2.0) / (n - 3))
    else:
        se = 1.06 / np.sqrt(n - 3)
    crit = z_value(conf_level)
    with np.errstate(divide="ignore"):
        z = np.arctanh(rho)
    return {
        "rho": rho,
        "conf_low": float(np.tanh(z - crit * se)),
        "conf_high": float(np.tanh(z + crit * se)),
        "p_value": float(res.pvalue),
        "n": int(n),
    }


def _sort_levels(values):
    """Sorted union of levels; falls back to order of appearance if the values do not sort."""
    uniq = pd.unique(values)
    try:
        return sorted(uniq)
    except TypeError:
        return list(uniq)


def confusion_table(a, b):
    """Return the square table of counts of two ratings of the same subjects.

    Parameters
    ----------
    a, b : array-like
        Ratings of the same subjects (paired by position). Pairs with a missing rating are
        dropped.

    Returns
    -------
    DataFrame
        Counts (int) with rows the levels of ``a`` and columns the levels of ``b``. Both axes
        hold the same levels: the categories of ``a`` and ``b`` when both are categorical with
        equal categories, otherwise the sorted union of the observed values, so a level that
        one rater never used gets a row or column of zeros. The axes are named after ``a`` and
        ``b`` when they are named Series (``"a"`` and ``"b"`` otherwise).
    """
    a_name = a.name if isinstance(a, pd.Series) and a.name is not None else "a"
    b_name = b.name if isinstance(b, pd.Series) and b.name is not None else "b"
    as_, bs = _paired(a, b, names=("a", "b"))
    if (
        isinstance(a, pd.Series)
        and isinstance(b, pd.Series)
        and isinstance(a.dtype, pd.CategoricalDtype)
        and isinstance(b.dtype, pd.CategoricalDtype)
        and list(a.cat.categories) == list(b.cat.categories)
    ):
        levels = list(a.cat.categories)
    else:
        levels = _sort_levels(pd.concat([as_, bs], ignore_index=True))
    ca = pd.Categorical(as_, categories=levels)
    cb = pd.Categorical(bs, categories=levels)
    idx = pd.Index(levels, name=a_name)
    cols = pd.Index(levels, name=b_name)
    k = len(levels)
    flat = np.bincount(ca.codes.astype(np.int64) * k + cb.codes, minlength=k * k)
    return pd.DataFrame(flat.reshape(k, k), index=idx, columns=cols)


def cohens_kappa(a, b, *, conf_level=0.95):
    r"""Return Cohen's (unweighted) kappa of two ratings with its SE, Wald CI and z test.

    Parameters
    ----------
    a, b : array-like
        Binary or categorical ratings of the same subjects (paired by position); pairs with a
        missing rating are dropped. Levels are the union of both raters' levels (see
        :func:`confusion_table`).
    conf_level : float
        Confidence level of the interval (default 0.95).

    Returns
    -------
    dict
        ``kappa``, ``std_error``, ``conf_low``, ``conf_high``, ``p_value``, ``n``,
        ``observed_agreement``, ``expected_agreement``, plus ``std_error_null`` (SE under
        :math:`\kappa = 0`) and ``statistic`` (the z of the test).

    Notes
    -----
    With :math:`p_{ij}` the proportion of subjects rated *i* by ``a`` and *j* by ``b``,
    margins :math:`p_{i\cdot}`, :math:`p_{\cdot j}`, :math:`p_o = \sum_i p_{ii}` (observed
    agreement) and :math:`p_e = \sum_i p_{i\cdot}p_{\cdot i}` (expected agreement),
    :math:`\hat\kappa = (p_o - p_e)/(1 - p_e)`.

    ``std_error`` is the large-sample (non-null) standard error of Fleiss, Cohen & Everitt
    (1969) [FCE]_,

    .. math::

        \widehat{\mathrm{Var}}(\hat\kappa) = \frac{
            \sum_i p_{ii}\,[1 - (p_{i\cdot} + p_{\cdot i})(1 - \hat\kappa)]^2
            + (1 - \hat\kappa)^2 \sum_{i \ne j} p_{ij}\,(p_{\cdot i} + p_{j\cdot})^2
            - [\hat\kappa - p_e(1 - \hat\kappa)]^2}{n\,(1 - p_e)^2},

    the ASE of ``vcd::Kappa`` and, written differently, ``var.kappa`` of
    ``psych::cohen.kappa`` (both agree with this function to 1e-10 on the reference data).
    The interval is the Wald interval :math:`\hat\kappa \pm z_{1-\alpha/2}\,\mathrm{SE}`,
    truncated to [-1, 1] as ``confint`` of ``vcd::Kappa`` and ``psych::cohen.kappa`` do.

    The p-value is the two-sided z test of :math:`\kappa = 0`,
    :math:`z = \hat\kappa/\mathrm{SE}_0`, with the variance under the null hypothesis of the
    same paper,

    .. math::

        \mathrm{SE}_0^2 = \frac{p_e + p_e^2
            - \sum_i p_{i\cdot}p_{\cdot i}(p_{i\cdot} + p_{\cdot i})}{n\,(1 - p_e)^2}

    (as Stata's ``kap`` and ``irr::kappa2``). Note that ``print(vcd::Kappa(...))`` instead
    divides by the non-null ASE, which gives a different p-value.

    Raises
    ------
    ValueError
        No complete pairs, or expected agreement 1 (both raters gave one and the same level to
        every subject), where kappa is undefined (0/0).

    Warns
    -----
    UserWarning
        One rater used a single level: kappa is then 0 whatever the other rater did, both
        standard errors are 0, the interval is (0, 0) and the p-value NaN.
    """
    _check_conf_level(conf_level)
    table = confusion_table(a, b).to_numpy(dtype=float)
    n = table.sum()
    if n == 0:
        raise ValueError("cohens_kappa: no subject has both ratings")
    p = table / n
    row = p.sum(axis=1)
    col = p.sum(axis=0)
    po = float(np.trace(p))
    pe = float(row @ col)
    if np.isclose(pe, 1.0, rtol=0, atol=1e-12):
        raise ValueError(
            "cohens_kappa: expected agreement is 1 (both raters used one and the same level for "
            f"all {int(n)} subjects), so kappa = (po - pe) / (1 - pe) is undefined"
        )
    kappa = (po - pe) / (1.0 - pe)
    if min((row > 0).sum(), (col > 0).sum()) == 1:
        warnings.warn(
            "cohens_kappa: one rater used a single level, so kappa is 0 by construction and "
            "its standard errors are 0 (p-value NaN)",
            UserWarning,
            stacklevel=2,
        )
    # Fleiss, Cohen & Everitt (1969), non-null variance: sum_ij p_ij * M_ij^2 with
    # M_ii = 1 - (p_i. + p_.i)(1 - k) and M_ij = -(p_.i + p_j.)(1 - k) for i != j.
    m = np.eye(len(row)) - (col[:, None] + row[None, :]) * (1.0 - kappa)
    var = ((p * m**2).sum() - (kappa - pe * (1.0 - kappa)) ** 2) / (n * (1.0 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    var0 = (pe + pe**2 - np.sum(row * col * (row + col))) / (n * (1.0 - pe) ** 2)
    se0 = float(np.sqrt(max(var0, 0.0)))
    z = kappa / se0 if se0 > 0 else np.nan
    crit = z_value(conf_level)
    return {
        "kappa": float(kappa),
        "std_error": se,
        "conf_low": float(max(-1.0, kappa - crit * se)),
        "conf_high": float(min(1.0, kappa + crit * se)),
        "p_value": float(2.0 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan,
        "n": int(n),
        "observed_agreement": po,
        "expected_agreement": pe,
        "std_error_null": se0,
        "statistic": float(z),
    }
