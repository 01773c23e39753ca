r"""Who benefits from personalized immunotherapy: effect modification, benefit model, decisions.

- **Effect modification by a marker**: logistic model of live birth at the first transfer,
  personalized vs none, with arm × marker (``log2`` of the marker when positive, so the OR is
  per doubling) and the adjustment covariates; the OR of personalized therapy as a function of
  the marker with Wald band, and the interaction test.
- **Treatment-benefit model**: logistic model with arm × (profile group + markers) and the
  covariates; each patient's predicted benefit is :math:`\hat p(\text{personalized}) -
  \hat p(\text{none})` (Kent et al. 2020, PATH statement, Ann Intern Med 172:35), judged
  out of fold (:func:`cross_validated_benefit`).
- **Observed outcomes, doubly robust**: every "observed" benefit is an AIPW estimate from the
  women's scores (:func:`aipw_scores`): by fifth of predicted benefit, the calibration for
  benefit, the decision curves and the by-group estimates of the rule. The c-for-benefit (van
  Klaveren et al. 2018) matches the arms on predicted benefit.
- **Decision curves for treatment** (after Vickers, Kattan & Sargent 2007, Trials 8:14): for a
  threshold :math:`t`, the smallest gain in live-birth probability for which a patient would
  accept the therapy, a rule's net benefit is the AIPW risk under the rule minus that under
  treat none minus :math:`t` times the share treated (:func:`net_benefit`). Strategies: treat
  none, treat all, treat dysregulated profiles, treat when the cross-validated benefit exceeds
  :math:`t`; bootstrap bands.
- **The supported rule** (:func:`rule_table`, a pure function of a stratum-estimate table):
  a group is treated when its AIPW risk difference is positive with a multiplicity-adjusted
  p-value at most α; every group gets its absolute risks, RD with CI, NNTB/NNTH (Altman 1998,
  BMJ 317:1309) and its number of women.
- **Subgroups** (:func:`subgroup_effects`): RD by level of each clinical subgroup with
  interaction tests, adjusted over the subgroups.
- **By profile, crude** (:func:`by_profile_table`): live birth with and without personalized
  therapy, unadjusted risk difference with a Wald CI and NNT (descriptive only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.stats

from analysis.core.exceptions import ModelError
from analysis.core.intervals import z_value
from analysis.methods.multiplicity import adjusted_p_values
from analysis.methods.resampling import bootstrap, percentile_interval
from analysis.models import design as model_design
from analysis.models.logistic import fit_binomial_irls, fit_logit
from analysis.models.multinomial import fit_multinomial_logit
from analysis.models.tidy import estimate_rows

__all__ = [
    "RULE_COLUMNS",
    "RULE_GROUPINGS",
    "aipw_rule_strata",
    "aipw_scores",
    "benefit_by_fifth",
    "benefit_matched_pairs",
    "by_profile_table",
    "c_for_benefit",
    "calibration_for_benefit",
    "concordance",
    "cross_validated_benefit",
    "decision_curve",
    "decision_curve_with_bands",
    "effect_modification_curve",
    "interaction_tests",
    "net_benefit",
    "number_needed",
    "predicted_benefit",
    "rule_statement",
    "rule_table",
    "stratum_effects",
    "subgroup_effects",
    "subgroup_estimate_rows",
]


def _two_arms(data, treatment, treated, reference):
    rows = data[data[treatment].astype(str).isin([treated, reference])].copy()
    rows["_treated"] = (rows[treatment].astype(str) == treated).astype(float)
    return rows


def _transformed(x: pd.Series) -> tuple[pd.Series, str]:
    return (np.log2(x), "log2") if (x.dropna() > 0).all() else (x, "linear")


def effect_modification_curve(
    data: pd.DataFrame,
    marker: str,
    *,
    outcome: str = "live_birth",
    covariates: Sequence[str] = (),
    treatment: str = "treatment_arm",
    treated: str = "personalized",
    reference: str = "none",
    n_points: int = 40,
    conf_level: float = 0.95,
) -> tuple[pd.DataFrame, dict]:
    """OR of ``treated`` vs ``reference`` along a marker, and the interaction test.

    Returns
    -------
    (DataFrame, dict)
        The curve (marker, value, odds_ratio, conf_low, conf_high) and one row for the
        interaction table (marker, scale, n, n_events, ratio_of_or (per doubling or unit),
        conf_low, conf_high, p_value, message).
    """
    rows = _two_arms(data, treatment, treated, reference)
    if marker not in rows or rows[marker].notna().sum() == 0:
        raise ModelError(f"{marker} has no observed value")
    rows = model_design.model_frame(rows, [outcome, "_treated", marker, *covariates])
    if rows[marker].nunique() < 2:
        raise ModelError(f"{marker} is constant: it cannot modify the therapy effect")
    if rows["_treated"].nunique() < 2:
        raise ModelError(f"{marker}: one arm has no patient with the marker measured")
    m, scale = _transformed(rows[marker])
    rows["_m"] = m
    rhs = " + ".join(["_treated * _m"] + [model_design.term(c, rows) for c in covariates])
    fit = fit_logit(rows, f"{outcome} ~ {rhs}")
    grid_raw = np.linspace(*np.quantile(rows[marker], [0.05, 0.95]), n_points)
    grid = np.log2(grid_raw) if scale == "log2" else grid_raw
    names = ["_treated", "_treated:_m"]
    beta = fit.params[names].to_numpy()
    cov = fit.cov_params().loc[names, names].to_numpy()
    L = np.column_stack([np.ones(n_points), grid])
    lp = L @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, cov, L))
    z = z_value(conf_level)
    curve = pd.DataFrame(
        {
            "marker": marker,
            "value": grid_raw,
            "odds_ratio": np.exp(lp),
            "conf_low": np.exp(lp - z * se),
            "conf_high": np.exp(lp + z * se),
        }
    )
    b, s = fit.params["_treated:_m"], fit.bse["_treated:_m"]
    test = {
        "marker": marker,
        "scale": "per doubling" if scale == "log2" else "per unit",
        "n": len(rows),
        "n_events": int(rows[outcome].sum()),
        "ratio_of_or": np.exp(b),
        "conf_low": np.exp(b - z * s),
        "conf_high": np.exp(b + z * s),
        "p_value": float(fit.pvalues["_treated:_m"]),
        "message": "",
    }
    return curve, test


def interaction_tests(data: pd.DataFrame, markers: Sequence[str], **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effect-modification curves and interaction tests for every marker (failures get a message)."""
    curves, tests = [], []
    for marker in markers:
        try:
            curve, test = effect_modification_curve(data, marker, **kwargs)
            curves.append(curve)
            tests.append(test)
        except ModelError as exc:
            tests.append({"marker": marker, "message": str(exc)})
    # fixed columns, so a cohort where no marker can be estimated still gives the full tables
    curve_columns = ["marker", "value", "odds_ratio", "conf_low", "conf_high"]
    test_columns = ["marker", "scale", "n", "n_events", "ratio_of_or", "conf_low", "conf_high", "p_value", "message"]
    return (
        pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=curve_columns),
        pd.DataFrame(tests).reindex(columns=test_columns),
    )


