"""The time-to-live-birth analyses of ``04_time_to_live_birth``, on top of :mod:`analysis.models.survival`.

Curves are tidy frames on the cumulative scale (1 − S, or the Aalen–Johansen cumulative
incidence), with groups labelled ``<column>=<level>`` so that one ``survival.csv`` holds them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.core.exceptions import ModelError
from analysis.methods.outcomes import ModelLog
from analysis.models import survival as surv
from analysis.models import tidy as tidy_models
from analysis.models.design import covariate_design, covariate_sources
from analysis.models.schema import SURVIVAL_COLUMNS

AT_RISK_TIMES = (0, 180, 365, 545, 730)
PH_ALPHA = 0.05


@dataclass(frozen=True)
class KaplanMeierCurves:
    """Kaplan–Meier cumulative live birth by each grouping column.

    Attributes
    ----------
    curves : dict of str to DataFrame
        Column → tidy curve (group, time_days, estimate, conf_low, conf_high, n_at_risk, n_events).
    at_risk : dict of str to DataFrame
        Column → numbers at risk (group, time_days, n_at_risk) at ``at_risk_times``.
    at_risk_times : list of float
        The times of the numbers-at-risk table.
    """

    curves: dict
    at_risk: dict
    at_risk_times: list


@dataclass(frozen=True)
class CoxWithPHCheck:
    """An adjusted Cox model with its proportional-hazards check.

    Attributes
    ----------
    estimates : DataFrame
        Tidy rows of every fitted model (adjusted, and stratified or time-split when needed).
    ph_test : DataFrame
        Scaled Schoenfeld residual test per covariate and globally (empty when no fit).
    decision : str
        What the check decided, for the reader.
    status : DataFrame
        The model log (one row per model).
    fit : object or None
        The main fitted model (:class:`analysis.models.survival.CoxFit`), None when it could not be fitted.
    design : DataFrame
        Complete-case design of the model (time_days, event and the dummy-coded terms).
    """

    estimates: pd.DataFrame
    ph_test: pd.DataFrame
    decision: str
    status: pd.DataFrame
    fit: object | None
    design: pd.DataFrame

    @property
    def arm_terms(self) -> list[str]:
        """The model's arm terms (``treatment_arm[...]``); empty when the model was not fitted."""
        if self.fit is None:
            return []
        return [t for t in self.design.columns if t.startswith("treatment_arm[")]


