"""What a notebook needs around its analysis: where to write, and how.

A notebook run by the runner receives ``run_dir``; run interactively (``run_dir = ""``) it writes
into ``reports/interactive`` so exploring never touches a finished run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.core.exceptions import DisclosureError
from analysis.output.declarations import declaration_for
from analysis.output.disclosure import (
    CURVE_INTERVAL_DAYS,
    MaskReport,
    TableDisclosure,
    mask_declared,
    mask_estimates,
    mask_text_columns,
)
from analysis.output.results import append_estimates, write_skipped_sections, write_table

#: Folder of a run (only with ``min_cell_count`` > 1) where each saved table's masking is logged.
DISCLOSURE_DIR = "disclosure"

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RunPaths:
    """Folders of a run: the run folder, its ``figures/`` and ``tables/``."""

    run_dir: Path
    figures: Path
    tables: Path
    min_cell_count: int
    curve_interval_days: float = CURVE_INTERVAL_DAYS


def run_paths(
    run_dir: str | Path | None = None, *, min_cell_count: int, curve_interval_days: float = CURVE_INTERVAL_DAYS
) -> RunPaths:
    """Return (and create) the folders a notebook writes into.

    Parameters
    ----------
    run_dir : str or Path, optional
        The run folder given by the runner; empty or None means ``reports/interactive``.
    min_cell_count : int
        Disclosure threshold of the run: counts below it (other than 0) are masked in what the
        notebook saves (0 disables masking).
    curve_interval_days : float
        Width of the time intervals of coarsened curves (with ``min_cell_count`` > 1).
    """
    base = Path(run_dir) if run_dir else REPO_ROOT / "reports" / "interactive"
    paths = RunPaths(base, base / "figures", base / "tables", int(min_cell_count), float(curve_interval_days))
    for p in (paths.figures, paths.tables):
        p.mkdir(parents=True, exist_ok=True)
    return paths


def save_table(
    frame: pd.DataFrame,
    name: str,
    paths: RunPaths,
    *,
    declaration: TableDisclosure | None = None,
    hidden_totals: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Write a tidy table as ``tables/<name>.csv`` and return what was written.

    The table is masked by its disclosure declaration (``declaration``, or the one registered
    under ``name`` in :mod:`analysis.output.declarations`) and the run's threshold
    (:func:`analysis.output.disclosure.mask_declared`); notebooks display the returned frame, so
    the executed notebook shows what the file holds. With ``min_cell_count`` > 1 what was masked
    is logged in ``disclosure/<name>.json`` for the report. ``hidden_totals`` names the
    populations whose size the flow hides (see :func:`analysis.output.disclosure.mask_declared`).

    Raises
    ------
    DisclosureError
        When the table has no declaration, or has count columns its declaration does not name.
    """
    decl = declaration if declaration is not None else declaration_for(name)
    problems = decl.problems_with(frame, name)
    if problems:
        raise DisclosureError("table not declared fully for disclosure control:\n  " + "\n  ".join(problems))
    masked, report = mask_declared(
        frame,
        decl,
        paths.min_cell_count,
        name=name,
        interval_days=paths.curve_interval_days,
        hidden_totals=hidden_totals,
    )
    masked = mask_text_columns(masked, decl, paths.min_cell_count)  # counts written into messages
    write_table(masked, paths.tables / f"{name}.csv")
    if paths.min_cell_count > 1:
        write_mask_report(report, paths)
    return masked


def write_mask_report(report: MaskReport, paths: RunPaths) -> Path:
    """Write what masking did to one table as ``disclosure/<table>.json`` of the run folder."""
    folder = paths.run_dir / DISCLOSURE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.table}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report.as_dict(), sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def save_estimates(
    frame: pd.DataFrame, paths: RunPaths, population_sizes: Mapping[tuple[str, str], tuple[int, int, int]] | None = None
) -> Path:
    """Add a notebook's estimates to ``tables/estimates.csv`` (replacing its earlier rows).

    ``population_sizes`` (see :func:`analysis.output.disclosure.mask_estimates`) lets the mask
    hide a model's counts that differ from its whole population's by fewer than the threshold.
    """
    return append_estimates(mask_estimates(frame, paths.min_cell_count, population_sizes), paths.run_dir)


def save_caption(text: str, number: int | str, paths: RunPaths) -> str:
    """Write the caption of main figure ``number`` as ``figures/figure_<number>.txt`` and return it.

    A supplementary figure's name (``supp_…``) in place of the number writes ``figures/<name>.txt``,
    which the report shows under the figure.
    """
    path = paths.figures / (f"{number}.txt" if isinstance(number, str) else f"figure_{number}.txt")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text.rstrip() + "\n", encoding="utf-8")
    tmp.replace(path)
    return text


def save_skipped_sections(rows: list[dict], notebook: str, paths: RunPaths) -> None:
    """Record every section of ``notebook`` skipped so far in ``tables/skipped_sections.csv``.

    Called with no rows when a notebook starts, so a rerun clears what an earlier run skipped.
    """
    write_skipped_sections(rows, notebook, paths.run_dir)
