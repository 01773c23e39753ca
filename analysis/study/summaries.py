"""Cohort descriptions for ``01_cohort``: Table 1 by arm and by profile, missingness.

The variable lists live here, once; :mod:`analysis.methods.descriptive` does the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.data.cohort import Cohort, analysis_population
from analysis.methods import descriptive
from analysis.output.declarations import TABLE_ONE
from analysis.output.disclosure import SUPPRESSED, mask_declared, mask_display_counts

TABLE1_CONTINUOUS = [
    "age_at_biopsy_years",
    "bmi_kg_m2",
    "amh_ng_ml",
    "infertility_years",
    "prior_failed_transfers",
    "prior_miscarriages",
    "il15_fn14_ratio",
    "il18_tweak_ratio",
    "unk_cd56_percent",
    "cd138_per_hpf",
    "blood_nk_percent",
    "blood_th1_th2_ratio",
    "embryos_transferred",
    "good_quality_embryos",
    "endometrial_thickness_mm",
]
TABLE1_CATEGORICAL = [
    "center_id",
    "indication",
    "diagnosis",
    "immune_profile",
    "embryo_stage",
    "cycle_type",
    "oocyte_source",
    "pgt_a",
]


def first_transfers_described(cohort: Cohort) -> pd.DataFrame:
    """First transfers of included patients (outcome known or not): the rows Table 1 describes."""
    out = analysis_population(cohort, "first", outcome=None)
    for c in TABLE1_CONTINUOUS:
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    return out


@dataclass(frozen=True)
class TableOne:
    """Table 1 in its three forms.

    Attributes
    ----------
    long : DataFrame
        Tidy rows, :data:`analysis.methods.descriptive.TABLE_ONE_COLUMNS`.
    smd : DataFrame
        Standardized mean differences.
    wide : DataFrame
        The display table, with SMD and missing counts.
    """

    long: pd.DataFrame
    smd: pd.DataFrame
    wide: pd.DataFrame


def table_one_by(cohort: Cohort, by: str, *, min_cell_count: int) -> TableOne:
    """Table 1 of the first-transfer population grouped by ``by`` (``treatment_arm`` or ``immune_profile``).

    The display table masks small counts of categorical levels and of missing values by the
    disclosure threshold ``min_cell_count`` (:mod:`analysis.output.disclosure`; 0 masks nothing);
    ``long`` and ``smd`` are masked when saved.

    Parameters
    ----------
    cohort : Cohort
    by : str
        Grouping column.
    min_cell_count : int
        Disclosure threshold of the display table.

    Returns
    -------
    TableOne
    """
    data = first_transfers_described(cohort)
    cont = [c for c in TABLE1_CONTINUOUS if c in data and data[c].notna().any()]
    cat = [c for c in TABLE1_CATEGORICAL if c in data and c != by and data[c].notna().any()]
    long = descriptive.table_one(data, groupby=by, continuous=cont, categorical=cat)
    smd = descriptive.standardized_mean_differences(data, groupby=by, continuous=cont, categorical=cat)
    if min_cell_count <= 1:
        return TableOne(long=long, smd=smd, wide=descriptive.table_one_wide(long, smd=smd))
    # the display shows the cells of the long table masked by its declaration (secondary
    # suppression included), so Table 1 gives back no count the saved long table hides
    masked, _ = mask_declared(long, TABLE_ONE, min_cell_count, name="table1")
    wide = descriptive.table_one_wide(long.assign(display=masked["display"]), smd=smd)
    hidden = masked["n_missing"].map(lambda v: isinstance(v, str))
    hidden_vars = set(long.loc[hidden & (long["group"] == descriptive.OVERALL), "variable"])
    variables = long[["variable", "level"]].drop_duplicates()["variable"].to_numpy()
    shown_missing = wide["missing"].astype(str) != ""
    wide["missing"] = wide["missing"].where(
        ~(pd.Series(variables).isin(hidden_vars).to_numpy() & shown_missing), SUPPRESSED
    )
    groups = [c for c in wide.columns if c not in ("variable", "level", "SMD", "missing")]
    wide = mask_display_counts(wide, groups, rows=wide["level"].astype(str) != "", min_cell_count=min_cell_count)
    wide = mask_display_counts(wide, ["missing"], min_cell_count=min_cell_count)
    return TableOne(long=long, smd=smd, wide=wide)


def missingness(cohort: Cohort, *, by: str | None = None) -> pd.DataFrame:
    """Missing values per variable in the first-transfer population, overall or by ``by`` (e.g. the arm).

    With ``by``, one row per variable and group, then the ``overall`` row of the variable
    (:func:`analysis.methods.descriptive.missingness_table`).
    """
    data = first_transfers_described(cohort)
    cols = [c for c in TABLE1_CONTINUOUS + TABLE1_CATEGORICAL + ["live_birth", "clinical_pregnancy"] if c in data]
    return descriptive.missingness_table(data, columns=cols, by=by)
