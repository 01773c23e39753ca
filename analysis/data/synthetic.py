"""Synthetic cohorts that obey the data contract and carry a declared truth.

:func:`simulate_cohort` draws patients, their biopsy markers and immune profile, then a sequence
of embryo transfers with treatment confounded the way a clinic's is (by centre, calendar year,
age and prior failures), realistic missingness and drop-out. Live birth per transfer follows a
logistic model whose coefficients are written to ``truth.json`` (:data:`LIVE_BIRTH_LOG_ODDS`):
personalized (profile-matched) therapy helps dysregulated profiles, therapy mismatched to the
profile harms, age and prior failures lower live birth. Effect sizes follow published rates
where they exist (cited beside each constant); the rest are labelled assumptions [A].

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed``, in a fixed order,
and written with fixed number formats, so a cohort regenerates byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data.contract import AGENTS, EMBRYO_AGE_DAYS, ENDOMETRIAL_MARKERS, columns
from analysis.data.growth import HADLOCK_SD_FRACTION, hadlock_mean_weight
from analysis.data.therapy import therapy_match

GENERATOR_VERSION = "1"
CENTRES = ("C1", "C2", "C3", "C4", "C5")
CENTRE_SHARE = (0.30, 0.25, 0.20, 0.15, 0.10)
INDICATIONS = ("rif", "rpl", "good_prognosis", "donor_oocyte")
INDICATION_SHARE = (0.55, 0.20, 0.15, 0.10)  # [A] RIF/RPL majority, groups from [S2]
DIAGNOSES = ("tubal", "male_factor", "endometriosis", "ovulatory", "unexplained", "other")
DIAGNOSIS_SHARE = (0.15, 0.20, 0.15, 0.10, 0.30, 0.10)
PROFILE_NAMES = ("balanced", "over_activated", "under_activated", "mixed")
PROFILE_SHARE = (0.18, 0.45, 0.27, 0.10)  # [S2]: 16.5 / 45 / 28 / 10.5 %
PROFILE_SHARE_ENDOMETRIOSIS = (0.14, 0.38, 0.38, 0.10)  # [S5] direction: more under-activation
BIOPSY_START, BIOPSY_END = "2012-01-01", "2023-12-31"
ADMIN_END = "2025-06-30"  # follow-up closes; transfers need 300 days to a known outcome
MAX_TRANSFERS = 6
CONTINUE_AFTER_FAILURE = (0.80, 0.70, 0.60, 0.50, 0.40)  # [S31]: ~44% cumulative drop-out [A]

#: Per-transfer live-birth model, log odds. Covariates are centred where noted (``centre``).
LIVE_BIRTH_LOG_ODDS = {
    "intercept": -0.85,  # tuned for LBR/ET about 30 % [S3]
    "age_at_biopsy_years": float(np.log(0.92)),  # per year [S36] (aOR 1.66 for 31 vs 37 y)
    "bmi_kg_m2": float(np.log(0.98)),  # per kg/m² [A]
    "prior_failed_transfers": float(np.log(0.88)),  # per failed transfer [S43]
    "embryo_stage[blastocyst]": float(np.log(1.30)),  # [A]
    "good_quality_embryos": float(np.log(1.25)),  # per good embryo [A]
    "cycle_type[frozen]": float(np.log(1.20)),  # [A]; [S48] reports larger
    "oocyte_source[donor]": float(np.log(1.40)),  # [A]
    "center_id[C2]": 0.15,
    "center_id[C3]": -0.10,
    "center_id[C4]": 0.05,
    "center_id[C5]": -0.20,
    "profile_group[dysregulated]": float(np.log(1 / 1.55)),  # [S4] balanced vs dysregulated OR 1.55
    "therapy_match[matched]": float(np.log(1.80)),  # [S3] OR 1.68 (1.04–2.73)
    "therapy_match[mismatched]": float(np.log(0.70)),  # [A] source document claims harm
}
CENTRING = {"age_at_biopsy_years": 36.0, "bmi_kg_m2": 24.0}

#: What the live-birth model above implies for the markers (nothing here changes the draws).
MARKER_ROLES = {
    "prognostic": "dysregulated",
    "prognostic_note": (
        "Live birth depends on the markers only through the profile group: 'dysregulated' "
        "(any of IL-15/Fn-14, IL-18/TWEAK, uNK CD56 outside the lab's cut-offs) is the prognostic "
        "signal; each single marker carries it only through its cut-offs (a U-shaped, weak relation)."
    ),
    "effect_modifiers": ["profile_group"],
    "null": ["blood_nk_percent", "blood_th1_th2_ratio", "cd138_per_hpf"],
    "benefit": "personalized therapy raises live birth only in dysregulated profiles (therapy_match = matched)",
}

#: Multinomial logit of the arm at the first transfer (reference: none). Year = biopsy year − 2018.
ARM_LOG_ODDS = {
    "personalized": {
        "intercept": -1.0,
        "year": 0.25,
        "prior_failed": 0.35,
        "age": 0.03,
        "centre": {"C1": 0.8, "C2": 0.3, "C3": -0.3, "C4": 0.0, "C5": -0.8},
    },
    "empirical": {
        "intercept": -0.6,
        "year": -0.10,
        "prior_failed": 0.15,
        "age": 0.05,
        "centre": {"C1": -0.5, "C2": 0.4, "C3": 0.2, "C4": 0.6, "C5": 0.0},
    },
}
KEEP_ARM = 0.85  # probability a later transfer keeps the arm of the previous one [A]

#: Empirical therapy: one main agent regardless of profile, LMWH added with probability 0.3 [A].
EMPIRICAL_MAIN = {"prednisolone": 0.50, "intralipid": 0.20, "ivig": 0.10, "lmwh": 0.15, "hcg_intrauterine": 0.05}
EMPIRICAL_ADD_LMWH = 0.30

MISSING_SHARE = {
    "bmi_kg_m2": 0.05,
    "amh_ng_ml": 0.15,
    "infertility_years": 0.05,
    "diagnosis": 0.02,
    "il15_fn14_ratio": 0.04,
    "il18_tweak_ratio": 0.04,
    "unk_cd56_percent": 0.10,
    "cd138_per_hpf": 0.35,
    "blood_nk_percent": 0.40,
    "blood_th1_th2_ratio": 0.50,
    "immune_profile": 0.05,
    "endometrial_thickness_mm": 0.08,
    "good_quality_embryos": 0.02,
}
#: The missing-marker preset (``simulate_cohort(..., missing_marker_preset=True)``): the lab
#: reports no profile and each of the three markers of the cut-off rule is blanked at this share,
#: on top of :data:`MISSING_SHARE`, from a random stream of its own (so the default cohort does
#: not change). Under the old rule a dysregulated woman whose out-of-range marker is missing is
#: called balanced; the preset makes that misclassification common enough to measure.
MISSING_MARKER_PRESET = {
    "immune_profile": 1.0,
    "il15_fn14_ratio": 0.30,
    "il18_tweak_ratio": 0.30,
    "unk_cd56_percent": 0.30,
}
NO_TRANSFER_SHARE = 0.03
UNKNOWN_OUTCOME_SHARE = 0.03


#: Seed tail of the safety stream: pregnancy details, babies and adverse events are drawn from
#: ``default_rng([seed, SAFETY_STREAM])``, apart from the main generator, so every column drawn
#: before them keeps its values.
SAFETY_STREAM = 17

#: Preterm birth (< 37 weeks) among live births, log odds. Prednisolone is the one agent with a
#: declared harm: OR 2.30 from the RCT of prednisone in RIF (preterm 11.8% vs 5.5% [S51]); every
#: other agent and the arm as such have none (OR 1).
PRETERM_LOG_ODDS = {
    "intercept": float(np.log(0.07 / 0.93)),  # singleton IVF births about 7% preterm [A]
    "multiple": float(np.log(12.0)),  # twins: about half preterm [A]
    "agent[prednisolone]": float(np.log((0.118 / 0.882) / (0.055 / 0.945))),  # [S51] OR 2.30
}
PRETERM_AGENT_OR = {agent: 1.0 for agent in AGENTS}
PRETERM_AGENT_OR["prednisolone"] = float(np.exp(PRETERM_LOG_ODDS["agent[prednisolone]"]))
VERY_PRETERM_SHARE = {"singleton": 0.15, "multiple": 0.20}  # share of preterm births < 32 weeks [A]
EXTRA_SAC_KEPT = 0.90  # an extra gestational sac of a live birth becomes a baby (vanishing twin) [A]
LOSS_SPLIT = {"termination": 0.03, "miscarriage_second_trimester": 0.15}  # of miscarriages [A]
CAESAREAN = {"singleton_term": 0.30, "singleton_preterm": 0.50, "multiple": 0.70}  # [A]
MALE_SHARE = 0.512
BIRTHWEIGHT_LOG_SD = HADLOCK_SD_FRACTION  # Hadlock 1991: SD 12.7% of the mean at every gestational age
BIRTHWEIGHT_TWIN_SHIFT = -0.12  # log scale [A]
ANOMALY_RISK = 0.03  # per baby, independent of arm, agent and profile (declared null) [A]
NEONATAL_DEATH = {"term": 0.002, "preterm": 0.02, "very_preterm": 0.08}  # [A]
NICU = {"term": 0.05, "preterm": 0.35, "very_preterm": 0.95}  # [A]
#: Adverse events per course of each agent (a transfer's therapy), and what they are [A].
ADVERSE_EVENT_RISK = {
    "prednisolone": (0.08, {"hyperglycaemia": 0.5, "mood_change": 0.3, "hypertension": 0.1, "infection": 0.1}),
    "intralipid": (0.05, {"infusion_reaction": 0.7, "allergic_reaction": 0.3}),
    "ivig": (0.10, {"infusion_reaction": 0.8, "allergic_reaction": 0.15, "thrombosis": 0.05}),
    "lmwh": (0.12, {"injection_site_reaction": 0.85, "bleeding": 0.15}),
    "hcg_intrauterine": (0.01, {"other": 1.0}),
}
SEVERITY_SHARE = {"mild": 0.70, "moderate": 0.22, "severe": 0.06, "life_threatening": 0.02}  # [A]
SERIOUS_IF_SEVERE = 0.5  # a severe event needs hospitalisation (serious) half the time [A]


@dataclass
class SyntheticCohort:
    """A simulated cohort: the contract tables and the declared truth.

    ``births`` and ``adverse_events`` are the optional tables (None for a cohort without them).
    """

    patients: pd.DataFrame
    transfers: pd.DataFrame
    truth: dict
    births: pd.DataFrame | None = None
    adverse_events: pd.DataFrame | None = None


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _dates(start: str, days: np.ndarray) -> np.ndarray:
    return np.datetime64(start, "D") + days.astype("timedelta64[D]")


def _choice(rng, levels, p, size):
    return np.asarray(levels, dtype=object)[rng.choice(len(levels), size=size, p=p)]


def _simulate_patients(rng: np.random.Generator, n: int) -> pd.DataFrame:
    pid = np.array([f"P{i:05d}" for i in range(1, n + 1)], dtype=object)
    centre = _choice(rng, CENTRES, CENTRE_SHARE, n)
    span = (np.datetime64(BIOPSY_END) - np.datetime64(BIOPSY_START)).astype(int)
    biopsy = _dates(BIOPSY_START, rng.integers(0, span + 1, n))
    age = np.clip(rng.normal(36.5, 4.2, n), 24, 45)
    bmi = np.clip(np.exp(rng.normal(np.log(23.5), 0.16, n)), 17, 42)
    amh = np.clip(np.exp(np.log(1.8) - 0.09 * (age - 36.5) + rng.normal(0, 0.8, n)), 0.05, 20)
    infert_years = np.clip(rng.gamma(2.0, 2.0, n), 0.5, 15)
    indication = _choice(rng, INDICATIONS, INDICATION_SHARE, n)
    prior_failed = np.where(indication == "rif", 3 + rng.poisson(1.5, n), rng.poisson(0.8, n))
    prior_misc = np.where(indication == "rpl", 2 + rng.poisson(0.7, n), rng.poisson(0.3, n))
    diagnosis = _choice(rng, DIAGNOSES, DIAGNOSIS_SHARE, n)

    # Latent immune profile (the lab's classification), then markers given the profile.
    u = rng.random(n)
    cum_base, cum_endo = np.cumsum(PROFILE_SHARE), np.cumsum(PROFILE_SHARE_ENDOMETRIOSIS)
    cum = np.where((diagnosis == "endometriosis")[:, None], cum_endo[None, :], cum_base[None, :])
    profile = np.asarray(PROFILE_NAMES, dtype=object)[(u[:, None] > cum).sum(axis=1)]
    z = rng.normal(0.0, 1.0, (n, 3))  # marker noise: il15, il18, unk
    pick = rng.random((n, 3))  # which markers carry the dysregulation
    over, under, mixed = (profile == "over_activated"), (profile == "under_activated"), (profile == "mixed")
    over_hi = over[:, None] & (pick < np.array([0.6, 0.5, 0.4]))
    over_hi[over & ~over_hi.any(axis=1), 0] = True
    under_lo = under[:, None] & (pick < np.array([0.7, 0.4, 0.3]))
    under_lo[under & ~under_lo.any(axis=1), 0] = True
    log_il15 = 0.30 * z[:, 0] + np.where(over_hi[:, 0], 1.15, 0.0) + np.where(under_lo[:, 0] | mixed, -1.15, 0.0)
    log_il18 = 0.30 * z[:, 1] + np.where(over_hi[:, 1] | mixed, 1.15, 0.0) + np.where(under_lo[:, 1], -1.15, 0.0)
    log_unk = np.log(2.5) + 0.22 * z[:, 2] + np.where(over_hi[:, 2], 0.95, 0.0) + np.where(under_lo[:, 2], -1.0, 0.0)
    cd138_pos = rng.random(n) < 0.40
    cd138 = np.where(cd138_pos, 1 + rng.geometric(0.35, n) - 1 + rng.poisson(0.5, n), 0)
    # Blood markers: weakly tied to the endometrium (Spearman about 0.1 [S15]), no own effect.
    blood_nk = np.clip(12 + 5 * (0.12 * z[:, 2] + np.sqrt(1 - 0.12**2) * rng.normal(0, 1, n)), 1, 40)
    th1th2 = np.exp(np.log(9) + 0.4 * (0.10 * z[:, 1] + np.sqrt(1 - 0.10**2) * rng.normal(0, 1, n)))

    frame = pd.DataFrame(
        {
            "patient_id": pid,
            "center_id": centre,
            "age_at_biopsy_years": age.round(1),
            "bmi_kg_m2": bmi.round(1),
            "amh_ng_ml": amh.round(2),
            "infertility_years": infert_years.round(1),
            "prior_failed_transfers": prior_failed,
            "prior_miscarriages": prior_misc,
            "indication": indication,
            "diagnosis": diagnosis,
            "biopsy_date": biopsy,
            "follow_up_end_date": biopsy,  # set after the transfers are drawn
            "il15_fn14_ratio": np.exp(log_il15).round(3),
            "il18_tweak_ratio": np.exp(log_il18).round(3),
            "unk_cd56_percent": np.exp(log_unk).round(2),
            "cd138_per_hpf": cd138.astype(float),
            "immune_profile": profile,
            "blood_nk_percent": blood_nk.round(1),
            "blood_th1_th2_ratio": th1th2.round(2),
        }
    )
    return frame


def _draw_arms(rng, patients: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Arm for each patient and transfer slot (n × k), and the first-arm probabilities (n × 3)."""
    n = len(patients)
    year = pd.to_datetime(patients["biopsy_date"]).dt.year.to_numpy() - 2018
    prior = patients["prior_failed_transfers"].to_numpy(float) - 2
    age = patients["age_at_biopsy_years"].to_numpy(float) - 36
    centre = patients["center_id"].to_numpy()
    eta = {}
    for arm, c in ARM_LOG_ODDS.items():
        eta[arm] = (
            c["intercept"]
            + c["year"] * year
            + c["prior_failed"] * prior
            + c["age"] * age
            + pd.Series(centre).map(c["centre"]).to_numpy(float)
        )
    denom = 1 + np.exp(eta["personalized"]) + np.exp(eta["empirical"])
    p = np.column_stack([1 / denom, np.exp(eta["empirical"]) / denom, np.exp(eta["personalized"]) / denom])
    u = rng.random(n)
    first = (u[:, None] > np.cumsum(p, axis=1)[:, :2]).sum(axis=1)
    arms = np.empty((n, k), dtype=np.int64)
    arms[:, 0] = first
    keep = rng.random((n, k)) < KEEP_ARM
    shift = rng.integers(1, 3, (n, k))
    for j in range(1, k):  # loop over at most six transfer slots, vectorised over patients
        arms[:, j] = np.where(keep[:, j], arms[:, j - 1], (arms[:, j - 1] + shift[:, j]) % 3)
    return np.asarray(("none", "empirical", "personalized"), dtype=object)[arms], p