def predicted_benefit(
    data: pd.DataFrame,
    *,
    outcome: str = "live_birth",
    modifiers: Sequence[str],
    covariates: Sequence[str] = (),
    treatment: str = "treatment_arm",
    treated: str = "personalized",
    reference: str = "none",
) -> pd.DataFrame:
    """Fit the treatment-benefit model and return each patient's predicted risks and benefit.

    Returns
    -------
    DataFrame
        The rows used (their index kept) with ``risk_treated``, ``risk_untreated``, ``benefit``
        and the received arm as ``treated`` (0/1).
    """
    rows = _two_arms(data, treatment, treated, reference)
    rows = model_design.model_frame(rows, [outcome, "_treated", *modifiers, *covariates])
    if rows["_treated"].nunique() < 2:
        raise ModelError("benefit model: one arm has no patient with complete data")
    rhs = " + ".join(
        ["_treated"]
        + [f"_treated:{model_design.term(mname, rows)}" for mname in modifiers]
        + [model_design.term(c, rows) for c in dict.fromkeys([*modifiers, *covariates])]
    )
    fit = fit_logit(rows, f"{outcome} ~ {rhs}")
    design = model_design.named_design(rhs, rows)
    beta = fit.params.reindex(design.columns).to_numpy()
    risks = {}
    for value in (1.0, 0.0):  # every patient's risk under each arm (counterfactual design)
        X = model_design.design_of_rows(design, rows.assign(_treated=value))
        risks[value] = 1 / (1 + np.exp(-(X @ beta)))
    out = rows.assign(risk_treated=risks[1.0], risk_untreated=risks[0.0], treated=rows["_treated"].astype(int))
    out["benefit"] = out["risk_treated"] - out["risk_untreated"]
    return out.drop(columns="_treated")


