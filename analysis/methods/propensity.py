r"""Propensity scores, inverse probability of treatment weights, balance and matching.

The treatment is the arm at the first transfer, :math:`A \in \{\text{none}, \text{empirical},
\text{personalized}\}`. Its generalised propensity score :math:`e_a(x) = P(A = a \mid x)` comes
from a multinomial logistic model (R's ``nnet::multinom``); the pairwise scores of one arm
against the reference come from a binary logistic model fitted on the two arms
(``glm(..., family = binomial)``).

Weights (Robins, Hernán & Brumback 2000, Epidemiology 11:550; Austin & Stuart 2015, Stat Med
34:3661):

- **ATE**, stabilised: :math:`w_i = \hat P(A = a_i) / \hat e_{a_i}(x_i)`, the marginal share of
  the arm received over its score; weights average about 1 within each arm.
- **ATT** (treated = one arm :math:`t`): :math:`w_i = 1` for the treated and
  :math:`\hat e_t(x_i) / \hat e_{a_i}(x_i)` for the others, so every arm is re-weighted to the
  covariate distribution of the treated. ATT weights are not stabilised (stabilising only
  rescales each arm and changes nothing in the weighted estimates).
- **ATO**, overlap weights (Li, Morgan & Zaslavsky 2018, JASA 113:390; for several arms the
  generalised overlap weights of Li & Li 2019, Ann Appl Stat 13:2389):
  :math:`w_i = h(x_i)/\hat e_{a_i}(x_i)` with the tilting function
  :math:`h(x) = \bigl(\sum_k 1/\hat e_k(x)\bigr)^{-1}`. With two arms :math:`h = e(1-e)`, so
  the treated get :math:`1 - e` and the controls :math:`e`: the target population is the one
  where the arms overlap most, and no weight is unbounded.

Balance (:func:`balance_statistics`) follows R's ``cobalt::bal.tab`` defaults (Greifer 2024):
every pair of arms, every covariate split into one column per level, the SMD's denominator the
*unweighted* pooled SD (so weighting cannot shrink it and hide imbalance), variance ratios and
Kolmogorov–Smirnov statistics, before and after weighting.

Matching is 1:1 nearest neighbour on the logit of the pairwise score, greedy, without
replacement, treated units taken from the largest score down, with a caliper of ``caliper_sd``
standard deviations of the logit score (as R's ``MatchIt::matchit(method = "nearest",
distance = "glm", link = "linear.logit", caliper = 0.2, m.order = "largest")``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.discrete.discrete_model import MNLogit

from analysis.core.exceptions import ModelError
from analysis.methods.descriptive import standardized_mean_differences
from analysis.models import design as model_design
from analysis.models.logistic import fit_logit

__all__ = [
    "balance_table",
    "design_rows",
    "iptw_weights",
    "match_nearest",
    "matching_summary",
    "overlap_table",
    "pairwise_propensity",
    "positivity_warnings",
    "propensity_scores",
    "truncate_weights",
    "weight_summary",
]

ARM_LEVELS = ("none", "empirical", "personalized")


def design_rows(
    data: pd.DataFrame, *, treatment: str, covariates: Sequence[str], extra: Sequence[str] = ()
) -> pd.DataFrame:
    """Return the complete cases of the treatment, covariates and ``extra`` columns.

    Categoricals become plain strings (as patsy wants them); the index is kept so weights and
    scores line up with the caller's rows.
    """
    cols = list(dict.fromkeys([treatment, *covariates, *extra]))
    missing = [c for c in cols if c not in data]
    if missing:
        raise ModelError(f"propensity model: column(s) {missing} are not in the data")
    return model_design.model_frame(data, cols)


def _arm_levels(arm: pd.Series, levels: Sequence[str]) -> list[str]:
    present = set(arm.astype(str))
    return [lvl for lvl in levels if lvl in present]


def pairwise_propensity(
    data: pd.DataFrame,
    *,
    treatment: str = "treatment_arm",
    treated: str,
    reference: str = "none",
    covariates: Sequence[str],
) -> pd.Series:
    """Return the score :math:`P(A = \\text{treated} \\mid x, A \\in \\{\\text{treated}, \\text{reference}\\})`.

    Fitted by binary logistic regression on the rows of the two arms (complete cases of the
    covariates). Raises :class:`ModelError` with the reason when the model cannot be fitted,
    for example when a covariate predicts the arm perfectly (separation).

    Returns
    -------
    Series
        Scores indexed like the rows used, named ``ps``.
    """
    rows = design_rows(data, treatment=treatment, covariates=covariates)
    rows = rows[rows[treatment].isin([treated, reference])].copy()
    if rows.empty or rows[treatment].nunique() < 2:
        raise ModelError(
            f"propensity model {treated} vs {reference}: one of the two arms has no patient with complete covariates"
        )
    rows["_treated"] = (rows[treatment] == treated).astype(float)
    fit = fit_logit(
        rows,
        f"_treated ~ {model_design.covariate_terms(covariates, rows)}",
        model_id=f"propensity {treated} vs {reference}",
    )
    return pd.Series(np.asarray(fit.fittedvalues, dtype=float), index=rows.index, name="ps")


def propensity_scores(
    data: pd.DataFrame,
    *,
    treatment: str = "treatment_arm",
    covariates: Sequence[str],
    levels: Sequence[str] = ARM_LEVELS,
    reference: str = "none",
    check: bool = True,
) -> pd.DataFrame:
    """Return the generalised propensity score of every arm from a multinomial logistic model.

    Parameters
    ----------
    data : DataFrame
        One row per patient (first transfer).
    treatment : str
        Arm column.
    covariates : sequence of str
        Confounders; rows missing any of them are left out (the caller sees which, by index).
    levels : sequence of str
        Arms, reference first in the model.
    reference : str
        Reference arm of the multinomial model.
    check : bool
        Diagnose separation on each pairwise contrast before fitting (turned off inside
        bootstrap replicates, where a failed fit is simply a failed replicate).

    Returns
    -------
    DataFrame
        Index of the rows used; columns ``arm`` (received) and ``ps_<level>`` for each level.

    Raises
    ------
    ModelError
        An arm has no patient, or a covariate separates an arm from the reference (checked on
        each pairwise contrast first, so the message names the problem).
    """
    rows = design_rows(data, treatment=treatment, covariates=covariates)
    arm = rows[treatment].astype(str)
    present = _arm_levels(arm, levels)
    absent = [lvl for lvl in levels if lvl not in present]
    if absent:
        raise ModelError(
            f"propensity model: arm(s) {absent} have no patient with complete covariates; "
            f"the arm comparison cannot be made"
        )
    # Separation and identifiability are diagnosed on the pairwise contrasts, whose checker
    # explains the problem in words; the multinomial fit itself follows.
    for lvl in present if check else ():
        if lvl != reference:
            pairwise_propensity(rows, treatment=treatment, treated=lvl, reference=reference, covariates=covariates)
    ordered = [reference] + [lvl for lvl in present if lvl != reference]
    codes = pd.Categorical(arm, categories=ordered).codes
    X, _ = model_design.covariate_design(rows, covariates)
    fit = MNLogit(codes, X).fit(method="newton", maxiter=100, disp=False)
    if not fit.mle_retvals.get("converged", True):
        raise ModelError("propensity model: the multinomial logistic model did not converge")
    probs = np.asarray(fit.predict(X))
    out = pd.DataFrame({"arm": arm.to_numpy()}, index=rows.index)
    for j, lvl in enumerate(ordered):
        out[f"ps_{lvl}"] = probs[:, j]
    return out[["arm"] + [f"ps_{lvl}" for lvl in levels if lvl in ordered]]


def received_score(scores: pd.DataFrame) -> np.ndarray:
    """Return each row's score of the arm it received, :math:`\\hat e_{a_i}(x_i)`."""
    cols = [c for c in scores.columns if c.startswith("ps_")]
    names = [c[3:] for c in cols]
    pos = pd.Categorical(scores["arm"], categories=names).codes
    return scores[cols].to_numpy()[np.arange(len(scores)), pos]


