"""Time-to-event models: Cox regression, Kaplan-Meier, log-rank, Aalen-Johansen.

All functions take the data first and the columns by keyword, never modify their input, and
are checked against R's ``survival`` package (3.5):

* :func:`fit_cox` -- our own vectorised Newton-Raphson (Efron ties, strata), as
  ``coxph(ties = "efron")``, returning a :class:`CoxFit`;
* :func:`cox_counting_process_fit` -- the Newton-Raphson behind it, for ``coxph(Surv(start,
  stop, event) ~ . + strata(s), weights =, cluster =, ties = "efron")``;
* :func:`proportional_hazards_test` -- the score test of ``cox.zph`` in survival 3.x;
* :func:`kaplan_meier` / :func:`survival_at` -- ``survfit`` with Greenwood variance and the
  log confidence interval, and ``summary(fit, times = )``;
* :func:`logrank_test` -- ``survdiff``;
* :func:`aalen_johansen` -- ``survfit(Surv(time, factor(status)) ~ 1)`` (multi-state), with its
  infinitesimal-jackknife standard errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
import scipy.stats

from analysis.core.exceptions import ModelError
from analysis.core.intervals import z_value
from analysis.models.design import (
    complete_rows,
    design_matrix,
    error_prefix,
    formula_variables,
    plain_column_names,
    plain_column_terms,
    with_categorical_dtype,
)
from analysis.models.logistic import check_covariates_vary

__all__ = [
    "CoxCountingProcessFit",
    "CoxFit",
    "aalen_johansen",
    "cox_counting_process_fit",
    "cumulative_incidence_from_km",
    "fit_cox",
    "kaplan_meier",
    "logrank_test",
    "proportional_hazards_test",
    "survival_at",
]

_CONF_TYPES = ("log", "log-log", "plain")


def _event_indicator(values: pd.Series, column: str, model_id: str | None = None) -> np.ndarray:
    """Return a 0/1 float array from a bool or 0/1 event column, or raise ModelError."""
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ModelError(
            f"{error_prefix(model_id)}{column} must be an event indicator coded 0/1 (or False/True); "
            f"it has values {sorted(pd.unique(values))[:5]}"
        )
    return arr


def _group_labels(frame: pd.DataFrame, group_col: str | None) -> tuple[np.ndarray, dict]:
    """Return (string label per row, rank of each label in the natural order of the values)."""
    if group_col is None:
        return np.full(len(frame), "all", dtype=object), {"all": 0}
    values = frame[group_col]
    if pd.api.types.is_float_dtype(values) and (values == np.round(values)).all():
        values = values.astype("int64")
    uniques = pd.unique(values)
    try:
        ordered = sorted(uniques)
    except TypeError:
        ordered = sorted(uniques, key=str)
    return values.astype(str).to_numpy(dtype=object), {str(u): i for i, u in enumerate(ordered)}


# --------------------------------------------------------------------------------------------
# Cox regression
# --------------------------------------------------------------------------------------------


class CoxFit:
    """A Cox model fitted by :func:`fit_cox`, with the attribute names of lifelines' ``CoxPHFitter``.

    Attributes
    ----------
    params_ : Series
        Log hazard ratios, indexed by plain term names (index name ``covariate``).
    standard_errors_ : Series
        Model-based standard errors (R: ``sqrt(diag(vcov(fit)))``).
    variance_matrix_ : DataFrame
        Inverse information at the estimate.
    log_likelihood_ : float
        Log partial likelihood (Efron).
    durations, event_observed : ndarray
        Follow-up and event of the rows used, in the data's order.
    duration_col, event_col : str
    strata : list of str or None
        Stratification columns.
    model_columns, column_terms, design_info, categorical_columns
        What :func:`proportional_hazards_test` needs to rebuild the design (see :func:`fit_cox`).
    n_iter : int
        Newton-Raphson steps taken.
    """

    formula = None  # never a lifelines formula model: the design is known from the attributes below
    weights_col = None
    entry_col = None

    def __init__(self, fit: CoxCountingProcessFit, *, names, index, durations, event_observed, **attributes):
        self.params_ = pd.Series(fit.coef, index=pd.Index(names, name="covariate"), name="coef")
        self.variance_matrix_ = pd.DataFrame(fit.covariance, index=self.params_.index, columns=self.params_.index)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(fit.covariance)), index=self.params_.index, name="se(coef)")
        self.log_likelihood_ = fit.loglik
        self.n_iter = fit.n_iter
        self.durations = durations
        self.event_observed = event_observed
        self._n_examples = len(durations)
        self._index = index
        self._schoenfeld = fit.schoenfeld_residuals
        for name, value in attributes.items():
            setattr(self, name, value)

    def compute_residuals(self, data: pd.DataFrame, kind: str = "scaled_schoenfeld") -> pd.DataFrame:
        """Return the (scaled) Schoenfeld residuals of the rows with an event, in time order.

        ``schoenfeld``: :math:`x_i - \\tfrac1d\\sum_k \\bar x_k` at the row's event time (Efron's
        means, as R's ``residuals(fit, type = "schoenfeld")``); ``scaled_schoenfeld``: those
        times :math:`d\\,\\widehat{V}` plus :math:`\\hat\\beta` (R's ``type = "scaledsch"``,
        :math:`d` the number of events). ``data`` must be the rows the model was fitted on; the
        result is indexed by their labels.
        """
        if kind not in ("schoenfeld", "scaled_schoenfeld"):
            raise ModelError(f"compute_residuals: kind must be 'schoenfeld' or 'scaled_schoenfeld', got {kind!r}")
        if len(data) != self._n_examples:
            raise ModelError(
                f"compute_residuals: the data have {len(data)} rows, the model was fitted on {self._n_examples}"
            )
        dead = np.flatnonzero(self.event_observed == 1)
        values = self._schoenfeld
        if kind == "scaled_schoenfeld":
            values = len(dead) * values @ self.variance_matrix_.to_numpy() + self.params_.to_numpy()
        order = np.argsort(self.durations[dead], kind="stable")
        return pd.DataFrame(values[order], index=self._index[dead[order]], columns=self.params_.index)


def fit_cox(
    data: pd.DataFrame,
    *,
    duration_col: str,
    event_col: str,
    formula: str | None = None,
    covariates: Sequence[str] | None = None,
    strata: str | Sequence[str] | None = None,
    maxiter: int = 50,
    model_id: str | None = None,
):
    """Fit a Cox proportional-hazards model with Efron's ties, as R's ``coxph``.

    .. math:: \\lambda(t \\mid x) = \\lambda_{0s}(t) \\exp(x^\\top \\beta)

    maximising Efron's approximation of the partial likelihood; with ``strata`` each stratum
    :math:`s` has its own baseline hazard. Newton-Raphson (step halving, as R) runs until the
    largest step is below 1e-12 times ``max(1, |beta|)``.

    Parameters
    ----------
    data : DataFrame
        One row per subject; not modified. Rows with a missing value in the columns used are
        dropped (complete case).
    duration_col, event_col : str
        Follow-up time and event indicator (0/1 or bool).
    formula : str, optional
        Right-hand side (patsy syntax), e.g. ``"age + C(arm)"``. It is coded as R's ``coxph``
        codes it (with an intercept, which is then dropped, so a factor keeps its reference
        level) and the design's columns get the plain names of the results contract
        (``arm[personalized]``).
    covariates : sequence of str, optional
        Numeric covariate columns, used as they are (instead of ``formula``).
    strata : str or sequence of str, optional
        Stratification columns.
    maxiter : int
        Maximum Newton-Raphson steps.
    model_id : str, optional
        Prefix of error messages.

    Returns
    -------
    CoxFit
        Fitted; ``params_`` are log hazard ratios, indexed by plain term names. It also carries
        ``model_columns`` (columns used for complete cases), ``column_terms`` (the term each
        parameter belongs to) and ``design_info`` (the patsy design of a formula, else None)
        for :func:`proportional_hazards_test`.

    Notes
    -----
    The fit is :func:`cox_counting_process_fit` on rows at risk from the origin: Efron's
    partial likelihood, its score and information are sums over the distinct event times
    computed by reverse cumulative sums and bincounts over the rows (tied events expanded by
    an index over each time's ``d`` events), so a Newton step costs a few passes over the rows
    and no loop over event times.

    Raises
    ------
    ModelError
        No complete rows, no events, a covariate with one value, a level of a categorical
        (or binary) covariate without events (the likelihood is monotone), or no convergence.
    """
    if (formula is None) == (covariates is None):
        raise ModelError(f"{error_prefix(model_id)}give exactly one of formula or covariates")
    strata_cols = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    if formula is not None:
        variables = formula_variables(f"{duration_col} ~ {formula}", data)
        rhs = variables["covariates"]
        categorical = variables["categorical"]
    else:
        rhs = list(covariates)
        categorical = [c for c in rhs if pd.api.types.is_bool_dtype(data[c])]
        text = [c for c in rhs if not pd.api.types.is_numeric_dtype(data[c])]
        if text:
            raise ModelError(
                f"{error_prefix(model_id)}covariates {', '.join(text)} are not numeric; pass a "
                f"formula such as 'C({text[0]})' to use them as categorical"
            )
    columns = list(dict.fromkeys([duration_col, event_col, *rhs, *strata_cols]))
    frame = complete_rows(data, columns, model_id=model_id)
    event = _event_indicator(frame[event_col], event_col, model_id)
    if event.sum() == 0:
        raise ModelError(
            f"{error_prefix(model_id)}no events: {event_col} is 0 in all {len(frame)} rows used, so "
            "no hazard ratio is estimable"
        )
    check_covariates_vary(frame, rhs, model_id=model_id)
    problems = []
    for col in dict.fromkeys([*categorical, *rhs]):  # categorical and two-valued covariates: events per level
        codes, levels = pd.factorize(frame[col], sort=True)
        if col not in categorical and len(levels) != 2:
            continue
        size = np.bincount(codes, minlength=len(levels))
        events = np.bincount(codes, weights=event, minlength=len(levels))
        problems += [
            f"{event_col} has no events among the {size[i]} rows with {col}={levels[i]}"
            for i in np.flatnonzero(events == 0)
        ]
    if problems:
        raise ModelError(
            f"{error_prefix(model_id)}{'; '.join(problems)}; the hazard ratio of that level is not "
            "estimable (the partial likelihood is monotone)"
        )
    design_info = None
    if formula is None:
        fit_frame = frame[columns].copy()
        column_terms = list(rhs)
        names = list(rhs)
    else:
        design = _formula_design(formula, frame, categorical)
        design_info = design.design_info
        term_of = dict(zip(plain_column_names(design_info), plain_column_terms(design_info)))
        column_terms = [term_of[c] for c in design.columns if c != "(Intercept)"]
        design = design.drop(columns="(Intercept)", errors="ignore")
        fit_frame = design
        names = list(design.columns)
    X = fit_frame[names].to_numpy(dtype=float)
    stratum = frame.groupby(strata_cols, sort=True).ngroup().to_numpy() if strata_cols else None
    times = pd.to_numeric(frame[duration_col]).to_numpy(dtype=float)
    try:
        fit = cox_counting_process_fit(X, stop=times, event=event, strata=stratum, max_iter=maxiter)
    except ModelError as err:
        reason = str(err).removeprefix("Cox counting process: ")
        if "did not converge" in reason:
            raise ModelError(
                f"{error_prefix(model_id)}the Cox model did not converge within maxiter={maxiter} "
                "Newton-Raphson steps; check for separation or collinearity"
            ) from None
        raise ModelError(
            f"{error_prefix(model_id)}the Cox model did not converge ({reason}); check for "
            "collinear covariates or levels without events"
        ) from None
    return CoxFit(
        fit,
        names=names,
        index=frame.index,
        durations=times,
        event_observed=event,
        duration_col=duration_col,
        event_col=event_col,
        strata=strata_cols or None,
        model_columns=columns,
        column_terms=column_terms,
        design_info=design_info,
        categorical_columns=list(categorical),
    )


def _formula_design(formula, frame: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    """Return the patsy design of a Cox right-hand side, with an intercept, in plain names.

    ``formula`` is the right-hand side, or the ``DesignInfo`` of an earlier fit (to code new rows
    exactly as the fitted ones).
    """
    design = design_matrix(formula, with_categorical_dtype(frame, categorical))
    info = design.design_info
    design.columns = plain_column_names(info)
    if isinstance(formula, str):
        # columns in the formula's term order, as R's coxph (patsy puts factors first)
        order = patsy.ModelDesc.from_formula(formula).rhs_termlist
        positions = np.arange(len(design.columns))
        design = design.iloc[:, np.concatenate([positions[info.term_slices[t]] for t in order])]
        design.design_info = info
    return design


def _cox_design(cox, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (complete rows, design matrix) of the data a lifelines Cox model was fitted on."""
    if getattr(cox, "formula", None) is not None:
        raise ModelError(
            "proportional_hazards_test: the Cox model was fitted by lifelines from a formula; fit it "
            "with analysis.models.fit_cox (formula= or covariates=) so its design is known"
        )
    columns = getattr(cox, "model_columns", None)
    if columns is None:
        strata = [] if cox.strata is None else list(np.atleast_1d(cox.strata))
        columns = [cox.duration_col, cox.event_col, *cox.params_.index, *strata]
    frame = complete_rows(data, columns)
    if len(frame) != cox._n_examples:
        raise ModelError(
            f"the data have {len(frame)} complete rows but the Cox model was fitted on "
            f"{cox._n_examples}; pass the data the model was fitted on"
        )
    if getattr(cox, "design_info", None) is not None:
        design = _formula_design(cox.design_info, frame, cox.categorical_columns)
    else:
        design = frame
    return frame, design[list(cox.params_.index)]


def _time_transform(times: np.ndarray, events: np.ndarray, transform: str | Callable) -> np.ndarray:
    """Return the time scale :math:`g(t)` of ``cox.zph`` for each row."""
    if callable(transform):
        return np.asarray(transform(times), dtype=float)
    if transform == "identity":
        return times.astype(float)
    if transform == "log":
        return np.log(times)
    if transform == "rank":
        return scipy.stats.rankdata(times)
    if transform == "km":
        # 1 - S(t-) of the pooled Kaplan-Meier (left-continuous), as cox.zph
        uniq, inverse = np.unique(times, return_inverse=True)
        d = np.bincount(inverse, weights=events)
        total = np.bincount(inverse)
        at_risk = total[::-1].cumsum()[::-1]
        surv = np.cumprod(1 - d / at_risk)
        surv_left = np.r_[1.0, surv][inverse]
        return 1 - surv_left
    raise ModelError(f"transform must be 'km', 'identity', 'rank', 'log' or a function, not {transform!r}")


def _terms_of_columns(cox) -> dict[str, list[str]]:
    """Group a Cox model's parameters by the term they belong to (``a[x]:b`` belongs to ``a:b``).

    The grouping is the one :func:`fit_cox` recorded from the design; a model fitted by
    lifelines on numeric columns has one term per column.
    """
    columns = list(cox.params_.index)
    terms = getattr(cox, "column_terms", None) or columns
    grouped: dict[str, list[str]] = {}
    for col, term in zip(columns, terms):
        grouped.setdefault(term, []).append(col)
    return grouped


def _segment_cumsum(values: np.ndarray, start_of: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each segment; ``start_of[i]`` is row i's segment start."""
    total = np.cumsum(values, axis=0)
    before = np.concatenate([np.zeros((1,) + values.shape[1:]), total[:-1]], axis=0)
    return total - before[start_of]


def _zph_score_and_information(
    x: np.ndarray, times: np.ndarray, events: np.ndarray, stratum: np.ndarray, risk: np.ndarray, g_all: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The score of :math:`\\gamma` and the information of :math:`(\\beta, \\gamma)` of :func:`proportional_hazards_test`.

    Summed by tie group (rows of one stratum and time with at least one death) instead of by
    death, so no array has a row per transfer and a column per pair of covariates: the risk
    set sums :math:`R_0, R_1, R_2` of :math:`r, r x, r x x^\\top` and the deaths' sums
    :math:`D_0, D_1, D_2` are taken once per group. Under Efron's ties the :math:`k`-th of the
    :math:`m` deaths of a group (:math:`f_k = k/m`) has denominator
    :math:`\\delta_k = R_0 - f_k D_0`, mean :math:`(R_1 - f_k D_1)/\\delta_k` and covariance
    :math:`(R_2 - f_k D_2)/\\delta_k` minus the mean's square, so the group's sum of
    covariances is

    .. math:: a R_2 - b D_2 - c R_1 R_1^\\top + e (R_1 D_1^\\top + D_1 R_1^\\top) - h D_1 D_1^\\top

    with :math:`a, b, c, e, h` the sums over its deaths of :math:`1/\\delta_k, f_k/\\delta_k,
    1/\\delta_k^2, f_k/\\delta_k^2, f_k^2/\\delta_k^2`; the time scale :math:`g` is one value per
    group. Memory is that of the design plus a :math:`p \\times p` matrix per group; before, five
    arrays of :math:`n \\times p \\times p` (1.1 GiB each at a million rows and 12 columns).
    """
    from scipy import sparse

    # order: stratum, then time descending; a death's risk set is every row of its stratum up
    # to the end of its tie group (same stratum and time)
    order = np.lexsort((-times, stratum))
    t, d, s = times[order], events[order], stratum[order]
    xs, r, g = x[order], risk[order], g_all[order]
    n, p = xs.shape
    new_tie = np.r_[True, (s[1:] != s[:-1]) | (t[1:] != t[:-1])]
    tie_id = np.cumsum(new_tie) - 1
    deaths_per_tie = np.bincount(tie_id, weights=d)
    death_ties = np.flatnonzero(deaths_per_tie > 0)  # the tie groups with a death, in sorted order
    tie_stratum = s[np.flatnonzero(new_tie)]
    # each row counts in the risk sets of the first death group at or after it in its stratum
    # (and of every later one: a cumulative sum within the stratum)
    bucket = np.searchsorted(death_ties, tie_id, side="left")
    keep = bucket < len(death_ties)
    keep[keep] = tie_stratum[death_ties[bucket[keep]]] == s[keep]
    n_groups = len(death_ties)
    rows = np.flatnonzero(keep)
    into = sparse.csr_matrix((np.ones(len(rows)), (bucket[rows], rows)), shape=(n_groups, n))
    dead = np.flatnonzero(d == 1)
    dead_group = np.searchsorted(death_ties, tie_id[dead])
    into_dead = sparse.csr_matrix((np.ones(len(dead)), (dead_group, dead)), shape=(n_groups, n))

    rx = r[:, None] * xs

    def outer_sums(by):  # sums of r x x' by group, a column of x at a time
        out = np.empty((n_groups, p, p))
        for j in range(p):
            out[:, j, :] = by @ (rx[:, j : j + 1] * xs)
        return out

    group_stratum = tie_stratum[death_ties]
    first = np.r_[True, group_stratum[1:] != group_stratum[:-1]]
    start_of = np.maximum.accumulate(np.where(first, np.arange(n_groups), 0))
    R0 = _segment_cumsum(into @ r, start_of)
    R1 = _segment_cumsum(into @ rx, start_of)
    R2 = _segment_cumsum(outer_sums(into), start_of)
    D0, D1, D2 = into_dead @ r, into_dead @ rx, outer_sums(into_dead)
    X_dead = into_dead @ xs
    m = deaths_per_tie[death_ties]

    # the k-th death of its group, k = 0 .. m - 1, in row order
    k = np.arange(len(dead)) - np.searchsorted(dead_group, dead_group, side="left")
    f = k / m[dead_group]
    delta = R0[dead_group] - f * D0[dead_group]
    a, b, c, e, h = (
        np.bincount(dead_group, weights=w, minlength=n_groups)
        for w in (1 / delta, f / delta, 1 / delta**2, f / delta**2, f**2 / delta**2)
    )
    cross = R1[:, :, None] * D1[:, None, :]
    C = (
        a[:, None, None] * R2
        - b[:, None, None] * D2
        - c[:, None, None] * (R1[:, :, None] * R1[:, None, :])
        + e[:, None, None] * (cross + cross.transpose(0, 2, 1))
        - h[:, None, None] * (D1[:, :, None] * D1[:, None, :])
    )
    mean_sum = a[:, None] * R1 - b[:, None] * D1
    gg = g[dead][np.searchsorted(dead_group, np.arange(n_groups))]  # g is one value per tie group
    u_gamma = (gg[:, None] * (X_dead - mean_sum)).sum(axis=0)
    i11 = C.sum(axis=0)
    i12 = (gg[:, None, None] * C).sum(axis=0)
    i22 = (gg[:, None, None] ** 2 * C).sum(axis=0)
    return u_gamma, np.block([[i11, i12], [i12.T, i22]])


def proportional_hazards_test(
    cox,
    data: pd.DataFrame,
    *,
    transform: str | Callable = "km",
    terms: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Return the score test of proportional hazards of survival 3.x's ``cox.zph``.

    For each term it tests :math:`\\gamma = 0` in the extended model
    :math:`\\lambda(t \\mid x) = \\lambda_0(t) \\exp\\{x^\\top\\beta + g(t)\\, x^\\top\\gamma\\}`
    by a score test at :math:`(\\hat\\beta, 0)`:

    .. math:: T = u^\\top \\mathcal{I}^{-1} u, \\qquad
              u = \\Big(0,\\; \\sum_{\\text{deaths}} g(t_i)\\, \\{x_i - \\bar x(t_i)\\}\\Big)

    with :math:`\\mathcal{I}` the :math:`2p \\times 2p` information of :math:`(\\beta, \\gamma)`
    under Efron's ties and :math:`g(t) = \\tilde g(t) - \\operatorname{mean}_{\\text{deaths}}
    \\tilde g`. Per term the rows and columns of all :math:`\\beta` and of the term's
    :math:`\\gamma` are kept; ``GLOBAL`` uses all of them. This is the algorithm of
    ``cox.zph`` since survival 3.0 (C routine ``zph1``); it differs from survival 2.x and from
    lifelines' ``proportional_hazard_test``, which use an approximate variance.

    Parameters
    ----------
    cox : CoxFit or lifelines.CoxPHFitter
        Fitted (by :func:`fit_cox` or lifelines directly, without weights or entry times).
    data : DataFrame
        The data the model was fitted on (complete rows are taken again).
    transform : {"km", "identity", "rank", "log"} or callable
        Time scale :math:`\\tilde g`; ``"km"`` is :math:`1 - \\hat S(t-)` of the pooled
        Kaplan-Meier, R's default.
    terms : mapping of str to list of str, optional
        Groups of model columns tested jointly, keyed by the name to report. By default the
        columns of one formula term are grouped as R's ``terms = TRUE`` does: the dummy
        columns of a factor (``ecog[1]``, ``ecog[2]``) give one test named ``ecog`` with 2 df;
        a numeric column is its own term under its own name.

    Returns
    -------
    DataFrame
        Columns ``term, statistic, df, p_value``; one row per term, then ``GLOBAL``.
    """
    if getattr(cox, "weights_col", None) or getattr(cox, "entry_col", None):
        raise ModelError("proportional_hazards_test: models with weights or entry times are not supported")
    frame, design = _cox_design(cox, data)
    times = frame[cox.duration_col].to_numpy(dtype=float)
    events = frame[cox.event_col].to_numpy(dtype=float)
    strata = [] if cox.strata is None else list(np.atleast_1d(cox.strata))
    if strata:
        stratum = frame.groupby(strata, sort=True).ngroup().to_numpy()
    else:
        stratum = np.zeros(len(frame), dtype=int)
    x = design.to_numpy(dtype=float)
    x = x - x.mean(axis=0)
    p = x.shape[1]
    g_raw = _time_transform(times, events, transform)
    g_all = g_raw - g_raw[events == 1].mean()
    eta = x @ cox.params_.to_numpy()
    risk = np.exp(eta - eta.max())

    u_gamma, imat = _zph_score_and_information(x, times, events, stratum, risk, g_all)
    columns = list(design.columns)
    if terms is None:
        terms = _terms_of_columns(cox)
    rows = []
    for name, cols in terms.items():
        jj = [columns.index(c) for c in cols]
        kk = list(range(p)) + [p + j for j in jj]
        u = np.r_[np.zeros(p), u_gamma[jj]]
        stat = float(u @ np.linalg.solve(imat[np.ix_(kk, kk)], u))
        rows.append((str(name), stat, len(jj)))
    u = np.r_[np.zeros(p), u_gamma]
    rows.append(("GLOBAL", float(u @ np.linalg.solve(imat, u)), p))
    out = pd.DataFrame(rows, columns=["term", "statistic", "df"])
    out["p_value"] = scipy.stats.chi2.sf(out["statistic"], out["df"])
    return out


# --------------------------------------------------------------------------------------------
# Kaplan-Meier
# --------------------------------------------------------------------------------------------


def _confidence_limits(
    p: np.ndarray, se_log: np.ndarray, z: float, conf_type: str, *, cap: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Return R's ``survfit`` confidence limits given the standard error of :math:`\\log p`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log":
            xx = np.where(p == 0, np.nan, p)
            low = np.exp(np.log(xx) - z * se_log)
            high = np.exp(np.log(xx) + z * se_log)
            if cap:
                high = np.minimum(high, 1.0)
        elif conf_type == "log-log":
            xx = np.where((p == 0) | (p == 1), np.nan, p)
            se2 = z * se_log / np.log(xx)
            low = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
            high = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
        elif conf_type == "plain":
            se2 = z * se_log * p
            low = np.maximum(p - se2, 0.0)
            high = np.minimum(p + se2, 1.0) if cap else p + se2
        else:
            raise ModelError(f"conf_type must be one of {', '.join(_CONF_TYPES)}, not {conf_type!r}")
    return low, high


def _counts_by_time(
    frame: pd.DataFrame, duration_col: str, group_col: str | None, event_codes: np.ndarray
) -> pd.DataFrame:
    """Return per group (natural order) and distinct time: at risk, events per code, censored."""
    groups, rank = _group_labels(frame, group_col)
    counts = pd.DataFrame(
        {
            "group": groups,
            "time_days": frame[duration_col].to_numpy(dtype=float),
            "code": event_codes.astype(int),
        }
    )
    table = pd.crosstab([counts["group"], counts["time_days"]], counts["code"])
    table.columns = [f"n_code_{c}" for c in table.columns]
    table = table.reset_index()
    table = table.assign(_rank=table["group"].map(rank)).sort_values(["_rank", "time_days"], kind="stable")
    table = table.drop(columns="_rank").reset_index(drop=True)
    code_cols = [c for c in table.columns if c.startswith("n_code_")]
    total = table[code_cols].sum(axis=1)
    # number at risk: rows of the group with time >= t
    table["n_at_risk"] = total[::-1].groupby(table["group"][::-1]).cumsum()[::-1]
    table["n_censored"] = table.get("n_code_0", 0)
    table["_total"] = total
    return table.reset_index(drop=True)


def kaplan_meier(
    data: pd.DataFrame,
    *,
    duration_col: str,
    event_col: str,
    group_col: str | None = None,
    conf_level: float = 0.95,
    conf_type: str = "log",
    only_event_times: bool = False,
) -> pd.DataFrame:
    """Return the Kaplan-Meier estimate with Greenwood standard errors, as R's ``survfit``.

    .. math:: \\hat S(t) = \\prod_{t_j \\le t} \\Big(1 - \\frac{d_j}{n_j}\\Big), \\qquad
              \\widehat{\\operatorname{var}}\\{\\log \\hat S(t)\\} =
              \\sum_{t_j \\le t} \\frac{d_j}{n_j (n_j - d_j)}

    ``std_error`` is :math:`\\hat S(t)` times the square root of the latter (R's
    ``summary(fit)$std.err``); the default ``"log"`` interval is
    :math:`\\exp\\{\\log \\hat S \\pm z \\sqrt{\\widehat{\\operatorname{var}}}\\}` capped at 1.
    Where :math:`\\hat S = 0` the standard error and limits are NaN, as R's NA.

    Parameters
    ----------
    data : DataFrame
        One row per subject; not modified. Rows with a missing time, event or group are
        dropped.
    duration_col, event_col : str
        Follow-up time (days) and event indicator (0/1 or bool).
    group_col : str, optional
        One curve per value; without it a single curve with group ``"all"``.
    conf_level : float
        Level of the pointwise intervals.
    conf_type : {"log", "log-log", "plain"}
        Transformation of the interval, as R's ``conf.type``.
    only_event_times : bool
        Keep only times with an event (R's ``summary(fit)``). By default every distinct
        observed time is a row (R's ``survfit`` object, with censoring-only times), which
        :func:`survival_at` needs for numbers at risk between event times.

    Returns
    -------
    DataFrame
        Columns ``group, time_days, estimate, std_error, conf_low, conf_high, n_at_risk,
        n_events, n_censored``, sorted by group and time.
    """
    frame = complete_rows(data, [duration_col, event_col] + ([group_col] if group_col else []))
    event = _event_indicator(frame[event_col], event_col)
    table = _counts_by_time(frame, duration_col, group_col, event)
    n = table["n_at_risk"].to_numpy(dtype=float)
    d = table.get("n_code_1", pd.Series(0, index=table.index)).to_numpy(dtype=float)
    grp = table["group"]
    surv = pd.Series(1 - d / n).groupby(grp).cumprod().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.where(d > 0, d / (n * (n - d)), 0.0)
    var_log = pd.Series(greenwood).groupby(grp).cumsum().to_numpy()
    se_log = np.sqrt(var_log)
    z = z_value(conf_level)
    low, high = _confidence_limits(surv, se_log, z, conf_type)
    with np.errstate(invalid="ignore"):
        std_error = np.where(surv == 0, np.nan, surv * se_log)
    out = pd.DataFrame(
        {
            "group": grp.to_numpy(dtype=object),
            "time_days": table["time_days"].to_numpy(dtype=float),
            "estimate": surv,
            "std_error": std_error,
            "conf_low": low,
            "conf_high": high,
            "n_at_risk": n.astype(int),
            "n_events": d.astype(int),
            "n_censored": table["n_censored"].to_numpy(dtype=int),
        }
    )
    if only_event_times:
        out = out[out["n_events"] > 0].reset_index(drop=True)
    return out


def survival_at(table: pd.DataFrame, times: Sequence[float], *, extend: bool = False) -> pd.DataFrame:
    """Return a step-function table evaluated at given times, as R's ``summary(fit, times = )``.

    For each group and requested time :math:`t`: ``estimate``, ``std_error`` and the limits of
    the last row with ``time_days`` :math:`\\le t` (before the first row: survival 1 with
    limits 1, or cumulative incidence 0 with missing limits for an :func:`aalen_johansen`
    table); ``n_at_risk`` the number still at risk at :math:`t` (that of the first row at or
    after :math:`t`); ``n_events`` (and ``n_competing``, ``n_censored``) the numbers in
    :math:`(t_{prev}, t]` since the previous requested time, from time 0 for the first.

    Parameters
    ----------
    table : DataFrame
        From :func:`kaplan_meier` or :func:`aalen_johansen`, with every observed time (the
        default); apply :func:`cumulative_incidence_from_km` after, not before.
    times : sequence of float
        Requested times; sorted and de-duplicated.
    extend : bool
        Times after a group's last observed time are dropped (R's default) unless True, when
        they get the last estimate and 0 at risk.

    Returns
    -------
    DataFrame
        ``group, time_days``, the value columns of ``table`` and the counts.
    """
    req_times = np.unique(np.asarray(times, dtype=float))
    value_cols = [c for c in ("estimate", "std_error", "conf_low", "conf_high") if c in table]
    count_cols = [c for c in ("n_events", "n_competing", "n_censored") if c in table]
    if "n_competing" in table:
        initial = {"estimate": 0.0, "std_error": 0.0, "conf_low": np.nan, "conf_high": np.nan}
    else:
        initial = {"estimate": 1.0, "std_error": 0.0, "conf_low": 1.0, "conf_high": 1.0}
    group_order = {g: i for i, g in enumerate(pd.unique(table["group"]))}
    tab = (
        table.assign(_rank=table["group"].map(group_order))
        .sort_values(["_rank", "time_days"], kind="stable")
        .reset_index(drop=True)
    )
    cums = tab.groupby("group")[count_cols].cumsum().add_prefix("_cum_")
    tab = pd.concat([tab, cums], axis=1)
    groups = pd.unique(tab["group"])
    grid = pd.DataFrame(
        {"group": np.repeat(groups, len(req_times)), "time_days": np.tile(req_times, len(groups))}
    ).sort_values("time_days", kind="stable")
    back = pd.merge_asof(
        grid,
        tab[["group", "time_days", *value_cols, *cums.columns]]
        .rename(columns={"time_days": "_t_back"})
        .sort_values("_t_back", kind="stable"),
        left_on="time_days",
        right_on="_t_back",
        by="group",
        direction="backward",
    )
    fwd = pd.merge_asof(
        grid,
        tab[["group", "time_days", "n_at_risk"]]
        .rename(columns={"time_days": "_t_fwd"})
        .sort_values("_t_fwd", kind="stable"),
        left_on="time_days",
        right_on="_t_fwd",
        by="group",
        direction="forward",
    )
    out = back.merge(fwd[["group", "time_days", "n_at_risk", "_t_fwd"]], on=["group", "time_days"])
    out["_rank"] = out["group"].map(group_order)
    out = out.sort_values(["_rank", "time_days"], kind="stable").reset_index(drop=True)
    before_first = out["_t_back"].isna()
    after_last = out["_t_fwd"].isna()
    for col in value_cols:
        out.loc[before_first, col] = initial[col]
    out.loc[after_last, "n_at_risk"] = 0
    first_of_group = np.r_[True, out["group"].to_numpy()[1:] != out["group"].to_numpy()[:-1]]
    for col in count_cols:
        cum = out[f"_cum_{col}"].fillna(0).to_numpy()
        out[col] = np.where(first_of_group, cum, cum - np.r_[0, cum[:-1]]).astype(int)
    if not extend:
        out = out[~after_last]
    out["n_at_risk"] = out["n_at_risk"].astype(int)
    return out[["group", "time_days", *value_cols, "n_at_risk", *count_cols]].reset_index(drop=True)


def cumulative_incidence_from_km(table: pd.DataFrame) -> pd.DataFrame:
    """Return :math:`1 - \\hat S(t)` with limits :math:`1 - \\text{upper}, 1 - \\text{lower}`.

    Parameters
    ----------
    table : DataFrame
        From :func:`kaplan_meier` or :func:`survival_at`; not modified.

    Returns
    -------
    DataFrame
        Same columns; ``std_error`` is unchanged.
    """
    out = table.copy()
    out["estimate"] = 1 - table["estimate"]
    out["conf_low"] = 1 - table["conf_high"]
    out["conf_high"] = 1 - table["conf_low"]
    return out


# --------------------------------------------------------------------------------------------
# Log-rank test
# --------------------------------------------------------------------------------------------


def logrank_test(data: pd.DataFrame, *, duration_col: str, event_col: str, group_col: str) -> dict:
    """Return the log-rank test of equal survival across groups, as R's ``survdiff``.

    .. math:: O_g - E_g = \\sum_t \\Big(d_{gt} - n_{gt} \\frac{d_t}{n_t}\\Big), \\qquad
              V_{gh} = \\sum_t \\frac{d_t (n_t - d_t)}{n_t - 1} \\frac{n_{gt}}{n_t}
              \\Big(\\delta_{gh} - \\frac{n_{ht}}{n_t}\\Big)

    and :math:`\\chi^2 = (O - E)^\\top V^{-} (O - E)` on :math:`G - 1` degrees of freedom
    (the last group dropped).

    Returns
    -------
    dict
        ``statistic``, ``df``, ``p_value``, and per group ``observed`` and ``expected``
        (Series).

    Raises
    ------
    ModelError
        Fewer than two groups, or no events.
    """
    frame = complete_rows(data, [duration_col, event_col, group_col])
    event = _event_indicator(frame[event_col], event_col)
    if event.sum() == 0:
        raise ModelError(f"logrank_test: no events in {event_col}; the test is not defined")
    groups, _ = _group_labels(frame, group_col)
    time = frame[duration_col].to_numpy(dtype=float)
    events = pd.crosstab(time, groups, values=event, aggfunc="sum").fillna(0)
    totals = pd.crosstab(time, groups)
    if totals.shape[1] < 2:
        raise ModelError(f"logrank_test: {group_col} has a single group; nothing to compare")
    d_gt = events.to_numpy(dtype=float)
    n_gt = totals.to_numpy(dtype=float)[::-1].cumsum(axis=0)[::-1]
    d_t = d_gt.sum(axis=1)
    n_t = n_gt.sum(axis=1)
    expected = (n_gt * (d_t / n_t)[:, None]).sum(axis=0)
    observed = d_gt.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t - 1), 0.0) / n_t
    prop = n_gt / n_t[:, None]
    var = np.einsum("t,tg,gh->gh", factor, n_gt, np.eye(n_gt.shape[1])) - np.einsum("t,tg,th->gh", factor, n_gt, prop)
    diff = (observed - expected)[:-1]
    stat = float(diff @ np.linalg.solve(var[:-1, :-1], diff))
    df = n_gt.shape[1] - 1
    return {
        "statistic": stat,
        "df": df,
        "p_value": float(scipy.stats.chi2.sf(stat, df)),
        "observed": pd.Series(observed, index=events.columns.astype(str)),
        "expected": pd.Series(expected, index=events.columns.astype(str)),
    }


# --------------------------------------------------------------------------------------------
# Aalen-Johansen
# --------------------------------------------------------------------------------------------


def _aalen_johansen_one(n, d_all, d_k, c, z, conf_type):
    """Estimate, IJ standard error and limits for one group (arrays over distinct times)."""
    h = d_all / n
    hk = d_k / n
    surv = np.cumprod(1 - h)
    surv_left = np.r_[1.0, surv[:-1]]
    cif = np.cumsum(surv_left * hk)
    last_all = h >= 1  # everyone at risk had an event: nothing happens afterwards
    with np.errstate(divide="ignore", invalid="ignore"):
        c_inc = np.where(last_all, 0.0, h / (n * (1 - h)))
        jump_l = np.where(last_all, 0.0, 1.0 / (n * (1 - h)))
    c_cum = np.cumsum(c_inc)
    c_left = np.r_[0.0, c_cum[:-1]]
    alpha = surv_left * (c_left * hk - hk / n)
    a_cum = np.cumsum(alpha)
    # influence at the own time T_i and its slope afterwards, per type of subject
    u_cens, l_cens = a_cum, -c_cum
    u_k, l_event = a_cum + surv_left / n, -c_cum + jump_l
    u_other = a_cum
    d_other = d_all - d_k
    a_c, a_k, a_o = u_cens + l_cens * cif, u_k + l_event * cif, u_other + l_event * cif
    sa2 = c * a_c**2 + d_k * a_k**2 + d_other * a_o**2
    sab = c * a_c * l_cens + d_k * a_k * l_event + d_other * a_o * l_event
    sb2 = c * l_cens**2 + (d_k + d_other) * l_event**2
    still = n - d_all - c
    var = still * a_cum**2 + np.cumsum(sa2) - 2 * cif * np.cumsum(sab) + cif**2 * np.cumsum(sb2)
    se = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        se_log = np.where(cif > 0, se / cif, 0.0)
    low, high = _confidence_limits(cif, se_log, z, conf_type)
    return cif, se, low, high


def aalen_johansen(
    data: pd.DataFrame,
    *,
    duration_col: str,
    event_col: str,
    event_of_interest: int,
    group_col: str | None = None,
    conf_level: float = 0.95,
    conf_type: str = "log",
) -> pd.DataFrame:
    """Return the Aalen-Johansen cumulative incidence of one event type with competing events.

    With :math:`n_j` at risk, :math:`d_j` events of any type and :math:`d_{kj}` of type
    :math:`k` at the distinct times :math:`t_j`,

    .. math:: \\hat F_k(t) = \\sum_{t_j \\le t} \\hat S(t_{j-1}) \\frac{d_{kj}}{n_j}, \\qquad
              \\hat S(t) = \\prod_{t_j \\le t}\\Big(1 - \\frac{d_j}{n_j}\\Big)

    the state probability ``pstate`` of R's ``survfit(Surv(time, factor(event)) ~ 1)``. The
    standard error is R's: the infinitesimal jackknife,
    :math:`\\widehat{\\operatorname{var}} = \\sum_i U_i(t)^2` with :math:`U_i` the derivative of
    :math:`\\hat F_k(t)` with respect to subject :math:`i`'s case weight, computed in closed
    form by cumulative sums (no subject-by-time matrix). The default interval is R's log
    interval :math:`\\hat F \\exp(\\pm z\\, se / \\hat F)` capped at 1.

    Parameters
    ----------
    data : DataFrame
        One row per subject; not modified.
    duration_col : str
        Follow-up time.
    event_col : str
        0 = censored, 1, 2, ... = type of the first event.
    event_of_interest : int
        Event type whose cumulative incidence is returned.
    group_col : str, optional
        One curve per value (``"all"`` without it).
    conf_level : float
        Level of the intervals.
    conf_type : {"log", "log-log", "plain"}
        Transformation of the interval.

    Returns
    -------
    DataFrame
        Columns ``group, time_days, estimate, std_error, conf_low, conf_high, n_at_risk,
        n_events`` (of the type of interest), ``n_competing``, ``n_censored``, at every
        distinct observed time.

    Raises
    ------
    ModelError
        Event codes that are not non-negative integers, or no event of the type of interest.
    """
    frame = complete_rows(data, [duration_col, event_col] + ([group_col] if group_col else []))
    codes = pd.to_numeric(frame[event_col], errors="coerce").to_numpy(dtype=float)
    if (codes < 0).any() or (np.round(codes) != codes).any():
        raise ModelError(f"aalen_johansen: {event_col} must be coded 0 (censored) or 1, 2, ... (event type)")
    if not (codes == event_of_interest).any():
        raise ModelError(
            f"aalen_johansen: no event of type {event_of_interest} in {event_col} among "
            f"{len(frame)} rows; its cumulative incidence is 0 and has no variance"
        )
    table = _counts_by_time(frame, duration_col, group_col, codes)
    code_cols = [c for c in table.columns if c.startswith("n_code_")]
    n = table["n_at_risk"].to_numpy(dtype=float)
    c = table["n_censored"].to_numpy(dtype=float)
    d_k = table[f"n_code_{int(event_of_interest)}"].to_numpy(dtype=float)
    d_all = table[[col for col in code_cols if col != "n_code_0"]].sum(axis=1).to_numpy(dtype=float)
    z = z_value(conf_level)
    group = table["group"].to_numpy(dtype=object)
    bounds = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])
    pieces = [
        _aalen_johansen_one(n[a:b], d_all[a:b], d_k[a:b], c[a:b], z, conf_type) for a, b in zip(bounds[:-1], bounds[1:])
    ]
    cif, se, low, high = (np.concatenate(parts) for parts in zip(*pieces))
    return pd.DataFrame(
        {
            "group": group,
            "time_days": table["time_days"].to_numpy(dtype=float),
            "estimate": cif,
            "std_error": se,
            "conf_low": low,
            "conf_high": high,
            "n_at_risk": n.astype(int),
            "n_events": d_k.astype(int),
            "n_competing": (d_all - d_k).astype(int),
            "n_censored": c.astype(int),
        }
    )


