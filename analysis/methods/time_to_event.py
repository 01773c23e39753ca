"""Time to live birth: the patient-level data and the per-transfer cumulative live birth.

Definitions (``docs/analysis_plan.md``): origin the biopsy date; event the date of the first
transfer that ended in live birth; otherwise censored at ``follow_up_end_date``; population the
patients with at least one transfer; arm = arm at the first transfer. For the competing-risk
analysis a patient without live birth whose last transfer had a known outcome stopped treatment
(drop-out, the competing event, at ``follow_up_end_date``); a patient whose last transfer outcome
is unknown is censored (lost to follow-up). The contract has no field that separates an
administrative end of follow-up from a decision to stop, so drop-out here includes women still
in treatment at the data cut; the analysis plan says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.intervals import z_value
from analysis.data.cohort import Cohort, after_first_live_birth_flags, analysis_population

EVENT_CODES = {"censored": 0, "live_birth": 1, "dropout": 2}


def time_to_live_birth(cohort: Cohort) -> pd.DataFrame:
    """One row per included patient with ``time_days``, ``event`` (0/1) and ``status`` (0/1/2).

    Returns
    -------
    DataFrame
        Patient covariates plus ``treatment_arm`` (at the first transfer), ``time_days``,
        ``event`` (live birth), ``status`` (:data:`EVENT_CODES`) and ``n_transfers``.

    Examples
    --------
    >>> from analysis.data.cohort import load_cohort
    >>> ttlb = time_to_live_birth(load_cohort("data/synthetic"))
    >>> sorted(ttlb["status"].unique().tolist())
    [0, 1, 2]
    """
    patients = analysis_population(cohort, "patients")
    t = cohort.transfers[cohort.transfers["patient_id"].isin(patients["patient_id"])]
    lb = t[t["live_birth"].fillna(False).astype(bool)]
    first_lb = lb.groupby("patient_id")["transfer_date"].min()
    first = t[t["transfer_number"] == 1].set_index("patient_id")
    last = t.sort_values("transfer_number").groupby("patient_id").tail(1).set_index("patient_id")

    pid = patients["patient_id"]
    event_date = pid.map(first_lb)
    has_event = event_date.notna()
    end = patients["follow_up_end_date"].where(~has_event, event_date)
    patients["time_days"] = (end - patients["biopsy_date"]).dt.days.astype(int)
    patients["event"] = has_event.astype(int)
    last_unknown = pid.map(last["live_birth"].isna()).fillna(True).astype(bool)
    patients["status"] = np.where(has_event, 1, np.where(last_unknown, 0, 2)).astype(int)
    patients["treatment_arm"] = pd.Categorical(
        pid.map(first["treatment_arm"]).astype("string").to_numpy(dtype=object),
        categories=list(cohort.transfers["treatment_arm"].cat.categories),
    )
    return patients.reset_index(drop=True)


def _wilson(k, n, conf_level):
    z = z_value(conf_level)
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def cumulative_live_birth_by_transfer(
    cohort: Cohort, *, group_col: str | None = None, max_transfer: int = 4, conf_level: float = 0.95
) -> pd.DataFrame:
    """Cumulative live birth by transfer 1, 2, …, ``max_transfer``+ (discrete time).

    Each woman is counted once and followed to her first live birth: transfers after it (sibling
    attempts, flagged ``after_first_live_birth`` and logged in the cohort's flow) are not
    counted, so a woman contributes at most one live birth and leaves the risk set after it.

    Two bounds, as the cumulative-live-birth literature reports them [S36, S37, S38]:

    - conservative: women who stop count as never having a live birth,
      :math:`C_k = \\#\\{\\text{women with a first live birth at transfer} \\le k\\} / N` (Wilson CI);
    - optimistic: women who stop would have had the same chance as those who went on,
      :math:`O_k = 1 - \\prod_{j \\le k} (1 - b_j / r_j)` with :math:`r_j` the women with a
      known outcome at transfer :math:`j` of their course (no live birth before it) and
      :math:`b_j` their live births (a discrete-time
      Kaplan–Meier; Greenwood log CI for the survival, inverted).

    The last stage pools transfers ``max_transfer`` and later ("4+").

    Returns
    -------
    DataFrame
        group, transfer_number, label, n_patients, n_reaching, n_known, n_live_births,
        conservative, conservative_low, conservative_high, optimistic, optimistic_low,
        optimistic_high.
    """
    patients = analysis_population(cohort, "patients")
    t = cohort.transfers[cohort.transfers["patient_id"].isin(patients["patient_id"])]
    t = t[~after_first_live_birth_flags(t)].copy()
    t["stage"] = np.minimum(t["transfer_number"].astype(int), max_transfer)
    first_arm = t.loc[t["transfer_number"] == 1].set_index("patient_id")
    if group_col is None:
        t["group"] = "all"
    elif group_col in first_arm.columns:
        t["group"] = t["patient_id"].map(first_arm[group_col].astype("string"))
    else:
        raise KeyError(f"{group_col} is not a transfer or patient column")
    lb = t["live_birth"].fillna(False).astype(bool)
    known = t["live_birth"].notna()
    # Per patient and stage: reached the stage, had a known outcome there, had a live birth there.
    per = (
        t.assign(known=known, lb=lb)
        .groupby(["group", "patient_id", "stage"], observed=True)
        .agg(known=("known", "max"), lb=("lb", "max"))
        .reset_index()
    )
    z = z_value(conf_level)
    rows = []
    for group, g in per.groupby("group", sort=True):
        n_pat = g["patient_id"].nunique()
        by_stage = (
            g.groupby("stage")
            .agg(n_reaching=("patient_id", "nunique"), n_known=("known", "sum"), n_live_births=("lb", "sum"))
            .reindex(range(1, max_transfer + 1), fill_value=0)
        )
        cum_lb = by_stage["n_live_births"].cumsum().to_numpy()
        cons = cum_lb / n_pat
        c_lo, c_hi = _wilson(cum_lb, n_pat, conf_level)
        r = by_stage["n_known"].to_numpy(float)
        b = by_stage["n_live_births"].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            h = np.where(r > 0, b / r, 0.0)
            surv = np.cumprod(1 - h)
            green = np.cumsum(np.where((r > 0) & (r > b), b / (r * (r - b)), 0.0))
            se_log = np.sqrt(green)
            s_lo = np.clip(surv * np.exp(-z * se_log), 0, 1)
            s_hi = np.clip(surv * np.exp(z * se_log), 0, 1)
        for i, k in enumerate(range(1, max_transfer + 1)):
            rows.append(
                dict(
                    group=group,
                    transfer_number=k,
                    label=f"{k}+" if k == max_transfer else str(k),
                    n_patients=n_pat,
                    n_reaching=int(by_stage["n_reaching"].iloc[i]),
                    n_known=int(r[i]),
                    n_live_births=int(b[i]),
                    conservative=cons[i],
                    conservative_low=c_lo[i],
                    conservative_high=c_hi[i],
                    optimistic=1 - surv[i],
                    optimistic_low=1 - s_hi[i],
                    optimistic_high=1 - s_lo[i],
                )
            )
    return pd.DataFrame(rows)
