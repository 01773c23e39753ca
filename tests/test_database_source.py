"""Cohorts read from a database: written with the contract's SQL types, read back through
SQLAlchemy (SQLite in a file, and a real PostgreSQL server), they validate to exactly the shipped
cohort's tables. The whole-suite run from PostgreSQL is in tests/test_runner.py, beside the CSV
run it is compared with."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy
from conftest import SHIPPED

from analysis.core.exceptions import DataReadError
from analysis.data.loading import read_cohort_tables
from analysis.data.sources import create_table_sql, read_database_tables, write_database_tables
from analysis.data.validation import validate_cohort
from analysis.run.cli import main
from analysis.run.config import cohort_folder


def _validated(folder):
    raw = read_cohort_tables(folder)
    return validate_cohort(raw["patients"], raw["transfers"])


@pytest.fixture(scope="module")
def shipped():
    return _validated(SHIPPED)


def _assert_same(got, want):
    assert len(got.errors) == 0
    for table in ("patients", "transfers"):
        pd.testing.assert_frame_equal(getattr(got, table), getattr(want, table))


def test_contract_types_become_sql_types():
    sql = create_table_sql(
        "transfers", ["patient_id", "transfer_date", "transfer_number", "live_birth", "endometrial_thickness_mm"]
    )
    assert "transfer_date DATE" in sql and "transfer_number INTEGER" in sql and "live_birth BOOLEAN" in sql
    assert "endometrial_thickness_mm DOUBLE PRECISION" in sql and "patient_id TEXT" in sql


def test_sqlite_cohort_validates_to_the_shipped_tables(shipped, tmp_path):
    """Catches a reader that lets the database's types leak (1.0 for a count, a datetime with a
    time, 0/1 for a boolean, NULL read as 'None')."""
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    write_database_tables(url, shipped.patients, shipped.transfers)
    _assert_same(_validated(cohort_folder(url)), shipped)


def test_postgresql_cohort_validates_to_the_shipped_tables_from_tables_and_queries(shipped, postgres_url, tmp_path):
    write_database_tables(postgres_url, shipped.patients, shipped.transfers)
    _assert_same(_validated(cohort_folder(postgres_url)), shipped)
    config = tmp_path / "study.yaml"
    config.write_text(
        "data_source:\n  patients: SELECT * FROM patients ORDER BY patient_id\n"
        "  transfers: SELECT * FROM transfers ORDER BY patient_id, transfer_number\n"
    )
    _assert_same(_validated(cohort_folder(postgres_url, config)), shipped)
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as con:
        kinds = dict(
            con.execute(
                sqlalchemy.text(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'transfers'"
                )
            ).all()
        )
    engine.dispose()
    assert (
        kinds["transfer_date"] == "date" and kinds["live_birth"] == "boolean" and kinds["transfer_number"] == "integer"
    )


def test_missing_table_and_unreachable_database_are_clear_messages(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    sqlalchemy.create_engine(url).connect().close()
    with pytest.raises(DataReadError, match="cannot read table 'patients'"):
        read_database_tables(url)
    assert main(["validate", "--data", "postgresql+psycopg://nobody@/nowhere?host=/nonexistent&port=1"]) == 2
    assert "cannot" in capsys.readouterr().err