def iptw_weights(scores: pd.DataFrame, *, estimand: str = "ATE", treated: str | None = None) -> pd.Series:
    """Return inverse probability of treatment weights from :func:`propensity_scores`.

    Parameters
    ----------
    scores : DataFrame
        Output of :func:`propensity_scores` (``arm`` and ``ps_<level>`` columns).
    estimand : {"ATE", "ATT", "ATO"}
        Average treatment effect in the whole population (stabilised weights), among those
        who received ``treated``, or in the overlap population (overlap weights).
    treated : str, optional
        The treated arm for the ATT.

    Returns
    -------
    Series
        One weight per row, named ``weight``.
    """
    estimand = estimand.upper()
    e_received = received_score(scores)
    if estimand == "ATE":
        share = scores["arm"].map(scores["arm"].value_counts(normalize=True)).to_numpy(dtype=float)
        w = share / e_received
    elif estimand == "ATT":
        if treated is None or f"ps_{treated}" not in scores:
            raise ModelError(f"ATT weights need the treated arm among the scores; got treated={treated!r}")
        w = scores[f"ps_{treated}"].to_numpy() / e_received
        w[scores["arm"].to_numpy() == treated] = 1.0
    elif estimand == "ATO":
        cols = [c for c in scores.columns if c.startswith("ps_")]
        tilt = 1.0 / (1.0 / scores[cols].to_numpy(dtype=float)).sum(axis=1)
        w = tilt / e_received
    else:
        raise ModelError(f"estimand must be 'ATE', 'ATT' or 'ATO', got {estimand!r}")
    return pd.Series(w, index=scores.index, name="weight")


