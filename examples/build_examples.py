"""Build the worked example exports from the shipped synthetic cohort.

Each example folder holds an export the way a clinic would hand it over, written FROM
``data/synthetic`` (so mapping it back must give the shipped cohort's validated tables), and the
hand-written ``mapping.yaml`` that maps it onto the data contract:

- ``redcap/``: a REDCap project export, raw codes (``records.csv``) and labels
  (``records_labels.csv``), with its data dictionary; transfers as the repeating instrument
  ``embryo_transfer``, agents as the checkbox field ``agent``; AMH in pmol/L.
- ``spss/``: ``patients.sav`` and ``transfers.sav``, categories as numeric codes with value labels.
- ``stata/``: ``cohort_wide.dta``, one row per patient with the transfers side by side
  (``t1_date``, ``t2_date``, …), agents in two name columns per transfer.
- ``sas/``: ``patients.xpt`` and ``transfers.xpt`` (SAS XPORT version 5: names of eight
  characters at most). pyreadstat cannot write ``.sas7bdat``, so no SAS7BDAT example is shipped;
  :func:`analysis.data.sources.read_file_tables` reads one through pyreadstat all the same.
- ``excel/``: ``clinic_export.xlsx``, a sheet per table, English headers, outcome codes ``LB``,
  text dates ``dd/mm/yyyy`` for transfers.
- ``parquet/``: ``patients.parquet`` and ``transfers.parquet`` with typed columns.

Run from the repository root: ``python examples/build_examples.py`` (the first 60 patients, what
is committed) or ``--patients 0`` for the whole cohort (what the tests map).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data.contract import AGENTS
from analysis.data.loading import read_cohort_tables
from analysis.data.validation import validate_cohort

ROOT = Path(__file__).resolve().parents[1]
AMH_PMOL_PER_NG = 7.14  # 1 ng/mL AMH = 7.14 pmol/L (La Marca et al., Hum Reprod Update 2010;16:113-30)
MAX_SLOTS = 6

INDICATION = {
    1: ("rif", "RIF"),
    2: ("rpl", "RPL"),
    3: ("good_prognosis", "Good prognosis"),
    4: ("donor_oocyte", "Donor oocytes"),
}
DIAGNOSIS = {
    1: ("tubal", "Tubal"),
    2: ("male_factor", "Male factor"),
    3: ("endometriosis", "Endometriosis"),
    4: ("ovulatory", "Ovulatory"),
    5: ("unexplained", "Unexplained"),
    6: ("other", "Other"),
}
PROFILE = {
    1: ("balanced", "Balanced"),
    2: ("over_activated", "Over-activated"),
    3: ("under_activated", "Under-activated"),
    4: ("mixed", "Mixed"),
}
ARM = {0: ("none", "None"), 1: ("empirical", "Empirical"), 2: ("personalized", "Personalised")}
STAGE = {1: ("cleavage", "Cleavage"), 2: ("blastocyst", "Blasto")}
CYCLE = {1: ("fresh", "Fresh"), 2: ("frozen", "Frozen")}
OOCYTES = {1: ("autologous", "Own"), 2: ("donor", "Donor")}
AGENT_LABEL = {
    "prednisolone": "Prednisolone",
    "intralipid": "Intralipid",
    "hcg_intrauterine": "Intrauterine hCG",
    "g_csf": "G-CSF",
    "ivig": "IVIG",
    "tacrolimus": "Tacrolimus",
    "hydroxychloroquine": "Hydroxychloroquine",
    "lmwh": "LMWH",
    "other": "Other",
}


def shipped_tables(n_patients: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shipped cohort's validated (typed) tables, the first ``n_patients`` only when given."""
    raw = read_cohort_tables(ROOT / "data" / "synthetic")
    checked = validate_cohort(raw["patients"], raw["transfers"])
    patients, transfers = checked.patients, checked.transfers
    if n_patients:
        patients = patients.iloc[:n_patients]
        transfers = transfers[transfers["patient_id"].isin(patients["patient_id"])]
    return patients.reset_index(drop=True), transfers.reset_index(drop=True)