# --------------------------------------------------------------------------------------------
# Cox regression on counting-process data, with case weights and cluster-robust variance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoxCountingProcessFit:
    """A Cox model fitted by :func:`cox_counting_process_fit`.

    Attributes
    ----------
    coef : ndarray
        Log hazard ratios :math:`\\hat\\beta`, one per column of the design.
    covariance : ndarray
        Model-based covariance :math:`I(\\hat\\beta)^{-1}` (R: ``fit$naive.var``).
    robust_covariance : ndarray
        Cluster-robust covariance :math:`D^\\top D` (R: ``vcov(fit)`` with ``cluster =``).
    loglik : float
        Log partial likelihood (Efron) at :math:`\\hat\\beta`.
    score_residuals : ndarray
        Unweighted score residuals :math:`L_i` at :math:`\\hat\\beta`, one row per input row
        (R: ``residuals(fit, type = "score")``).
    n_iter : int
        Newton-Raphson steps taken.
    n_events : int
        Rows with an event.
    n_clusters : int
        Distinct clusters.
    schoenfeld_residuals : ndarray
        One row per row with an event (in the input's order): :math:`x_i` less the mean of
        Efron's :math:`\\bar x_k` at its event time (R: ``residuals(fit, type = "schoenfeld")``,
        rows in time order there).
    """

    coef: np.ndarray
    covariance: np.ndarray
    robust_covariance: np.ndarray
    loglik: float
    score_residuals: np.ndarray
    n_iter: int
    n_events: int
    n_clusters: int
    schoenfeld_residuals: np.ndarray | None = None