def truncate_weights(weights: pd.Series, percentiles: Sequence[float] = ()) -> pd.Series:
    """Return weights truncated (winsorised) at the given lower and upper percentiles.

    ``percentiles`` empty means no truncation; ``[1, 99]`` sets weights below the 1st percentile
    to it and above the 99th to it (Cole & Hernán 2008, Am J Epidemiol 168:656).
    """
    if not percentiles:
        return weights.copy()
    if len(percentiles) != 2 or not 0 <= percentiles[0] < percentiles[1] <= 100:
        raise ModelError(
            f"weight_truncation must be [] or two percentiles 0 <= low < high <= 100, got {list(percentiles)}"
        )
    low, high = np.percentile(weights.to_numpy(), list(percentiles))
    return weights.clip(lower=low, upper=high)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size :math:`(\\sum w)^2 / \\sum w^2`."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (w**2).sum()) if len(w) else np.nan


def weight_summary(weights: pd.Series, arm: pd.Series) -> pd.DataFrame:
    """Return the distribution of the weights by arm and overall.

    Columns ``arm, n, sum, mean, sd, min, p01, p25, median, p75, p99, max, ess`` (``ess``
    Kish's effective sample size).
    """
    frame = pd.DataFrame({"w": weights.to_numpy(), "arm": arm.loc[weights.index].astype(str).to_numpy()})
    groups = [
        (lvl, frame.loc[frame["arm"] == lvl, "w"].to_numpy()) for lvl in ARM_LEVELS if (frame["arm"] == lvl).any()
    ]
    groups.append(("all", frame["w"].to_numpy()))
    rows = []
    for name, w in groups:
        q = np.percentile(w, [1, 25, 50, 75, 99])
        rows.append(
            {
                "arm": name,
                "n": len(w),
                "sum": w.sum(),
                "mean": w.mean(),
                "sd": w.std(ddof=1) if len(w) > 1 else np.nan,
                "min": w.min(),
                "p01": q[0],
                "p25": q[1],
                "median": q[2],
                "p75": q[3],
                "p99": q[4],
                "max": w.max(),
                "ess": effective_sample_size(w),
            }
        )
    return pd.DataFrame(rows)