def _code(values: pd.Series, table: dict) -> pd.Series:
    reverse = {name: code for code, (name, _) in table.items()}
    return values.map(lambda v: reverse.get(v) if isinstance(v, str) else None).astype("float")


def _labels(table: dict) -> dict:
    return {float(code): label for code, (_, label) in table.items()}


def _yes_no(values: pd.Series) -> pd.Series:
    return values.map(lambda v: float(v) if v is not pd.NA else np.nan).astype(float)


def _amh_pmol(values: pd.Series) -> pd.Series:
    return (values * AMH_PMOL_PER_NG).round(2)


def _objects(values: pd.Series) -> list:
    return [None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v for v in values]


def _dates(values: pd.Series) -> list:
    return [None if pd.isna(v) else v.date() for v in values]


def _agent_sets(values: pd.Series) -> list[list[str]]:
    return [[a for a in str(v).split(";") if a] if isinstance(v, str) else [] for v in values]


# --- REDCap ----------------------------------------------------------------------------------


def _choices(table: dict) -> str:
    return " | ".join(f"{code}, {label}" for code, (_, label) in table.items())


def write_redcap(patients: pd.DataFrame, transfers: pd.DataFrame, folder: Path) -> None:
    """REDCap export: records (raw codes and labels) and the data dictionary."""
    sites = sorted(patients["center_id"].unique())
    site = {i + 1: (s, s) for i, s in enumerate(sites)}
    agent_choices = {i + 1: (a, AGENT_LABEL[a]) for i, a in enumerate(AGENTS)}
    lb = {1: (True, "LB"), 0: (False, "No LB")}
    yesno = {1: (True, "Yes"), 0: (False, "No")}
    baseline = [
        ("record_id", "text", "Record ID", ""),
        ("site", "dropdown", "Site", _choices(site)),
        ("age", "text", "Age at biopsy (years)", ""),
        ("bmi", "text", "BMI (kg/m2)", ""),
        ("amh_pmol", "text", "AMH (pmol/L)", ""),
        ("infert_yrs", "text", "Years of infertility", ""),
        ("prior_et_fail", "text", "Failed transfers before biopsy", ""),
        ("prior_misc", "text", "Miscarriages before biopsy", ""),
        ("indication", "radio", "Indication", _choices(INDICATION)),
        ("diagnosis", "dropdown", "Diagnosis", _choices(DIAGNOSIS)),
        ("biopsy_date", "text", "Biopsy date", ""),
        ("fu_end", "text", "Last contact", ""),
        ("il15_fn14", "text", "IL-15/Fn-14", ""),
        ("il18_tweak", "text", "IL-18/TWEAK", ""),
        ("unk_cd56", "text", "uNK CD56+ %", ""),
        ("cd138", "text", "CD138+ per HPF", ""),
        ("profile", "radio", "Immune profile", _choices(PROFILE)),
        ("pb_nk", "text", "Blood NK %", ""),
        ("pb_th1th2", "text", "Blood Th1/Th2", ""),
    ]
    transfer = [
        ("et_date", "text", "Transfer date", ""),
        ("arm", "radio", "Immunotherapy", _choices(ARM)),
        ("agent", "checkbox", "Agents given", _choices(agent_choices)),
        ("stage", "radio", "Embryo stage", _choices(STAGE)),
        ("n_embryos", "text", "Embryos transferred", ""),
        ("n_good", "text", "Good-quality embryos", ""),
        ("cycle", "radio", "Cycle", _choices(CYCLE)),
        ("oocytes", "radio", "Oocytes", _choices(OOCYTES)),
        ("pgta", "yesno", "PGT-A euploid", ""),
        ("endo_mm", "text", "Endometrial thickness (mm)", ""),
        ("hcg_pos", "yesno", "hCG positive", ""),
        ("sacs", "text", "Gestational sacs", ""),
        ("clin_preg", "yesno", "Clinical pregnancy", ""),
        ("misc", "yesno", "Miscarriage", ""),
        ("outcome", "radio", "Outcome", "1, LB | 0, No LB"),
    ]
    dictionary = pd.DataFrame(
        [(f, "baseline", "", t, lab, ch) for f, t, lab, ch in baseline]
        + [(f, "embryo_transfer", "", t, lab, ch) for f, t, lab, ch in transfer],
        columns=[
            "Variable / Field Name",
            "Form Name",
            "Section Header",
            "Field Type",
            "Field Label",
            "Choices, Calculations, OR Slider Labels",
        ],
    )
    folder.mkdir(parents=True, exist_ok=True)
    dictionary.to_csv(folder / "data_dictionary.csv", index=False, lineterminator="\n")

    order = {pid: i for i, pid in enumerate(patients["patient_id"])}
    for labels, name in ((False, "records.csv"), (True, "records_labels.csv")):

        def coded(values, table, labels=labels):
            by_name = {v[0]: (v[1] if labels else code) for code, v in table.items()}
            return values.map(lambda v, m=by_name: m.get(v) if v is not pd.NA and v is not None else None)

        base = pd.DataFrame(
            {
                "record_id": patients["patient_id"].astype(str),
                "redcap_repeat_instrument": None,
                "redcap_repeat_instance": pd.array([pd.NA] * len(patients), dtype="Int64"),
                "site": coded(patients["center_id"], site),
                "age": patients["age_at_biopsy_years"],
                "bmi": patients["bmi_kg_m2"],
                "amh_pmol": _amh_pmol(patients["amh_ng_ml"]),
                "infert_yrs": patients["infertility_years"],
                "prior_et_fail": patients["prior_failed_transfers"],
                "prior_misc": patients["prior_miscarriages"],
                "indication": coded(patients["indication"], INDICATION),
                "diagnosis": coded(patients["diagnosis"], DIAGNOSIS),
                "biopsy_date": patients["biopsy_date"].dt.strftime("%Y-%m-%d"),
                "fu_end": patients["follow_up_end_date"].dt.strftime("%Y-%m-%d"),
                "il15_fn14": patients["il15_fn14_ratio"],
                "il18_tweak": patients["il18_tweak_ratio"],
                "unk_cd56": patients["unk_cd56_percent"],
                "cd138": patients["cd138_per_hpf"],
                "profile": coded(patients["immune_profile"], PROFILE),
                "pb_nk": patients["blood_nk_percent"],
                "pb_th1th2": patients["blood_th1_th2_ratio"],
            }
        )
        given = _agent_sets(transfers["treatment_agents"])
        repeat = pd.DataFrame(
            {
                "record_id": transfers["patient_id"].astype(str),
                "redcap_repeat_instrument": "embryo_transfer",
                "redcap_repeat_instance": transfers["transfer_number"],
                "et_date": transfers["transfer_date"].dt.strftime("%Y-%m-%d"),
                "arm": coded(transfers["treatment_arm"], ARM),
            }
        )
        for code, (agent, _) in agent_choices.items():
            flags = pd.Series([agent in g for g in given], index=transfers.index)
            repeat[f"agent___{code}"] = (
                flags.map({True: "Checked", False: "Unchecked"}) if labels else flags.astype(int)
            )
        repeat = repeat.assign(
            stage=coded(transfers["embryo_stage"], STAGE),
            n_embryos=transfers["embryos_transferred"],
            n_good=transfers["good_quality_embryos"],
            cycle=coded(transfers["cycle_type"], CYCLE),
            oocytes=coded(transfers["oocyte_source"], OOCYTES),
            pgta=coded(transfers["pgt_a"], yesno),
            endo_mm=transfers["endometrial_thickness_mm"],
            hcg_pos=coded(transfers["positive_hcg"], yesno),
            sacs=transfers["gestational_sacs"],
            clin_preg=coded(transfers["clinical_pregnancy"], yesno),
            misc=coded(transfers["miscarriage"], yesno),
            outcome=coded(transfers["live_birth"], lb),
        )
        records = pd.concat([base, repeat], ignore_index=True)
        key = records["record_id"].map(order) * 100 + records["redcap_repeat_instance"].fillna(0).astype(int)
        records = records.iloc[key.argsort(kind="stable")]
        if not labels:  # raw codes are whole numbers (REDCap writes no "2.0")
            coded_columns = [f for f, kind, *_ in baseline + transfer if kind in ("radio", "dropdown", "yesno")]
            for column in coded_columns + [c for c in records.columns if c.startswith("agent___")]:
                records[column] = pd.to_numeric(records[column]).astype("Float64").astype("Int64")
        records.to_csv(folder / name, index=False, lineterminator="\n")


