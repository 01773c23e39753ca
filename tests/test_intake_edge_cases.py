"""Exports that break the analyses in ways the column rules alone do not see, stopped before any notebook.

Each case writes a small cohort folder the way a clinic's export arrives, runs the suite with
``papermill.execute_notebook`` replaced by a function that fails the test, and checks the one
error that lists every problem: it names the table, the column, the rule, the count and example
ids. Before these checks, an empty transfers table, a cohort with one arm, all outcomes unknown
or a BOM in front of ``patient_id`` passed validation or failed with a misleading message (a
BOM made ``patient_id`` look missing; a repeated column was silently renamed ``x.1``), and the run
failed inside a notebook.
"""

from __future__ import annotations

import codecs

import matplotlib.pyplot as plt
import pandas as pd
import papermill
import pytest

from analysis.core.exceptions import CohortValidationError
from analysis.data.cohort import load_cohort
from analysis.data.synthetic import simulate_cohort, write_cohort
from analysis.output import session
from analysis.run.runner import run_suite
from analysis.study import s01_cohort as s01
from analysis.study import s04_time_to_live_birth as s04
from analysis.study.context import RunContext


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge_base")
    write_cohort(simulate_cohort(80, seed=11), folder)
    return {t: pd.read_csv(folder / f"{t}.csv", dtype=str, keep_default_na=False) for t in ("patients", "transfers")}


