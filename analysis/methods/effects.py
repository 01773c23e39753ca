r"""Marginal effects of the arms: weighted (IPTW), doubly robust (AIPW) and matched estimates.

All functions return rows of the results contract (:data:`analysis.output.results.ESTIMATE_COLUMNS`).

**Weighted outcome model** (``iptw_logit``): logistic regression of the outcome on the arm with
the IPTW weights, standard errors from the design-based sandwich of R's ``survey::svyglm``
with ``svydesign(ids = ~1, weights = ~w)`` (or ``ids = ~patient_id`` for all transfers):

.. math:: V = \frac{G}{G-1} A^{-1} \Big(\sum_g U_g U_g^\top\Big) A^{-1},

with :math:`U_g` the summed weighted score of cluster :math:`g` (a patient), :math:`A` the
weighted information and :math:`G` the number of clusters. The variance treats the weights as
known, as ``svyglm`` does, which is conservative for the ATE (Lunceford & Davidian 2004, Stat
Med 23:2937).

**Marginal risks, RD and RR** (``iptw_rd``, ``iptw_rr``): the Hájek weighted mean of the outcome
in each arm, :math:`\hat\mu_a = \sum_{A_i = a} w_i Y_i / \sum_{A_i = a} w_i`, with influence
functions :math:`\phi_i = 1\{A_i = a\} w_i (Y_i - \hat\mu_a) / \sum_{A_j = a} w_j`, summed by
cluster and combined as above (R: ``svyby(~y, ~arm, design, svymean)`` with ``svycontrast``).
RR limits are computed on the log scale. This known-weights variance is the default (R
``survey`` parity).

**Stacked IPTW risks** (``iptw_stacked_rd``, ``iptw_stacked_rr``; ``variance="stacked"``): the
multinomial propensity model's estimating equations are stacked with the Hájek equations, so the
weights are no longer treated as known (Lunceford & Davidian 2004, Stat Med 23:2937, §3.2):

.. math:: \phi_{a,i} = \frac{1\{A_i = a\} w_i (Y_i - \hat\mu_a) + D_a^\top I_\gamma^{-1} S_i}{\sum_{A_j = a} w_j},
   \qquad D_a = \sum_i 1\{A_i = a\}\, w_i (Y_i - \hat\mu_a)\, \frac{\partial \log w_i}{\partial \gamma},

with :math:`S_i` the multinomial score of row :math:`i`, :math:`I_\gamma` the information and
:math:`\partial \log w / \partial \gamma_b = \{-(1\{a = b\} - e_b),\ 1\{t = b\} - 1\{a = b\},\
h/e_b - 1\{a = b\}\}\, x` for ATE, ATT (treated :math:`t`) and ATO weights. For the ATE this
variance is smaller than the known-weights one (estimating the score is more efficient than
knowing it). Only for untruncated weights: truncation is not a smooth function of :math:`\gamma`.

**AIPW** (``aipw_rd``, ``aipw_if_rd``; Robins, Rotnitzky & Zhao 1994; Funk et al. 2011, Am J
Epidemiol 173:761): with outcome model predictions :math:`\hat m_a(x)` (logistic, coefficients
:math:`\beta`) and scores :math:`\hat e_a(x)` (multinomial logit, coefficients :math:`\gamma`),
in a stratum :math:`s` of :math:`n_s` rows

.. math:: \hat\mu_{s,a} = \frac1{n_s} \sum_{i \in s} \underbrace{\Big[\hat m_a(x_i) + \frac{1\{A_i = a\}(Y_i - \hat m_a(x_i))}{\hat e_a(x_i)}\Big]}_{\text{aug}_{a,i}(\gamma, \beta)},

consistent if either model is right. Two inferences (``inference``):

- *Influence function* (estimator ``aipw_if_rd``): :math:`\theta = (\gamma, \beta, \mu)` solves
  the stacked estimating equations :math:`\sum_i \psi_i(\theta) = 0`, :math:`\psi_i = (S_i^\gamma,
  S_i^\beta, 1\{i \in s\}(\text{aug}_{a,i} - \mu_{s,a}))` (multinomial score, logistic score
  :math:`(Y_i - m_i) x_i`, AIPW equation). The M-estimation sandwich (Stefanski & Boos 2002, Am
  Stat 56:29; Tsiatis 2006, *Semiparametric Theory and Missing Data*, ch. 13)
  :math:`V = A^{-1} B A^{-\top}`, bread :math:`A = -\sum_i \partial\psi_i/\partial\theta^\top`,
  meat :math:`B = \sum_g \Psi_g \Psi_g^\top` over clusters (patients) :math:`g`, has, because
  :math:`A` is block lower-triangular, the :math:`\mu` block :math:`\sum_g \Phi_g \Phi_g^\top` with

  .. math:: \phi_{s,a,i} = \frac{1\{i \in s\}(\text{aug}_{a,i} - \hat\mu_{s,a}) + D_\gamma^\top I_\gamma^{-1} S_i^\gamma + D_\beta^\top I_\beta^{-1} S_i^\beta}{n_s},

  :math:`D_\beta = \sum_{i \in s} m_a(1 - m_a)(1 - 1\{A_i = a\}/e_a)\, x_{a,i}`,
  :math:`D_{\gamma_b} = -\sum_{i \in s} 1\{A_i = a\}(Y_i - m_a)/e_a \cdot (1\{a = b\} - e_b)\, x_i`,
  :math:`I_\beta = X^\top \operatorname{diag}(m(1 - m)) X`. When both models are right the two
  model terms vanish in expectation and :math:`\phi` is the efficient influence function
  (Lunceford & Davidian 2004, §3.3); when the outcome model is wrong the propensity term keeps
  the variance right. No small-sample factor (HC0). Wald limits; one pass over the rows.
- *Bootstrap* (estimator ``aipw_rd``): percentile interval over patient resamples, both models
  refitted in every replicate.

``inference="auto"`` uses the influence function above ``influence_above`` patients and the
bootstrap at or below it; the influence-function SEs are computed in both cases and set beside
the bootstrap's (:attr:`AipwRiskDifferences.comparison`). R check: the stacked sandwich by hand
(``tests/reference/make_influence_reference.R``).

**Matched** (``matched_logit``): logistic regression of the outcome on the arm in the matched
sample, standard errors clustered on the matched pair (R: ``sandwich::vcovCL(fit, cluster =
~subclass)``, HC0 with the :math:`G/(G-1)` adjustment; Austin 2011, Multivariate Behav Res 46:399).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.special
import scipy.stats

from analysis.core.exceptions import ModelError
from analysis.core.intervals import z_value
from analysis.methods.propensity import ARM_LEVELS, design_rows, iptw_weights, propensity_scores, truncate_weights
from analysis.methods.resampling import bootstrap, percentile_interval
from analysis.models import design as model_design
from analysis.models.logistic import cluster_sums, fit_binomial_irls, logistic_covariance
from analysis.models.multinomial import fit_multinomial_logit
from analysis.models.tidy import estimate_rows

__all__ = [
    "AIPW_INFERENCE",
    "AipwRiskDifferences",
    "aipw_inference_method",
    "aipw_risk_influence",
    "aipw_risks",
    "aipw_rd_rows",
    "evalue_table",
    "evalue",
    "iptw_logit_rows",
    "iptw_risk_rows",
    "matched_logit_rows",
    "multinomial_influence",
    "stacked_weighted_risks",
    "weighted_logit",
]


@dataclass(frozen=True)
class AipwRiskDifferences:
    """AIPW risk differences against the reference arm, overall and by a modifier.

    Attributes
    ----------
    estimates : DataFrame
        Contract rows (estimator ``aipw_rd``; stratum rows with terms
        ``treatment_arm[personalized] | profile_group=dysregulated``).
    risks : DataFrame
        Risks by stratum and arm with their SE and CI, ``ci_method`` (``bootstrap_percentile``
        or ``influence_function``), and the number of bootstrap and failed replicates (0 and 0
        for the influence function).
    warnings : tuple of str
        Sentences for the reader (failed bootstrap replicates); empty when there is nothing to say.
    inference : str
        ``"bootstrap"`` or ``"influence"``: what gave the intervals of ``estimates``.
    comparison : DataFrame
        Per risk difference: ``term, estimate, n_obs``, the influence-function SE and Wald limits
        (``*_influence``), the bootstrap SD and percentile limits (``*_bootstrap``, NaN when the
        bootstrap was not run), their ratio ``se_ratio_influence_to_bootstrap``, ``n_bootstrap``
        and ``ci_method_reported``.
    """

    estimates: pd.DataFrame
    risks: pd.DataFrame
    warnings: tuple = ()
    inference: str = "bootstrap"
    comparison: pd.DataFrame | None = None


def _z(conf_level: float) -> float:
    return z_value(conf_level)


def _check_weights(w: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ModelError(
            f"{what}: weights must be finite and non-negative (an estimated propensity of 0 or 1 "
            f"gives an infinite weight; check the overlap table)"
        )


def weighted_logit(
    y: np.ndarray,
    X: np.ndarray,
    w: np.ndarray,
    *,
    clusters: np.ndarray | None = None,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Return coefficients and design-based sandwich covariance of a weighted logistic model.

    Fitted by the suite's one IRLS (:func:`analysis.models.logistic.fit_binomial_irls`, the
    weights as prior weights, zero allowed) until no coefficient moves by ``tol``; covariance
    :math:`\\frac{G}{G-1} A^{-1} B A^{-1}` with :math:`B` the cross-product of the cluster
    score sums (R ``survey::svyglm``; :func:`analysis.models.logistic.logistic_covariance`).
    """
    _check_weights(w, "weighted logistic model")
    if np.linalg.matrix_rank(X[w > 0]) < X.shape[1]:
        raise ModelError("weighted logistic model: singular information (an empty arm or covariate level)")
    fit = fit_binomial_irls(X, y, w, coef_tol=tol, max_iter=max_iter)
    if not fit.converged:
        raise ModelError("weighted logistic model did not converge (separation in the weighted data?)")
    cov = logistic_covariance(
        X, y, w, fit.fitted, kind="sandwich" if clusters is None else "cluster", clusters=clusters
    )
    return fit.coef, cov


