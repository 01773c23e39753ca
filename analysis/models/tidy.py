"""Adapters from fitted models to the estimates table of :mod:`analysis.output.results`.

Each ``tidy_*`` function returns a frame with the columns of
:data:`analysis.output.results.ESTIMATE_COLUMNS`, one row per model term, finished by
:func:`analysis.output.results.conform_estimates`: ``coef`` and ``std_error`` on the linear-predictor
scale, ``estimate`` :math:`= e^{coef}` and the Wald limits
:math:`e^{coef \\mp z_{1-(1-level)/2}\\, se}` on the ratio scale, ``p_value`` two-sided from the
normal distribution. Term names are the plain names the fitters give their parameters
(:func:`analysis.models.design.plain_column_names`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.special
import scipy.stats

from analysis.core.intervals import z_value
from analysis.models.logistic import LogitFit, linear_combination
from analysis.models.schema import conform_estimates

__all__ = [
    "estimate_rows",
    "tidy_conditional_logit",
    "tidy_cox",
    "tidy_gee",
    "tidy_glm",
    "tidy_linear_combination",
]


def _estimate_frame(
    terms,
    coef,
    std_error,
    *,
    conf_level: float,
    ratio: bool = True,
    estimate=None,
    conf_low=None,
    conf_high=None,
    p_value=None,
) -> pd.DataFrame:
    """The seven estimate columns of the contract, from coefficients and standard errors."""
    coef = np.asarray(coef, dtype=float)
    s = np.asarray(std_error, dtype=float)
    scale = np.exp if ratio else (lambda v: v)
    if conf_low is None or conf_high is None:
        z = z_value(conf_level)
        conf_low, conf_high = scale(coef - z * s), scale(coef + z * s)
    return pd.DataFrame(
        {
            "term": list(terms),
            "coef": coef,
            "std_error": s,
            "estimate": scale(coef) if estimate is None else estimate,
            "conf_low": conf_low,
            "conf_high": conf_high,
            # 2 Φ(-|z|): scipy's norm.sf is ndtr of the negated value, without its argument checks
            "p_value": 2 * scipy.special.ndtr(-np.abs(coef / s)) if p_value is None else p_value,
        }
    )


def estimate_rows(
    terms,
    coef,
    std_error,
    *,
    conf_level: float = 0.95,
    ratio: bool = True,
    estimate=None,
    conf_low=None,
    conf_high=None,
    p_value=None,
    **labels,
) -> pd.DataFrame:
    """Return contract rows of estimates given as arrays (the adapter of the suite's own estimators).

    By default Wald rows: ``estimate`` :math:`= g(coef)` and limits
    :math:`g(coef \\mp z\\, se)` with :math:`z` from :func:`analysis.core.intervals.z_value` and
    :math:`g = \\exp` for a ratio (coef on the log scale) or the identity for a difference;
    ``p_value`` two-sided from the normal distribution. An estimator with its own interval
    (bootstrap percentiles, Rubin's t limits) or p-value passes them instead.

    Parameters
    ----------
    terms : sequence of str
        Plain term names, one per row.
    coef, std_error : array-like
        Estimate on the linear (log or difference) scale and its standard error.
    conf_level : float
        Level of the Wald limits.
    ratio : bool
        Exponentiate ``coef`` and the limits.
    estimate, conf_low, conf_high, p_value : array-like, optional
        Values computed by the estimator, used as given.
    **labels
        The other columns of the contract (``notebook``, ``model_id``, ``outcome``,
        ``population``, ``estimator``, ``n_obs``, ``n_events``, ``n_clusters``): scalars or
        one value per row.

    Returns
    -------
    DataFrame
        :data:`~analysis.output.results.ESTIMATE_COLUMNS`.
    """
    frame = _estimate_frame(
        terms,
        coef,
        std_error,
        conf_level=conf_level,
        ratio=ratio,
        estimate=estimate,
        conf_low=conf_low,
        conf_high=conf_high,
        p_value=p_value,
    )
    return conform_estimates(frame.assign(**labels))


def _wald_frame(
    params: pd.Series, se: pd.Series, *, conf_level: float, p_values: pd.Series | None = None
) -> pd.DataFrame:
    return _estimate_frame(
        [str(t) for t in params.index],
        params.to_numpy(dtype=float),
        se.to_numpy(dtype=float),
        conf_level=conf_level,
        p_value=None if p_values is None else p_values.to_numpy(dtype=float),
    )


def _finish(frame: pd.DataFrame, **labels) -> pd.DataFrame:
    return conform_estimates(frame, **labels)


def tidy_glm(
    result,
    *,
    notebook: str,
    model_id: str,
    outcome: str,
    population: str,
    estimator: str = "logit",
    conf_level: float = 0.95,
    cluster_count: int | None = None,
) -> pd.DataFrame:
    """Return the estimates rows of a fitted statsmodels GLM (logistic regression).

    Parameters
    ----------
    result : statsmodels GLMResults or LogitFit
        From :func:`analysis.models.logistic.fit_logit` or
        :func:`analysis.models.logistic.fit_logit_coded`.
    notebook, model_id, outcome, population, estimator : str
        Labels of the contract.
    conf_level : float
        Level of the Wald intervals.
    cluster_count : int, optional
        Value of ``n_clusters`` (NA when not given).

    Returns
    -------
    DataFrame
        :data:`~analysis.output.results.ESTIMATE_COLUMNS`, one row per parameter; ``n_obs`` rows
        used, ``n_events`` number of events among them (sum of successes for a response with
        trials).
    """
    if isinstance(result, LogitFit):
        n_events = result.n_events
    else:
        endog = np.asarray(result.model.endog, dtype=float)
        n_trials = np.asarray(getattr(result.model, "n_trials", np.ones_like(endog)), dtype=float)
        n_events = int(round(float(np.sum(endog * n_trials))))
    frame = _wald_frame(pd.Series(result.params), pd.Series(result.bse), conf_level=conf_level)
    return _finish(
        frame,
        notebook=notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator=estimator,
        n_obs=int(result.nobs),
        n_events=n_events,
        n_clusters=cluster_count,
    )


def tidy_conditional_logit(
    result,
    *,
    notebook: str,
    model_id: str,
    outcome: str,
    population: str,
    estimator: str = "conditional_logit",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Return the estimates rows of a conditional logistic fit (no intercept).

    ``n_clusters`` is the number of matched sets.
    """
    model = result.model
    frame = _wald_frame(pd.Series(result.params), pd.Series(result.bse), conf_level=conf_level)
    return _finish(
        frame,
        notebook=notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator=estimator,
        n_obs=int(result.nobs),
        n_events=int(round(float(np.sum(model.endog)))),
        n_clusters=len(np.unique(model.groups)),
    )


def tidy_gee(
    result,
    *,
    notebook: str,
    model_id: str,
    outcome: str,
    population: str,
    estimator: str = "gee_logit_exchangeable",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Return the estimates rows of a :class:`~analysis.models.gee.GEEResult`.

    Standard errors are the robust (sandwich) ones; ``n_clusters`` the number of clusters and
    ``n_events`` the number of events (sum of successes) among the rows used.
    """
    frame = _wald_frame(result.params, result.bse, conf_level=conf_level)
    return _finish(
        frame,
        notebook=notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator=estimator,
        n_obs=int(result.nobs),
        n_events=int(round(result.n_events)),
        n_clusters=int(result.n_clusters),
    )


def tidy_cox(
    cox,
    *,
    notebook: str,
    model_id: str,
    outcome: str,
    population: str,
    estimator: str = "cox_efron",
    conf_level: float = 0.95,
    cluster_count: int | None = None,
) -> pd.DataFrame:
    """Return the estimates rows of a fitted lifelines ``CoxPHFitter`` (no intercept).

    ``coef`` is the log hazard ratio, ``estimate`` the hazard ratio; ``n_obs`` rows used and
    ``n_events`` events among them.
    """
    params = cox.params_.copy()
    params.index = params.index.astype(str)
    se = cox.standard_errors_.copy()
    se.index = params.index
    frame = _wald_frame(params, se, conf_level=conf_level)
    return _finish(
        frame,
        notebook=notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator=estimator,
        n_obs=int(cox._n_examples),
        n_events=int(np.sum(cox.event_observed)),
        n_clusters=cluster_count,
    )


def tidy_linear_combination(
    result,
    weights: Mapping[str, float],
    *,
    term: str,
    notebook: str,
    model_id: str,
    outcome: str,
    population: str,
    estimator: str = "logit",
    conf_level: float = 0.95,
    n_obs: int | None = None,
    n_events: int | None = None,
    n_clusters: int | None = None,
) -> pd.DataFrame:
    """Return one estimates row for a linear combination of a model's coefficients.

    Parameters
    ----------
    result
        Any model accepted by :func:`analysis.models.logistic.linear_combination`.
    weights : mapping of str to float
        Coefficient per raw parameter name.
    term : str
        Name of the derived row, e.g.
        ``"treatment_arm[personalized] | profile_group=dysregulated"``.
    n_obs, n_events, n_clusters : int, optional
        Counts to report; by default those of the model (rows used, events, clusters).

    Returns
    -------
    DataFrame
        One row with :data:`~analysis.output.results.ESTIMATE_COLUMNS`.
    """
    lc = linear_combination(result, weights, conf_level=conf_level)
    if n_obs is None:
        n_obs = int(getattr(result, "nobs", getattr(result, "_n_examples", 0)) or 0) or None
    if n_events is None:
        n_events = _events_of(result)
    if n_clusters is None:
        n_clusters = getattr(result, "n_clusters", None)
    frame = pd.DataFrame(
        {
            "term": [term],
            "coef": [lc["coef"]],
            "std_error": [lc["std_error"]],
            "estimate": [lc["estimate"]],
            "conf_low": [lc["conf_low"]],
            "conf_high": [lc["conf_high"]],
            "p_value": [lc["p_value"]],
        }
    )
    return _finish(
        frame,
        notebook=notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator=estimator,
        n_obs=n_obs,
        n_events=n_events,
        n_clusters=n_clusters,
    )


def _events_of(result) -> int | None:
    if hasattr(result, "n_events"):
        return int(round(float(result.n_events)))
    if hasattr(result, "event_observed"):
        return int(np.sum(result.event_observed))
    model = getattr(result, "model", None)
    if model is not None and hasattr(model, "endog"):
        endog = np.asarray(model.endog, dtype=float)
        n_trials = np.asarray(getattr(model, "n_trials", np.ones_like(endog)), dtype=float)
        return int(round(float(np.sum(endog * n_trials))))
    return None