# --- SPSS ------------------------------------------------------------------------------------


def write_spss(patients: pd.DataFrame, transfers: pd.DataFrame, folder: Path) -> None:
    """patients.sav and transfers.sav: numeric codes with value labels, AMH in pmol/L."""
    import pyreadstat

    folder.mkdir(parents=True, exist_ok=True)
    p = pd.DataFrame(
        {
            "PatientID": patients["patient_id"].astype(str),
            "Centre": patients["center_id"].astype(str),
            "AgeYears": patients["age_at_biopsy_years"],
            "BMI": patients["bmi_kg_m2"],
            "AMH_pmolL": _amh_pmol(patients["amh_ng_ml"]),
            "InfertYears": patients["infertility_years"],
            "PriorFailedET": patients["prior_failed_transfers"].astype(float),
            "PriorMisc": patients["prior_miscarriages"].astype(float),
            "Indication": _code(patients["indication"], INDICATION),
            "Diagnosis": _code(patients["diagnosis"], DIAGNOSIS),
            "BiopsyDate": _dates(patients["biopsy_date"]),
            "LastContact": _dates(patients["follow_up_end_date"]),
            "IL15_Fn14": patients["il15_fn14_ratio"],
            "IL18_TWEAK": patients["il18_tweak_ratio"],
            "uNK_CD56": patients["unk_cd56_percent"],
            "CD138_HPF": patients["cd138_per_hpf"],
            "Profile": _code(patients["immune_profile"], PROFILE),
            "BloodNK": patients["blood_nk_percent"],
            "BloodTh1Th2": patients["blood_th1_th2_ratio"],
        }
    )
    pyreadstat.write_sav(
        p,
        folder / "patients.sav",
        variable_value_labels={
            "Indication": _labels(INDICATION),
            "Diagnosis": _labels(DIAGNOSIS),
            "Profile": _labels(PROFILE),
        },
        column_labels={"AMH_pmolL": "Anti-Mullerian hormone (pmol/L)"},
    )
    yes_no = {1.0: "Yes", 0.0: "No"}
    t = pd.DataFrame(
        {
            "PatientID": transfers["patient_id"].astype(str),
            "ETDate": _dates(transfers["transfer_date"]),
            "ETNumber": transfers["transfer_number"].astype(float),
            "Arm": _code(transfers["treatment_arm"], ARM),
            "Agents": transfers["treatment_agents"].fillna("").astype(str),
            "Stage": _code(transfers["embryo_stage"], STAGE),
            "NEmbryos": transfers["embryos_transferred"].astype(float),
            "NGood": transfers["good_quality_embryos"].astype(float),
            "Cycle": _code(transfers["cycle_type"], CYCLE),
            "Oocytes": _code(transfers["oocyte_source"], OOCYTES),
            "PGTA": _yes_no(transfers["pgt_a"]),
            "EndoMM": transfers["endometrial_thickness_mm"],
            "hCG": _yes_no(transfers["positive_hcg"]),
            "Sacs": transfers["gestational_sacs"].astype(float),
            "ClinPreg": _yes_no(transfers["clinical_pregnancy"]),
            "Misc": _yes_no(transfers["miscarriage"]),
            "LiveBirth": _yes_no(transfers["live_birth"]),
        }
    )
    labels = {"Arm": _labels(ARM), "Stage": _labels(STAGE), "Cycle": _labels(CYCLE), "Oocytes": _labels(OOCYTES)}
    labels.update({c: yes_no for c in ("PGTA", "hCG", "ClinPreg", "Misc", "LiveBirth")})
    pyreadstat.write_sav(t, folder / "transfers.sav", variable_value_labels=labels)


