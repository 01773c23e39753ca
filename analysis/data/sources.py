"""Reading clinic exports of every kind into plain tables, and cohort tables from a database.

An *export* is whatever a clinic hands over: a CSV file or a folder of them, an Excel workbook
(one sheet per table), Parquet, SAS (``.sas7bdat``, ``.xpt``), Stata (``.dta``) or SPSS (``.sav``)
files with their value labels, or a REDCap project export (records plus data dictionary).
:func:`read_export` returns its tables by name, untouched except that SAS, Stata and SPSS codes
carrying value labels are replaced by their labels; :mod:`analysis.data.mapping` then maps them
onto the data contract.

A cohort can also live in a database: :func:`read_database_tables` reads the two contract tables
(table names or ``SELECT`` queries) through SQLAlchemy from any URL, and
:func:`contract_text_tables` writes every cell the way a contract CSV holds it, so a database
cohort validates to exactly the same tables as the CSV files it was loaded from. DuckDB reads
large CSV and Parquet files (:func:`read_large_table`) without pandas' memory overhead.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core.exceptions import DataReadError
from analysis.data.contract import TABLES

EXPORT_SUFFIXES = (".csv", ".xlsx", ".parquet", ".sav", ".dta", ".xpt", ".sas7bdat")
LARGE_FILE_BYTES = 256 * 2**20  # CSV/Parquet files above this are read through DuckDB

# --- one cell as contract text --------------------------------------------------------------


def cell_text(value) -> str | None:
    """Return a cell as text the way a contract CSV holds it (``None`` for an empty cell).

    Numbers are written in their shortest exact form (a whole float as an integer: SAS, Stata and
    SPSS store every number as a double), dates as ``YYYY-MM-DD``, booleans as ``true``/``false``.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp | dt.datetime | np.datetime64):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    return text or None


def contract_text_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Return the tables with every cell as contract text (columns in contract order, others dropped).

    Booleans become ``true``/``false``, dates ``YYYY-MM-DD``, whole numbers lose their ``.0``:
    what :func:`analysis.data.loading.read_table` yields for the same cohort written as CSV.
    """
    out = {}
    for name, frame in tables.items():
        order = [c.name for c in TABLES[name] if c.name in frame.columns]
        out[name] = pd.DataFrame({c: [cell_text(v) for v in frame[c].tolist()] for c in order}, dtype=object)
    return out


def write_contract_tables(tables: dict[str, pd.DataFrame], folder: str | Path) -> list[Path]:
    """Write contract tables as ``patients.csv`` and ``transfers.csv`` (UTF-8, empty cells empty)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in contract_text_tables(tables).items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        paths.append(path)
    return paths


# --- files -----------------------------------------------------------------------------------


def read_large_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (every cell as text) or Parquet file through DuckDB's embedded engine."""
    import duckdb  # a few hundred ms to import; only large files need it

    path = Path(path)
    con = duckdb.connect()
    try:
        if path.suffix == ".csv":
            rel = con.read_csv(str(path), all_varchar=True, header=True)
        else:
            rel = con.read_parquet(str(path))
        frame = rel.df()
    finally:
        con.close()
    frame = frame.astype(object).where(frame.notna(), None)
    return frame


def _read_stat(path: Path, value_labels: bool) -> pd.DataFrame:
    import pyreadstat  # only statistical-package exports need it

    readers = {
        ".sav": pyreadstat.read_sav,
        ".dta": pyreadstat.read_dta,
        ".xpt": pyreadstat.read_xport,
        ".sas7bdat": pyreadstat.read_sas7bdat,
    }
    kwargs = {}
    if path.suffix in (".sav", ".dta"):
        kwargs["apply_value_formats"] = value_labels
    catalog = path.with_suffix(".sas7bcat")
    if path.suffix == ".sas7bdat" and catalog.is_file():  # SAS keeps value formats in a catalog beside the data
        kwargs.update(catalog_file=str(catalog), apply_value_formats=value_labels)
    frame, meta = readers[path.suffix](str(path), **kwargs)
    frame.attrs["column_labels"] = dict(zip(meta.column_names, meta.column_labels or []))
    return frame


