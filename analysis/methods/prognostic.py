r"""Prognostic value of immune markers: ORs per SD and per doubling, splines, model comparison.

- **Per SD / per doubling**: logistic regression of the outcome on the marker divided by its
  SD, and on :math:`\log_2` of the marker (positive markers only).
- **Restricted cubic splines** with Harrell's knots (R's ``Hmisc::rcspline.eval``: quantiles
  .05, .35, .65, .95 for 4 knots; .10, .50, .90 for 3; basis normalised by
  :math:`(t_k - t_1)^2`); non-linearity tested by the likelihood ratio of the spline model
  against the linear one. The fitted OR curve is relative to the marker's median, with delta-
  method Wald limits.
- **Model comparison**: clinical covariates alone, + endometrial markers, + blood markers, on
  the same complete rows: AUC with DeLong CIs. A marker set *added* to the clinical model is
  tested by the likelihood ratio, and its gain in AUC is estimated with a bootstrap CI and
  corrected for optimism; the DeLong test is not used for such nested models, where its
  statistic is not normal under the null and the test is far too conservative (Demler, Pencina
  & D'Agostino 2012, Stat Med 31:2577; Pepe, Kerr, Longton & Wang 2013, Stat Med 32:1467). The
  paired DeLong test stays for the one non-nested pair (endometrial vs blood markers).
- **Shape** (:func:`marker_shape_table`): the hypothesis is U-shaped (too low and too high are
  both harmful, so live birth peaks inside the range). Tested by the likelihood ratio of the
  spline against the linear model, by the quadratic term (Lind & Mehlum 2010, Oxf Bull Econ Stat
  72:109), and by the two-lines test (Simonsohn 2018, Adv Methods Pract Psychol Sci 1:538): two
  logistic slopes that meet at the spline's peak; an inverted U needs a significantly positive
  slope below the peak and a significantly negative one above it.
A marker that cannot be analysed (no value, one value, too few events for a spline) gets a
sentence in the ``message`` column; the others go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.core.exceptions import ModelError
from analysis.core.intervals import z_value
from analysis.methods.discrimination import auc, auc_bootstrap_ci, auc_delong, delong_test
from analysis.methods.resampling import bootstrap, percentile_interval
from analysis.models import design as model_design
from analysis.models.logistic import (
    binomial_design,
    binomial_irls,
    certifies_no_separation,
    fit_logit,
    likelihood_ratio_test,
)
from analysis.models.tidy import estimate_rows

__all__ = [
    "LogisticRiskModel",
    "MarkerModelComparison",
    "compare_marker_models",
    "marker_shape_table",
    "prognostic_table",
    "rcs_basis",
    "rcs_knots",
    "spline_or_curve",
]

MIN_EVENTS_PER_SPLINE_DF = 10


def rcs_knots(x, nk: int = 4) -> np.ndarray:
    """Harrell's default knot positions (``Hmisc::rcspline.eval``, ``nk`` from 3 to 7)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    outer = {3: 0.10, 4: 0.05, 5: 0.05, 6: 0.05, 7: 0.025}[nk]
    knots = np.quantile(x, np.linspace(outer, 1 - outer, nk))
    if len(np.unique(knots)) < nk:
        raise ModelError(f"too few distinct values for {nk} spline knots")
    return knots


def rcs_basis(x, knots) -> np.ndarray:
    """Restricted cubic spline basis: ``x`` and ``len(knots) - 2`` non-linear columns."""
    x = np.asarray(x, dtype=float)
    t = np.asarray(knots, dtype=float)
    k = len(t)
    norm = (t[-1] - t[0]) ** 2
    cols = [x]
    for j in range(k - 2):
        col = (
            np.maximum(x - t[j], 0) ** 3
            - np.maximum(x - t[k - 2], 0) ** 3 * (t[k - 1] - t[j]) / (t[k - 1] - t[k - 2])
            + np.maximum(x - t[k - 1], 0) ** 3 * (t[k - 2] - t[j]) / (t[k - 1] - t[k - 2])
        )
        cols.append(col / norm)
    return np.column_stack(cols)