def by_profile_table(
    data: pd.DataFrame,
    *,
    outcome: str = "live_birth",
    by: str = "profile_group",
    treatment: str = "treatment_arm",
    treated: str = "personalized",
    reference: str = "none",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Live birth with and without personalized therapy by profile, RD with CI and NNT (or NNH)."""
    rows = _two_arms(data, treatment, treated, reference).dropna(subset=[outcome, by])
    z = z_value(conf_level)
    out = []
    for level, g in rows.groupby(rows[by].astype(str), sort=True):
        t, c = g.loc[g["_treated"] == 1, outcome].astype(float), g.loc[g["_treated"] == 0, outcome].astype(float)
        entry = {
            by: level,
            "n_treated": len(t),
            "events_treated": int(t.sum()),
            "n_untreated": len(c),
            "events_untreated": int(c.sum()),
        }
        if len(t) and len(c):
            p1, p0 = t.mean(), c.mean()
            rd = p1 - p0
            se = np.sqrt(p1 * (1 - p1) / len(t) + p0 * (1 - p0) / len(c))
            lo, hi = rd - z * se, rd + z * se
            entry.update(risk_treated=p1, risk_untreated=p0, risk_difference=rd, conf_low=lo, conf_high=hi)
            if lo > 0 or hi < 0:
                entry.update(
                    nnt=1 / rd, nnt_low=1 / hi, nnt_high=1 / lo, nnt_kind="NNT (benefit)" if rd > 0 else "NNH (harm)"
                )
            else:
                entry.update(
                    nnt=1 / rd if rd else np.inf,
                    nnt_low=np.nan,
                    nnt_high=np.nan,
                    nnt_kind="CI of RD includes 0: NNT from "
                    + f"{1 / hi:.1f} (benefit) through ∞ to "
                    + f"{abs(1 / lo):.1f} (harm)"
                    if lo and hi
                    else "undefined",
                )
        out.append(entry)
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------
# doubly robust (AIPW) scores: the observed-outcome side of every "who benefits" analysis
# --------------------------------------------------------------------------------------------


def _expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _arm_outcome_design(
    rows: pd.DataFrame,
    arm: np.ndarray,
    *,
    arms: list[str],
    reference: str,
    modifier: str | None,
    modifier_levels: list[str],
    covariates: list[str],
    covariate_levels: dict,
) -> np.ndarray:
    """Intercept, arm, covariates (the modifier among them) and arm × modifier, for the arm values ``arm``."""
    frame = rows.assign(_arm=arm)
    A, _ = model_design.covariate_design(
        frame, ["_arm"], references={"_arm": reference}, intercept=False, levels={"_arm": arms}
    )
    C, _ = model_design.covariate_design(frame, covariates, levels=covariate_levels)
    parts = [C, A]
    if modifier is not None:
        M, _ = model_design.covariate_design(frame, [modifier], intercept=False, levels={modifier: modifier_levels})
        parts += [A[:, [j]] * M for j in range(A.shape[1])]
    return np.column_stack(parts)


def aipw_scores(
    data: pd.DataFrame,
    *,
    outcome: str = "live_birth",
    treatment: str = "treatment_arm",
    treated: str = "personalized",
    reference: str = "none",
    ps_covariates: Sequence[str],
    outcome_covariates: Sequence[str],
    modifier: str | None = None,
    augmented: bool = True,
) -> pd.DataFrame:
    r"""Return each woman's doubly robust (AIPW) scores for live birth with and without ``treated``.

    The propensity model is a multinomial logistic regression of the arm (every arm in the data,
    as in notebook 05) on ``ps_covariates``, giving :math:`e_a(X)`; the outcome model a logistic
    regression of the outcome on arm × ``modifier`` plus ``outcome_covariates``, giving
    :math:`\mu_a(X)`. For arm :math:`a` the score is (Robins, Rotnitzky & Zhao 1994; Bang &
    Robins 2005, Biometrics 61:962)

    .. math::
        \psi_a = \mu_a(X) + \frac{1\{A = a\}}{e_a(X)}\,\{Y - \mu_a(X)\},

    whose mean over any set of women defined by baseline variables is the doubly robust
    estimate of their risk under arm :math:`a` (the AIPW risks of notebook 05 are these means
    by profile group). ``effect_score`` :math:`= \psi_{treated} - \psi_{reference}` is the
    pseudo-outcome of the DR-learner (Kennedy 2023, Electron J Stat 17:3008): its mean within a
    group is the group's risk difference and its deviation from that mean the influence function
    of the estimate. With ``augmented=False`` the outcome model is left out
    (:math:`\mu_a = 0`, inverse-probability weighting, Horvitz–Thompson form).

    Parameters
    ----------
    data : DataFrame
        First transfers; rows missing any column used are left out.
    outcome, treatment, treated, reference : str
    ps_covariates, outcome_covariates : sequence of str
    modifier : str, optional
        Categorical column whose levels get their own arm effect in the outcome model.
    augmented : bool

    Returns
    -------
    DataFrame
        The rows used (index kept): the received arm, ``treated`` (1 if it was ``treated``),
        the outcome as ``y``, ``ps_treated``, ``ps_reference``, ``risk_treated``,
        ``risk_untreated`` (the outcome model), ``score_treated``, ``score_untreated``,
        ``effect_score``, and the modifier column when given.

    Raises
    ------
    ModelError
        An arm or a modifier level × arm cell is empty, or a model cannot be fitted
        (separation); the message lists every empty cell.
    """
    covs = [c for c in dict.fromkeys([*([modifier] if modifier else []), *outcome_covariates]) if c != treatment]
    rows = model_design.model_frame(data, [outcome, treatment, *ps_covariates, *covs])
    arm = rows[treatment].astype(str).to_numpy()
    present = sorted(set(arm))
    problems = [f"no patient received {a}" for a in (treated, reference) if a not in present]
    if modifier is not None and not problems:
        mod = rows[modifier].astype(str).to_numpy()
        problems += [
            f"no patient of {modifier}={lvl} received {a}"
            for lvl in sorted(set(mod))
            for a in (treated, reference)
            if not ((mod == lvl) & (arm == a)).any()
        ]
    if problems:
        raise ModelError("AIPW scores: " + "; ".join(problems))
    arms = [reference] + [a for a in present if a != reference]
    codes = pd.Categorical(arm, categories=arms).codes
    X_ps, _ = model_design.covariate_design(rows, list(ps_covariates))
    probs = fit_multinomial_logit(X_ps, codes, n_classes=len(arms), covariance=False)[2]
    y = pd.to_numeric(rows[outcome]).to_numpy(dtype=float)
    is_t, is_r = (arm == treated).astype(float), (arm == reference).astype(float)
    e_t, e_r = probs[:, arms.index(treated)], probs[:, 0]
    if augmented:
        levels = {c: sorted(rows[c].astype(str).unique()) for c in covs if model_design.is_categorical(c, rows)}
        spec = dict(
            arms=arms,
            reference=reference,
            modifier=modifier,
            modifier_levels=levels.get(modifier, []),
            covariates=covs,
            covariate_levels=levels,
        )
        X = _arm_outcome_design(rows, arm, **spec)
        fit = fit_binomial_irls(X, y, np.ones(len(y)))
        if not fit.converged:
            raise ModelError(
                "AIPW scores: the outcome model did not converge (separation: an outcome that never "
                "or always happens in some arm or modifier level)"
            )
        mu_t = _expit(_arm_outcome_design(rows, np.full(len(y), treated, dtype=object), **spec) @ fit.coef)
        mu_r = _expit(_arm_outcome_design(rows, np.full(len(y), reference, dtype=object), **spec) @ fit.coef)
    else:
        mu_t = mu_r = np.zeros(len(y))
    score_t = mu_t + is_t * (y - mu_t) / e_t
    score_r = mu_r + is_r * (y - mu_r) / e_r
    out = pd.DataFrame(
        {
            "arm": arm,
            "treated": is_t.astype(int),
            "y": y,
            "ps_treated": e_t,
            "ps_reference": e_r,
            "risk_treated": mu_t,
            "risk_untreated": mu_r,
            "score_treated": score_t,
            "score_untreated": score_r,
            "effect_score": score_t - score_r,
        },
        index=rows.index,
    )
    if modifier is not None:
        out[modifier] = rows[modifier].astype(str)
    return out


def stratum_effects(
    scores: pd.DataFrame, *, by: str | None = None, conf_level: float = 0.95, reference: str = "none"
) -> pd.DataFrame:
    r"""Return the AIPW risks with and without therapy and their difference in each group.

    Within a group of :math:`n` women the risk under each arm is the mean of its score, the
    risk difference :math:`\widehat{RD}` the mean of ``effect_score`` :math:`D_i`, with the
    influence-function standard error :math:`\{\sum_i (D_i - \widehat{RD})^2/(n-1)\}^{1/2}/\sqrt n`
    (which ignores the estimation of the two models, first-order negligible for AIPW when both
    converge: Chernozhukov et al. 2018, Econom J 21:C1), a Wald interval and a two-sided Wald
    p-value. A pure function of the scores.

    Parameters
    ----------
    scores : DataFrame
        From :func:`aipw_scores`.
    by : str, optional
        Grouping column of ``scores``; None gives one row ``all``.
    conf_level : float
    reference : str
        The reference arm (to count its women).

    Returns
    -------
    DataFrame
        ``group, n, n_treated, n_untreated, risk_treated, risk_untreated, risk_difference,
        std_error, conf_low, conf_high, p_value``.
    """
    z = z_value(conf_level)
    groups = [("all", scores)] if by is None else list(scores.groupby(scores[by].astype(str), sort=True))
    out = []
    for level, g in groups:
        d = g["effect_score"].to_numpy(float)
        rd = float(d.mean())
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.nan
        out.append(
            {
                "group": level,
                "n": len(g),
                "n_treated": int(g["treated"].sum()),
                "n_untreated": int((g["arm"] == reference).sum()),
                "risk_treated": float(g["score_treated"].mean()),
                "risk_untreated": float(g["score_untreated"].mean()),
                "risk_difference": rd,
                "std_error": se,
                "conf_low": rd - z * se,
                "conf_high": rd + z * se,
                "p_value": float(2 * scipy.stats.norm.sf(abs(rd / se))) if se > 0 else np.nan,
            }
        )
    return pd.DataFrame(out)


#: Groupings of the supported rule, each its own multiplicity family.
RULE_GROUPINGS = ("profile_group", "immune_profile")


def aipw_rule_strata(
    first: pd.DataFrame,
    *,
    outcome: str,
    ps_covariates: Sequence[str],
    reference_arm: str,
    conf_level: float = 0.95,
    groupings: Sequence[str] = RULE_GROUPINGS,
) -> tuple[pd.DataFrame, list[str]]:
    """Return the AIPW stratum estimates of every grouping of the supported rule, and why any is missing.

    The one place the rule's inputs are computed: notebook 06 turns them into the rule
    (:func:`rule_table`) and notebook 07 checks that same rule against the declared harms
    (:func:`analysis.methods.safety.harm_checked_rule`). Each grouping gets its own AIPW scores
    (:func:`aipw_scores`, outcome model with arm × grouping) and :func:`stratum_effects`.

    Parameters
    ----------
    first : DataFrame
        First transfers.
    outcome : str
    ps_covariates : sequence of str
        Confounders of the propensity and outcome models.
    reference_arm : str
    conf_level : float
    groupings : sequence of str
        Columns to stratify by.

    Returns
    -------
    (DataFrame, list of str)
        :func:`stratum_effects` rows with a ``grouping`` column (empty when no grouping could
        be estimated), and one ``"grouping: reason"`` per grouping that could not.
    """
    parts, reasons = [], []
    for grouping in groupings:
        try:
            scores = aipw_scores(
                first,
                outcome=outcome,
                ps_covariates=ps_covariates,
                outcome_covariates=ps_covariates,
                modifier=grouping,
                reference=reference_arm,
            )
        except ModelError as exc:
            reasons.append(f"{grouping}: {exc}")
            continue
        effects = stratum_effects(scores, by=grouping, conf_level=conf_level, reference=reference_arm)
        parts.append(effects.assign(grouping=grouping))
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()), reasons


# --------------------------------------------------------------------------------------------
# the supported rule: a pure function of a stratum-estimate table
# --------------------------------------------------------------------------------------------


def number_needed(risk_difference: float, conf_low: float, conf_high: float) -> dict:
    r"""Return the number needed to treat for benefit or harm, with its interval, as Altman writes it.

    NNTB :math:`= 1/RD` for :math:`RD > 0`, NNTH :math:`= 1/|RD|` for :math:`RD < 0`; the
    interval is the reciprocal of the RD limits. When the RD interval includes 0 the NNT
    interval runs from one limit through infinity to the other, e.g. "NNTB 10 (NNTH 25 to ∞ to
    NNTB 4)" (Altman 1998, BMJ 317:1309).

    Returns
    -------
    dict
        ``nnt_kind`` (``NNTB``/``NNTH``/empty), ``nnt`` (positive, inf when RD = 0),
        ``nnt_low``, ``nnt_high`` (the finite limits when the RD interval excludes 0, else NaN),
        ``nnt_display``.
    """
    if not np.isfinite(risk_difference):
        return {"nnt_kind": "", "nnt": np.nan, "nnt_low": np.nan, "nnt_high": np.nan, "nnt_display": "not estimable"}
    kind = "NNTB" if risk_difference > 0 else "NNTH" if risk_difference < 0 else ""
    nnt = 1 / abs(risk_difference) if risk_difference else np.inf
    point = f"{kind} {nnt:.1f}" if kind else "NNT ∞"
    if conf_low > 0 or conf_high < 0:
        a, b = sorted([1 / abs(conf_low), 1 / abs(conf_high)])
        return {
            "nnt_kind": kind,
            "nnt": nnt,
            "nnt_low": a,
            "nnt_high": b,
            "nnt_display": f"{point} ({a:.1f} to {b:.1f})",
        }
    harm = f"NNTH {1 / abs(conf_low):.1f}" if conf_low < 0 else "NNTH ∞"
    benefit = f"NNTB {1 / conf_high:.1f}" if conf_high > 0 else "NNTB ∞"
    return {
        "nnt_kind": kind,
        "nnt": nnt,
        "nnt_low": np.nan,
        "nnt_high": np.nan,
        "nnt_display": f"{point} ({harm} to ∞ to {benefit})",
    }


RULE_COLUMNS = [
    "grouping",
    "group",
    "n",
    "n_treated",
    "n_untreated",
    "risk_treated",
    "risk_untreated",
    "risk_difference",
    "conf_low",
    "conf_high",
    "p_value",
    "p_adjusted",
    "multiplicity",
    "nnt_kind",
    "nnt",
    "nnt_low",
    "nnt_high",
    "nnt_display",
    "verdict",
]


def rule_table(
    strata: pd.DataFrame, *, alpha: float = 0.05, multiplicity: str = "holm", family: str = "grouping"
) -> pd.DataFrame:
    """Return, for every group of a stratum-estimate table, whether the data support treating it.

    A pure function of ``strata`` (so a harm check can be applied to its output). A group is
    ``treat`` when its risk difference is positive and its multiplicity-adjusted p-value is at
    most ``alpha``, ``do not treat (harm)`` when negative with the same, and ``no rule`` otherwise;
    the adjustment (``multiplicity``: ``holm``, ``fixed_sequence`` in table order, or ``none``)
    runs over the groups of each ``family`` (default: within each grouping, e.g. the two profile
    groups are one family, the immune profiles another).

    Parameters
    ----------
    strata : DataFrame
        ``group, n, n_treated, n_untreated, risk_treated, risk_untreated, risk_difference,
        conf_low, conf_high, p_value`` (as :func:`stratum_effects`), optionally ``grouping``.
    alpha : float
    multiplicity : str
    family : str
        Column whose values define the families (absent: one family).

    Returns
    -------
    DataFrame
        :data:`RULE_COLUMNS`.
    """
    needed = {"group", "n", "risk_treated", "risk_untreated", "risk_difference", "conf_low", "conf_high", "p_value"}
    missing = sorted(needed - set(strata.columns))
    if missing:
        raise ValueError(f"the stratum table lacks the column(s) {missing}")
    out = strata.copy()
    if "grouping" not in out:
        out["grouping"] = ""
    for col in ("n_treated", "n_untreated"):
        if col not in out:
            out[col] = np.nan
    keys = out[family] if family in out else pd.Series("", index=out.index)
    out["p_adjusted"] = np.nan
    for _, idx in out.groupby(keys, sort=False).groups.items():
        out.loc[idx, "p_adjusted"] = adjusted_p_values(out.loc[idx, "p_value"].to_numpy(float), multiplicity)
    out["multiplicity"] = multiplicity
    nnt = pd.DataFrame(
        [number_needed(r.risk_difference, r.conf_low, r.conf_high) for r in out.itertuples()], index=out.index
    )
    out = pd.concat([out, nnt], axis=1)
    shown = out["p_adjusted"] <= alpha
    out["verdict"] = np.where(
        shown & (out["risk_difference"] > 0),
        "treat",
        np.where(shown & (out["risk_difference"] < 0), "do not treat (harm)", "no rule"),
    )
    out.loc[out["risk_difference"].isna(), "verdict"] = "not estimable"
    return out[RULE_COLUMNS].reset_index(drop=True)


def rule_statement(rule: pd.DataFrame, *, alpha: float = 0.05, conf_level: float = 0.95) -> str:
    """Return the treatment rule the data support, in plain words, with every group's numbers.

    Says plainly when the data support no rule. ``rule`` is :func:`rule_table`'s output.
    """
    method = str(rule["multiplicity"].iloc[0]) if len(rule) else "none"
    how = {"holm": "Holm-adjusted", "fixed_sequence": "fixed-sequence", "none": "unadjusted"}.get(method, method)
    treat = rule[rule["verdict"] == "treat"]
    harm = rule[rule["verdict"] == "do not treat (harm)"]

    def where(r):
        return f"{r.group} ({str(r.grouping).replace('_', ' ')})" if r.grouping else str(r.group)

    def named(frame):
        return " or ".join(where(r) for r in frame.itertuples())

    if len(treat):
        head = f"The data support offering personalized immunotherapy to women with a {named(treat)} profile"
    else:
        head = "The data support no treatment rule: no group shows a benefit of personalized immunotherapy"
    if len(harm):
        head += f", and support withholding it from {named(harm)}"
    pct = f"{conf_level * 100:g}%"
    parts = []
    for r in rule.itertuples():
        if r.verdict == "not estimable":
            parts.append(f"{where(r)}: not estimable")
            continue
        parts.append(
            f"{where(r)}, {int(r.n)} women: live birth {100 * r.risk_treated:.1f}% with and "
            f"{100 * r.risk_untreated:.1f}% without therapy, difference {100 * r.risk_difference:+.1f} "
            f"percentage points ({pct} CI {100 * r.conf_low:+.1f} to {100 * r.conf_high:+.1f}; {how} "
            f"p = {r.p_adjusted:.3g}), {r.nnt_display}"
        )
    return (
        head
        + f" (doubly robust AIPW estimates at the first transfer; {how} p-values within each grouping, "
        + f"rule at α = {alpha:g}). "
        + "; ".join(parts)
        + "."
    )


# --------------------------------------------------------------------------------------------
# the benefit model, cross-validated
# --------------------------------------------------------------------------------------------


def _benefit_arrays(rows: pd.DataFrame, *, outcome, treatment, treated, reference, modifiers, covariates) -> dict:
    """The benefit model's pieces for every row, built once: outcome, arm indicators, main effects, modifiers."""
    cols = list(dict.fromkeys([*modifiers, *covariates]))
    levels = {c: sorted(rows[c].astype(str).unique()) for c in cols if model_design.is_categorical(c, rows)}
    main, _ = model_design.covariate_design(rows, cols, levels=levels)
    mods, _ = model_design.covariate_design(rows, list(modifiers), intercept=False, levels=levels)
    arm = rows[treatment].astype(str).to_numpy()
    return {
        "y": pd.to_numeric(rows[outcome]).to_numpy(dtype=float),
        "t": (arm == treated).astype(float),
        "pool": np.isin(arm, [treated, reference]),
        "main": main,
        "mods": mods,
    }


