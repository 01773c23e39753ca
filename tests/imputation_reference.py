"""A straightforward chained-equations imputation: the reference the fast cycles must equal byte for byte.

This is the algorithm of :mod:`analysis.methods.imputation` written the plain way (as the module
did it before its cycles were made array passes): every update rebuilds its column's design block
from a pandas Series (factorising a categorical column's values as text again), every categorical
draw factorises the column's labels again, every passive column is recomputed from a frame of all
columns after every update that touches its rows, and the donors of predictive mean matching are
always ordered by the stable sort of the shuffled rows. The draws come from the same generator in
the same order, so an imputation that does less work must give the same values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.methods import imputation
from analysis.models.multinomial import fit_multinomial_logit, multinomial_probabilities


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _block(v: pd.Series) -> np.ndarray:
    if _is_numeric(v):
        x = v.to_numpy(dtype=float)
        return ((x - x.mean()) / (x.std() or 1.0))[:, None]
    codes, uniques = pd.factorize(v.astype(str), sort=True)
    if len(uniques) > 1:
        return (codes[:, None] == np.arange(1, len(uniques))[None, :]).astype(float)
    return np.empty((len(v), 0))


def _design(values: dict, names: list) -> np.ndarray:
    blocks = [_block(pd.Series(values[c])) for c in names]
    widths = np.cumsum([1] + [b.shape[1] for b in blocks])
    X = np.hstack([np.ones((len(blocks[0]), 1)), *blocks])
    return X, {c: slice(a, b) for c, a, b in zip(names, widths[:-1], widths[1:])}


def _pmm(y_obs, X_obs, X_mis, rng, donors):
    n, p = X_obs.shape
    XtX_inv = np.linalg.pinv(X_obs.T @ X_obs)
    beta = XtX_inv @ (X_obs.T @ y_obs)
    resid = y_obs - X_obs @ beta
    sigma2 = resid @ resid / rng.chisquare(max(n - p, 1))
    chol = np.linalg.cholesky(XtX_inv * sigma2 + 1e-12 * np.eye(p))
    beta_star = beta + chol @ rng.standard_normal(p)
    yhat_obs = X_obs @ beta
    yhat_mis = X_mis @ beta_star
    shuffled = rng.permutation(n)
    order = shuffled[np.argsort(yhat_obs[shuffled], kind="stable")]
    k = min(donors, n)
    start = imputation._nearest_window_starts(yhat_obs[order], yhat_mis, k)
    return y_obs[order[start + rng.integers(0, k, size=len(yhat_mis))]]


def _categorical_draw(labels, X_obs, X_mis, rng):
    levels, codes = np.unique(labels, return_inverse=True)
    if len(levels) == 1:
        return np.repeat(levels[0], X_mis.shape[0])
    beta, cov, _ = fit_multinomial_logit(X_obs, codes, n_classes=len(levels), max_iter=100)
    chol = np.linalg.cholesky(cov + 1e-10 * np.eye(cov.shape[0]))
    beta_star = beta + (chol @ rng.standard_normal(cov.shape[0])).reshape(beta.shape, order="F")
    P = multinomial_probabilities(X_mis, beta_star)
    idx = (P.cumsum(axis=1) < rng.random(X_mis.shape[0])[:, None]).sum(axis=1)
    return levels[np.minimum(idx, len(levels) - 1)]


def _refresh(values, passive, missing, columns) -> list:
    changed = []
    for c, derive in passive.items():
        rows = missing[c]
        if not rows.any():
            continue
        subset = pd.DataFrame({o: values[o][rows] for o in columns})
        fresh = pd.Series(derive(subset), index=subset.index).astype(object).to_numpy()
        if not pd.Series(fresh).equals(pd.Series(values[c][rows])):
            values[c][rows] = fresh
            changed.append(c)
    return changed


def reference_imputations(data, *, columns, predictors, m, n_iter, seed, passive=None, donors=5) -> list:
    """Return the ``m`` completed copies of ``data`` that :func:`impute_chained` must return.

    ``passive`` maps a column to a bare ``derive`` callable (given every column).
    """
    passive = dict(passive or {})
    cols, frame, impute, model_predictors, _ = imputation._prepared(data, columns, predictors, passive)
    names, all_columns = [*impute, *model_predictors], list(frame.columns)
    out = []
    for seed_sequence in np.random.SeedSequence(seed).spawn(m):
        rng = np.random.default_rng(seed_sequence)
        values = {
            c: frame[c].to_numpy(dtype=float if _is_numeric(frame[c]) else object, copy=True) for c in all_columns
        }
        missing = {c: frame[c].isna().to_numpy() for c in [*impute, *passive]}
        for c in impute:
            obs = values[c][~missing[c]]
            values[c][missing[c]] = obs[rng.integers(0, len(obs), size=missing[c].sum())]
        _refresh(values, passive, missing, all_columns)
        X, slices = _design(values, names)
        for _ in range(n_iter):
            for c in impute:
                miss = missing[c]
                if not miss.any():
                    continue
                keep = np.ones(X.shape[1], bool)
                keep[slices[c]] = False
                cols_used = np.flatnonzero(keep)
                X_obs = X[np.ix_(np.flatnonzero(~miss), cols_used)]
                X_mis = X[np.ix_(np.flatnonzero(miss), cols_used)]
                if _is_numeric(frame[c]):
                    values[c][miss] = _pmm(values[c][~miss], X_obs, X_mis, rng, donors)
                else:
                    drawn = _categorical_draw(values[c].astype(str)[~miss], X_obs, X_mis, rng)
                    values[c][miss] = drawn == "True" if pd.api.types.is_bool_dtype(frame[c]) else drawn
                touched = {p: d for p, d in passive.items() if (miss & missing[p]).any()}
                _refresh(values, touched, missing, all_columns)
                X, slices = _design(values, names)  # everything rebuilt from the values
        completed = frame.copy()
        for c in [*impute, *passive]:
            completed[c] = values[c]
        copy = data.copy()  # a deep copy, every listed column cast back to its dtype
        for c in cols:
            copy[c] = (
                completed[c].astype(data[c].dtype)
                if not isinstance(data[c].dtype, pd.CategoricalDtype)
                else pd.Categorical(completed[c], categories=data[c].cat.categories)
            )
        out.append(copy)
    return out