# --- Stata (wide) ----------------------------------------------------------------------------


def write_stata(patients: pd.DataFrame, transfers: pd.DataFrame, folder: Path) -> None:
    """cohort_wide.dta: one row per patient, transfers side by side as t1_*, t2_*, …"""
    import pyreadstat

    folder.mkdir(parents=True, exist_ok=True)
    wide = pd.DataFrame(
        {
            "pid": patients["patient_id"].astype(str),
            "site": patients["center_id"].astype(str),
            "age": patients["age_at_biopsy_years"],
            "bmi": patients["bmi_kg_m2"],
            "amh": patients["amh_ng_ml"],
            "infert_years": patients["infertility_years"],
            "prior_fail": patients["prior_failed_transfers"].astype(float),
            "prior_misc": patients["prior_miscarriages"].astype(float),
            "indication": patients["indication"].fillna("").astype(str),
            "diagnosis": patients["diagnosis"].fillna("").astype(str),
            "biopsy_date": _dates(patients["biopsy_date"]),
            "fu_end_date": _dates(patients["follow_up_end_date"]),
            "il15_fn14": patients["il15_fn14_ratio"],
            "il18_tweak": patients["il18_tweak_ratio"],
            "unk_cd56": patients["unk_cd56_percent"],
            "cd138": patients["cd138_per_hpf"],
            "profile": patients["immune_profile"].fillna("").astype(str),
            "blood_nk": patients["blood_nk_percent"],
            "blood_th1th2": patients["blood_th1_th2_ratio"],
        }
    )
    slots = transfers.set_index(["patient_id", "transfer_number"])
    labels = {}
    for n in range(1, MAX_SLOTS + 1):
        keys = list(zip(wide["pid"], [n] * len(wide)))
        t = slots.reindex(keys)
        agents = _agent_sets(t["treatment_agents"])
        wide[f"t{n}_date"] = [None if pd.isna(v) else v.date() for v in t["transfer_date"]]
        wide[f"t{n}_arm"] = _code(t["treatment_arm"].reset_index(drop=True), ARM).to_numpy()
        wide[f"t{n}_agent1"] = [AGENT_LABEL[a[0]] if len(a) > 0 else "" for a in agents]
        wide[f"t{n}_agent2"] = [AGENT_LABEL[a[1]] if len(a) > 1 else "" for a in agents]
        for field, column in (
            ("stage", "embryo_stage"),
            ("cycle", "cycle_type"),
            ("oocytes", "oocyte_source"),
        ):
            wide[f"t{n}_{field}"] = t[column].fillna("").astype(str).to_numpy()
        for field, column in (
            ("n_emb", "embryos_transferred"),
            ("n_good", "good_quality_embryos"),
            ("pgta", "pgt_a"),
            ("endo_mm", "endometrial_thickness_mm"),
            ("hcg", "positive_hcg"),
            ("sacs", "gestational_sacs"),
            ("cp", "clinical_pregnancy"),
            ("misc", "miscarriage"),
            ("lb", "live_birth"),
        ):
            wide[f"t{n}_{field}"] = pd.to_numeric(t[column].astype("Float64"), errors="coerce").astype(float).to_numpy()
        labels[f"t{n}_arm"] = _labels(ARM)
        labels.update({f"t{n}_{f}": {1.0: "yes", 0.0: "no"} for f in ("pgta", "hcg", "cp", "misc", "lb")})
    assert transfers["transfer_number"].max() <= MAX_SLOTS
    pyreadstat.write_dta(wide, folder / "cohort_wide.dta", variable_value_labels=labels)