def _benefit_design(main: np.ndarray, mods: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Intercept, treatment indicator ``t``, main effects (modifiers and covariates) and ``t`` × modifiers."""
    return np.column_stack([main[:, :1], t, main[:, 1:], t[:, None] * mods])


def _out_of_fold_benefit(arrays: dict, woman: np.ndarray, *, n_folds: int, seed: int) -> np.ndarray:
    """Out-of-fold predicted benefit; ``woman`` labels the rows so that copies of one woman share a fold."""
    unique, inverse = np.unique(woman, return_inverse=True)
    fold = (np.random.default_rng(seed).permutation(len(unique)) % n_folds)[inverse]
    rows = np.arange(len(arrays["y"]))
    return _fold_benefit(_replicate_designs(arrays), rows, np.ones(len(rows)), fold, n_folds=n_folds)


def _fold_benefit(
    designs: dict, rows: np.ndarray, weight: np.ndarray, fold: np.ndarray, *, n_folds: int, start=None
) -> np.ndarray:
    """Predicted benefit of ``rows`` (designs of :func:`_replicate_designs`), each fold's from a fit on the others.

    The fit of fold ``k`` uses the rows outside it that are in the model's pool, with ``weight``
    as binomial weights (1 per row, or a woman's copies in a bootstrap resample); it starts from
    ``start`` when given (a bootstrap replicate starts from the fit on all women, R's ``start``).
    """
    y, pool, x = designs["y"][rows], designs["pool"][rows], designs["x"][rows]
    out = np.full(len(rows), np.nan)
    for k in range(n_folds):
        test = fold == k
        train = ~test & pool
        if not test.any():
            continue
        fit = fit_binomial_irls(x[train], y[train], weight[train], start=start)
        if not fit.converged:
            raise ModelError("benefit model: did not converge in a cross-validation fold (separation)")
        held = rows[test]
        out[test] = _expit(designs["x_treated"][held] @ fit.coef) - _expit(designs["x_untreated"][held] @ fit.coef)
    return out


def cross_validated_benefit(
    data: pd.DataFrame,
    *,
    outcome: str = "live_birth",
    modifiers: Sequence[str],
    covariates: Sequence[str] = (),
    treatment: str = "treatment_arm",
    treated: str = "personalized",
    reference: str = "none",
    n_folds: int = 5,
    seed: int = 0,
) -> pd.Series:
    """Return each woman's out-of-fold predicted benefit from the treatment-benefit model.

    The model is :func:`predicted_benefit`'s (arm × ``modifiers`` + ``covariates``, fitted on
    the ``treated`` and ``reference`` arms); the women are split at random into ``n_folds``
    folds and each fold's benefit is predicted by the model fitted on the other folds, so a
    decision curve or calibration built on it does not reward the model for fitting noise
    (the in-sample "treat by model" curve beats every strategy by construction).

    Returns
    -------
    Series
        Predicted benefit (risk with minus risk without therapy) of every row of ``data``
        complete on the model's columns (all arms: a woman of another arm also gets a
        prediction), index kept.
    """
    rows = model_design.model_frame(data, [outcome, treatment, *modifiers, *covariates])
    arrays = _benefit_arrays(
        rows,
        outcome=outcome,
        treatment=treatment,
        treated=treated,
        reference=reference,
        modifiers=list(modifiers),
        covariates=list(covariates),
    )
    oof = _out_of_fold_benefit(arrays, np.arange(len(rows)), n_folds=n_folds, seed=seed)
    return pd.Series(oof, index=rows.index, name="benefit")


# --------------------------------------------------------------------------------------------
# decision curves, calibration and discrimination for benefit, from observed outcomes
# --------------------------------------------------------------------------------------------


def net_benefit(effect_score: np.ndarray, treat: np.ndarray, threshold: float) -> float:
    r"""Return the net benefit of a treatment rule, estimated from doubly robust scores.

    .. math::
        NB(r) = \hat P(Y^{r}=1) - \hat P(Y^{none}=1) - t\,\overline{r}
              = \frac1n \sum_i r_i\,(\psi_{1i} - \psi_{0i} - t),

    with :math:`r_i` = 1 if the rule treats woman :math:`i`, :math:`\psi` the AIPW scores
    (:func:`aipw_scores`) and :math:`t` the threshold: the smallest gain in live-birth
    probability for which a woman would accept the therapy. The risk under the rule is the
    AIPW value of the policy (Zhang et al. 2012, Biometrics 68:1010); treat none has 0, treat
    all :math:`\overline{\psi_1 - \psi_0} - t` (Vickers, Kattan & Sargent 2007, Trials 8:14,
    for the treatment decision curve).
    """
    d = np.asarray(effect_score, dtype=float)
    r = np.asarray(treat, dtype=float)
    return float(np.mean(r * (d - threshold)))


def _rules(predicted: np.ndarray, profile: np.ndarray | None, treat_level: str, t: float) -> dict:
    n = len(predicted)
    rules = {"treat none": np.zeros(n, bool), "treat all": np.ones(n, bool)}
    if profile is not None:
        rules[f"treat {treat_level} profiles"] = profile == treat_level
    rules["treat by model (cross-validated)"] = predicted > t
    return rules


def decision_curve(
    scores: pd.DataFrame,
    predicted: pd.Series,
    *,
    thresholds: Sequence[float],
    profile_col: str = "profile_group",
    treat_level: str = "dysregulated",
    profiles: pd.Series | None = None,
) -> pd.DataFrame:
    """Net benefit of treat none, treat all, treat by profile and treat by the model, from outcomes.

    A pure function: the net benefit of each rule is :func:`net_benefit` of the AIPW scores;
    the model's rule treats a woman when her (cross-validated) predicted benefit exceeds the
    threshold. Rows are the women with both a score and a prediction.

    Parameters
    ----------
    scores : DataFrame
        :func:`aipw_scores`.
    predicted : Series
        Predicted benefit, indexed like ``scores`` (:func:`cross_validated_benefit`).
    thresholds : sequence of float
    profile_col, treat_level : str
        The profile rule: treat women whose ``profile_col`` is ``treat_level``.
    profiles : Series, optional
        The profile column when ``scores`` does not hold it.

    Returns
    -------
    DataFrame
        ``threshold, strategy, net_benefit, share_treated, n``.
    """
    idx = scores.index.intersection(predicted.dropna().index)
    d = scores.loc[idx, "effect_score"].to_numpy(float)
    b = predicted.loc[idx].to_numpy(float)
    source = scores[profile_col] if profile_col in scores else profiles
    prof = source.loc[idx].astype(str).to_numpy() if source is not None else None
    rows = []
    for t in thresholds:
        for name, treat in _rules(b, prof, treat_level, t).items():
            rows.append(
                {
                    "threshold": float(t),
                    "strategy": name,
                    "net_benefit": net_benefit(d, treat, t),
                    "share_treated": float(treat.mean()),
                    "n": len(idx),
                }
            )
    return pd.DataFrame(rows)


def _replicate_designs(arrays: dict) -> dict:
    """The benefit model's designs for every row, built once for all bootstrap replicates.

    ``x``: the received arm; ``x_treated``, ``x_untreated``: every row with the arm set to 1
    and to 0 (the counterfactual designs of the predicted benefit).
    """
    main, mods, t = arrays["main"], arrays["mods"], arrays["t"]
    n = len(t)
    return {
        "y": arrays["y"],
        "pool": arrays["pool"],
        "x": _benefit_design(main, mods, t),
        "x_treated": _benefit_design(main, mods, np.ones(n)),
        "x_untreated": _benefit_design(main, mods, np.zeros(n)),
    }


def _decision_curve_replicate(
    pos: np.ndarray, *, designs, effect_score, profile, treat_level, thresholds, n_folds, fold_seed, start=None
) -> np.ndarray:
    """Net benefit of every rule and threshold on the bootstrap resample ``pos`` (rules in :func:`_rules` order).

    The resample is held as the count of copies of each woman drawn rather than as copied
    rows: copies of a woman share a fold, so each training fold is her rows once with her
    count as binomial weight (the same likelihood as the copied rows, hence the same fit up
    to the iterations' rounding) and the net benefits are count-weighted means. The folds are
    those of :func:`_out_of_fold_benefit` on the copied rows (the drawn women in order of
    position, permuted by ``fold_seed``), so a replicate is the copied-row replicate with
    about 37% fewer rows in every fit and no design rebuilt. The fits start from ``start`` (the
    model on all women): about two IRLS steps fewer each, the same optimum.
    """
    counts = np.bincount(pos, minlength=len(effect_score))
    women = np.flatnonzero(counts)
    weight = counts[women].astype(float)
    fold = np.random.default_rng(fold_seed).permutation(len(women)) % n_folds
    predicted = _fold_benefit(designs, women, weight, fold, n_folds=n_folds, start=start)
    t = np.asarray(thresholds, dtype=float)
    d = effect_score[women]
    wd = weight * d
    n = len(pos)

    def treated(w: np.ndarray, wd: np.ndarray) -> np.ndarray:
        # sum over the treated women of weight × (score - t) = sum(w d) - t sum(w): no women × thresholds array
        return (wd.sum() - t * w.sum()) / n

    columns = [np.zeros(len(t)), treated(weight, wd)]
    if profile is not None:
        chosen = profile[women] == treat_level
        columns.append(treated(weight[chosen], wd[chosen]))
    # treat by model: women with predicted benefit above t, by sums from the top of the sorted predictions
    known = np.flatnonzero(np.isfinite(predicted))
    order = known[np.argsort(predicted[known], kind="stable")]
    above_w = np.r_[np.cumsum(weight[order][::-1])[::-1], 0.0]
    above_wd = np.r_[np.cumsum(wd[order][::-1])[::-1], 0.0]
    first_above = np.searchsorted(predicted[order], t, side="right")
    columns.append((above_wd[first_above] - t * above_w[first_above]) / n)
    return np.column_stack(columns).ravel()


def decision_curve_with_bands(
    data: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    outcome: str = "live_birth",
    modifiers: Sequence[str],
    covariates: Sequence[str] = (),
    thresholds: Sequence[float],
    treatment: str = "treatment_arm",
    treated: str = "personalized",
    reference: str = "none",
    profile_col: str = "profile_group",
    treat_level: str = "dysregulated",
    n_folds: int = 5,
    n_bootstrap: int = 200,
    seed: int = 0,
    n_jobs: int | None = 1,
    conf_level: float = 0.95,
) -> tuple[pd.DataFrame, pd.Series]:
    """The decision curve of :func:`decision_curve` with percentile bootstrap bands.

    The model's curve uses cross-validated predictions (:func:`cross_validated_benefit`). Each
    bootstrap resample of women repeats the cross-validation (the model refitted in every
    training fold of the resample, copies of a woman kept in one fold) and re-evaluates every
    rule on the resampled scores; the scores' own models are not refitted (AIPW is first-order
    insensitive to their estimation), so the bands carry the sampling error of the outcomes
    and of the benefit model.

    Returns
    -------
    (DataFrame, Series)
        The curve with ``conf_low``, ``conf_high`` and ``n_bootstrap``; the cross-validated
        predicted benefit.
    """
    cols = list(dict.fromkeys([*modifiers, *covariates, profile_col]))
    rows = model_design.model_frame(data.loc[data.index.intersection(scores.index)], [outcome, treatment, *cols])
    arrays = _benefit_arrays(
        rows,
        outcome=outcome,
        treatment=treatment,
        treated=treated,
        reference=reference,
        modifiers=list(modifiers),
        covariates=list(covariates),
    )
    predicted = pd.Series(
        _out_of_fold_benefit(arrays, np.arange(len(rows)), n_folds=n_folds, seed=seed), index=rows.index, name="benefit"
    )
    curve = decision_curve(
        scores.loc[rows.index],
        predicted,
        thresholds=thresholds,
        profile_col=profile_col,
        treat_level=treat_level,
        profiles=rows[profile_col],
    )
    designs = _replicate_designs(arrays)
    pool = designs["pool"]
    on_all = fit_binomial_irls(designs["x"][pool], designs["y"][pool], np.ones(int(pool.sum())))
    reps = bootstrap(
        _decision_curve_replicate,
        np.arange(len(rows)),
        n_boot=n_bootstrap,
        seed=seed,
        n_jobs=n_jobs,
        designs=designs,
        start=on_all.coef if on_all.converged else None,
        effect_score=scores.loc[rows.index, "effect_score"].to_numpy(float),
        profile=rows[profile_col].astype(str).to_numpy(),
        treat_level=treat_level,
        thresholds=list(thresholds),
        n_folds=n_folds,
        fold_seed=seed,
    )
    low, high = percentile_interval(reps, conf_level=conf_level)
    curve = curve.assign(
        conf_low=low, conf_high=high, n_bootstrap=n_bootstrap, n_failed_replicates=int(np.isnan(reps).all(axis=1).sum())
    )
    return curve, predicted


def benefit_by_fifth(scores: pd.DataFrame, predicted: pd.Series, *, conf_level: float = 0.95) -> pd.DataFrame:
    """Observed (AIPW) against predicted benefit within fifths of predicted benefit.

    The observed benefit of a fifth is the mean of the doubly robust ``effect_score`` of its
    women (an adjusted risk difference, not the crude difference of two arms that differ in
    who was treated), with the influence-function Wald interval of :func:`stratum_effects`.

    Returns
    -------
    DataFrame
        ``quintile, n, n_treated, n_untreated, predicted_benefit, observed_benefit, conf_low,
        conf_high``.
    """
    idx = scores.index.intersection(predicted.dropna().index)
    s = scores.loc[idx]
    b = predicted.loc[idx]
    q = pd.qcut(b.rank(method="first"), 5, labels=[1, 2, 3, 4, 5])
    eff = stratum_effects(s.assign(_q=q.astype(int).astype(str)), by="_q", conf_level=conf_level)
    pred = b.groupby(q.astype(int).astype(str)).mean()
    return pd.DataFrame(
        {
            "quintile": eff["group"].astype(int),
            "n": eff["n"],
            "n_treated": eff["n_treated"],
            "n_untreated": eff["n_untreated"],
            "predicted_benefit": pred.loc[eff["group"]].to_numpy(),
            "observed_benefit": eff["risk_difference"],
            "conf_low": eff["conf_low"],
            "conf_high": eff["conf_high"],
        }
    )


def calibration_for_benefit(scores: pd.DataFrame, predicted: pd.Series, *, conf_level: float = 0.95) -> pd.DataFrame:
    r"""Calibration-in-the-large and calibration slope of predicted benefit against AIPW scores.

    Least squares of the doubly robust pseudo-outcome :math:`D_i` on predicted benefit
    :math:`\hat b_i`, :math:`E(D \mid \hat b) = a + s\,\hat b` (the DR-learner's calibration
    check: Kennedy 2023; Xu & Yadlowsky 2022, "Calibration error for heterogeneous treatment
    effects"): slope :math:`s` = 1 for well-calibrated benefit (below 1: predictions too
    extreme); in the large, :math:`\bar D - \bar{\hat b}` = 0. HC0 sandwich standard errors.

    Returns
    -------
    DataFrame
        ``measure`` (``calibration_in_the_large``, ``calibration_slope``), ``estimate``,
        ``std_error``, ``conf_low``, ``conf_high``, ``ideal``, ``n``.
    """
    idx = scores.index.intersection(predicted.dropna().index)
    d = scores.loc[idx, "effect_score"].to_numpy(float)
    b = predicted.loc[idx].to_numpy(float)
    n = len(d)
    z = z_value(conf_level)
    diff = d - b
    citl, citl_se = diff.mean(), diff.std(ddof=1) / np.sqrt(n)
    X = np.column_stack([np.ones(n), b])
    bread = np.linalg.inv(X.T @ X)
    coef = bread @ X.T @ d
    resid = d - X @ coef
    cov = bread @ (X.T * resid**2) @ X @ bread
    slope, slope_se = coef[1], np.sqrt(cov[1, 1])
    return pd.DataFrame(
        {
            "measure": ["calibration_in_the_large", "calibration_slope"],
            "estimate": [citl, slope],
            "std_error": [citl_se, slope_se],
            "conf_low": [citl - z * citl_se, slope - z * slope_se],
            "conf_high": [citl + z * citl_se, slope + z * slope_se],
            "ideal": [0.0, 1.0],
            "n": n,
        }
    )


def benefit_matched_pairs(predicted: np.ndarray, treated: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Match each woman of the smaller arm to one of the other on predicted benefit (van Klaveren 2018).

    Greedy nearest-neighbour matching without replacement: the women of the smaller arm, in
    increasing order of predicted benefit (ties by position), each take the not yet matched
    woman of the other arm with the closest predicted benefit (ties: the lower benefit, then the
    earlier position).

    The other arm is sorted once by (benefit, position); the closest free woman is then the
    first free one at or above the benefit sought or the last free one below it, found through
    two "next free" pointer forests with path compression (union–find), so the matching takes
    :math:`O(n \\log n)` time instead of scanning every free woman for every match
    (:math:`O(n^2)`: 41 s for 13,169 pairs of the 100k-transfer cohort). The loop over the
    women of the smaller arm is sequential by definition of greedy matching.

    Returns
    -------
    DataFrame
        One row per pair: ``treated_position``, ``control_position``, ``predicted_benefit``
        (mean of the two), ``observed_benefit`` (treated outcome − control outcome: −1, 0 or 1).
    """
    predicted, treated, y = (np.asarray(a, dtype=float) for a in (predicted, treated, y))
    if np.isnan(predicted).any():
        raise ValueError("benefit_matched_pairs: predicted benefit is missing for some women")
    t_pos, c_pos = np.flatnonzero(treated == 1), np.flatnonzero(treated == 0)
    small, large = (t_pos, c_pos) if len(t_pos) <= len(c_pos) else (c_pos, t_pos)
    small = small[np.lexsort((small, predicted[small]))]
    large = large[np.lexsort((large, predicted[large]))]
    values = predicted[large]
    m = len(large)
    run_start = np.searchsorted(values, values, side="left").tolist()  # first index of each equal-value run
    above = np.searchsorted(values, predicted[small], side="left").tolist()  # first index with value ≥ sought
    vals = values.tolist()
    # up[k]: smallest free index ≥ k (m: none); down[k + 1]: largest free index ≤ k (0: none)
    up, down = list(range(m + 1)), list(range(m + 1))

    def root(parent, k):
        r = k
        while parent[r] != r:
            r = parent[r]
        while parent[k] != r:
            parent[k], k = r, parent[k]
        return r

    chosen = []
    for v, p in zip(predicted[small].tolist(), above):
        right = root(up, p)
        left = root(down, p) - 1  # largest free index < p
        if left >= 0:
            # among equal benefits the earliest position; among equally distant ones the lowest benefit
            left = root(up, run_start[left])
            gap = abs(vals[left] - v)
            while True:
                lower = root(down, run_start[left]) - 1
                if lower < 0 or abs(vals[lower] - v) != gap:
                    break
                left = root(up, run_start[lower])
        if right == m or (left >= 0 and abs(vals[left] - v) <= abs(vals[right] - v)):
            j = left
        else:
            j = right
        up[j], down[j + 1] = j + 1, j
        chosen.append(j)
    partner = large[np.asarray(chosen, dtype=int)]
    is_t = treated[small] == 1
    tp = np.where(is_t, small, partner).astype(int)
    cp = np.where(is_t, partner, small).astype(int)
    return pd.DataFrame(
        {
            "treated_position": tp,
            "control_position": cp,
            "predicted_benefit": (predicted[tp] + predicted[cp]) / 2,
            "observed_benefit": y[tp] - y[cp],
        }
    )


def _tied_pairs(counts: np.ndarray) -> int:
    """Number of pairs within groups of the given sizes."""
    counts = np.asarray(counts, dtype=np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _crossed_pairs(high: np.ndarray, low: np.ndarray) -> int:
    """Number of pairs (u, v) with ``high[u] > high[v]`` and ``low[u] < low[v]``, in O(n log n log k).

    Both arguments are dense ranks (0, 1, …). The pairs are split by the highest bit in which
    the ranks of ``high`` differ: for each bit, within each group of equal higher bits, every
    position with the bit set is counted against the positions without it whose ``low`` is
    larger (one sort and two binary searches per bit).
    """
    k_low = int(low.max()) + 1 if len(low) else 1
    total = 0
    for bit in range(int(high.max()).bit_length() if len(high) else 0):
        prefix = high >> (bit + 1)
        on = ((high >> bit) & 1).astype(bool)
        keys = np.sort(prefix[~on] * k_low + low[~on])
        base = prefix[on] * k_low
        total += int(
            (
                np.searchsorted(keys, base + k_low, side="left") - np.searchsorted(keys, base + low[on], side="right")
            ).sum()
        )
    return total


def concordance(score: np.ndarray, outcome: np.ndarray) -> tuple[float, int]:
    """Harrell's C between a score and an ordinal outcome: concordant share of the pairs with
    different outcomes, score ties counted one half. Returns (C, number of usable pairs).

    Counted without forming the pairs: with :math:`P` the pairs of different outcome,
    :math:`T` those among them tied on the score (pairs tied on the score minus pairs tied on
    both) and :math:`D` the discordant ones (:func:`_crossed_pairs` on the ranks, splitting on
    the variable with fewer distinct values), the concordant pairs are :math:`P - T - D` and
    :math:`C = (P - T - D + T/2)/P`; :math:`O(n \\log n)` time and :math:`O(n)` memory.
    """
    score, outcome = np.asarray(score, float), np.asarray(outcome, float)
    if np.isnan(score).any() or np.isnan(outcome).any():
        raise ValueError("concordance: the score or the outcome has missing values")
    n = len(score)
    o_levels, o_rank = np.unique(outcome, return_inverse=True)
    usable = n * (n - 1) // 2 - _tied_pairs(np.bincount(o_rank.ravel()))
    if usable == 0:
        return np.nan, 0
    s_rank = np.unique(score, return_inverse=True)[1].ravel().astype(np.int64)
    o_rank = o_rank.ravel().astype(np.int64)
    both = np.unique(s_rank * len(o_levels) + o_rank, return_counts=True)[1]
    tied = _tied_pairs(np.bincount(s_rank)) - _tied_pairs(both)
    if o_rank.max() <= s_rank.max():
        discordant = _crossed_pairs(o_rank, s_rank)
    else:
        discordant = _crossed_pairs(s_rank, o_rank)
    concordant = usable - tied - discordant
    return float((concordant + 0.5 * tied) / usable), usable


def c_for_benefit(
    predicted: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
    conf_level: float = 0.95,
) -> dict:
    r"""The c-for-benefit of van Klaveren et al. (2018, J Clin Epidemiol 94:59).

    Women of the two arms are matched 1:1 on predicted benefit (:func:`benefit_matched_pairs`);
    a pair's predicted benefit is the mean of its two predictions, its observed benefit the
    treated woman's outcome minus the control's (−1, 0, 1); the c-for-benefit is Harrell's C
    between the two over pairs of pairs with different observed benefit (:func:`concordance`).
    0.5 is no ability to tell who benefits. The interval is a percentile bootstrap over matched
    pairs. In an observational cohort the pairs are not exchangeable on the confounders, so the
    statistic is descriptive (the AIPW calibration of :func:`calibration_for_benefit` is the
    adjusted check).

    Returns
    -------
    dict
        ``c_for_benefit``, ``conf_low``, ``conf_high``, ``n_pairs``, ``n_usable``.
    """
    pairs = benefit_matched_pairs(predicted, treated, y)
    c, usable = concordance(pairs["predicted_benefit"].to_numpy(), pairs["observed_benefit"].to_numpy())
    reps = bootstrap(
        _pair_concordance,
        pairs[["predicted_benefit", "observed_benefit"]].to_numpy(),
        n_boot=n_bootstrap,
        seed=seed,
    )
    low, high = percentile_interval(reps, conf_level=conf_level)
    return {
        "c_for_benefit": c,
        "conf_low": float(low[0]),
        "conf_high": float(high[0]),
        "n_pairs": len(pairs),
        "n_usable": usable,
    }


def _pair_concordance(sample: np.ndarray) -> float:
    return concordance(sample[:, 0], sample[:, 1])[0]


# --------------------------------------------------------------------------------------------
# subgroup effects with interaction tests
# --------------------------------------------------------------------------------------------


def subgroup_effects(
    scores_by_subgroup: dict[str, pd.DataFrame],
    *,
    conf_level: float = 0.95,
    multiplicity: str = "holm",
    reference: str = "none",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    r"""Risk difference of the treated arm in each level of each subgroup, and the interaction tests.

    For each subgroup the AIPW scores come from an outcome model with arm × that subgroup
    (:func:`aipw_scores` with ``modifier``); the level effects are :func:`stratum_effects`.
    The interaction test asks whether the risk differences are equal across the :math:`k`
    levels: :math:`\chi^2_{k-1} = \sum_j w_j(\widehat{RD}_j - \overline{RD}_w)^2`,
    :math:`w_j = 1/SE_j^2` (the levels are disjoint sets of women, so the estimates are
    independent to first order); for two levels it is the Wald test of their difference,
    which is reported with its CI. The p-values of the interaction tests are adjusted over the
    subgroups (``multiplicity``).

    Parameters
    ----------
    scores_by_subgroup : dict
        Subgroup column → its scores (holding the column).

    Returns
    -------
    (DataFrame, DataFrame)
        Level effects ``subgroup, group, n, …, p_value`` and the tests ``subgroup, levels,
        difference, conf_low, conf_high, statistic, df, p_value, p_adjusted, multiplicity``
        (``difference`` the last level minus the first, for two levels).
    """
    z = z_value(conf_level)
    effects, tests = [], []
    for name, scores in scores_by_subgroup.items():
        eff = stratum_effects(scores, by=name, conf_level=conf_level, reference=reference).assign(subgroup=name)
        effects.append(eff)
        rd, se = eff["risk_difference"].to_numpy(), eff["std_error"].to_numpy()
        w = 1 / se**2
        pooled = np.sum(w * rd) / np.sum(w)
        stat = float(np.sum(w * (rd - pooled) ** 2))
        df = len(rd) - 1
        entry = {
            "subgroup": name,
            "levels": " vs ".join(eff["group"]),
            "difference": np.nan,
            "conf_low": np.nan,
            "conf_high": np.nan,
            "statistic": stat,
            "df": df,
            "p_value": float(scipy.stats.chi2.sf(stat, df)) if df > 0 else np.nan,
        }
        if df == 1:
            diff, dse = rd[1] - rd[0], np.sqrt(se[0] ** 2 + se[1] ** 2)
            entry.update(difference=diff, conf_low=diff - z * dse, conf_high=diff + z * dse)
        tests.append(entry)
    effects = pd.concat(effects, ignore_index=True) if effects else pd.DataFrame()
    tests = pd.DataFrame(tests)
    if len(tests):
        tests["p_adjusted"] = adjusted_p_values(tests["p_value"].to_numpy(float), multiplicity)
        tests["multiplicity"] = multiplicity
        effects = effects[["subgroup", *[c for c in effects.columns if c != "subgroup"]]]
    return effects, tests


def subgroup_estimate_rows(
    effects: pd.DataFrame,
    *,
    treatment: str = "treatment_arm",
    treated: str = "personalized",
    model_id_prefix: str,
    notebook: str,
    outcome: str,
    population: str,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Return the subgroup risk differences of :func:`subgroup_effects` as estimate rows.

    One model id per subgroup (``<model_id_prefix><subgroup>``), term
    ``<treatment>[<treated>] | <subgroup>=<level>``, estimator ``aipw_rd_if`` (AIPW risk
    difference, influence-function Wald interval).
    """
    frames = []
    for name, g in effects.groupby("subgroup", sort=False):
        frames.append(
            estimate_rows(
                [f"{treatment}[{treated}] | {name}={lvl}" for lvl in g["group"]],
                g["risk_difference"].to_numpy(float),
                g["std_error"].to_numpy(float),
                conf_level=conf_level,
                ratio=False,
                notebook=notebook,
                model_id=f"{model_id_prefix}{name}",
                outcome=outcome,
                population=population,
                estimator="aipw_rd_if",
                n_obs=g["n"].to_numpy(),
                n_events=pd.NA,
                n_clusters=pd.NA,
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