def iptw_logit_rows(
    data: pd.DataFrame,
    weights: pd.Series,
    *,
    outcome: str = "live_birth",
    treatment: str = "treatment_arm",
    reference: str = "none",
    cluster: str | None = None,
    model_id: str,
    population: str = "first_transfer",
    notebook: str,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Return the weighted (marginal) OR of each arm against the reference, sandwich SEs.

    Rows of ``data`` are those of ``weights`` (its index); ``cluster`` names a column whose
    values are the clusters (patients, for all transfers).
    """
    rows = data.loc[weights.index]
    y = pd.to_numeric(rows[outcome]).to_numpy(dtype=float)
    present = set(rows[treatment].astype(str))
    X, names = model_design.covariate_design(
        rows,
        [treatment],
        references={treatment: reference},
        levels={treatment: [lvl for lvl in ARM_LEVELS if lvl in present]},
    )
    clusters = rows[cluster].to_numpy() if cluster else None
    beta, cov = weighted_logit(y, X, weights.to_numpy(dtype=float), clusters=clusters)
    terms = names[1:]
    return estimate_rows(
        terms,
        beta[1:],
        np.sqrt(np.diag(cov))[1:],
        model_id=model_id,
        estimator="iptw_logit",
        ratio=True,
        conf_level=conf_level,
        n_obs=len(rows),
        n_events=int(y.sum()),
        n_clusters=len(np.unique(clusters)) if cluster else pd.NA,
        outcome=outcome,
        population=population,
        notebook=notebook,
    )


def weighted_risks(
    y: np.ndarray, arm: np.ndarray, w: np.ndarray, levels: Sequence[str], clusters: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return Hájek weighted risks by arm and the design-based covariance of the risks."""
    _check_weights(w, "weighted risks")
    mus, infl = [], []
    for lvl in levels:
        ind = (arm == lvl).astype(float) * w
        mu = (ind * y).sum() / ind.sum()
        mus.append(mu)
        infl.append(ind * (y - mu) / ind.sum())
    phi = cluster_sums(np.column_stack(infl), clusters)
    g = phi.shape[0]
    return np.array(mus), g / (g - 1) * phi.T @ phi


def _weight_log_derivative(probs: np.ndarray, codes: np.ndarray, estimand: str, treated_code: int | None) -> np.ndarray:
    r"""Return :math:`\partial \log w_i / \partial \gamma_b` divided by :math:`x_i` (n × (K−1)).

    ATE :math:`w = s_a / e_a`: :math:`-(1\{a = b\} - e_b)`; ATT :math:`w = e_t / e_a`:
    :math:`1\{t = b\} - 1\{a = b\}`; ATO :math:`w = h / e_a`, :math:`h = (\sum_k 1/e_k)^{-1}`:
    :math:`h / e_b - 1\{a = b\}` (the shares :math:`s_a` cancel in a Hájek mean).
    """
    n, k = probs.shape
    own = np.zeros((n, k))
    own[np.arange(n), codes] = 1.0
    if estimand == "ATE":
        d = -(own - probs)
    elif estimand == "ATT":
        d = (np.arange(k) == treated_code)[None, :].astype(float) - own
    else:  # ATO
        h = 1 / (1 / probs).sum(axis=1)
        d = h[:, None] / probs - own
    return d[:, 1:]


def _implied_weights(probs: np.ndarray, codes: np.ndarray, estimand: str, treated_code: int | None) -> np.ndarray:
    """Weights implied by the scores, up to a constant within each arm."""
    e_own = probs[np.arange(len(codes)), codes]
    if estimand == "ATE":
        return 1 / e_own
    if estimand == "ATT":
        return probs[:, treated_code] / e_own
    return 1 / (1 / probs).sum(axis=1) / e_own


def stacked_weighted_risks(
    y: np.ndarray,
    codes: np.ndarray,
    w: np.ndarray,
    X_ps: np.ndarray,
    *,
    n_classes: int,
    estimand: str = "ATE",
    treated_code: int | None = None,
    clusters: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Return Hájek weighted risks by arm and their covariance with the propensity model stacked.

    The weights must be the untruncated ``estimand`` weights of the multinomial model of
    ``codes`` on ``X_ps`` (refitted here; class 0 the reference); they are checked against it,
    because truncated weights are not a smooth function of the coefficients. The covariance is
    :math:`\sum_g \Phi_g \Phi_g^\top` over clusters, :math:`\Phi_g` the cluster sums of
    :math:`\phi_{a,i} = \{1\{A_i = a\} w_i (Y_i - \hat\mu_a) + D_a^\top I_\gamma^{-1} S_i\}
    / \sum_{A_j = a} w_j` with :math:`D_a = \sum_i 1\{A_i = a\} w_i (Y_i - \hat\mu_a)\,
    \partial \log w_i / \partial\gamma` (module docstring).

    Returns
    -------
    (ndarray, ndarray)
        Risks in class order (K,) and their covariance (K, K).

    Raises
    ------
    ModelError
        The weights are not those of the refitted propensity model (truncated, or another model).
    """
    _check_weights(w, "weighted risks")
    estimand = estimand.upper()
    if estimand not in ("ATE", "ATT", "ATO"):
        raise ModelError(f"estimand must be ATE, ATT or ATO, got {estimand!r}")
    if estimand == "ATT" and treated_code is None:
        raise ModelError("stacked ATT risks need the treated arm")
    probs, if_gamma = multinomial_influence(X_ps, codes, n_classes)
    implied = _implied_weights(probs, codes, estimand, treated_code)
    for c in range(n_classes):
        ratio = w[codes == c] / implied[codes == c]
        if np.ptp(ratio) > 1e-6 * np.median(ratio):
            raise ModelError(
                "stacked variance of the weighted risks: the weights are not the untruncated "
                f"{estimand} weights of the propensity model (truncated weights are not a smooth function of "
                "the scores; use the known-weights variance)"
            )
    dlogw = _weight_log_derivative(probs, codes, estimand, treated_code)
    mus, cols = [], []
    for c in range(n_classes):
        ind = (codes == c) * w
        total = ind.sum()
        mu = (ind * y).sum() / total
        psi = ind * (y - mu)
        d_gamma = np.concatenate([(X_ps * (psi * dlogw[:, b])[:, None]).sum(axis=0) for b in range(n_classes - 1)])
        mus.append(mu)
        cols.append((psi + if_gamma @ d_gamma) / total)
    phi = cluster_sums(np.column_stack(cols), clusters)
    return np.array(mus), phi.T @ phi


def iptw_risk_rows(
    data: pd.DataFrame,
    weights: pd.Series,
    *,
    outcome: str = "live_birth",
    treatment: str = "treatment_arm",
    reference: str = "none",
    cluster: str | None = None,
    population: str = "first_transfer",
    notebook: str,
    conf_level: float = 0.95,
    model_id: str,
    variance: str = "known_weights",
    ps_covariates: Sequence[str] | None = None,
    estimand: str = "ATE",
    treated: str | None = "personalized",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the weighted risk difference and risk ratio of each arm against the reference.

    Parameters
    ----------
    variance : {"known_weights", "stacked"}
        ``known_weights`` (default): the weights treated as known, R ``survey`` parity,
        estimators ``iptw_rd`` / ``iptw_rr``. ``stacked``: the multinomial propensity model on
        ``ps_covariates`` is refitted and its estimating equations stacked with the risks'
        (:func:`stacked_weighted_risks`; untruncated ``estimand`` weights only), estimators
        ``iptw_stacked_rd`` / ``iptw_stacked_rr``.
    ps_covariates : sequence of str, optional
        The propensity model's covariates (``stacked`` only).
    estimand, treated : str
        What the weights target (``stacked`` only; ``treated`` for ATT).

    Returns
    -------
    (DataFrame, DataFrame)
        Rows for ``<model_id>_rd`` (estimator ``iptw_rd``) and ``<model_id>_rr``
        (``iptw_rr``, coef = log RR), and a table of the weighted risks by arm with CIs.
    """
    if variance not in ("known_weights", "stacked"):
        raise ModelError(f"variance must be 'known_weights' or 'stacked', got {variance!r}")
    rows = data.loc[weights.index]
    y = pd.to_numeric(rows[outcome]).to_numpy(dtype=float)
    arm = rows[treatment].astype(str).to_numpy()
    levels = [lvl for lvl in ARM_LEVELS if (arm == lvl).any()]
    clusters = rows[cluster].to_numpy() if cluster else None
    if variance == "known_weights":
        mu, cov = weighted_risks(y, arm, weights.to_numpy(dtype=float), levels, clusters)
        kind = "iptw"
    else:
        if not ps_covariates:
            raise ModelError("stacked variance of the weighted risks needs the propensity covariates (ps_covariates)")
        complete = design_rows(rows, treatment=treatment, covariates=list(ps_covariates))
        if len(complete) != len(rows):
            raise ModelError(f"stacked variance: {len(rows) - len(complete)} weighted rows miss a propensity covariate")
        ordered = [reference] + [lvl for lvl in levels if lvl != reference]
        codes = pd.Categorical(arm, categories=ordered).codes
        X_ps, _ = model_design.covariate_design(complete, list(ps_covariates))
        mu_o, cov_o = stacked_weighted_risks(
            y,
            codes,
            weights.to_numpy(dtype=float),
            X_ps,
            n_classes=len(ordered),
            estimand=estimand,
            treated_code=ordered.index(treated) if estimand.upper() == "ATT" else None,
            clusters=clusters,
        )
        back = [ordered.index(lvl) for lvl in levels]
        mu, cov = mu_o[back], cov_o[np.ix_(back, back)]
        kind = "iptw_stacked"
    ref = levels.index(reference)
    others = [i for i in range(len(levels)) if i != ref]
    rd, rd_se, lrr, lrr_se = [], [], [], []
    for i in others:
        c = np.zeros(len(levels))
        c[i], c[ref] = 1, -1
        rd.append(mu[i] - mu[ref])
        rd_se.append(np.sqrt(c @ cov @ c))
        d = np.zeros(len(levels))
        d[i], d[ref] = 1 / mu[i], -1 / mu[ref]
        lrr.append(np.log(mu[i] / mu[ref]))
        lrr_se.append(np.sqrt(d @ cov @ d))
    terms = [model_design.level_term(treatment, levels[i]) for i in others]
    common = dict(
        conf_level=conf_level,
        n_obs=len(rows),
        n_events=int(y.sum()),
        n_clusters=len(np.unique(clusters)) if cluster else pd.NA,
        outcome=outcome,
        population=population,
        notebook=notebook,
    )
    est = pd.concat(
        [
            estimate_rows(terms, rd, rd_se, model_id=f"{model_id}_rd", estimator=f"{kind}_rd", ratio=False, **common),
            estimate_rows(terms, lrr, lrr_se, model_id=f"{model_id}_rr", estimator=f"{kind}_rr", ratio=True, **common),
        ],
        ignore_index=True,
    )
    z = z_value(conf_level)
    se = np.sqrt(np.diag(cov))
    risks = pd.DataFrame(
        {
            "arm": levels,
            "risk": mu,
            "std_error": se,
            "conf_low": mu - z * se,
            "conf_high": mu + z * se,
            "n": [int((arm == lvl).sum()) for lvl in levels],
            "weighted_n": [float(weights.to_numpy()[arm == lvl].sum()) for lvl in levels],
        }
    )
    return est, risks


# --------------------------------------------------------------------------------------------
# AIPW
# --------------------------------------------------------------------------------------------


def _aipw_arrays(data, *, outcome, treatment, ps_covariates, outcome_covariates, modifier, reference, cluster):
    """Numeric pieces of the AIPW estimator, built once (design matrices are not rebuilt per resample)."""
    extra = [outcome] + ([modifier] if modifier else []) + list(outcome_covariates) + ([cluster] if cluster else [])
    rows = design_rows(data, treatment=treatment, covariates=list(dict.fromkeys([*ps_covariates, *extra])))
    arm = rows[treatment].astype(str).to_numpy()
    levels = [reference] + [lvl for lvl in ARM_LEVELS if lvl != reference and (arm == lvl).any()]
    codes = pd.Categorical(arm, categories=levels).codes
    X_ps, _ = model_design.covariate_design(rows, ps_covariates)
    exposure = f"{treatment}*{modifier}" if modifier else treatment
    f = model_design.formula(
        outcome,
        [exposure],
        [c for c in outcome_covariates if c not in (treatment, modifier)],
        rows,
        references={treatment: reference},
    )
    X = model_design.named_design(f.split("~", 1)[1], rows)
    X_arm = [model_design.design_of_rows(X, rows.assign(**{treatment: lvl})) for lvl in levels]
    strata = {"all": np.ones(len(rows), dtype=bool)}
    if modifier:
        mod = rows[modifier].astype(str).to_numpy()
        strata.update({f"{modifier}={lvl}": mod == lvl for lvl in sorted(np.unique(mod))})
        empty = [
            f"{lvl} in {name}" for name, mask in strata.items() for lvl in levels if not (mask & (arm == lvl)).any()
        ]
        if empty:
            raise ModelError(
                f"AIPW by {modifier}: no patient received "
                + ", ".join(empty)
                + "; the arm effect cannot be estimated there (rerun without the modifier, "
                "or merge groups)"
            )
    # diagnose separation and empty arms in words before any fitting
    propensity_scores(rows, treatment=treatment, covariates=ps_covariates, reference=reference)
    arrays = dict(
        y=pd.to_numeric(rows[outcome]).to_numpy(dtype=float),
        codes=codes,
        levels=levels,
        X_ps=X_ps,
        X=X.to_numpy(),
        X_arm=X_arm,
        strata=strata,
    )
    labels = rows[cluster].to_numpy() if cluster else None
    return arrays, labels


def _aipw_from_arrays(pos: np.ndarray, *, y, codes, levels, X_ps, X, X_arm, strata) -> np.ndarray:
    """AIPW risks for every (stratum, arm) on the rows ``pos`` (a resample, or all rows)."""
    y, codes, X_ps, X = y[pos], codes[pos], X_ps[pos], X[pos]
    if len(np.unique(codes)) < len(levels):
        raise ModelError("an arm is absent from the resample")
    e = fit_multinomial_logit(X_ps, codes, n_classes=len(levels), covariance=False)[2]
    beta, _ = weighted_logit(y, X, np.ones(len(y)))
    out = []
    for mask in strata.values():
        m_pos = mask[pos]
        for j in range(len(levels)):
            m = 1 / (1 + np.exp(-(X_arm[j][pos] @ beta)))
            aug = m + (codes == j) * (y - m) / e[:, j]
            out.append(aug[m_pos].mean() if m_pos.any() else np.nan)
    return np.array(out)


def multinomial_influence(X_ps: np.ndarray, codes: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Return the fitted class probabilities and each row's influence on the multinomial coefficients.

    The coefficients :math:`\gamma` solve :math:`\sum_i S_i(\gamma) = 0` with the score
    :math:`S_i = \big((1\{A_i = b\} - e_b(x_i))\, x_i\big)_{b = 1..K-1}` (class 0 the
    reference); the influence of row :math:`i` is :math:`I_\gamma^{-1} S_i`, with
    :math:`I_\gamma = -\partial \sum_i S_i / \partial \gamma` the information, so that
    :math:`\hat\gamma - \gamma \approx \sum_i I_\gamma^{-1} S_i`.

    Returns
    -------
    probs : ndarray (n, K)
    influence : ndarray (n, p(K−1))
        Coefficients stacked class by class, as :func:`analysis.models.multinomial.fit_multinomial_logit`.
    """
    _, inv_info, probs = fit_multinomial_logit(X_ps, codes, n_classes=n_classes)
    ind = np.zeros_like(probs)
    ind[np.arange(len(codes)), codes] = 1.0
    scores = np.hstack([X_ps * (ind[:, b] - probs[:, b])[:, None] for b in range(1, n_classes)])
    return probs, scores @ inv_info


def aipw_risk_influence(*, y, codes, levels, X_ps, X, X_arm, strata) -> tuple[np.ndarray, np.ndarray]:
    r"""Return AIPW risks for every (stratum, arm) and their influence functions, both models' estimation stacked.

    Parameters
    ----------
    y : ndarray (n,)
        Outcome, 0/1.
    codes : ndarray of int (n,)
        Arm received, 0 the reference (position in ``levels``).
    levels : sequence of str
        Arms, reference first.
    X_ps : ndarray (n, p)
        Propensity design (intercept first): multinomial logit of ``codes``.
    X : ndarray (n, q)
        Outcome design at the received arm: logistic regression of ``y``.
    X_arm : list of ndarray (n, q)
        Outcome design with every row set to each arm in turn.
    strata : dict of str to bool ndarray
        Rows of each stratum (``all`` and the modifier's levels).

    Returns
    -------
    risks : ndarray (strata × arms,)
        Stratum by stratum, arms in ``levels`` order.
    phi : ndarray (n, strata × arms)
        The columns :math:`\phi_i` of the module docstring, already divided by the stratum
        size: the covariance of the risks is :math:`\sum_g \Phi_g \Phi_g^\top` over the
        cluster sums :math:`\Phi_g`.
    """
    k = len(levels)
    e, if_gamma = multinomial_influence(X_ps, codes, k)
    beta, _ = weighted_logit(y, X, np.ones(len(y)))
    m_obs = 1 / (1 + np.exp(-(X @ beta)))
    info_beta = (X * (m_obs * (1 - m_obs))[:, None]).T @ X
    if_beta = np.linalg.solve(info_beta, (X * (y - m_obs)[:, None]).T).T
    risks, cols = [], []
    for mask in strata.values():
        n_s = mask.sum()
        for j in range(k):
            m = 1 / (1 + np.exp(-(X_arm[j] @ beta)))
            received = codes == j
            resid_w = np.where(received, (y - m) / e[:, j], 0.0)  # 1{A=a}(Y - m_a)/e_a
            aug = m + resid_w
            mu = aug[mask].mean()
            # derivative of sum_{i in s} aug_i with respect to beta and to gamma (class b = 1..k-1)
            d_beta = (X_arm[j][mask] * (m * (1 - m) * (1 - received / e[:, j]))[mask][:, None]).sum(axis=0)
            d_gamma = np.concatenate(
                [(X_ps[mask] * (-resid_w * ((j == b) - e[:, b]))[mask][:, None]).sum(axis=0) for b in range(1, k)]
            )
            phi = (mask * (aug - mu) + if_gamma @ d_gamma + if_beta @ d_beta) / n_s
            risks.append(mu)
            cols.append(phi)
    return np.array(risks), np.column_stack(cols)


def _risk_frame(arrays: dict, risks: np.ndarray) -> pd.DataFrame:
    keys = [(s, lvl) for s in arrays["strata"] for lvl in arrays["levels"]]
    return pd.DataFrame(
        {
            "stratum": [k[0] for k in keys],
            "arm": [k[1] for k in keys],
            "risk": risks,
            "n": [int(arrays["strata"][k[0]].sum()) for k in keys],
        }
    )


def aipw_risks(
    data: pd.DataFrame,
    *,
    outcome: str = "live_birth",
    treatment: str = "treatment_arm",
    ps_covariates: Sequence[str],
    outcome_covariates: Sequence[str],
    modifier: str | None = "profile_group",
    reference: str = "none",
) -> pd.DataFrame:
    """Return AIPW counterfactual risks under each arm, overall and within each level of ``modifier``.

    The propensity model is a multinomial logistic regression of the arm on ``ps_covariates``
    (as :func:`analysis.methods.propensity.propensity_scores`); the outcome model a logistic regression
    of the outcome on arm × ``modifier`` plus ``outcome_covariates``. Rows missing any of the
    columns are left out.

    Returns
    -------
    DataFrame
        ``stratum`` (``all`` or ``<modifier>=<level>``), ``arm``, ``risk``, ``n``.
    """
    arrays, _ = _aipw_arrays(
        data,
        outcome=outcome,
        treatment=treatment,
        ps_covariates=ps_covariates,
        outcome_covariates=outcome_covariates,
        modifier=modifier,
        reference=reference,
        cluster=None,
    )
    return _risk_frame(arrays, _aipw_from_arrays(np.arange(len(arrays["y"])), **arrays))


#: How the AIPW interval is computed: chosen by size (``auto``), or fixed.
AIPW_INFERENCE = ("auto", "influence", "bootstrap")


def aipw_inference_method(inference: str, n_patients: int, influence_above: int) -> str:
    """Return the AIPW inference used: ``"influence"`` or ``"bootstrap"``.

    ``"auto"`` gives the influence function above ``influence_above`` patients (the bootstrap
    refits both models in every replicate, so its cost grows with replicates × rows) and the
    bootstrap at or below it.

    Raises
    ------
    ModelError
        ``inference`` is not one of :data:`AIPW_INFERENCE`, or ``influence_above`` is negative.
    """
    if inference not in AIPW_INFERENCE:
        raise ModelError(f"AIPW inference must be one of {list(AIPW_INFERENCE)}, got {inference!r}")
    if influence_above < 0:
        raise ModelError(f"aipw_if_above must be a number of patients >= 0, got {influence_above!r}")
    if inference == "auto":
        return "influence" if n_patients > influence_above else "bootstrap"
    return inference


def _contrasts(point: pd.DataFrame, reference: str) -> list[tuple[str, str, int, int]]:
    """(stratum, arm, position of arm, position of reference) of every risk difference, in row order."""
    idx = {k: i for i, k in enumerate(zip(point["stratum"], point["arm"]))}
    return [
        (stratum, lvl, idx[(stratum, lvl)], idx[(stratum, reference)])
        for stratum in dict.fromkeys(point["stratum"])
        for lvl in ARM_LEVELS
        if lvl != reference and (stratum, lvl) in idx
    ]


def _influence_summary(phi: np.ndarray, labels, point: pd.DataFrame, reference: str, conf_level: float):
    """SEs and Wald limits of the risks and risk differences from the influence functions."""
    g = cluster_sums(phi, labels)
    cov = g.T @ g
    z = z_value(conf_level)
    risk_se = np.sqrt(np.diag(cov))
    rd = []
    for stratum, lvl, i, j in _contrasts(point, reference):
        est = point["risk"].iloc[i] - point["risk"].iloc[j]
        se = float(np.sqrt(cov[i, i] + cov[j, j] - 2 * cov[i, j]))
        rd.append((stratum, lvl, est, se, est - z * se, est + z * se))
    return risk_se, pd.DataFrame(rd, columns=["stratum", "arm", "estimate", "std_error", "conf_low", "conf_high"])


def _bootstrap_summary(reps: np.ndarray, point: pd.DataFrame, reference: str, conf_level: float):
    """Bootstrap SDs and percentile limits of the risks and risk differences."""
    rd = []
    for stratum, lvl, i, j in _contrasts(point, reference):
        diff = reps[:, i] - reps[:, j]
        ok = np.isfinite(diff)
        lo, hi = percentile_interval(diff[ok][:, None], conf_level=conf_level)
        est = point["risk"].iloc[i] - point["risk"].iloc[j]
        rd.append((stratum, lvl, est, diff[ok].std(ddof=1), lo[0], hi[0]))
    ok = np.isfinite(reps).all(axis=1)
    risk_se = reps[ok].std(axis=0, ddof=1)
    return risk_se, pd.DataFrame(rd, columns=["stratum", "arm", "estimate", "std_error", "conf_low", "conf_high"])


def aipw_rd_rows(
    data: pd.DataFrame,
    *,
    outcome: str = "live_birth",
    treatment: str = "treatment_arm",
    ps_covariates: Sequence[str],
    outcome_covariates: Sequence[str],
    modifier: str | None = "profile_group",
    reference: str = "none",
    inference: str = "auto",
    influence_above: int = 5000,
    n_bootstrap: int = 500,
    seed: int = 0,
    n_jobs: int | None = 1,
    cluster: str = "patient_id",
    conf_level: float = 0.95,
    model_id: str,
    population: str = "first_transfer",
    notebook: str,
    max_failed_share: float = 0.05,
) -> AipwRiskDifferences:
    """Return AIPW risk differences against the reference, overall and by ``modifier``, with CIs.

    Two inferences (chosen by :func:`aipw_inference_method`; ``"auto"`` takes the influence
    function above ``influence_above`` patients, the bootstrap otherwise):

    - **influence**: the stacked influence function of the module docstring (both models'
      estimation included), summed by ``cluster``; Wald CI, estimator ``aipw_if_rd``.
    - **bootstrap**: patients are resampled (``cluster``) ``n_bootstrap`` times, both models
      refitted each time; the CI is the percentile interval, ``std_error`` the bootstrap SD, the
      p-value from the normal approximation; estimator ``aipw_rd``. A replicate where a model
      cannot be fitted (e.g. an arm absent from a resample) is dropped and counted in the
      returned risks table (``n_failed_replicates``).

    The influence-function SEs are computed in both cases (they cost one pass over the rows) and
    set beside the bootstrap's in :attr:`AipwRiskDifferences.comparison`.

    Failed replicates are not a random subset: they are the resamples where an arm or stratum is
    thinnest, so dropping them narrows the interval. Any failure gives a warning sentence
    (:attr:`AipwRiskDifferences.warnings`, also issued as a ``UserWarning``); above
    ``max_failed_share`` of the replicates the estimate is refused.

    Parameters
    ----------
    inference : {"auto", "influence", "bootstrap"}
        How the interval is computed.
    influence_above : int
        Number of patients (clusters) above which ``"auto"`` uses the influence function.
    max_failed_share : float
        Largest share of failed bootstrap replicates accepted (0.05 by default).

    Returns
    -------
    AipwRiskDifferences

    Raises
    ------
    ModelError
        More than ``max_failed_share`` of the replicates failed; the message says how many.
    """
    if not 0 <= max_failed_share < 1:
        raise ModelError(f"{model_id}: max_failed_share must be in [0, 1), got {max_failed_share!r}")
    arrays, labels = _aipw_arrays(
        data,
        outcome=outcome,
        treatment=treatment,
        ps_covariates=ps_covariates,
        outcome_covariates=outcome_covariates,
        modifier=modifier,
        reference=reference,
        cluster=cluster,
    )
    n_patients = len(np.unique(labels)) if labels is not None else len(arrays["y"])
    method = aipw_inference_method(inference, n_patients, influence_above)
    try:
        point_risks, phi = aipw_risk_influence(**arrays)
    except ModelError as exc:  # separation on all rows: no estimate, whatever the inference
        raise ModelError(
            f"{model_id}: the AIPW estimate is not reported: its models could not be fitted on all rows ({exc})"
        ) from exc
    point = _risk_frame(arrays, point_risks)
    if_risk_se, if_rd = _influence_summary(phi, labels, point, reference, conf_level)
    notes, failed, boot_rd = (), 0, None
    if method == "bootstrap":
        positions = np.arange(len(arrays["y"]))
        reps = bootstrap(
            _aipw_from_arrays, positions, n_boot=n_bootstrap, seed=seed, cluster=labels, n_jobs=n_jobs, **arrays
        )
        failed = int(np.isnan(reps).all(axis=1).sum())
        if failed > max_failed_share * n_bootstrap:
            raise ModelError(
                f"{model_id}: the AIPW estimate is not reported: it could not be computed in {failed} of "
                f"{n_bootstrap} bootstrap resamples ({failed / n_bootstrap:.0%}, above the accepted "
                f"{max_failed_share:.0%}; an arm too small in some stratum?), and an interval from the "
                f"resamples that worked would be too narrow."
            )
        if failed:
            notes = (
                f"{model_id}: {failed} of {n_bootstrap} bootstrap resamples ({failed / n_bootstrap:.1%}) could not "
                f"be fitted and were dropped; they are the resamples with the thinnest arms, so the intervals may "
                f"be somewhat too narrow.",
            )
            warnings.warn(notes[0], UserWarning, stacklevel=2)
        boot_risk_se, boot_rd = _bootstrap_summary(reps, point, reference, conf_level)
        risk_low, risk_high = percentile_interval(reps, conf_level=conf_level)
        risks = point.assign(
            std_error=boot_risk_se,
            conf_low=risk_low,
            conf_high=risk_high,
            ci_method="bootstrap_percentile",
            n_bootstrap=n_bootstrap,
            n_failed_replicates=failed,
        )
        shown, estimator = boot_rd, "aipw_rd"
    else:
        z = z_value(conf_level)
        risks = point.assign(
            std_error=if_risk_se,
            conf_low=point["risk"] - z * if_risk_se,
            conf_high=point["risk"] + z * if_risk_se,
            ci_method="influence_function",
            n_bootstrap=0,
            n_failed_replicates=0,
        )
        shown, estimator = if_rd, "aipw_if_rd"
    n_of = dict(zip(zip(point["stratum"], point["arm"]), point["n"]))
    terms = [
        model_design.level_term(treatment, lvl) + ("" if stratum == "all" else f" | {stratum}")
        for stratum, lvl in zip(shown["stratum"], shown["arm"])
    ]  # stratum: "modifier=level"
    se = shown["std_error"].to_numpy(float)
    est = shown["estimate"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * scipy.stats.norm.sf(np.abs(est / se)), np.nan)
    n = [int(n_of[k]) for k in zip(shown["stratum"], shown["arm"])]
    rows = estimate_rows(
        terms,
        est,
        se,
        ratio=False,
        conf_low=shown["conf_low"].to_numpy(float),
        conf_high=shown["conf_high"].to_numpy(float),
        p_value=p,
        notebook=notebook,
        model_id=model_id,
        outcome=outcome,
        population=population,
        estimator=estimator,
        n_obs=n,
        n_events=pd.NA,
        n_clusters=pd.NA,
    )
    comparison = pd.DataFrame(
        {
            "term": terms,
            "estimate": est,
            "n_obs": n,
            "std_error_influence": if_rd["std_error"].to_numpy(float),
            "conf_low_influence": if_rd["conf_low"].to_numpy(float),
            "conf_high_influence": if_rd["conf_high"].to_numpy(float),
        }
    )
    boot_cols = ["std_error", "conf_low", "conf_high"]
    for c in boot_cols:
        comparison[f"{c}_bootstrap"] = boot_rd[c].to_numpy(float) if boot_rd is not None else np.nan
    comparison["se_ratio_influence_to_bootstrap"] = (
        comparison["std_error_influence"] / comparison["std_error_bootstrap"]
    )
    comparison["n_bootstrap"] = n_bootstrap if boot_rd is not None else 0
    comparison["ci_method_reported"] = "bootstrap_percentile" if boot_rd is not None else "influence_function"
    return AipwRiskDifferences(estimates=rows, risks=risks, warnings=notes, inference=method, comparison=comparison)


# --------------------------------------------------------------------------------------------
# matching
# --------------------------------------------------------------------------------------------


def matched_logit_rows(
    data: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    outcome: str = "live_birth",
    treatment: str = "treatment_arm",
    treated: str = "personalized",
    reference: str = "none",
    model_id: str,
    population: str = "first_transfer_matched",
    notebook: str,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Return the OR of ``treated`` vs ``reference`` in the matched sample, SEs clustered on pairs."""
    if pairs.empty:
        raise ModelError(f"{model_id}: no treated patient found a control within the caliper")
    idx = np.concatenate([pairs["treated_index"].to_numpy(), pairs["control_index"].to_numpy()])
    pair = np.concatenate([pairs["pair"].to_numpy(), pairs["pair"].to_numpy()])
    rows = data.loc[idx]
    y = pd.to_numeric(rows[outcome]).to_numpy(dtype=float)
    X, names = model_design.covariate_design(
        rows, [treatment], references={treatment: reference}, levels={treatment: [reference, treated]}
    )
    beta, cov = weighted_logit(y, X, np.ones(len(y)), clusters=pair)
    return estimate_rows(
        names[1:],
        beta[1:],
        np.sqrt(np.diag(cov))[1:],
        model_id=model_id,
        estimator="matched_logit",
        ratio=True,
        conf_level=conf_level,
        n_obs=len(rows),
        n_events=int(y.sum()),
        n_clusters=len(pairs),
        outcome=outcome,
        population=population,
        notebook=notebook,
    )


# --------------------------------------------------------------------------------------------
# E-values
# --------------------------------------------------------------------------------------------


def evalue(rr: float) -> float:
    """Return the E-value of a risk ratio (VanderWeele & Ding 2017, Ann Intern Med 167:268).

    :math:`E = RR + \\sqrt{RR (RR - 1)}` for :math:`RR \\ge 1`; protective ratios are inverted
    first. The minimum strength of association, on the risk-ratio scale, that an unmeasured
    confounder would need with both the treatment and the outcome to explain the estimate away.
    """
    if not np.isfinite(rr) or rr <= 0:
        raise ModelError(f"E-value needs a positive finite risk ratio, got {rr}")
    r = rr if rr >= 1 else 1 / rr
    return float(r + np.sqrt(r * (r - 1)))


def evalue_table(estimates: pd.DataFrame, *, outcome_risk: float, rare_threshold: float = 0.15) -> pd.DataFrame:
    """Return E-values for ratio estimates (OR, RR) and their CI limit nearest the null.

    ORs are converted to the risk-ratio scale first: unchanged when the outcome is rare
    (``outcome_risk`` below ``rare_threshold``), else :math:`RR \\approx \\sqrt{OR}`
    (VanderWeele 2017). For the CI, the E-value of the limit closer to 1, or 1 when the CI
    includes 1.

    Parameters
    ----------
    estimates : DataFrame
        Contract rows with estimators ending in ``logit`` (OR) or ``rr``.
    outcome_risk : float
        Overall risk of the outcome in the analysed population.
    """
    common = outcome_risk >= rare_threshold
    out = []
    for r in estimates.itertuples():
        is_or = not str(r.estimator).endswith("rr")
        conv = np.sqrt if (is_or and common) else (lambda v: v)
        point, low, high = conv(r.estimate), conv(r.conf_low), conv(r.conf_high)
        limit = 1.0 if low <= 1 <= high else (low if point > 1 else high)
        out.append(
            {
                "model_id": r.model_id,
                "term": r.term,
                "estimator": r.estimator,
                "measure": "OR" if is_or else "RR",
                "estimate": r.estimate,
                "conversion": "sqrt(OR)" if (is_or and common) else "none",
                "rr_scale_estimate": point,
                "evalue_estimate": evalue(point),
                "evalue_ci_limit": 1.0 if limit == 1.0 else evalue(limit),
            }
        )
    return pd.DataFrame(out)


def estimand_statement(*, estimand: str, covariates: Sequence[str], n: int, truncation: Sequence[float]) -> str:
    """Return a sentence stating the estimand, the population and the propensity model."""
    targets = {
        "ATE": "the average treatment effect (ATE): the effect had every patient in the first-transfer "
        "population received one arm rather than the other",
        "ATT": "the average treatment effect in the treated (ATT): the effect among patients who received the treated arm",
        "ATO": "the average treatment effect in the overlap population (ATO, overlap weights): the effect among "
        "patients who could plausibly have received any arm, weighted towards those whose arm was least predictable",
    }
    if estimand.upper() not in targets:
        raise ModelError(f"estimand must be one of {sorted(targets)}, got {estimand!r}")
    target = targets[estimand.upper()]
    trunc = (
        f"weights truncated at the {truncation[0]:g}th and {truncation[1]:g}th percentiles"
        if truncation
        else "weights not truncated"
    )
    return (
        f"Estimand: {target}. Propensity model: multinomial logistic regression of the arm at the first "
        f"transfer on {', '.join(covariates)} ({n} patients with complete covariates); {trunc}."
    )


def iptw_estimate(
    data: pd.DataFrame,
    *,
    covariates: Sequence[str],
    population: str = "first_transfer",
    model_id: str,
    outcome: str = "live_birth",
    estimand: str = "ATE",
    treated: str = "personalized",
    truncation: Sequence[float] = (),
    reference: str = "none",
    notebook: str,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Return the IPTW OR rows of one population: scores, weights (truncated) and weighted model.

    The estimator every sensitivity set reruns. With ``population="all_transfers"`` the score
    models the arm at each transfer and the SEs are clustered on ``patient_id``.
    """

    scores = propensity_scores(data, covariates=covariates, reference=reference)
    weights = truncate_weights(iptw_weights(scores, estimand=estimand, treated=treated), list(truncation))
    cluster = "patient_id" if population == "all_transfers" else None
    return iptw_logit_rows(
        data,
        weights,
        outcome=outcome,
        reference=reference,
        cluster=cluster,
        model_id=model_id,
        population=population,
        notebook=notebook,
        conf_level=conf_level,
    )