# --- SAS XPORT -------------------------------------------------------------------------------


def write_sas(patients: pd.DataFrame, transfers: pd.DataFrame, folder: Path) -> None:
    """patients.xpt and transfers.xpt, XPORT version 5 (names of at most eight characters)."""
    import pyreadstat

    folder.mkdir(parents=True, exist_ok=True)

    def yn(values):
        return [None if v is pd.NA else ("Y" if v else "N") for v in values]

    p = pd.DataFrame(
        {
            "PATID": patients["patient_id"].astype(str),
            "SITEID": patients["center_id"].astype(str),
            "AGE": patients["age_at_biopsy_years"],
            "BMI": patients["bmi_kg_m2"],
            "AMHPMOL": _amh_pmol(patients["amh_ng_ml"]),
            "INFYRS": patients["infertility_years"],
            "PRIORFET": patients["prior_failed_transfers"].astype(float),
            "PRIORMIS": patients["prior_miscarriages"].astype(float),
            "INDIC": patients["indication"].fillna("").str.upper(),
            "DIAG": patients["diagnosis"].fillna("").str.upper(),
            "BIOPSYDT": _dates(patients["biopsy_date"]),
            "FUENDDT": _dates(patients["follow_up_end_date"]),
            "IL15FN14": patients["il15_fn14_ratio"],
            "IL18TWK": patients["il18_tweak_ratio"],
            "UNKCD56": patients["unk_cd56_percent"],
            "CD138": patients["cd138_per_hpf"],
            "PROFILE": patients["immune_profile"].fillna("").str.upper(),
            "PBNK": patients["blood_nk_percent"],
            "PBTH1TH2": patients["blood_th1_th2_ratio"],
        }
    )
    pyreadstat.write_xport(p, folder / "patients.xpt", table_name="PATIENTS", file_format_version=5)
    t = pd.DataFrame(
        {
            "PATID": transfers["patient_id"].astype(str),
            "ETDT": _dates(transfers["transfer_date"]),
            "ETNUM": transfers["transfer_number"].astype(float),
            "ARM": transfers["treatment_arm"].str.upper(),
            "AGENTS": transfers["treatment_agents"].fillna("").str.upper(),
            "STAGE": transfers["embryo_stage"].str.upper(),
            "NEMB": transfers["embryos_transferred"].astype(float),
            "NGOOD": pd.to_numeric(transfers["good_quality_embryos"].astype("Float64")).astype(float),
            "CYCLE": transfers["cycle_type"].str.upper(),
            "OOCYTE": transfers["oocyte_source"].str.upper(),
            "PGTA": yn(transfers["pgt_a"]),
            "ENDOMM": transfers["endometrial_thickness_mm"],
            "HCG": yn(transfers["positive_hcg"]),
            "SACS": pd.to_numeric(transfers["gestational_sacs"].astype("Float64")).astype(float),
            "CLINPREG": yn(transfers["clinical_pregnancy"]),
            "MISC": yn(transfers["miscarriage"]),
            "LB": yn(transfers["live_birth"]),
        }
    )
    for column in ("PGTA", "HCG", "CLINPREG", "MISC", "LB"):
        t[column] = t[column].fillna("")
    pyreadstat.write_xport(t, folder / "transfers.xpt", table_name="TRANSFER", file_format_version=5)