def read_file_tables(path: str | Path, *, value_labels: bool = True, engine: str = "auto") -> dict[str, pd.DataFrame]:
    """Read one export file into ``{table name: frame}``.

    CSV cells come back as text; Excel cells as Excel holds them (dates as dates); Parquet,
    SAS, Stata and SPSS columns with their stored types, codes replaced by their value labels
    when ``value_labels``. A workbook gives one table per sheet; other files one table named
    after the file's stem.

    Parameters
    ----------
    engine : {"auto", "pandas", "duckdb"}
        Reader of CSV and Parquet files; ``auto`` uses DuckDB above :data:`LARGE_FILE_BYTES`.
    """
    path = Path(path)
    if path.suffix not in EXPORT_SUFFIXES:
        raise DataReadError(f"unsupported export {path.name}: use one of {', '.join(EXPORT_SUFFIXES)}")
    try:
        if path.suffix in (".csv", ".parquet") and (
            engine == "duckdb" or (engine == "auto" and path.stat().st_size > LARGE_FILE_BYTES)
        ):
            return {path.stem: read_large_table(path)}
        if path.suffix == ".csv":
            return {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])}
        if path.suffix == ".parquet":
            return {path.stem: pd.read_parquet(path)}
        if path.suffix == ".xlsx":
            sheets = pd.read_excel(
                path, sheet_name=None, dtype=object, engine="openpyxl", keep_default_na=False, na_values=[""]
            )
            return {name: frame.where(frame.notna(), None) for name, frame in sheets.items()}
        return {path.stem: _read_stat(path, value_labels)}
    except DataReadError:
        raise
    except Exception as exc:  # any reader failure becomes one clear message
        raise DataReadError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc


# --- REDCap ----------------------------------------------------------------------------------

REDCAP_FIELD = "Variable / Field Name"
REDCAP_FORM = "Form Name"
REDCAP_TYPE = "Field Type"
REDCAP_CHOICES = "Choices, Calculations, OR Slider Labels"
REDCAP_YESNO = {"yesno": {"1": "Yes", "0": "No"}, "truefalse": {"1": "True", "0": "False"}}


def redcap_choices(text: str | None) -> dict[str, str]:
    """Parse a data dictionary's choices cell ``"1, RIF | 2, RPL"`` into ``{"1": "RIF", "2": "RPL"}``."""
    out = {}
    for part in str(text or "").split("|"):
        if "," in part:
            code, label = part.split(",", 1)
            out[code.strip()] = label.strip()
    return out


def read_redcap(records: str | Path, dictionary: str | Path) -> dict[str, pd.DataFrame]:
    """Read a REDCap records export (raw codes or labels) with its data dictionary.

    Returns one table per instrument layout: ``records`` (the rows that belong to no repeating
    instrument, with the fields of the non-repeating forms) and one table per repeating
    instrument (named after it, with the record id, ``redcap_repeat_instance`` and the fields of
    that form). Coded fields (radio, dropdown, yes/no, true/false) come back as their labels
    whether the export holds codes or labels; checkbox columns ``field___code`` come back as
    ``1``/``0``, and the frame's ``attrs["checkbox_choices"]`` maps each checkbox field's codes to
    its labels. REDCap writes dates as ``YYYY-MM-DD`` in exports.

    Raises
    ------
    DataReadError
        A file is unreadable or the dictionary lacks REDCap's columns.
    """
    rec = read_file_tables(records)
    frame = next(iter(rec.values()))
    meta = next(iter(read_file_tables(dictionary).values()))
    missing = [c for c in (REDCAP_FIELD, REDCAP_FORM, REDCAP_TYPE, REDCAP_CHOICES) if c not in meta.columns]
    if missing:
        raise DataReadError(f"{dictionary}: not a REDCap data dictionary (missing columns {missing})")
    record_id = str(meta[REDCAP_FIELD].iloc[0])
    forms: dict[str, list[str]] = {}
    checkbox: dict[str, dict[str, str]] = {}
    frame = frame.copy()
    for field, form, kind, choice_text in meta[[REDCAP_FIELD, REDCAP_FORM, REDCAP_TYPE, REDCAP_CHOICES]].itertuples(
        index=False
    ):
        field, form, kind = str(field), str(form), str(kind)
        choices = redcap_choices(choice_text)
        if kind == "checkbox":
            checkbox[field] = choices
            cols = [c for c in frame.columns if c.startswith(f"{field}___")]
            for col in cols:
                frame[col] = frame[col].map(_checkbox_value)
            forms.setdefault(form, []).extend(cols)
            continue
        if field in frame.columns:
            forms.setdefault(form, []).append(field)
            coded = REDCAP_YESNO.get(kind) or (choices if kind in ("radio", "dropdown") else None)
            if coded:
                frame[field] = frame[field].map(lambda v, c=coded: c.get(str(v).strip(), v) if v is not None else v)
    instrument = frame.get("redcap_repeat_instrument")
    repeating = sorted(set(instrument.dropna())) if instrument is not None else []
    base = frame if instrument is None else frame[instrument.isna()]
    base_cols = [record_id] + [c for form, cols in forms.items() if form not in repeating for c in cols]
    tables = {"records": base[list(dict.fromkeys(base_cols))].reset_index(drop=True)}
    for name in repeating:
        rows = frame[instrument == name]
        cols = [record_id, "redcap_repeat_instance", *forms.get(name, [])]
        tables[name] = rows[cols].reset_index(drop=True)
    for table in tables.values():
        table.attrs["checkbox_choices"] = checkbox
    return tables


