r"""Multiple imputation by chained equations, and Rubin's rules.

:func:`impute_chained` fills the missing values of the named columns ``m`` times (van Buuren &
Groothuis-Oudshoorn 2011, J Stat Softw 45(3), the algorithm of R's ``mice``): starting from
random draws of the observed values, it cycles ``n_iter`` times through the incomplete
columns, each time regressing the column on all the others (as currently completed) among its
observed rows and drawing its missing values:

- **numeric** columns by predictive mean matching (``mice``'s ``pmm``, type-1 matching): the
  linear model's coefficients are drawn from their posterior
  (:math:`\sigma^{*2} = \hat\sigma^2 (n_{obs} - p)/\chi^2_{n_{obs}-p}`,
  :math:`\beta^* \sim N(\hat\beta, \sigma^{*2}(X^\top X)^{-1})`), and each missing value takes
  the observed value of a donor drawn at random among the ``donors`` observed rows whose
  :math:`X\hat\beta` is nearest to its :math:`X\beta^*`. Imputed values are always values
  somebody has, within the observed range;
- **categorical and boolean** columns by a multinomial (binary: logistic) model whose
  coefficients are drawn from their asymptotic normal posterior, the category then drawn from
  the predicted probabilities (``mice``'s ``logreg``/``polyreg``).

The outcome and the treatment arm belong in the imputation model as predictors (White, Royston
& Wood 2011, Stat Med 30:377); pass them in ``predictors``: they are used, never imputed.
Passive imputation (van Buuren 2018, *Flexible Imputation of Missing Data*, 2nd ed., §6.4;
``mice``'s ``"~I(...)"`` method): a column that is a function of other columns (the immune profile
group derived from the markers) is not given a model of its own; where it is missing it is
recomputed from the completed columns after every update, so it always agrees with them and the
analyses of each completed data set use it. Pass such columns in ``passive``.
Imputation ``j`` uses its own generator ``SeedSequence(seed).spawn(m)[j]``, so the imputations
are the same whatever ``n_jobs``.

:func:`pool_rubin` combines per-imputation estimates :math:`\hat Q_j` with variances
:math:`U_j`: :math:`\bar Q`, :math:`\bar U`, :math:`B = \operatorname{var}(\hat Q_j)`,
:math:`T = \bar U + (1 + 1/m) B`, relative increase in variance :math:`r = (1+1/m)B/\bar U`,
:math:`\lambda = (1+1/m)B/T`, Rubin's (1987) df :math:`\nu_{old} = (m-1)/\lambda^2`, and with
the complete-data df :math:`\nu_{com}` the Barnard–Rubin (1999) df
:math:`\nu = (1/\nu_{old} + 1/\nu_{obs})^{-1}`, :math:`\nu_{obs} = \frac{\nu_{com}+1}{\nu_{com}+3}\nu_{com}(1-\lambda)`,
as ``mice::pool``. Intervals and p-values use the t distribution with :math:`\nu` df.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import scipy.stats

from analysis.core.exceptions import ModelError
from analysis.methods.resampling import _WORKERS, resolve_jobs
from analysis.models.logistic import fit_logit
from analysis.models.multinomial import fit_multinomial_logit, multinomial_probabilities
from analysis.models.tidy import estimate_rows

__all__ = ["complete_case_vs_imputed", "fit_pooled_logit", "imputation_model_table", "impute_chained", "pool_rubin"]


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _block(v: pd.Series) -> np.ndarray:
    """Design columns of one predictor: a numeric column standardised, a categorical one as
    indicators of its levels but the first (in sorted order)."""
    if _is_numeric(v):
        x = v.to_numpy(dtype=float)
        return ((x - x.mean()) / (x.std() or 1.0))[:, None]
    codes, uniques = pd.factorize(v.astype(str), sort=True)
    if len(uniques) > 1:
        return (codes[:, None] == np.arange(1, len(uniques))[None, :]).astype(float)
    return np.empty((len(v), 0))


def _pmm(y_obs: np.ndarray, X_obs: np.ndarray, X_mis: np.ndarray, rng: np.random.Generator, donors: int) -> np.ndarray:
    n, p = X_obs.shape
    XtX_inv = np.linalg.pinv(X_obs.T @ X_obs)
    beta = XtX_inv @ (X_obs.T @ y_obs)
    resid = y_obs - X_obs @ beta
    df = max(n - p, 1)
    sigma2 = resid @ resid / rng.chisquare(df)
    chol = np.linalg.cholesky(XtX_inv * sigma2 + 1e-12 * np.eye(p))
    beta_star = beta + chol @ rng.standard_normal(p)
    yhat_obs = X_obs @ beta
    yhat_mis = X_mis @ beta_star
    shuffled = rng.permutation(n)  # a stable sort of shuffled rows breaks ties at random, as mice's matcher does
    order = shuffled[np.argsort(yhat_obs[shuffled], kind="stable")]
    sorted_hat = yhat_obs[order]
    k = min(donors, n)
    # candidates: the k positions on either side of each missing value's insertion point
    pos = np.searchsorted(sorted_hat, yhat_mis)
    window = pos[:, None] + np.arange(-k, k)[None, :]
    window = np.clip(window, 0, n - 1)
    dist = np.abs(sorted_hat[window] - yhat_mis[:, None])
    nearest = np.take_along_axis(window, np.argsort(dist, axis=1, kind="stable")[:, :k], axis=1)
    # duplicate positions after clipping only occur when n < 2k; they then weigh those donors more
    pick = nearest[np.arange(len(yhat_mis)), rng.integers(0, k, size=len(yhat_mis))]
    return y_obs[order[pick]]


def _categorical_draw(labels: np.ndarray, X_obs: np.ndarray, X_mis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    levels, codes = np.unique(labels, return_inverse=True)
    if len(levels) == 1:
        return np.repeat(levels[0], X_mis.shape[0])
    beta, cov, _ = fit_multinomial_logit(X_obs, codes, n_classes=len(levels), max_iter=100)
    chol = np.linalg.cholesky(cov + 1e-10 * np.eye(cov.shape[0]))
    beta_star = beta + (chol @ rng.standard_normal(cov.shape[0])).reshape(beta.shape, order="F")
    P = multinomial_probabilities(X_mis, beta_star)
    u = rng.random(X_mis.shape[0])[:, None]
    idx = (P.cumsum(axis=1) < u).sum(axis=1)
    return levels[np.minimum(idx, len(levels) - 1)]


def _refresh_passive(data: pd.DataFrame, passive: dict, missing: dict) -> None:
    """Recompute each passive column where it was missing, from the current completed columns."""
    for c, derive in passive.items():
        values = pd.Series(derive(data), index=data.index).astype(object).to_numpy()
        data.loc[missing[c], c] = values[missing[c]]


def _one_imputation(args) -> pd.DataFrame:
    frame, impute, predictors, n_iter, donors, seed_sequence, passive = args
    rng = np.random.default_rng(seed_sequence)
    data = frame.copy()
    missing = {c: data[c].isna().to_numpy() for c in [*impute, *passive]}
    for c in impute:  # start: random draws of the observed values
        obs = data.loc[~missing[c], c].to_numpy()
        data.loc[missing[c], c] = obs[rng.integers(0, len(obs), size=missing[c].sum())]
    _refresh_passive(data, passive, missing)
    # each predictor's design block is rebuilt only when its column has just been imputed
    blocks = {c: _block(data[c]) for c in [*impute, *predictors]}
    intercept = np.ones((len(data), 1))
    for _ in range(n_iter):
        for c in impute:
            miss = missing[c]
            if not miss.any():
                continue
            X = np.hstack([intercept] + [blocks[o] for o in [*impute, *predictors] if o != c])
            if _is_numeric(frame[c]):
                y = data[c].to_numpy(dtype=float)
                data.loc[miss, c] = _pmm(y[~miss], X[~miss], X[miss], rng, donors)
            else:
                labels = data[c].astype(str).to_numpy()
                drawn = _categorical_draw(labels[~miss], X[~miss], X[miss], rng)
                if pd.api.types.is_bool_dtype(frame[c]):
                    drawn = drawn == "True"
                data.loc[miss, c] = drawn
            blocks[c] = _block(data[c])
            if passive:
                _refresh_passive(data, passive, missing)
                for p in passive:
                    if p in blocks:
                        blocks[p] = _block(data[p])
    return data


def impute_chained(
    data: pd.DataFrame,
    *,
    columns: Sequence[str],
    predictors: Sequence[str] = (),
    m: int = 20,
    n_iter: int = 10,
    seed: int = 0,
    donors: int = 5,
    n_jobs: int | None = 1,
    passive: dict | None = None,
) -> list[pd.DataFrame]:
    """Return ``m`` completed copies of ``data`` by chained equations.

    Parameters
    ----------
    data : DataFrame
        Rows to impute (one per patient or transfer).
    columns : sequence of str
        Columns whose missing values are imputed (numeric by PMM, others by logistic/multinomial
        draws). Columns without missing values are used as predictors only.
    predictors : sequence of str
        Complete columns used as predictors but never imputed (outcome, arm). A missing value
        in one of them raises :class:`ModelError`: leave such rows out first.
    m, n_iter : int
        Number of imputations and of cycles through the columns.
    seed : int
        Seed of the whole set of imputations.
    donors : int
        Donor pool size of predictive mean matching.
    n_jobs : int, optional
        Worker processes (``None``/``-1``: every core); the imputations do not depend on it.
    passive : dict of str to callable, optional
        Passively imputed columns (listed in ``columns``): ``{column: derive}`` where
        ``derive(frame)`` returns the column's values from the other completed columns (e.g.
        the profile group from the markers). Where the column is missing it is recomputed after
        every update and used as a predictor; it is never modelled itself. ``derive`` must be
        picklable (a module-level function or a ``functools.partial`` of one) for ``n_jobs > 1``.

    Returns
    -------
    list of DataFrame
        Completed copies with the original index and dtypes; other columns of ``data``
        untouched.
    """
    cols = list(dict.fromkeys(columns))
    preds = [p for p in dict.fromkeys(predictors) if p not in cols]
    absent = [c for c in [*cols, *preds] if c not in data]
    if absent:
        raise ModelError(f"imputation: column(s) {absent} are not in the data")
    gaps = [p for p in preds if data[p].isna().any()]
    if gaps:
        raise ModelError(
            f"imputation: predictor(s) {gaps} have missing values; they are not imputed, so leave those rows out first"
        )
    for c in cols:
        if data[c].isna().all():
            raise ModelError(f"imputation: column {c} has no observed value to impute from")
    passive = dict(passive or {})
    stray = [c for c in passive if c not in cols]
    if stray:
        raise ModelError(f"imputation: passive column(s) {stray} must also be listed in columns")
    frame = data[[*cols, *preds]].copy()
    for c in cols:  # plain dtypes for the working copy: float for numbers, object for the rest
        frame[c] = frame[c].astype(float) if _is_numeric(frame[c]) else frame[c].astype(object)
    frame = frame.astype({p: object for p in preds if not _is_numeric(data[p])})
    seeds = np.random.SeedSequence(seed).spawn(m)
    to_impute = [c for c in cols if frame[c].isna().any() and c not in passive]
    # complete listed columns (and passive ones) are predictors of the others, as the imputation
    # model table states
    model_predictors = [c for c in cols if c not in to_impute] + preds
    tasks = [(frame, to_impute, model_predictors, n_iter, donors, s, passive) for s in seeds]
    jobs = min(resolve_jobs(n_jobs), m)
    if jobs == 1:
        done = [_one_imputation(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=_WORKERS) as pool:
            done = list(pool.map(_one_imputation, tasks))
    out = []
    for filled in done:
        copy = data.copy()
        for c in cols:
            copy[c] = (
                filled[c].astype(data[c].dtype)
                if not isinstance(data[c].dtype, pd.CategoricalDtype)
                else pd.Categorical(filled[c], categories=data[c].cat.categories)
            )
        out.append(copy)
    return out


def imputation_model_table(
    data: pd.DataFrame,
    *,
    columns: Sequence[str],
    predictors: Sequence[str],
    m: int,
    n_iter: int,
    seed: int,
    donors: int = 5,
    passive: Sequence[str] = (),
) -> pd.DataFrame:
    """Return the imputation model, one row per column: how many missing, method, predictors, m, seed.

    Columns named in ``passive`` are described as passively imputed (recomputed from the
    completed columns, see :func:`impute_chained`).
    """
    rows = []
    for c in dict.fromkeys([*columns, *predictors]):
        imputed = c in columns and data[c].isna().any()
        method = (
            "passive (recomputed from the completed columns)"
            if c in passive and imputed
            else (
                (
                    f"pmm (donors {donors})"
                    if _is_numeric(data[c])
                    else ("logistic" if data[c].dropna().nunique() == 2 else "multinomial logistic")
                )
                if imputed
                else "not imputed (predictor)"
            )
        )
        rows.append(
            {
                "variable": c,
                "n_missing": int(data[c].isna().sum()),
                "percent_missing": 100 * data[c].isna().mean(),
                "method": method,
                "predictors": "all other listed variables" if imputed and c not in passive else "",
                "m": m,
                "iterations": n_iter,
                "seed": seed,
            }
        )
    return pd.DataFrame(rows)


def pool_rubin(
    estimates: Sequence[float],
    variances: Sequence[float],
    *,
    df_complete: float | None = None,
    conf_level: float = 0.95,
) -> dict:
    """Pool one parameter over imputations by Rubin's rules (``mice::pool``).

    Parameters
    ----------
    estimates, variances : sequence of float
        Per-imputation estimate :math:`\\hat Q_j` and squared standard error :math:`U_j`.
    df_complete : float, optional
        Complete-data degrees of freedom (e.g. residual df); gives the Barnard–Rubin df. None
        (infinite) gives Rubin's large-sample df.

    Returns
    -------
    dict
        ``estimate, ubar, b, t, std_error, riv, lambda, fmi, df, statistic, p_value, conf_low,
        conf_high, m``.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    m = len(q)
    if m < 2:
        raise ModelError("Rubin's rules need at least two imputations")
    qbar, ubar = q.mean(), u.mean()
    b = q.var(ddof=1)
    t = ubar + (1 + 1 / m) * b
    riv = (1 + 1 / m) * b / ubar
    lam = (1 + 1 / m) * b / t
    df_old = (m - 1) / lam**2 if lam > 0 else np.inf
    if df_complete is None or not np.isfinite(df_complete):
        df = df_old
    else:
        df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        df = 1 / (1 / df_old + 1 / df_obs)
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    se = np.sqrt(t)
    crit = scipy.stats.t.ppf(0.5 + conf_level / 2, df)
    stat = qbar / se
    return {
        "estimate": qbar,
        "ubar": ubar,
        "b": b,
        "t": t,
        "std_error": se,
        "riv": riv,
        "lambda": lam,
        "fmi": fmi,
        "df": df,
        "statistic": stat,
        "p_value": 2 * scipy.stats.t.sf(abs(stat), df),
        "conf_low": qbar - crit * se,
        "conf_high": qbar + crit * se,
        "m": m,
    }


