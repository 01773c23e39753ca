"""Reading the cohort tables from CSV, Parquet or Excel.

A cohort folder holds ``patients`` and ``transfers``, each as ``.csv``, ``.parquet`` or
``.xlsx`` (``patients.csv``, ``transfers.parquet``, …), or one workbook ``cohort.xlsx`` with the
sheets ``patients`` and ``transfers``; the optional tables ``births`` and ``adverse_events``
(:data:`analysis.data.contract.OPTIONAL_TABLES`) are read the same way when present. Tables are read as text where the format allows, so that
:mod:`analysis.data.validation` sees every cell as written and can name the ones it cannot parse.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from pathlib import Path

import pandas as pd

from analysis.core.exceptions import DataReadError
from analysis.data.contract import OPTIONAL_TABLES, REQUIRED_TABLES

SUFFIXES = (".csv", ".parquet", ".xlsx")
WORKBOOK = "cohort.xlsx"


def find_table_files(data_dir: str | Path) -> dict[str, tuple[Path, str | None]]:
    """Return where each table lives: ``{table: (path, sheet or None)}``.

    Raises
    ------
    DataReadError
        The folder is missing, a table is missing, or a table exists in two formats.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataReadError(f"data folder not found: {data_dir}")
    found: dict[str, tuple[Path, str | None]] = {}
    problems = []
    workbook = data_dir / WORKBOOK
    sheets = _sheet_names(workbook) if workbook.is_file() else set()
    for table in (*REQUIRED_TABLES, *OPTIONAL_TABLES):
        candidates = [data_dir / f"{table}{suffix}" for suffix in SUFFIXES]
        present = [p for p in candidates if p.is_file()]
        if len(present) > 1:
            names = ", ".join(p.name for p in present)
            problems.append(f"table '{table}' exists in more than one file ({names}); keep one")
        elif present:
            found[table] = (present[0], None)
        elif workbook.is_file() and (table in REQUIRED_TABLES or table in sheets):
            found[table] = (workbook, table)
        elif table in OPTIONAL_TABLES:
            continue
        else:
            problems.append(
                f"table '{table}' not found: expected {table}.csv, {table}.parquet, {table}.xlsx "
                f"or a sheet '{table}' in {WORKBOOK}"
            )
    if problems:
        raise DataReadError(f"cannot read the cohort in {data_dir}:\n  - " + "\n  - ".join(problems))
    return found


#: Key of ``DataFrame.attrs`` under which :func:`read_table` leaves what it noticed while reading
#: (encoding, repeated column names); :func:`analysis.data.validation.validate_cohort` reports it.
READ_NOTES = "read_notes"


def _decode_csv(path: Path) -> tuple[str, list[dict]]:
    """Return a CSV file's text and notes on its encoding: UTF-8 (with or without BOM), else Latin-1."""
    data = path.read_bytes()
    notes = []
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        notes.append(
            dict(
                rule="utf8_bom",
                severity="warning",
                column="(file)",
                message=f"{path.name} starts with a UTF-8 byte-order mark (Excel's 'CSV UTF-8'); it was read "
                "without it",
            )
        )
    try:
        return data.decode("utf-8"), notes
    except UnicodeDecodeError as exc:
        text = data.decode("latin-1")
        notes.append(
            dict(
                rule="latin1_text",
                severity="warning",
                column="(file)",
                message=f"{path.name} is not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); it was read as "
                "Latin-1 (ISO-8859-1): check its accented text, or save the file as UTF-8",
                non_ascii=True,
            )
        )
        return text, notes


def _repeated_columns(header: list[str], name: str) -> list[dict]:
    """Notes for column names that occur more than once in a header (pandas would rename them ``x.1``)."""
    names = [str(c).strip() for c in header]
    notes = []
    for column in dict.fromkeys(names):
        positions = [i + 1 for i, c in enumerate(names) if c == column]
        if len(positions) > 1:
            notes.append(
                dict(
                    rule="duplicated_column",
                    severity="error",
                    column=column,
                    message=f"column '{column}' appears {len(positions)} times in {name} (positions "
                    f"{', '.join(map(str, positions))}); keep one",
                    n_rows=len(positions),
                )
            )
    return notes


def _sheet_names(workbook: Path) -> set[str]:
    """Sheet names of a workbook (empty when it cannot be opened; reading it then says why)."""
    try:
        import openpyxl  # only needed for workbooks

        book = openpyxl.load_workbook(workbook, read_only=True)
        try:
            return set(book.sheetnames)
        finally:
            book.close()
    except Exception:  # an unreadable workbook is reported when its sheets are read
        return set()


def read_table(path: str | Path, sheet: str | None = None) -> pd.DataFrame:
    """Read one table; CSV and Excel cells come back as text (empty cells as missing).

    A CSV file is read as UTF-8 (a byte-order mark is dropped) or, when it is not valid UTF-8, as
    Latin-1. A column name that occurs twice is kept once. What was noticed is left in
    ``frame.attrs["read_notes"]`` for validation to report with the other problems.

    Raises
    ------
    DataReadError
        The file cannot be read (corrupt, wrong format, missing sheet), with the reason.
    """
    path = Path(path)
    try:
        if path.suffix == ".csv":
            text, notes = _decode_csv(path)
            header = next(csv.reader(io.StringIO(text)), [])
            notes += _repeated_columns(header, path.name)
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            notes = []
        elif path.suffix == ".xlsx":
            frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=str, engine="openpyxl")
            header = pd.read_excel(path, sheet_name=sheet or 0, header=None, nrows=1, engine="openpyxl")
            notes = _repeated_columns(header.iloc[0].tolist() if len(header) else [], path.name)
        else:
            raise DataReadError(f"unsupported file type {path.suffix!r} for {path}; use {', '.join(SUFFIXES)}")
    except DataReadError:
        raise
    except Exception as exc:  # any reader failure becomes one clear message
        where = f"{path}" + (f" (sheet '{sheet}')" if sheet else "")
        raise DataReadError(f"cannot read {where}: {type(exc).__name__}: {exc}") from exc
    if any(n["rule"] == "duplicated_column" for n in notes):
        frame = frame.iloc[:, [i for i, c in enumerate(frame.columns) if not _is_renamed_repeat(str(c), frame.columns)]]
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs[READ_NOTES] = notes
    return frame


def _is_renamed_repeat(column: str, columns) -> bool:
    """True for pandas' name of a repeated column (``x.1`` where ``x`` is also a column)."""
    base, dot, suffix = column.rpartition(".")
    return bool(dot) and suffix.isdigit() and base in columns


def read_cohort_tables(data_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read the raw tables of a cohort folder: ``patients``, ``transfers`` and the optional ones present.

    Examples
    --------
    >>> raw = read_cohort_tables("data/synthetic")
    >>> sorted(raw)
    ['adverse_events', 'births', 'patients', 'transfers']
    """
    return {table: read_table(path, sheet) for table, (path, sheet) in find_table_files(data_dir).items()}


def input_files(data_dir: str | Path) -> list[Path]:
    """Return the distinct files a cohort folder's tables are read from."""
    return sorted({path for path, _ in find_table_files(data_dir).values()})


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