def _checkbox_value(value) -> str | None:
    text = cell_text(value)
    if text is None:
        return None
    return {"checked": "1", "unchecked": "0"}.get(text.lower(), text)


def read_export(path: str | Path, source: dict | None = None) -> dict[str, pd.DataFrame]:
    """Read a clinic export (a file or a folder) into ``{table name: frame}``.

    Parameters
    ----------
    path : path
        A file of a kind in :data:`EXPORT_SUFFIXES`, or a folder of such files (tables named by
        file stem, a workbook's by sheet).
    source : dict, optional
        The mapping spec's ``source`` section: ``{"format": "redcap", "records": FILE,
        "dictionary": FILE}`` for a REDCap project (files relative to ``path``);
        ``value_labels: false`` keeps SAS, Stata and SPSS codes; ``engine`` as in
        :func:`read_file_tables`.
    """
    path = Path(path)
    source = dict(source or {})
    if not path.exists():
        raise DataReadError(f"export not found: {path}")
    if source.get("format") == "redcap":
        folder = path if path.is_dir() else path.parent
        records = folder / source.get("records", "records.csv") if path.is_dir() else path
        return read_redcap(records, folder / source.get("dictionary", "data_dictionary.csv"))
    kwargs = {"value_labels": source.get("value_labels", True), "engine": source.get("engine", "auto")}
    if path.is_file():
        return read_file_tables(path, **kwargs)
    tables: dict[str, pd.DataFrame] = {}
    for file in sorted(p for p in path.iterdir() if p.suffix in EXPORT_SUFFIXES):
        for name, frame in read_file_tables(file, **kwargs).items():
            if name in tables:
                raise DataReadError(f"{path}: table {name!r} exists in more than one file; keep one")
            tables[name] = frame
    if not tables:
        raise DataReadError(f"{path}: no export file found ({', '.join(EXPORT_SUFFIXES)})")
    return tables


# --- databases -------------------------------------------------------------------------------

#: A table read by name comes in the order of its key (SQL tables have none; bootstraps and
#: resamples follow the row order, so a run from a database equals the run from the same rows in
#: CSV files sorted this way, as the shipped cohort is). A query keeps its own ORDER BY.
TABLE_ORDER = {
    "patients": "patient_id",
    "transfers": "patient_id, transfer_number",
    "births": "patient_id, transfer_number, baby_number",
    "adverse_events": "patient_id, event_date, agent, event, severity",
}
#: Optional contract tables read from a database when it holds a table of that name (or the
#: config's ``data_source`` names a table or query for it).
OPTIONAL_TABLES = ("births", "adverse_events")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def is_database_url(text: str | Path) -> bool:
    """True when ``--data`` names a database (``dialect[+driver]://…``) rather than a folder."""
    return bool(re.match(r"^[a-z][a-z0-9+]*://", str(text)))


