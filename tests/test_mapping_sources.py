"""Clinic exports of every kind mapped onto the contract: each worked example (written from the
shipped cohort by examples/build_examples.py) must map back to the shipped cohort's validated
tables exactly, and the mapping report must account for every value it could not map."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml
from conftest import REPO, SHIPPED

from analysis.core.exceptions import ConfigError
from analysis.data.loading import read_cohort_tables
from analysis.data.mapping import map_export, map_export_files, read_mapping_spec, spec_problems
from analysis.data.sources import read_export, read_file_tables
from analysis.data.validation import validate_cohort
from analysis.run.cli import main
from examples.build_examples import build_examples

EXAMPLES = REPO / "examples"
INPUTS = {
    "redcap": "redcap",
    "spss": "spss",
    "stata": "stata/cohort_wide.dta",
    "sas": "sas",
    "excel": "excel/clinic_export.xlsx",
    "parquet": "parquet",
}


def _validated(folder):
    raw = read_cohort_tables(folder)
    return validate_cohort(raw["patients"], raw["transfers"])


#: The optional pregnancy columns of the safety extension (issue 17): the example exports were
#: written before them, as a clinic export without safety data, so the mapped cohort is compared
#: with the shipped cohort without them (and without its optional births/adverse_events tables).
SAFETY_COLUMNS = [
    "pregnancy_location",
    "pregnancy_loss_type",
    "fetal_heartbeats",
    "gestational_age_days",
    "delivery_mode",
]


@pytest.fixture(scope="module")
def shipped():
    raw = read_cohort_tables(SHIPPED)
    return validate_cohort(raw["patients"], raw["transfers"].drop(columns=SAFETY_COLUMNS))


@pytest.fixture(scope="module")
def full_exports(tmp_path_factory):
    """Every example export of the whole shipped cohort (1500 patients), built once."""
    return build_examples(tmp_path_factory.mktemp("exports"), None)


def _assert_same_tables(got, want):
    assert len(got.errors) == 0
    for table in ("patients", "transfers"):
        pd.testing.assert_frame_equal(getattr(got, table), getattr(want, table))


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_each_export_kind_maps_back_to_the_shipped_cohort(kind, full_exports, shipped, tmp_path):
    """REDCap (raw codes, repeating instrument, checkbox agents), SPSS value labels, a wide Stata
    file, SAS XPORT, an Excel workbook with text dates and LB codes, typed Parquet: the mapped,
    validated tables equal the shipped ones value for value and row for row. Catches a lost
    value label, a unit not converted back, a date parsed day/month swapped, an agent dropped,
    a transfer slot lost, a float changed by a round trip or "None" read as missing."""
    mapped = map_export_files(EXAMPLES / kind / "mapping.yaml", full_exports / INPUTS[kind], tmp_path / "cohort")
    assert mapped.report["unmatched"] == []
    _assert_same_tables(_validated(tmp_path / "cohort"), shipped)


def test_redcap_label_export_maps_with_the_same_spec(full_exports, shipped, tmp_path):
    """A REDCap export as labels (Checked/Unchecked, "Personalised", "Yes") maps with the spec
    written for raw codes: the reader translates codes to labels through the data dictionary."""
    spec = read_mapping_spec(EXAMPLES / "redcap" / "mapping.yaml")
    spec["source"]["records"] = "records_labels.csv"
    mapped = map_export(read_export(full_exports / "redcap", spec["source"]), spec)
    assert mapped.report["unmatched"] == []
    from analysis.data.sources import write_contract_tables

    write_contract_tables(mapped.tables, tmp_path / "cohort")
    _assert_same_tables(_validated(tmp_path / "cohort"), shipped)


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_committed_examples_map_to_the_first_60_shipped_patients(kind, tmp_path, shipped):
    """The shipped example files are what the builder writes (60 patients) and map cleanly."""
    map_export_files(EXAMPLES / kind / "mapping.yaml", EXAMPLES / INPUTS[kind], tmp_path / "cohort")
    got = _validated(tmp_path / "cohort")
    ids = got.patients["patient_id"]
    assert list(ids) == list(shipped.patients["patient_id"].iloc[:60])
    want_t = shipped.transfers[shipped.transfers["patient_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.patients, shipped.patients.iloc[:60].reset_index(drop=True))
    pd.testing.assert_frame_equal(got.transfers, want_t)


def test_unmatched_values_are_reported_with_counts_and_ids_and_no_row_is_dropped(tmp_path):
    """Values no recode knows ("Blastocyst", "LB?") and an AMH that is not a number are kept
    as they are (so validation names them), counted, and listed with example ids; the row
    count is unchanged. Catches a mapper that drops or blanks what it cannot map."""
    export = read_file_tables(EXAMPLES / "excel" / "clinic_export.xlsx")
    transfers = export["Transfers"].copy()
    transfers.loc[[0, 3], "Stage"] = "Blastocyst"
    transfers.loc[5, "Outcome"] = "LB?"
    export["Transfers"] = transfers
    spec = read_mapping_spec(EXAMPLES / "excel" / "mapping.yaml")
    spec["tables"]["patients"]["columns"]["amh_ng_ml"] = {"from": "AMH (ng/mL)", "divide": 7.14, "round": 2}
    patients = export["Patients"].copy()
    patients["AMH (ng/mL)"] = patients["AMH (ng/mL)"].astype(object)
    patients.loc[2, "AMH (ng/mL)"] = "<0.1"
    export["Patients"] = patients
    mapped = map_export(export, spec)
    rows = {(u["column"], u["value"]): u for u in mapped.report["unmatched"]}
    stage = rows[("embryo_stage", "Blastocyst")]
    assert stage["count"] == 2 and stage["example_ids"] == [
        transfers.loc[0, "Patient ID"],
        transfers.loc[3, "Patient ID"],
    ]
    assert rows[("live_birth", "LB?")]["count"] == 1
    assert rows[("amh_ng_ml", "<0.1")]["problem"] == "not a number"
    assert len(mapped.tables["transfers"]) == len(transfers) == mapped.report["tables"]["transfers"]["rows_out"]
    assert mapped.tables["transfers"].loc[0, "embryo_stage"] == "Blastocyst"  # kept for validation to name


def test_amh_conversion_and_date_formats_by_hand():
    """6.71 pmol/L / 7.14 = 0.9398 -> 0.94 ng/mL; 13/04/2012 day first; Excel serial 45000 is
    2023-03-15 and 61 is 1900-03-01 (day 0 = 1899-12-30, right from serial 61 on: Excel counts a 29 February 1900); a checkbox of two agents gives them in alphabetical order."""
    export = {
        "p": pd.DataFrame({"id": ["A", "B"], "amh": [6.71, None], "d": ["13/04/2012", "01/02/2013"], "x": [45000, 61]}),
        "t": pd.DataFrame({"id": ["A", "B"], "pred": ["yes", ""], "lmwh": ["Checked", "no"]}),
    }
    spec = {
        "tables": {
            "patients": {
                "from": "p",
                "columns": {
                    "patient_id": "id",
                    "amh_ng_ml": {"from": "amh", "divide": 7.14, "round": 2},
                    "biopsy_date": {"from": "d", "date_format": "%d/%m/%Y"},
                    "follow_up_end_date": {"from": "x", "date_format": "excel"},
                },
            },
            "transfers": {
                "from": "t",
                "columns": {
                    "patient_id": "id",
                    "treatment_agents": {"agents": {"columns": {"pred": "prednisolone", "lmwh": "lmwh"}}},
                },
            },
        }
    }
    mapped = map_export(export, spec)
    p = mapped.tables["patients"]
    assert list(p["amh_ng_ml"]) == ["0.94", None]
    assert list(p["biopsy_date"]) == ["2012-04-13", "2013-02-01"]
    assert list(p["follow_up_end_date"]) == ["2023-03-15", "1900-03-01"]
    assert list(mapped.tables["transfers"]["treatment_agents"]) == ["lmwh;prednisolone", None]


def test_wide_layout_counts_empty_slots_and_keeps_partly_filled_ones():
    export = {
        "w": pd.DataFrame(
            {
                "pid": ["A", "B"],
                "t1_date": ["2020-01-01", "2020-02-01"],
                "t2_date": ["2020-06-01", None],
                "t2_lb": [None, "1"],
            }
        )
    }
    spec = {
        "tables": {
            "transfers": {
                "from": "w",
                "wide": {"pattern": r"^t(?P<slot>\d+)_(?P<field>.+)$"},
                "columns": {
                    "patient_id": "pid",
                    "transfer_number": "slot",
                    "transfer_date": "date",
                    "live_birth": "lb",
                },
            }
        }
    }
    mapped = map_export(export, spec)
    t = mapped.tables["transfers"]
    assert list(zip(t["patient_id"], t["transfer_number"], t["transfer_date"])) == [
        ("A", "1", "2020-01-01"),
        ("A", "2", "2020-06-01"),
        ("B", "1", "2020-02-01"),
        ("B", "2", None),  # a live birth without a date is a transfer validation must name, not a dropped row
    ]
    assert mapped.report["tables"]["transfers"]["wide_empty_slots"] == 0


def test_bad_spec_lists_every_problem(tmp_path):
    spec = {
        "tables": {
            "patients": {"from": "p", "columns": {"age": "AGE", "bmi_kg_m2": {"from": "BMI", "scale": 2}}},
            "transfers": {
                "wide": {"pattern": "t_(.+)"},
                "columns": {"treatment_agents": {"agents": {"columns": {"x": "aspirin"}}}},
            },
            "visits": {},
        },
        "colour": 1,
    }
    problems = "\n".join(spec_problems(spec))
    for piece in [
        "unknown top-level key 'colour'",
        "tables.visits: not a contract table",
        "columns.age: not a column of the contract's patients table",
        "unknown key 'scale'",
        "tables.transfers: 'from'",
        "groups 'slot' and 'field'",
        "['aspirin'] not in the agent vocabulary",
    ]:
        assert piece in problems
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="7 problem"):
        read_mapping_spec(path)


def test_spec_naming_a_missing_export_column_lists_the_columns_it_has():
    export = {"p": pd.DataFrame({"id": ["A"], "age": [30]})}
    with pytest.raises(ConfigError) as err:
        map_export(export, {"tables": {"patients": {"from": "p", "columns": {"patient_id": "ID"}}}})
    assert "no column(s) ['ID']" in str(err.value) and "id, age" in str(err.value)


def test_duckdb_reads_a_csv_as_pandas_does():
    """The DuckDB path for large files gives the same text cells as pandas (catches a
    type-inferring reader turning '22.0' into 22 or '' into a string)."""
    duck = read_file_tables(SHIPPED / "transfers.csv", engine="duckdb")["transfers"]
    plain = read_file_tables(SHIPPED / "transfers.csv", engine="pandas")["transfers"]
    assert duck.where(duck.notna(), None).values.tolist() == plain.where(plain.notna(), None).values.tolist()


def test_map_command_writes_tables_and_report(tmp_path, capsys):
    out = tmp_path / "cohort"
    assert (
        main(
            ["map", "--spec", str(EXAMPLES / "sas" / "mapping.yaml"), "--in", str(EXAMPLES / "sas"), "--out", str(out)]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "transfers: " in text and "0 value(s) matched no rule" in text
    assert {p.name for p in out.iterdir()} == {
        "patients.csv",
        "transfers.csv",
        "mapping_report.md",
        "mapping_report.json",
    }
    assert "`AMHPMOL` → `amh_ng_ml`" in (out / "mapping_report.md").read_text()
    shutil.rmtree(out)


def test_parquet_export_read_through_duckdb_maps_like_pandas(tmp_path):
    """The DuckDB path (the default above 256 MB) gives the same mapped cohort as pandas on the
    Parquet example: its types (timestamps, nullable integers and booleans) reach the contract
    text the same way."""
    spec = read_mapping_spec(EXAMPLES / "parquet" / "mapping.yaml")
    via_duckdb = map_export(read_export(EXAMPLES / "parquet", {"engine": "duckdb"}), spec)
    via_pandas = map_export(read_export(EXAMPLES / "parquet", {"engine": "pandas"}), spec)
    for table in ("patients", "transfers"):
        pd.testing.assert_frame_equal(via_duckdb.tables[table], via_pandas.tables[table])