def _column_bincount(index: np.ndarray, values: np.ndarray, length: int) -> np.ndarray:
    """``np.bincount`` of a 1-d or 2-d ``values`` (column by column), ``length`` bins."""
    if values.ndim == 1:
        return np.bincount(index, weights=values, minlength=length)
    return np.stack([np.bincount(index, weights=values[:, k], minlength=length) for k in range(values.shape[1])], 1)


def _efron_pieces(X, w, beta, lo, hi, dead, dead_time, d, meanwt, *, residuals: bool = True):
    """Log partial likelihood, score, information and (optionally) score residuals of Efron's approximation.

    ``lo``/``hi``: row i is at risk at the distinct event times ``lo[i] <= j < hi[i]``;
    ``dead_time``: the event-time index of each row with an event (``dead``); ``d``, ``meanwt``:
    number of events and mean weight of the events at each event time. Every sum is a bincount
    or a cumulative sum: the cost is a few passes over the rows, whatever the number of event
    times or ties.
    """
    m, p = len(d), X.shape[1]
    eta = X @ beta
    shift = eta.max()  # exp(eta - shift) <= 1; the partial likelihood does not depend on the shift
    r = np.exp(eta - shift)
    wr = w * r
    wrx = wr[:, None] * X

    def at_risk_sums(values):  # sum over rows with lo <= j < hi, by reverse cumulative sums
        ends = _column_bincount(hi, values, m + 1)
        starts = _column_bincount(lo, values, m + 1)
        # reversed cumulative sums; row j + 1 of each holds the rows with hi > j (resp. lo > j)
        return (np.cumsum(ends[::-1], axis=0) - np.cumsum(starts[::-1], axis=0))[::-1][1:]

    s0 = at_risk_sums(wr)
    s1 = at_risk_sums(wrx)
    s0_dead = np.bincount(dead_time, weights=wr[dead], minlength=m)
    s1_dead = _column_bincount(dead_time, wrx[dead], m)

    # Efron: the k-th (k = 0..d-1) of d tied events sees the risk set less k/d of the events;
    # the d pseudo-events of event time j are rows first[j] .. first[j] + d[j] - 1 (index expansion)
    first = np.cumsum(d) - d
    jj = np.repeat(np.arange(m), d)
    frac = (np.arange(len(jj)) - first[jj]) / d[jj]
    den = s0[jj] - frac * s0_dead[jj]
    xbar = (s1[jj] - frac[:, None] * s1_dead[jj]) / den[:, None]
    hazard = meanwt[jj] / den

    def per_time(values):  # sum the d pseudo-events of each event time
        return np.add.reduceat(values, first, axis=0)

    loglik = float(np.sum(w[dead] * (eta[dead] - shift)) - np.sum(meanwt[jj] * np.log(den)))
    score = w[dead] @ X[dead] - (meanwt[jj][:, None] * xbar).sum(axis=0)
    cumhaz = np.r_[0.0, np.cumsum(per_time(hazard))]
    exposure = cumhaz[hi] - cumhaz[lo]
    mh1 = per_time(hazard * frac)
    exposure[dead] -= mh1[dead_time]
    info = (X * (wr * exposure)[:, None]).T @ X - (xbar * meanwt[jj][:, None]).T @ xbar
    if not residuals:
        return loglik, score, info, None, None
    xhaz = np.vstack([np.zeros(p), np.cumsum(per_time(hazard[:, None] * xbar), axis=0)])
    mh2 = per_time((hazard * frac)[:, None] * xbar)
    mh3 = per_time(xbar) / d[:, None]
    exposure_x = xhaz[hi] - xhaz[lo]
    exposure_x[dead] -= mh2[dead_time]
    resid = -r[:, None] * (X * exposure[:, None] - exposure_x)  # r and the hazards carry opposite shifts
    resid[dead] += X[dead] - mh3[dead_time]
    return loglik, score, info, resid, mh3