def _personalized_agents(rng, profile: np.ndarray) -> np.ndarray:
    add_intralipid = rng.random(profile.shape) < 0.4
    over = np.where(add_intralipid, "intralipid;prednisolone", "prednisolone")
    return np.select(
        [profile == "over_activated", profile == "under_activated", profile == "mixed"],
        [over, "hcg_intrauterine", "hcg_intrauterine;prednisolone"],
        default="",
    ).astype(object)


def _empirical_agents(rng, shape) -> np.ndarray:
    main = _choice(rng, tuple(EMPIRICAL_MAIN), tuple(EMPIRICAL_MAIN.values()), int(np.prod(shape))).reshape(shape)
    add = (rng.random(shape) < EMPIRICAL_ADD_LMWH) & (main != "lmwh")
    with_lmwh = np.array([";".join(sorted((m, "lmwh"))) for m in EMPIRICAL_MAIN], dtype=object)
    lookup = dict(zip(EMPIRICAL_MAIN, with_lmwh))
    return np.where(add, pd.Series(main.ravel()).map(lookup).to_numpy().reshape(shape), main)


def _live_birth_eta(slot: pd.DataFrame, match: np.ndarray) -> np.ndarray:
    b = LIVE_BIRTH_LOG_ODDS
    eta = (
        b["intercept"]
        + b["age_at_biopsy_years"] * (slot["age"] - CENTRING["age_at_biopsy_years"])
        + b["bmi_kg_m2"] * (slot["bmi"] - CENTRING["bmi_kg_m2"])
        + b["prior_failed_transfers"] * slot["prior_failed"]
        + b["embryo_stage[blastocyst]"] * slot["blastocyst"]
        + b["good_quality_embryos"] * slot["good"]
        + b["cycle_type[frozen]"] * slot["frozen"]
        + b["oocyte_source[donor]"] * slot["donor"]
        + pd.Series(slot["centre"].ravel())
        .map({c: b.get(f"center_id[{c}]", 0.0) for c in CENTRES})
        .to_numpy()
        .reshape(slot["age"].shape)
        + b["profile_group[dysregulated]"] * slot["dysregulated"]
        + b["therapy_match[matched]"] * (match == "matched")
        + b["therapy_match[mismatched]"] * (match == "mismatched")
    )
    return eta


