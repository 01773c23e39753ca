"""From validated tables to analysis populations, with every exclusion logged.

:func:`load_cohort` reads, validates and derives in one call. Derivation adds the analysis
columns (the profile used and where it came from, the profile group, matched or mismatched
therapy, the patient covariates on every transfer) and never drops a row silently: each
exclusion is a row of the flow log (:attr:`Cohort.flow`) with its reason and counts, the data of
the STROBE flow diagram.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data.contract import ARMS, DERIVED_PROFILES, INDETERMINATE, PROFILE_GROUPS, PROFILES
from analysis.data.loading import read_cohort_tables
from analysis.data.profiles import check_missing_marker_rule, derive_immune_profile, profile_group
from analysis.data.therapy import therapy_match
from analysis.data.validation import PROBLEM_COLUMNS, ValidatedCohort, after_first_live_birth, validate_cohort

FLOW_COLUMNS = ["step", "stage", "kind", "reason", "n_patients", "n_transfers"]

PATIENT_COLUMNS_ON_TRANSFERS = (
    "center_id",
    "age_at_biopsy_years",
    "bmi_kg_m2",
    "amh_ng_ml",
    "infertility_years",
    "prior_failed_transfers",
    "prior_miscarriages",
    "indication",
    "diagnosis",
    "biopsy_date",
    "follow_up_end_date",
    "follow_up_end_reason",
    "il15_fn14_ratio",
    "il18_tweak_ratio",
    "unk_cd56_percent",
    "cd138_per_hpf",
    "blood_nk_percent",
    "blood_th1_th2_ratio",
    "immune_profile",
    "immune_profile_lab",
    "immune_profile_derived",
    "profile_source",
    "profile_group",
    "biopsy_year",
)


@dataclass
class Cohort:
    """A derived cohort.

    Attributes
    ----------
    patients : DataFrame
        Every patient row with the analysis columns ``immune_profile`` (lab's, else derived),
        ``immune_profile_lab``, ``immune_profile_derived``, ``profile_source``, ``profile_group``,
        ``biopsy_year``, ``n_transfers`` and ``included`` (has a transfer and a determinate
        profile: an ``indeterminate`` one is reported, never analysed).
    transfers : DataFrame
        Every transfer with the patient's covariates, ``therapy_match`` and
        ``after_first_live_birth`` (the transfer follows the woman's first live birth: a sibling
        attempt, kept here and reported, left out of the per-woman and all-transfer analyses).
    flow : DataFrame
        The exclusion log with :data:`FLOW_COLUMNS`.
    problems : DataFrame
        Validation findings (warnings only; errors stop :func:`load_cohort`).
    outcome : str
        The outcome the flow was built for.
    births, adverse_events : DataFrame or None
        The optional tables as validated (one row per live-born baby; one row per adverse
        event), None when the cohort has none. No exclusion applies to them here: the safety
        analyses join them to the analysed transfers and patients.
    """

    patients: pd.DataFrame
    transfers: pd.DataFrame
    flow: pd.DataFrame
    problems: pd.DataFrame
    outcome: str = "live_birth"
    births: pd.DataFrame | None = None
    adverse_events: pd.DataFrame | None = None

    def population(self, name: str = "first", outcome: str | None = None) -> pd.DataFrame:
        """Return an analysis population (see :func:`analysis_population`)."""
        return analysis_population(self, name, outcome or self.outcome)


def _categorical(values: pd.Series, levels) -> pd.Series:
    return pd.Categorical(values.astype("string").to_numpy(dtype=object, na_value=np.nan), categories=list(levels))


def derive_cohort(
    checked: ValidatedCohort,
    *,
    profile_cutoffs: dict | None = None,
    outcome: str = "live_birth",
    missing_marker_rule: str = "indeterminate",
) -> Cohort:
    """Add the analysis columns and build the exclusion log.

    Parameters
    ----------
    checked : ValidatedCohort
        Output of :func:`analysis.data.validation.validate_cohort` without errors.
    profile_cutoffs : dict, optional
        Overrides of :data:`analysis.data.profiles.DEFAULT_CUTOFFS`.
    outcome : str
        Outcome whose unknown values are counted in the flow (``live_birth`` by default).
    missing_marker_rule : {"indeterminate", "normal"}
        How a missing marker counts when the profile is derived
        (:func:`analysis.data.profiles.derive_immune_profile`). Women whose lab profile is absent
        and whose derived profile is ``indeterminate`` keep that level in ``immune_profile``,
        are left out of every analysis population (all of them are adjusted for or stratified by
        the profile) and are counted in the flow log with the reason.
    """
    check_missing_marker_rule(missing_marker_rule)
    checked.raise_for_errors()
    patients = checked.patients.copy()
    transfers = checked.transfers.copy()

    derived = derive_immune_profile(patients, profile_cutoffs, missing_marker_rule=missing_marker_rule)
    lab = (
        patients["immune_profile"].astype("string")
        if "immune_profile" in patients
        else pd.Series(pd.NA, index=patients.index, dtype="string")
    )
    patients["immune_profile_lab"] = lab
    patients["immune_profile_derived"] = derived
    used = lab.fillna(derived)
    patients["profile_source"] = pd.Series(
        np.where(lab.notna(), "lab", np.where(derived.notna(), "derived", "")), index=patients.index, dtype="string"
    ).replace("", pd.NA)
    indeterminate = (used == INDETERMINATE).fillna(False).to_numpy(bool)
    # the fifth level is a category only when it occurs, so cohorts without it keep their dtypes
    patients["immune_profile"] = _categorical(used, DERIVED_PROFILES if indeterminate.any() else PROFILES)
    patients["profile_group"] = _categorical(profile_group(used), ("balanced", "dysregulated"))
    patients["biopsy_year"] = patients["biopsy_date"].dt.year.astype("Int64")
    counts = transfers.groupby("patient_id").size()
    patients["n_transfers"] = patients["patient_id"].map(counts).fillna(0).astype(int)
    patients["included"] = (patients["n_transfers"] > 0) & patients["immune_profile"].notna() & ~indeterminate

    keep = [c for c in PATIENT_COLUMNS_ON_TRANSFERS if c in patients.columns]
    transfers = transfers.merge(
        patients[["patient_id", *keep]], on="patient_id", how="left", validate="many_to_one", suffixes=("", "_patient")
    )
    transfers["treatment_arm"] = _categorical(transfers["treatment_arm"], ARMS)
    determinate = transfers["immune_profile"].astype("string").replace(INDETERMINATE, pd.NA)
    transfers["therapy_match"] = _categorical(
        therapy_match(transfers["treatment_agents"], determinate), ("none", "matched", "mismatched")
    )
    transfers = transfers.sort_values(["patient_id", "transfer_number"], kind="stable").reset_index(drop=True)
    transfers["after_first_live_birth"] = after_first_live_birth(transfers)
    flow = _flow(patients, transfers, outcome)
    problems = checked.warnings.reset_index(drop=True)
    empty_groups = _empty_profile_groups(patients)
    if len(empty_groups):  # concatenated only when there is one, so the usual table keeps its dtypes
        problems = pd.concat([problems, empty_groups], ignore_index=True)
    return Cohort(
        patients,
        transfers,
        flow,
        problems,
        outcome,
        births=None if checked.births is None else checked.births.copy(),
        adverse_events=None if checked.adverse_events is None else checked.adverse_events.copy(),
    )


def _empty_profile_groups(patients: pd.DataFrame) -> pd.DataFrame:
    """Warnings for profile groups without any included patient (the profile is known only once derived)."""
    present = set(patients.loc[patients["included"], "profile_group"].dropna().astype(str))
    rows = [
        dict(
            table="patients",
            column="immune_profile",
            rule="empty_profile_group",
            severity="warning",
            n_rows=0,
            example_ids="",
            message=f"no included patient has profile group '{group}' (profiles "
            f"{[p for p in PROFILES if (p == 'balanced') == (group == 'balanced')]}): the analyses by profile group "
            "have nothing to compare and say so",
        )
        for group in PROFILE_GROUPS
        if group not in present
    ]
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


def _flow(patients: pd.DataFrame, transfers: pd.DataFrame, outcome: str) -> pd.DataFrame:
    rows = []

    def add(stage, kind, reason, n_pat, n_tr):
        rows.append(
            dict(
                step=len(rows) + 1, stage=stage, kind=kind, reason=reason, n_patients=int(n_pat), n_transfers=int(n_tr)
            )
        )

    add("cohort", "included", "patients and transfers in the data", len(patients), len(transfers))
    no_tr = patients["n_transfers"] == 0
    add("cohort", "excluded", "no embryo transfer after the biopsy", no_tr.sum(), 0)
    no_prof = ~no_tr & patients["immune_profile"].isna()
    n_tr_no_prof = transfers["patient_id"].isin(patients.loc[no_prof, "patient_id"]).sum()
    add(
        "cohort",
        "excluded",
        "immune profile neither reported nor derivable from the markers",
        no_prof.sum(),
        n_tr_no_prof,
    )
    undetermined = ~no_tr & (patients["immune_profile"].astype("string") == INDETERMINATE).fillna(False)
    if undetermined.any():  # a row only when there are any, so cohorts without them keep their log
        add(
            "cohort",
            "excluded",
            "immune profile indeterminate: no lab profile and markers missing that could change the derived "
            "profile (reported, left out of every profile-specific analysis)",
            undetermined.sum(),
            transfers["patient_id"].isin(patients.loc[undetermined, "patient_id"]).sum(),
        )
    inc = patients["included"]
    in_tr = transfers["patient_id"].isin(patients.loc[inc, "patient_id"])
    add(
        "analysed",
        "included",
        "patients with at least one transfer and a profile (time-to-event population)",
        inc.sum(),
        in_tr.sum(),
    )
    first = in_tr & (transfers["transfer_number"] == 1)
    add("first_transfer", "included", "first transfers after the biopsy", first.sum(), first.sum())
    unknown_first = first & transfers[outcome].isna()
    add(
        "first_transfer",
        "excluded",
        f"{outcome} unknown at the first transfer",
        unknown_first.sum(),
        unknown_first.sum(),
    )
    add(
        "first_transfer",
        "analysed",
        f"first-transfer population for {outcome}",
        (first & ~unknown_first).sum(),
        (first & ~unknown_first).sum(),
    )
    after = in_tr & transfers["after_first_live_birth"]
    if after.any():  # a row only when there are any, so cohorts without siblings keep their log
        add(
            "all_transfers",
            "excluded",
            "transfers after the woman's first live birth (sibling attempts; reported, not analysed)",
            transfers.loc[after, "patient_id"].nunique(),
            after.sum(),
        )
    course = in_tr & ~after
    unknown_all = course & transfers[outcome].isna()
    add(
        "all_transfers",
        "excluded",
        f"transfers with {outcome} unknown",
        transfers.loc[unknown_all, "patient_id"].nunique(),
        unknown_all.sum(),
    )
    kept = course & ~unknown_all
    add(
        "all_transfers",
        "analysed",
        f"all-transfers population for {outcome}",
        transfers.loc[kept, "patient_id"].nunique(),
        kept.sum(),
    )
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)


def after_first_live_birth_flags(transfers: pd.DataFrame) -> pd.Series:
    """Return ``transfers["after_first_live_birth"]``, derived when absent (a cohort built by hand).

    Returns
    -------
    Series
        Boolean, indexed like ``transfers``: the transfer follows the woman's first live birth.
    """
    if "after_first_live_birth" in transfers:
        return transfers["after_first_live_birth"].astype(bool)
    return after_first_live_birth(transfers)


def rows_at(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """Return the rows of ``frame`` at ``positions``, in that order, as one copy indexed 0 to n-1.

    A cohort's rows carry every column, so at registry size each copy of a frame costs about
    half a second: a boolean mask, ``copy()`` and ``reset_index`` copy it three times where one
    ``take`` and a new index do it once.
    """
    out = frame.take(positions)
    out.index = pd.RangeIndex(len(out))
    return out


def _analysed_levels(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the ``indeterminate`` category where no analysed row holds it (tables keep four profiles)."""
    col = frame.get("immune_profile")
    if col is not None and isinstance(col.dtype, pd.CategoricalDtype) and INDETERMINATE in col.cat.categories:
        if not (col == INDETERMINATE).any():
            # set_categories keeps the order (remove_categories sorts them in pandas 2.3)
            frame["immune_profile"] = col.cat.set_categories([c for c in col.cat.categories if c != INDETERMINATE])
    return frame


def analysis_population(cohort: Cohort, name: str = "first", outcome: str | None = "live_birth") -> pd.DataFrame:
    """Return the rows of an analysis population.

    Parameters
    ----------
    cohort : Cohort
    name : {"first", "all", "patients", "first_with_indeterminate"}
        ``first``: each included patient's first transfer with a known outcome;
        ``all``: every transfer of included patients with a known outcome up to and including
        the woman's first live birth (later transfers, sibling attempts, are flagged
        ``after_first_live_birth`` and left out; cluster by ``patient_id``); ``patients``: included patients (time-to-event population);
        ``first_with_indeterminate``: ``first`` plus the first transfers of women whose profile is
        ``indeterminate`` (their ``immune_profile``/``profile_group`` as derived: indeterminate
        and missing), for multiple imputation of the markers that re-derives their profile.
    outcome : str or None
        Outcome column whose unknown values are left out (they are counted in
        :attr:`Cohort.flow`); None keeps every transfer (e.g. for describing the cohort).

    Returns
    -------
    DataFrame
        A copy; the outcome (for transfer populations) as integer 0/1 in ``<outcome>``.
    """
    if name == "patients":
        return _analysed_levels(cohort.patients[cohort.patients["included"]].copy())
    if name not in ("first", "all", "first_with_indeterminate"):
        raise ValueError(f"population must be 'first', 'all', 'patients' or 'first_with_indeterminate', not {name!r}")
    kept = cohort.patients["included"]
    if name == "first_with_indeterminate":
        profile = cohort.patients["immune_profile"].astype("string")
        kept = kept | ((cohort.patients["n_transfers"] > 0) & (profile == INDETERMINATE).fillna(False))
    included = cohort.patients.loc[kept, "patient_id"]
    t = cohort.transfers
    mask = t["patient_id"].isin(included)
    if outcome is not None:
        mask &= t[outcome].notna()
    if name in ("first", "first_with_indeterminate"):
        mask &= t["transfer_number"] == 1
    else:
        mask &= ~after_first_live_birth_flags(t)
    out = rows_at(t, np.flatnonzero(mask.to_numpy()))
    if outcome is not None and str(out[outcome].dtype) == "boolean":
        out[outcome] = out[outcome].astype(int)
    return _analysed_levels(out)


def load_cohort(
    data_dir: str | Path,
    *,
    profile_cutoffs: dict | None = None,
    outcome: str = "live_birth",
    missing_marker_rule: str = "indeterminate",
) -> Cohort:
    """Read, validate and derive a cohort folder.

    Raises
    ------
    analysis.core.exceptions.DataReadError
        A table is missing or unreadable.
    analysis.core.exceptions.CohortValidationError
        The data break the contract (every error listed).

    Examples
    --------
    >>> cohort = load_cohort("data/synthetic")
    >>> cohort.flow[["stage", "kind", "n_patients"]].head(2).to_dict("list")["kind"]
    ['included', 'excluded']
    """
    raw = read_cohort_tables(data_dir)
    checked = validate_cohort(
        raw["patients"], raw["transfers"], raw.get("births"), raw.get("adverse_events"), outcome=outcome
    )
    return derive_cohort(
        checked, profile_cutoffs=profile_cutoffs, outcome=outcome, missing_marker_rule=missing_marker_rule
    )
