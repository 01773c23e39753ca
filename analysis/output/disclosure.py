"""Disclosure control: no count below the threshold can be read or recomputed from a run.

With ``min_cell_count = k > 1`` (registries use 5 or 10; synthetic data 0) a table is masked by
what it *declares* (:class:`TableDisclosure`), not by how its columns are named:

1. **Primary suppression.** Every count ``1 ≤ n < k`` is written ``"<k"``. A count whose
   complement within its declared denominator is small (``1 ≤ d − n < k``) is written
   ``"masked"`` (showing it would give the complement back).
2. **Secondary suppression.** Cells that sum to a total (columns of a row, rows of a group, the
   margins of a cross-tabulation) are linear relations an intruder can solve. Every relation is
   solved for interval bounds (a ``"<k"`` cell lies in ``[1, k − 1]``, a ``"masked"`` one in
   ``[0, ∞)``, a published one is exact), propagated over all relations until nothing tightens;
   while a masked cell is pinned to one value, the smallest positive published cell of a relation
   that pins it is masked too (the greedy heuristic of τ-ARGUS' and sdcTable's ``SIMPLEHEURISTIC``:
   protect each primary cell with the cheapest complementary cells).
3. **Derived values.** Every column declared as computed from counts (percentages, risks, rates,
   sensitivities, NNT, their confidence limits) is masked in the rows where any of its counts is.
4. **Extremes.** Order statistics declared as extremes (minimum, maximum, 1st or 99th
   percentile) are masked where their tail holds fewer than ``k`` people.

Curves (Kaplan–Meier and cumulative-incidence tables) are coarsened instead
(:func:`coarsen_curves`). Zero is never masked (it discloses nobody).

Where the threshold applies every count and curve passes here: the run context's ``save_table``
refuses a table without a declaration (:func:`declaration_for` in
:mod:`analysis.output.declarations`), so nothing leaves unmasked by omission.

References
----------
Hundepool A, Domingo-Ferrer J, Franconi L, et al. *Statistical Disclosure Control*. Wiley, 2012,
ch. 4 (primary and secondary cell suppression, the interval an intruder derives for a suppressed
cell from a table's additive relations).
Meindl B. sdcTable: Methods for Statistical Disclosure Control in Tabular Data (CRAN), method
``SIMPLEHEURISTIC``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "CURVE_INTERVAL_DAYS",
    "FLOW_POPULATIONS",
    "SUPPRESSED",
    "CurveCoarsening",
    "GroupSum",
    "MaskReport",
    "TableDisclosure",
    "at_risk_from_curves",
    "calibration_groups",
    "coarse_roc_points",
    "coarsen_curves",
    "count_cells",
    "count_columns",
    "curve_rule_statement",
    "format_count",
    "mask_crosstab",
    "mask_declared",
    "mask_display_counts",
    "mask_estimates",
    "mask_table",
    "masked_label",
    "relation_intervals",
    "relations_of",
    "rule_statement",
]

#: The estimates' population labels of the flow's populations → (the cohort's population name,
#: the flow stage whose ``included`` row counts it before unknown outcomes are left out, the flow
#: stage whose ``analysed`` row counts it after). One table for the estimate masks (the run
#: context) and for the intruder's linked-table route (:mod:`analysis.output.audit`).
FLOW_POPULATIONS = {
    "first_transfer": ("first", "first_transfer", "first_transfer"),
    "all_transfers": ("all", "analysed", "all_transfers"),
}

#: The text of a cell hidden for any reason other than being a small count itself (secondary
#: suppression, a small complement, a value derived from a hidden count, an extreme value).
SUPPRESSED = "masked"

_COUNT = re.compile(r"^(n|count|events|n_.+|.+_n|.+_count)$")
_PERCENT = re.compile(r"^(percent|pct|proportion|share|percent_.+|.+_percent|.+_pct|.+_proportion)$")
_NOT_COUNTS = {"n_bootstrap", "n_imputations", "n_jobs", "n_failed_replicates", "n_clusters_total"}

#: Default width of the time intervals of coarsened curves (days).
CURVE_INTERVAL_DAYS = 30


# ------------------------------------------------------------------------------------------------
# declarations


@dataclass(frozen=True)
class GroupSum:
    """Rows of ``column`` within each group of ``by`` sum to a total.

    Parameters
    ----------
    column : str
        A count column.
    by : tuple of str
        Columns whose levels define the groups (``()``: the whole table is one group).
    total : str or None
        A column of the same rows holding the group's total (repeated on each row), or None when
        the total is not in this table but is published elsewhere (it is then taken as known).
    total_where : (str, object) or None
        The group's total is the ``column`` cell of its row where ``total_where[0]`` equals
        ``total_where[1]`` (Table 1's ``overall`` group); the other rows are its parts.
    """

    column: str
    by: tuple[str, ...] = ()
    total: str | None = None
    total_where: tuple[str, object] | None = None


@dataclass(frozen=True)
class TableDisclosure:
    """What a table holds, for disclosure control (one per saved table, in the results contract).

    Parameters
    ----------
    counts : tuple of str
        Columns of counts of people, transfers or events.
    denominators : mapping of str to str
        Count column → the column of its denominator in the same row: the complement
        ``denominator − count`` is protected like a count.
    derived : mapping of str to tuple of str
        Column → the count (or denominator) columns it is computed from (percentages, risks,
        rates, sensitivities, NNT, and their confidence limits): masked with any of them, in the
        rows that hold all of them.
    row_sums : tuple of (str, tuple of str)
        ``(total, parts)``: within each row, the ``parts`` columns sum to the ``total`` column
        (``total`` empty: to a number known from elsewhere, e.g. the group size behind
        ``n + n_missing``).
    group_sums : tuple of GroupSum
        Rows summing to a group total.
    crosstab : bool
        Every numeric column is a count of a cross-tabulation whose row and column margins are
        known (published elsewhere or derivable).
    extremes : mapping of str to float
        Order-statistic column → the share of people in its tail (0 for minimum and maximum,
        0.01 for a 1st or 99th percentile); masked where that tail holds fewer than ``k`` people.
    extremes_n : str
        The column of the number of people of each row (needed with ``extremes``).
    curve : bool
        A curve table in ``survival.csv`` form (group, time_days, estimate, conf_low, conf_high,
        n_at_risk, n_events): coarsened by :func:`coarsen_curves` instead of masked cell by cell.
    flow : bool
        A flow log (``step, stage, kind, n_patients, n_transfers``): each ``included`` row equals
        the ``excluded`` rows after it plus the next row; a stage that starts with exclusions
        takes its transfers from the last ``included`` row of stage ``analysed`` before it.
    proportions : mapping of str to str
        Proportion column → its denominator column, where the count itself is not published
        (the share of a group outside the propensity-score support): ``p × d`` is protected
        like a count (hidden when it, or ``d`` minus it, is 1 … k − 1). A column named
        ``percent…`` is read as a percentage.
    copies : tuple of (str, tuple of str)
        ``(column, by)``: the column repeats one value on every row of a ``by`` group (Table 1's
        ``n`` on each level row); the copies are one cell, hidden together.
    not_counts : tuple of str
        Columns whose names look like counts but are not (number of bootstrap replicates, …).
    nested_in : tuple of (str, str)
        ``(key column, reference value)``: every other row counts a population nested in (or
        containing) the reference row's (sensitivity subsets beside the main analysis, each
        centre left out in turn), so the difference of a count, or of a complement, from the
        reference row is itself a count; a cell whose difference is 1 … k − 1 is hidden.
    sums_to : mapping of str to str
        Count column → the analysis population (``first_transfer``, ``all_transfers``) its rows
        add up to. When the flow must hide that population's size (fewer than ``k`` of its rows
        have an unknown outcome), at least one cell of the column is hidden, so the rows' sum
        cannot give the size back (see ``hidden_totals`` of :func:`mask_declared`).
    note : str
        Why a table without counts holds none, for readers of the contract.
    """

    counts: tuple[str, ...] = ()
    denominators: Mapping[str, str] = field(default_factory=dict)
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    row_sums: tuple[tuple[str, tuple[str, ...]], ...] = ()
    group_sums: tuple[GroupSum, ...] = ()
    crosstab: bool = False
    extremes: Mapping[str, float] = field(default_factory=dict)
    extremes_n: str = ""
    curve: bool = False
    flow: bool = False
    proportions: Mapping[str, str] = field(default_factory=dict)
    copies: tuple[tuple[str, tuple[str, ...]], ...] = ()
    not_counts: tuple[str, ...] = ()
    sums_to: Mapping[str, str] = field(default_factory=dict)
    nested_in: tuple[str, str] = ()
    note: str = ""

    def count_columns(self) -> list[str]:
        """Every column declared as a count (counts, denominators, totals and parts of sums)."""
        cols = list(self.counts) + list(self.denominators.values())
        for total, parts in self.row_sums:
            cols += ([total] if total else []) + list(parts)
        for g in self.group_sums:
            cols += [g.column] + ([g.total] if g.total else [])
        return list(dict.fromkeys(cols))

    def problems_with(self, frame: pd.DataFrame, name: str) -> list[str]:
        """Every way ``frame`` disagrees with this declaration (empty when it fits)."""
        out = []
        if self.crosstab or self.curve:
            return out
        declared = set(self.count_columns()) | set(self.derived) | set(self.extremes) | set(self.not_counts)
        for c in frame.columns:
            if _COUNT.match(str(c)) and str(c) not in declared and str(c) not in _NOT_COUNTS:
                out.append(f"{name}: column '{c}' looks like a count but is not declared (counts or not_counts)")
        if self.extremes and any(c in frame.columns for c in self.extremes) and self.extremes_n not in frame.columns:
            out.append(f"{name}: extremes need the column of people per row ('{self.extremes_n}')")
        return out


@dataclass
class MaskReport:
    """What masking did to one table (written into the run's disclosure log, shown in the report)."""

    table: str
    primary: int = 0
    complement: int = 0
    secondary: int = 0
    derived: int = 0
    extremes: int = 0
    curve_rows_before: int = 0
    curve_rows_after: int = 0
    unprotectable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The report as plain values."""
        return {
            "table": self.table,
            "primary": self.primary,
            "complement": self.complement,
            "secondary": self.secondary,
            "derived": self.derived,
            "extremes": self.extremes,
            "curve_rows_before": self.curve_rows_before,
            "curve_rows_after": self.curve_rows_after,
            "unprotectable": "; ".join(self.unprotectable),
        }


# ------------------------------------------------------------------------------------------------
# small helpers


#: Counts written into free text (captions, figure labels, messages), one owner for the masker
#: below and the audit: ``n = 7``, ``7 women``/``events``/…, ``(7)``, ``7 (12.5%)``.
COUNT_IN_TEXT = (
    re.compile(r"\bn\s*=\s*(\d[\d,]*)(?![\d.])"),
    re.compile(
        r"(?<![\d.])(\d[\d,]*)\s+(?:first\s+)?(?:included\s+)?(?:patients|women|transfers|observations|events)\b"
    ),
    re.compile(r"\((\d[\d,]*)\)"),
    re.compile(r"(?:^|[\s;:>])(\d[\d,]*)\s*\(\d+(?:\.\d+)?%\)"),
)


def mask_counts_in_text(text: str, min_cell_count: int) -> str:
    """Return ``text`` with every count from 1 to ``k − 1`` written as a count replaced by ``<k``.

    The safety net for free text built from messages (a model that could not be fitted says how
    many events it had): the forms of :data:`COUNT_IN_TEXT`, the ones the audit reads.

    Examples
    --------
    >>> mask_counts_in_text("blood_nk_percent: 7 events or non-events are too few", 10)
    'blood_nk_percent: <10 events or non-events are too few'
    >>> mask_counts_in_text("n = 12 (3)", 10)
    'n = 12 (<10)'
    """
    k = int(min_cell_count)
    if k <= 1 or not text:
        return text

    def small(m: re.Match) -> str:
        value = int(m.group(1).replace(",", ""))
        if not 1 <= value <= k - 1:
            return m.group(0)
        a, b = m.start(1) - m.start(0), m.end(1) - m.start(0)
        return m.group(0)[:a] + masked_label(k) + m.group(0)[b:]

    for pattern in COUNT_IN_TEXT:
        text = pattern.sub(small, text)
    return text


def mask_text_columns(frame: pd.DataFrame, decl: TableDisclosure, min_cell_count: int) -> pd.DataFrame:
    """Return ``frame`` with :func:`mask_counts_in_text` applied to its free-text cells.

    Messages saved beside estimates (``"blood_nk_percent: 7 events or non-events are too few"``)
    are text, so the count masking of the declared columns never sees them. Every text column
    that the declaration does not name as a count is masked cell by cell over its distinct
    values (few: messages and labels repeat), and only when ``min_cell_count`` > 1.
    """
    k = int(min_cell_count)
    if k <= 1 or not len(frame):
        return frame
    declared = set(decl.count_columns())
    out = None
    for column in frame.columns:
        values = frame[column]
        if column in declared or not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        texts = values.dropna().astype(str).unique()
        changed = {t: m for t in texts if (m := mask_counts_in_text(t, k)) != t}
        if changed:
            out = frame.copy() if out is None else out
            out[column] = values.map(lambda v, changed=changed: changed.get(v, v) if isinstance(v, str) else v)
    return frame if out is None else out


def mask_figure_texts(fig, min_cell_count: int) -> int:
    """Apply :func:`mask_counts_in_text` to every text of a matplotlib figure; return how many changed.

    Run on each figure before it is saved, so a label or message built from a model's failure
    (``"7 events or non-events are too few"``) cannot publish a small count.
    """
    if int(min_cell_count) <= 1:
        return 0
    changed = 0
    for artist in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "set_text")):
        text = artist.get_text()
        masked = mask_counts_in_text(text, min_cell_count) if isinstance(text, str) else text
        if masked != text:
            artist.set_text(masked)
            changed += 1
    return changed


def masked_label(min_cell_count: int) -> str:
    """The text shown instead of a small count."""
    return f"<{int(min_cell_count)}"


def format_count(n, min_cell_count: int) -> str:
    """Return a count as text, ``"<k"`` when it is below the threshold (and not zero)."""
    if isinstance(n, str):  # already masked (a table masked by its declaration)
        return n
    if n is None or (isinstance(n, float) and np.isnan(n)):
        return "NA"
    n = int(n)
    return masked_label(min_cell_count) if 0 < n < min_cell_count else f"{n:,}"


def count_columns(frame: pd.DataFrame) -> list[str]:
    """Return the columns whose *names* look like counts (``n``, ``n_*``, ``*_n``, ``count``, ``events``).

    Only for free-form display tables (validation findings); saved tables are masked by their
    declaration (:func:`mask_declared`).
    """
    return [
        c
        for c in frame.columns
        if _COUNT.match(str(c)) and c not in _NOT_COUNTS and pd.api.types.is_numeric_dtype(frame[c])
    ]


def _is_small(value, k: int) -> bool:
    return value is not None and not pd.isna(value) and 1 <= value <= k - 1


# ------------------------------------------------------------------------------------------------
# the intruder's arithmetic: interval bounds from additive relations

Cell = tuple[int, str]


@dataclass(frozen=True)
class _Relation:
    parts: tuple[Cell, ...]
    totals: tuple[Cell, ...]  # cells all holding the total (repeated on each row of a group); may be empty
    known_total: float | None  # the total when it is not a cell of this table
    name: str


def relation_intervals(
    values: Mapping[Cell, float],
    bounds: Mapping[Cell, tuple[float, float]],
    relations,
    *,
    max_rounds: int = 50,
) -> dict[Cell, tuple[float, float]]:
    """Tighten the intervals of hidden cells by solving every additive relation, until stable.

    Parameters
    ----------
    values : mapping of cell to float
        The true value of every cell (only published cells' values are used).
    bounds : mapping of cell to (low, high)
        The interval an intruder knows for each *hidden* cell (``[1, k − 1]`` for ``"<k"``,
        ``[0, inf]`` for ``"masked"``); cells not in it are published (exact).
    relations : iterable of _Relation
        ``sum(parts) = total``.

    Returns
    -------
    dict of cell to (low, high)
        Interval of every hidden cell after propagation (integers: bounds rounded inwards).

    Notes
    -----
    For ``sum_i x_i = T`` with ``x_i ∈ [l_i, h_i]`` and ``T ∈ [L, H]``:
    ``x_i ≥ L − Σ_{j≠i} h_j`` and ``x_i ≤ H − Σ_{j≠i} l_j``; ``L ≥ Σ l_i``, ``H ≤ Σ h_i``
    (Hundepool et al. 2012, §4.2: the "feasibility interval" of a suppressed cell; this is its
    constraint-propagation relaxation, exact for a single relation).
    """
    iv = {c: (float(b[0]), float(b[1])) for c, b in bounds.items()}

    def get(c):
        return iv[c] if c in iv else (float(values[c]), float(values[c]))

    for _ in range(max_rounds):
        changed = False
        for rel in relations:
            if rel.totals:
                tl = max(get(c)[0] for c in rel.totals)
                th = min(get(c)[1] for c in rel.totals)
            else:
                tl = th = float(rel.known_total)
            parts = [get(c) for c in rel.parts]
            sum_lo = sum(p[0] for p in parts)
            n_inf = sum(not math.isfinite(p[1]) for p in parts)
            finite_hi = sum(p[1] for p in parts if math.isfinite(p[1]))
            sum_hi = finite_hi if n_inf == 0 else math.inf
            for c, (lo, hi) in zip(rel.parts, parts):
                if c not in iv:
                    continue
                own_inf = not math.isfinite(hi)
                others_hi = math.inf if n_inf - own_inf > 0 else finite_hi - (0 if own_inf else hi)
                new_lo = max(lo, math.ceil(tl - others_hi - 1e-9)) if math.isfinite(others_hi) else lo
                new_hi = min(hi, math.floor(th - (sum_lo - lo) + 1e-9)) if math.isfinite(th) else hi
                if (new_lo, new_hi) != (lo, hi):
                    iv[c] = (new_lo, new_hi)
                    changed = True
            for c in rel.totals:
                if c not in iv:
                    continue
                lo, hi = iv[c]
                new = (
                    max(lo, math.ceil(sum_lo - 1e-9)),
                    min(hi, math.floor(sum_hi + 1e-9)) if math.isfinite(sum_hi) else hi,
                )
                if new != (lo, hi):
                    iv[c] = new
                    changed = True
        if not changed:
            break
    return iv


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def relations_of(frame: pd.DataFrame, decl: TableDisclosure) -> list[_Relation]:
    """The additive relations a table's declaration states, over its count cells ``(row, column)``."""
    rels = []
    idx = list(range(len(frame)))
    have = set(frame.columns)
    for total, parts in decl.row_sums:
        if not set(parts) <= have or (total and total not in have):
            continue
        for i in idx:
            cells = tuple((i, p) for p in parts if pd.notna(_numeric(frame, p).iloc[i]))
            if not cells:
                continue
            if not total:
                known = float(sum(_numeric(frame, p).iloc[i] for _, p in cells))
                rels.append(_Relation(cells, (), known, f"row {i}: {' + '.join(parts)} (total known)"))
            elif pd.notna(_numeric(frame, total).iloc[i]):
                rels.append(_Relation(cells, ((i, total),), None, f"row {i}: {total} = {' + '.join(parts)}"))
    for g in decl.group_sums:
        needed = (
            {g.column, *g.by} | ({g.total} if g.total else set()) | ({g.total_where[0]} if g.total_where else set())
        )
        if not needed <= have:
            continue
        values = _numeric(frame, g.column)
        keys = [tuple(frame[b].iloc[i] for b in g.by) for i in idx] if g.by else [()] * len(idx)
        groups: dict = {}
        for i, key in zip(idx, keys):
            if pd.notna(values.iloc[i]):
                groups.setdefault(key, []).append(i)
        for key, rows in groups.items():
            parts = tuple((i, g.column) for i in rows)
            if g.total_where is not None:
                col, level = g.total_where
                tot = tuple((i, g.column) for i in rows if frame[col].iloc[i] == level)
                parts = tuple(c for c in parts if c not in tot)
                if tot and parts:
                    rels.append(_Relation(parts, tot, None, f"{g.column} by {key} = {level} row"))
                continue
            if g.total:
                totals = tuple((i, g.total) for i in rows)
                rels.append(_Relation(parts, totals, None, f"{g.column} by {key} = {g.total}"))
            else:
                rels.append(_Relation(parts, (), float(values.iloc[rows].sum()), f"{g.column} by {key} (total known)"))
    if decl.flow and {"kind", "stage", "n_patients", "n_transfers"} <= have:
        rels += _flow_relations(frame)
    if decl.crosstab:
        num = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        for i in idx:
            cells = tuple((i, c) for c in num)
            rels.append(_Relation(cells, (), float(sum(frame[c].iloc[i] for c in num)), f"row {i} margin"))
        for c in num:
            cells = tuple((i, c) for i in idx)
            rels.append(_Relation(cells, (), float(frame[c].sum()), f"column {c} margin"))
    return rels


def _flow_relations(frame: pd.DataFrame) -> list[_Relation]:
    """Additive relations of a flow log (see :attr:`TableDisclosure.flow`)."""
    rels = []
    kind = frame["kind"].astype(str).tolist()
    stage = frame["stage"].astype(str).tolist()
    for i in range(len(kind)):
        opens_stage = kind[i] == "excluded" and i > 0 and stage[i - 1] != stage[i]
        if kind[i] != "included" and not opens_stage:
            continue
        j = i + 1 if kind[i] == "included" else i
        excluded = []
        while j < len(kind) and kind[j] == "excluded" and stage[j] == stage[i]:
            excluded.append(j)
            j += 1
        if j >= len(kind) or not excluded:
            continue
        if kind[i] == "included":
            for col in ("n_patients", "n_transfers"):
                parts = tuple((r, col) for r in [*excluded, j])
                rels.append(_Relation(parts, ((i, col),), None, f"flow row {i}: {col}"))
        else:
            base = max((r for r in range(i) if kind[r] == "included" and stage[r] == "analysed"), default=None)
            if base is not None:
                parts = tuple((r, "n_transfers") for r in [*excluded, j])
                rels.append(_Relation(parts, ((base, "n_transfers"),), None, f"flow stage {stage[i]}: transfers"))
    return rels


def count_cells(frame: pd.DataFrame, decl: TableDisclosure) -> dict[Cell, float]:
    """The numeric value of every count cell ``(row, column)`` the declaration names."""
    cols = (
        [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        if decl.crosstab
        else [c for c in decl.count_columns() if c in frame.columns]
    )
    out = {}
    for c in cols:
        values = _numeric(frame, c)
        for i, v in enumerate(values):
            if pd.notna(v):
                out[(i, c)] = float(v)
    return out


def _representatives(frame: pd.DataFrame, decl: TableDisclosure) -> dict[Cell, Cell]:
    """Map each copy of a repeated value (declared ``copies``) to the first cell holding it."""
    rep: dict[Cell, Cell] = {}
    for col, by in decl.copies:
        if col not in frame.columns or not set(by) <= set(frame.columns):
            continue
        first: dict = {}
        for i in range(len(frame)):
            key = tuple(frame[b].iloc[i] for b in by)
            rep[(i, col)] = first.setdefault(key, (i, col))
    return rep


def _canonical(relations: list[_Relation], rep: Mapping[Cell, Cell]) -> list[_Relation]:
    """Relations over representative cells, each once."""
    out, seen = [], set()
    for rel in relations:
        parts = tuple(rep.get(c, c) for c in rel.parts)
        totals = tuple(dict.fromkeys(rep.get(c, c) for c in rel.totals))
        key = (tuple(sorted(parts)), tuple(sorted(totals)), rel.known_total)
        if key in seen or len(set(parts)) != len(parts):
            continue
        seen.add(key)
        out.append(_Relation(parts, totals, rel.known_total, rel.name))
    return out


def _linked(cell: Cell, relations: list[_Relation]) -> set[Cell]:
    """Cells that hold the same published total as ``cell`` (all hidden together)."""
    for rel in relations:
        if cell in rel.totals:
            return set(rel.totals)
    return {cell}


# ------------------------------------------------------------------------------------------------
# masking a declared table


def nested_differences(frame: pd.DataFrame, decl: TableDisclosure, k: int) -> list[tuple[int, str, float, str]]:
    """Cells of rows nested in the declared reference row whose difference from it is small.

    For each count column (and each count with a denominator, its complement), a non-reference
    row whose value differs from the reference row's by 1 … k − 1 is returned: that difference
    counts the people, transfers or events the row's population leaves out (or adds).

    Parameters
    ----------
    frame : DataFrame
        The table (counts as numbers; text such as ``"<k"`` reads as unknown).
    decl : TableDisclosure
        Its declaration; nothing is returned without ``nested_in``.
    k : int
        Threshold.

    Returns
    -------
    list of (int, str, float, str)
        ``(row position, count column, difference, what differs)`` of every such cell: the
        difference of the count itself (``what`` is the column) or, when only that is small, of
        its complement (``what`` is ``"<denominator> − <count>"``).
    """
    if not decl.nested_in or decl.nested_in[0] not in frame.columns:
        return []
    key, reference = decl.nested_in
    is_reference = (frame[key].astype(str) == reference).to_numpy()
    if not is_reference.any():
        return []
    r = int(np.flatnonzero(is_reference)[0])
    found = []
    for col in (c for c in decl.counts if c in frame.columns):
        v = _numeric(frame, col).to_numpy(dtype=float)
        diff = np.abs(v - v[r])
        comp = None
        denom = decl.denominators.get(col)
        if denom in frame.columns:
            c_all = _numeric(frame, denom).to_numpy(dtype=float) - v
            comp = np.abs(c_all - c_all[r])
        for i in np.flatnonzero(~is_reference):
            if _is_small(diff[i], k):
                found.append((int(i), col, float(diff[i]), col))
            elif comp is not None and _is_small(comp[i], k):
                found.append((int(i), col, float(comp[i]), f"{denom} − {col}"))
    return found


def mask_declared(
    frame: pd.DataFrame,
    decl: TableDisclosure,
    min_cell_count: int,
    *,
    name: str = "table",
    interval_days: float = CURVE_INTERVAL_DAYS,
    hidden_totals: frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, MaskReport]:
    """Return ``frame`` masked by its declaration, with a report of what was masked.

    Parameters
    ----------
    frame : DataFrame
        A tidy table; not changed.
    decl : TableDisclosure
        What the table holds.
    min_cell_count : int
        The threshold ``k``; 0 or 1 returns the frame unchanged (same object).
    name : str
        Table name, for the report.
    interval_days : float
        Width of the time intervals of a curve table (:func:`coarsen_curves`).
    hidden_totals : frozenset of str
        Populations whose size is hidden elsewhere (the flow): every column declared in
        ``sums_to`` one of them keeps at least one hidden cell (its smallest positive one when no
        other is hidden), so its sum is not that size.

    Returns
    -------
    (DataFrame, MaskReport)

    Examples
    --------
    >>> t = pd.DataFrame({"group": ["a", "b", "c"], "n": [3, 40, 57], "total": [100] * 3})
    >>> d = TableDisclosure(counts=("n",), group_sums=(GroupSum("n", (), "total"),))
    >>> mask_declared(t, d, 10)[0]["n"].tolist()
    ['<10', 'masked', 57]
    """
    report = MaskReport(name)
    if min_cell_count <= 1:
        return frame, report
    if decl.curve:
        out = coarsen_curves(frame, min_cell_count=min_cell_count, interval_days=interval_days)
        report.curve_rows_before, report.curve_rows_after = len(frame), len(out)
        return out, report
    k = int(min_cell_count)
    raw_values = count_cells(frame, decl)
    rep = _representatives(frame, decl)
    values = {rep.get(c, c): v for c, v in raw_values.items()}
    relations = _canonical(relations_of(frame, decl), rep)
    bounds: dict[Cell, tuple[float, float]] = {}
    kind: dict[Cell, str] = {}
    for cell, v in values.items():
        if 1 <= v <= k - 1:
            bounds[cell], kind[cell] = (1, k - 1), "primary"
    for count, denom in decl.denominators.items():
        n, d = _numeric(frame, count), _numeric(frame, denom)
        for i in range(len(frame)):
            if (i, count) not in kind and _is_small(d.iloc[i] - n.iloc[i], k):
                bounds[(i, count)], kind[(i, count)] = (0, math.inf), "complement"
    # rows nested in a reference row: their differences from it are counts too
    for i, count, _, _ in nested_differences(frame, decl, k):
        cell = rep.get((i, count), (i, count))
        if cell not in kind:
            bounds[cell], kind[cell] = (0, math.inf), "complement"  # a complement within the reference row
    # a column that adds up to a population whose size must stay hidden keeps a hidden cell
    for col in (c for c, population in decl.sums_to.items() if population in hidden_totals and c in frame.columns):
        cells = [(i, col) for i in range(len(frame)) if rep.get((i, col), (i, col)) in values]
        if cells and not any(rep.get(c, c) in kind for c in cells):
            positive = [c for c in cells if values[rep.get(c, c)] > 0]
            if positive:
                smallest = min(positive, key=lambda c: (values[rep.get(c, c)], c))
                bounds[rep.get(smallest, smallest)], kind[rep.get(smallest, smallest)] = (0, math.inf), "secondary"
    # a hidden total hides every copy of it
    for cell in list(kind):
        for other in _linked(cell, relations) - {cell}:
            if other not in kind:
                bounds[other], kind[other] = (0, math.inf), "secondary"
    # secondary suppression: while some hidden cell is pinned, hide the cheapest protector
    given_up: set[Cell] = set()
    for _ in range(10 * max(1, len(values))):
        iv = relation_intervals(values, bounds, relations)
        pinned = [c for c, (lo, hi) in iv.items() if lo >= hi and c not in given_up]
        if not pinned:
            break

        def exposure(rel):
            return sum(c in kind for c in (*rel.parts, *rel.totals))

        def mine(cell):
            return sorted((rel for rel in relations if cell in rel.parts or cell in rel.totals), key=exposure)

        # the pinned cell most directly exposed (alone in a relation) first, primary cells first;
        # it is protected inside that relation with its smallest positive published cell
        cell = min(
            pinned,
            key=lambda c: (min((exposure(r) for r in mine(c)), default=0), kind.get(c) != "primary", c),
        )
        candidates = []
        for rel in mine(cell):
            candidates = [c for c in (*rel.parts, *rel.totals) if c not in kind and values.get(c, 0) > 0]
            if candidates:
                break
        if not candidates:
            report.unprotectable.append(f"row {cell[0]} column {cell[1]}")
            given_up.add(cell)  # nothing left to hide around it: the audit reports it
            continue
        pick = min(candidates, key=lambda c: (values[c], c))
        for c in _linked(pick, relations):
            bounds[c], kind[c] = (0, math.inf), "secondary"
    members: dict[Cell, list[Cell]] = {}
    for c, r in rep.items():
        members.setdefault(r, []).append(c)
    kind = {m: why for c, why in kind.items() for m in members.get(c, [c])}
    out = frame.copy()
    label = masked_label(k)
    hidden_rows: dict[str, set[int]] = {}
    for i, c in kind:
        hidden_rows.setdefault(c, set()).add(i)
    for c in {c for _, c in kind}:
        out[c] = out[c].astype(object)
    for (i, c), why in kind.items():
        out.iloc[i, out.columns.get_loc(c)] = label if why == "primary" else SUPPRESSED
    report.primary = sum(w == "primary" for w in kind.values())
    report.complement = sum(w == "complement" for w in kind.values())
    report.secondary = sum(w == "secondary" for w in kind.values())
    for col, sources in [(c, s) for c, s in decl.derived.items() if c in frame.columns]:
        rows = set().union(*(hidden_rows.get(s, set()) for s in sources)) if sources else set()
        # a row derives from its counts only where it has them all (Table 1's continuous rows
        # carry an n but no count: their mean is not derived from the count)
        present = [s for s in sources if s in frame.columns]
        rows = {i for i in rows if pd.notna(frame[col].iloc[i]) and all(pd.notna(frame[s].iloc[i]) for s in present)}
        if rows:
            out[col] = out[col].astype(object)
            for i in sorted(rows):
                out.iloc[i, out.columns.get_loc(col)] = SUPPRESSED
            report.derived += len(rows)
    for col, denom in [(c, d) for c, d in decl.proportions.items() if c in frame.columns and d in frame.columns]:
        scale = 0.01 if str(col).startswith("percent") else 1.0
        implied = (_numeric(frame, col) * scale * _numeric(frame, denom)).round()
        d = _numeric(frame, denom)
        rows = [
            i for i in range(len(frame)) if _is_small(implied.iloc[i], k) or _is_small(d.iloc[i] - implied.iloc[i], k)
        ]
        rows += [i for i in hidden_rows.get(denom, set()) if i not in rows and pd.notna(frame[col].iloc[i])]
        if rows:
            out[col] = out[col].astype(object)
            for i in rows:
                out.iloc[i, out.columns.get_loc(col)] = SUPPRESSED
            report.derived += len(rows)
    if decl.extremes:
        n = _numeric(frame, decl.extremes_n)
        for col, tail in [(c, t) for c, t in decl.extremes.items() if c in frame.columns]:
            rows = [i for i in range(len(frame)) if pd.notna(frame[col].iloc[i]) and not (tail * n.iloc[i] >= k)]
            if rows:
                out[col] = out[col].astype(object)
                for i in rows:
                    out.iloc[i, out.columns.get_loc(col)] = SUPPRESSED
                report.extremes += len(rows)
    return out, report


# ------------------------------------------------------------------------------------------------
# curves


@dataclass(frozen=True)
class CurveCoarsening:
    """The rule that coarsened the curves of a run (stated in captions and the report)."""

    min_cell_count: int
    interval_days: int = CURVE_INTERVAL_DAYS


def _coarsen_one(g: pd.DataFrame, k: int, width: float) -> pd.DataFrame:
    g = g.sort_values("time_days", kind="stable")
    t = g["time_days"].to_numpy(float)
    at_risk = pd.to_numeric(g["n_at_risk"], errors="coerce").to_numpy(float)
    events = pd.to_numeric(g["n_events"], errors="coerce").fillna(0).to_numpy(float)
    if not len(g):
        return g.iloc[0:0]
    start_row = g.iloc[[0]].copy()
    start_row["time_days"] = 0.0
    start_row["n_events"] = 0
    if float(start_row["estimate"].iloc[0]) != 0.0:  # events at the first time: the curve starts at 0
        start_row[["estimate", "conf_low", "conf_high"]] = 0.0
    first_n = at_risk[0]
    rows = [start_row] if first_n >= k else []
    if not rows:
        return g.iloc[0:0]
    bins = np.ceil(np.maximum(t, 1e-9) / width).astype(int)  # interval (w(b-1), wb]
    order = sorted(set(bins))
    # per interval: first row (its at-risk count), events, last row (its estimate)
    first = {b: int(np.flatnonzero(bins == b)[0]) for b in order}
    last = {b: int(np.flatnonzero(bins == b)[-1]) for b in order}
    ev = {b: float(events[bins == b].sum()) for b in order}
    j = 0
    while j < len(order):
        n_start = at_risk[first[order[j]]]
        if not n_start >= k:
            break
        e, end = 0.0, j
        published = False
        while end < len(order):
            e += ev[order[end]]
            nxt = at_risk[first[order[end + 1]]] if end + 1 < len(order) else None
            if e >= k:
                if nxt is None or nxt < k:  # the curve ends here: what remains is never shown
                    published = True
                    break
                other = n_start - nxt - e  # censored (and competing) exits of the merged interval
                if other == 0 or other >= k:
                    published = True
                    break
            end += 1
        if not published:
            break
        row = g.iloc[[last[order[end]]]].copy()
        row["time_days"] = float(order[end] * width)
        row["n_at_risk"] = int(n_start)
        row["n_events"] = int(e)
        rows.append(row)
        j = end + 1
        if nxt is None or nxt < k:
            break
    out = pd.concat(rows, ignore_index=True)
    out["n_at_risk"] = out["n_at_risk"].astype("int64")
    out["n_events"] = out["n_events"].astype("int64")
    return out


def coarsen_curves(
    curves: pd.DataFrame, *, min_cell_count: int, interval_days: float = CURVE_INTERVAL_DAYS
) -> pd.DataFrame:
    """Return step curves coarsened so that no count below ``k`` can be read or recomputed.

    Each group's curve is cut into intervals of ``interval_days`` (``(0, w]``, ``(w, 2w]``, …);
    consecutive intervals are merged until the merged one holds at least ``k`` events and its
    other exits (censored or competing: at risk at its start − at risk at the next start −
    events) are 0 or at least ``k``; the curve stops before the first interval that starts with
    fewer than ``k`` at risk, or whose events never reach ``k``. One row per merged interval:
    ``time_days`` its end, ``estimate`` and limits the curve's value at that end, ``n_at_risk``
    the number at risk at its start (the first time in it), ``n_events`` its events; plus a row at
    time 0. With ``min_cell_count`` 0 or 1 the curves are returned unchanged.

    Parameters
    ----------
    curves : DataFrame
        ``survival.csv`` form: group, time_days, estimate, conf_low, conf_high, n_at_risk,
        n_events, one row per time (event or censoring).
    min_cell_count : int
    interval_days : float
        Width of the time intervals.

    Returns
    -------
    DataFrame
        Same columns.
    """
    if min_cell_count <= 1:
        return curves
    k = int(min_cell_count)
    parts = [_coarsen_one(g, k, float(interval_days)) for _, g in curves.groupby("group", sort=False)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return curves.iloc[0:0]
    return pd.concat(parts, ignore_index=True)[list(curves.columns)]


def at_risk_from_curves(curves: pd.DataFrame, *, interval_days: float = CURVE_INTERVAL_DAYS) -> pd.DataFrame:
    """Numbers at risk of coarsened curves for a figure's at-risk row: each count at the start of its
    interval (shown under every tick inside that interval), and a blank from each curve's end on
    (nothing beyond the cut is shown)."""
    rows = []
    for group, g in curves.groupby("group", sort=False):
        g = g.sort_values("time_days", kind="stable")
        times = g["time_days"].to_numpy(float)
        starts = np.r_[0.0, times[:-1]]
        for s, n in zip(starts, g["n_at_risk"]):
            rows.append({"group": group, "time_days": s, "n_at_risk": n})
        rows.append({"group": group, "time_days": times[-1], "n_at_risk": np.nan})  # the curve ends here
    frame = pd.DataFrame(rows, columns=["group", "time_days", "n_at_risk"])
    return frame.drop_duplicates(["group", "time_days"], keep="last").reset_index(drop=True)


def curve_rule_statement(min_cell_count: int, interval_days: float = CURVE_INTERVAL_DAYS) -> str:
    """A sentence stating how curves were coarsened (empty with no disclosure control)."""
    if min_cell_count <= 1:
        return ""
    return (
        f"Curves are shown in {interval_days:g}-day intervals merged until each holds at least "
        f"{min_cell_count} events and its censored exits are 0 or at least {min_cell_count}, and stop "
        f"where fewer than {min_cell_count} remain at risk."
    )


# ------------------------------------------------------------------------------------------------
# free-form tables (legacy name rule) and estimates


def _block_ends(ordered_score: np.ndarray, tp: np.ndarray, fp: np.ndarray, k: int) -> np.ndarray:
    """End positions (exclusive) of consecutive blocks of the rows sorted by score (descending),
    each holding at least ``k`` events and ``k`` non-events, cut only between distinct scores; a
    short last block is merged into the one before it. ``tp`` and ``fp`` are the cumulative
    events and non-events of the sorted rows, each starting with 0."""
    n = len(ordered_score)
    cuts = np.flatnonzero(np.r_[ordered_score[1:] != ordered_score[:-1], True]) + 1  # ties stay together
    ends, last_tp, last_fp = [], 0.0, 0.0
    for end in cuts:  # loops over distinct scores, cut points only
        if tp[end] - last_tp >= k and fp[end] - last_fp >= k:
            ends.append(end)
            last_tp, last_fp = tp[end], fp[end]
    if not ends:
        ends = [n]
    elif ends[-1] != n:
        ends[-1] = n  # the remainder is short: it joins the last full block
    return np.asarray(ends, dtype=int)


def coarse_roc_points(score, y, min_cell_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the vertices (1 − specificity, sensitivity) of an ROC curve that reveals no count below ``k``.

    The exact (empirical) ROC curve moves one patient at a time: with the numbers of events and
    non-events known, each vertex gives the true and false positives above a threshold, so a
    curve step is a count of patients (one or a few). With ``min_cell_count`` ``k > 1`` the
    vertices are placed only where, since the last vertex, at least ``k`` events and ``k``
    non-events have passed (between distinct scores), and straight segments join them (the ROC
    of the score grouped into those blocks). Every count an intruder can derive (the
    patients between two vertices, above a vertex or below it) is then 0 or at least ``k``.
    With ``k`` 0 or 1 every patient is a step (the empirical curve).

    Parameters
    ----------
    score : array-like
        Predicted scores (higher: more likely an event).
    y : array-like
        Outcome, 0/1.
    min_cell_count : int

    Returns
    -------
    (ndarray, ndarray)
        False positive rate and true positive rate, from (0, 0) to (1, 1).

    Examples
    --------
    >>> fpr, tpr = coarse_roc_points([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 1, 0, 1, 0, 0], 2)
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 1.0], [0.0, 1.0])
    """
    score, y = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    order = np.argsort(-score, kind="stable")
    tp, fp = np.r_[0, np.cumsum(y[order])], np.r_[0, np.cumsum(1 - y[order])]
    if min_cell_count > 1:
        keep = np.r_[0, _block_ends(score[order], tp, fp, min_cell_count)]
    else:
        keep = np.arange(len(y) + 1)
    return fp[keep] / max(fp[-1], 1), tp[keep] / max(tp[-1], 1)


def calibration_groups(p, y, groups: int, min_cell_count: int) -> np.ndarray:
    """Return a group label per row for a grouped calibration plot: quantile groups of ``p``
    (``groups`` of them), adjacent ones merged in order of ``p`` until each holds at least ``k``
    events and ``k`` non-events (its observed proportion times its size is then never a count
    below ``k``).

    Parameters
    ----------
    p : array-like
        Predicted probabilities.
    y : array-like
        Outcome, 0/1.
    groups : int
        Quantile groups before merging (deciles: 10).
    min_cell_count : int

    Returns
    -------
    ndarray of int
        Group of each row, 0 … g − 1 in order of ``p`` (a single group 0 when the data hold fewer
        than ``k`` events or non-events in all).
    """
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    rank = pd.Series(p).rank(method="first").to_numpy()
    labels = np.minimum(((rank - 1) * groups / len(p)).astype(int), groups - 1)
    if min_cell_count <= 1:
        return labels
    events = np.bincount(labels, weights=y, minlength=groups)
    sizes = np.bincount(labels, minlength=groups)
    merged, current, pos, neg = np.zeros(groups, dtype=int), 0, 0.0, 0.0
    for g in range(groups):  # at most ``groups`` steps
        merged[g] = current
        pos, neg = pos + events[g], neg + sizes[g] - events[g]
        if pos >= min_cell_count and neg >= min_cell_count:
            current, pos, neg = current + 1, 0.0, 0.0
    if pos or neg:  # a short remainder joins the group before it
        merged[merged == current] = max(current - 1, 0)
    return merged[labels]


def mask_table(frame: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Return a free-form display table with small counts (by column name) and their rows' percentages masked.

    For tables that are displayed but not saved through the contract (validation findings,
    status counts); saved tables are masked by :func:`mask_declared`. The input is not changed.
    With ``min_cell_count`` 0 or 1 the frame is returned unchanged.
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


def mask_estimates(
    frame: pd.DataFrame,
    min_cell_count: int,
    population_sizes: Mapping[tuple[str, str], tuple[int, int, int]] | None = None,
) -> pd.DataFrame:
    """Return estimates with model counts below the threshold set to NA (the file stays numeric).

    ``n_events`` is also left empty when the non-events ``n_obs − n_events`` are fewer than ``k``.
    With ``population_sizes`` (``(population, outcome)`` → rows of the whole analysed
    population, their events, and the rows before those with an unknown outcome were left out,
    as the flow publishes them), a model that leaves out fewer than ``k`` of either (complete
    cases, a sensitivity subset, unknown outcomes) has its ``n_obs`` left empty, and its
    ``n_events`` when the events or non-events left out are fewer than ``k``: the difference
    from the flow or from the unadjusted model of the same population would otherwise count
    the rows left out.
    """
    if min_cell_count <= 1:
        return frame
    out = frame.copy()
    k = min_cell_count
    obs = pd.to_numeric(out["n_obs"], errors="coerce") if "n_obs" in out else None
    events = pd.to_numeric(out["n_events"], errors="coerce") if "n_events" in out else None
    hidden = {}
    for c in ("n_obs", "n_events", "n_clusters"):
        if c in out:
            values = pd.to_numeric(out[c], errors="coerce")
            hide = values.between(1, k - 1)
            if c == "n_events" and obs is not None:
                hide |= (obs - events).between(1, k - 1)
            hidden[c] = hide
    if population_sizes and obs is not None and {"population", "outcome"} <= set(out.columns):
        keys = list(zip(out["population"].astype(str), out["outcome"].astype(str)))
        sizes = pd.DataFrame(
            [population_sizes.get(key, (np.nan, np.nan, np.nan)) for key in keys],
            index=out.index,
            columns=["n", "events", "before"],
            dtype=float,
        )
        full_n, full_e = sizes["n"], sizes["events"]
        hidden["n_obs"] |= (full_n - obs).between(1, k - 1) | (sizes["before"] - obs).between(1, k - 1)
        if events is not None:
            left_events = full_e - events
            left_non_events = (full_n - full_e) - (obs - events)
            hidden["n_events"] |= left_events.between(1, k - 1) | left_non_events.between(1, k - 1)
    for c, hide in hidden.items():
        out[c] = out[c].where(~hide, pd.NA)
    return hide_close_model_counts(out, k)


def hide_close_model_counts(frame: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Return estimates where no two models of one population differ by fewer than ``k`` rows.

    Models of the same population and outcome use nested sets of its rows (complete cases of
    different covariate sets, the weighted model's rows with a propensity score), so the
    difference of two published ``n_obs`` counts the rows one leaves out, wherever the two
    models were saved (another notebook's included). Within each (population, outcome), the
    distinct model sizes are taken from the largest down; a size within ``k − 1`` of one already
    kept is hidden (NA) in every row that shows it. ``n_events`` is treated the same way, and is
    also hidden when its non-events are within ``k − 1`` of a kept model's. The result depends
    only on the set of rows, not on the order the notebooks saved them, so the runner applies it
    once to the finished ``estimates.csv``. Only model-level counts are considered (a model whose
    rows show different ``n_obs``, such as per-stratum sizes, is left alone).

    Parameters
    ----------
    frame : DataFrame
        Rows of ``estimates.csv`` (``notebook``, ``model_id``, ``population``, ``outcome``,
        ``n_obs``, ``n_events``).
    min_cell_count : int

    Returns
    -------
    DataFrame
        A copy with the hidden counts set to NA (``frame`` itself when nothing is to do).
    """
    k = int(min_cell_count)
    needed = {"notebook", "model_id", "population", "outcome", "n_obs", "n_events"}
    if k <= 1 or not needed <= set(frame.columns) or not len(frame):
        return frame
    out = frame.copy()
    obs = pd.to_numeric(out["n_obs"], errors="coerce")
    events = pd.to_numeric(out["n_events"], errors="coerce")
    model = out["notebook"].astype(str) + "\x1f" + out["model_id"].astype(str)
    model_level = obs.groupby(model).transform("nunique").le(1) & events.groupby(model).transform("nunique").le(1)
    hide_obs = pd.Series(False, index=out.index)
    hide_events = pd.Series(False, index=out.index)
    for _, g in out[model_level].groupby([out["population"].astype(str), out["outcome"].astype(str)], sort=True):
        sizes = obs[g.index]
        kept: list[float] = []
        for v in sorted(sizes.dropna().unique(), reverse=True):
            if any(1 <= abs(v - u) <= k - 1 for u in kept):
                hide_obs[g.index[sizes.to_numpy() == v]] = True
            else:
                kept.append(v)
        pairs = (
            pd.DataFrame({"e": events[g.index], "n": obs[g.index].where(~hide_obs[g.index])})
            .dropna(subset=["e"])
            .drop_duplicates()
            .sort_values(["n", "e"], ascending=False, na_position="last")
        )
        kept_pairs: list[tuple[float, float]] = []
        for e, n in zip(pairs["e"], pairs["n"]):
            close = any(
                1 <= abs(e - ke) <= k - 1 or (pd.notna(n) and pd.notna(kn) and 1 <= abs((n - e) - (kn - ke)) <= k - 1)
                for ke, kn in kept_pairs
            )
            rows = g.index[(events[g.index].to_numpy() == e)]
            if close:
                hide_events[rows] = True
            else:
                kept_pairs.append((e, n))
    if not (hide_obs.any() or hide_events.any()):
        return frame
    out["n_obs"] = out["n_obs"].where(~hide_obs, pd.NA)
    out["n_events"] = out["n_events"].where(~hide_events, pd.NA)
    return out


def rule_statement(min_cell_count: int) -> str:
    """A sentence for reports saying whether and how small counts were masked."""
    if min_cell_count <= 1:
        return "No disclosure control was applied (min_cell_count = 0): every count is shown."
    return (
        f"Disclosure control: every count from 1 to {min_cell_count - 1} is shown as "
        f'"{masked_label(min_cell_count)}"; cells from which such a count could be recomputed (a '
        f"complement within its total, the other cells of a total, percentages, risks and rates of a "
        f'hidden count, extreme values of fewer than {min_cell_count} people) are shown as "{SUPPRESSED}"; '
        f"in estimates.csv such model counts are left empty. " + curve_rule_statement(min_cell_count)
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
    """Return a cross-tabulation (every numeric cell a count) masked with secondary suppression."""
    return mask_declared(frame, TableDisclosure(crosstab=True), min_cell_count, name="crosstab")[0]
