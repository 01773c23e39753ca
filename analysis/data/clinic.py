"""A realistic synthetic clinic: the features that break longitudinal analyses, with their truth.

:func:`analysis.data.synthetic.simulate_cohort` draws transfers whose arm never reacts to a
failure, whose timing does not depend on the arm, with no patient frailty, calendar trend,
informative drop-out or return after a birth. An analysis that assumes all of that passes its
truth-recovery tests there and can still be wrong in a real clinic. :func:`simulate_clinic`
draws cohorts in the same data contract with each of these features switchable
(:class:`ClinicFeatures`, all on by default: the "realistic" preset):

* **arm switching after failure**: after a failed transfer a woman keeps her arm with
  probability ``keep_arm``; with dysregulated profiles she moves to personalized therapy with
  probability ``switch_to_personalized`` (the clinic learns from failures).
* **arm-dependent delay**: personalized therapy needs its agents prepared: a first transfer
  under personalized therapy comes ``prep_days`` (uniform) later after the biopsy than it
  would have (the delay falls before time zero; later transfers keep the clinic's usual gaps).
* **patient frailty**: a normal random intercept (SD ``frailty_sd``) on the log odds of live
  birth at every transfer; it also drives drop-out.
* **calendar trend**: live birth rises by ``calendar_trend`` log odds per year of transfer
  (laboratories improve), while personalized therapy becomes commoner in later years (the
  assignment model of :data:`analysis.data.synthetic.ARM_LOG_ODDS`), so calendar time confounds.
* **informative drop-out**: the chance of continuing after a failure rises with frailty
  (``dropout_frailty`` log odds per SD), so women who stop had worse prospects.
* **administrative censoring**: follow-up ends at ``data_cut`` for everyone not lost; transfers
  after it never happen and outcomes of transfers within ``pending_days`` of it are unknown
  (pregnancies still ongoing), so women are still in treatment at the cut.
* **returns after a birth**: with probability ``sibling_return`` a woman with a live birth
  returns for a sibling transfer 450–900 days later.
* **single-marker profiles**: a dysregulated profile rests on exactly one marker outside the
  lab's range (the others normal), so a missing marker can hide the dysregulation.
* **markers missing**: the endometrial markers are missing more often and the lab's profile
  is missing for most women, so the profile is mostly derived from the markers.

With ``null=True`` every arm effect is zero: matched and mismatched therapy do nothing, so any
effect an analysis reports is bias. All else (switching, delays, trend, frailty, drop-out)
stays as it is.

Declared truth (``truth.json``) is computed inside the generator from potential outcomes, not
read off a model's coefficients: for every woman with a first transfer the generator knows her
live-birth probability at each transfer under each strategy (given her covariates, frailty,
embryo draws and dates), and reports their averages:

* ``first_transfer``: marginal risks, risk differences and odds ratios of live birth at the first
  post-biopsy transfer under each arm, per profile group (true profile), for the arm at the first
  transfer as the assigned strategy (the ITT analogue);
* ``cumulative``: the expected cumulative live birth by ``horizon_days`` after the first
  transfer and by transfer number, under "always personalized" and "never (no immunotherapy)",
  both with drop-out as it would happen and with no drop-out (everyone continues to
  ``max_transfers`` or a live birth), per profile group, and their differences.

Probabilities are exact expectations over the outcome draws given each woman's covariates, so
the truth carries no Monte Carlo error from the outcome draws; an estimator's interval should
cover it at its nominal rate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.data.contract import columns
from analysis.data.synthetic import (
    CENTRES,
    EMPIRICAL_MAIN,
    LIVE_BIRTH_LOG_ODDS,
    PROFILE_NAMES,
    SyntheticCohort,
    _draw_arms,
    _empirical_agents,
    _expit,
    _personalized_agents,
    _simulate_patients,
)
from analysis.data.therapy import therapy_match

CLINIC_VERSION = "1"
ARMS = ("none", "empirical", "personalized")
EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class ClinicFeatures:
    """Switches and sizes of the realistic clinic's features (defaults: the realistic preset).

    Attributes
    ----------
    arm_switching : bool
        Arms change after a failure (toward personalized where the profile is dysregulated).
    keep_arm : float
        Probability of keeping the arm after a failure when no switch to personalized happens.
    switch_to_personalized : float
        Probability that a woman with a dysregulated profile, not yet on personalized therapy,
        moves to it after a failure.
    arm_dependent_delay : bool
        The first personalized transfer waits ``prep_days`` longer for the agents.
    prep_days : tuple of int
        Range (inclusive) of the preparation delay in days.
    frailty_sd : float
        SD of the woman's random intercept on the log odds of live birth (0: none).
    calendar_trend : float
        Log odds of live birth per calendar year of transfer (centred at 2018; 0: none).
    informative_dropout : bool
        Drop-out after a failure depends on frailty.
    dropout_frailty : float
        Log odds of continuing per unit of frailty (when ``informative_dropout``).
    data_cut : str
        Administrative end of follow-up (ISO date).
    pending_days : int
        Outcomes of transfers this close to the data cut are unknown (still pregnant).
    sibling_return : float
        Probability that a woman with a live birth returns for a sibling transfer (0: never).
    single_marker_profiles : bool
        A dysregulated profile rests on exactly one marker.
    markers_missing : bool
        Markers and the lab's profile are missing often (shares below).
    marker_missing_share : float
        Share of each endometrial marker missing when ``markers_missing``.
    lab_profile_missing_share : float
        Share of the lab's profile missing when ``markers_missing``.
    lost_share : float
        Probability per transfer that the outcome is unknown and the woman is lost.
    max_transfers : int
        Transfers per woman in the first course (before any sibling return).
    assigned_arm : str or None
        If set, every woman gets this arm at every transfer (no assignment model, no switching):
        a randomised-strategy clinic whose outcomes check the declared strategy truths.
    """

    arm_switching: bool = True
    keep_arm: float = 0.85
    switch_to_personalized: float = 0.40
    arm_dependent_delay: bool = True
    prep_days: tuple[int, int] = (21, 63)
    frailty_sd: float = 0.6
    calendar_trend: float = 0.06
    informative_dropout: bool = True
    dropout_frailty: float = 1.0
    data_cut: str = "2024-06-30"
    pending_days: int = 280
    sibling_return: float = 0.15
    single_marker_profiles: bool = True
    markers_missing: bool = True
    marker_missing_share: float = 0.15
    lab_profile_missing_share: float = 0.60
    lost_share: float = 0.02
    max_transfers: int = 6
    assigned_arm: str | None = None


#: Features all off: the clinic then behaves like the simple generator (no switching, no delay,
#: no frailty, no trend, drop-out at random, no returns); useful to isolate one feature.
PLAIN_CLINIC = ClinicFeatures(
    arm_switching=False,
    arm_dependent_delay=False,
    frailty_sd=0.0,
    calendar_trend=0.0,
    informative_dropout=False,
    sibling_return=0.0,
    single_marker_profiles=False,
    markers_missing=False,
)

#: Probability of continuing after the k-th failure (k = 1, 2, …) at average frailty.
CONTINUE_AFTER_FAILURE = (0.80, 0.70, 0.60, 0.50, 0.40, 0.30, 0.20)


def _days(dates) -> np.ndarray:
    return (np.asarray(dates).astype("datetime64[D]") - EPOCH).astype(np.int64)


def _logit(p):
    p = np.asarray(p, float)
    return np.log(p / (1 - p))


def _single_marker(rng, patients: pd.DataFrame) -> None:
    """Redraw markers so that a dysregulated profile rests on one marker (in place)."""
    n = len(patients)
    profile = patients["immune_profile"].to_numpy()
    # Normal-range values as drawn for a balanced profile.
    normal = {
        "il15_fn14_ratio": np.exp(0.30 * rng.normal(0, 1, n)).round(3),
        "il18_tweak_ratio": np.exp(0.30 * rng.normal(0, 1, n)).round(3),
        "unk_cd56_percent": np.exp(np.log(2.5) + 0.22 * rng.normal(0, 1, n)).round(2),
    }
    keep = rng.integers(0, 3, n)  # which marker keeps the dysregulation
    markers = list(normal)
    for j, m in enumerate(markers):
        replace = (profile != "balanced") & (keep != j)
        if j == 0:
            # Mixed profiles rest on IL-15 low + IL-18 high together; keep them two-marker.
            replace &= profile != "mixed"
        if j == 1:
            replace &= profile != "mixed"
        patients[m] = np.where(replace, normal[m], patients[m].to_numpy(float))
    # For over/under-activated women the kept marker must be outside the range in the right
    # direction: move it there if the original draw had put the signal elsewhere.
    over, under = profile == "over_activated", profile == "under_activated"
    hi = {"il15_fn14_ratio": 2.0, "il18_tweak_ratio": 2.0, "unk_cd56_percent": 4.5}
    lo = {"il15_fn14_ratio": 0.5, "il18_tweak_ratio": 0.5, "unk_cd56_percent": 1.2}
    for j, m in enumerate(markers):
        x = patients[m].to_numpy(float)
        x = np.where(over & (keep == j) & (x <= hi[m]), hi[m] * np.exp(0.3 + 0.2 * rng.random(n)), x)
        x = np.where(under & (keep == j) & (x >= lo[m]), lo[m] * np.exp(-0.3 - 0.2 * rng.random(n)), x)
        patients[m] = x.round(3 if m != "unk_cd56_percent" else 2)


def _eta_fixed(
    patients: pd.DataFrame, k: int, slot: dict, prior_failed: np.ndarray, year: np.ndarray, features: ClinicFeatures
) -> np.ndarray:
    """Log odds of live birth without the therapy term, frailty included (n × k)."""
    b = LIVE_BIRTH_LOG_ODDS
    age = patients["age_at_biopsy_years"].to_numpy(float)[:, None]
    bmi = patients["bmi_kg_m2"].to_numpy(float)[:, None]
    centre = (
        pd.Series(patients["center_id"].to_numpy())
        .map({c: b.get(f"center_id[{c}]", 0.0) for c in CENTRES})
        .to_numpy(float)[:, None]
    )
    dys = (patients["immune_profile"].to_numpy() != "balanced")[:, None]
    return (
        b["intercept"]
        + b["age_at_biopsy_years"] * (age - 36.0)
        + b["bmi_kg_m2"] * (bmi - 24.0)
        + b["prior_failed_transfers"] * prior_failed
        + b["embryo_stage[blastocyst]"] * slot["blastocyst"]
        + b["good_quality_embryos"] * slot["good"]
        + b["cycle_type[frozen]"] * slot["frozen"]
        + b["oocyte_source[donor]"] * slot["donor"]
        + centre
        + b["profile_group[dysregulated]"] * dys
        + features.calendar_trend * (year - 2018)
        + slot["frailty"][:, None] * np.ones((1, k))
    )


def _therapy_log_odds(null: bool) -> dict[str, float]:
    b = LIVE_BIRTH_LOG_ODDS
    if null:
        return {"matched": 0.0, "mismatched": 0.0, "none": 0.0}
    return {"matched": b["therapy_match[matched]"], "mismatched": b["therapy_match[mismatched]"], "none": 0.0}


def _p_empirical_matched(profile: np.ndarray) -> np.ndarray:
    """Chance that an empirical regimen happens to match the profile (as in the simple generator)."""
    return np.select(
        [profile == "over_activated", profile == "under_activated"],
        [
            EMPIRICAL_MAIN["prednisolone"] + EMPIRICAL_MAIN["intralipid"] + EMPIRICAL_MAIN["ivig"],
            EMPIRICAL_MAIN["hcg_intrauterine"],
        ],
        default=0.0,
    )


def _arm_effect(arm: str, profile: np.ndarray, eta: np.ndarray, effects: dict) -> np.ndarray:
    """Live-birth probability under ``arm`` for every slot, averaging over empirical regimens."""
    if arm == "none":
        return _expit(eta)
    if arm == "personalized":  # matched in dysregulated profiles, no agent in balanced ones
        return _expit(eta + np.where(profile[:, None] == "balanced", 0.0, effects["matched"]))
    pm = _p_empirical_matched(profile)[:, None]
    return pm * _expit(eta + effects["matched"]) + (1 - pm) * _expit(eta + effects["mismatched"])


def simulate_clinic(
    n_patients: int = 3000,
    seed: int = 1,
    *,
    features: ClinicFeatures = ClinicFeatures(),
    null: bool = False,
    horizon_days: int = 540,
) -> SyntheticCohort:
    """Simulate a clinic's cohort with the features that break longitudinal analyses.

    Parameters
    ----------
    n_patients : int
        Women with a biopsy.
    seed : int
        Seed of the one random generator; the same seed and features give the same cohort.
    features : ClinicFeatures
        Which features are on (default: all, the realistic preset).
    null : bool
        If True, no arm has any effect on live birth.
    horizon_days : int
        Horizon of the declared cumulative live birth, in days after the first transfer.

    Returns
    -------
    SyntheticCohort
        ``patients``, ``transfers`` (contract form) and ``truth``.

    Examples
    --------
    >>> clinic = simulate_clinic(300, seed=2, null=True)
    >>> clinic.truth["first_transfer"]["all"]["rd_personalized_vs_none"]
    0.0
    """
    if n_patients < 1:
        raise ValueError("n_patients must be at least 1")
    f = features
    rng = np.random.default_rng(seed)
    patients = _simulate_patients(rng, n_patients)
    if f.single_marker_profiles:
        _single_marker(rng, patients)
    n, k = n_patients, f.max_transfers
    profile = patients["immune_profile"].to_numpy()
    dys = profile != "balanced"
    first_arm, arm_prob = _draw_arms(rng, patients, 1)
    first_arm = first_arm[:, 0]
    if f.assigned_arm is not None:
        if f.assigned_arm not in ARMS:
            raise ValueError(f"assigned_arm must be one of {ARMS}, not {f.assigned_arm!r}")
        first_arm = np.full(n, f.assigned_arm, dtype=object)

    # Every random draw of the course, made once (common random numbers for the counterfactuals).
    frailty = rng.normal(0.0, 1.0, n) * f.frailty_sd
    donor = (patients["indication"] == "donor_oocyte").to_numpy()
    blastocyst = rng.random((n, k)) < 0.80
    embryos = 1 + (rng.random((n, k)) < 0.28).astype(int) + (rng.random((n, k)) < 0.10).astype(int)
    pgt = (~donor[:, None]) & blastocyst & (rng.random((n, k)) < 0.30)
    embryos = np.where(pgt, 1, embryos)
    good = rng.binomial(embryos, 0.55)
    frozen = pgt | (rng.random((n, k)) < 0.65)
    thickness = np.clip(rng.normal(9.5, 1.8, (n, k)), 5, 16).round(1)
    pers_agents = _personalized_agents(rng, np.broadcast_to(profile[:, None], (n, k)))
    emp_agents = _empirical_agents(rng, (n, k))
    u_lb = rng.random((n, k))
    u_cont = rng.random((n, k))
    u_switch = rng.random((n, k))
    u_keep = rng.random((n, k))
    shift = rng.integers(1, 3, (n, k))
    u_lost = rng.random((n, k))
    u_hcg = rng.random((n, k))
    u_cp = rng.random((n, k))
    u_ect = rng.random((n, k))
    first_gap = rng.integers(30, 121, n)
    gaps = rng.integers(60, 151, (n, k))
    prep = rng.integers(f.prep_days[0], f.prep_days[1] + 1, n)
    u_sib = rng.random(n)
    sib_gap = rng.integers(450, 901, n)
    no_transfer = rng.random(n) < 0.03

    biopsy = _days(patients["biopsy_date"].to_numpy())
    cut = int(_days(np.datetime64(f.data_cut)))
    effects = _therapy_log_odds(null)
    slot = {
        "blastocyst": blastocyst,
        "good": good,
        "frozen": frozen,
        "donor": np.broadcast_to(donor[:, None], (n, k)),
        "frailty": frailty,
    }
    base_prior = patients["prior_failed_transfers"].to_numpy(float)
    cont_logit = _logit(
        np.array(CONTINUE_AFTER_FAILURE[: k - 1] + (0.5,) * max(0, k - 1 - len(CONTINUE_AFTER_FAILURE)))
    )

    # ---- the observed course: loop over at most max_transfers slots, vectorised over women ----
    arm = np.empty((n, k), dtype=object)
    day = np.zeros((n, k), np.int64)
    happened = np.zeros((n, k), bool)
    live_birth = np.zeros((n, k), bool)
    lost = np.zeros((n, k), bool)
    active = ~no_transfer
    failures = np.zeros(n)
    current = first_arm.copy()
    t = biopsy.copy()
    for j in range(k):
        if j == 0:
            t = biopsy + first_gap
        else:
            t = t + gaps[:, j]
            if f.assigned_arm is not None:
                pass  # the arm never changes
            elif f.arm_switching:
                to_pers = dys & (current != "personalized") & (u_switch[:, j] < f.switch_to_personalized)
                keep = u_keep[:, j] < f.keep_arm
                codes = pd.Series(current).map({a: i for i, a in enumerate(ARMS)}).to_numpy()
                moved = np.asarray(ARMS, dtype=object)[(codes + shift[:, j]) % 3]
                current = np.where(to_pers, "personalized", np.where(keep, current, moved))
            else:
                keep = u_keep[:, j] < f.keep_arm
                codes = pd.Series(current).map({a: i for i, a in enumerate(ARMS)}).to_numpy()
                current = np.where(keep, current, np.asarray(ARMS, dtype=object)[(codes + shift[:, j]) % 3])
        if j == 0 and f.arm_dependent_delay:  # biopsy to first transfer: agents to prepare
            t = t + np.where(current == "personalized", prep, 0)
        now = active & (t <= cut)
        happened[:, j] = now
        arm[:, j] = current
        day[:, j] = t
        prior = base_prior + failures
        slot_j = {key: (v[:, j : j + 1] if np.ndim(v) == 2 else v) for key, v in slot.items()}
        eta = _eta_fixed(patients, 1, slot_j, prior[:, None], (1970 + t / 365.25)[:, None], f)[:, 0]
        agents_j = np.where(
            current == "personalized", pers_agents[:, j], np.where(current == "empirical", emp_agents[:, j], "")
        )
        match = therapy_match(pd.Series(agents_j), pd.Series(profile)).to_numpy(dtype=object)
        p = _expit(eta + pd.Series(match).map(effects).fillna(0.0).to_numpy(float))
        lb = u_lb[:, j] < p
        live_birth[:, j] = lb
        lost[:, j] = now & (u_lost[:, j] < f.lost_share)
        cont_p = _expit(
            cont_logit[min(j, len(cont_logit) - 1)] + (f.dropout_frailty * frailty if f.informative_dropout else 0.0)
        )
        failures = failures + (now & ~lb)
        active = now & ~lb & ~lost[:, j] & (u_cont[:, j] < cont_p)

    # Sibling return after a live birth: one more transfer, same arm as the birth transfer.
    n_tr = happened.sum(axis=1)
    rows = np.arange(n)
    last = np.maximum(n_tr - 1, 0)
    birth = (n_tr > 0) & live_birth[rows, last] & ~lost[rows, last]
    sib_day = day[rows, last] + 270 + sib_gap
    sibling = birth & (u_sib < f.sibling_return) & (sib_day <= cut)

    # ---- assemble transfers ----
    ii, jj = np.nonzero(happened)
    t_day = day[ii, jj]
    pending = t_day > cut - f.pending_days
    unknown = lost[ii, jj] | pending
    agents = np.where(
        arm[ii, jj] == "personalized", pers_agents[ii, jj], np.where(arm[ii, jj] == "empirical", emp_agents[ii, jj], "")
    )
    lb = live_birth[ii, jj]
    p_cp_loss = _expit(-1.5 + 0.10 * (patients["age_at_biopsy_years"].to_numpy(float)[ii] - 36))
    cp_no_lb = ~lb & (u_cp[ii, jj] < p_cp_loss)
    clinical = lb | cp_no_lb
    ectopic = cp_no_lb & (u_ect[ii, jj] < 0.05)
    miscarriage = cp_no_lb & ~ectopic
    hcg = clinical | (u_hcg[ii, jj] < 0.12)
    sacs = np.where(clinical, 1 + (embryos[ii, jj] > 1) * (u_cp[ii, jj] < 0.2), 0)
    frame = {
        "patient_id": patients["patient_id"].to_numpy()[ii],
        "transfer_date": EPOCH + t_day.astype("timedelta64[D]"),
        "transfer_number": jj + 1,
        "treatment_arm": arm[ii, jj],
        "treatment_agents": agents,
        "embryo_stage": np.where(blastocyst[ii, jj], "blastocyst", "cleavage"),
        "embryos_transferred": embryos[ii, jj],
        "good_quality_embryos": good[ii, jj].astype(float),
        "cycle_type": np.where(frozen[ii, jj], "frozen", "fresh"),
        "oocyte_source": np.where(donor[ii], "donor", "autologous"),
        "pgt_a": pgt[ii, jj],
        "endometrial_thickness_mm": thickness[ii, jj],
        "positive_hcg": hcg,
        "gestational_sacs": sacs,
        "clinical_pregnancy": clinical,
        "miscarriage": np.where(unknown, np.nan, miscarriage.astype(float)),
        "live_birth": np.where(unknown, np.nan, lb.astype(float)),
    }
    transfers = pd.DataFrame(frame)
    if sibling.any():
        s = np.nonzero(sibling)[0]
        sj = last[s]
        sib = pd.DataFrame(
            {
                "patient_id": patients["patient_id"].to_numpy()[s],
                "transfer_date": EPOCH + sib_day[s].astype("timedelta64[D]"),
                "transfer_number": n_tr[s] + 1,
                "treatment_arm": arm[s, sj],
                "treatment_agents": np.where(
                    arm[s, sj] == "personalized",
                    pers_agents[s, sj],
                    np.where(arm[s, sj] == "empirical", emp_agents[s, sj], ""),
                ),
                "embryo_stage": "blastocyst",
                "embryos_transferred": 1,
                "good_quality_embryos": 1.0,
                "cycle_type": "frozen",
                "oocyte_source": np.where(donor[s], "donor", "autologous"),
                "pgt_a": False,
                "endometrial_thickness_mm": thickness[s, sj],
                "positive_hcg": u_hcg[s, 0] < 0.5,
                "gestational_sacs": (u_hcg[s, 0] < 0.35).astype(int),
                "clinical_pregnancy": u_hcg[s, 0] < 0.35,
                "miscarriage": ((u_hcg[s, 0] < 0.35) & (u_hcg[s, 0] > 0.3)).astype(float),
                "live_birth": ((u_hcg[s, 0] < 0.3) & (sib_day[s] <= cut - f.pending_days)).astype(float),
            }
        )
        sib.loc[sib_day[s] > cut - f.pending_days, ["live_birth", "miscarriage"]] = np.nan
        transfers = pd.concat([transfers, sib], ignore_index=True)
        transfers = transfers.sort_values(["patient_id", "transfer_number"], kind="stable").reset_index(drop=True)

    # Follow-up ends at the data cut, or soon after the transfer at which a woman was lost.
    lost_any = lost.any(axis=1)
    lost_day = np.where(lost_any, day[rows, np.argmax(lost, axis=1)], cut)
    fu_end = np.where(lost_any, np.minimum(lost_day + 30, cut), cut)
    patients["follow_up_end_date"] = EPOCH + fu_end.astype("timedelta64[D]")

    truth = _declare_clinic_truth(
        patients,
        f,
        null,
        horizon_days,
        seed,
        n_patients,
        len(transfers),
        happened[:, 0],
        first_arm,
        t0=day[:, 0],
        gaps=gaps,
        slot=slot,
        base_prior=base_prior,
        cont_logit=cont_logit,
        frailty=frailty,
        effects=effects,
        arm_prob=arm_prob,
    )
    _clinic_missingness(rng, patients, transfers, f)
    return SyntheticCohort(
        patients[[c for c in columns("patients") if c in patients]],
        transfers[[c for c in columns("transfers") if c in transfers]],
        truth,
    )


def _clinic_missingness(rng, patients: pd.DataFrame, transfers: pd.DataFrame, f: ClinicFeatures) -> None:
    """Blank cells at random (in place); one endometrial marker always stays (the contract)."""
    share = {
        "bmi_kg_m2": 0.05,
        "amh_ng_ml": 0.15,
        "infertility_years": 0.05,
        "diagnosis": 0.02,
        "cd138_per_hpf": 0.35,
        "blood_nk_percent": 0.40,
        "blood_th1_th2_ratio": 0.50,
        "il15_fn14_ratio": 0.04,
        "il18_tweak_ratio": 0.04,
        "unk_cd56_percent": 0.10,
        "immune_profile": 0.05,
    }
    if f.markers_missing:
        share.update({m: f.marker_missing_share for m in ("il15_fn14_ratio", "il18_tweak_ratio", "unk_cd56_percent")})
        share["immune_profile"] = f.lab_profile_missing_share
    masks = {c: rng.random(len(patients)) < s for c, s in share.items()}
    all_gone = masks["il15_fn14_ratio"] & masks["il18_tweak_ratio"] & masks["unk_cd56_percent"]
    masks["il15_fn14_ratio"] &= ~all_gone
    for c, m in masks.items():
        patients[c] = patients[c].where(~m)
    for c, s in {"endometrial_thickness_mm": 0.08, "good_quality_embryos": 0.02}.items():
        transfers[c] = transfers[c].where(~(rng.random(len(transfers)) < s))


def _strategy_course(
    arm: str, *, patients, f: ClinicFeatures, t0, gaps, slot, base_prior, cont_logit, frailty, effects, dropout: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per woman and slot: probability of a first live birth there, and the slot's day from time zero.

    Under a fixed strategy the arm never changes. Slot 0 is the first transfer, on the day it
    happened (time zero of the target trial: the strategies are compared from the same day, so
    a strategy changes only the therapy term, never the calendar). Drop-out (if ``dropout``) happens as it would under the strategy: the chance of
    continuing after the k-th failure, given frailty.
    """
    n, k = len(patients), f.max_transfers
    profile = patients["immune_profile"].to_numpy()
    rel = np.zeros((n, k), np.int64)
    rel[:, 1:] = np.cumsum(gaps[:, 1:], axis=1)
    day = t0[:, None] + rel
    prior = base_prior[:, None] + np.arange(k)[None, :]  # j failures before slot j on the way there
    eta = _eta_fixed(patients, k, slot, prior, 1970 + day / 365.25, f)
    p = _arm_effect(arm, profile, eta, effects)
    # cont[:, j]: chance of going on to slot j after a failure at slot j - 1 (1 without drop-out).
    cont = np.ones((n, k))
    if dropout:
        shift = (f.dropout_frailty * frailty)[:, None] if f.informative_dropout else 0.0
        cont[:, 1:] = _expit(cont_logit[None, : k - 1] + shift)
    # Reaching slot j: a failure at every earlier slot and going on after each.
    reach = np.ones((n, k))
    reach[:, 1:] = np.cumprod((1 - p[:, :-1]) * cont[:, 1:], axis=1)
    return reach * p, rel


