"""The outcome models of the study, as named model specifications with stable ids.

Each ``fit_*`` function fits one family of the analysis plan's models and returns tidy rows for
``tables/estimates.csv`` (via :mod:`analysis.models.tidy`). Models that cannot be fitted (no
events, separation, a covariate with one level, non-convergence) do not stop the notebook:
:class:`ModelLog` records their status and message for the reader and for
``tables/model_status.csv``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.core.exceptions import ModelError
from analysis.data.cohort import analysis_population

# formula, model_frame and term are named here too: the notebooks call them as outcomes.*
from analysis.data.contract import CATEGORICALS
from analysis.models import design as model_design
from analysis.models import gee as gee_models
from analysis.models import logistic
from analysis.models import tidy as tidy_models
from analysis.models.design import formula, interaction_term, level_term, model_frame, term  # noqa: F401
from analysis.models.schema import conform_estimates, empty_estimates

STATUS_COLUMNS = ["notebook", "model_id", "outcome", "population", "status", "n_obs", "message"]


@dataclass
class ModelLog:
    """Collects tidy estimates and the status of every model a notebook fits."""

    notebook: str
    estimates: list[pd.DataFrame] = field(default_factory=list)
    status: list[dict] = field(default_factory=list)

    def ok(self, model_id, outcome, population, n_obs, rows: pd.DataFrame, message=""):
        self.estimates.append(rows)
        self.status.append(
            dict(
                notebook=self.notebook,
                model_id=model_id,
                outcome=outcome,
                population=population,
                status="ok",
                n_obs=int(n_obs),
                message=message,
            )
        )

    def failed(self, model_id, outcome, population, message, n_obs=0):
        self.status.append(
            dict(
                notebook=self.notebook,
                model_id=model_id,
                outcome=outcome,
                population=population,
                status="not estimable",
                n_obs=int(n_obs),
                message=str(message),
            )
        )

    def run(self, model_id, outcome, population, n_obs, estimate: Callable[[], pd.DataFrame]):
        """Call ``estimate()`` and log its rows as ``ok``, or its :class:`ModelError` as not estimable.

        Returns the rows, or None when the model could not be estimated (the reason is in the
        status table, and the notebook goes on).
        """
        try:
            rows = estimate()
        except ModelError as exc:
            self.failed(model_id, outcome, population, f"{model_id}: {exc}", n_obs=n_obs)
            return None
        self.ok(model_id, outcome, population, n_obs, rows)
        return rows

    def record(self, rows: pd.DataFrame, outcome, population, n_obs=None):
        """Log contract rows that hold several models (one ``ok`` status per model id)."""
        for model_id, part in rows.groupby("model_id", sort=False):
            self.ok(
                model_id,
                outcome,
                part["population"].iloc[0] if "population" in part else population,
                int(part["n_obs"].max()) if n_obs is None else n_obs,
                part,
            )

    def estimates_frame(self) -> pd.DataFrame:
        frames = [f for f in self.estimates if len(f)]
        return conform_estimates(pd.concat(frames, ignore_index=True)) if frames else empty_estimates()

    def status_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.status, columns=STATUS_COLUMNS)


def fit_logit_model(
    log: ModelLog,
    data: pd.DataFrame,
    *,
    model_id: str,
    outcome: str,
    population: str,
    exposures: list[str],
    covariates: list[str],
    conf_level: float = 0.95,
    references: dict | None = None,
    estimator: str = "logit",
):
    """Fit one logistic model, record its tidy rows in ``log`` and return the fit (or None)."""
    coded = model_design.coded_design(data, outcome, exposures, covariates, references)
    fit = None if coded is None else logistic.fit_logit_coded(data, coded)
    if fit is not None:  # the usual case: coded once from the categorical codes, checked once
        f = formula(outcome, exposures, covariates, data, coded.references)
    else:  # a check failed or the specification needs patsy: the full route says why
        needed = [outcome] + [p.strip() for e in exposures for p in e.replace("*", ":").split(":")] + covariates
        frame = model_frame(data, needed)
        f = formula(outcome, exposures, covariates, frame, references)
        try:
            fit = logistic.fit_logit(frame, f)
        except ModelError as exc:
            log.failed(model_id, outcome, population, f"{model_id}: {exc}", n_obs=len(frame))
            return None
    rows = tidy_models.tidy_glm(
        fit,
        notebook=log.notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator=estimator,
        conf_level=conf_level,
    )
    log.ok(model_id, outcome, population, fit.nobs, rows, message=f"formula: {f}")
    return fit


#: The exposure column of the arm comparisons.
ARM_COLUMN = "treatment_arm"


def stratum_term(arm: str, modifier: str, level: str) -> str:
    """Return the term of a stratum-specific effect in the results contract.

    ``treatment_arm[personalized] | profile_group=dysregulated`` is the effect of the arm
    within one level of the modifier (see :func:`stratum_effects`).
    """
    return model_design.stratum_term(level_term(ARM_COLUMN, arm), modifier, level)


def stratum_effects(
    log: ModelLog,
    fit,
    *,
    model_id: str,
    outcome: str,
    population: str,
    arm_levels: list[str],
    modifier: str,
    modifier_levels: list[str],
    reference_arm: str = "none",
    conf_level: float = 0.95,
    data: pd.DataFrame | None = None,
    min_events: int = 5,
) -> pd.DataFrame:
    """Stratum-specific ORs of each arm vs the reference from an arm × modifier model.

    The OR of arm ``a`` vs the reference within level ``m`` of the modifier is
    :math:`\\exp(\\beta_a + \\beta_{a:m})` (the interaction term is zero in the modifier's reference
    level), with its variance :math:`\\mathrm{Var}\\,\\beta_a + \\mathrm{Var}\\,\\beta_{a:m} +
    2\\,\\mathrm{Cov}(\\beta_a, \\beta_{a:m})` from the model's covariance matrix.

    Strata in which an arm has fewer than ``min_events`` events or non-events get no estimate and
    a message in the log instead (too small for its model).
    """
    if fit is None:  # the interaction model itself could not be fitted
        for level in modifier_levels:
            log.failed(
                f"{model_id}:{level}",
                outcome,
                population,
                f"{model_id}: no stratum-specific ORs, the interaction model could not be fitted",
            )
        return empty_estimates()
    names = set(fit.params.index)
    rows = []
    for level in modifier_levels:
        for arm in arm_levels:
            if arm == reference_arm:
                continue
            main = level_term(ARM_COLUMN, arm)
            inter = interaction_term(main, level_term(modifier, level))
            label = stratum_term(arm, modifier, level)
            if data is not None:
                cell = data[(data[modifier].astype(str) == level) & (data["treatment_arm"].astype(str) == arm)]
                ev = int(cell[outcome].sum())
                if ev < min_events or len(cell) - ev < min_events:
                    log.failed(
                        f"{model_id}:{level}:{arm}",
                        outcome,
                        population,
                        f"{label}: {ev} event(s) among {len(cell)} transfers; fewer than {min_events} "
                        "events or non-events, too few for a stratum-specific OR",
                        n_obs=len(cell),
                    )
                    continue
            if main not in names:
                continue
            # the interaction is absent in the modifier's reference level
            weights = {main: 1.0, **({inter: 1.0} if inter in names else {})}
            rows.append(
                tidy_models.tidy_linear_combination(
                    fit,
                    weights,
                    term=label,
                    notebook=log.notebook,
                    model_id=model_id,
                    outcome=outcome,
                    population=population,
                    estimator="logit_linear_combination",
                    conf_level=conf_level,
                )
            )
    out = pd.concat(rows, ignore_index=True) if rows else empty_estimates()
    if len(out):
        log.estimates.append(out)
    return out


def fit_gee_model(
    log: ModelLog,
    data: pd.DataFrame,
    *,
    model_id: str,
    outcome: str,
    population: str,
    exposures: list[str],
    covariates: list[str],
    groups: str = "patient_id",
    trials: str | None = None,
    conf_level: float = 0.95,
    estimator: str = "gee_logit_exchangeable",
    cov_struct: str = "exchangeable",
    cluster_weighted: bool = False,
):
    """Fit one logistic GEE (robust SEs, clusters = ``groups``) and record it.

    With ``trials`` the response is ``outcome`` successes out of ``trials`` (R's
    ``cbind(successes, trials - successes)``), e.g. gestational sacs out of embryos transferred.
    ``cov_struct`` is the working correlation (``exchangeable`` or ``independence``); with
    ``cluster_weighted`` every row gets the prior weight 1 / (rows of its cluster among the
    complete rows), the cluster-weighted GEE in which every cluster counts once.
    """
    needed = [outcome, groups] + exposures + covariates + ([trials] if trials else [])
    frame = model_frame(data, needed).sort_values(groups, kind="stable")
    f = formula(outcome, exposures, covariates, frame)
    weights = None
    if cluster_weighted:
        weights = "_cluster_weight"
        frame = frame.assign(**{weights: gee_models.inverse_cluster_size(frame[groups])})
    try:
        fit = gee_models.fit_gee_logit(frame, f, groups=groups, cov_struct=cov_struct, trials=trials, weights=weights)
    except ModelError as exc:
        log.failed(model_id, outcome, population, f"{model_id}: {exc}", n_obs=len(frame))
        return None
    rows = tidy_models.tidy_gee(
        fit,
        notebook=log.notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator=estimator,
        conf_level=conf_level,
    )
    message = f"formula: {f}; clusters: {groups}"
    if cov_struct != "exchangeable" or cluster_weighted:
        message += f"; working correlation: {cov_struct}" + ("; weights: 1/cluster size" if cluster_weighted else "")
    log.ok(model_id, outcome, population, len(frame), rows, message=message)
    return fit


def interaction_test(fit_full, fit_reduced) -> dict:
    """Likelihood-ratio test of the interaction terms (full vs reduced model on the same rows)."""
    return logistic.likelihood_ratio_test(fit_full, fit_reduced)


def or_table(estimates: pd.DataFrame, *, model_ids: list[str], term_prefix: str = "treatment_arm[") -> pd.DataFrame:
    """Rows of ``estimates`` for the given models whose term starts with ``term_prefix``."""
    sel = estimates[estimates["model_id"].isin(model_ids) & estimates["term"].str.startswith(term_prefix)]
    return sel.reset_index(drop=True)


def forest_rows(
    estimates: pd.DataFrame,
    *,
    adjusted_id: str,
    stratified_id: str,
    arm_labels: dict | None = None,
    modifier: str = "profile_group",
) -> pd.DataFrame:
    """Rows for the forest plot: adjusted ORs overall, then per modifier level, one per arm.

    The arms (all levels of ``treatment_arm`` but its reference) and the modifier's levels are
    the data contract's (:data:`analysis.data.contract.CATEGORICALS`); the rows are looked up by
    the terms :func:`level_term` and :func:`stratum_term` name, in the contract's order, so no
    term string is parsed. Rows absent from ``estimates`` (not estimable) are left out.

    Returns
    -------
    DataFrame
        group, label, treatment_arm, estimate, conf_low, conf_high.
    """
    arm_labels = arm_labels or {}
    arm_spec = CATEGORICALS[ARM_COLUMN]
    arms = [a for a in arm_spec.levels if a != arm_spec.reference]
    wanted = [(adjusted_id, level_term(ARM_COLUMN, arm), "Overall", arm) for arm in arms] + [
        (stratified_id, stratum_term(arm, modifier, level), level.capitalize(), arm)
        for level in CATEGORICALS[modifier].levels
        for arm in arms
    ]
    keys = pd.DataFrame(wanted, columns=["model_id", "term", "group", "treatment_arm"])
    found = keys.merge(estimates[["model_id", "term", "estimate", "conf_low", "conf_high"]], on=["model_id", "term"])
    found["label"] = found["treatment_arm"].map(lambda arm: arm_labels.get(arm, arm))
    return found[["group", "label", "treatment_arm", "estimate", "conf_low", "conf_high"]].reset_index(drop=True)


def events_by(data: pd.DataFrame, *, outcome: str, by: list[str]) -> pd.DataFrame:
    """Counts and crude rates of ``outcome`` by the columns ``by`` (n, events, percent)."""
    g = data.groupby(by, observed=True)[outcome]
    out = pd.DataFrame({"n": g.size(), "events": g.sum().astype(int)})
    out["percent"] = 100 * out["events"] / out["n"]
    return out.reset_index()


__all__ = [
    "ModelLog",
    "fit_logit_model",
    "fit_gee_model",
    "stratum_effects",
    "stratum_term",
    "interaction_test",
    "formula",
    "term",
    "model_frame",
    "or_table",
    "forest_rows",
    "events_by",
]


def interaction_lr_table(full, reduced, *, model_id: str, terms: str = "treatment_arm:profile_group") -> pd.DataFrame:
    """Tidy one-row table of the likelihood-ratio test of an interaction (empty message if fitted).

    When either model could not be fitted, the row carries the message instead of numbers.
    """
    row = dict(model_id=model_id, interaction=terms, statistic=np.nan, df=np.nan, p_value=np.nan, message="")
    if full is None or reduced is None:
        row["message"] = "not tested: a model could not be fitted (see the model status table)"
    else:
        try:
            res = logistic.likelihood_ratio_test(full, reduced)
            row.update(statistic=res["statistic"], df=res["df"], p_value=res["p_value"])
        except ModelError as exc:
            row["message"] = str(exc)
    return pd.DataFrame([row])


def implantation_population(cohort) -> pd.DataFrame:
    """All transfers of included patients with known gestational sacs (one row per transfer)."""

    out = analysis_population(cohort, "all", outcome="gestational_sacs")
    out["gestational_sacs"] = out["gestational_sacs"].astype(int)
    out["embryos_transferred"] = out["embryos_transferred"].astype(int)
    return out


@dataclass(frozen=True)
class Attempt:
    """The result of one analysis step, or why there is none.

    Attributes
    ----------
    value : object or None
        The step's result; None when a model could not be estimated.
    reason : str
        Why there is no result (empty when there is one).
    """

    value: object | None
    reason: str

    @property
    def ok(self) -> bool:
        """Whether the step gave a result."""
        return self.value is not None


def attempt(estimate: Callable[[], object]) -> Attempt:
    """Run one analysis step; return its result, or no result and the reason when a model cannot be estimated.

    Lets a notebook say why a section has no result and go on with the next one.

    Parameters
    ----------
    estimate : callable
        The step, called without arguments.

    Returns
    -------
    Attempt
    """
    try:
        return Attempt(estimate(), "")
    except ModelError as exc:
        return Attempt(None, str(exc))