@pytest.fixture()
def no_kernel(monkeypatch):
    """Fail the test if a notebook is executed (the checks must stop the run before)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a notebook kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


def _write(folder, tables, **raw_bytes):
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if name in raw_bytes:
            (folder / f"{name}.csv").write_bytes(raw_bytes[name])
        else:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def _stopped(folder, tmp_path) -> str:
    """Run the suite on ``folder``; return the error that stopped it before any notebook."""
    out = tmp_path / "run"
    with pytest.raises(CohortValidationError) as info:
        run_suite(folder, out, quiet=True)
    assert not out.exists() and not out.with_name("run.partial").exists()
    return str(info.value)


def _line(message: str, table: str, column: str, rule: str) -> str:
    lines = [x for x in message.splitlines() if f"{table}.{column} ({rule})" in x]
    assert len(lines) == 1, message
    return lines[0]


def test_empty_table_is_an_error(base, tmp_path, no_kernel):
    """A transfers table with a header and no rows (it used to pass and fail in notebook 01)."""
    tables = {**base, "transfers": base["transfers"].iloc[:0]}
    message = _stopped(_write(tmp_path / "d", tables), tmp_path)
    line = _line(message, "transfers", "(all)", "empty_table")
    assert "header and no rows" in line


def test_one_arm_only_is_an_error(base, tmp_path, no_kernel):
    """Every transfer in arm none, agents empty: valid rows, nothing to compare."""
    t = base["transfers"].assign(treatment_arm="none", treatment_agents="")
    message = _stopped(_write(tmp_path / "d", {**base, "transfers": t}), tmp_path)
    line = _line(message, "transfers", "treatment_arm", "single_arm")
    first = f"{t['patient_id'].iloc[0]}#{t['transfer_number'].iloc[0]}"
    assert "'none'" in line and f"{len(t)} row(s)" in line and first in line


def test_all_outcomes_unknown_is_an_error(base, tmp_path, no_kernel):
    """live_birth empty in every transfer: the outcome of the plan cannot be analysed."""
    t = base["transfers"].assign(live_birth="", miscarriage="")
    message = _stopped(_write(tmp_path / "d", {**base, "transfers": t}), tmp_path)
    line = _line(message, "transfers", "live_birth", "all_outcomes_unknown")
    assert f"{len(t)} row(s)" in line and t["patient_id"].iloc[0] in line


def test_two_date_formats_in_one_column_are_named(base, tmp_path, no_kernel):
    """Some transfer dates written DD/MM/YYYY among YYYY-MM-DD ones (two clinics' exports pasted together)."""
    t = base["transfers"].copy()
    rows = t.index[:3]
    t.loc[rows, "transfer_date"] = pd.to_datetime(t.loc[rows, "transfer_date"]).dt.strftime("%d/%m/%Y")
    message = _stopped(_write(tmp_path / "d", {**base, "transfers": t}), tmp_path)
    line = _line(message, "transfers", "transfer_date", "mixed_date_formats")
    assert (
        "3 row(s)" in line and "3 as DD/MM/YYYY or MM/DD/YYYY" in line and f"{len(t) - 3} cell(s) as YYYY-MM-DD" in line
    )
    assert f"{t['patient_id'].iloc[0]}#{t['transfer_number'].iloc[0]}" in line
    assert "type_date" not in message  # the same cells are not reported twice


def test_excel_serial_dates_are_named(base, tmp_path, no_kernel):
    """Biopsy dates exported from Excel as day numbers (44562 for 2022-01-01)."""
    p = base["patients"].copy()
    serial = (pd.to_datetime(p["biopsy_date"]) - pd.Timestamp("1899-12-30")).dt.days.astype(str)
    p.loc[p.index[:4], "biopsy_date"] = serial[:4]
    message = _stopped(_write(tmp_path / "d", {**base, "patients": p}), tmp_path)
    line = _line(message, "patients", "biopsy_date", "excel_serial_date")
    day = pd.Timestamp("1899-12-30") + pd.Timedelta(days=int(serial.iloc[0]))
    assert "4 row(s)" in line and f"{serial.iloc[0]} = {day.date()}" in line and p["patient_id"].iloc[0] in line


def test_duplicated_column_names_are_an_error(base, tmp_path, no_kernel):
    """A column exported twice (pandas would silently rename the second ``bmi_kg_m2.1``)."""
    text = base["patients"].to_csv(index=False)
    header, rest = text.split("\n", 1)
    lines = [f"{header},bmi_kg_m2"] + [f"{line},25" for line in rest.splitlines()]
    message = _stopped(
        _write(tmp_path / "d", base, patients=("\n".join(lines) + "\n").encode()),
        tmp_path,
    )
    line = _line(message, "patients", "bmi_kg_m2", "duplicated_column")
    n = len(header.split(","))
    assert f"appears 2 times in patients.csv (positions 4, {n + 1})" in line
    assert "bmi_kg_m2.1" not in message


def test_utf8_bom_is_read_and_reported(base, tmp_path):
    """Excel's 'CSV UTF-8' puts a byte-order mark before ``patient_id``; it used to read as a missing column."""
    data = codecs.BOM_UTF8 + base["patients"].to_csv(index=False).encode()
    cohort = load_cohort(_write(tmp_path / "d", base, patients=data))
    assert "patient_id" in cohort.patients.columns
    row = cohort.problems.query("rule == 'utf8_bom'").iloc[0]
    assert (row["table"], row["column"], row["severity"]) == ("patients", "(file)", "warning")
    assert "patients.csv starts with a UTF-8 byte-order mark" in row["message"]


def test_latin1_text_is_read_and_its_cells_named(base, tmp_path):
    """A centre name with an accent saved as Latin-1: read, and the cells whose text depends on it named."""
    p = base["patients"].copy()
    p.loc[p.index[:2], "center_id"] = "Clínica Norte"
    data = p.to_csv(index=False).encode("latin-1")
    cohort = load_cohort(_write(tmp_path / "d", base, patients=data))
    assert (cohort.patients["center_id"] == "Clínica Norte").sum() == 2
    row = cohort.problems.query("rule == 'latin1_text'").iloc[0]
    assert (row["table"], row["column"], row["n_rows"]) == ("patients", "center_id", 2)
    assert row["example_ids"] == ", ".join(p["patient_id"].iloc[:2]) and "read as Latin-1" in row["message"]


def test_centre_with_one_patient_is_a_warning(base, tmp_path):
    """One patient moved to a centre of her own: the run goes on, the warning names her."""
    p = base["patients"].copy()
    p.loc[p.index[0], "center_id"] = "C_SOLO"
    cohort = load_cohort(_write(tmp_path / "d", {**base, "patients": p}))
    row = cohort.problems.query("rule == 'single_patient_centre'").iloc[0]
    assert (row["table"], row["column"], row["n_rows"]) == ("patients", "center_id", 1)
    assert row["example_ids"] == p["patient_id"].iloc[0] and "['C_SOLO']" in row["message"]


def test_profile_group_without_patients_is_a_warning(base, tmp_path):
    """Every lab profile over-activated: no balanced patient, so the comparisons by group have one side.

    Would catch Table 1 by profile and the log-rank test by profile group stopping notebooks 01 and
    04 (``an SMD needs two`` groups; ``profile_group has a single group``).
    """
    p = base["patients"].assign(immune_profile="over_activated")
    cohort = load_cohort(_write(tmp_path / "d", {**base, "patients": p}))
    row = cohort.problems.query("rule == 'empty_profile_group'").iloc[0]
    assert (row["table"], row["column"], row["severity"]) == ("patients", "immune_profile", "warning")
    assert "profile group 'balanced'" in row["message"]
    # the sections that compare profiles or profile groups say they were skipped, and the others run
    ctx = RunContext("edge", cohort, session.run_paths(tmp_path / "run", min_cell_count=0), figure_formats=("png",))
    assert str(s01.table_one_by_profile(ctx).wide).startswith("**Not estimable:** Table 1 by immune profile skipped")
    s04.cumulative_live_birth(ctx, s04.follow_up(ctx, dropout_days=365).ttlb)
    plt.close("all")
    skipped = pd.read_csv(tmp_path / "run" / "tables" / "skipped_sections.csv")
    assert list(skipped["section"]) == ["Table 1 by immune profile", "Log-rank test by profile_group"]


def test_every_problem_is_listed_at_once(base, tmp_path, no_kernel):
    """An empty patients-side problem and a transfers-side one together: one error lists both."""
    t = base["transfers"].assign(treatment_arm="none", treatment_agents="", live_birth="", miscarriage="")
    p = base["patients"].copy()
    p.loc[p.index[:2], "biopsy_date"] = "44562"
    message = _stopped(_write(tmp_path / "d", {"patients": p, "transfers": t}), tmp_path)
    for rule in ("single_arm", "all_outcomes_unknown", "excel_serial_date"):
        assert f"({rule})" in message