# --- Excel -----------------------------------------------------------------------------------


def write_excel(patients: pd.DataFrame, transfers: pd.DataFrame, folder: Path) -> None:
    """clinic_export.xlsx: sheets Patients and Transfers, English headers, LB codes, text dates."""
    folder.mkdir(parents=True, exist_ok=True)
    p = pd.DataFrame(
        {
            "Patient ID": patients["patient_id"].astype(str),
            "Clinic": patients["center_id"].astype(str),
            "Age": patients["age_at_biopsy_years"],
            "BMI": patients["bmi_kg_m2"],
            "AMH (ng/mL)": patients["amh_ng_ml"],
            "Infertility (years)": patients["infertility_years"],
            "Failed ET before biopsy": patients["prior_failed_transfers"].astype(float),
            "Miscarriages": patients["prior_miscarriages"].astype(float),
            "Indication": patients["indication"].map(
                {"rif": "RIF", "rpl": "RPL", "good_prognosis": "Good prognosis", "donor_oocyte": "Donor oocytes"}
            ),
            "Diagnosis": _objects(patients["diagnosis"]),
            "Biopsy date": [None if pd.isna(v) else v.to_pydatetime() for v in patients["biopsy_date"]],
            "Last contact": [None if pd.isna(v) else v.to_pydatetime() for v in patients["follow_up_end_date"]],
            "IL-15/Fn-14": patients["il15_fn14_ratio"],
            "IL-18/TWEAK": patients["il18_tweak_ratio"],
            "uNK CD56 %": patients["unk_cd56_percent"],
            "CD138/HPF": patients["cd138_per_hpf"],
            "Profile": _objects(patients["immune_profile"]),
            "Blood NK %": patients["blood_nk_percent"],
            "Th1/Th2": patients["blood_th1_th2_ratio"],
        }
    )
    agents = _agent_sets(transfers["treatment_agents"])

    def yes_no(values):
        return [None if v is pd.NA else ("yes" if v else "no") for v in values]

    t = pd.DataFrame(
        {
            "Patient ID": transfers["patient_id"].astype(str),
            "Transfer date": transfers["transfer_date"].dt.strftime("%d/%m/%Y"),
            "Transfer no.": transfers["transfer_number"].astype(float),
            "Immunotherapy": transfers["treatment_arm"].map(
                {"none": "None", "empirical": "Empirical", "personalized": "Personalised"}
            ),
            "Agent 1": [AGENT_LABEL[a[0]] if len(a) > 0 else None for a in agents],
            "Agent 2": [AGENT_LABEL[a[1]] if len(a) > 1 else None for a in agents],
            "Stage": transfers["embryo_stage"].map({"cleavage": "Cleavage", "blastocyst": "Blasto"}),
            "Embryos": transfers["embryos_transferred"].astype(float),
            "Good embryos": pd.to_numeric(transfers["good_quality_embryos"].astype("Float64")).astype(float),
            "Cycle": _objects(transfers["cycle_type"]),
            "Oocytes": _objects(transfers["oocyte_source"]),
            "PGT-A": yes_no(transfers["pgt_a"]),
            "Endometrium (mm)": transfers["endometrial_thickness_mm"],
            "hCG+": yes_no(transfers["positive_hcg"]),
            "Sacs": pd.to_numeric(transfers["gestational_sacs"].astype("Float64")).astype(float),
            "Clinical pregnancy": yes_no(transfers["clinical_pregnancy"]),
            "Miscarriage": yes_no(transfers["miscarriage"]),
            "Outcome": [None if v is pd.NA else ("LB" if v else "No LB") for v in transfers["live_birth"]],
        }
    )
    with pd.ExcelWriter(folder / "clinic_export.xlsx", engine="openpyxl") as writer:
        p.to_excel(writer, sheet_name="Patients", index=False)
        t.to_excel(writer, sheet_name="Transfers", index=False)