def fit_pooled_logit(
    imputed: Sequence[pd.DataFrame],
    formula: str,
    *,
    model_id: str,
    outcome: str,
    population: str,
    notebook: str,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Fit a logistic model on every completed data set and pool each coefficient by Rubin's rules.

    Returns contract rows (estimator ``mi_logit``): ``coef`` the pooled log OR, ``std_error``
    :math:`\\sqrt T`, limits from the t distribution with the Barnard–Rubin df (complete-data df
    = residual df), exponentiated.
    """
    fits = [fit_logit(d, formula, model_id=model_id) for d in imputed]
    params = pd.concat([f.params for f in fits], axis=1)
    var = pd.concat([f.bse**2 for f in fits], axis=1)
    df_complete = float(fits[0].df_resid)
    pooled = [
        pool_rubin(params.loc[name], var.loc[name], df_complete=df_complete, conf_level=conf_level)
        for name in params.index
    ]
    y = pd.to_numeric(imputed[0][outcome])
    return estimate_rows(
        list(params.index),
        [p["estimate"] for p in pooled],
        [p["std_error"] for p in pooled],
        conf_level=conf_level,
        ratio=True,
        conf_low=np.exp([p["conf_low"] for p in pooled]),
        conf_high=np.exp([p["conf_high"] for p in pooled]),
        p_value=[p["p_value"] for p in pooled],
        notebook=notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator="mi_logit",
        n_obs=int(fits[0].nobs),
        n_events=int(y.loc[fits[0].model.data.row_labels].sum()),
        n_clusters=pd.NA,
    )


def complete_case_vs_imputed(
    complete_case: pd.DataFrame, imputed: pd.DataFrame, *, term_prefix: str = "treatment_arm["
) -> pd.DataFrame:
    """Return complete-case and multiply imputed estimates side by side, one row per term."""
    keep = ["term", "estimate", "conf_low", "conf_high", "n_obs"]
    cc = complete_case[complete_case["term"].str.startswith(term_prefix)][keep]
    mi = imputed[imputed["term"].str.startswith(term_prefix)][keep]
    return cc.merge(mi, on="term", how="outer", suffixes=("_complete_case", "_imputed"))