def overlap_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Return the distribution of each arm's score within each arm, and the common support.

    One row per (score, arm): ``score`` (``ps_<level>``), ``arm``, ``n``, ``min``, ``p05``,
    ``p25``, ``median``, ``p75``, ``p95``, ``max``, and ``outside_support`` – the share of the
    arm's rows whose score lies outside the common support, the range shared by every arm
    (largest minimum to smallest maximum).
    """
    cols = [c for c in scores.columns if c.startswith("ps_")]
    rows = []
    for col in cols:
        by_arm = {
            lvl: scores.loc[scores["arm"] == lvl, col].to_numpy() for lvl in ARM_LEVELS if (scores["arm"] == lvl).any()
        }
        lo = max(v.min() for v in by_arm.values())
        hi = min(v.max() for v in by_arm.values())
        for lvl, v in by_arm.items():
            q = np.percentile(v, [5, 25, 50, 75, 95])
            rows.append(
                {
                    "score": col,
                    "arm": lvl,
                    "n": len(v),
                    "min": v.min(),
                    "p05": q[0],
                    "p25": q[1],
                    "median": q[2],
                    "p75": q[3],
                    "p95": q[4],
                    "max": v.max(),
                    "support_low": lo,
                    "support_high": hi,
                    "outside_support": float(np.mean((v < lo) | (v > hi))),
                }
            )
    return pd.DataFrame(rows)


def positivity_warnings(
    scores: pd.DataFrame,
    *,
    extreme: float = 0.025,
    max_outside: float = 0.05,
    weights: pd.Series | None = None,
    max_weight: float = 20.0,
) -> list[str]:
    """Return sentences describing poor overlap (empty when overlap is adequate).

    Flags an arm when more than ``max_outside`` of its rows lie outside the common support of a
    score, any score of the arm received below ``extreme`` (near-violations of positivity), and
    weights above ``max_weight``.
    """
    found = []
    table = overlap_table(scores)
    for row in table.itertuples():
        if row.outside_support > max_outside:
            found.append(
                f"{row.outside_support:.0%} of the {row.arm} arm (n = {row.n}) have {row.score} outside "
                f"the range shared by all arms ({row.support_low:.3f}–{row.support_high:.3f})."
            )
    e = received_score(scores)
    low = e < extreme
    if low.any():
        arms = pd.Series(scores["arm"].to_numpy()[low]).value_counts()
        found.append(
            f"{int(low.sum())} patient(s) received an arm whose estimated probability was below {extreme}: "
            + ", ".join(f"{k} {v}" for k, v in arms.items())
            + "; their weights are large."
        )
    if weights is not None and (weights > max_weight).any():
        found.append(
            f"{int((weights > max_weight).sum())} weight(s) exceed {max_weight:g} (largest "
            f"{weights.max():.1f}); consider truncation (weight_truncation) and report it."
        )
    return found


def balance_table(
    data: pd.DataFrame,
    *,
    treatment: str = "treatment_arm",
    covariates: Sequence[str],
    weights: pd.Series,
    reference: str = "none",
    matched_weights: pd.Series | None = None,
) -> pd.DataFrame:
    """Return standardized mean differences of the covariates before and after weighting.

    Parameters
    ----------
    data : DataFrame
        Rows indexed like ``weights``.
    weights : Series
        IPTW weights.
    matched_weights : Series, optional
        1 for matched rows, 0 otherwise; adds ``smd_matched``.

    Returns
    -------
    DataFrame
        ``variable, variable_type, group, reference, smd_unweighted, smd_weighted`` (and
        ``smd_matched``): one row per covariate and non-reference arm, SMDs as defined in
        :func:`analysis.methods.descriptive.standardized_mean_differences` (signed for continuous and
        binary, Yang–Dalton distance for categoricals with more levels).
    """
    rows = data.loc[weights.index]
    cont = [c for c in covariates if not model_design.is_categorical(c, rows)]
    cat = [c for c in covariates if model_design.is_categorical(c, rows)]
    frame = rows[[treatment, *covariates]].copy()
    frame[treatment] = frame[treatment].astype(str)
    for c in cont:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    keys = ["variable", "variable_type", "group", "reference"]

    def smd(w, name):
        out = standardized_mean_differences(
            frame, groupby=treatment, continuous=cont, categorical=cat, reference=reference, weights=w
        )
        out = out[out["comparison"] == "vs_reference"]
        return out[keys + ["smd"]].rename(columns={"smd": name})

    table = smd(None, "smd_unweighted").merge(smd(weights.to_numpy(), "smd_weighted"), on=keys)
    if matched_weights is not None:
        table = table.merge(smd(matched_weights.loc[frame.index].to_numpy(), "smd_matched"), on=keys, how="left")
    return table.reset_index(drop=True)


#: cobalt's default thresholds: |SMD| at most 0.1, variance ratio between 0.5 and 2.
SMD_THRESHOLD = 0.1
VARIANCE_RATIO_RANGE = (0.5, 2.0)


def _weighted_var(x: np.ndarray, w: np.ndarray) -> float:
    """Weighted variance with the reliability-weight correction (unweighted: the n - 1 variance)."""
    sw, sw2 = w.sum(), (w**2).sum()
    if len(x) < 2 or sw**2 - sw2 <= 0:
        return np.nan
    m = (w * x).sum() / sw
    return float(sw / (sw**2 - sw2) * (w * (x - m) ** 2).sum())


def _weighted_ks(x1: np.ndarray, w1: np.ndarray, x0: np.ndarray, w0: np.ndarray) -> float:
    """Largest distance between the two (weighted) empirical distribution functions."""
    grid = np.unique(np.concatenate([x1, x0]))

    def ecdf(x, w):
        order = np.argsort(x, kind="stable")
        cum = np.cumsum(w[order]) / w.sum()
        pos = np.searchsorted(x[order], grid, side="right")
        return np.where(pos > 0, cum[np.maximum(pos - 1, 0)], 0.0)

    return float(np.max(np.abs(ecdf(x1, w1) - ecdf(x0, w0))))


def balance_columns(data: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Return the covariates as the numeric columns balance is checked on, as ``cobalt`` splits them.

    Continuous covariates stay as they are (``variable_type`` continuous); a categorical or
    boolean covariate becomes one 0/1 column per level, named ``covariate[level]`` (two-level
    ones keep only the second level, as a binary variable). Missing values stay missing.

    Returns
    -------
    DataFrame
        Indexed like ``data``; ``attrs["types"]`` maps each column to ``continuous``/``binary``
        and ``attrs["covariate"]`` to the covariate it comes from.
    """
    out, types, source = {}, {}, {}
    for c in covariates:
        if model_design.is_categorical(c, data):
            text = data[c].astype("string")
            levels = sorted(text.dropna().unique())
            if isinstance(data[c].dtype, pd.CategoricalDtype):
                levels = [str(v) for v in data[c].cat.categories if str(v) in set(levels)]
            kept = levels[1:] if len(levels) == 2 else levels
            for lvl in kept:
                name = f"{c}[{lvl}]"
                out[name] = (text == lvl).astype("Float64").astype(float).where(text.notna())
                types[name], source[name] = "binary", c
        else:
            out[c] = pd.to_numeric(data[c], errors="coerce").astype(float)
            types[c], source[c] = "continuous", c
    frame = pd.DataFrame(out, index=data.index)
    frame.attrs["types"], frame.attrs["covariate"] = types, source
    return frame


