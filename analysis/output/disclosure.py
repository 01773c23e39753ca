"""Disclosure control: small counts never leave a run.

With ``min_cell_count = k > 0`` (registries use 5 or 10; synthetic data 0) every count
``1 ≤ n < k`` is replaced by the text ``"<k"`` in tables, captions, numbers at risk and figure
annotations, and so is every percentage (or proportion) in the same row, from which the count
could be recovered with the row's total. Zero is not masked (it discloses nobody). Counts are
recognised by column name (:func:`count_columns`), the one rule every table follows.

In ``estimates.csv``, which must stay numeric, model counts (``n_obs``, ``n_events``,
``n_clusters``) below ``k`` become empty (NA) instead.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["count_columns", "format_count", "mask_estimates", "mask_table", "masked_label", "rule_statement"]

_COUNT = re.compile(r"^(n|count|events|n_.+|.+_n|.+_count)$")
_PERCENT = re.compile(r"^(percent|pct|proportion|share|percent_.+|.+_percent|.+_pct|.+_proportion)$")
_NOT_COUNTS = {"n_bootstrap", "n_imputations", "n_jobs", "n_failed_replicates", "n_clusters_total"}


def count_columns(frame: pd.DataFrame) -> list[str]:
    """Return the columns holding counts of people or events (by name: ``n``, ``n_*``, ``*_n``, ``count``, ``events``)."""
    return [
        c
        for c in frame.columns
        if _COUNT.match(str(c)) and c not in _NOT_COUNTS and pd.api.types.is_numeric_dtype(frame[c])
    ]


def masked_label(min_cell_count: int) -> str:
    """The text shown instead of a small count."""
    return f"<{int(min_cell_count)}"


def format_count(n, min_cell_count: int) -> str:
    """Return a count as text, ``"<k"`` when it is below the threshold (and not zero)."""
    if n is None or (isinstance(n, float) and np.isnan(n)):
        return "NA"
    n = int(n)
    return masked_label(min_cell_count) if 0 < n < min_cell_count else f"{n:,}"


def mask_table(frame: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Return ``frame`` with small counts, and the percentages of their rows, replaced by ``"<k"``.

    The input is not changed. With ``min_cell_count`` 0 or 1 the frame is returned unchanged.
    """
    if min_cell_count <= 1:
        return frame
    counts = count_columns(frame)
    if not counts:
        return frame
    out = frame.copy()
    label = masked_label(min_cell_count)
    small = pd.DataFrame({c: pd.to_numeric(out[c], errors="coerce").between(1, min_cell_count - 1) for c in counts})
    row_has_small = small.any(axis=1)
    for c in counts:
        if small[c].any():
            out[c] = out[c].astype(object).where(~small[c], label)
    for c in [c for c in out.columns if _PERCENT.match(str(c))]:
        if row_has_small.any():
            out[c] = out[c].astype(object).where(~row_has_small, label)
    if "display" in out.columns and row_has_small.any():  # preformatted "n (%)" text
        out["display"] = out["display"].astype(object).where(~row_has_small, label)
    return out


def mask_estimates(frame: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Return estimates with model counts below the threshold set to NA (the file stays numeric)."""
    if min_cell_count <= 1:
        return frame
    out = frame.copy()
    for c in ("n_obs", "n_events", "n_clusters"):
        if c in out:
            values = pd.to_numeric(out[c], errors="coerce")
            out[c] = out[c].where(~values.between(1, min_cell_count - 1), pd.NA)
    return out


def rule_statement(min_cell_count: int) -> str:
    """A sentence for reports saying whether and how small counts were masked."""
    if min_cell_count <= 1:
        return "No disclosure control was applied (min_cell_count = 0): every count is shown."
    return (
        f"Disclosure control: every count from 1 to {min_cell_count - 1} is shown as "
        f'"{masked_label(min_cell_count)}" in tables, captions, numbers at risk and figure labels, '
        f"together with the percentages of the same row; in estimates.csv such model counts are left empty."
    )


_LEADING_COUNT = re.compile(r"^\s*(\d[\d,]*)\s*(\(|$)")


def mask_display_counts(frame: pd.DataFrame, columns, rows=None, *, min_cell_count: int) -> pd.DataFrame:
    """Return a display table with cells ``"n (p%)"`` whose count is small replaced by ``"<k"``.

    Parameters
    ----------
    frame : DataFrame of str
        A display table (e.g. Table 1 wide).
    columns : sequence of str
        Columns whose cells start with a count.
    rows : boolean array-like, optional
        Rows whose cells are counts (e.g. the levels of categorical variables); all by default.
    """
    if min_cell_count <= 1:
        return frame
    out = frame.copy()
    rows = np.ones(len(out), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    label = masked_label(min_cell_count)
    for c in columns:
        text = out[c].astype(str)
        n = pd.to_numeric(text.str.extract(_LEADING_COUNT)[0].str.replace(",", ""), errors="coerce")
        hit = rows & n.between(1, min_cell_count - 1).to_numpy()
        out[c] = out[c].astype(object).where(~hit, label)
    return out


def mask_crosstab(frame: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Return a cross-tabulation (every numeric cell a count) with small cells shown as ``"<k"``."""
    if min_cell_count <= 1:
        return frame
    out = frame.copy()
    label = masked_label(min_cell_count)
    for c in out.columns:
        values = pd.to_numeric(out[c], errors="coerce")
        if pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].astype(object).where(~values.between(1, min_cell_count - 1), label)
    return out
