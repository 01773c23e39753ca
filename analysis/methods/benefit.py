r"""Who benefits from personalized immunotherapy: effect modification, benefit model, decisions.

- **Effect modification by a marker**: logistic model of live birth at the first transfer,
  personalized vs none, with arm × marker (``log2`` of the marker when positive, so the OR is
  per doubling) and the adjustment covariates; the OR of personalized therapy as a function of
  the marker with Wald band, and the interaction test.
- **Treatment-benefit model**: logistic model with arm × (profile group + markers) and the
  covariates; each patient's predicted benefit is :math:`\hat p(\text{personalized}) -
  \hat p(\text{none})` (Kent et al. 2020, PATH statement, Ann Intern Med 172:35). Calibration
  for benefit: observed vs predicted risk difference by quintile of predicted benefit.
- **Decision curves for treatment** (after Vickers, Kattan & Sargent 2007, Trials 8:14): for a
  threshold :math:`t`, the smallest gain in live-birth probability for which a patient would
  accept the therapy (its burden and cost expressed on that scale), a strategy's net benefit is
  :math:`\frac1n\sum_i T_i(\hat b_i - t)`, :math:`T_i` = 1 if treated; treat none has 0.
  Strategies: treat all, treat dysregulated profiles, treat when the model's benefit exceeds
  :math:`t`. Model-based (it trusts the benefit model).
- **By profile**: live birth with and without personalized therapy, risk difference with a
  Wald CI, and the number needed to treat :math:`1/RD` (to harm when negative), its CI from the
  RD limits (Altman 1998, BMJ 317:1309), undefined ("NNT ∞") when the RD CI crosses 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.core.exceptions import ModelError
from analysis.core.intervals import z_value
from analysis.models import design as model_design
from analysis.models.logistic import fit_logit

__all__ = [
    "benefit_by_quintile",
    "by_profile_table",
    "decision_curve",
    "effect_modification_curve",
    "interaction_tests",
    "predicted_benefit",
    "supported_rule",
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
    return (pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()), pd.DataFrame(tests)


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


def benefit_by_quintile(
    benefit: pd.DataFrame, *, outcome: str = "live_birth", conf_level: float = 0.95
) -> pd.DataFrame:
    """Observed vs predicted risk difference within fifths of predicted benefit."""
    q = pd.qcut(benefit["benefit"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5])
    z = z_value(conf_level)
    rows = []
    for k, g in benefit.groupby(q, observed=True):
        t, c = g[g["treated"] == 1][outcome], g[g["treated"] == 0][outcome]
        rd = t.mean() - c.mean() if len(t) and len(c) else np.nan
        se = (
            np.sqrt(t.mean() * (1 - t.mean()) / len(t) + c.mean() * (1 - c.mean()) / len(c))
            if len(t) and len(c)
            else np.nan
        )
        rows.append(
            {
                "quintile": int(k),
                "n": len(g),
                "n_treated": len(t),
                "n_untreated": len(c),
                "predicted_benefit": g["benefit"].mean(),
                "observed_benefit": rd,
                "conf_low": rd - z * se,
                "conf_high": rd + z * se,
            }
        )
    return pd.DataFrame(rows)


def decision_curve(
    benefit: pd.DataFrame,
    *,
    thresholds: Sequence[float],
    profile_col: str = "profile_group",
    treat_level: str = "dysregulated",
) -> pd.DataFrame:
    """Net benefit of treat all, treat by profile and treat by the model, across thresholds."""
    b = benefit["benefit"].to_numpy()
    by_profile = (benefit[profile_col].astype(str) == treat_level).to_numpy() if profile_col in benefit else None
    rows = []
    for t in thresholds:
        strategies = {"treat none": np.zeros(len(b), bool), "treat all": np.ones(len(b), bool), "treat by model": b > t}
        if by_profile is not None:
            strategies[f"treat {treat_level} profiles"] = by_profile
        for name, treat in strategies.items():
            rows.append(
                {
                    "threshold": t,
                    "strategy": name,
                    "net_benefit": float(np.mean(treat * (b - t))),
                    "share_treated": float(treat.mean()),
                }
            )
    return pd.DataFrame(rows)


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


def supported_rule(table: pd.DataFrame, *, by: str = "profile_group", conf_level: float = 0.95) -> str:
    """A plain sentence stating which profiles the data support treating, with the uncertainty."""
    parts = []
    for r in table.itertuples():
        level = getattr(r, by)
        if not hasattr(r, "risk_difference") or pd.isna(r.risk_difference):
            parts.append(f"{level}: not estimable (an arm is empty)")
            continue
        rd = f"{100 * r.risk_difference:+.1f} percentage points ({conf_level * 100:g}% CI {100 * r.conf_low:+.1f} to {100 * r.conf_high:+.1f})"
        if r.conf_low > 0:
            verdict = f"personalized therapy raised live birth by {rd}; number needed to treat {r.nnt:.1f} ({r.nnt_low:.1f} to {r.nnt_high:.1f})"
        elif r.conf_high < 0:
            verdict = f"personalized therapy lowered live birth by {rd}; number needed to harm {abs(r.nnt):.1f}"
        else:
            verdict = f"no benefit shown: {rd}"
        parts.append(f"{level}: {verdict}")
    supported = [getattr(r, by) for r in table.itertuples() if getattr(r, "conf_low", np.nan) > 0]
    head = (
        f"The data support offering personalized immunotherapy to patients with a {' or '.join(supported)} profile"
        if supported
        else "The data do not show a benefit of personalized immunotherapy in any profile"
    )
    return (
        head
        + " (crude first-transfer comparison; see the weighted and doubly robust estimates of notebook 05). "
        + "; ".join(parts)
        + "."
    )


def benefit_table(
    data: pd.DataFrame, *, groupings: Sequence[str] = ("profile_group", "immune_profile"), **kwargs
) -> pd.DataFrame:
    """:func:`by_profile_table` for each grouping, stacked with columns ``grouping`` and ``group``."""
    parts = [by_profile_table(data, by=g, **kwargs).rename(columns={g: "group"}).assign(grouping=g) for g in groupings]
    out = pd.concat(parts, ignore_index=True)
    return out[["grouping", "group", *[c for c in out.columns if c not in ("grouping", "group")]]]
