"""Longitudinal analyses as emulations of a target trial.

The target trial (Hernán & Robins, Am J Epidemiol 2016;183:758) that a cohort of biopsied women
emulates, and that every longitudinal estimate of the suite answers:

* **Eligibility**: a woman with an endometrial immune-profiling biopsy at her first embryo
  transfer after the biopsy, with a known immune profile.
* **Strategies**: the immunotherapy arm at that transfer (none, empirical, personalized), held
  at every later transfer of the course ("always personalized" vs "never").
* **Assignment**: the arm at the first post-biopsy transfer (observational analogue of
  randomisation), confounding removed by adjustment or inverse probability weighting.
* **Time zero**: the day of the first post-biopsy transfer. Eligibility, assignment and the start
  of follow-up coincide, so no woman is at risk before her strategy starts (a biopsy-origin design
  would count the weeks personalized therapy needs for its agents as time at risk of nothing).
* **Outcome**: live birth, dated at the transfer it came from; a woman's course ends at her first
  live birth (later transfers, for a sibling, are reported and not counted).
* **Follow-up**: from time zero to the first of live birth, drop-out (no transfer for
  ``dropout_days`` with follow-up beyond that: the woman stopped treatment), loss (a transfer
  whose outcome is unknown: censored at that transfer) or the end of follow-up (administrative
  censoring at the data cut, women still in treatment). An optional ``follow_up_end_reason``
  column (data_cut, stopped_treatment, lost, moved) decides between drop-out and censoring where
  the cohort has it.
* **Causal contrasts**: the intention-to-treat analogue (arm at time zero, whatever followed) and
  the per-protocol effect (censored at a switch of arm, with stabilised inverse probability of
  censoring weights from the time-varying history).

Model ids: ``ttlb_cox_itt`` (Cox, ITT analogue), ``ttlb_cox_pp`` (weighted Cox, per protocol),
``clb_pp`` (per-protocol cumulative live birth by transfer and its difference), ``clb_dth``
(discrete-time hazard of live birth per transfer), ``lb_seq_trials`` (sequential trials at every
transfer, pooled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.special

from analysis.core.exceptions import ModelError
from analysis.data.cohort import Cohort, rows_at
from analysis.methods.effects import weighted_logit
from analysis.methods.propensity import iptw_weights, propensity_scores
from analysis.methods.resampling import frequency_bootstrap, percentile_interval
from analysis.models.design import covariate_design, covariate_sources, is_categorical, level_term, model_frame
from analysis.models.logistic import fit_binomial_irls
from analysis.models.multinomial import fit_multinomial_logit
from analysis.models.survival import cox_counting_process_fit
from analysis.models.tidy import estimate_rows

ARMS = ("none", "empirical", "personalized")
STATUS = {"censored": 0, "live_birth": 1, "dropout": 2}
#: Reasons a cohort may give for the end of follow-up, and what each means here.
END_REASONS = {"data_cut": "censored", "lost": "censored", "moved": "censored", "stopped_treatment": "dropout"}


@dataclass(frozen=True)
class Course:
    """Women's first course of transfers after the biopsy, cut at the first live birth.

    Attributes
    ----------
    transfers : DataFrame
        One row per transfer of the course (``k`` = 1, 2, …), with ``t0`` (time zero),
        ``day`` (days since time zero), ``assigned_arm`` (arm at time zero), ``on_protocol``
        (arm unchanged so far), ``earlier_failures`` (failed transfers before the biopsy plus
        those of this course before this transfer), ``continued`` (after a failed transfer: 1
        came back, 0 dropped out, NaN censored) and ``first_transfer_year``.
    women : DataFrame
        One row per eligible woman: baseline covariates at time zero, ``assigned_arm``,
        ``time_days``, ``status`` (:data:`STATUS`), ``end`` (why follow-up ended).
    after_birth : DataFrame
        Transfers after a woman's first live birth (siblings): reported, not analysed.
    """

    transfers: pd.DataFrame
    women: pd.DataFrame
    after_birth: pd.DataFrame


def first_course(cohort: Cohort, *, dropout_days: int = 365) -> Course:
    """Return the emulated trial's population: each woman's course from time zero.

    Parameters
    ----------
    cohort : Cohort
        A derived cohort.
    dropout_days : int
        A woman whose last transfer failed and who has no further transfer within this many
        days, while her follow-up lasts longer, stopped treatment (drop-out); with shorter
        follow-up she is censored at its end (still in treatment at the data cut).

    Returns
    -------
    Course
    """
    # Every transfer column is carried (any baseline covariate may be asked for), so at a
    # million transfers each copy of the frame costs about half a second: rows are gathered
    # once in course order, and the women's rows are taken by position, not by index lookups.
    pats = cohort.patients[cohort.patients["included"]]
    transfers = cohort.transfers
    keep = np.flatnonzero(transfers["patient_id"].isin(pats["patient_id"]).to_numpy())
    keys = transfers[["patient_id", "transfer_number"]].take(keep).set_axis(keep)  # labelled by position
    t = rows_at(transfers, keys.sort_values(["patient_id", "transfer_number"], kind="stable").index.to_numpy())
    lb = t["live_birth"].astype("Float64").fillna(0).astype(float).to_numpy() == 1
    births_before = pd.Series(lb, index=t.index).groupby(t["patient_id"]).cumsum() - lb
    after = births_before.to_numpy() > 0
    after_birth = rows_at(t, np.flatnonzero(after))
    course = rows_at(t, np.flatnonzero(~after)) if after.any() else t

    course["k"] = course.groupby("patient_id").cumcount() + 1
    course["t0"] = course.groupby("patient_id")["transfer_date"].transform("min")
    course["day"] = (course["transfer_date"] - course["t0"]).dt.days.astype(int)
    arm = course["treatment_arm"].astype(str)
    course["assigned_arm"] = arm.groupby(course["patient_id"]).transform("first")
    switched = (arm != course["assigned_arm"]).astype(int)
    course["on_protocol"] = switched.groupby(course["patient_id"]).cumsum().eq(0)
    course["earlier_failures"] = course["prior_failed_transfers"].astype(float) + course["k"] - 1
    course["first_transfer_year"] = course["t0"].dt.year + (course["t0"].dt.dayofyear - 1) / 365.25
    course["transfer_year"] = course["transfer_date"].dt.year + (course["transfer_date"].dt.dayofyear - 1) / 365.25
    course["lb"] = course["live_birth"].astype("Float64").astype(float)

    nxt = course.groupby("patient_id")["transfer_date"].shift(-1)
    fu_end = course["follow_up_end_date"]
    gap_after = (fu_end - course["transfer_date"]).dt.days
    reason = (
        course["follow_up_end_reason"].astype("string")
        if "follow_up_end_reason" in course
        else pd.Series(pd.NA, index=course.index, dtype="string")
    )
    declared = reason.map(END_REASONS)
    stopped = np.where(declared.notna(), declared.eq("dropout"), gap_after > dropout_days)
    continued = np.where(nxt.notna(), 1.0, np.where(stopped, 0.0, np.nan))
    course["continued"] = np.where(course["lb"] == 0, continued, np.nan)

    # One row per woman: time zero, arm, and how follow-up ended. The course is sorted by woman
    # and transfer, so her first row is where k is 1 and her last the row before the next first.
    starts = np.flatnonzero(course["k"].to_numpy() == 1)
    ends = np.append(starts[1:], len(course)) - 1
    last = course[["lb", "day", "follow_up_end_date", "t0", "continued"]].take(ends)
    women = rows_at(course, starts)
    women.insert(0, "patient_id", women.pop("patient_id"))
    women["assigned_arm"] = pd.Categorical(women["assigned_arm"], categories=list(ARMS))
    last_lb, last_day = last["lb"].to_numpy(), last["day"].to_numpy()
    end_days = (last["follow_up_end_date"] - last["t0"]).dt.days.to_numpy()
    ended = [last_lb == 1, np.isnan(last_lb), last["continued"].to_numpy() == 0]
    women["status"] = np.select(ended, [1, 0, 2], default=0).astype(int)
    women["time_days"] = np.select(
        ended, [last_day + 1, last_day + 0.5, last_day + 1], default=np.maximum(end_days, last_day + 1)
    ).astype(float)
    women["event"] = (women["status"] == 1).astype(int)
    women["end"] = pd.Series(
        np.select(ended, ["live_birth", "outcome_unknown", "dropout"], default="end_of_follow_up"), index=women.index
    )
    return Course(transfers=course, women=women, after_birth=after_birth)


def delay_by_arm(cohort: Cohort) -> pd.DataFrame:
    """Days from the biopsy to the first transfer, by the arm at that transfer.

    Returns
    -------
    DataFrame
        ``treatment_arm, n, median_days, q1_days, q3_days, mean_days``.
    """
    t = cohort.transfers[cohort.transfers["transfer_number"] == 1]
    d = (t["transfer_date"] - t["biopsy_date"]).dt.days
    g = d.groupby(t["treatment_arm"].astype(str))
    out = pd.DataFrame(
        {
            "n": g.size(),
            "median_days": g.median(),
            "q1_days": g.quantile(0.25),
            "q3_days": g.quantile(0.75),
            "mean_days": g.mean(),
        }
    )
    return out.reindex([a for a in ARMS if a in out.index]).rename_axis("treatment_arm").reset_index()


# ---------------------------------------------------------------------------------------------
# designs
# ---------------------------------------------------------------------------------------------
def _dummies(values: pd.Series, levels: Sequence[str], name: str) -> tuple[np.ndarray, list[str]]:
    values = values.astype(str)
    cols = [lvl for lvl in levels[1:] if (values == lvl).any()]
    return (
        np.column_stack([(values == lvl).to_numpy(float) for lvl in cols]) if cols else np.empty((len(values), 0)),
        [level_term(name, lvl) for lvl in cols],
    )


def _covariate_matrix(frame: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Design columns of ``covariates`` (no intercept), numeric ones centred at their mean.

    Centring keeps calendar years and ages from making the information matrix ill conditioned;
    it changes no coefficient but the intercept.
    """
    data = frame[list(covariates)].copy()
    for c in covariates:
        if not is_categorical(c, data):
            v = data[c].astype(float)
            data[c] = v - v.mean()
    return covariate_design(data, list(covariates), intercept=False)