# --- Parquet ---------------------------------------------------------------------------------


def write_parquet(patients: pd.DataFrame, transfers: pd.DataFrame, folder: Path) -> None:
    """patients.parquet and transfers.parquet with typed columns (dates, nullable integers, booleans)."""
    folder.mkdir(parents=True, exist_ok=True)
    patients.rename(columns={"center_id": "site_id", "age_at_biopsy_years": "age_at_biopsy"}).to_parquet(
        folder / "patients.parquet", index=False
    )
    transfers.rename(columns={"live_birth": "livebirth"}).to_parquet(folder / "transfers.parquet", index=False)


WRITERS = {
    "redcap": write_redcap,
    "spss": write_spss,
    "stata": write_stata,
    "sas": write_sas,
    "excel": write_excel,
    "parquet": write_parquet,
}


def build_examples(out: Path, n_patients: int | None = 60, kinds=tuple(WRITERS)) -> Path:
    """Write the example exports (not the specs) into ``out/<kind>/``; returns ``out``."""
    patients, transfers = shipped_tables(n_patients)
    for kind in kinds:
        WRITERS[kind](patients, transfers, Path(out) / kind)
    return Path(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "examples"), help="folder to write into (default examples/)")
    parser.add_argument("--patients", type=int, default=60, help="first N patients of the shipped cohort (0: all)")
    args = parser.parse_args()
    build_examples(Path(args.out), args.patients or None)
    print(f"wrote {', '.join(WRITERS)} examples into {args.out} ({dt.date.today()})")


if __name__ == "__main__":
    main()