def simulate_cohort(
    n_patients: int = 1500,
    seed: int = 20261124,
    *,
    missing_marker_preset: bool = False,
    personalized_effect: bool = True,
) -> SyntheticCohort:
    """Simulate a cohort of ``n_patients`` women and their transfers after the biopsy.

    Parameters
    ----------
    n_patients : int
        Number of patients (rows of ``patients``); transfers average about 1.8 per patient.
    seed : int
        Seed of the one random generator; the same seed gives the same cohort.
    missing_marker_preset : bool
        Also blank the lab's profile and markers at :data:`MISSING_MARKER_PRESET`, drawn from a
        second generator seeded ``[seed, 14]``: every other value is the same as without it.
    personalized_effect : bool
        False: personalized therapy changes live birth in no profile (its agents are drawn and
        recorded as usual, but the therapy-match term is left out of its live-birth model), so
        the truth declares no effect modification (``marker_roles.effect_modifiers`` empty).
        The draws up to live birth are those of the default (a personalized transfer sees the
        same uniform number), so the cohort differs only from the live-birth step on.

    Returns
    -------
    SyntheticCohort
        ``patients`` and ``transfers`` in contract form (typed) and ``truth`` (JSON-able dict).

    Notes
    -----
    Live birth at each transfer is Bernoulli with

    .. math::
        \\operatorname{logit} p = \\beta_0 + \\beta_{age}(age - 36) + \\beta_{bmi}(bmi - 24)
        + \\beta_{prior}\\,prior + \\dots + \\beta_{dys} D + \\beta_{m} M + \\beta_{mm} MM

    with ``D`` the dysregulated profile group and ``M``/``MM`` matched/mismatched therapy
    (:func:`analysis.data.therapy.therapy_match`); no patient-level frailty, so per-transfer GLMs and
    GEE estimate the same coefficients. Personalized therapy is always matched in dysregulated
    profiles and absent in balanced ones, so the OR of personalized vs none is
    ``exp(β_m)`` among the dysregulated and 1 among the balanced; empirical therapy in a
    balanced profile is always mismatched (OR ``exp(β_mm)``).

    Examples
    --------
    >>> cohort = simulate_cohort(200, seed=1)
    >>> sorted(cohort.truth["live_birth_model"]["odds_ratios"])[:2]
    ['age_at_biopsy_years', 'bmi_kg_m2']
    """
    if n_patients < 1:
        raise ValueError("n_patients must be at least 1")
    rng = np.random.default_rng(seed)
    patients = _simulate_patients(rng, n_patients)
    n, k = n_patients, MAX_TRANSFERS
    profile = patients["immune_profile"].to_numpy()
    arms, arm_prob = _draw_arms(rng, patients, k)

    # Transfer-level draws for every potential slot (n × k).
    donor_pat = (patients["indication"] == "donor_oocyte").to_numpy()
    blastocyst = rng.random((n, k)) < 0.80
    embryos = 1 + (rng.random((n, k)) < 0.28).astype(int) + (rng.random((n, k)) < 0.10).astype(int)
    pgt = (~donor_pat[:, None]) & blastocyst & (rng.random((n, k)) < 0.30)
    embryos = np.where(pgt, 1, embryos)
    good = rng.binomial(embryos, 0.55)
    frozen = pgt | (rng.random((n, k)) < 0.65)
    thickness = np.clip(rng.normal(9.5, 1.8, (n, k)), 5, 16).round(1)
    pers = _personalized_agents(rng, np.broadcast_to(profile[:, None], (n, k)))
    emp = _empirical_agents(rng, (n, k))
    agents = np.where(arms == "personalized", pers, np.where(arms == "empirical", emp, ""))
    flat_match = therapy_match(pd.Series(agents.ravel()), pd.Series(np.repeat(profile, k)))
    match = flat_match.to_numpy(dtype=object).reshape(n, k)

    slot = {
        "age": patients["age_at_biopsy_years"].to_numpy(float)[:, None] * np.ones((1, k)),
        "bmi": patients["bmi_kg_m2"].to_numpy(float)[:, None] * np.ones((1, k)),
        "prior_failed": patients["prior_failed_transfers"].to_numpy(float)[:, None] * np.ones((1, k)),
        "blastocyst": blastocyst,
        "good": good,
        "frozen": frozen,
        "donor": np.broadcast_to(donor_pat[:, None], (n, k)),
        "centre": np.broadcast_to(patients["center_id"].to_numpy()[:, None], (n, k)),
        "dysregulated": np.broadcast_to((profile != "balanced")[:, None], (n, k)),
    }
    lb_match = match if personalized_effect else np.where(arms == "personalized", "none", match)
    p_lb = _expit(_live_birth_eta(slot, lb_match))
    live_birth = rng.random((n, k)) < p_lb
    # Pregnancies that did not end in a live birth: miscarriage (age-dependent [S49]) or ectopic.
    age_c = slot["age"] - 36
    p_loss_cp = _expit(-1.5 + 0.10 * age_c)
    cp_no_lb = rng.random((n, k)) < p_loss_cp
    clinical = live_birth | cp_no_lb
    extra_sacs = rng.binomial(np.maximum(embryos - 1, 0), np.where(live_birth, 0.25, 0.15))
    sacs = np.where(clinical, 1 + extra_sacs, 0)
    ectopic = cp_no_lb & (rng.random((n, k)) < 0.05)
    miscarriage = cp_no_lb & ~ectopic
    hcg = clinical | (rng.random((n, k)) < 0.12)
    unknown = rng.random((n, k)) < UNKNOWN_OUTCOME_SHARE

    # Dates, drop-out and the transfers that happen.
    first_gap = rng.integers(30, 121, n)
    gaps = np.column_stack([first_gap, rng.integers(60, 151, (n, k - 1))])
    biopsy_days = (
        patients["biopsy_date"].to_numpy().astype("datetime64[D]") - np.datetime64("1970-01-01", "D")
    ).astype(int)
    t_days = biopsy_days[:, None] + np.cumsum(gaps, axis=1)
    last_possible = (np.datetime64(ADMIN_END, "D") - np.datetime64("1970-01-01", "D")).astype(int) - 300
    cont_p = np.array((1.0,) + CONTINUE_AFTER_FAILURE)[:k]
    cont = rng.random((n, k)) < cont_p[None, :]
    cont[:, 0] = rng.random(n) >= NO_TRANSFER_SHARE
    stop_after = live_birth | unknown  # no further transfer after a live birth or lost follow-up
    allowed = cont & (t_days <= last_possible)
    happened = np.zeros((n, k), bool)
    happened[:, 0] = allowed[:, 0]
    for j in range(1, k):  # at most six slots; vectorised over patients
        happened[:, j] = happened[:, j - 1] & ~stop_after[:, j - 1] & allowed[:, j]

    n_tr = happened.sum(axis=1)
    last_idx = np.maximum(n_tr - 1, 0)
    rows = np.arange(n)
    last_day = np.where(n_tr > 0, t_days[rows, last_idx], biopsy_days)
    last_lb = (n_tr > 0) & live_birth[rows, last_idx] & ~unknown[rows, last_idx]
    last_unknown = (n_tr > 0) & unknown[rows, last_idx]
    tail = np.where(last_lb, 270, np.where(last_unknown, rng.integers(20, 61, n), rng.integers(30, 366, n)))
    admin = (np.datetime64(ADMIN_END, "D") - np.datetime64("1970-01-01", "D")).astype(int)
    fu_end = np.minimum(last_day + tail, admin)
    patients["follow_up_end_date"] = np.datetime64("1970-01-01", "D") + fu_end.astype("timedelta64[D]")

    ii, jj = np.nonzero(happened)
    lb_obs = np.where(unknown[ii, jj], np.nan, live_birth[ii, jj].astype(float))
    misc_obs = np.where(unknown[ii, jj], np.nan, miscarriage[ii, jj].astype(float))
    transfers = pd.DataFrame(
        {
            "patient_id": patients["patient_id"].to_numpy()[ii],
            "transfer_date": np.datetime64("1970-01-01", "D") + t_days[ii, jj].astype("timedelta64[D]"),
            "transfer_number": jj + 1,
            "treatment_arm": arms[ii, jj],
            "treatment_agents": agents[ii, jj],
            "embryo_stage": np.where(blastocyst[ii, jj], "blastocyst", "cleavage"),
            "embryos_transferred": embryos[ii, jj],
            "good_quality_embryos": good[ii, jj].astype(float),
            "cycle_type": np.where(frozen[ii, jj], "frozen", "fresh"),
            "oocyte_source": np.where(donor_pat[ii], "donor", "autologous"),
            "pgt_a": pgt[ii, jj],
            "endometrial_thickness_mm": thickness[ii, jj],
            "positive_hcg": hcg[ii, jj],
            "gestational_sacs": sacs[ii, jj],
            "clinical_pregnancy": clinical[ii, jj],
            "miscarriage": misc_obs,
            "live_birth": lb_obs,
        }
    )
    truth = _declare_truth(
        patients, transfers, slot, profile, arm_prob, seed, n_patients, personalized_effect=personalized_effect
    )
    _apply_missingness(rng, patients, transfers)
    if missing_marker_preset:
        _apply_missing_marker_preset(np.random.default_rng([seed, 14]), patients)
        truth["missingness"]["missing_marker_preset"] = dict(MISSING_MARKER_PRESET)
    patients = patients[[c for c in columns("patients") if c in patients]]
    transfers = transfers[[c for c in columns("transfers") if c in transfers]]
    # Everything above comes from the main generator, unchanged; the safety data come after,
    # from their own stream.
    transfers, births, events = _simulate_safety(np.random.default_rng([seed, SAFETY_STREAM]), patients, transfers)
    truth["safety"] = _declare_safety_truth(
        slot,
        embryos,
        profile,
        patients["patient_id"].isin(transfers["patient_id"][transfers["transfer_number"] == 1]).to_numpy(),
    )
    return SyntheticCohort(patients, transfers, truth, births, events)