def read_database_tables(url: str, tables: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """Read the contract's two tables from a database through SQLAlchemy.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host/clinic`` or ``sqlite:///cohort.db``.
    tables : dict, optional
        ``{"patients": TABLE_OR_QUERY, "transfers": TABLE_OR_QUERY}``; a value is a table name
        (optionally ``schema.table``, read in the order of :data:`TABLE_ORDER`) or a ``SELECT``
        query. Default: tables named ``patients`` and ``transfers``.

    Returns
    -------
    dict of DataFrame
        The two tables as the database typed them (dates, booleans, numbers); write them with
        :func:`contract_text_tables` to validate them like CSV files.

    Raises
    ------
    DataReadError
        The database cannot be reached or a table or query fails, with the reason.
    """
    import sqlalchemy  # only database sources need it

    wanted = {"patients": "patients", "transfers": "transfers", **(tables or {})}
    unknown = set(wanted) - set(TABLES)
    try:
        present = set(sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names())
    except Exception:  # an unreachable database is reported when the tables are read
        present = set()
    wanted.update({name: name for name in OPTIONAL_TABLES if name not in wanted and name in present})
    if unknown:
        raise DataReadError(f"database source: unknown table key(s) {sorted(unknown)}; use {sorted(TABLES)}")
    try:
        engine = sqlalchemy.create_engine(url)
    except Exception as exc:
        raise DataReadError(f"cannot use database URL {url!r}: {type(exc).__name__}: {exc}") from exc
    out = {}
    try:
        with engine.connect() as con:
            for name, what in wanted.items():
                query = what if not _IDENTIFIER.match(what) else f"SELECT * FROM {what} ORDER BY {TABLE_ORDER[name]}"
                try:
                    out[name] = pd.read_sql_query(sqlalchemy.text(query), con)
                except Exception as exc:
                    raise DataReadError(
                        f"database source: cannot read table '{name}' ({what!r}): {type(exc).__name__}: {exc}"
                    ) from exc
    except DataReadError:
        raise
    except Exception as exc:
        raise DataReadError(f"cannot connect to {engine.url!r}: {type(exc).__name__}: {exc}") from exc
    finally:
        engine.dispose()
    return out


SQL_TYPES = {
    "id": "TEXT",
    "category": "TEXT",
    "agents": "TEXT",
    "float": "DOUBLE PRECISION",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "date": "DATE",
}


def create_table_sql(table: str, columns: list[str]) -> str:
    """Return ``CREATE TABLE`` for a contract table with the SQL type of each column's kind."""
    specs = {c.name: c for c in TABLES[table]}
    body = ",\n  ".join(f"{c} {SQL_TYPES[specs[c].kind]}" for c in columns)
    return f"CREATE TABLE {table} (\n  {body}\n)"


def write_database_tables(
    url: str,
    patients: pd.DataFrame,
    transfers: pd.DataFrame,
    *,
    births: pd.DataFrame | None = None,
    adverse_events: pd.DataFrame | None = None,
    replace: bool = True,
) -> None:
    """Create the contract tables in a database with the SQL type of each column and load them.

    ``patients`` and ``transfers`` (and the optional ``births`` and ``adverse_events``, when
    given) are validated (typed) tables, e.g. :attr:`analysis.data.validation.ValidatedCohort.patients`. Dates become ``DATE``, booleans
    ``BOOLEAN``, counts ``INTEGER``, measurements ``DOUBLE PRECISION``, the rest ``TEXT``.
    """
    import sqlalchemy  # only database sources need it

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as con:
            given = {"patients": patients, "transfers": transfers, "births": births, "adverse_events": adverse_events}
            for name, frame in ((n, f) for n, f in given.items() if f is not None):
                columns = [c.name for c in TABLES[name] if c.name in frame.columns]
                if replace:
                    con.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {name}"))
                con.execute(sqlalchemy.text(create_table_sql(name, columns)))
                rows = [
                    {
                        c: (None if v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)) else _py(v))
                        for c, v in row.items()
                    }
                    for row in frame[columns].to_dict("records")
                ]
                placeholders = ", ".join(f":{c}" for c in columns)
                con.execute(sqlalchemy.text(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({placeholders})"), rows)
    finally:
        engine.dispose()


def _py(value):
    """A plain Python value for a database driver (dates as dates, numpy scalars unwrapped)."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    return value


def cohort_folder_from_database(url: str, tables: dict[str, str] | None, folder: str | Path) -> Path:
    """Read the contract tables from a database and write them as a cohort folder of CSV files."""
    write_contract_tables(read_database_tables(url, tables), folder)
    return Path(folder)