def balance_statistics(
    data: pd.DataFrame,
    *,
    treatment: str = "treatment_arm",
    covariates: Sequence[str],
    weights: pd.Series,
    levels: Sequence[str] = ARM_LEVELS,
) -> pd.DataFrame:
    r"""Return cobalt-style balance of every covariate for every pair of arms, before and after weighting.

    For a column :math:`x` (a continuous covariate or one level indicator) and arms
    :math:`g` (``group``) against :math:`r` (``reference``, the earlier of the two in ``levels``):

    - **SMD**: :math:`(ar x_{w,g} - ar x_{w,r}) / s_p`, the denominator the *unweighted*
      pooled SD over all arms, :math:`s_p = \sqrt{	frac1K \sum_k s_k^2}` (``cobalt``'s
      ``s.d.denom = "pooled"``, computed once over every arm for a multi-category treatment so
      the pairs are on one scale). :math:`s_k^2` is the sample variance for continuous columns
      and :math:`p_k(1-p_k)` for binary ones. The same denominator before and after weighting:
      dividing by the weighted SD instead would let a weighting that inflates the spread
      shrink the SMD.
    - **Variance ratio** (continuous only): :math:`s^2_{w,g}/s^2_{w,r}`, weighted variances
      :math:`rac{\sum w}{(\sum w)^2 - \sum w^2}\sum w (x - ar x_w)^2`.
    - **KS**: :math:`\max_t |\hat F_{w,g}(t) - \hat F_{w,r}(t)|`, weighted empirical
      distribution functions (for a binary column :math:`|\hat p_{w,g} - \hat p_{w,r}|`).

    Rows with a missing value of a column are left out of that column's statistics only.

    Parameters
    ----------
    data : DataFrame
        Rows indexed like ``weights``, with ``treatment`` and ``covariates``.
    covariates : sequence of str
        Every covariate to check: those of the propensity model and of the outcome model.
    weights : Series
        The weights (IPTW, overlap, matching indicators ...).
    levels : sequence of str
        Arms in order; every pair present in the data is compared.

    Returns
    -------
    DataFrame
        ``covariate, variable, variable_type, group, reference, n_group, n_reference,
        mean_group, mean_reference, mean_group_weighted, mean_reference_weighted, sd_pooled,
        smd_unweighted, smd_weighted, variance_ratio_unweighted, variance_ratio_weighted,
        ks_unweighted, ks_weighted, smd_balanced, variance_ratio_balanced`` (the last two:
        weighted |SMD| ≤ :data:`SMD_THRESHOLD`; weighted ratio within
        :data:`VARIANCE_RATIO_RANGE`, missing for binary columns).
    """
    rows_data = data.loc[weights.index]
    arm = rows_data[treatment].astype(str).to_numpy()
    w_all = weights.to_numpy(dtype=float)
    cols = balance_columns(rows_data, covariates)
    present = [lvl for lvl in levels if (arm == lvl).any()]
    pairs = [(present[j], present[i]) for i in range(len(present)) for j in range(i + 1, len(present))]
    out = []
    for name in cols.columns:
        x_all = cols[name].to_numpy(dtype=float)
        ok = ~np.isnan(x_all)
        kind = cols.attrs["types"][name]
        per_arm = {lvl: ok & (arm == lvl) for lvl in present}
        if kind == "binary":
            variances = [x_all[m].mean() * (1 - x_all[m].mean()) for m in per_arm.values() if m.any()]
        else:
            variances = [np.var(x_all[m], ddof=1) for m in per_arm.values() if m.sum() > 1]
        sd = float(np.sqrt(np.mean(variances))) if variances else np.nan
        for g, r in pairs:
            mg, mr = per_arm[g], per_arm[r]
            xg, xr, wg, wr = x_all[mg], x_all[mr], w_all[mg], w_all[mr]
            if not len(xg) or not len(xr):
                continue
            ones_g, ones_r = np.ones_like(wg), np.ones_like(wr)
            mean = {
                "u": (xg.mean(), xr.mean()),
                "w": ((wg * xg).sum() / wg.sum(), (wr * xr).sum() / wr.sum()),
            }
            smd = {
                k: (a - b) / sd if sd > 0 else (0.0 if a == b else np.sign(a - b) * np.inf)
                for k, (a, b) in mean.items()
            }
            if kind == "continuous":
                vr = {
                    "u": _weighted_var(xg, ones_g) / _weighted_var(xr, ones_r),
                    "w": _weighted_var(xg, wg) / _weighted_var(xr, wr),
                }
                ks = {"u": _weighted_ks(xg, ones_g, xr, ones_r), "w": _weighted_ks(xg, wg, xr, wr)}
            else:
                vr = {"u": np.nan, "w": np.nan}
                ks = {k: abs(a - b) for k, (a, b) in mean.items()}
            out.append(
                {
                    "covariate": cols.attrs["covariate"][name],
                    "variable": name,
                    "variable_type": kind,
                    "group": g,
                    "reference": r,
                    "n_group": int(len(xg)),
                    "n_reference": int(len(xr)),
                    "mean_group": mean["u"][0],
                    "mean_reference": mean["u"][1],
                    "mean_group_weighted": mean["w"][0],
                    "mean_reference_weighted": mean["w"][1],
                    "sd_pooled": sd,
                    "smd_unweighted": smd["u"],
                    "smd_weighted": smd["w"],
                    "variance_ratio_unweighted": vr["u"],
                    "variance_ratio_weighted": vr["w"],
                    "ks_unweighted": ks["u"],
                    "ks_weighted": ks["w"],
                    "smd_balanced": bool(abs(smd["w"]) <= SMD_THRESHOLD),
                    "variance_ratio_balanced": (
                        bool(VARIANCE_RATIO_RANGE[0] <= vr["w"] <= VARIANCE_RATIO_RANGE[1])
                        if kind == "continuous"
                        else pd.NA
                    ),
                }
            )
    return pd.DataFrame(out)