def _simulate_safety(
    rng: np.random.Generator, patients: pd.DataFrame, transfers: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pregnancy details on every transfer, one row per baby, and adverse events.

    Consistent with the outcome columns already drawn: a live birth is delivered (gestational
    age, babies), a clinical pregnancy without live birth is a miscarriage (or termination) or
    an ectopic pregnancy as ``miscarriage`` says, a positive hCG without a sac is a biochemical
    loss. Preterm birth follows :data:`PRETERM_LOG_ODDS`.
    """
    t = transfers.copy()
    m = len(t)
    hcg = t["positive_hcg"].astype(bool).to_numpy()
    cp = t["clinical_pregnancy"].astype(bool).to_numpy()
    known = t["live_birth"].notna().to_numpy()
    lb = known & (t["live_birth"] == 1).to_numpy()
    misc = known & (t["miscarriage"] == 1).to_numpy()
    sacs = t["gestational_sacs"].to_numpy(int)
    agents = t["treatment_agents"].fillna("").astype(str)
    prednisolone = agents.str.contains("prednisolone").to_numpy()

    u_loss = rng.random(m)
    miscarriage_type = np.where(
        u_loss < LOSS_SPLIT["termination"],
        "termination",
        np.where(
            u_loss < LOSS_SPLIT["termination"] + LOSS_SPLIT["miscarriage_second_trimester"],
            "miscarriage_second_trimester",
            "miscarriage_first_trimester",
        ),
    )
    loss = np.select(
        [~hcg | ~known, hcg & ~cp, lb, misc, cp],
        [None, "biochemical", "none", miscarriage_type, "ectopic"],
        default=None,
    ).astype(object)
    ectopic = loss == "ectopic"
    location = np.where(cp, np.where(ectopic, "ectopic", "intrauterine"), None).astype(object)
    babies = np.where(lb, 1 + rng.binomial(np.maximum(sacs - 1, 0), EXTRA_SAC_KEPT), 0)
    # Heartbeats: every sac of a live birth; a miscarried pregnancy had them half the time [A];
    # none in an ectopic or biochemical pregnancy; not applicable (empty) without a positive hCG.
    heart_seen = rng.random(m) < 0.5
    heartbeats = np.where(lb | (cp & ~known) | (misc & heart_seen), sacs, 0).astype(float)
    heartbeats = np.where(hcg, heartbeats, np.nan)
    multiple = babies >= 2
    b = PRETERM_LOG_ODDS
    p_preterm = 1 / (1 + np.exp(-(b["intercept"] + b["multiple"] * multiple + b["agent[prednisolone]"] * prednisolone)))
    preterm = lb & (rng.random(m) < p_preterm)
    very = preterm & (
        rng.random(m) < np.where(multiple, VERY_PRETERM_SHARE["multiple"], VERY_PRETERM_SHARE["singleton"])
    )
    ga_term = np.clip(np.round(rng.normal(276, 8, m)), 259, 300)
    ga = np.where(very, rng.integers(168, 224, m), np.where(preterm, rng.integers(224, 259, m), ga_term))
    ga = np.where(lb, ga, np.nan)
    p_cs = np.where(
        multiple, CAESAREAN["multiple"], np.where(preterm, CAESAREAN["singleton_preterm"], CAESAREAN["singleton_term"])
    )
    mode = np.where(lb, np.where(rng.random(m) < p_cs, "caesarean", "vaginal"), None).astype(object)
    t["pregnancy_location"] = location
    t["pregnancy_loss_type"] = loss
    t["fetal_heartbeats"] = heartbeats
    t["gestational_age_days"] = ga
    t["delivery_mode"] = mode

    # Babies: one row each.
    rows = np.repeat(np.arange(m), babies)
    n_b = len(rows)
    baby_number = np.concatenate([np.arange(1, k + 1) for k in babies[babies > 0]]) if n_b else np.array([], int)
    embryo_age = t["embryo_stage"].map(EMBRYO_AGE_DAYS).to_numpy(float)
    delivery = t["transfer_date"].to_numpy().astype("datetime64[D]")[rows] + (ga[rows] - 14 - embryo_age[rows]).astype(
        "int64"
    ).astype("timedelta64[D]")
    stage = np.where(very[rows], "very_preterm", np.where(preterm[rows], "preterm", "term"))
    log_w = (
        np.log(hadlock_mean_weight(ga[rows]))
        + np.where(multiple[rows], BIRTHWEIGHT_TWIN_SHIFT, 0.0)
        + rng.normal(0, BIRTHWEIGHT_LOG_SD, n_b)
    )
    births = pd.DataFrame(
        {
            "patient_id": t["patient_id"].to_numpy()[rows],
            "transfer_number": t["transfer_number"].to_numpy()[rows],
            "baby_number": baby_number,
            "birth_date": delivery,
            "birthweight_g": np.clip(np.round(np.exp(log_w)), 300, 6500),
            "sex": np.where(rng.random(n_b) < MALE_SHARE, "male", "female"),
            "neonatal_death": rng.random(n_b) < pd.Series(stage).map(NEONATAL_DEATH).to_numpy(),
            "major_congenital_anomaly": rng.random(n_b) < ANOMALY_RISK,
            "nicu_admission": rng.random(n_b) < pd.Series(stage).map(NICU).to_numpy(),
        }
    )

    # Adverse events: each agent of each treated transfer (a course) may cause one event.
    courses = pd.DataFrame({"row": np.arange(m), "agent": agents.str.split(";")}).explode("agent")
    courses = courses[courses["agent"].fillna("") != ""].reset_index(drop=True)
    risk = courses["agent"].map({a: v[0] for a, v in ADVERSE_EVENT_RISK.items()}).fillna(0.05).to_numpy()
    happened = rng.random(len(courses)) < risk
    u_kind = rng.random(len(courses))
    u_sev = rng.random(len(courses))
    u_serious = rng.random(len(courses))
    u_resolved = rng.random(len(courses))
    onset = rng.integers(0, 15, len(courses))
    ev = courses[happened].reset_index(drop=True)
    kinds = []
    for agent, u in zip(ev["agent"], u_kind[happened]):
        split = ADVERSE_EVENT_RISK.get(agent, (0.05, {"other": 1.0}))[1]
        kinds.append(list(split)[int(np.searchsorted(np.cumsum(list(split.values())), u, side="right"))])
    sev_levels = np.asarray(list(SEVERITY_SHARE), dtype=object)
    severity = sev_levels[np.searchsorted(np.cumsum(list(SEVERITY_SHARE.values())), u_sev[happened], side="right")]
    serious = (severity == "life_threatening") | ((severity == "severe") & (u_serious[happened] < SERIOUS_IF_SEVERE))
    src = t.iloc[ev["row"].to_numpy()]
    events = pd.DataFrame(
        {
            "patient_id": src["patient_id"].to_numpy(),
            "event_date": src["transfer_date"].to_numpy().astype("datetime64[D]")
            - onset[happened].astype("timedelta64[D]"),
            "agent": ev["agent"].to_numpy(),
            "event": kinds,
            "severity": severity,
            "serious": serious,
            "resolved": u_resolved[happened] < np.where(severity == "life_threatening", 0.90, 0.95),
        }
    )
    events = events.sort_values(["patient_id", "event_date"], kind="stable").reset_index(drop=True)
    return t, births, events


def _declare_safety_truth(slot: dict, embryos: np.ndarray, profile: np.ndarray, has_first: np.ndarray) -> dict:
    """The declared safety truth: the preterm model, the nulls, and the marginal first-transfer risks.

    ``preterm_first_marginal``: the sample average, over patients with a first transfer, of the
    counterfactual risk of a preterm live birth at the first transfer under no therapy and under
    personalized therapy (live birth by :data:`LIVE_BIRTH_LOG_ODDS`, a multiple birth with
    probability :math:`1 - (1 - 0.25 \\cdot 0.9)^{e - 1}` for :math:`e` embryos, preterm by
    :data:`PRETERM_LOG_ODDS`); the target of the IPTW risk difference ``preterm_first_iptw``.
    """
    b = LIVE_BIRTH_LOG_ODDS
    s0 = {key: np.asarray(val)[:, 0][has_first] for key, val in slot.items()}
    prof = profile[has_first]
    eta_none = _live_birth_eta(s0, np.full(prof.shape, "none", dtype=object))
    p_lb_none = _expit(eta_none)
    p_lb_pers = _expit(eta_none + np.where(prof == "balanced", 0.0, b["therapy_match[matched]"]))
    e = np.asarray(embryos)[:, 0][has_first]
    p_multiple = 1 - (1 - 0.25 * EXTRA_SAC_KEPT) ** (e - 1)
    c = PRETERM_LOG_ODDS
    pred_pers = np.isin(prof, ("over_activated", "mixed"))

    def preterm_given_lb(pred):
        single = _expit(c["intercept"] + c["agent[prednisolone]"] * pred)
        twin = _expit(c["intercept"] + c["multiple"] + c["agent[prednisolone]"] * pred)
        return p_multiple * twin + (1 - p_multiple) * single

    risk_none = p_lb_none * preterm_given_lb(np.zeros(prof.shape, bool))
    risk_pers = p_lb_pers * preterm_given_lb(pred_pers)

    def marginal(mask):
        return {
            "n": int(mask.sum()),
            "risk_none": float(risk_none[mask].mean()),
            "risk_personalized": float(risk_pers[mask].mean()),
            "rd_personalized_vs_none": float((risk_pers - risk_none)[mask].mean()),
        }

    dys = prof != "balanced"
    return {
        "description": "Pregnancy details, babies and adverse events, drawn from a separate random stream "
        f"(default_rng([seed, {SAFETY_STREAM}])) after every other column.",
        "preterm_model": {
            "description": "Preterm birth (< 259 days) among live births: logistic in a multiple birth and "
            "prednisolone among the agents of the transfer; no other agent, arm or profile effect.",
            "log_odds": PRETERM_LOG_ODDS,
            "agent_odds_ratios": PRETERM_AGENT_OR,
            "multiple_odds_ratio": float(np.exp(PRETERM_LOG_ODDS["multiple"])),
            "very_preterm_share_of_preterm": VERY_PRETERM_SHARE,
        },
        "declared_harm": {
            "outcome": "preterm_birth",
            "agent": "prednisolone",
            "odds_ratio": PRETERM_AGENT_OR["prednisolone"],
        },
        "declared_nulls": {
            "major_congenital_anomaly": f"risk {ANOMALY_RISK} per baby whatever the arm, agent or profile",
            "preterm_birth": "no effect of any agent but prednisolone (OR 1), given a multiple birth",
            "neonatal_death_and_nicu": "depend only on gestational age band",
        },
        "preterm_first_marginal": {
            "all": marginal(np.ones(prof.shape, bool)),
            "dysregulated": marginal(dys),
            "balanced": marginal(~dys),
        },
        "birthweight": {
            "reference": "Hadlock et al. Radiology 1991;181:129 (ln w = 0.578 + 0.332 t - 0.00354 t^2, SD 12.7%)",
            "log_sd": BIRTHWEIGHT_LOG_SD,
            "twin_shift_log": BIRTHWEIGHT_TWIN_SHIFT,
        },
        "anomaly_risk_per_baby": ANOMALY_RISK,
        "neonatal_death_risk": NEONATAL_DEATH,
        "nicu_risk": NICU,
        "adverse_event_risk_per_course": {a: v[0] for a, v in ADVERSE_EVENT_RISK.items()},
        "severity_share": SEVERITY_SHARE,
        "loss_split_of_miscarriages": LOSS_SPLIT,
    }


def _apply_missingness(rng, patients: pd.DataFrame, transfers: pd.DataFrame) -> None:
    """Blank cells completely at random at :data:`MISSING_SHARE` (in place, on the draft frames)."""
    masks = {}
    for col, share in MISSING_SHARE.items():
        frame = patients if col in patients.columns else transfers
        masks[col] = rng.random(len(frame)) < share
    # The contract needs one endometrial marker per patient: where every marker would be blanked,
    # IL-15/Fn-14 keeps its drawn value.
    all_gone = np.logical_and.reduce([masks[m] for m in ENDOMETRIAL_MARKERS])
    masks["il15_fn14_ratio"] &= ~all_gone
    for col, mask in masks.items():
        frame = patients if col in patients.columns else transfers
        frame[col] = frame[col].where(~mask)


def _apply_missing_marker_preset(rng, patients: pd.DataFrame) -> None:
    """Blank the lab profile and the cut-off rule's markers at :data:`MISSING_MARKER_PRESET` (in place)."""
    masks = {col: rng.random(len(patients)) < share for col, share in MISSING_MARKER_PRESET.items()}
    blank = {
        m: masks.get(m, np.zeros(len(patients), bool)) | patients[m].isna().to_numpy() for m in ENDOMETRIAL_MARKERS
    }
    all_gone = np.logical_and.reduce(list(blank.values()))
    for m in ENDOMETRIAL_MARKERS:  # the contract needs one endometrial marker: such rows keep theirs
        if m in masks:
            masks[m] &= ~all_gone
    for col, mask in masks.items():
        patients[col] = patients[col].where(~mask)


def _declare_truth(patients, transfers, slot, profile, arm_prob, seed, n_patients, *, personalized_effect=True) -> dict:
    b = LIVE_BIRTH_LOG_ODDS
    ors = {t: float(np.exp(v)) for t, v in b.items() if t != "intercept"}
    first = transfers[transfers["transfer_number"] == 1]
    # Expected share of each arm at the first transfer under the assignment model (the mean of
    # the patients' arm probabilities); the realised shares vary around it by sampling.
    has_first = patients["patient_id"].isin(first["patient_id"]).to_numpy()
    expected_share = dict(
        zip(("none", "empirical", "personalized"), np.round(arm_prob[has_first].mean(axis=0), 6).tolist())
    )

    # Counterfactual live-birth probabilities at every patient's first slot, for the marginal
    # (standardised) effects that weighting and doubly robust estimators target.
    s0 = {key: np.asarray(val)[:, 0][has_first] for key, val in slot.items()}
    prof = profile[has_first]
    eta_none = _live_birth_eta(s0, np.full(prof.shape, "none", dtype=object))
    p_none = _expit(eta_none)
    p_pers = _expit(
        eta_none + np.where((prof == "balanced") | (not personalized_effect), 0.0, b["therapy_match[matched]"])
    )
    p_match_emp = np.select(
        [prof == "over_activated", prof == "under_activated"],
        [
            EMPIRICAL_MAIN["prednisolone"] + EMPIRICAL_MAIN["intralipid"] + EMPIRICAL_MAIN["ivig"],
            EMPIRICAL_MAIN["hcg_intrauterine"],
        ],
        default=0.0,
    )
    p_emp = p_match_emp * _expit(eta_none + b["therapy_match[matched]"]) + (1 - p_match_emp) * _expit(
        eta_none + b["therapy_match[mismatched]"]
    )
    dys = prof != "balanced"

    def marginal(mask):
        return {
            "n": int(mask.sum()),
            "risk_none": float(p_none[mask].mean()),
            "risk_personalized": float(p_pers[mask].mean()),
            "risk_empirical": float(p_emp[mask].mean()),
            "rd_personalized_vs_none": float((p_pers - p_none)[mask].mean()),
            "rd_empirical_vs_none": float((p_emp - p_none)[mask].mean()),
        }

    truth = {
        "generator": "analysis.data.synthetic.simulate_cohort",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "n_patients": int(n_patients),
        "n_transfers": int(len(transfers)),
        "live_birth_model": {
            "description": "Per-transfer logistic model of live birth; coefficients on the log-odds "
            "scale, age centred at 36 y and BMI at 24 kg/m² for the intercept only. "
            "No patient frailty: GLM per transfer and GEE estimate the same coefficients. "
            "Estimable exactly by a model with the default adjustment set plus "
            "profile_group and therapy_match (model lb_first_match).",
            "log_odds": {t: float(v) for t, v in b.items()},
            "odds_ratios": ors,
            "centring": CENTRING,
        },
        "declared_effects": {
            "personalized_vs_none_OR": {"dysregulated": ors["therapy_match[matched]"], "balanced": 1.0},
            "empirical_vs_none_OR": {
                "balanced": ors["therapy_match[mismatched]"],
                "dysregulated": "mixture of matched and mismatched; no single OR",
            },
            "matched_vs_none_OR": ors["therapy_match[matched]"],
            "mismatched_vs_none_OR": ors["therapy_match[mismatched]"],
            "balanced_vs_dysregulated_untreated_OR": 1 / ors["profile_group[dysregulated]"],
            "age_OR_per_year": ors["age_at_biopsy_years"],
            "prior_failed_OR_per_transfer": ors["prior_failed_transfers"],
            "blood_markers": "no effect on live birth given profile and therapy",
            "implantation_and_clinical_pregnancy": "follow live birth (sacs >= 1 when live birth); "
            "no closed-form OR, same direction",
        },
        "marginal_first_transfer": {
            "description": "Sample average of counterfactual live-birth probabilities at each "
            "patient's first transfer under each arm (ATE targets).",
            "all": marginal(np.ones(prof.shape, bool)),
            "dysregulated": marginal(dys),
            "balanced": marginal(~dys),
        },
        "treatment_assignment": {
            "description": "Multinomial logit of the arm at the first transfer vs none: year = "
            "biopsy year - 2018, prior_failed = prior failed transfers - 2, age = age - 36; "
            f"later transfers keep the arm with probability {KEEP_ARM}.",
            "log_odds": ARM_LOG_ODDS,
            "first_transfer_arm_expected_share": expected_share,
        },
        "marker_roles": MARKER_ROLES,
        "confounding": {
            "personalized_vs_none": {
                "crude_bias": "downward",
                "why": "personalized therapy goes more often to women with more prior failed "
                "transfers and older women, both of whom have lower live birth; the crude OR "
                "is below the covariate-adjusted one.",
            },
            "confounders": ["prior_failed_transfers", "age_at_biopsy_years", "center_id"],
            "instruments": ["biopsy year (affects arm, not live birth)"],
        },
        "immune_profile": {
            "shares": dict(zip(PROFILE_NAMES, PROFILE_SHARE)),
            "shares_endometriosis": dict(zip(PROFILE_NAMES, PROFILE_SHARE_ENDOMETRIOSIS)),
            "lab_profile_missing_share": MISSING_SHARE["immune_profile"],
        },
        "dropout": {
            "continue_after_failure_by_transfer": list(CONTINUE_AFTER_FAILURE),
            "no_transfer_share": NO_TRANSFER_SHARE,
            "unknown_outcome_share": UNKNOWN_OUTCOME_SHARE,
        },
        "missingness": {"mechanism": "MCAR", "share": MISSING_SHARE},
    }
    if not personalized_effect:  # the default truth stays as it was (byte-identical truth.json)
        truth["personalized_effect"] = False
        truth["declared_effects"]["personalized_vs_none_OR"] = {"dysregulated": 1.0, "balanced": 1.0}
        truth["marker_roles"] = {
            **MARKER_ROLES,
            "effect_modifiers": [],
            "benefit": "personalized therapy changes live birth in no profile (no effect modification)",
        }
    return truth


def _format_for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[col] = s.dt.strftime("%Y-%m-%d")
        elif s.dtype == bool:
            out[col] = np.where(s, "true", "false")
        elif col in ("live_birth", "miscarriage"):
            out[col] = s.map({1.0: "true", 0.0: "false"})
        elif col in (
            "good_quality_embryos",
            "cd138_per_hpf",
            "fetal_heartbeats",
            "gestational_age_days",
            "birthweight_g",
        ):
            out[col] = s.astype("Int64")
    return out


def _rounded(value, digits: int = 12):
    """Return ``value`` with every float rounded to ``digits`` significant digits.

    Declared truths that are Monte-Carlo means differ in their last bit between processors (the
    order of a vectorised sum); twelve digits keep ``truth.json`` the same bytes everywhere.
    """
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v, digits) for v in value]
    return value


