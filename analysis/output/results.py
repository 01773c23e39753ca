"""The results contract: tidy tables every run writes into ``tables/``.

``estimates.csv`` holds one row per model term with the columns of :data:`ESTIMATE_COLUMNS`;
``survival.csv`` one row per group and time with :data:`SURVIVAL_COLUMNS`. The schema is
documented in ``docs/results_format.md``. ``coef`` is on the linear-predictor scale (log odds or
log hazard), ``estimate``, ``conf_low`` and ``conf_high`` on the ratio scale (OR, HR) or, for
estimators that are differences (``estimator`` ending in ``_rd``), on the difference scale.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.core.exceptions import RunError
from analysis.models.schema import (  # noqa: F401  (re-exported: the contract's public names)
    ESTIMATE_COLUMNS,
    SURVIVAL_COLUMNS,
    conform_estimates,
    empty_estimates,
)

_FLOAT_FORMAT = "%.10g"


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a tidy table as CSV with a fixed float format, so reruns give the same bytes.

    The file is written to a temporary name and renamed, so a reader never sees half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False, float_format=_FLOAT_FORMAT, lineterminator="\n")
    tmp.replace(path)
    return path


def append_estimates(frame: pd.DataFrame, run_dir: str | Path) -> Path:
    """Add the rows of ``frame`` to ``tables/estimates.csv`` of a run folder.

    Rows with the same ``(notebook, model_id)`` as rows in ``frame`` are replaced, so re-running
    a notebook interactively never duplicates its estimates. Rows are kept sorted by notebook and
    model id (terms in model order) so the file's bytes do not depend on execution order.
    """
    path = Path(run_dir) / "tables" / "estimates.csv"
    new = conform_estimates(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Notebooks run concurrently (``run --jobs``) share this file: the read-modify-write happens
    # under an exclusive lock, and the sorted result does not depend on who wrote first.
    with open(path.with_name("estimates.csv.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _merge_estimates(new, path)


def drop_notebook_estimates(run_dir: str | Path, notebook: str) -> None:
    """Remove a notebook's rows from ``tables/estimates.csv`` (before it runs again; other rows keep their bytes)."""
    path = Path(run_dir) / "tables" / "estimates.csv"
    if not path.exists():
        return
    with open(path.with_name("estimates.csv.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = read_estimates_file(path)
        write_table(old[old["notebook"] != notebook], path)


def _merge_estimates(new: pd.DataFrame, path: Path) -> Path:
    if path.exists():
        old = read_estimates_file(path)
        keys = set(zip(new["notebook"], new["model_id"]))
        keep = [k not in keys for k in zip(old["notebook"], old["model_id"])]
        new = pd.concat([old[keep], new], ignore_index=True)
    new["_order"] = np.arange(len(new))
    new = new.sort_values(["notebook", "model_id", "_order"], kind="stable").drop(columns="_order")
    return write_table(new, path)


#: Columns of ``tables/skipped_sections.csv``: one row per notebook section that did not run.
SKIPPED_COLUMNS = ["notebook", "section", "columns", "reason"]
SKIPPED_FILE = "skipped_sections.csv"


def write_skipped_sections(rows: list[dict], notebook: str, run_dir: str | Path) -> Path | None:
    """Replace a notebook's rows of ``tables/skipped_sections.csv`` with ``rows``.

    Each row names a section that was skipped because a column it needs is absent or empty
    (keys :data:`SKIPPED_COLUMNS`). The file exists only while some section is skipped, so a
    cohort with every column leaves ``tables/`` as it was. Notebooks side by side share the file
    under an exclusive lock; rows are sorted, so its bytes do not depend on who wrote first.

    Parameters
    ----------
    rows : list of dict
        Every section of ``notebook`` skipped so far (empty: none).
    notebook : str
        The notebook whose rows are replaced.
    run_dir : str or Path
        The run folder.

    Returns
    -------
    Path or None
        The file, or None when no notebook skipped anything.
    """
    path = Path(run_dir) / "tables" / SKIPPED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(SKIPPED_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = (
            pd.read_csv(path, dtype=str, keep_default_na=False)
            if path.exists()
            else pd.DataFrame(columns=SKIPPED_COLUMNS)
        )
        new = pd.DataFrame(rows, columns=SKIPPED_COLUMNS).assign(notebook=notebook)
        merged = pd.concat([old[old["notebook"] != notebook], new], ignore_index=True)
        if merged.empty:
            path.unlink(missing_ok=True)
            return None
        return write_table(merged.sort_values("notebook", kind="stable"), path)


def read_estimates_file(path: str | Path) -> pd.DataFrame:
    """Read an ``estimates.csv`` into a frame conforming to the contract."""
    return conform_estimates(pd.read_csv(path, keep_default_na=True))


def read_run(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read every tidy table of a run folder back into pandas.

    Parameters
    ----------
    run_dir : str or Path
        A run folder written by ``python -m analysis run``.

    Returns
    -------
    dict of str to DataFrame
        One entry per CSV in ``tables/``, keyed by file stem (``"estimates"``, ``"survival"``,
        ``"table1_by_arm"``, …). ``estimates`` conforms to :data:`ESTIMATE_COLUMNS`.

    Examples
    --------
    >>> tables = read_run("reports/synthetic")                    # doctest: +SKIP
    >>> tables["estimates"].query("model_id == 'lb_first_adjusted'")  # doctest: +SKIP
    """
    tables_dir = Path(run_dir) / "tables"
    if not tables_dir.is_dir():
        raise RunError(f"{run_dir} is not a run folder: it has no tables/ folder")
    out = {}
    for path in sorted(tables_dir.glob("*.csv")):
        out[path.stem] = read_estimates_file(path) if path.stem == "estimates" else pd.read_csv(path)
    return out