def effective_sample_sizes(weights: pd.Series, arm: pd.Series) -> pd.DataFrame:
    r"""Return Kish's effective sample size per arm, :math:`(\sum w)^2/\sum w^2`, beside the arm's n.

    Returns
    -------
    DataFrame
        ``arm, n, ess, ess_share`` (``ess / n``: the share of the arm's information the weights keep).
    """
    a = arm.loc[weights.index].astype(str).to_numpy()
    w = weights.to_numpy(dtype=float)
    rows = []
    for lvl in ARM_LEVELS:
        m = a == lvl
        if m.any():
            ess = effective_sample_size(w[m])
            rows.append({"arm": lvl, "n": int(m.sum()), "ess": ess, "ess_share": ess / m.sum()})
    return pd.DataFrame(rows)


def match_nearest(ps: pd.Series, treated: pd.Series, *, caliper_sd: float = 0.2) -> pd.DataFrame:
    """Return 1:1 nearest-neighbour matched pairs on the logit of a propensity score.

    Greedy matching without replacement: treated units are taken in decreasing order of their
    score (ties by position), each matched to the unmatched control with the nearest logit score
    (ties: the earlier row) if it lies within ``caliper_sd`` × SD of the logit score of all
    units; treated units with none within the caliper stay unmatched.

    Parameters
    ----------
    ps : Series
        Pairwise propensity score (treated vs control), indexed by row.
    treated : Series of bool
        Treated indicator, same index.
    caliper_sd : float
        Caliper width in standard deviations of the logit score (0 or None: no caliper).

    Returns
    -------
    DataFrame
        ``pair`` (1..), ``treated_index``, ``control_index``, ``distance`` (absolute logit
        difference), one row per matched pair.

    Notes
    -----
    Greedy matching is sequential by definition (each match removes a control for the next),
    so one step runs per treated unit; each step is a binary search among the controls sorted
    by score plus near-constant-time lookups of the nearest still-available control on either
    side (disjoint-set "next available" pointers with path halving). The cost is
    O(n log n), not treated × controls.
    """
    p = ps.to_numpy(dtype=float)
    if np.any((p <= 0) | (p >= 1)):
        raise ModelError(
            "matching: propensity scores of exactly 0 or 1 (perfect prediction) cannot be matched on the logit scale"
        )
    logit = np.log(p / (1 - p))
    t = treated.loc[ps.index].to_numpy(dtype=bool)
    caliper = caliper_sd * logit.std(ddof=1) if caliper_sd else np.inf
    t_pos = np.flatnonzero(t)
    c_pos = np.flatnonzero(~t)
    order = t_pos[np.lexsort((t_pos, -p[t_pos]))]
    c_sorted = c_pos[np.lexsort((c_pos, logit[c_pos]))]  # by score, equal scores by position
    values = logit[c_sorted]
    n_c = len(values)
    # first index of each run of equal scores, so that the earliest row of a run is found
    new_run = np.r_[True, values[1:] != values[:-1]] if n_c else np.zeros(0, dtype=bool)
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(n_c), 0)).tolist()
    right = list(range(n_c + 1))  # right[k]: candidate for the first available index >= k (n_c: none)
    left = list(range(n_c + 1))  # left[k + 1]: candidate for the last available index <= k (0: none)
    vals, where = values.tolist(), np.searchsorted(values, logit[order]).tolist()
    positions, scores = c_sorted.tolist(), logit[order].tolist()

    def first_at_or_after(k):
        while right[k] != k:
            right[k] = right[right[k]]
            k = right[k]
        return k

    def last_at_or_before(k):  # k is an index + 1
        while left[k] != k:
            left[k] = left[left[k]]
            k = left[k]
        return k - 1

    pairs = []
    for i, x, k in zip(order.tolist(), scores, where):
        hi = first_at_or_after(k)
        lo = last_at_or_before(k)
        if lo >= 0:
            lo = first_at_or_after(run_start[lo])  # earliest available row with that score
        best, best_d = -1, np.inf
        for j in (lo, hi):
            if 0 <= j < n_c:
                d = abs(vals[j] - x)
                if d < best_d or (d == best_d and positions[j] < positions[best]):
                    best, best_d = j, d
        if best < 0:
            break  # no control left
        if best_d <= caliper:
            right[best] = best + 1
            left[best + 1] = best
            pairs.append((ps.index[i], ps.index[positions[best]], best_d))
    out = pd.DataFrame(pairs, columns=["treated_index", "control_index", "distance"])
    out.insert(0, "pair", np.arange(1, len(out) + 1))
    return out


def matching_summary(pairs: pd.DataFrame, treated: pd.Series, *, caliper_sd: float, contrast: str) -> pd.DataFrame:
    """Return one row describing a matching: treated, controls, pairs, unmatched treated, caliper."""
    n_t = int(treated.sum())
    return pd.DataFrame(
        [
            {
                "contrast": contrast,
                "n_treated": n_t,
                "n_control": int((~treated).sum()),
                "n_pairs": len(pairs),
                "n_treated_unmatched": n_t - len(pairs),
                "caliper_sd": caliper_sd,
                "mean_distance": float(pairs["distance"].mean()) if len(pairs) else np.nan,
            }
        ]
    )