def _labelled(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    out = frame.copy()
    out["group"] = f"{by}=" + out["group"].astype(str)
    return out


def cumulative_live_birth_curves(
    ttlb: pd.DataFrame, *, by: list[str], conf_level: float = 0.95, at_risk_times=AT_RISK_TIMES
) -> KaplanMeierCurves:
    """Kaplan–Meier cumulative live birth (1 − S, Greenwood SE, log CI inverted) by each column of ``by``.

    Returns
    -------
    KaplanMeierCurves
        Curves and numbers at risk at ``at_risk_times``, one of each per column of ``by``.
    """
    curves, at_risk = {}, {}
    for col in by:
        data = ttlb[ttlb[col].notna()].copy()
        data[col] = data[col].astype(str)
        km = surv.kaplan_meier(data, duration_col="time_days", event_col="event", group_col=col, conf_level=conf_level)
        cum = surv.cumulative_incidence_from_km(km)
        curves[col] = cum
        at = surv.survival_at(km, list(at_risk_times))
        at_risk[col] = at[["group", "time_days", "n_at_risk"]].reset_index(drop=True)
    return KaplanMeierCurves(curves=curves, at_risk=at_risk, at_risk_times=list(at_risk_times))


def logrank_table(ttlb: pd.DataFrame, *, by: list[str]) -> pd.DataFrame:
    """Log-rank test of equal time to live birth across the levels of each column of ``by``."""
    rows = []
    for col in by:
        data = ttlb[ttlb[col].notna()].copy()
        data[col] = data[col].astype(str)
        res = surv.logrank_test(data, duration_col="time_days", event_col="event", group_col=col)
        rows.append(
            dict(
                comparison=f"by {col}",
                groups=data[col].nunique(),
                statistic=res["statistic"],
                df=res["df"],
                p_value=res["p_value"],
            )
        )
    return pd.DataFrame(rows)


def cox_design(ttlb: pd.DataFrame, *, covariates: list[str], reference_arm: str = "none") -> pd.DataFrame:
    """Complete cases of the Cox model's columns, with categoricals dummy-coded under plain names.

    The design is :func:`analysis.models.design.covariate_design` without intercept:
    ``treatment_arm`` uses ``reference_arm`` as reference, other categorical columns and their
    references follow the rule every model of the suite shares. Dummy columns are named
    ``column[level]``, as in the results contract.
    """
    cols = ["time_days", "event", "treatment_arm", *covariates]
    data = ttlb[cols].dropna().copy()
    out = data[["time_days", "event"]].astype(float)
    out["event"] = out["event"].astype(int)
    spec = dict(references={"treatment_arm": reference_arm}, intercept=False)
    x, names = covariate_design(data, ["treatment_arm", *covariates], **spec)
    design = pd.concat([out, pd.DataFrame(x, index=data.index, columns=names)], axis=1)
    design.attrs["sources"] = covariate_sources(data, ["treatment_arm", *covariates], **spec)
    return design


def fit_cox_with_ph_check(
    ttlb: pd.DataFrame,
    *,
    covariates: list[str],
    reference_arm: str = "none",
    conf_level: float = 0.95,
    notebook: str,
    model_id: str,
) -> CoxWithPHCheck:
    """Adjusted Cox model (Efron ties) of time to live birth, checked for proportional hazards.

    The scaled Schoenfeld residual test (R's ``cox.zph`` with the KM transform) is run per term
    and globally. Terms failing at ``p < 0.05``: a categorical adjustment covariate (e.g. centre)
    is moved into strata and the model refitted (``ttlb_cox_stratified``); a failing arm term or
    continuous covariate is reported, and the arm effect is also estimated separately before and
    after the median event time (``ttlb_cox_time_split``), so a reader sees how it changes.

    Parameters
    ----------
    ttlb : DataFrame
        One row per patient (:func:`analysis.methods.time_to_event.time_to_live_birth`).
    covariates : list of str
        Adjustment covariates.
    reference_arm : str
        Reference level of the arm.
    conf_level : float
        Confidence level of the intervals.
    notebook, model_id : str
        Written into the estimate and status rows of the main model.

    Returns
    -------
    CoxWithPHCheck
    """
    log = ModelLog(notebook)
    design = cox_design(ttlb, covariates=covariates, reference_arm=reference_arm)
    terms = [c for c in design.columns if c not in ("time_days", "event")]
    try:
        fit = surv.fit_cox(design, duration_col="time_days", event_col="event", covariates=terms)
    except ModelError as exc:
        log.failed(model_id, "live_birth", "patients", f"{model_id}: {exc}", n_obs=len(design))
        return CoxWithPHCheck(
            estimates=log.estimates_frame(),
            ph_test=pd.DataFrame(),
            decision=f"The Cox model could not be fitted: {exc}",
            status=log.status_frame(),
            fit=None,
            design=design,
        )
    log.ok(
        model_id,
        "live_birth",
        "patients",
        len(design),
        tidy_models.tidy_cox(
            fit,
            notebook=notebook,
            model_id=model_id,
            outcome="live_birth",
            population="patients",
            conf_level=conf_level,
        ),
    )
    groups: dict[str, list[str]] = {}
    sources = design.attrs["sources"]
    for t in terms:  # one test per covariate: a categorical's dummies are tested together
        groups.setdefault(sources[t], []).append(t)
    ph = surv.proportional_hazards_test(fit, design, terms=groups)
    failing = ph[(ph["term"] != "GLOBAL") & (ph["p_value"] < PH_ALPHA)]["term"].tolist()
    categorical = {src for src, cols in groups.items() if cols != [src]}
    decisions = []
    if not failing:
        decisions.append(f"No term fails the proportional-hazards test at p < {PH_ALPHA}; the adjusted model stands.")
    strat_sources = sorted(t for t in failing if t in categorical and t != "treatment_arm")
    if strat_sources:
        keep = [t for t in terms if sources[t] not in strat_sources]
        strat = design[["time_days", "event", *keep]].copy()
        for src in strat_sources:
            strat[src] = ttlb.loc[design.index, src].astype(str)
        try:
            sfit = surv.fit_cox(
                strat, duration_col="time_days", event_col="event", covariates=keep, strata=strat_sources
            )
            log.ok(
                "ttlb_cox_stratified",
                "live_birth",
                "patients",
                len(strat),
                tidy_models.tidy_cox(
                    sfit,
                    notebook=notebook,
                    model_id="ttlb_cox_stratified",
                    outcome="live_birth",
                    population="patients",
                    conf_level=conf_level,
                ),
            )
            decisions.append(
                f"{', '.join(strat_sources)} fail(s) the test: refitted stratified by "
                f"{', '.join(strat_sources)} (model ttlb_cox_stratified)."
            )
        except ModelError as exc:
            log.failed("ttlb_cox_stratified", "live_birth", "patients", str(exc), n_obs=len(strat))
    split_terms = [t for t in failing if t not in strat_sources]
    if split_terms:
        decisions.append(
            f"{', '.join(split_terms)} fail(s) the test: the arm effect is also shown before "
            "and after the median event time (model ttlb_cox_time_split)."
        )
        _fit_time_split(log, design, terms, notebook=notebook, conf_level=conf_level)
    return CoxWithPHCheck(
        estimates=log.estimates_frame(),
        ph_test=ph,
        decision=" ".join(decisions),
        status=log.status_frame(),
        fit=fit,
        design=design,
    )


def _fit_time_split(log: ModelLog, design: pd.DataFrame, terms: list[str], *, notebook: str, conf_level: float) -> None:
    """Episode split at the median event time: arm terms get an early and a late coefficient.

    Fitted by :func:`analysis.models.survival.cox_counting_process_fit` (R's ``coxph(Surv(start,
    stop, event) ~ ., ties = "efron")``).
    """
    tau = float(design.loc[design["event"] == 1, "time_days"].median())
    arm_terms = [t for t in terms if t.startswith("treatment_arm[")]
    early = design.copy()
    early["start"] = 0.0
    early["stop"] = np.minimum(design["time_days"], tau)
    early["event"] = np.where(design["time_days"] <= tau, design["event"], 0)
    late = design[design["time_days"] > tau].copy()
    late["start"] = tau
    late["stop"] = late["time_days"]
    long = pd.concat([early, late], keys=["early", "late"], names=["period", None]).reset_index(level=0)
    for t in arm_terms:
        for period in ("early", "late"):
            long[f"{t} | days {'<=' if period == 'early' else '>'} {tau:g}"] = long[t] * (long["period"] == period)
    cols = [c for c in long.columns if c not in terms + ["time_days", "start", "stop", "event", "period"]]
    cols += [t for t in terms if t not in arm_terms]
    stop, event = long["stop"].to_numpy(float), long["event"].to_numpy(float)
    try:
        solved = surv.cox_counting_process_fit(
            long[cols].to_numpy(float), start=long["start"].to_numpy(float), stop=stop, event=event
        )
    except ModelError as exc:
        log.failed("ttlb_cox_time_split", "live_birth", "patients", f"time-split Cox did not converge: {exc}")
        return
    fit = surv.CoxFit(solved, names=cols, index=long.index, durations=stop, event_observed=event)
    rows = tidy_models.tidy_cox(
        fit,
        notebook=notebook,
        model_id="ttlb_cox_time_split",
        outcome="live_birth",
        population="patients",
        conf_level=conf_level,
    )
    log.ok(
        "ttlb_cox_time_split",
        "live_birth",
        "patients",
        len(design),
        rows,
        message=f"episodes split at the median event time, {tau:g} days",
    )


def schoenfeld_residuals(cox: CoxWithPHCheck, *, term: str) -> pd.DataFrame:
    """Scaled Schoenfeld residuals of one term against time (columns time, residual)."""
    fit, design = cox.fit, cox.design
    res = fit.compute_residuals(design, kind="scaled_schoenfeld")
    times = design.loc[res.index, "time_days"]
    return pd.DataFrame({"time": times.to_numpy(), "residual": res[term].to_numpy()})


def competing_risk_curves(ttlb: pd.DataFrame, *, by: str, conf_level: float = 0.95) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence of live birth with drop-out as the competing event."""
    data = ttlb[ttlb[by].notna()].copy()
    data[by] = data[by].astype(str)
    aj = surv.aalen_johansen(
        data, duration_col="time_days", event_col="status", event_of_interest=1, group_col=by, conf_level=conf_level
    )
    return aj


def curves_at(curves: pd.DataFrame, times: list[float]) -> pd.DataFrame:
    """Value of each group's step curve at the given times (last value at or before each time)."""
    rows = []
    for group, g in curves.sort_values("time_days").groupby("group", sort=True):
        idx = np.searchsorted(g["time_days"].to_numpy(), times, side="right") - 1
        for t, i in zip(times, idx):
            r = g.iloc[i] if i >= 0 else None
            rows.append(
                dict(
                    group=group,
                    time_days=t,
                    estimate=0.0 if r is None else r["estimate"],
                    conf_low=np.nan if r is None else r["conf_low"],
                    conf_high=np.nan if r is None else r["conf_high"],
                )
            )
    return pd.DataFrame(rows)


def survival_table(km: KaplanMeierCurves, aj: pd.DataFrame, *, aj_by: str = "treatment_arm") -> pd.DataFrame:
    """All curves in the results contract's ``survival.csv`` form (group labelled by method and column)."""
    frames = [_labelled(c, f"km:{col}") for col, c in km.curves.items()]
    frames.append(_labelled(aj, f"aalen_johansen:{aj_by}"))
    out = pd.concat(frames, ignore_index=True)
    return out.reindex(columns=SURVIVAL_COLUMNS)
