"""Reading the cohort tables from CSV, Parquet or Excel.

A cohort folder holds ``patients`` and ``transfers``, each as ``.csv``, ``.parquet`` or
``.xlsx`` (``patients.csv``, ``transfers.parquet``, …), or one workbook ``cohort.xlsx`` with the
sheets ``patients`` and ``transfers``; the optional tables ``births`` and ``adverse_events``
(:data:`analysis.data.contract.OPTIONAL_TABLES`) are read the same way when present. Tables are read as text where the format allows, so that
:mod:`analysis.data.validation` sees every cell as written and can name the ones it cannot parse.
"""

from __future__ import annotations

import hashlib
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

    Raises
    ------
    DataReadError
        The file cannot be read (corrupt, wrong format, missing sheet), with the reason.
    """
    path = Path(path)
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix == ".xlsx":
            frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=str, engine="openpyxl")
        else:
            raise DataReadError(f"unsupported file type {path.suffix!r} for {path}; use {', '.join(SUFFIXES)}")
    except DataReadError:
        raise
    except Exception as exc:  # any reader failure becomes one clear message
        where = f"{path}" + (f" (sheet '{sheet}')" if sheet else "")
        raise DataReadError(f"cannot read {where}: {type(exc).__name__}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


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
