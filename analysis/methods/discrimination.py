r"""Discrimination, cut-offs and calibration of a marker or a risk model.

- **AUC** is the Mann–Whitney probability that a random event has a higher score than a random
  non-event (ties count ½), as R's ``pROC::auc``.
- **DeLong variance** (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837) from the
  structural components :math:`V_{10}(x_i) = \frac1n\sum_j \psi(x_i, y_j)` and
  :math:`V_{01}(y_j)`: :math:`\operatorname{var}(\hat A) = s_{10}/m + s_{01}/n`; for two scores
  on the same patients the covariance uses the cross-covariances, giving the paired test of
  ``pROC::roc.test(method = "delong", paired = TRUE)``.
- **Youden cut-off**: the threshold maximising sensitivity + specificity − 1 among pROC's
  thresholds (midpoints between consecutive distinct values), events being scores ≥ the
  threshold when events score higher (``coords(roc, "best", best.method = "youden")``).
- **Calibration**: intercept (calibration-in-the-large, :math:`\alpha` in
  ``glm(y ~ offset(lp))``) and slope (``glm(y ~ lp)``) on the logit scale; Brier score.
- **Optimism correction** (Harrell, Lee & Mark 1996, Stat Med 15:361): the model is refitted in
  each bootstrap resample; optimism is the mean of (performance in the resample − performance of
  the resample's model on the original data), subtracted from the apparent performance. The same
  applies to a Youden cut-off (chosen again in each resample: its sensitivity and specificity in
  the resample against those of the resample's cut-off on the original data) and to the
  calibration curve (:func:`calibration_curve_corrected`, the method of ``rms::calibrate``:
  a lowess curve of the outcome on the predicted probability, ``iter = 0``, its optimism
  estimated point by point on a grid of predicted probabilities).
- **Published cut-offs** are scored in their documented direction: below a ``low`` cut-off is
  the abnormal reading (under-activation), above a ``high`` cut-off the abnormal one
  (over-activation), so *normal* (the reading that should predict live birth) is at or above a
  low cut-off, at or below a high one, and, for the lab's own rule, inside the reference range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.special
import scipy.stats
from statsmodels.nonparametric.smoothers_lowess import lowess as sm_lowess

from analysis.core.exceptions import ModelError
from analysis.core.intervals import z_value
from analysis.methods.resampling import bootstrap, numbered_bootstrap, percentile_interval
from analysis.models.logistic import binomial_irls, certifies_no_separation

__all__ = [
    "BootstrapRefits",
    "auc",
    "auc_delong",
    "bootstrap_refits",
    "brier_score",
    "calibration",
    "calibration_curve_corrected",
    "cutoff_metrics",
    "delong_test",
    "optimism_corrected",
    "youden_cutoff",
]


def _split(score, y):
    score = np.asarray(score, dtype=float)
    y = np.asarray(y).astype(int)
    keep = np.isfinite(score)
    score, y = score[keep], y[keep]
    cases, controls = score[y == 1], score[y == 0]
    if len(cases) == 0 or len(controls) == 0:
        raise ModelError("AUC needs both events and non-events among rows with a score")
    return cases, controls


def _placements(cases, controls):
    """Structural components V10 (per case) and V01 (per control), from one sort of all scores.

    A case's V10 is (controls below it + ½ controls tied with it) / n, a control's V01 is
    1 − (cases below it + ½ cases tied with it) / m. These counts are what the difference of
    average ranks (all scores against the case's own group, ``scipy.stats.rankdata``) gives; both
    are exact in floating point (integers and halves), so the components are the same bits as the
    three-ranking computation, at the cost of one sort instead of three.
    """
    m, n = len(cases), len(controls)
    scores = np.concatenate([cases, controls])
    order = np.argsort(scores)
    ordered = scores[order]
    is_case = order < m
    starts = np.empty(m + n, dtype=bool)  # first position of each distinct value
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    cases_at = np.add.reduceat(is_case.astype(np.int64), first)  # cases per distinct value
    controls_at = np.diff(first, append=m + n) - cases_at
    value = np.cumsum(starts) - 1  # distinct value of each sorted score
    v10, v01 = np.empty(m), np.empty(n)
    at = value[is_case]
    v10[order[is_case]] = (np.cumsum(controls_at)[at] - controls_at[at] + 0.5 * controls_at[at]) / n
    at = value[~is_case]
    v01[order[~is_case] - m] = 1 - (np.cumsum(cases_at)[at] - cases_at[at] + 0.5 * cases_at[at]) / m
    return v10, v01


def auc(score, y) -> float:
    """Return the area under the ROC curve (events expected to score higher)."""
    v10, _ = _placements(*_split(score, y))
    return float(v10.mean())


def auc_delong(score, y, *, conf_level: float = 0.95) -> dict:
    """Return the AUC with its DeLong variance and Wald CI (``pROC::ci.auc(method = "delong")``)."""
    cases, controls = _split(score, y)
    v10, v01 = _placements(cases, controls)
    a = v10.mean()
    var = v10.var(ddof=1) / len(cases) + v01.var(ddof=1) / len(controls)
    z = z_value(conf_level)
    se = np.sqrt(var)
    return {
        "auc": float(a),
        "variance": float(var),
        "std_error": float(se),
        "conf_low": float(max(0, a - z * se)),
        "conf_high": float(min(1, a + z * se)),
        "n_events": len(cases),
        "n_nonevents": len(controls),
    }


def delong_test(score1, score2, y) -> dict:
    """Paired DeLong test of two AUCs on the same patients (rows with both scores)."""
    s1, s2, yy = (np.asarray(v, dtype=float) for v in (score1, score2, y))
    keep = np.isfinite(s1) & np.isfinite(s2) & np.isfinite(yy)
    s1, s2, yy = s1[keep], s2[keep], yy[keep].astype(int)
    comps = [_placements(*_split(s, yy)) for s in (s1, s2)]
    m, n = int((yy == 1).sum()), int((yy == 0).sum())
    a = np.array([c[0].mean() for c in comps])
    s10 = np.cov(np.vstack([c[0] for c in comps]))
    s01 = np.cov(np.vstack([c[1] for c in comps]))
    cov = s10 / m + s01 / n
    var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = (a[0] - a[1]) / np.sqrt(var_diff)
    return {
        "auc1": float(a[0]),
        "auc2": float(a[1]),
        "difference": float(a[0] - a[1]),
        "std_error": float(np.sqrt(var_diff)),
        "statistic": float(z),
        "p_value": float(2 * scipy.stats.norm.sf(abs(z))),
        "n": int(len(yy)),
    }


def youden_cutoff(score, y, *, direction: str = "<") -> dict:
    """Return the Youden-optimal threshold with its sensitivity and specificity.

    Thresholds are pROC's: −∞, the midpoints between consecutive distinct scores, and +∞.
    With ``direction="<"`` events are expected to score higher (positive: ``score >= threshold``),
    with ``">"`` lower (positive: ``score <= threshold``); ``"auto"`` takes the direction whose AUC
    is at least ½. Among tied maxima the first threshold in increasing order is returned, as
    pROC's first ``coords(..., "best")`` row.
    """
    cases, controls = _split(score, y)
    if direction == "auto":
        direction = (
            "<" if auc(np.r_[cases, controls], np.r_[np.ones(len(cases)), np.zeros(len(controls))]) >= 0.5 else ">"
        )
    values = np.unique(np.concatenate([cases, controls]))
    if len(values) < 2:
        raise ModelError("a constant score has no cut-off")
    thresholds = np.concatenate([[-np.inf], (values[:-1] + values[1:]) / 2, [np.inf]])
    sc, sn = np.sort(cases), np.sort(controls)  # counts by binary search: O(n log n), no n x n matrix
    below_c = np.searchsorted(sc, thresholds, side="left") / len(sc)  # share of cases < t
    below_n = np.searchsorted(sn, thresholds, side="left") / len(sn)  # share of controls < t
    upto_c = np.searchsorted(sc, thresholds, side="right") / len(sc)  # share of cases <= t
    upto_n = np.searchsorted(sn, thresholds, side="right") / len(sn)
    return _youden_best(thresholds, below_c, below_n, upto_c, upto_n, direction)


def _youden_best(thresholds, below_c, below_n, upto_c, upto_n, direction: str) -> dict:
    """The first threshold maximising sensitivity + specificity − 1, from the shares of cases and controls below it."""
    if direction == "<":
        sens, spec = 1 - below_c, below_n
    elif direction == ">":
        sens, spec = upto_c, 1 - upto_n
    else:
        raise ValueError("direction must be '<', '>' or 'auto'")
    j = sens + spec - 1
    best = int(np.argmax(j))
    return {
        "threshold": float(thresholds[best]),
        "sensitivity": float(sens[best]),
        "specificity": float(spec[best]),
        "youden": float(j[best]),
        "direction": direction,
    }


def _youden_of_value_codes(sample: np.ndarray, direction: str, values: np.ndarray) -> dict:
    """:func:`youden_cutoff` of rows whose score is the rank of its distinct value in ``values``, by counting.

    A row coded −1 has no finite score and is left out, as :func:`youden_cutoff` leaves it out.

    The thresholds are the midpoints of the distinct values present in ``sample`` (taken from
    ``values``, so the same floats), and the cases or controls below a threshold are cumulative
    counts over those values found by binary search among them: the same arrays as
    :func:`youden_cutoff` of the rows' scores without sorting the rows.
    """
    scored = sample[sample[:, 0] >= 0]  # code −1: no finite score
    codes = scored[:, 0].astype(np.intp)
    y = scored[:, 1].astype(int)
    case_codes, control_codes = codes[y == 1], codes[y == 0]
    if len(case_codes) == 0 or len(control_codes) == 0:
        raise ModelError("AUC needs both events and non-events among rows with a score")
    cases_at = np.bincount(case_codes, minlength=len(values))
    controls_at = np.bincount(control_codes, minlength=len(values))
    present = (cases_at + controls_at) > 0
    present_values = values[present]
    if len(present_values) < 2:
        raise ModelError("a constant score has no cut-off")
    thresholds = np.concatenate([[-np.inf], (present_values[:-1] + present_values[1:]) / 2, [np.inf]])
    cases_upto = np.concatenate([[0], np.cumsum(cases_at[present])])  # cases among the first k values
    controls_upto = np.concatenate([[0], np.cumsum(controls_at[present])])
    left = np.searchsorted(present_values, thresholds, side="left")
    right = np.searchsorted(present_values, thresholds, side="right")
    m, n = len(case_codes), len(control_codes)
    return _youden_best(
        thresholds,
        cases_upto[left] / m,
        controls_upto[left] / n,
        cases_upto[right] / m,
        controls_upto[right] / n,
        direction,
    )


def cutoff_metrics(score, y, threshold: float, *, conf_level: float = 0.95) -> dict:
    """Sensitivity, specificity, PPV and NPV of ``score >= threshold``, with Wilson CIs."""
    s = np.asarray(score, dtype=float)
    yy = np.asarray(y).astype(float)
    keep = np.isfinite(s) & np.isfinite(yy)
    pos = s[keep] >= threshold
    yy = yy[keep].astype(int)
    tp, fp = int((pos & (yy == 1)).sum()), int((pos & (yy == 0)).sum())
    fn, tn = int((~pos & (yy == 1)).sum()), int((~pos & (yy == 0)).sum())
    z = z_value(conf_level)

    def wilson(k, n):
        if n == 0:
            return np.nan, np.nan, np.nan
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return p, centre - half, centre + half

    out = {"threshold": threshold, "n_tp": tp, "n_fp": fp, "n_fn": fn, "n_tn": tn}
    for name, k, n in [
        ("sensitivity", tp, tp + fn),
        ("specificity", tn, tn + fp),
        ("ppv", tp, tp + fp),
        ("npv", tn, tn + fn),
    ]:
        p, lo, hi = wilson(k, n)
        out.update({name: p, f"{name}_low": lo, f"{name}_high": hi})
    return out


def brier_score(p, y) -> float:
    """Mean squared difference between predicted probability and outcome."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    return float(np.mean((p - y) ** 2))


def calibration(p, y) -> dict:
    """Calibration intercept (in the large) and slope of predicted probabilities on the logit scale."""

    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    y = np.asarray(y, dtype=float)
    lp = np.log(p / (1 - p))
    ones = np.ones((len(y), 1))
    with np.errstate(all="ignore"):
        slope = binomial_irls(np.column_stack([ones, lp]), y, np.ones(len(y)))
        intercept = binomial_irls(ones, y, np.ones(len(y)), offset=lp)
    return {
        "calibration_intercept": float(intercept[0]),
        "calibration_slope": float(slope[1]),
        "brier": brier_score(p, y),
    }


def _performance(p, y) -> np.ndarray:
    cal = calibration(p, y)
    return np.array([auc(p, y), cal["calibration_slope"], cal["calibration_intercept"], cal["brier"]])


def _optimism_replicate(positions, *, frame, fit_predict, arrays=None):
    if arrays is not None:  # the model's design built once; only the coefficients are refitted
        x, y = arrays
        beta = fit_predict.fit_arrays(x[positions], y[positions])
        if beta is not None:
            return _optimism_of_coefficients(positions, beta, x, y)
    return _optimism_by_refitting(positions, frame, fit_predict)


def _optimism_of_coefficients(positions, beta, x, y) -> np.ndarray:
    """Performance of the resample's coefficients in the resample minus on the original rows."""
    return _performance(scipy.special.expit(x[positions] @ beta), y[positions]) - _performance(
        scipy.special.expit(x @ beta), y
    )


def _optimism_by_refitting(positions, frame, fit_predict) -> np.ndarray:
    sample = frame.iloc[positions].reset_index(drop=True)
    predict = fit_predict(sample)
    return _performance(predict(sample), sample["_y"].to_numpy()) - _performance(predict(frame), frame["_y"].to_numpy())


def _optimism_refitted_replicate(positions, b, *, frame, fit_predict, arrays, refits):
    """:func:`_optimism_replicate` with the coefficients of replicate ``b`` fitted before (``refits``)."""
    if refits.fitted(b):
        return _optimism_of_coefficients(positions, refits.coefficients[b], *arrays)
    return _optimism_by_refitting(positions, frame, fit_predict)


@dataclass(frozen=True)
class BootstrapRefits:
    """A logistic model refitted in each resample of a row bootstrap, kept for the analyses that share the resamples.

    Attributes
    ----------
    seed : int
        Seed of the resamples (replicate ``b`` draws the rows of replicate ``b`` of
        :func:`analysis.methods.resampling.bootstrap` with this seed).
    n_rows : int
        Rows resampled.
    status : ndarray
        Per replicate: 1 fitted, 0 not shown estimable (the fit returned None), NaN the fit raised.
    coefficients : ndarray
        ``(n_bootstrap, p)``; NaN where ``status`` is not 1.
    """

    seed: int
    n_rows: int
    status: np.ndarray
    coefficients: np.ndarray

    @property
    def n_bootstrap(self) -> int:
        """Number of replicates."""
        return len(self.status)

    def fitted(self, b: int) -> bool:
        """Whether replicate ``b`` has coefficients; raises :class:`ModelError` where its fit raised."""
        if np.isnan(self.status[b]):
            raise ModelError(f"bootstrap replicate {b}: the model's fit failed")
        return bool(self.status[b] == 1)

    def matches(self, *, n_bootstrap: int, seed: int, n_rows: int) -> bool:
        """Whether these are the resamples a bootstrap with these settings draws."""
        return (self.n_bootstrap, self.seed, self.n_rows) == (n_bootstrap, seed, n_rows)


def _refit_replicate(positions, *, x, y, fit):
    beta = fit(x[positions], y[positions])
    return np.r_[0.0, np.full(x.shape[1], np.nan)] if beta is None else np.r_[1.0, beta]


def bootstrap_refits(
    x: np.ndarray, y: np.ndarray, *, fit: Callable, n_bootstrap: int = 200, seed: int = 0, n_jobs: int | None = 1
) -> BootstrapRefits:
    """Fit the model in each bootstrap resample of the rows of its design, once for every analysis of those resamples.

    The internal validation (:func:`optimism_corrected`) and the calibration curve
    (:func:`calibration_curve_corrected`) of one model with the same seed refit it in the same
    resamples; given these refits they use them instead of fitting again (the same
    coefficients, so the same bits).

    Parameters
    ----------
    x, y : ndarray
        Design and 0/1 outcome of the complete rows.
    fit : callable
        ``fit(x, y) -> coefficients or None`` (None: not shown estimable), as
        :meth:`analysis.methods.prognostic.LogisticRiskModel.fit_arrays`; module-level
        (picklable) for ``n_jobs > 1``.
    n_bootstrap, seed, n_jobs : int

    Returns
    -------
    BootstrapRefits
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    reps = bootstrap(
        _refit_replicate, np.arange(len(y)), n_boot=n_bootstrap, seed=seed, n_jobs=n_jobs, x=x, y=y, fit=fit
    )
    return BootstrapRefits(seed=seed, n_rows=len(y), status=reps[:, 0].copy(), coefficients=reps[:, 1:].copy())


def optimism_corrected(
    data: pd.DataFrame,
    *,
    outcome: str,
    fit_predict: Callable,
    n_bootstrap: int = 200,
    seed: int = 0,
    n_jobs: int | None = 1,
    refits: BootstrapRefits | None = None,
) -> pd.DataFrame:
    """Apparent and optimism-corrected AUC, calibration slope, intercept and Brier score.

    Parameters
    ----------
    data : DataFrame
        Complete rows of the model's variables.
    fit_predict : callable
        ``fit_predict(frame)`` fits the model on ``frame`` and returns ``predict(frame2)`` giving
        probabilities for new rows; module-level (picklable) for ``n_jobs > 1``. If it also has
        ``arrays(frame) -> (X, y)`` and ``fit_arrays(X, y) -> coefficients or None`` (as
        :class:`analysis.methods.prognostic.LogisticRiskModel`), each resample refits on rows of the
        design built once, and falls back to ``fit_predict`` where ``fit_arrays`` returns None.
    refits : BootstrapRefits, optional
        ``fit_arrays`` of the resamples (:func:`bootstrap_refits` on ``fit_predict.arrays`` of
        these rows with this ``seed`` and ``n_bootstrap``), used instead of fitting again.
    """
    frame = data.reset_index(drop=True).assign(_y=pd.to_numeric(data[outcome]).to_numpy(dtype=float))
    apparent = _performance(fit_predict(frame)(frame), frame["_y"].to_numpy())
    arrays = fit_predict.arrays(frame) if hasattr(fit_predict, "fit_arrays") else None
    if refits is not None:
        if arrays is None or not refits.matches(n_bootstrap=n_bootstrap, seed=seed, n_rows=len(frame)):
            raise ValueError("refits must be bootstrap_refits of fit_predict's design with this seed and n_bootstrap")
        reps = numbered_bootstrap(
            _optimism_refitted_replicate,
            len(frame),
            n_boot=n_bootstrap,
            seed=seed,
            n_jobs=n_jobs,
            frame=frame,
            fit_predict=fit_predict,
            arrays=arrays,
            refits=refits,
        )
    else:
        reps = bootstrap(
            _optimism_replicate,
            np.arange(len(frame)),
            n_boot=n_bootstrap,
            seed=seed,
            n_jobs=n_jobs,
            frame=frame,
            fit_predict=fit_predict,
            arrays=arrays,
        )
    optimism = np.nanmean(reps, axis=0)
    names = ["auc", "calibration_slope", "calibration_intercept", "brier"]
    return pd.DataFrame(
        {
            "measure": names,
            "apparent": apparent,
            "optimism": optimism,
            "corrected": apparent - optimism,
            "n_bootstrap": n_bootstrap,
            "n_failed_replicates": int(np.isnan(reps).any(axis=1).sum()),
        }
    )


def auc_bootstrap_ci(
    score, y, *, n_bootstrap: int = 500, seed: int = 0, conf_level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the AUC (resampling rows).

    The scores are replaced once by the rank of their distinct value (:func:`_auc_of_value_codes`),
    so a resample's AUC needs counts, not a sort: the same resamples and the same bits as
    :func:`auc` of each resample's rows.
    """
    data = np.column_stack([np.asarray(score, dtype=float), np.asarray(y, dtype=float)])
    data = data[np.isfinite(data).all(axis=1)]
    values, codes = np.unique(data[:, 0], return_inverse=True)
    coded = np.column_stack([codes.astype(float), data[:, 1]])  # same rows, so the same resamples
    reps = bootstrap(_auc_of_value_codes, coded, n_boot=n_bootstrap, seed=seed, n_values=len(values))
    low, high = percentile_interval(reps, conf_level=conf_level)
    return float(low[0]), float(high[0])


def _auc_of_value_codes(sample: np.ndarray, n_values: int) -> float:
    """:func:`auc` of rows whose score is the rank (0, 1, …) of its distinct value, by counting.

    Each case's placement, (controls below + ½ controls tied) / n, is read from the cumulative
    count of controls per value; the placements are averaged in the rows' order, as :func:`auc`
    does, so the result is the same bits.
    """
    codes = sample[:, 0].astype(np.intp)
    y = sample[:, 1].astype(int)
    case_codes, control_codes = codes[y == 1], codes[y == 0]
    if len(case_codes) == 0 or len(control_codes) == 0:
        raise ModelError("AUC needs both events and non-events among rows with a score")
    controls_at = np.bincount(control_codes, minlength=n_values)
    below = np.cumsum(controls_at) - controls_at
    v10 = (below[case_codes] + 0.5 * controls_at[case_codes]) / len(control_codes)
    return float(v10.mean())


def _youden_rows(sample: np.ndarray, direction: str) -> float:
    return youden_cutoff(sample[:, 0], sample[:, 1], direction=direction)["threshold"]


def _sens_spec(x: np.ndarray, y: np.ndarray, threshold: float, direction: str) -> tuple[float, float]:
    """Sensitivity and specificity of the cut-off (positive: ``x >= t`` for ``<``, ``x <= t`` for ``>``)."""
    pos = x >= threshold if direction == "<" else x <= threshold
    events = y == 1
    return float(pos[events].mean()), float((~pos[~events]).mean())


def _youden_optimism_rows(sample: np.ndarray, direction: str, full: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cut-off chosen in the resample; its sensitivity and specificity there and on the full data.

    ``sample`` holds the resampled rows with the score coded as the rank of its distinct value
    in ``values`` (:func:`_youden_of_value_codes`); ``full`` the original scores and outcomes.
    """
    best = _youden_of_value_codes(sample, direction, values)
    on_full = _sens_spec(full[:, 0], full[:, 1], best["threshold"], direction)
    return np.array([best["threshold"], best["sensitivity"], best["specificity"], *on_full])


#: The documented reading of each side of a published cut-off: the normal values.
PUBLISHED_SIDES = {
    "low": "at or above the cut-off is normal (below: under-activation)",
    "high": "at or below the cut-off is normal (above: over-activation)",
    "range": "inside the reference range is normal",
}


def _published_score(x: np.ndarray, value, side: str) -> tuple[np.ndarray, float, str]:
    """Score, threshold and direction label that make ``score >= threshold`` the normal reading."""
    if side == "low":
        return x, float(value), "<"
    if side == "high":
        return -x, -float(value), ">"
    if side == "range":
        low, high = value
        return ((x >= low) & (x <= high)).astype(float), 0.5, "inside"
    raise ValueError(f"published cut-off side must be one of {sorted(PUBLISHED_SIDES)}, got {side!r}")


def cutoff_table(
    data: pd.DataFrame,
    *,
    outcome: str,
    markers,
    published: dict | None = None,
    n_bootstrap: int = 500,
    seed: int = 0,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Data-driven (Youden) and published cut-offs of each marker, each scored for live birth.

    Parameters
    ----------
    data : DataFrame
    outcome : str
        0/1 outcome (live birth: the event a *normal* reading should predict).
    markers : sequence of str
    published : dict, optional
        Marker → list of ``(name, value, side)``: ``side`` ``"low"`` (value a number: at or
        above is normal), ``"high"`` (at or below is normal) or ``"range"`` (value a ``(low,
        high)`` pair: inside is normal). Scored in that documented direction whatever the data
        say, so a cut-off that works backwards shows a sensitivity + specificity below 1.
    n_bootstrap, seed : int
        Resamples of the Youden cut-off: its percentile CI and the optimism of its sensitivity
        and specificity (the cut-off chosen again in each resample).
    conf_level : float

    Returns
    -------
    DataFrame
        One row per cut-off: ``marker, source`` (``youden`` or the published name),
        ``threshold`` (missing for a range), ``threshold_low``/``threshold_high`` (Youden CI),
        ``range_low``/``range_high`` (a range's limits), ``direction`` (``<``: live birth more
        likely above; ``>``: below; ``inside``: inside the range), ``sensitivity, specificity,
        ppv, npv`` with Wilson limits, the 2×2 counts, for the Youden rows
        ``sensitivity_corrected`` and ``specificity_corrected`` (optimism-corrected) and
        ``n_failed_replicates``, and ``message`` when the marker cannot be analysed.
    """
    published = published or {}
    rows = []
    for marker in markers:
        frame = data[[marker, outcome]].apply(pd.to_numeric, errors="coerce").dropna()
        try:
            if frame.empty:
                raise ModelError(f"{marker} has no observed value")
            x, y = frame[marker].to_numpy(), frame[outcome].to_numpy()
            best = youden_cutoff(x, y, direction="auto")
            full = np.column_stack([x, y])
            finite = np.isfinite(full[:, 0])  # an infinite score is dropped in each resample, as youden_cutoff does
            values, finite_codes = np.unique(full[finite, 0], return_inverse=True)
            codes = np.full(len(full), -1)
            codes[finite] = finite_codes
            reps = bootstrap(  # the coded rows are resampled like the rows: the same resamples
                _youden_optimism_rows,
                np.column_stack([codes.astype(float), y]),
                n_boot=n_bootstrap,
                seed=seed,
                direction=best["direction"],
                full=full,
                values=values,
            )
            thresholds = reps[:, 0].copy()
            thresholds[~np.isfinite(thresholds)] = np.nan
            low, high = percentile_interval(thresholds, conf_level=conf_level)
            ok = np.isfinite(reps[:, 1:]).all(axis=1)
            optimism = (reps[ok, 1:3] - reps[ok, 3:5]).mean(axis=0) if ok.any() else np.full(2, np.nan)
            score = x if best["direction"] == "<" else -x
            t = best["threshold"] if best["direction"] == "<" else -best["threshold"]
            m = cutoff_metrics(score, y, t, conf_level=conf_level)
            m.update(
                marker=marker,
                source="youden",
                threshold=best["threshold"],
                threshold_low=low[0],
                threshold_high=high[0],
                direction=best["direction"],
                sensitivity_corrected=m["sensitivity"] - optimism[0],
                specificity_corrected=m["specificity"] - optimism[1],
                n_failed_replicates=int((~ok).sum()),
                message="",
            )
            rows.append(m)
            for name, value, side in published.get(marker, []):
                score, t, direction = _published_score(x, value, side)
                m = cutoff_metrics(score, y, t, conf_level=conf_level)
                m.update(
                    marker=marker,
                    source=name,
                    threshold=np.nan if side == "range" else float(value),
                    range_low=value[0] if side == "range" else np.nan,
                    range_high=value[1] if side == "range" else np.nan,
                    direction=direction,
                    message="",
                )
                rows.append(m)
        except ModelError as exc:
            rows.append({"marker": marker, "source": "youden", "message": str(exc)})
    cols = [
        "marker",
        "source",
        "threshold",
        "threshold_low",
        "threshold_high",
        "range_low",
        "range_high",
        "direction",
        "n_tp",
        "n_fp",
        "n_fn",
        "n_tn",
        "sensitivity",
        "sensitivity_low",
        "sensitivity_high",
        "specificity",
        "specificity_low",
        "specificity_high",
        "ppv",
        "ppv_low",
        "ppv_high",
        "npv",
        "npv_low",
        "npv_high",
        "sensitivity_corrected",
        "specificity_corrected",
        "n_failed_replicates",
        "message",
    ]
    return pd.DataFrame(rows).reindex(columns=cols)


def _lowess_on_grid(p: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """R's ``lowess(p, y, iter = 0)`` (span 2/3, delta 1 % of the range), read off at ``grid``."""
    delta = 0.01 * (p.max() - p.min())
    fitted = sm_lowess(y, p, frac=2 / 3, it=0, delta=delta, return_sorted=True)
    return np.interp(grid, fitted[:, 0], fitted[:, 1])


def _calibration_replicate(positions, *, x, y, grid):
    return _calibration_optimism(positions, _fit_coefficients(x[positions], y[positions]), x=x, y=y, grid=grid)


def _calibration_refitted_replicate(positions, b, *, x, y, grid, refits):
    """:func:`_calibration_replicate` with the coefficients of replicate ``b`` fitted before (``refits``)."""
    return _calibration_optimism(positions, refits.coefficients[b] if refits.fitted(b) else None, x=x, y=y, grid=grid)


def _calibration_optimism(positions, beta, *, x, y, grid):
    """The resample's lowess curve minus that of its coefficients on the original rows (NaN without coefficients)."""
    if beta is None:
        return np.full(len(grid), np.nan)
    in_sample = _lowess_on_grid(scipy.special.expit(x[positions] @ beta), y[positions], grid)
    on_full = _lowess_on_grid(scipy.special.expit(x @ beta), y, grid)
    return in_sample - on_full


def _fit_coefficients(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Maximum-likelihood logistic coefficients, or None when the design is rank-deficient or separated."""
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return None
    ones = np.ones(len(y))
    with np.errstate(all="ignore"):
        beta = binomial_irls(x, y, ones)
    return beta if certifies_no_separation(x, y, ones, beta) else None


def calibration_curve_corrected(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_points: int = 50,
    n_bootstrap: int = 200,
    seed: int = 0,
    n_jobs: int | None = 1,
    refits: BootstrapRefits | None = None,
) -> pd.DataFrame:
    r"""Apparent and optimism-corrected calibration curve of a logistic model, as ``rms::calibrate``.

    The model (design ``x``, outcome ``y``) is fitted; the apparent curve is the lowess smooth
    (``iter = 0``) of ``y`` on the predicted probability, read at ``n_points`` predicted
    probabilities evenly spaced between the 1st and 99th percentiles of the predictions. In each
    bootstrap resample the model is refitted and its curve computed in the resample and on the
    original rows; the optimism at each point is the mean difference, and
    :math:`	ext{corrected}(p) = 	ext{apparent}(p) - 	ext{optimism}(p)` (Harrell 2015,
    *Regression Modeling Strategies*, 2nd ed., §10.11).

    ``refits`` (:func:`bootstrap_refits` of ``x``, ``y`` with this ``seed`` and
    ``n_bootstrap``, its ``fit`` the one of :func:`_fit_coefficients`, as
    :meth:`analysis.methods.prognostic.LogisticRiskModel.fit_arrays`) gives the resamples'
    coefficients instead of fitting them again.

    Returns
    -------
    DataFrame
        ``predicted, apparent, optimism, corrected, n_bootstrap, n_failed_replicates``.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    beta = _fit_coefficients(x, y)
    if beta is None:
        raise ModelError("calibration curve: the model cannot be fitted (collinear design or separation)")
    p = scipy.special.expit(x @ beta)
    grid = np.linspace(*np.quantile(p, [0.01, 0.99]), n_points)
    apparent = _lowess_on_grid(p, y, grid)
    if refits is None:
        reps = bootstrap(
            _calibration_replicate, np.arange(len(y)), n_boot=n_bootstrap, seed=seed, n_jobs=n_jobs, x=x, y=y, grid=grid
        )
    elif refits.matches(n_bootstrap=n_bootstrap, seed=seed, n_rows=len(y)):
        reps = numbered_bootstrap(
            _calibration_refitted_replicate,
            len(y),
            n_boot=n_bootstrap,
            seed=seed,
            n_jobs=n_jobs,
            x=x,
            y=y,
            grid=grid,
            refits=refits,
        )
    else:
        raise ValueError("refits must be bootstrap_refits of these rows with this seed and n_bootstrap")
    failed = np.isnan(reps).any(axis=1)
    optimism = reps[~failed].mean(axis=0) if (~failed).any() else np.full(n_points, np.nan)
    return pd.DataFrame(
        {
            "predicted": grid,
            "apparent": apparent,
            "optimism": optimism,
            "corrected": apparent - optimism,
            "n_bootstrap": n_bootstrap,
            "n_failed_replicates": int(failed.sum()),
        }
    )