def cox_counting_process_fit(
    X: np.ndarray,
    *,
    stop: np.ndarray,
    event: np.ndarray,
    start: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> CoxCountingProcessFit:
    """Fit a Cox model to counting-process rows with case weights, Efron ties and robust variance.

    As R's ``coxph(Surv(start, stop, event) ~ X, weights = w, cluster = g, ties = "efron")``
    (survival 3.5), with ``+ strata(s)`` when ``strata`` is given. Row :math:`i` is at risk at time :math:`t` when
    :math:`\\text{start}_i < t \\le \\text{stop}_i`. At an event time :math:`t` with risk set
    :math:`R`, events :math:`D` (:math:`d = |D|` rows, mean weight :math:`\\bar w`),
    :math:`r_i = \\exp(x_i^\\top\\beta)`, :math:`S_m = \\sum_{R} w_i r_i x_i^{\\otimes m}`,
    :math:`S^D_m = \\sum_{D} w_i r_i x_i^{\\otimes m}` and, for :math:`k = 0, \\dots, d-1`,
    Efron's denominators :math:`\\delta_k = S_0 - \\tfrac{k}{d} S^D_0`, means
    :math:`\\bar x_k = (S_1 - \\tfrac{k}{d} S^D_1) / \\delta_k` and hazard increments
    :math:`h_k = \\bar w / \\delta_k`:

    .. math::

        \\ell(\\beta) = \\sum_t \\Big[\\sum_{D} w_i x_i^\\top\\beta - \\bar w \\sum_k \\log \\delta_k\\Big],
        \\quad
        U = \\sum_t \\Big[\\sum_{D} w_i x_i - \\bar w \\sum_k \\bar x_k\\Big],

    .. math::

        I = \\sum_t \\bar w \\sum_k \\Big[\\frac{S_2 - \\tfrac{k}{d} S^D_2}{\\delta_k}
            - \\bar x_k \\bar x_k^\\top\\Big].

    The score residual of row :math:`i` (``agscore3`` in survival) is

    .. math::

        L_i = \\sum_{t:\\, i \\in D(t)} \\Big(x_i - \\tfrac1d \\sum_k \\bar x_k\\Big)
              - r_i \\sum_{t:\\, i \\in R(t)} \\sum_k c_{ik}\\, h_k (x_i - \\bar x_k),

    with :math:`c_{ik} = 1 - k/d` if row :math:`i` has its event at :math:`t` and 1 otherwise,
    so that :math:`U = \\sum_i w_i L_i`. With :math:`G` clusters, the robust covariance is R's
    (``residuals(fit, type = "dfbeta", weighted = TRUE, collapse = cluster)``, crossprod):

    .. math::

        D = \\Big[\\sum_{i \\in g} w_i L_i^\\top\\Big]_{g=1..G} I^{-1}, \\qquad V = D^\\top D,

    with no small-sample factor. The sums over the rows at risk are reverse cumulative sums over
    the distinct event times (rows leaving minus rows not yet entered); nothing loops over rows.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Design (no intercept); columns must not be constant or collinear.
    stop : ndarray, shape (n,)
        End of each row's interval (event or censoring time). Tied times are exactly equal
        values (R's ``timefix`` merging of times equal up to rounding is not done).
    event : ndarray, shape (n,)
        1 if the row ends with an event, else 0.
    start : ndarray, shape (n,), optional
        Entry time of each row (left truncation / time-varying rows); must be below ``stop``.
        Default: at risk from the origin.
    weights : ndarray, shape (n,), optional
        Non-negative case weights (default 1).
    clusters : ndarray, shape (n,), optional
        Cluster label of each row (e.g. the woman); default: each row its own cluster.
    strata : ndarray, shape (n,), optional
        Stratum label of each row: each stratum has its own baseline hazard, and a row is at
        risk only at the event times of its stratum. Default: one stratum.
    tol : float
        Newton-Raphson stops when the largest step is below ``tol`` times ``max(1, |beta|)``.
    max_iter : int
        Maximum Newton-Raphson steps (a step that lowers the likelihood is halved, as in R).

    Returns
    -------
    CoxCountingProcessFit

    Raises
    ------
    ModelError
        Bad inputs (lengths, non-finite values, start not below stop, negative weights), no
        event, a singular information matrix (constant or collinear columns) or no convergence.

    Notes
    -----
    The distinct event times are the distinct (stratum, time) pairs with an event, ordered by
    stratum then time; a row's risk set is then one run of them, ``lo <= j < hi``, found by
    ``searchsorted`` on integer keys (stratum, rank of the time), so strata cost nothing extra.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ModelError("Cox counting process: X must be a 2-d design matrix")
    n, p = X.shape
    stop = np.asarray(stop, dtype=float)
    event = np.asarray(event, dtype=float)
    start = np.full(n, -np.inf) if start is None else np.asarray(start, dtype=float)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    groups = np.arange(n) if clusters is None else np.asarray(clusters)
    layers = np.zeros(n, dtype=np.int64) if strata is None else np.unique(np.asarray(strata), return_inverse=True)[1]
    if any(len(a) != n for a in (stop, event, start, w, groups, layers)):
        raise ModelError("Cox counting process: X, start, stop, event, weights, clusters and strata differ in length")
    if not (np.isfinite(X).all() and np.isfinite(stop).all() and np.isfinite(w).all() and not np.isnan(start).any()):
        raise ModelError("Cox counting process: X, start, stop and weights must be finite (no missing values)")
    if not np.isin(event, (0.0, 1.0)).all():
        raise ModelError("Cox counting process: event must be coded 0/1")
    if np.any(start >= stop):
        raise ModelError("Cox counting process: every row needs start < stop")
    if np.any(w < 0):
        raise ModelError("Cox counting process: weights must be non-negative")
    dead = np.flatnonzero(event == 1)
    if len(dead) == 0:
        raise ModelError("Cox counting process: no event, so no hazard ratio is estimable")

    Xc = X - X.mean(axis=0)  # centred as R does: same estimates, better-scaled exp(eta)
    # integer keys (stratum, rank of the time) order the event times by stratum, then time
    values = np.unique(np.concatenate([stop, start]))
    width = np.int64(len(values) + 1)
    key_stop = layers * width + np.searchsorted(values, stop)
    key_start = layers * width + np.searchsorted(values, start)
    times, dead_time, d = np.unique(key_stop[dead], return_inverse=True, return_counts=True)
    lo = np.searchsorted(times, key_start, side="right")
    hi = np.searchsorted(times, key_stop, side="right")
    meanwt = np.bincount(dead_time, weights=w[dead], minlength=len(times)) / d

    def pieces(beta, residuals=False):
        return _efron_pieces(Xc, w, beta, lo, hi, dead, dead_time, d, meanwt, residuals=residuals)

    def inverse(info):
        try:
            chol = np.linalg.cholesky(info)
        except np.linalg.LinAlgError:
            raise ModelError(
                "Cox counting process: the information matrix is singular (a constant or "
                "collinear column, or a covariate level without events)"
            ) from None
        inv_chol = np.linalg.inv(chol)
        return inv_chol.T @ inv_chol

    beta = np.zeros(p)
    loglik, score, info, _, _ = pieces(beta)
    converged, n_iter = False, 0
    while not converged and n_iter < max_iter:
        n_iter += 1
        step = inverse(info) @ score
        for _ in range(60):  # step halving, as R's agfit4, when the likelihood goes down
            new_loglik, new_score, new_info, _, _ = pieces(beta + step)
            if np.isfinite(new_loglik) and new_loglik >= loglik - 1e-12 * abs(loglik):
                break
            step = step / 2
        else:
            raise ModelError("Cox counting process: no Newton-Raphson step increases the partial likelihood")
        beta = beta + step
        loglik, score, info = new_loglik, new_score, new_info
        converged = np.max(np.abs(step)) <= tol * max(1.0, np.max(np.abs(beta)))
    if not converged or not np.isfinite(beta).all():
        raise ModelError(
            f"Cox counting process: Newton-Raphson did not converge in {max_iter} steps "
            "(check for separation: a covariate level whose rows all or never have the event)"
        )

    loglik, score, info, resid, mh3 = pieces(beta, residuals=True)
    covariance = inverse(info)
    labels, cluster_of = np.unique(groups, return_inverse=True)
    cluster_scores = np.zeros((len(labels), p))
    np.add.at(cluster_scores, cluster_of, w[:, None] * resid)
    dfbeta = cluster_scores @ covariance
    return CoxCountingProcessFit(
        coef=beta,
        covariance=covariance,
        robust_covariance=dfbeta.T @ dfbeta,
        loglik=loglik,
        score_residuals=resid,
        n_iter=n_iter,
        n_events=len(dead),
        n_clusters=len(labels),
        schoenfeld_residuals=Xc[dead] - mh3[dead_time],
    )
