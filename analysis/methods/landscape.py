"""The endometrial immune landscape and the endometrium-versus-blood question (``02_immune_landscape``)."""

from __future__ import annotations

import pandas as pd

from analysis.data.cohort import Cohort, analysis_population
from analysis.data.contract import BLOOD_MARKERS, DERIVED_PROFILES, ENDOMETRIAL_MARKERS, INDETERMINATE, PROFILES
from analysis.data.profiles import resolve_cutoffs
from analysis.methods import agreement


def included_patients(cohort: Cohort) -> pd.DataFrame:
    """Patients with at least one transfer and a profile."""
    return analysis_population(cohort, "patients")


def profiled_patients(cohort: Cohort) -> pd.DataFrame:
    """Patients with at least one transfer and a profile, ``indeterminate`` ones included (reported)."""
    profile = cohort.patients["immune_profile"].astype("string")
    return cohort.patients[(cohort.patients["n_transfers"] > 0) & profile.notna()].copy()


def _profile_levels(*columns: pd.Series) -> tuple[str, ...]:
    """The four profiles, and ``indeterminate`` when any of ``columns`` holds it."""
    present = any((c.astype("string") == INDETERMINATE).fillna(False).any() for c in columns)
    return DERIVED_PROFILES if present else PROFILES


def profile_prevalence(patients: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """Counts and percentages of each immune profile, overall or within each level of ``by``.

    ``indeterminate`` profiles (:func:`analysis.data.profiles.derive_immune_profile`) are a row
    of their own when ``patients`` holds any (pass :func:`profiled_patients` to report them).

    Returns
    -------
    DataFrame
        ``group`` ("overall" or the level of ``by``), immune_profile, n, total, percent.
    """
    grp = patients[by].astype(str) if by else pd.Series("overall", index=patients.index)
    counts = (
        patients.assign(group=grp).groupby(["group", "immune_profile"], observed=False).size().rename("n").reset_index()
    )
    counts["total"] = counts.groupby("group")["n"].transform("sum")
    counts["percent"] = 100 * counts["n"] / counts["total"]
    counts["immune_profile"] = pd.Categorical(
        counts["immune_profile"], categories=_profile_levels(patients["immune_profile"])
    )
    return counts.sort_values(["group", "immune_profile"]).reset_index(drop=True)


def marker_correlations(patients: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation matrix of the endometrial and blood markers (pairwise complete)."""
    cols = [c for c in (*ENDOMETRIAL_MARKERS, *BLOOD_MARKERS) if c in patients and patients[c].notna().sum() > 3]
    return patients[cols].astype(float).corr(method="spearman")


def blood_vs_endometrium(
    patients: pd.DataFrame, *, blood: str = "blood_nk_percent", conf_level: float = 0.95
) -> pd.DataFrame:
    """Spearman correlation with CI between a blood marker and each endometrial marker.

    Returns
    -------
    DataFrame
        blood_marker, endometrial_marker, n, rho, conf_low, conf_high, p_value, message
        (a marker with too few paired values gets a message instead of numbers).
    """
    rows = []
    for marker in ENDOMETRIAL_MARKERS:
        row = dict(blood_marker=blood, endometrial_marker=marker)
        if blood not in patients or marker not in patients:
            rows.append({**row, "message": "marker absent"})
            continue
        try:
            res = agreement.spearman_ci(
                patients[blood].astype(float), patients[marker].astype(float), conf_level=conf_level
            )
            rows.append({**row, **{k: res[k] for k in ("n", "rho", "conf_low", "conf_high", "p_value")}, "message": ""})
        except ValueError as exc:
            rows.append({**row, "message": str(exc)})
    cols = ["blood_marker", "endometrial_marker", "n", "rho", "conf_low", "conf_high", "p_value", "message"]
    return pd.DataFrame(rows).reindex(columns=cols)


def elevated_nk_agreement(patients: pd.DataFrame, *, blood_nk_cutoff: float, conf_level: float = 0.95) -> dict:
    """Agreement between "elevated blood NK" (> cut-off) and an over-activated endometrium.

    Returns
    -------
    dict
        ``kappa`` (dict from :func:`analysis.methods.agreement.cohens_kappa`) and ``table`` (the 2 × 2
        confusion table), on patients with both measured.
    """
    both = patients[patients["blood_nk_percent"].notna() & patients["immune_profile"].notna()]
    blood_high = (both["blood_nk_percent"] > blood_nk_cutoff).map({True: "elevated", False: "not elevated"})
    endo_over = (both["immune_profile"].astype(str) == "over_activated").map(
        {True: "over-activated", False: "not over-activated"}
    )
    blood_high = blood_high.rename("blood NK")
    endo_over = endo_over.rename("endometrium")
    return {
        "kappa": agreement.cohens_kappa(
            blood_high.map({"elevated": 1, "not elevated": 0}),
            endo_over.map({"over-activated": 1, "not over-activated": 0}),
            conf_level=conf_level,
        ),
        "table": pd.crosstab(blood_high, endo_over),
    }


def profile_concordance(patients: pd.DataFrame) -> pd.DataFrame:
    """Cross-table of the lab's profile against the profile derived by the cut-off rule.

    The derived profile has an ``indeterminate`` column when the rule leaves any undetermined.
    """
    both = patients[patients["immune_profile_lab"].notna() & patients["immune_profile_derived"].notna()]
    lab = pd.Categorical(both["immune_profile_lab"].astype(str), categories=PROFILES)
    derived = pd.Categorical(
        both["immune_profile_derived"].astype(str), categories=_profile_levels(both["immune_profile_derived"])
    )
    return pd.crosstab(pd.Series(lab, name="lab profile"), pd.Series(derived, name="derived profile"), dropna=False)


def marker_cutoff_lines(profile_cutoffs: dict | None = None) -> dict[str, dict]:
    """Cut-off lines of the profile rule for each endometrial marker (``{"low": …, "high": …}``).

    CD138+ cells get the chronic-endometritis threshold of 5 per HPF [S18].
    """

    c = resolve_cutoffs(profile_cutoffs)
    return {
        "il15_fn14_ratio": {"low": c["il15_fn14_low"], "high": c["il15_fn14_high"]},
        "il18_tweak_ratio": {"low": c["il18_tweak_low"], "high": c["il18_tweak_high"]},
        "unk_cd56_percent": {"low": c["unk_cd56_low"], "high": c["unk_cd56_high"]},
        "cd138_per_hpf": {"high": 5.0},
    }


def kappa_table(kappa: dict, *, blood_nk_cutoff: float) -> pd.DataFrame:
    """One-row tidy table of a kappa result with the rule it compares."""
    row = {"comparison": f"blood NK > {blood_nk_cutoff:g}% vs over-activated endometrium"}
    row.update(
        {
            k: kappa[k]
            for k in (
                "n",
                "kappa",
                "std_error",
                "conf_low",
                "conf_high",
                "p_value",
                "observed_agreement",
                "expected_agreement",
            )
        }
    )
    return pd.DataFrame([row])