def _complete(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    return frame.dropna(subset=list(columns))


# ---------------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------------
def baseline_weights(women: pd.DataFrame, *, covariates: Sequence[str]) -> pd.Series:
    """Stabilised inverse probability of the arm at time zero (multinomial propensity model).

    Returns
    -------
    Series
        One weight per woman with complete covariates, indexed like ``women``.
    """
    data = women.assign(treatment_arm=women["assigned_arm"].astype(str))
    scores = propensity_scores(data, treatment="treatment_arm", covariates=list(covariates), check=False)
    return iptw_weights(scores, estimand="ATE")


def switch_weights(transfers: pd.DataFrame, *, covariates: Sequence[str]) -> pd.Series:
    """Stabilised inverse probability of staying on the assigned arm, cumulated over transfers.

    At every transfer after the first reached on protocol, the probability of not switching is
    modelled by pooled logistic regression: the denominator on the time-varying history
    (assigned arm by profile group, transfer number, earlier failures) and the baseline
    ``covariates``; the numerator on the assigned arm by profile group and transfer number. The
    weight of transfer ``k`` is the product over ``j = 2..k`` of numerator / denominator (1 at
    the first transfer); transfers after a switch get no weight (they are censored).

    Returns
    -------
    Series
        Indexed like ``transfers``; NaN off protocol or where covariates are missing.
    """
    rows = transfers[transfers["k"] > 1].copy()
    prev_on = transfers.groupby("patient_id")["on_protocol"].shift().astype("boolean").fillna(True).astype(bool)
    rows = rows[prev_on.loc[rows.index]]
    cols = ["assigned_arm", "profile_group", "k", "earlier_failures", *covariates]
    rows = _complete(rows, cols)
    stay = rows["on_protocol"].to_numpy(float)
    arm_x, _ = _dummies(rows["assigned_arm"], ARMS, "assigned_arm")
    dys = (rows["profile_group"].astype(str) == "dysregulated").to_numpy(float)[:, None]
    k = np.minimum(rows["k"].to_numpy(float), 4)[:, None]
    base = np.column_stack([np.ones(len(rows)), arm_x, dys, arm_x * dys, k])
    hist, _ = _covariate_matrix(rows, [c for c in covariates if c not in ("profile_group",)])
    # Earlier failures = failures before the biopsy + (k - 1): with the transfer number and the
    # baseline count among the covariates it adds nothing; it enters when the baseline count is absent.
    extra = [] if "prior_failed_transfers" in covariates else [rows["earlier_failures"].to_numpy(float)[:, None]]
    full = np.column_stack([base, *extra, hist])
    w1 = np.ones(len(rows))
    try:
        p_num = scipy.special.expit(base @ weighted_logit(stay, base, w1)[0])
        p_den = scipy.special.expit(full @ weighted_logit(stay, full, w1)[0])
    except ModelError as exc:
        n_switch = int((stay == 0).sum())
        raise ModelError(
            f"the model of staying on the assigned arm cannot be estimated ({exc}): {n_switch} switch(es) "
            f"of arm among {len(rows)} later transfers; some assigned arm × profile group has too few "
            "switches (or none) for per-protocol weights"
        ) from None
    ratio = pd.Series(np.where(stay == 1, p_num / p_den, np.nan), index=rows.index)
    out = pd.Series(1.0, index=transfers.index)
    out.loc[rows.index] = ratio
    out[~transfers["on_protocol"]] = np.nan
    # Cumulative product within woman, over the transfers reached on protocol.
    logw = np.log(out).groupby(transfers["patient_id"]).cumsum()
    return np.exp(logw).rename("switch_weight")


# ---------------------------------------------------------------------------------------------
# estimators
# ---------------------------------------------------------------------------------------------
def _cox_rows(
    women: pd.DataFrame,
    *,
    covariates: Sequence[str],
    weights: pd.Series | None,
    start: str | None,
    model_id: str,
    estimator: str,
    conf_level: float,
    notebook: str,
    cluster: str = "patient_id",
    population: str = "target_trial",
) -> pd.DataFrame:
    cols = ["time_days", "event", "assigned_arm", *covariates] + ([start] if start else [])
    data = _complete(women, cols)
    arm_x, arm_names = _dummies(data["assigned_arm"], ARMS, "treatment_arm")
    cov_x, cov_names = _covariate_matrix(data, covariates)
    names = arm_names + cov_names
    frame = pd.DataFrame(np.column_stack([arm_x, cov_x]), columns=names, index=data.index)
    keep = frame.columns[frame.std(ddof=0) > 0]
    frame = frame[keep]
    event = data["event"].to_numpy(int)
    if int(event.sum()) == 0:
        raise ModelError(f"{model_id}: no live birth in the follow-up")
    fit = cox_counting_process_fit(
        frame.to_numpy(float),
        stop=data["time_days"].to_numpy(float),
        event=event,
        start=data[start].to_numpy(float) if start else None,
        weights=None if weights is None else weights.loc[data.index].to_numpy(float),
        clusters=data[cluster].to_numpy(),
    )
    params = pd.Series(fit.coef, index=keep)
    se = pd.Series(np.sqrt(np.diag(fit.robust_covariance)), index=keep)
    arm_terms = [t for t in arm_names if t in params.index]
    return estimate_rows(
        arm_terms,
        params[arm_terms].to_numpy(),
        se[arm_terms].to_numpy(),
        model_id=model_id,
        estimator=estimator,
        ratio=True,
        conf_level=conf_level,
        n_obs=int(data["patient_id"].nunique()),
        n_events=int(event.sum()),
        n_clusters=int(data["patient_id"].nunique()),
        outcome="live_birth",
        population=population,
        notebook=notebook,
    )


def itt_cox(
    course: Course, *, covariates: Sequence[str], conf_level: float = 0.95, notebook: str, model_id: str
) -> pd.DataFrame:
    """Cox model of time from time zero to live birth by the arm at time zero (ITT analogue).

    Drop-out and loss are censoring (a cause-specific hazard); Efron ties; robust SEs.

    Returns
    -------
    DataFrame
        Estimate rows (hazard ratios of each arm vs none).
    """
    return _cox_rows(
        course.women,
        covariates=covariates,
        weights=None,
        start=None,
        model_id=model_id,
        estimator="cox_itt",
        conf_level=conf_level,
        notebook=notebook,
    )


def per_protocol_intervals(course: Course, *, covariates: Sequence[str]) -> pd.DataFrame:
    """Counting-process rows (start, stop] between transfers, censored at a switch of arm.

    Each on-protocol transfer opens an interval from its day to the next on-protocol transfer
    (or the woman's end of follow-up); a switch censors the woman at the day of the switching
    transfer. Weights: baseline IPTW × cumulative switch IPCW of the transfer opening the interval.
    """
    t = course.transfers
    sw = switch_weights(t, covariates=covariates)
    bw = baseline_weights(course.women, covariates=covariates)
    bw = pd.Series(bw.to_numpy(), index=course.women.loc[bw.index, "patient_id"].to_numpy())
    nxt_day = t.groupby("patient_id")["day"].shift(-1)
    on = t["on_protocol"].to_numpy(bool)
    rows = t[on].copy()
    rows["w"] = sw[on].to_numpy() * rows["patient_id"].map(bw).to_numpy(float)
    women = course.women.set_index("patient_id")
    has_next = nxt_day[on].notna().to_numpy()
    next_on = t.groupby("patient_id")["on_protocol"].shift(-1).astype("boolean").fillna(False).to_numpy(bool)[on]
    # An interval ends at the next transfer when that one is on protocol; before a switch it ends
    # the day after the last transfer on protocol (no live birth can happen between transfers, so
    # keeping a woman who will switch at risk through the gap would dilute her arm's hazard);
    # after the woman's last transfer it ends where her follow-up ends.
    end = rows["patient_id"].map(women["time_days"]).to_numpy(float)
    status = rows["patient_id"].map(women["status"]).to_numpy(int)
    rows["start"] = rows["day"].astype(float)
    rows["time_days"] = np.where(
        has_next & next_on, nxt_day[on].to_numpy(float), np.where(has_next, rows["start"] + 1, end)
    )
    rows["event"] = np.where(~has_next & (status == 1), 1, 0)
    return rows[np.isfinite(rows["w"])]


def per_protocol_cox(
    course: Course, *, covariates: Sequence[str], conf_level: float = 0.95, notebook: str, model_id: str
) -> pd.DataFrame:
    """Weighted Cox model of the per-protocol effect (censored at a switch, IPTW × IPCW, robust SEs)."""
    rows = per_protocol_intervals(course, covariates=covariates)
    return _cox_rows(
        rows,
        covariates=covariates,
        weights=rows["w"],
        start="start",
        model_id=model_id,
        estimator="cox_pp_ipcw",
        conf_level=conf_level,
        notebook=notebook,
    )


def _cumulative(h: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Cumulative live birth by transfer from per-transfer hazards ``h`` and continuation ``c``."""
    reach = np.ones_like(h)
    reach[1:] = np.cumprod((1 - h[:-1]) * c[:-1])
    return np.cumsum(reach * h)


@dataclass(frozen=True)
class CumulativeResult:
    """Per-protocol cumulative live birth by transfer number under each strategy.

    Attributes
    ----------
    curves : DataFrame
        ``group, strategy, k, estimate, conf_low, conf_high``.
    differences : DataFrame
        ``group, k, estimate, conf_low, conf_high`` (always personalized − never).
    estimates : DataFrame
        Contract rows (model id ``clb_pp``, term ``treatment_arm[personalized]:k<K>``).
    n_failed_replicates : int
        Bootstrap replicates whose weights could not be estimated.
    """

    curves: pd.DataFrame
    differences: pd.DataFrame
    estimates: pd.DataFrame
    n_failed_replicates: int


# ---------------------------------------------------------------------------------------------
# per-protocol cumulative live birth: arrays built once, bootstrap by frequency weights
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ColumnRule:
    """How a design built once on all rows becomes the design of a weighted resample.

    Refitting on a resample of whole courses, the row design would drop the levels absent from
    the resample, let the first present level stand in for an absent reference, and centre
    numeric covariates at the resample's mean. With frequency weights the same model is the
    full design with these columns dropped and these centred: the same column space, so the
    same fitted probabilities.

    Attributes
    ----------
    dummies : list of (ndarray, ndarray)
        Columns of one level each (reference never a column) and, position by position, the
        columns that go with them (interactions); both dropped where the level has no weight.
    categorical : list of ndarray
        The dummy columns of one categorical covariate, in sorted level order; absent levels
        dropped, and the first present one too when the reference is absent.
    centred : ndarray
        Numeric columns centred at their weighted mean.
    """

    dummies: list[tuple[np.ndarray, np.ndarray]]
    categorical: list[np.ndarray]
    centred: np.ndarray


def _categorical_blocks(data: pd.DataFrame, covariates: Sequence[str], offset: int) -> tuple[list, list]:
    """Dummy-column blocks of the categorical covariates and the numeric columns, by position
    in :func:`analysis.models.design.covariate_design` (without intercept) plus ``offset``."""
    sources = list(covariate_sources(data, covariates, intercept=False).values())
    blocks, numeric = [], []
    for c in dict.fromkeys(sources):
        pos = offset + np.flatnonzero(np.array(sources) == c)
        if is_categorical(c, data):
            blocks.append(pos)
        else:
            numeric.extend(pos.tolist())
    return blocks, numeric


def _resample_design(X: np.ndarray, f: np.ndarray, rule: _ColumnRule) -> np.ndarray:
    """Return the design of a resample given by frequency weights ``f`` (rows of ``f > 0``)."""
    col_weight = f @ X  # integer sums: exact, so "absent" is an exact zero
    keep = np.ones(X.shape[1], bool)
    for levels, followers in rule.dummies:
        absent = col_weight[levels] == 0
        keep[levels[absent]] = False
        keep[followers[absent]] = False
    total = f.sum()
    for block in rule.categorical:
        keep[block[col_weight[block] == 0]] = False
        if col_weight[block].sum() == total:  # the reference level is absent: the first present replaces it
            keep[block[keep[block]][:1]] = False
    used = f > 0
    every_column = bool(keep.all())
    if every_column:  # gathered straight into the column-major layout the column selection gives: one copy, not two
        out = np.empty((int(used.sum()), X.shape[1]), order="F")
        np.take(X, np.flatnonzero(used), axis=0, out=out, mode="clip")
    else:
        out = X[used]
    if len(rule.centred):
        out[:, rule.centred] -= col_weight[rule.centred] / total
    return out if every_column else out[:, keep]


def _full_rank(X: np.ndarray) -> bool:
    return np.linalg.matrix_rank(X) == X.shape[1]


@dataclass(frozen=True)
class PerProtocolArrays:
    """Everything the per-protocol cumulative live birth needs, as arrays over transfer rows.

    Built once from a course (:func:`per_protocol_arrays`); a bootstrap replicate is a vector of
    how many times each woman was drawn (:func:`per_protocol_curves`), so no replicate copies a
    table or rebuilds a design.

    Attributes
    ----------
    woman : ndarray
        Woman of each transfer row, numbered in sorted ``patient_id`` order (the clusters of
        :func:`analysis.methods.resampling.bootstrap`).
    n_women : int
    position : ndarray
        ``k - 1``: rows of a woman are consecutive, in transfer order.
    arm : ndarray
        Assigned arm of each row as a position in :data:`ARMS` (-1 for none of them).
    k, lb, continued : ndarray
        Transfer number, live birth (NaN unknown), came back after a failure (NaN censored).
    group, group_levels : ndarray, list of str
        Profile group of each row, as a position in ``group_levels``.
    on_protocol : ndarray
        Arm unchanged so far.
    switch_rows, stay : ndarray
        Rows of the model of staying on the assigned arm, and whether the woman stayed.
    switch_numerator, numerator_pattern : ndarray
        The numerator's design (assigned arm by profile group and transfer number) has few
        distinct rows: those rows, and the one of each switch-model row.
    switch_denominator : ndarray
        The denominator's design (plus the baseline covariates) on every switch-model row.
    numerator_rule, denominator_rule : _ColumnRule
    women_rows, women_arm, women_X, women_rule
        First-transfer rows with complete covariates, their arm (position in :data:`ARMS`) and
        the multinomial propensity design.
    women_start : ndarray
        Its coefficients on all women (the start of every refit; empty when not estimable).
    numerator_start, denominator_start : ndarray
        The switch models' coefficients on all women: the start of a replicate's refit whose
        design keeps every column (empty when not estimable). The point estimate starts, as
        R's ``glm``, from ``mustart``.
    """

    woman: np.ndarray
    n_women: int
    position: np.ndarray
    arm: np.ndarray
    k: np.ndarray
    lb: np.ndarray
    continued: np.ndarray
    group: np.ndarray
    group_levels: list[str]
    on_protocol: np.ndarray
    switch_rows: np.ndarray
    stay: np.ndarray
    switch_numerator: np.ndarray
    numerator_pattern: np.ndarray
    numerator_rule: _ColumnRule
    switch_denominator: np.ndarray
    denominator_rule: _ColumnRule
    women_rows: np.ndarray
    women_arm: np.ndarray
    women_X: np.ndarray
    women_rule: _ColumnRule
    women_start: np.ndarray
    numerator_start: np.ndarray = field(default_factory=lambda: np.empty(0))
    denominator_start: np.ndarray = field(default_factory=lambda: np.empty(0))


def per_protocol_arrays(transfers: pd.DataFrame, *, covariates: Sequence[str]) -> PerProtocolArrays:
    """Return the arrays of the per-protocol cumulative live birth of a course's transfers.

    The designs are those of :func:`switch_weights` and :func:`baseline_weights`, built once on
    every row; :func:`per_protocol_curves` reweights them.

    Parameters
    ----------
    transfers : DataFrame
        :attr:`Course.transfers` (rows of a woman consecutive, in transfer order).
    covariates : sequence of str
        Baseline confounders.

    Returns
    -------
    PerProtocolArrays
    """
    t = transfers.reset_index(drop=True)
    codes, uniques = pd.factorize(t["patient_id"], sort=True)
    position = t["k"].to_numpy(int) - 1
    start = np.r_[True, codes[1:] != codes[:-1]]
    if (position != np.where(start, 0, np.r_[0, position[:-1]] + 1)).any():
        raise ModelError("per-protocol arrays: the transfers of each woman must be consecutive rows with k = 1, 2, …")
    group_codes, group_levels = pd.factorize(t["profile_group"].astype(str), sort=True)
    arm_text = t["assigned_arm"].astype(str).to_numpy()
    arm = np.full(len(t), -1)
    for i, a in enumerate(ARMS):
        arm[arm_text == a] = i

    # model of staying on the assigned arm (as switch_weights builds it)
    prev_on = t.groupby("patient_id")["on_protocol"].shift().astype("boolean").fillna(True).astype(bool)
    rows = t[(t["k"] > 1) & prev_on]
    rows = _complete(rows, ["assigned_arm", "profile_group", "k", "earlier_failures", *covariates])
    arm_x, _ = _dummies(rows["assigned_arm"], ARMS, "assigned_arm")
    dys = (rows["profile_group"].astype(str) == "dysregulated").to_numpy(float)[:, None]
    k_col = np.minimum(rows["k"].to_numpy(float), 4)[:, None]
    base = np.column_stack([np.ones(len(rows)), arm_x, dys, arm_x * dys, k_col])
    n_arm = arm_x.shape[1]
    levels = np.arange(1, 1 + n_arm)
    base_dummies = [(levels, levels + n_arm + 1)]
    hist_cov = [c for c in covariates if c not in ("profile_group",)]
    hist, _ = covariate_design(rows, hist_cov, intercept=False)
    extra = [] if "prior_failed_transfers" in covariates else [rows["earlier_failures"].to_numpy(float)[:, None]]
    full = np.column_stack([base, *extra, hist])
    # numeric baseline covariates centred (as _covariate_matrix does), earlier failures not
    blocks, numeric = _categorical_blocks(rows, hist_cov, base.shape[1] + len(extra))
    centred = np.array(numeric, dtype=int)

    patterns, pattern = np.unique(base, axis=0, return_inverse=True)
    pattern = pattern.ravel()

    # baseline multinomial propensity (as propensity_scores builds it)
    first = t[t["k"] == 1].assign(treatment_arm=lambda d: d["assigned_arm"].astype(str))
    women = model_frame(first, ["treatment_arm", *covariates])
    unknown = sorted(set(women["treatment_arm"]) - set(ARMS))
    if unknown:
        raise ModelError(f"per-protocol weights: assigned arm(s) {unknown} are none of {list(ARMS)}")
    women_X, _ = covariate_design(women, covariates)
    w_blocks, _ = _categorical_blocks(women, covariates, 1)
    women_arm = pd.Categorical(women["treatment_arm"], categories=list(ARMS)).codes.astype(int)
    try:
        start = fit_multinomial_logit(women_X, women_arm, n_classes=len(ARMS), max_iter=100, covariance=False)[0]
    except ModelError:
        start = np.empty((0, len(ARMS) - 1))  # per_protocol_curves says why
    arrays = PerProtocolArrays(
        woman=codes,
        n_women=len(uniques),
        position=position,
        arm=arm,
        k=t["k"].to_numpy(int),
        lb=t["lb"].to_numpy(float),
        continued=t["continued"].to_numpy(float),
        group=group_codes,
        group_levels=list(group_levels),
        on_protocol=t["on_protocol"].to_numpy(bool),
        switch_rows=rows.index.to_numpy(),
        stay=rows["on_protocol"].to_numpy(float),
        switch_numerator=patterns,
        numerator_pattern=pattern.astype(int),
        numerator_rule=_ColumnRule(base_dummies, [], np.array([], dtype=int)),
        switch_denominator=full,
        denominator_rule=_ColumnRule(base_dummies, blocks, centred),
        women_rows=women.index.to_numpy(),
        women_arm=women_arm,
        women_X=women_X,
        women_rule=_ColumnRule([], w_blocks, np.array([], dtype=int)),
        women_start=start,
    )
    every = np.ones(len(arrays.switch_rows))
    starts = {}
    for name, X, rule, pattern in (
        ("numerator_start", patterns, arrays.numerator_rule, arrays.numerator_pattern),
        ("denominator_start", full, arrays.denominator_rule, None),
    ):
        try:
            starts[name] = _stay_fit(arrays, X, rule, every, pattern)[1]
        except ModelError:
            starts[name] = np.empty(0)  # per_protocol_curves says why
    return replace(arrays, **starts)


def _stay_fit(
    arrays: PerProtocolArrays,
    X: np.ndarray,
    rule: _ColumnRule,
    f: np.ndarray,
    pattern: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fitted probability of staying on the assigned arm on the rows of weight ``f > 0``, and the coefficients.

    With ``pattern`` (the row of ``X`` of each switch-model row: ``X`` holds the distinct
    covariate patterns), the rows are grouped as binomial counts per pattern: the same
    likelihood and estimate at the cost of a few rows. ``start`` (coefficients on all women)
    starts the fit when the resample's design keeps every column.
    """
    stay = arrays.stay
    if pattern is not None:
        trials = np.bincount(pattern, weights=f, minlength=len(X))
        with np.errstate(invalid="ignore", divide="ignore"):
            stay = np.bincount(pattern, weights=f * arrays.stay, minlength=len(X)) / trials
        f, rows = trials, pattern[f > 0]
    design = _resample_design(X, f, rule)
    used = f > 0
    if not _full_rank(design):
        raise ModelError("weighted logistic model: singular information (an empty arm or covariate level)")
    if start is not None and len(start) != design.shape[1]:
        start = None  # a level absent from the resample: its column was dropped
    fit = fit_binomial_irls(design, stay[used], f[used], coef_tol=1e-12, max_iter=100, start=start)
    if not fit.converged:
        raise ModelError("weighted logistic model did not converge (separation in the weighted data?)")
    if pattern is None:
        return fit.fitted, fit.coef
    by_pattern = np.full(len(X), np.nan)
    by_pattern[used] = fit.fitted
    return by_pattern[rows], fit.coef


def _switch_log_weights(arrays: PerProtocolArrays, f_row: np.ndarray, *, warm: bool = False) -> np.ndarray:
    """Log of the cumulative stabilised switch weight of every row (NaN off protocol).

    ``warm``: the switch models start from their coefficients on all women (a replicate).
    """
    f = f_row[arrays.switch_rows].astype(float)
    num_start, den_start = (arrays.numerator_start, arrays.denominator_start) if warm else (None, None)
    try:
        p_num, _ = _stay_fit(
            arrays,
            arrays.switch_numerator,
            arrays.numerator_rule,
            f,
            pattern=arrays.numerator_pattern,
            start=num_start,
        )
        p_den, _ = _stay_fit(arrays, arrays.switch_denominator, arrays.denominator_rule, f, start=den_start)
    except ModelError as exc:
        n_switch = int(f @ (arrays.stay == 0))
        raise ModelError(
            f"the model of staying on the assigned arm cannot be estimated ({exc}): {n_switch} "
            f"switch(es) of arm among {int(f.sum())} later transfers; some assigned arm × profile group has too few "
            "switches (or none) for per-protocol weights"
        ) from None
    step = np.zeros(len(arrays.woman))
    used = arrays.switch_rows[f > 0]
    stay = arrays.stay[f > 0]
    step[used] = np.where(stay == 1, np.log(p_num / p_den), np.nan)
    step[~arrays.on_protocol] = np.nan  # censored from the switch on
    cum = step.copy()
    for j in range(1, int(arrays.position.max(initial=0)) + 1):  # transfers of a course, vectorised over women
        at = np.flatnonzero(arrays.position == j)
        cum[at] = cum[at - 1] + step[at]
    return cum


def _baseline_weight(arrays: PerProtocolArrays, f_women: np.ndarray) -> np.ndarray:
    """Stabilised inverse probability of the assigned arm of every woman (NaN without covariates)."""
    f = f_women[arrays.woman[arrays.women_rows]].astype(float)
    used = f > 0
    arm = arrays.women_arm[used]
    present = np.bincount(arm, weights=f[used], minlength=len(ARMS)) > 0
    if not present.all():
        raise ModelError(
            f"propensity model: arm(s) {[a for a, p in zip(ARMS, present) if not p]} have no patient with complete "
            "covariates; the arm comparison cannot be made"
        )
    X = _resample_design(arrays.women_X, f, arrays.women_rule)
    if not _full_rank(X):
        raise ModelError("propensity model: singular information (an empty covariate level)")
    start = arrays.women_start if arrays.women_start.shape[0] == X.shape[1] else None
    _, _, probs = fit_multinomial_logit(
        X, arm, n_classes=len(ARMS), weights=f[used], start=start, max_iter=100, covariance=False
    )
    share = np.bincount(arm, weights=f[used], minlength=len(ARMS)) / f[used].sum()
    out = np.full(arrays.n_women, np.nan)
    out[arrays.woman[arrays.women_rows[used]]] = share[arm] / probs[np.arange(len(arm)), arm]
    return out


def per_protocol_curves(
    arrays: PerProtocolArrays, counts: np.ndarray | None = None, *, max_k: int, groups: Sequence[str]
) -> np.ndarray:
    """Cumulative live birth by transfer for each group and arm, flattened (group, arm, k).

    Parameters
    ----------
    arrays : PerProtocolArrays
    counts : ndarray, optional
        How many times each woman counts (a bootstrap resample of whole courses,
        :func:`analysis.methods.resampling.bootstrap_frequencies`); default once each. Both
        weight models are refitted with these frequency weights, starting from their fits on
        all women: the fits of the resampled rows (to the stopping rule's 1e-12 in the
        coefficients), without building them.
    max_k : int
        Transfers 1 … ``max_k``.
    groups : sequence of str
        ``all`` or a profile group.

    Returns
    -------
    ndarray
        ``len(groups) × len(ARMS) × max_k`` values.
    """
    f_women = np.ones(arrays.n_women, int) if counts is None else np.asarray(counts)
    f_row = f_women[arrays.woman]
    logw = _switch_log_weights(arrays, f_row, warm=counts is not None)
    w = np.exp(logw) * _baseline_weight(arrays, f_women)[arrays.woman] * f_row
    # one cell per (profile group, arm, transfer): every group's sums from one pass over the rows
    n_groups = len(arrays.group_levels)
    shape = (n_groups, len(ARMS), max_k)
    on = np.isfinite(w) & (f_row > 0) & (arrays.arm >= 0) & (arrays.k <= max_k)
    cell = (arrays.group * len(ARMS) + arrays.arm) * max_k + arrays.k - 1
    h = _weighted_means(arrays.lb, w, cell, on & np.isfinite(arrays.lb), shape)
    c = _weighted_means(arrays.continued, w, cell, on & (arrays.lb == 0) & np.isfinite(arrays.continued), shape)
    out = []
    for g in groups:
        at = [i for i, level in enumerate(arrays.group_levels) if g in ("all", level)]
        with np.errstate(invalid="ignore", divide="ignore"):
            h_g, c_g = (
                np.where(x[at, 2].sum(axis=0) > 0, x[at, 0].sum(axis=0) / x[at, 1].sum(axis=0), np.nan) for x in (h, c)
            )
        out += [_cumulative(h_g[i], c_g[i]) for i in range(len(ARMS))]
    return np.concatenate(out)


def _weighted_means(values: np.ndarray, w: np.ndarray, cell: np.ndarray, rows: np.ndarray, shape) -> np.ndarray:
    """Weighted sums of ``values``, sums of weights and row counts over ``rows``, by cell.

    Returns
    -------
    ndarray
        ``(n_groups, 3, n_arms, max_k)``: the three sums of each group.
    """
    size = int(np.prod(shape))
    at, weight = cell[rows], w[rows]  # gathered once for the three sums
    sums = [
        np.bincount(at, weights=weight * values[rows], minlength=size),
        np.bincount(at, weights=weight, minlength=size),
        np.bincount(at, minlength=size).astype(float),
    ]
    return np.stack([x.reshape(shape) for x in sums], axis=1)


def per_protocol_cumulative(
    course: Course,
    *,
    covariates: Sequence[str],
    max_k: int = 3,
    groups: Sequence[str] = ("all", "dysregulated", "balanced"),
    n_boot: int = 200,
    seed: int = 1,
    n_jobs: int | None = 1,
    conf_level: float = 0.95,
    notebook: str,
    model_id: str,
) -> CumulativeResult:
    """Cumulative live birth by transfer under "always" each arm, per protocol, with bootstrap CIs.

    Among women on their assigned arm, the weighted (baseline IPTW × switch IPCW) share with a
    live birth at transfer ``k`` and the weighted share who come back after a failure at ``k``
    give the cumulative live birth by transfer ``K`` with drop-out as it happens (a competing
    end of the course): :math:`\\sum_{k \\le K} h_k \\prod_{j<k}(1-h_j) c_j`. Intervals:
    percentile bootstrap over women (whole courses resampled, both weight models refitted in
    every replicate; the same numbers for any ``n_jobs``). The designs are built once
    (:func:`per_protocol_arrays`) and a replicate refits them with each woman's number of draws
    as frequency weights (:func:`analysis.methods.resampling.frequency_bootstrap`): the same
    resamples, estimating equations and fits as refitting on copied rows, at a fraction of
    the cost.
    """
    groups = list(groups)
    arrays = per_protocol_arrays(course.transfers, covariates=covariates)
    point = per_protocol_curves(arrays, max_k=max_k, groups=groups)
    reps = frequency_bootstrap(
        per_protocol_curves,
        arrays,
        n_clusters=arrays.n_women,
        n_boot=n_boot,
        seed=seed,
        n_jobs=n_jobs,
        failures=(ModelError, np.linalg.LinAlgError),
        max_k=max_k,
        groups=groups,
    )
    failed = int(np.isnan(reps).all(axis=1).sum())
    shape = (len(groups), len(ARMS), max_k)
    point, reps = point.reshape(shape), reps.reshape((len(reps), *shape))
    low, high = percentile_interval(reps.reshape(len(reps), -1), conf_level=conf_level)
    low, high = low.reshape(shape), high.reshape(shape)
    pers, none = ARMS.index("personalized"), ARMS.index("none")
    diff = reps[:, :, pers] - reps[:, :, none]
    d_low, d_high = percentile_interval(diff.reshape(len(reps), -1), conf_level=conf_level)
    d_low, d_high = d_low.reshape(len(groups), max_k), d_high.reshape(len(groups), max_k)
    d_se = np.nanstd(diff, axis=0, ddof=1) if n_boot > 1 else np.full((len(groups), max_k), np.nan)
    curve_rows, diff_rows, terms, est, se, lo, hi, n_obs, pops = [], [], [], [], [], [], [], [], []
    women = course.women
    for gi, g in enumerate(groups):
        for ai, arm in enumerate(ARMS):
            for k in range(max_k):
                curve_rows.append(
                    {
                        "group": g,
                        "strategy": arm,
                        "k": k + 1,
                        "estimate": point[gi, ai, k],
                        "conf_low": low[gi, ai, k],
                        "conf_high": high[gi, ai, k],
                    }
                )
        n_g = len(women) if g == "all" else int((women["profile_group"].astype(str) == g).sum())
        for k in range(max_k):
            d = point[gi, pers, k] - point[gi, none, k]
            diff_rows.append(
                {"group": g, "k": k + 1, "estimate": d, "conf_low": d_low[gi, k], "conf_high": d_high[gi, k]}
            )
            terms.append(f"treatment_arm[personalized]:k{k + 1}")
            est.append(d)
            se.append(d_se[gi, k])
            lo.append(d_low[gi, k])
            hi.append(d_high[gi, k])
            n_obs.append(n_g)
            pops.append(f"target_trial_{g}")
    rows = estimate_rows(
        terms,
        est,
        se,
        ratio=False,
        conf_low=lo,
        conf_high=hi,
        p_value=[np.nan] * len(terms),
        notebook=notebook,
        model_id=model_id,
        outcome="live_birth",
        population=pops,
        estimator="pp_ipcw_cumulative_rd",
        n_obs=n_obs,
        n_events=pd.NA,
        n_clusters=pd.NA,
    )
    return CumulativeResult(pd.DataFrame(curve_rows), pd.DataFrame(diff_rows), rows, failed)


def _pooled_arm_rows(
    rows: pd.DataFrame,
    X: np.ndarray,
    weights: np.ndarray,
    arm_names: list[str],
    *,
    estimator: str,
    population: str,
    model_id: str,
    notebook: str,
    conf_level: float,
) -> pd.DataFrame:
    """Odds ratios of the arm columns (right after the intercept) of a pooled logistic model of
    live birth per transfer, robust SEs by woman."""
    y = rows["lb"].to_numpy(float)
    beta, cov = weighted_logit(y, X, weights, clusters=rows["patient_id"].to_numpy())
    arms = slice(1, 1 + len(arm_names))
    return estimate_rows(
        arm_names,
        beta[arms],
        np.sqrt(np.diag(cov))[arms],
        model_id=model_id,
        estimator=estimator,
        ratio=True,
        conf_level=conf_level,
        n_obs=len(rows),
        n_events=int(y.sum()),
        n_clusters=int(rows["patient_id"].nunique()),
        outcome="live_birth",
        population=population,
        notebook=notebook,
    )


def discrete_time_hazard(
    course: Course, *, covariates: Sequence[str], conf_level: float = 0.95, notebook: str, model_id: str
) -> pd.DataFrame:
    """Pooled logistic model of live birth per transfer (the discrete-time hazard), robust SEs by woman.

    Terms: the arm at each transfer (time-varying), transfer number (1, 2, 3, 4+), earlier failed
    transfers, the year of the transfer (calendar trend) and ``covariates``. Rows: the transfers
    of each course with a known outcome, up to the first live birth.

    Returns
    -------
    DataFrame
        Odds ratios of each arm vs none (contract rows).
    """
    t = _complete(
        course.transfers[course.transfers["lb"].notna()],
        ["treatment_arm", "earlier_failures", "transfer_year", *covariates],
    )
    arm_x, arm_names = _dummies(t["treatment_arm"], ARMS, "treatment_arm")
    k_x, _ = _dummies(np.minimum(t["k"], 4).astype(str), ["1", "2", "3", "4"], "k")
    cov_x, _ = _covariate_matrix(t, covariates)
    extra = [] if "prior_failed_transfers" in covariates else [t["earlier_failures"].to_numpy(float)]
    X = np.column_stack([np.ones(len(t)), arm_x, k_x, *extra, t["transfer_year"].to_numpy(float) - 2018, cov_x])
    X = X[:, np.r_[True, X[:, 1:].std(axis=0) > 0]]
    return _pooled_arm_rows(
        t,
        X,
        np.ones(len(t)),
        arm_names,
        estimator="pooled_logit_discrete_time",
        population="course_transfers",
        model_id=model_id,
        notebook=notebook,
        conf_level=conf_level,
    )


def sequential_trials(
    course: Course, *, covariates: Sequence[str], conf_level: float = 0.95, notebook: str, model_id: str
) -> pd.DataFrame:
    """A trial at every transfer among women still in their course, pooled (marginal ORs).

    Each transfer of a course is the time zero of its own trial: eligible women are those at that
    transfer (no live birth yet); the arm at that transfer is the assigned strategy; confounding by
    the history (transfer number, earlier failures, the arm of the previous transfer, calendar
    year, ``covariates``) is removed by stabilised inverse probability weights from a multinomial
    propensity model fitted across trials; the weighted OR of live birth at that transfer is pooled
    over trials with robust SEs by woman (each woman enters several trials).

    Returns
    -------
    DataFrame
        Odds ratios of each arm vs none (contract rows).
    """
    t = course.transfers[course.transfers["lb"].notna()].copy()
    t["previous_arm"] = t.groupby("patient_id")["treatment_arm"].shift().astype("string").fillna("first")
    t["k_band"] = np.minimum(t["k"], 4).astype(str)
    history = ["k_band", "previous_arm", "transfer_year"]
    if "prior_failed_transfers" not in covariates:
        history.append("earlier_failures")
    cols = [*history, *covariates]
    t = _complete(t, cols)
    scores = propensity_scores(
        t.assign(treatment_arm=t["treatment_arm"].astype(str)), treatment="treatment_arm", covariates=cols, check=False
    )
    w = iptw_weights(scores, estimand="ATE")
    rows = t.loc[w.index]
    arm_x, arm_names = _dummies(rows["treatment_arm"], ARMS, "treatment_arm")
    k_x, _ = _dummies(rows["k_band"], ["1", "2", "3", "4"], "k")
    X = np.column_stack([np.ones(len(rows)), arm_x, k_x])
    return _pooled_arm_rows(
        rows,
        X,
        w.to_numpy(float),
        arm_names,
        estimator="sequential_trials_iptw",
        population="sequential_trials",
        model_id=model_id,
        notebook=notebook,
        conf_level=conf_level,
    )


def protocol_table(
    *, covariates: Sequence[str], dropout_days: int, max_k: int, conf_level: float, n_boot: int
) -> pd.DataFrame:
    """The target-trial protocol, item by item, as the TARGET guideline asks (Cashin et al., 2025).

    Returns
    -------
    DataFrame
        ``item, target_trial, emulation``.
    """
    cov = ", ".join(covariates)
    rows = [
        (
            "Eligibility",
            "Women with an endometrial immune-profiling biopsy and a known profile, at their first "
            "embryo transfer after the biopsy.",
            "Included patients at their first post-biopsy transfer.",
        ),
        (
            "Treatment strategies",
            "No immunotherapy, empirical immunotherapy or personalized immunotherapy at every transfer of the course.",
            "The arm recorded at each transfer.",
        ),
        (
            "Assignment",
            "Random, at the first transfer.",
            f"Arm at the first transfer; confounding by {cov} removed by "
            "adjustment (Cox) or stabilised inverse probability weights (per protocol).",
        ),
        (
            "Time zero",
            "The first transfer after the biopsy.",
            "Date of the first post-biopsy transfer (not the biopsy: "
            "the time personalized agents take to prepare is not time at risk).",
        ),
        (
            "Outcome",
            "Live birth.",
            "Live birth dated at its transfer; the course ends at the first live birth "
            "(later transfers are reported, not counted).",
        ),
        (
            "Follow-up",
            "From time zero to live birth, stopping treatment, loss or the end of the study.",
            f"Drop-out: no transfer for {dropout_days} days with follow-up beyond (or a recorded reason); unknown "
            "outcome: censored at that transfer; otherwise censored at the end of follow-up (data cut).",
        ),
        (
            "Causal contrasts",
            "Intention to treat; per protocol.",
            "ITT analogue (arm at time zero); per protocol "
            "(censored at a switch of arm, stabilised IPCW from transfer number, earlier failures, profile group and "
            "baseline covariates).",
        ),
        (
            "Analysis",
            "Comparison of cumulative live birth and hazards.",
            f"Cox models (Efron ties, robust SEs): "
            f"ttlb_cox_itt, ttlb_cox_pp; cumulative live birth by transfer 1..{max_k} per protocol with percentile "
            f"bootstrap over women ({n_boot} replicates): clb_pp; discrete-time hazard: clb_dth; sequential trials: "
            f"lb_seq_trials; intervals at {100 * conf_level:g}%.",
        ),
    ]
    return pd.DataFrame(rows, columns=["item", "target_trial", "emulation"])


__all__ = [
    "Course",
    "CumulativeResult",
    "PerProtocolArrays",
    "baseline_weights",
    "delay_by_arm",
    "discrete_time_hazard",
    "first_course",
    "itt_cox",
    "per_protocol_cox",
    "per_protocol_cumulative",
    "per_protocol_arrays",
    "per_protocol_curves",
    "per_protocol_intervals",
    "protocol_table",
    "sequential_trials",
    "switch_weights",
]
