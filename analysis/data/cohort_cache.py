"""The derived cohort cached on disk, so a run validates and derives it once.

The runner writes the cohort it derived into the run folder's private ``interim/cohort/``
(:func:`write_cohort_cache`); every notebook reads it back (:func:`read_cohort_cache`) instead of
reading, validating and deriving the raw tables again. The four tables (and the optional births and adverse events, when the data have them) are Parquet files
(pyarrow, with pandas' own metadata, so categoricals keep their levels and level order,
nullable integers and booleans stay nullable, dates stay dates and strings stay strings); the
scalars and every column's dtype are in ``cohort.json``. Reading checks each column's dtype
against that record and refuses a cache that does not match, so a notebook never analyses a
silently different cohort.

The cache holds patient-level data: it is never part of a run's shareable outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis.core.exceptions import DataReadError
from analysis.data.cohort import Cohort

__all__ = ["CACHE_FORMAT", "COHORT_TABLES", "OPTIONAL_COHORT_TABLES", "read_cohort_cache", "write_cohort_cache"]

COHORT_TABLES = ("patients", "transfers", "flow", "problems")
#: Tables of the cohort that are None when the data have none; cached when present.
OPTIONAL_COHORT_TABLES = ("births", "adverse_events")
CACHE_FORMAT = 1


def _dtype_record(frame: pd.DataFrame) -> dict[str, dict]:
    record = {}
    for name, dtype in frame.dtypes.items():
        entry = {"dtype": str(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            entry["categories"] = [str(c) for c in dtype.categories]
            entry["ordered"] = bool(dtype.ordered)
        elif isinstance(dtype, pd.StringDtype):
            entry["storage"] = dtype.storage
        record[str(name)] = entry
    return record


def write_cohort_cache(cohort: Cohort, folder: str | Path) -> Path:
    """Write a derived cohort as Parquet tables plus ``cohort.json`` into ``folder``.

    Parameters
    ----------
    cohort : Cohort
        The validated, derived cohort.
    folder : str or Path
        Folder to create (replaced files if it exists), e.g. ``<run>/interim/cohort``.

    Returns
    -------
    Path
        The folder, to pass to :func:`read_cohort_cache` (a notebook's ``cohort_file``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"format": CACHE_FORMAT, "outcome": cohort.outcome, "tables": {}}
    present = [name for name in OPTIONAL_COHORT_TABLES if getattr(cohort, name) is not None]
    for name in (*COHORT_TABLES, *present):
        frame = getattr(cohort, name)
        frame.to_parquet(folder / f"{name}.parquet", engine="pyarrow", index=None)
        meta["tables"][name] = {"rows": len(frame), "columns": _dtype_record(frame)}
    tmp = folder / ".cohort.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / "cohort.json")  # written last: its presence marks a complete cache
    return folder


def read_cohort_cache(path: str | Path) -> Cohort:
    """Read a cohort written by :func:`write_cohort_cache`.

    Parameters
    ----------
    path : str or Path
        The cache folder (or its ``cohort.json``).

    Returns
    -------
    Cohort
        Equal, table by table and dtype by dtype, to the cohort that was written.

    Raises
    ------
    analysis.core.exceptions.DataReadError
        The cache is missing, incomplete, of another format, or a column's dtype differs from
        the one recorded when it was written.
    """
    folder = Path(path)
    if folder.name == "cohort.json":
        folder = folder.parent
    meta_path = folder / "cohort.json"
    if not meta_path.is_file():
        raise DataReadError(f"no cohort cache in {folder} (cohort.json missing)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != CACHE_FORMAT:
        raise DataReadError(f"cohort cache {folder} has format {meta.get('format')!r}, expected {CACHE_FORMAT}")
    tables = {}
    for name in (*COHORT_TABLES, *[t for t in OPTIONAL_COHORT_TABLES if t in meta["tables"]]):
        try:
            # memory-mapped: every notebook of a run reads these files, so the pages are shared
            # through the OS cache instead of each kernel copying the file into its own buffer
            frame = pd.read_parquet(folder / f"{name}.parquet", engine="pyarrow", memory_map=True)
        except (OSError, ValueError) as exc:
            raise DataReadError(f"cohort cache {folder}: cannot read {name}.parquet: {exc}") from exc
        expected = meta["tables"][name]
        for c, entry in expected["columns"].items():  # Parquet types object columns by their values
            if entry["dtype"] == "object" and c in frame and frame[c].dtype != object:
                frame[c] = frame[c].astype(object)
        found = _dtype_record(frame)
        if found != expected["columns"] or len(frame) != expected["rows"]:
            bad = sorted(set(found) ^ set(expected["columns"])) or [
                c for c in found if found[c] != expected["columns"].get(c)
            ]
            raise DataReadError(
                f"cohort cache {folder}: {name}.parquet does not match what was written (columns {bad[:5]})"
            )
        tables[name] = frame
    return Cohort(
        tables["patients"],
        tables["transfers"],
        tables["flow"],
        tables["problems"],
        meta["outcome"],
        births=tables.get("births"),
        adverse_events=tables.get("adverse_events"),
    )
