"""Logistic GEE for clustered outcomes, reproducing ``geepack::geeglm``.

Model and estimating equations (Liang and Zeger, 1986): for cluster :math:`i` with rows
:math:`j`, proportions :math:`y_{ij}` (0/1, or successes out of :math:`n_{ij}` trials),
:math:`\\operatorname{logit}\\mu_{ij} = x_{ij}^\\top\\beta` and prior weights :math:`w_{ij}`
(the number of trials),

.. math:: \\sum_i D_i^\\top W_i^{1/2} R_i(\\alpha)^{-1} W_i^{1/2} e_i = 0, \\qquad
          D_i = A_i^{-1/2} \\frac{\\partial\\mu_i}{\\partial\\beta}, \\quad
          e_i = A_i^{-1/2} (y_i - \\mu_i), \\quad A_i = \\operatorname{diag}\\{\\mu(1-\\mu)\\}

with :math:`R_i` the exchangeable working correlation (1 on the diagonal, :math:`\\alpha`
elsewhere) or the identity.

This is geepack's algorithm (``geese.fit`` and its C++ ``gee_est``/``gee_var``), checked against
R's ``geeglm(..., family = binomial, corstr = "exchangeable")`` to a relative 1e-8:

* start at the GLM estimate (``glm.fit`` with the same prior weights), :math:`\\alpha = 0` and
  :math:`\\phi` = the unweighted mean of squared Pearson residuals;
* each iteration makes one Fisher-scoring step for :math:`\\beta`, then sets the scale to
  :math:`\\phi = \\sum w_{ij} e_{ij}^2 / \\sum w_{ij}` (no degrees-of-freedom correction) and the
  correlation to the weighted moment estimate

  .. math:: \\hat\\alpha = \\frac{\\sum_i \\sum_{j<k} w_{ij} w_{ik} e_{ij} e_{ik}}
                                  {\\phi \\sum_i \\sum_{j<k} w_{ij} w_{ik}} ;

* it stops when the largest absolute change of :math:`\\beta`, :math:`\\phi` and :math:`\\alpha`
  is at most ``tol`` (geepack's ``epsilon = 1e-4``), at most ``maxiter`` (25) iterations;
* the robust (sandwich) covariance is :math:`H^{-1} (\\sum_i U_i U_i^\\top) H^{-1}` with
  :math:`H = \\sum_i D_i^\\top W_i^{1/2} R_i^{-1} W_i^{1/2} D_i` and :math:`U_i` the cluster
  score, both at the final estimates (the scale cancels).

A grouped binomial response (``trials=``) is what geeglm does with ``cbind(s, n - s)``: the
response becomes the proportion :math:`s/n` and the prior weights become :math:`n` (geeglm
replaces any user weights by the row totals, so ``trials`` and ``weights`` are not combined
here). Prior weights of a binary response (``weights=``) are geeglm's ``weights``: with
:math:`w_{ij} = 1/m_i` (:func:`inverse_cluster_size`) the independence GEE is the
cluster-weighted GEE (Williamson, Datta and Satten, Biometrics 2003), in which every woman
counts once whatever her number of transfers; it stays valid when the cluster size depends on
the outcome (informative cluster size), where a non-diagonal working correlation can bias the
estimates (Pepe and Anderson, 1994). Clusters are the distinct values of ``groups``;
rows are sorted stably by cluster first, which is what geeglm computes when the data are sorted
by id (geepack treats every *run* of equal ids as one cluster).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.stats

from analysis.core.exceptions import ModelError
from analysis.core.intervals import z_value
from analysis.models.design import error_prefix
from analysis.models.logistic import binomial_design, binomial_irls

__all__ = ["GEEResult", "fit_gee_logit", "inverse_cluster_size"]

_COV_STRUCTS = ("exchangeable", "independence")


@dataclass(frozen=True)
class GEEResult:
    """A fitted logistic GEE.

    Attributes
    ----------
    params : Series
        Coefficients (log odds ratios), indexed by patsy column name.
    cov_robust, cov_naive : DataFrame
        Sandwich (robust) and model-based covariance of ``params``.
    alpha : float
        Working correlation (0 for independence).
    scale : float
        Estimated dispersion :math:`\\phi` (geepack's ``gamma``).
    n_clusters, nobs : int
        Number of clusters and of rows used.
    n_events : float
        Number of events (sum of successes) among the rows used.
    iterations : int
        Iterations until convergence.
    cov_struct, formula, outcome, groups : str
        Model description.
    cluster_sizes : ndarray
        Rows per cluster, in sorted cluster order.
    row_labels : Index
        Index labels of the rows of the input data that were used.
    """

    params: pd.Series
    cov_robust: pd.DataFrame
    cov_naive: pd.DataFrame
    alpha: float
    scale: float
    n_clusters: int
    nobs: int
    n_events: float
    iterations: int
    cov_struct: str
    formula: str
    outcome: str
    groups: str
    cluster_sizes: np.ndarray = field(repr=False)
    row_labels: pd.Index = field(repr=False)

    @property
    def bse(self) -> pd.Series:
        """Robust standard errors."""
        return pd.Series(np.sqrt(np.diag(self.cov_robust)), index=self.params.index)

    def cov_params(self) -> pd.DataFrame:
        """Robust (sandwich) covariance matrix, as ``vcov()`` of a geeglm fit."""
        return self.cov_robust

    @property
    def tvalues(self) -> pd.Series:
        """Wald z statistics with the robust standard errors."""
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the Wald z statistics (normal reference, as geeglm's chi2)."""
        return pd.Series(2 * scipy.stats.norm.sf(np.abs(self.tvalues)), index=self.params.index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence limits on the log-odds scale."""
        z = z_value(1 - alpha)
        return pd.DataFrame({0: self.params - z * self.bse, 1: self.params + z * self.bse}, index=self.params.index)


def _cluster_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum rows of ``values`` within contiguous clusters beginning at ``starts``.

    A matrix of rows is summed as the product with the sparse cluster-membership matrix (one
    row per cluster, a one per observation), a fifth of the time of ``np.add.reduceat`` along
    axis 0 on 480,000 rows; a vector by ``reduceat``, which is as fast there.
    """
    if values.ndim == 1:
        return np.add.reduceat(values, starts)
    n = len(values)
    membership = scipy.sparse.csr_array((np.ones(n), np.arange(n), np.r_[starts, n]), shape=(len(starts), n))
    return membership @ values


def _exchangeable_terms(
    dt: np.ndarray, rt: np.ndarray, starts: np.ndarray, sizes: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (H, G, U) of the exchangeable estimating equation, vectorised over clusters.

    With :math:`R_i^{-1} = (1-\\alpha)^{-1}\\{I - c_i 1 1^\\top\\}`,
    :math:`c_i = \\alpha / (1 + (m_i - 1)\\alpha)`, and :math:`\\tilde D = W^{1/2} D`,
    :math:`\\tilde e = W^{1/2} e`:
    :math:`H = \\sum_i \\tilde D_i^\\top R_i^{-1} \\tilde D_i`, :math:`U_i = \\tilde D_i^\\top
    R_i^{-1} \\tilde e_i`, :math:`G = \\sum_i U_i`.
    """
    c = alpha / (1 + (sizes - 1) * alpha)
    s_d = _cluster_sums(dt, starts)  # clusters x p
    s_r = _cluster_sums(rt, starts)  # clusters
    u = (_cluster_sums(dt * rt[:, None], starts) - (c * s_r)[:, None] * s_d) / (1 - alpha)
    h = (dt.T @ dt - (s_d * c[:, None]).T @ s_d) / (1 - alpha)
    return h, u.sum(axis=0), u


def inverse_cluster_size(groups: pd.Series) -> pd.Series:
    """Return the cluster-weighting prior weights :math:`1/m_i`, one per row.

    Parameters
    ----------
    groups : Series
        Cluster of each row (e.g. ``patient_id``) of the rows the model uses: compute the
        weights after dropping incomplete rows, so that every cluster's weights sum to 1.

    Returns
    -------
    Series
        Indexed like ``groups``; NaN where the cluster is missing.

    Examples
    --------
    >>> inverse_cluster_size(pd.Series(["a", "a", "b"])).tolist()
    [0.5, 0.5, 1.0]
    """
    sizes = groups.map(groups.value_counts(dropna=True))
    return (1.0 / sizes).astype(float).rename("cluster_weight")


def fit_gee_logit(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str,
    cov_struct: str = "exchangeable",
    trials: str | None = None,
    weights: str | None = None,
    maxiter: int = 25,
    tol: float = 1e-4,
    model_id: str | None = None,
) -> GEEResult:
    """Fit a logistic GEE with robust standard errors, as R's ``geepack::geeglm``.

    See the module docstring for the estimating equations and the exact algorithm.

    Parameters
    ----------
    data : DataFrame
        One row per observation (transfer); not modified. Rows with a missing value in the
        formula's variables, ``groups`` or ``trials`` are dropped.
    formula : str
        Patsy formula with the binary outcome, or the number of successes when ``trials`` is
        given, on the left.
    groups : str
        Cluster column (e.g. ``patient_id``).
    cov_struct : {"exchangeable", "independence"}
        Working correlation.
    trials : str, optional
        Column with the number of trials (e.g. embryos transferred): the model of
        ``cbind(successes, trials - successes)``.
    weights : str, optional
        Column of positive prior weights of a binary response (geeglm's ``weights``), e.g.
        :func:`inverse_cluster_size` for the cluster-weighted GEE. Not with ``trials``.
    maxiter : int
        Maximum iterations (geepack's ``maxit``).
    tol : float
        Convergence tolerance on the largest absolute change (geepack's ``epsilon``).
    model_id : str, optional
        Prefix of error messages.

    Returns
    -------
    GEEResult

    Raises
    ------
    ModelError
        No complete rows, no events or events only, a covariate with one value, separation,
        a rank-deficient design, an invalid working correlation, weights that are not positive
        and finite (or given with ``trials``), or no convergence within ``maxiter`` iterations.
    """
    if cov_struct not in _COV_STRUCTS:
        raise ModelError(
            f"{error_prefix(model_id)}cov_struct must be one of {', '.join(_COV_STRUCTS)}, not {cov_struct!r}"
        )
    if weights is not None and trials is not None:
        raise ModelError(
            f"{error_prefix(model_id)}prior weights and trials cannot be combined (geeglm replaces "
            "the weights of a grouped response by its trials)"
        )
    extra = [groups] if weights is None else [groups, weights]
    checked = binomial_design(data, formula, trials=trials, extra_columns=extra, model_id=model_id)
    frame = checked["frame"]
    prior = np.ones(len(frame))
    if weights is not None:
        prior = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=float)
        if not (np.isfinite(prior) & (prior > 0)).all():
            raise ModelError(f"{error_prefix(model_id)}the prior weights {weights!r} must be positive and finite")
    cluster_codes, _ = pd.factorize(frame[groups], sort=True)
    order = np.argsort(cluster_codes, kind="stable")
    codes = cluster_codes[order]
    x = checked["design"].to_numpy(dtype=float)[order]
    y = checked["proportion"][order]
    w = (checked["trials"] * prior)[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    exchangeable = cov_struct == "exchangeable"

    def moments(beta):
        eta = x @ beta
        mu = 1 / (1 + np.exp(-eta))
        v = mu * (1 - mu)
        sd = np.sqrt(v)
        resid = (y - mu) / sd  # Pearson residual e (unweighted)
        dt = (np.sqrt(w) * sd)[:, None] * x  # W^1/2 A^-1/2 dmu/deta x, with dmu/deta = v
        return resid, dt

    beta = binomial_irls(x, y, w)  # the start values of geese.fit (glm.fit with the prior weights)
    resid, dt = moments(beta)
    scale = float(np.mean(resid**2))
    alpha = 0.0
    pair_weight = 0.5 * (_cluster_sums(w, starts) ** 2 - _cluster_sums(w**2, starts))
    has_pairs = exchangeable and pair_weight.sum() > 0
    converged = False
    change = np.inf
    iterations = 0
    for iterations in range(1, maxiter + 1):
        rt = np.sqrt(w) * resid
        h, g, _ = _exchangeable_terms(dt, rt, starts, sizes, alpha)
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            raise ModelError(
                f"{error_prefix(model_id)}the GEE information matrix became singular at iteration "
                f"{iterations}; the model is not estimable"
            ) from None
        beta = beta + step
        resid, dt = moments(beta)
        new_scale = float(np.sum(w * resid**2) / np.sum(w))
        change_scale = abs(new_scale - scale)
        scale = new_scale
        change_alpha = 0.0
        if has_pairs:
            wr = w * resid
            cross = 0.5 * (_cluster_sums(wr, starts) ** 2 - _cluster_sums(wr**2, starts))
            new_alpha = float(cross.sum() / (scale * pair_weight.sum()))
            change_alpha = abs(new_alpha - alpha)
            alpha = new_alpha
        change = max(np.max(np.abs(step)), change_scale, change_alpha)
        if not np.isfinite(change):
            break
        if change <= tol:
            converged = True
            break
    if not converged:
        raise ModelError(
            f"{error_prefix(model_id)}the GEE did not converge within maxiter={maxiter} iterations "
            f"(last change {change:.3g} > tolerance {tol:g}); its estimates cannot be used"
        )
    if exchangeable and not (-1 / (sizes.max() - 1 if sizes.max() > 1 else 1) < alpha < 1):
        raise ModelError(
            f"{error_prefix(model_id)}the estimated exchangeable correlation {alpha:.3g} is outside "
            "the range allowed by the cluster sizes; use cov_struct='independence'"
        )
    rt = np.sqrt(w) * resid
    h, _, u = _exchangeable_terms(dt, rt, starts, sizes, alpha)
    h_inv = np.linalg.inv(h)
    names = checked["design"].columns
    cov_robust = h_inv @ (u.T @ u) @ h_inv
    cov_naive = h_inv * scale
    return GEEResult(
        params=pd.Series(beta, index=names),
        cov_robust=pd.DataFrame(cov_robust, index=names, columns=names),
        cov_naive=pd.DataFrame(cov_naive, index=names, columns=names),
        alpha=alpha,
        scale=scale,
        n_clusters=len(starts),
        nobs=len(y),
        n_events=float(np.sum(checked["successes"])),
        iterations=iterations,
        cov_struct=cov_struct,
        formula=formula,
        outcome=checked["outcome"],
        groups=groups,
        cluster_sizes=sizes,
        row_labels=frame.index,
    )
