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
  somebody has, within the observed range. The donors are sorted by :math:`X\hat\beta` once per
  draw and each recipient's nearest donors found from its insertion point
  (:func:`_nearest_window_starts`, ``k`` comparisons per recipient), as ``mice``'s
  ``matchindex`` does, never from a distance matrix;
- **categorical and boolean** columns by a multinomial (binary: logistic) model whose
  coefficients are drawn from their asymptotic normal posterior, the category then drawn from
  the predicted probabilities (``mice``'s ``logreg``/``polyreg``).

The outcome and the treatment arm belong in the imputation model as predictors (White, Royston
& Wood 2011, Stat Med 30:377); pass them in ``predictors``: they are used, never imputed.
Passive imputation (van Buuren 2018, *Flexible Imputation of Missing Data*, 2nd ed., §6.4;
``mice``'s ``"~I(...)"`` method): a column that is a function of other columns (the immune profile
group derived from the markers) is not given a model of its own; where it is missing it is
recomputed from the completed columns after every update, so it always agrees with them and the
analyses of each completed data set use it. Pass such columns in ``passive``; one given as a
:class:`PassiveColumn` naming the columns it reads is recomputed only after their updates.
Imputation ``j`` uses its own generator ``SeedSequence(seed).spawn(m)[j]``, so the imputations
are the same whatever ``n_jobs``. :func:`impute_chained_auto` chooses ``m`` by von Hippel's two-stage rule
(:func:`imputations_needed`).

:func:`impute_until_converged` chooses the number of cycles: the ``m`` chains run in lockstep and
stop at the first of 10, 15, … 50 cycles where Gelman and Rubin's potential scale reduction
(split :math:`\hat R`, Gelman et al. 2013, *Bayesian Data Analysis*, 3rd ed., §11.4; Gelman &
Rubin 1992, Stat Sci 7:457) of every statistic van Buuren (2018, §6.5.2) plots to judge
convergence, the mean and SD of each column's imputed values per iteration and chain, is below
1.1 (:func:`split_rhat`, :func:`iterations_needed`, :data:`CONVERGENCE_RULE`). The chains are
those being imputed, so the count does not depend on ``n_jobs``, and a chain's draws are the same
whether its cycles run at once or block by block: the result equals :func:`impute_chained` with
that count.

:func:`pool_rubin` combines per-imputation estimates :math:`\hat Q_j` with variances
:math:`U_j`: :math:`\bar Q`, :math:`\bar U`, :math:`B = \operatorname{var}(\hat Q_j)`,
:math:`T = \bar U + (1 + 1/m) B`, relative increase in variance :math:`r = (1+1/m)B/\bar U`,
:math:`\lambda = (1+1/m)B/T`, Rubin's (1987) df :math:`\nu_{old} = (m-1)/\lambda^2`, and with
the complete-data df :math:`\nu_{com}` the Barnard–Rubin (1999) df
:math:`\nu = (1/\nu_{old} + 1/\nu_{obs})^{-1}`, :math:`\nu_{obs} = \frac{\nu_{com}+1}{\nu_{com}+3}\nu_{com}(1-\lambda)`,
as ``mice::pool``. Intervals and p-values use the t distribution with :math:`\nu` df.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.special
import scipy.stats

from analysis.core.exceptions import ModelError
from analysis.methods.resampling import map_chunks, resolve_jobs
from analysis.models.design import coded_design
from analysis.models.logistic import fit_logit, fit_logit_coded
from analysis.models.multinomial import fit_multinomial_logit, multinomial_probabilities
from analysis.models.tidy import estimate_rows

__all__ = [
    "PassiveColumn",
    "complete_case_vs_imputed",
    "fit_pooled_logit",
    "imputation_model_table",
    "imputations_needed",
    "impute_chained",
    "impute_chained_auto",
    "impute_until_converged",
    "iterations_needed",
    "iterations_table",
    "largest_fmi",
    "pool_rubin",
    "split_rhat",
]


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _standardised(values: np.ndarray) -> np.ndarray:
    """The design column of a numeric predictor: its values standardised, as a column."""
    x = np.asarray(values, dtype=float)
    return ((x - x.mean()) / (x.std() or 1.0))[:, None]


def _level_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a categorical predictor's values into its levels as text, in sorted order, and the levels."""
    codes, uniques = pd.factorize(pd.Series(values).astype(str), sort=True)
    return codes, np.asarray(uniques, dtype=str)


def _indicators(codes: np.ndarray, n_levels: int) -> np.ndarray:
    """The design columns of a categorical predictor: indicators of its levels but the first."""
    if n_levels > 1:
        return (codes[:, None] == np.arange(1, n_levels)[None, :]).astype(float)
    return np.empty((len(codes), 0))


def _nearest_window_starts(sorted_values: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """Return, for each target, the first position of its ``k`` nearest values in ``sorted_values``.

    The ``k`` values nearest to a target are contiguous in sorted order: positions
    ``start … start + k - 1`` with ``start`` between ``r - k`` and ``r`` (``r`` the target's
    insertion point, ``numpy.searchsorted(side="left")``). Moving the window one step right
    swaps position ``j`` for ``j + k``; that is preferred while ``t - v[j] >= v[j + k] - t``, a
    condition that holds for the first candidate starts and then never again (the left gap
    shrinks and the right gap grows with ``j``). So ``start`` is the lowest candidate plus the
    number of candidates where it holds: ``k`` comparisons per target, no sort and no distance
    matrix. Ties go to the right-hand value, as the neighbour walk of R's ``mice``
    (``src/matchindex.cpp``: ``val - ysort[l] < ysort[r] - val`` takes the left one, else the
    right one) does.
    """
    n = len(sorted_values)
    r = np.searchsorted(sorted_values, targets, side="left")
    lowest = np.maximum(r - k, 0)
    highest = np.minimum(r, n - k)  # last admissible start
    j = lowest[:, None] + np.arange(k)[None, :]
    admissible = j < highest[:, None]
    j = np.minimum(j, n - k - 1) if n > k else np.zeros_like(j)
    gap_left = targets[:, None] - sorted_values[j]
    gap_right = sorted_values[np.minimum(j + k, n - 1)] - targets[:, None]
    return lowest + np.count_nonzero(admissible & (gap_left >= gap_right), axis=1)


def _pmm(y_obs: np.ndarray, X_obs: np.ndarray, X_mis: np.ndarray, rng: np.random.Generator, donors: int) -> np.ndarray:
    """Draw the missing values of one numeric column by type-1 predictive mean matching.

    As ``mice.impute.pmm`` (``.norm.draw`` then ``matchindex``): the donors' predicted means use
    the least-squares :math:`\\hat\\beta`, the recipients' a posterior draw :math:`\\beta^*`; the
    donors are shuffled and sorted once, and each recipient takes the value of one donor drawn
    at random among its ``donors`` nearest (:func:`_nearest_window_starts`).
    """
    n, p = X_obs.shape
    XtX_inv = np.linalg.pinv(X_obs.T @ X_obs)
    beta = XtX_inv @ (X_obs.T @ y_obs)
    yhat_obs = X_obs @ beta  # the donors' predicted means, and the residuals' fitted values
    resid = y_obs - yhat_obs
    df = max(n - p, 1)
    sigma2 = resid @ resid / rng.chisquare(df)
    chol = np.linalg.cholesky(XtX_inv * sigma2 + 1e-12 * np.eye(p))
    beta_star = beta + chol @ rng.standard_normal(p)
    yhat_mis = X_mis @ beta_star
    shuffled = rng.permutation(n)  # a stable sort of shuffled rows breaks ties at random, as mice's matchindex
    order = _donor_order(yhat_obs, shuffled)
    k = min(donors, n)
    start = _nearest_window_starts(yhat_obs[order], yhat_mis, k)
    return y_obs[order[start + rng.integers(0, k, size=len(yhat_mis))]]


def _donor_order(yhat_obs: np.ndarray, shuffled: np.ndarray) -> np.ndarray:
    """Return ``shuffled[argsort(yhat_obs[shuffled], kind="stable")]``: the donors by predicted mean, ties at random.

    When the predicted means are all distinct (the usual case with a continuous predictor) the
    sorted order is unique, so any sort gives it and the shuffle plays no part: numpy's default
    sort, faster than the stable one, is used and its result checked strictly increasing.
    Otherwise (ties, or a NaN) the stable sort of the shuffled rows decides, as it always did.
    """
    order = np.argsort(yhat_obs)
    ranked = yhat_obs[order]
    if (ranked[1:] > ranked[:-1]).all():
        return order
    return shuffled[np.argsort(yhat_obs[shuffled], kind="stable")]


def _categorical_draw(
    levels: np.ndarray, codes: np.ndarray, X_obs: np.ndarray, X_mis: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw the missing values of one categorical column; return their positions in ``levels``.

    ``levels`` are the observed values as text in sorted order and ``codes`` the observed rows'
    positions in them (``numpy.unique(..., return_inverse=True)``), which never change in a chain.
    """
    if len(levels) == 1:
        return np.zeros(X_mis.shape[0], dtype=np.intp)
    beta, cov, _ = fit_multinomial_logit(X_obs, codes, n_classes=len(levels), max_iter=100)
    chol = np.linalg.cholesky(cov + 1e-10 * np.eye(cov.shape[0]))
    beta_star = beta + (chol @ rng.standard_normal(cov.shape[0])).reshape(beta.shape, order="F")
    P = multinomial_probabilities(X_mis, beta_star)
    u = rng.random(X_mis.shape[0])[:, None]
    idx = (P.cumsum(axis=1) < u).sum(axis=1)
    return np.minimum(idx, len(levels) - 1)


class _Design:
    """The completed columns as arrays and the imputation design built from them, kept in step.

    ``X`` holds an intercept and one block of columns per predictor: a numeric one standardised
    (:func:`_standardised`), a categorical one as indicators of its levels as text in sorted
    order but the first (:func:`_indicators`). A categorical column's codes into its levels are
    kept, so an update of some rows codes those rows only (the codes of a full
    :func:`_level_codes` of the column); the column is coded afresh only when a value outside
    its levels appears or a level disappears, and the whole design is rebuilt only when its
    number of levels changes. ``regressors(c)`` are the positions of every block but ``c``'s.
    """

    def __init__(self, values: dict, names: list):
        self.values, self.names = values, names
        self.numeric = {c: _is_numeric(pd.Series(values[c])) for c in names}
        self._rebuild()

    def _rebuild(self) -> None:
        self.codes = {c: _level_codes(self.values[c]) for c in self.names if not self.numeric[c]}
        blocks = [
            _standardised(self.values[c]) if self.numeric[c] else _indicators(self.codes[c][0], len(self.codes[c][1]))
            for c in self.names
        ]
        widths = np.cumsum([1] + [b.shape[1] for b in blocks])
        self.X = np.hstack([np.ones((len(blocks[0]) if blocks else 0, 1)), *blocks])
        self.slices = {c: slice(a, b) for c, a, b in zip(self.names, widths[:-1], widths[1:])}
        self._regressors = {}

    def regressors(self, c: str) -> np.ndarray:
        if c not in self._regressors:
            keep = np.ones(self.X.shape[1], bool)
            if c in self.slices:
                keep[self.slices[c]] = False
            self._regressors[c] = np.flatnonzero(keep)
        return self._regressors[c]

    def update(self, c: str, rows: np.ndarray, drawn: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Rewrite ``c``'s block after its values changed on ``rows`` (positions).

        ``drawn``, for a categorical column, is ``(labels, positions)``: the new values as text
        are ``labels[positions]`` (a categorical draw's levels and the levels drawn); without
        it the new values are read from the column.
        """
        if c not in self.slices:
            return
        where = self.slices[c]
        if self.numeric[c]:
            self.X[:, where] = _standardised(self.values[c])
            return
        if not len(rows):
            return
        codes, levels = self.codes[c]
        if drawn is None:
            drawn = np.unique(np.asarray(self.values[c][rows], dtype=object).astype(str), return_inverse=True)
        labels, positions = drawn
        at = np.minimum(np.searchsorted(levels, labels), len(levels) - 1)
        known = bool((levels[at] == labels).all())
        if known:
            codes[rows] = at[positions]
        if not known or not np.bincount(codes, minlength=len(levels)).all():  # a new level, or one gone
            codes, levels = self.codes[c] = _level_codes(self.values[c])
        if max(len(levels) - 1, 0) != where.stop - where.start:
            self._rebuild()
        else:
            self.X[:, where] = _indicators(codes, len(levels))


@dataclass(frozen=True)
class PassiveColumn:
    """How a passively imputed column is derived, and from which columns.

    Attributes
    ----------
    derive : callable
        ``derive(frame)`` returns the column's values on the rows of ``frame``, each row's value
        from that row alone; picklable for ``n_jobs > 1`` (a module-level function or a
        ``functools.partial`` of one).
    inputs : tuple of str, optional
        The columns ``derive`` reads: it is given those only, and recomputed only after one of
        them was updated (its value cannot change otherwise). None (a bare callable in
        ``passive``): every column, recomputed after every update that touches its rows.
    """

    derive: Callable
    inputs: tuple[str, ...] | None = None


def _refresh_passive(values: dict, passive: dict, missing: dict, columns: list) -> list:
    """Recompute each passive column on its missing rows from the completed columns of those rows.

    ``derive`` works row by row (each row's value from that row's columns), so only the rows
    where the passive column is missing are passed to it, with its ``inputs`` (every column if
    it names none). Returns the passive columns whose values changed.
    """
    changed = []
    for c, rule in passive.items():
        rows = missing[c]
        if not rows.any():
            continue
        names = columns if rule.inputs is None else rule.inputs
        subset = pd.DataFrame({o: values[o][rows] for o in names}, index=pd.RangeIndex(int(rows.sum())))
        fresh = pd.Series(rule.derive(subset), index=subset.index).astype(object).to_numpy()
        if not pd.Series(fresh).equals(pd.Series(values[c][rows])):
            values[c][rows] = fresh
            changed.append(c)
    return changed


def _chain_start(frame: pd.DataFrame, impute: list, passive: dict, seed_sequence) -> dict:
    """Start one chain: its generator, the working columns and random draws of the observed values."""
    rng = np.random.default_rng(seed_sequence)
    columns = list(frame.columns)
    values = {c: frame[c].to_numpy(dtype=float if _is_numeric(frame[c]) else object, copy=True) for c in columns}
    missing = {c: frame[c].isna().to_numpy() for c in [*impute, *passive]}
    for c in impute:  # start: random draws of the observed values
        obs = values[c][~missing[c]]
        values[c][missing[c]] = obs[rng.integers(0, len(obs), size=missing[c].sum())]
    _refresh_passive(values, passive, missing, columns)
    return {"rng": rng, "values": values, "missing": missing}


def _trace_point(frame: pd.DataFrame, impute: list, values: dict, missing: dict) -> np.ndarray:
    """The statistics of one chain's imputed values that convergence is judged on, after one cycle.

    For each imputed numeric column the mean and SD of its imputed values, for each imputed
    categorical column the share of each observed level among them (van Buuren 2018, §6.5.2,
    plots the mean and SD of the imputed values against the iteration).
    """
    point = []
    for c in impute:
        drawn = values[c][missing[c]]
        if not len(drawn):
            continue
        if _is_numeric(frame[c]):
            point += [float(np.mean(drawn)), float(np.std(drawn))]
        else:
            levels = sorted(map(str, pd.unique(frame[c].dropna())))
            labels = drawn.astype(str)
            point += [float(np.mean(labels == level)) for level in levels]
    return np.asarray(point, dtype=float)


def _column_plans(frame: pd.DataFrame, impute: list, passive: dict, values: dict, missing: dict) -> list[dict]:
    """What a chain's cycles need of each column to impute, computed once: it never changes.

    The observed and missing rows (positions); for a numeric column its observed values, for a
    categorical one its observed levels as text in sorted order and the observed rows' codes
    into them (``numpy.unique``); and the passive columns to recompute after its update: those
    missing on some of its imputed rows that read it (every one that names no inputs).
    """
    plans = []
    for c in impute:
        miss = missing[c]
        observed, imputed = np.flatnonzero(~miss), np.flatnonzero(miss)
        plan = {"column": c, "observed": observed, "missing": imputed, "numeric": _is_numeric(frame[c])}
        if plan["numeric"]:
            plan["y_obs"] = values[c][observed]
        else:
            plan["levels"], plan["codes"] = np.unique(values[c].astype(str)[observed], return_inverse=True)
            plan["boolean"] = pd.api.types.is_bool_dtype(frame[c])
        plan["passive"] = {
            p: rule
            for p, rule in passive.items()
            if (miss & missing[p]).any() and (rule.inputs is None or c in rule.inputs)
        }
        plans.append(plan)
    return plans


def _chain_cycles(shared: tuple, state: dict, *, trace: bool = True) -> tuple[dict, np.ndarray]:
    """Advance one chain by ``n_cycles`` cycles; return its state and the trace of those cycles.

    ``shared`` is ``(frame, impute, predictors, n_cycles, donors, passive)``, the same for every
    chain (the per-task function given to :func:`map_chunks`). Each column's update is a few
    passes over arrays: its regressors taken from the design (:class:`_Design`, kept in step
    with the values), its draw (:func:`_pmm` or :func:`_categorical_draw`), its block of the
    design rewritten. Without ``trace`` (a fixed number of cycles) the trace is not computed.
    """
    frame, impute, predictors, n_cycles, donors, passive = shared
    rng, values, missing = state["rng"], state["values"], state["missing"]
    columns = list(frame.columns)
    design = _Design(values, [*impute, *predictors])  # a function of the values (blocks rewritten on update)
    plans = [plan for plan in _column_plans(frame, impute, passive, values, missing) if len(plan["missing"])]
    points = []
    for _ in range(n_cycles):
        for plan in plans:
            c, observed, imputed = plan["column"], plan["observed"], plan["missing"]
            regressors = design.X.take(design.regressors(c), axis=1)
            X_obs, X_mis = regressors.take(observed, axis=0), regressors.take(imputed, axis=0)
            if plan["numeric"]:
                values[c][imputed] = _pmm(plan["y_obs"], X_obs, X_mis, rng, donors)
            else:
                positions = _categorical_draw(plan["levels"], plan["codes"], X_obs, X_mis, rng)
                drawn = plan["levels"][positions]
                values[c][imputed] = drawn == "True" if plan["boolean"] else drawn
            design.update(c, imputed, None if plan["numeric"] else (plan["levels"], positions))
            # a passive column's rows see the update only where c was imputed on them too
            touched = plan["passive"]
            for p in _refresh_passive(values, touched, missing, columns) if touched else ():
                design.update(p, np.flatnonzero(missing[p]))
        if trace:
            points.append(_trace_point(frame, impute, values, missing))
    return state, (np.array(points) if points else np.empty((0, 0)))


def _completed(impute: list, passive: dict, state: dict) -> dict:
    """The imputed and passive columns of a finished chain, by name (what a worker sends back)."""
    return {c: state["values"][c] for c in [*impute, *passive]}


def _one_imputation(shared: tuple, seed_sequence: np.random.SeedSequence) -> dict:
    """One imputation from its own seed (the per-task function given to :func:`map_chunks`)."""
    frame, impute, predictors, n_iter, donors, passive = shared
    state = _chain_start(frame, impute, passive, seed_sequence)
    state, _ = _chain_cycles(shared, state, trace=False)
    return _completed(impute, passive, state)


def split_rhat(trace: np.ndarray) -> float:
    r"""Return the split potential scale reduction :math:`\hat R` of one statistic traced over chains.

    ``trace`` has one row per chain and one column per iteration. As Gelman et al. (2013),
    *Bayesian Data Analysis*, 3rd ed., §11.4: the first half of every chain is discarded as
    warm-up and the rest split in two (the middle iteration dropped when odd), giving
    :math:`2m` sequences of length :math:`n`; with :math:`W` the mean within-sequence variance
    and :math:`B/n` the variance of the sequence means,

    .. math:: \widehat{\operatorname{var}}^+ = \frac{n-1}{n} W + \frac{B}{n}, \qquad
              \hat R = \sqrt{\widehat{\operatorname{var}}^+ / W}.

    Sequences that never move (:math:`W = 0`) give 1 if they agree and infinity if not.

    Parameters
    ----------
    trace : array of shape (chains, iterations)
        At least two chains and seven iterations (the kept last four or more split into two
        sequences of at least two).

    Returns
    -------
    float

    Examples
    --------
    >>> split_rhat(np.array([[0.0, 1, 0, 1, 0, 1, 0, 1], [1, 0, 1, 0, 1, 0, 1, 0]]))
    0.7071067811865476
    """
    trace = np.asarray(trace, dtype=float)
    if trace.ndim != 2 or trace.shape[0] < 2 or trace.shape[1] < 7:
        raise ModelError(
            f"imputation: split R-hat needs two chains and seven iterations at least (the kept half split into "
            f"sequences of two), got shape {trace.shape}"
        )
    kept = trace[:, trace.shape[1] // 2 :]
    n = kept.shape[1] // 2
    halves = np.vstack([kept[:, :n], kept[:, kept.shape[1] - n :]])
    w = halves.var(axis=1, ddof=1).mean()
    b_over_n = halves.mean(axis=1).var(ddof=1)
    if w == 0:
        return 1.0 if b_over_n == 0 else float("inf")
    return float(np.sqrt(((n - 1) / n * w + b_over_n) / w))


def iterations_needed(
    trace: np.ndarray, *, threshold: float = 1.1, min_iter: int = 10, step: int = 5, max_iter: int = 50
) -> int | None:
    """Return the first checked iteration count at which every traced statistic has converged, or None.

    The counts checked are ``min_iter, min_iter + step, …`` up to ``max_iter`` and the trace's
    length; at each, :func:`split_rhat` of every statistic over the chains' iterations so far
    must be below ``threshold``. The rule of :func:`impute_chained` with ``n_iter="auto"``.

    Parameters
    ----------
    trace : array of shape (chains, iterations, statistics)
        :func:`_trace_point` of every chain after every cycle.
    threshold : float
        Gelman & Rubin's (1992) 1.1.

    Returns
    -------
    int or None
        None if no checked count up to the trace's length satisfies it.
    """
    trace = np.asarray(trace, dtype=float)
    for t in range(min_iter, min(max_iter, trace.shape[1]) + 1, step):
        if all(split_rhat(trace[:, :t, k]) < threshold for k in range(trace.shape[2])):
            return t
    return None


def _chains_until_converged(frame, impute, predictors, donors, passive, seeds, jobs, rule) -> tuple[list, dict]:
    """Run every chain in lockstep, ``rule["step"]`` cycles at a time, until :func:`iterations_needed`.

    Every chain runs the same number of cycles whatever ``jobs`` is, and the decision is made on
    the traces of all chains together after each block, so imputation ``j`` is the same for any
    number of workers (a chain's draws do not depend on where its blocks ran).
    """
    states = [_chain_start(frame, impute, passive, s) for s in seeds]
    traces = [np.empty((0, 0))] * len(states)
    done, chosen = 0, None
    while chosen is None and done < rule["max_iter"]:
        block = rule["min_iter"] if done == 0 else rule["step"]
        block = min(block, rule["max_iter"] - done)
        shared = (frame, impute, predictors, block, donors, passive)
        results = map_chunks(_chain_cycles, shared, states, jobs=jobs)
        states = [st for st, _ in results]
        traces = [tr if not done else np.vstack([old, tr]) for old, (_, tr) in zip(traces, results)]
        done += block
        chosen = iterations_needed(np.stack(traces), **{**rule, "min_iter": done, "max_iter": done})
    trace = np.stack(traces)
    rhat = max((split_rhat(trace[:, :, k]) for k in range(trace.shape[2])), default=1.0)
    return states, {"n_iter": done, "converged": chosen is not None, "max_rhat": rhat}


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
    first: int = 0,
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
    passive : dict of str to callable or PassiveColumn, optional
        Passively imputed columns (listed in ``columns``): ``{column: derive}`` where
        ``derive(frame)`` returns the column's values from the other completed columns (e.g.
        the profile group from the markers), or ``{column: PassiveColumn(derive, inputs)}``
        naming the columns it reads. Where the column is missing it is recomputed after every
        update (of one of its inputs, when named) and used as a predictor; it is never modelled
        itself. ``derive`` must be picklable (a module-level function or a
        ``functools.partial`` of one) for ``n_jobs > 1``, and work row by row (each row's value
        from that row alone): it is called on the rows where the column is missing only.
    first : int
        Return imputations ``first … m - 1`` only (imputation ``j`` is the same whatever ``m``,
        so a pilot's imputations ``0 … first - 1`` can be kept and the rest added).

    Returns
    -------
    list of DataFrame
        Completed copies with the original index and dtypes; the other columns of ``data``
        untouched and shared with it (shallow copies: change a completed set's columns by
        assignment, ``df[c] = ...``, not in place).
    """
    if not 0 <= first < m:
        raise ModelError(f"imputation: first must be in 0 … m - 1 = {m - 1}, got {first}")
    if isinstance(n_iter, str) or n_iter < 1:
        raise ModelError(
            f"imputation: n_iter must be a positive number of cycles, got {n_iter!r} (see impute_until_converged)"
        )
    cols, frame, to_impute, model_predictors, passive = _prepared(data, columns, predictors, passive)
    seeds = np.random.SeedSequence(seed).spawn(m)[first:]  # child j does not depend on m
    # one task per imputation, on local worker processes or, when the run names a Dask scheduler,
    # on its cluster (the frame scattered once); imputation j depends on its own seed only
    shared = (frame, to_impute, model_predictors, n_iter, donors, passive)
    jobs = min(resolve_jobs(n_jobs), len(seeds))
    done = map_chunks(_one_imputation, shared, list(seeds), jobs=jobs)
    return [_as_data(data, filled) for filled in done]


def _prepared(data: pd.DataFrame, columns, predictors, passive) -> tuple:
    """Check the columns; return them, the working frame, the columns to impute, the model's predictors and passive."""
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
    passive = {
        c: rule if isinstance(rule, PassiveColumn) else PassiveColumn(rule) for c, rule in (passive or {}).items()
    }
    stray = [c for c in passive if c not in cols]
    if stray:
        raise ModelError(f"imputation: passive column(s) {stray} must also be listed in columns")
    unknown = {c: [i for i in rule.inputs if i not in [*cols, *preds]] for c, rule in passive.items() if rule.inputs}
    unknown = {c: names for c, names in unknown.items() if names}
    if unknown:
        raise ModelError(
            f"imputation: the inputs of passive column(s) must be among the columns and predictors; not there: {unknown}"
        )
    frame = data[[*cols, *preds]].copy()
    for c in cols:  # plain dtypes for the working copy: float for numbers, object for the rest
        frame[c] = frame[c].astype(float) if _is_numeric(frame[c]) else frame[c].astype(object)
    frame = frame.astype({p: object for p in preds if not _is_numeric(data[p])})
    to_impute = [c for c in cols if frame[c].isna().any() and c not in passive]
    # complete listed columns (and passive ones) are predictors of the others, as the imputation
    # model table states
    model_predictors = [c for c in cols if c not in to_impute] + preds
    return cols, frame, to_impute, model_predictors, passive


def _as_data(data: pd.DataFrame, filled: dict) -> pd.DataFrame:
    """A completed copy of ``data``: the imputed (and passive) columns ``filled`` in their original dtypes.

    Only those columns are new arrays; the others are ``data``'s own (a shallow copy), so ``m``
    completed sets cost ``m`` times the imputed columns, not ``m`` times the frame (at a million
    transfers 20 deep copies of the first transfers took about 2.4 GiB).
    """
    copy = data.copy(deep=False)
    for c, values in filled.items():
        column = pd.Series(values, index=data.index)
        copy[c] = (
            column.astype(data[c].dtype)
            if not isinstance(data[c].dtype, pd.CategoricalDtype)
            else pd.Categorical(column, categories=data[c].cat.categories)
        )
    return copy


#: The rule of ``n_iter="auto"`` (:func:`impute_until_converged`): split R-hat below 1.1 for the
#: mean and SD of every imputed column, checked after 10, 15, … cycles, at most 50.
CONVERGENCE_RULE = {"threshold": 1.1, "min_iter": 10, "step": 5, "max_iter": 50}


def impute_until_converged(
    data: pd.DataFrame,
    *,
    columns: Sequence[str],
    predictors: Sequence[str] = (),
    m: int = 20,
    seed: int = 0,
    donors: int = 5,
    n_jobs: int | None = 1,
    passive: dict | None = None,
    rule: dict | None = None,
) -> tuple[list[pd.DataFrame], dict]:
    """Impute ``m`` times, running the chains until they have converged by Gelman–Rubin's R-hat.

    The ``m`` chains (imputation ``j`` seeded as in :func:`impute_chained`) run in lockstep,
    :data:`CONVERGENCE_RULE` ``step`` cycles at a time after the first ``min_iter``. After each
    block the trace of every chain (:func:`_trace_point`: mean and SD of each numeric column's
    imputed values, the share of each level of a categorical one, as van Buuren 2018, §6.5.2,
    monitors) gives :func:`split_rhat` per statistic over the chains; the chains stop at the
    first count where every statistic is below ``threshold`` (Gelman & Rubin 1992; Gelman et al.
    2013, §11.4), or at ``max_iter`` (reported as not converged). The count depends on the data,
    ``m`` and ``seed`` only, never on ``n_jobs``, and imputation ``j`` equals
    ``impute_chained(..., n_iter=chosen)[j]``: a chain's draws are the same whether its cycles
    run in one call or in blocks.

    Parameters
    ----------
    data, columns, predictors, m, seed, donors, n_jobs, passive
        As :func:`impute_chained`.
    rule : dict, optional
        Overrides of :data:`CONVERGENCE_RULE` (``threshold``, ``min_iter``, ``step``, ``max_iter``).

    Returns
    -------
    (list of DataFrame, dict)
        The completed sets, and ``{"n_iter", "converged", "max_rhat"}`` (the largest R-hat at
        the count chosen).
    """
    rule = {**CONVERGENCE_RULE, **(rule or {})}
    if m < 2:
        raise ModelError(f"imputation: R-hat compares chains, so n_iter='auto' needs m >= 2, got {m}")
    if rule["min_iter"] < 7 or rule["step"] < 1 or rule["max_iter"] < rule["min_iter"]:
        raise ModelError(f"imputation: convergence rule needs min_iter >= 7, step >= 1, max_iter >= min_iter: {rule}")
    cols, frame, to_impute, model_predictors, passive = _prepared(data, columns, predictors, passive)
    seeds = np.random.SeedSequence(seed).spawn(m)
    jobs = min(resolve_jobs(n_jobs), m)
    states, info = _chains_until_converged(frame, to_impute, model_predictors, donors, passive, seeds, jobs, rule)
    return [_as_data(data, _completed(to_impute, passive, st)) for st in states], info


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


def _completed_fit(data: pd.DataFrame, formula: str, *, model_id: str, outcome: str, spec: dict | None) -> dict:
    """Fit the analysis model on one completed data set: coefficients, standard errors, residual df, rows, events.

    With ``spec`` (``exposures``, ``covariates``, ``references`` of ``formula``) the design is
    coded from the categorical codes and fitted by
    :func:`~analysis.models.logistic.fit_logit_coded`, the same numbers as statsmodels' GLM of
    the formula without a patsy design or a model object; whenever that route declines (a
    check fails, or the specification needs patsy) the formula is fitted by
    :func:`~analysis.models.logistic.fit_logit`, which says why.
    """
    if spec is not None:
        coded = coded_design(data, outcome, spec["exposures"], spec["covariates"], spec["references"])
        fit = None if coded is None else fit_logit_coded(data, coded)
        if fit is not None:
            df_resid = float(fit.nobs - len(fit.params))  # statsmodels' GLM: rows used - rank (full here)
            return {
                "params": fit.params,
                "bse": fit.bse,
                "df_resid": df_resid,
                "nobs": fit.nobs,
                "n_events": fit.n_events,
            }
    fit = fit_logit(data, formula, model_id=model_id)
    y = pd.to_numeric(data[outcome])
    return {
        "params": fit.params,
        "bse": fit.bse,
        "df_resid": float(fit.df_resid),
        "nobs": int(fit.nobs),
        "n_events": int(y.loc[fit.model.data.row_labels].sum()),
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
    exposures: Sequence[str] | None = None,
    covariates: Sequence[str] = (),
    references: dict | None = None,
) -> pd.DataFrame:
    """Fit a logistic model on every completed data set and pool each coefficient by Rubin's rules.

    Returns contract rows (estimator ``mi_logit``): ``coef`` the pooled log OR, ``std_error``
    :math:`\\sqrt T`, limits from the t distribution with the Barnard–Rubin df (complete-data df
    = residual df), exponentiated.

    Parameters
    ----------
    imputed : sequence of DataFrame
        The completed data sets.
    formula : str
        The analysis model.
    exposures, covariates, references : optional
        The specification ``formula`` was built from
        (:func:`analysis.methods.outcomes.formula`); when given, each completed set's design is
        coded from its categorical codes rather than by patsy (the same numbers; see
        :func:`_completed_fit`).
    """
    spec = (
        None
        if exposures is None
        else {"exposures": list(exposures), "covariates": list(covariates), "references": dict(references or {})}
    )
    fits = [_completed_fit(d, formula, model_id=model_id, outcome=outcome, spec=spec) for d in imputed]
    params = pd.concat([f["params"] for f in fits], axis=1)
    var = pd.concat([f["bse"] ** 2 for f in fits], axis=1)
    df_complete = fits[0]["df_resid"]
    pooled = [
        pool_rubin(params.loc[name], var.loc[name], df_complete=df_complete, conf_level=conf_level)
        for name in params.index
    ]
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
        n_obs=fits[0]["nobs"],
        n_events=fits[0]["n_events"],
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


def imputations_needed(fmi: float, *, m_pilot: int, cv_se: float = 0.05, confidence: float = 0.95) -> int:
    r"""Return the number of imputations von Hippel's two-stage quadratic rule asks for.

    von Hippel (2020), "How many imputations do you need? A two-stage calculation using a
    quadratic rule", Sociological Methods & Research 49(3):699–718: for standard errors that
    would change by a coefficient of variation of at most ``cv_se`` if the data were imputed
    again, about

    .. math:: m = 1 + \frac12 \left(\frac{\gamma}{\mathrm{CV}}\right)^2

    imputations are needed, :math:`\gamma` the fraction of missing information. Its pilot
    estimate :math:`\hat\gamma` (from ``m_pilot`` imputations) is uncertain, so the rule takes
    the upper limit of its ``confidence`` interval, formed on the logit scale with standard
    error :math:`\sqrt{2/m_{pilot}}`:

    .. math:: \gamma_U = \operatorname{expit}\big(\operatorname{logit}\hat\gamma + z_{(1+c)/2}\sqrt{2/m_{pilot}}\big).

    The answer is at least ``m_pilot`` (the pilot's imputations are kept). Defaults (CV 0.05,
    95% confidence) are those of von Hippel's Stata command ``how_many_imputations``.

    Parameters
    ----------
    fmi : float
        Pilot estimate of the fraction of missing information (the largest among the
        parameters of interest), in [0, 1).
    m_pilot : int
        Imputations of the pilot (at least 2).
    cv_se : float
        Tolerated coefficient of variation of the standard error across re-imputations.
    confidence : float
        Confidence that the standard error is that replicable.

    Returns
    -------
    int

    Examples
    --------
    >>> imputations_needed(0.3, m_pilot=5)  # gamma_U = expit(logit(.3) + 1.96 * sqrt(2/5)) = 0.597
    73
    """
    if m_pilot < 2:
        raise ModelError(f"imputation: the pilot needs at least two imputations, got {m_pilot}")
    if not 0 <= fmi < 1 or not 0 < cv_se < 1 or not 0 < confidence < 1:
        raise ModelError(
            f"imputation: need 0 <= fmi < 1, 0 < cv_se < 1 and 0 < confidence < 1, got {fmi}, {cv_se}, {confidence}"
        )
    if fmi == 0:
        return int(m_pilot)
    z = scipy.stats.norm.ppf(0.5 + confidence / 2)
    upper = scipy.special.expit(scipy.special.logit(fmi) + z * np.sqrt(2 / m_pilot))
    return max(int(m_pilot), int(np.ceil(1 + 0.5 * (upper / cv_se) ** 2)))


def largest_fmi(imputed: Sequence[pd.DataFrame], formula: str, *, term_prefix: str, model_id: str = "mi") -> float:
    """Return the largest fraction of missing information (:func:`pool_rubin`) of the logistic
    model's terms starting with ``term_prefix`` over the completed data sets."""
    fits = [fit_logit(d, formula, model_id=model_id) for d in imputed]
    params = pd.concat([f.params for f in fits], axis=1)
    var = pd.concat([f.bse**2 for f in fits], axis=1)
    terms = [t for t in params.index if str(t).startswith(term_prefix)]
    if not terms:
        raise ModelError(f"imputation: the model has no term starting with {term_prefix!r}")
    df_complete = float(fits[0].df_resid)
    return max(pool_rubin(params.loc[t], var.loc[t], df_complete=df_complete)["fmi"] for t in terms)


def iterations_table(n_iter: int | str, choice: dict, *, chains: int | None) -> pd.DataFrame:
    """Return the one-row table of the chained equations' cycles: how many, and how they were chosen.

    Parameters
    ----------
    n_iter : int or "auto"
        The plan's request.
    choice : dict
        With ``"auto"``: :func:`impute_until_converged`'s ``{"n_iter", "converged", "max_rhat"}``.
    chains : int, optional
        Chains the rule judged (the pilot's with ``n_imputations="auto"``).

    Returns
    -------
    DataFrame
        ``requested, iterations, rule, chains_judged, rhat_threshold, max_rhat, converged``
        (the last four empty for a fixed count).
    """
    auto = n_iter == "auto"
    rule = CONVERGENCE_RULE
    return pd.DataFrame(
        [
            {
                "requested": str(n_iter),
                "iterations": int(choice["n_iter"]) if auto else int(n_iter),
                "rule": (
                    f"split R-hat of every imputed column's mean and SD below {rule['threshold']}, checked after "
                    f"{rule['min_iter']}, {rule['min_iter'] + rule['step']}, ... cycles, at most {rule['max_iter']}"
                    if auto
                    else "fixed by the plan"
                ),
                "chains_judged": chains if auto else pd.NA,
                "rhat_threshold": rule["threshold"] if auto else np.nan,
                "max_rhat": choice["max_rhat"] if auto else np.nan,
                "converged": bool(choice["converged"]) if auto else pd.NA,
            }
        ]
    )


def impute_chained_auto(
    data: pd.DataFrame,
    *,
    formula: str,
    term_prefix: str,
    m_pilot: int = 5,
    cv_se: float = 0.05,
    confidence: float = 0.95,
    **impute: object,
) -> tuple[list[pd.DataFrame], dict]:
    """Impute with as many imputations as :func:`imputations_needed` asks for (two stages).

    Stage 1 imputes ``m_pilot`` times and fits the logistic ``formula`` on each completed set;
    the largest FMI of the terms starting with ``term_prefix`` gives ``m``. Stage 2 adds
    imputations ``m_pilot … m - 1`` (the pilot's are kept: imputation ``j`` is the same whatever
    ``m``, so the result equals ``impute_chained(m=m)``). With ``n_iter="auto"`` the pilot's
    chains also choose the number of cycles (:func:`impute_until_converged`), which stage 2
    then uses.

    Returns
    -------
    (list of DataFrame, dict)
        The ``m`` completed sets, and ``{"m_pilot", "fmi_pilot", "m"}`` (with ``n_iter="auto"``
        also ``"n_iter", "converged", "max_rhat"`` of the pilot).
    """
    iterations = {}
    if impute.get("n_iter") == "auto":
        rest = {k: v for k, v in impute.items() if k != "n_iter"}
        pilot, iterations = impute_until_converged(data, m=m_pilot, **rest)
        impute = {**rest, "n_iter": iterations["n_iter"]}
    else:
        pilot = impute_chained(data, m=m_pilot, **impute)
    fmi = largest_fmi(pilot, formula, term_prefix=term_prefix)
    m = imputations_needed(fmi, m_pilot=m_pilot, cv_se=cv_se, confidence=confidence)
    more = impute_chained(data, m=m, first=m_pilot, **impute) if m > m_pilot else []
    return [*pilot, *more], {"m_pilot": m_pilot, "fmi_pilot": fmi, "m": m, **iterations}