def write_cohort(cohort: SyntheticCohort, out_dir: str | Path) -> list[Path]:
    """Write ``patients.csv``, ``transfers.csv`` and ``truth.json`` into ``out_dir``, and
    ``births.csv`` and ``adverse_events.csv`` when the cohort has them.

    Files are written to temporary names first and renamed, so an interrupted write never
    leaves a half cohort.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = {
        "patients.csv": _format_for_csv(cohort.patients).to_csv(index=False, lineterminator="\n"),
        "transfers.csv": _format_for_csv(cohort.transfers).to_csv(index=False, lineterminator="\n"),
        "truth.json": json.dumps(_rounded(cohort.truth), indent=2, sort_keys=True) + "\n",
    }
    for name in ("births", "adverse_events"):
        frame = getattr(cohort, name)
        if frame is not None:
            targets[f"{name}.csv"] = _format_for_csv(frame).to_csv(index=False, lineterminator="\n")
    written = []
    for name, text in targets.items():
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        written.append((tmp, out_dir / name))
    for tmp, final in written:
        tmp.replace(final)
    return [final for _, final in written]


def read_truth(data_dir: str | Path) -> dict:
    """Read the ``truth.json`` of a synthetic cohort folder."""
    return json.loads((Path(data_dir) / "truth.json").read_text(encoding="utf-8"))


__all__ = ["simulate_cohort", "write_cohort", "read_truth", "SyntheticCohort"]