def _marker_rows(data: pd.DataFrame, marker: str, outcome: str, covariates: Sequence[str]) -> pd.DataFrame:
    if marker not in data or data[marker].notna().sum() == 0:
        raise ModelError(f"{marker} has no observed value")
    rows = model_design.model_frame(data, [outcome, marker, *covariates])
    if rows[marker].nunique() < 2:
        raise ModelError(
            f"{marker} is constant ({rows[marker].iloc[0]:g}) among the {len(rows)} rows: no association can be estimated"
        )
    return rows


def _logit(rows, outcome, extra: pd.DataFrame, covariates):
    frame = pd.concat([rows.reset_index(drop=True), extra.reset_index(drop=True)], axis=1)
    rhs = " + ".join(list(extra.columns) + [model_design.term(c, rows) for c in covariates]) or "1"
    return fit_logit(frame, f"{outcome} ~ {rhs}")


def spline_or_curve(
    data: pd.DataFrame,
    marker: str,
    *,
    outcome: str = "live_birth",
    covariates: Sequence[str] = (),
    nk: int = 4,
    n_points: int = 50,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """OR of the outcome along the marker (spline model) relative to the marker's median, with CI band."""
    rows = _marker_rows(data, marker, outcome, covariates)
    events = int(rows[outcome].sum())
    if min(events, len(rows) - events) < MIN_EVENTS_PER_SPLINE_DF * (nk - 1):
        raise ModelError(
            f"{marker}: {min(events, len(rows) - events)} events or non-events are too few for a "
            f"{nk}-knot spline ({MIN_EVENTS_PER_SPLINE_DF} per degree of freedom needed)"
        )
    knots = rcs_knots(rows[marker], nk)
    names = [f"s{i}" for i in range(nk - 1)]
    fit = _logit(rows, outcome, pd.DataFrame(rcs_basis(rows[marker], knots), columns=names), covariates)
    grid = np.linspace(*np.quantile(rows[marker], [0.02, 0.98]), n_points)
    ref = float(np.median(rows[marker]))
    diff = rcs_basis(grid, knots) - rcs_basis(np.array([ref]), knots)
    beta = fit.params[names].to_numpy()
    cov = fit.cov_params().loc[names, names].to_numpy()
    lp = diff @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", diff, cov, diff))
    z = z_value(conf_level)
    return pd.DataFrame(
        {
            "marker": marker,
            "value": grid,
            "reference_value": ref,
            "odds_ratio": np.exp(lp),
            "conf_low": np.exp(lp - z * se),
            "conf_high": np.exp(lp + z * se),
        }
    )


def prognostic_table(
    data: pd.DataFrame,
    markers: Sequence[str],
    *,
    outcome: str = "live_birth",
    covariates: Sequence[str] = (),
    nk: int = 4,
    n_bootstrap: int = 500,
    seed: int = 0,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """One row per marker: ORs per SD and per doubling, AUC, spline non-linearity test, or why not.

    Columns: ``marker, n, n_events, or_per_sd, or_per_sd_low, or_per_sd_high, p_per_sd,
    or_per_doubling (…), auc, auc_low, auc_high`` (percentile bootstrap), ``auc_delong_low,
    auc_delong_high``, ``lr_linear_vs_null`` and ``lr_spline_vs_null`` (χ² against no marker),
    ``rank_statistic`` (the spline χ² where a spline can be fitted, else the linear one: markers
    are ranked by it), ``p_nonlinear``, ``message``. Rows are in the order of ``markers``.
    """
    z = z_value(conf_level)
    out = []
    for marker in markers:
        row = {"marker": marker, "message": ""}
        try:
            rows = _marker_rows(data, marker, outcome, covariates)
            y = rows[outcome].to_numpy(dtype=float)
            x = rows[marker].to_numpy(dtype=float)
            row.update(n=len(rows), n_events=int(y.sum()))
            per_sd = _logit(rows, outcome, pd.DataFrame({"per_sd": x / x.std(ddof=1)}), covariates)
            b, se = per_sd.params["per_sd"], per_sd.bse["per_sd"]
            row.update(
                or_per_sd=np.exp(b),
                or_per_sd_low=np.exp(b - z * se),
                or_per_sd_high=np.exp(b + z * se),
                p_per_sd=float(per_sd.pvalues["per_sd"]),
            )
            if (x > 0).all():
                per_doubling = _logit(rows, outcome, pd.DataFrame({"log2": np.log2(x)}), covariates)
                b, se = per_doubling.params["log2"], per_doubling.bse["log2"]
                row.update(
                    or_per_doubling=np.exp(b),
                    or_per_doubling_low=np.exp(b - z * se),
                    or_per_doubling_high=np.exp(b + z * se),
                    p_per_doubling=float(per_doubling.pvalues["log2"]),
                )
            null = _logit(rows, outcome, pd.DataFrame(index=range(len(rows))), covariates)
            row["lr_linear_vs_null"] = likelihood_ratio_test(per_sd, null)["statistic"]
            row["rank_statistic"] = row["lr_linear_vs_null"]
            a = auc_delong(x, y, conf_level=conf_level)
            low, high = auc_bootstrap_ci(x, y, n_bootstrap=n_bootstrap, seed=seed, conf_level=conf_level)
            row.update(
                auc=a["auc"], auc_low=low, auc_high=high, auc_delong_low=a["conf_low"], auc_delong_high=a["conf_high"]
            )
            try:
                spline_or_curve(rows, marker, outcome=outcome, covariates=covariates, nk=nk)  # events check
                knots = rcs_knots(x, nk)
                names = [f"s{i}" for i in range(nk - 1)]
                spline = _logit(rows, outcome, pd.DataFrame(rcs_basis(x, knots), columns=names), covariates)
                row["lr_spline_vs_null"] = likelihood_ratio_test(spline, null)["statistic"]
                row["rank_statistic"] = row["lr_spline_vs_null"]
                row["p_nonlinear"] = likelihood_ratio_test(spline, per_sd)["p_value"]
            except ModelError as exc:
                row["message"] = f"spline: {exc}"
        except ModelError as exc:
            row["message"] = str(exc)
        out.append(row)
    return pd.DataFrame(out)


COMPARISON_TEST_COLUMNS = [
    "comparison",
    "test",
    "estimate",
    "conf_low",
    "conf_high",
    "apparent",
    "optimism",
    "statistic",
    "df",
    "p_value",
    "n_bootstrap",
    "n_failed_replicates",
]


def _design(rows, outcome, columns) -> np.ndarray:
    f = f"{outcome} ~ " + (" + ".join(model_design.term(c, rows) for c in columns) or "1")
    checked = binomial_design(rows, f)
    if len(checked["frame"]) != len(rows):
        raise ModelError("model comparison needs complete rows of every model's variables")
    return checked["design"].to_numpy(dtype=float)


def _auc_gain_replicate(positions, *, designs, pairs, y):
    """In-resample and on-original AUC gain of each pair; a model shared by pairs is fitted once per resample."""
    models = list(dict.fromkeys(m for pair in pairs for m in pair))
    betas = {m: LogisticRiskModel.fit_arrays(designs[m][positions], y[positions]) for m in models}
    if any(b is None for b in betas.values()):
        return None
    y_in = y[positions]
    in_sample, on_full = {}, {}
    for m in models:
        lin = designs[m] @ betas[m]
        in_sample[m], on_full[m] = auc(lin[positions], y_in), auc(lin, y)
    out = []
    for big, small in pairs:
        out += [in_sample[big] - in_sample[small], on_full[big] - on_full[small]]
    return np.array(out)


def _auc_gains(rows, outcome, models, pairs, *, n_bootstrap, seed, n_jobs, conf_level=0.95) -> list[dict]:
    """Apparent, optimism-corrected AUC gain of each (bigger, smaller) model pair, with bootstrap CIs."""
    y = rows[outcome].to_numpy(dtype=float)
    designs = {m: _design(rows, outcome, cols) for m, cols in models.items()}
    reps = bootstrap(
        _safe_gain_replicate,
        np.arange(len(y)),
        n_boot=n_bootstrap,
        seed=seed,
        n_jobs=n_jobs,
        designs=designs,
        pairs=pairs,
        y=y,
    )
    ok = np.isfinite(reps).all(axis=1)
    out = []
    for k, (big, small) in enumerate(pairs):
        apparent = auc(designs[big] @ _coef(designs[big], y), y) - auc(designs[small] @ _coef(designs[small], y), y)
        in_sample, on_full = reps[ok, 2 * k], reps[ok, 2 * k + 1]
        optimism = float(np.mean(in_sample - on_full)) if ok.any() else np.nan
        low, high = percentile_interval(in_sample[:, None], conf_level=conf_level) if ok.any() else ([np.nan], [np.nan])
        out.append(
            {
                "apparent": apparent,
                "optimism": optimism,
                "corrected": apparent - optimism,
                "conf_low": float(low[0]) - optimism,
                "conf_high": float(high[0]) - optimism,
                "n_failed_replicates": int((~ok).sum()),
            }
        )
    return out


def _safe_gain_replicate(positions, **kwargs):
    out = _auc_gain_replicate(positions, **kwargs)
    return np.full(2 * len(kwargs["pairs"]), np.nan) if out is None else out


def _coef(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    beta = LogisticRiskModel.fit_arrays(x, y)
    if beta is None:
        raise ModelError("model comparison: a model cannot be fitted on the complete rows (collinear or separated)")
    return beta


def _fit_and_predict(rows, outcome, columns):
    f = f"{outcome} ~ " + (" + ".join(model_design.term(c, rows) for c in columns) or "1")
    fit = fit_logit(rows, f)
    return fit, np.asarray(fit.fittedvalues, dtype=float)


@dataclass(frozen=True)
class MarkerModelComparison:
    """Clinical model vs + endometrial markers vs + blood markers, on the same complete rows.

    Attributes
    ----------
    discrimination : DataFrame
        model, n, n_events, auc, conf_low, conf_high (DeLong).
    tests : DataFrame
        :data:`COMPARISON_TEST_COLUMNS`: for each nested pair the likelihood-ratio test and the
        optimism-corrected AUC gain (bootstrap interval, apparent gain, optimism); for the
        non-nested pair the paired DeLong test.
    predictions : dict of str to ndarray
        Model name → fitted probabilities of the complete rows.
    y : ndarray
        The 0/1 outcome of those rows.
    """

    discrimination: pd.DataFrame
    tests: pd.DataFrame
    predictions: dict
    y: np.ndarray

    def aucs(self) -> dict[str, float]:
        """Model name → AUC."""
        return dict(zip(self.discrimination["model"], self.discrimination["auc"]))


def compare_marker_models(
    data: pd.DataFrame,
    *,
    outcome: str = "live_birth",
    clinical: Sequence[str],
    endometrial: Sequence[str],
    blood: Sequence[str],
    conf_level: float = 0.95,
    n_bootstrap: int = 200,
    seed: int = 0,
    n_jobs: int | None = 1,
) -> MarkerModelComparison:
    """Clinical model vs + endometrial markers vs + blood markers, on the same complete rows.

    Each marker set added to the clinical model: likelihood-ratio test, and the gain in AUC
    with the optimism of both models' fits removed (Harrell's bootstrap: each resample refits
    both models; optimism = mean of gain in the resample − gain of the resample's models on the
    original rows). Its interval is the percentile interval of the resamples' own gains, shifted
    by the optimism (the bootstrap gives no interval for the corrected value itself).

    Parameters
    ----------
    data : DataFrame
    outcome : str
    clinical, endometrial, blood : sequence of str
        The clinical covariates and the two marker sets.
    conf_level : float
    n_bootstrap, seed, n_jobs : int
        Resamples of the AUC gains.

    Returns
    -------
    MarkerModelComparison
    """
    rows = model_design.model_frame(data, [outcome, *clinical, *endometrial, *blood])
    if rows.empty:
        raise ModelError("no patient has every clinical covariate and marker")
    y = rows[outcome].to_numpy(dtype=float)
    models = {
        "clinical": list(clinical),
        "clinical + endometrial markers": [*clinical, *endometrial],
        "clinical + blood markers": [*clinical, *blood],
    }
    fits, preds, disc = {}, {}, []
    for name, cols in models.items():
        fits[name], preds[name] = _fit_and_predict(rows, outcome, cols)
        a = auc_delong(preds[name], y, conf_level=conf_level)
        disc.append(
            {
                "model": name,
                "n": len(rows),
                "n_events": int(y.sum()),
                "auc": a["auc"],
                "conf_low": a["conf_low"],
                "conf_high": a["conf_high"],
            }
        )
    tests = []
    nested = [("clinical + endometrial markers", "clinical"), ("clinical + blood markers", "clinical")]
    gains = _auc_gains(
        rows, outcome, models, nested, n_bootstrap=n_bootstrap, seed=seed, n_jobs=n_jobs, conf_level=conf_level
    )
    for (big, small), gain in zip(nested, gains):
        lr = likelihood_ratio_test(fits[big], fits[small])
        tests.append(
            {
                "comparison": f"{big} vs {small}",
                "test": "likelihood ratio",
                "estimate": np.nan,
                "statistic": lr["statistic"],
                "df": lr["df"],
                "p_value": lr["p_value"],
            }
        )
        tests.append(
            {
                "comparison": f"{big} vs {small}",
                "test": "AUC gain, optimism-corrected (bootstrap)",
                "estimate": gain["corrected"],
                "statistic": np.nan,
                "df": np.nan,
                "p_value": np.nan,
                "conf_low": gain["conf_low"],
                "conf_high": gain["conf_high"],
                "apparent": gain["apparent"],
                "optimism": gain["optimism"],
                "n_bootstrap": n_bootstrap,
                "n_failed_replicates": gain["n_failed_replicates"],
            }
        )
    a_name, b_name = "clinical + endometrial markers", "clinical + blood markers"
    d = delong_test(preds[a_name], preds[b_name], y)
    tests.append(
        {
            "comparison": f"{a_name} vs {b_name}",
            "test": "DeLong AUC difference (non-nested)",
            "estimate": d["difference"],
            "statistic": d["statistic"],
            "df": np.nan,
            "p_value": d["p_value"],
        }
    )
    tests = pd.DataFrame(tests).reindex(columns=COMPARISON_TEST_COLUMNS)
    return MarkerModelComparison(discrimination=pd.DataFrame(disc), tests=tests, predictions=preds, y=y)


class LogisticRiskModel:
    """Picklable model refitted in each bootstrap resample: ``LogisticRiskModel(formula)(frame)``
    fits the formula and returns a function giving predicted probabilities for new rows."""

    def __init__(self, formula: str):
        self.formula = formula

    def __call__(self, frame: pd.DataFrame):
        fit = fit_logit(frame, self.formula)
        return lambda new: np.asarray(fit.predict(new), dtype=float)

    def arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Design matrix and 0/1 outcome of ``frame`` (complete rows), built once for resampling."""

        checked = binomial_design(frame, self.formula)
        if len(checked["frame"]) != len(frame):
            raise ModelError("LogisticRiskModel.arrays needs complete rows of the formula's variables")
        return checked["design"].to_numpy(dtype=float), checked["successes"]

    @staticmethod
    def fit_arrays(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """Maximum-likelihood coefficients on rows of a design, or None when not shown estimable.

        None (the caller then refits through :func:`fit_logit`, whose checks decide) when a
        design column is constant or collinear in these rows, or when the fit cannot be
        certified free of separation.
        """

        if np.linalg.matrix_rank(x) < x.shape[1]:
            return None
        ones = np.ones(len(y))
        with np.errstate(all="ignore"):
            beta = binomial_irls(x, y, ones)
        return beta if certifies_no_separation(x, y, ones, beta) else None


def per_sd_estimates(
    table: pd.DataFrame, *, outcome: str = "live_birth", conf_level: float = 0.95, notebook: str
) -> pd.DataFrame:
    """Contract rows (model ``lb_untreated_marker_per_sd``, one term per marker) from :func:`prognostic_table`."""

    ok = table[pd.to_numeric(table.get("or_per_sd"), errors="coerce").notna()]
    z = z_value(conf_level)
    coef = np.log(ok["or_per_sd"].astype(float))
    se = (np.log(ok["or_per_sd_high"].astype(float)) - np.log(ok["or_per_sd_low"].astype(float))) / (2 * z)
    return estimate_rows(
        ok["marker"] + " (per SD)",
        coef,
        se,
        estimate=ok["or_per_sd"].astype(float),
        conf_low=ok["or_per_sd_low"].astype(float),
        conf_high=ok["or_per_sd_high"].astype(float),
        p_value=ok["p_per_sd"].astype(float),
        notebook=notebook,
        model_id="lb_untreated_marker_per_sd",
        outcome=outcome,
        population="first_transfer_untreated",
        estimator="logit",
        n_obs=ok["n"],
        n_events=ok["n_events"],
    )


def marker_shape_table(
    data: pd.DataFrame,
    markers: Sequence[str],
    *,
    outcome: str = "live_birth",
    covariates: Sequence[str] = (),
    nk: int = 4,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    r"""One row per marker: is the marker–outcome curve an inverted U (live birth peaking inside the range)?

    Three views of the same question:

    - ``p_nonlinear``: likelihood ratio of the ``nk``-knot restricted cubic spline against the
      linear term (any departure from a straight line on the logit scale);
    - ``quadratic`` (Lind & Mehlum 2010): logistic model with :math:`z` and :math:`z^2`,
      :math:`z` the standardised marker; ``quadratic_coef`` < 0 bends downwards. A quadratic
      term alone cannot tell a U from a curve that only flattens (Simonsohn 2018), hence:
    - ``two lines`` (Simonsohn 2018): the breakpoint :math:`x_c` is where the spline's fitted
      log-odds peak (searched between the 5th and 95th percentiles); the model
      :math:`\operatorname{logit} p = a + b_1 (x - x_c)1\{x < x_c\} + b_2 (x - x_c)1\{x \ge x_c\}
      + c\,1\{x \ge x_c\}` (plus ``covariates``) gives one slope on each side. ``inverted_u`` is
      true when the peak is interior and :math:`b_1 > 0`, :math:`b_2 < 0`, both with Wald
      p-values below :math:`1 -` ``conf_level``.

    Returns
    -------
    DataFrame
        ``marker, n, n_events, p_nonlinear, quadratic_coef, quadratic_low, quadratic_high,
        p_quadratic, breakpoint, interior_peak, slope_below, p_slope_below, slope_above,
        p_slope_above, inverted_u, message``; a marker that cannot be analysed gets only a
        ``message``.
    """
    z_crit = z_value(conf_level)
    alpha = 1 - conf_level
    out = []
    for marker in markers:
        row = {"marker": marker, "message": ""}
        try:
            rows = _marker_rows(data, marker, outcome, covariates)
            x = rows[marker].to_numpy(dtype=float)
            row.update(n=len(rows), n_events=int(rows[outcome].sum()))
            spline_or_curve(rows, marker, outcome=outcome, covariates=covariates, nk=nk)  # events check
            z = (x - x.mean()) / x.std(ddof=1)
            linear = _logit(rows, outcome, pd.DataFrame({"z": z}), covariates)
            quad = _logit(rows, outcome, pd.DataFrame({"z": z, "z2": z**2}), covariates)
            b, se = quad.params["z2"], quad.bse["z2"]
            knots = rcs_knots(x, nk)
            names = [f"s{i}" for i in range(nk - 1)]
            spline = _logit(rows, outcome, pd.DataFrame(rcs_basis(x, knots), columns=names), covariates)
            grid = np.linspace(*np.quantile(x, [0.05, 0.95]), 200)
            lp = rcs_basis(grid, knots) @ spline.params[names].to_numpy()
            peak = int(np.argmax(lp))
            xc = float(grid[peak])
            above = (x >= xc).astype(float)
            lines = pd.DataFrame({"below": (x - xc) * (1 - above), "above": (x - xc) * above, "upper": above})
            two = _logit(rows, outcome, lines, covariates)
            b1, b2 = float(two.params["below"]), float(two.params["above"])
            p1, p2 = float(two.pvalues["below"]), float(two.pvalues["above"])
            interior = 0 < peak < len(grid) - 1
            row.update(
                p_nonlinear=likelihood_ratio_test(spline, linear)["p_value"],
                quadratic_coef=float(b),
                quadratic_low=float(b - z_crit * se),
                quadratic_high=float(b + z_crit * se),
                p_quadratic=float(quad.pvalues["z2"]),
                breakpoint=xc,
                interior_peak=bool(interior),
                slope_below=b1,
                p_slope_below=p1,
                slope_above=b2,
                p_slope_above=p2,
                inverted_u=bool(interior and b1 > 0 and b2 < 0 and p1 < alpha and p2 < alpha),
            )
        except ModelError as exc:
            row["message"] = str(exc)
        out.append(row)
    cols = [
        "marker",
        "n",
        "n_events",
        "p_nonlinear",
        "quadratic_coef",
        "quadratic_low",
        "quadratic_high",
        "p_quadratic",
        "breakpoint",
        "interior_peak",
        "slope_below",
        "p_slope_below",
        "slope_above",
        "p_slope_above",
        "inverted_u",
        "message",
    ]
    return pd.DataFrame(out).reindex(columns=cols)