def _declare_clinic_truth(
    patients,
    f,
    null,
    horizon_days,
    seed,
    n_patients,
    n_transfers,
    has_first,
    first_arm,
    *,
    t0,
    gaps,
    slot,
    base_prior,
    cont_logit,
    frailty,
    effects,
    arm_prob,
) -> dict:
    profile = patients["immune_profile"].to_numpy()
    dys = profile != "balanced"
    k = f.max_transfers
    common = dict(
        patients=patients,
        f=f,
        t0=t0,
        gaps=gaps,
        slot=slot,
        base_prior=base_prior,
        cont_logit=cont_logit,
        frailty=frailty,
        effects=effects,
    )

    # First transfer: each arm's probability at the woman's first transfer, on the day it happened.
    first = {}
    for arm in ARMS:
        f_lb, _ = _strategy_course(arm, dropout=True, **common)
        first[arm] = f_lb[:, 0]

    def first_block(mask):
        out = {"n": int(mask.sum())}
        for arm in ARMS:
            out[f"risk_{arm}"] = float(first[arm][mask].mean()) if mask.any() else None
        for arm in ("empirical", "personalized"):
            if mask.any():
                r1, r0 = out[f"risk_{arm}"], out["risk_none"]
                out[f"rd_{arm}_vs_none"] = float(r1 - r0)
                out[f"or_{arm}_vs_none"] = float((r1 / (1 - r1)) / (r0 / (1 - r0)))
        return out

    eligible = has_first
    first_transfer = {
        "description": "Expected live birth at the first post-biopsy transfer under each arm, averaged over "
        "women with a first transfer (their covariates, frailty, embryo draws and dates); "
        "risk differences and marginal odds ratios vs none. Groups by the true (lab) profile.",
        "all": first_block(eligible),
        "dysregulated": first_block(eligible & dys),
        "balanced": first_block(eligible & ~dys),
    }

    cumulative = {
        "horizon_days": int(horizon_days),
        "max_transfers": int(k),
        "description": "Expected cumulative live birth after the first transfer (time zero) under a "
        "strategy held at every transfer, by the horizon in days and by transfer number; "
        "'with_dropout': women stop as they would under the strategy (drop-out as a "
        "competing event), 'no_dropout': everyone continues to max_transfers or a live "
        "birth. Groups by the true profile.",
    }
    for dropout, label in ((True, "with_dropout"), (False, "no_dropout")):
        block = {}
        for arm, name in (("personalized", "always_personalized"), ("none", "never")):
            lb, rel = _strategy_course(arm, dropout=dropout, **common)
            by_h = (lb * (rel <= horizon_days)).sum(axis=1)
            by_k = np.cumsum(lb, axis=1)
            block[name] = {
                g: {"by_horizon": float(by_h[m].mean()), "by_transfer": [float(v) for v in by_k[m].mean(axis=0)]}
                for g, m in (("all", eligible), ("dysregulated", eligible & dys), ("balanced", eligible & ~dys))
            }
        block["difference"] = {
            g: {
                "by_horizon": block["always_personalized"][g]["by_horizon"] - block["never"][g]["by_horizon"],
                "by_transfer": [
                    a - b
                    for a, b in zip(block["always_personalized"][g]["by_transfer"], block["never"][g]["by_transfer"])
                ],
            }
            for g in ("all", "dysregulated", "balanced")
        }
        cumulative[label] = block

    return {
        "generator": "analysis.data.clinic.simulate_clinic",
        "generator_version": CLINIC_VERSION,
        "preset": "realistic",
        "seed": int(seed),
        "n_patients": int(n_patients),
        "n_transfers": int(n_transfers),
        "null": bool(null),
        "features": {key: (list(v) if isinstance(v, tuple) else v) for key, v in asdict(f).items()},
        "therapy_log_odds": effects,
        "live_birth_model": {
            "log_odds": {
                t: float(v) for t, v in LIVE_BIRTH_LOG_ODDS.items() if not (null and t.startswith("therapy_match"))
            },
            "frailty_sd": f.frailty_sd,
            "calendar_trend_per_year": f.calendar_trend,
            "description": "Per-transfer logistic model with a normal random intercept per woman (frailty), "
            "a calendar trend by year of transfer, prior failed transfers counting the failures "
            "of this course, and the therapy term (zero under null).",
        },
        "first_transfer": first_transfer,
        "cumulative": cumulative,
        "first_transfer_arm_expected_share": dict(zip(ARMS, np.round(arm_prob[has_first].mean(axis=0), 6).tolist())),
        "first_transfer_arm_share": {a: float((first_arm[has_first] == a).mean()) for a in ARMS},
        "immune_profile": {"shares": dict(zip(PROFILE_NAMES, [float((profile == p).mean()) for p in PROFILE_NAMES]))},
        "negative_control": "personalized therapy in balanced profiles gives no agent: its effect there is null",
    }


__all__ = ["ClinicFeatures", "PLAIN_CLINIC", "simulate_clinic"]
