"""The intruder: every way this project knows to get a count below the threshold out of a run.

:func:`audit_run` reads a finished run folder as an outsider would (tables, captions, the text of
SVG figures and their numbers at risk, the executed notebooks' outputs, the report) and tries
each recovery route on everything:

``direct``
    a count column (by the table's declaration, or by name) holding 1 … k − 1;
``complement``
    a published count and its published denominator whose difference is 1 … k − 1;
``totals minus the rest``
    a hidden cell pinned to one value by the additive relations of its table (row sums, group
    totals, cross-tabulation margins; :func:`analysis.output.disclosure.relation_intervals`);
``n × p``
    a published proportion, percentage or risk times a published denominator giving (to
    within rounding of the CSV) an integer 1 … k − 1 that the table hides or never shows;
``curve step``
    in a curve table, the events of a step recomputed from the estimate and the number at risk
    (``d = n (1 − S(t)/S(t−))``), and the censored exits between two rows
    (``n_i − n_{i+1} − d_i``);
``at-risk row``
    a number at risk drawn in a figure (SVG ``at-risk-number``) that is 1 … k − 1;
``nested populations``
    the difference between the counts of two models of the same outcome in nested populations
    (first transfers within all transfers; a sensitivity set within the main analysis; an
    adjusted model's complete cases within the unadjusted model's rows of the same population);
``linked tables``
    a cell the flow (``exclusions.csv``) hides, put back from another table that publishes the
    same number (an unadjusted model's ``n_obs`` is the flow's analysed population), after which
    the flow's own relations give a small exclusion;
``text``
    a count written as ``n = 5``, ``5 patients``, ``(5)`` or ``5 (3.3%)`` in a caption, an SVG
    text, a notebook output or the report.

Each recovered count is one row of the returned frame with its source and route; an empty frame
is the verdict "nothing recovered". ``python -m analysis audit RUN_DIR`` runs it for users.

References
----------
Hundepool A, et al. *Statistical Disclosure Control*. Wiley, 2012, ch. 4–5 (disclosure by
differencing, by derived values and from the structure of linked tables).
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import pandas as pd

from analysis.core.exceptions import DisclosureError
from analysis.output.declarations import declaration_for
from analysis.output.disclosure import (
    COUNT_IN_TEXT,
    FLOW_POPULATIONS,
    SUPPRESSED,
    TableDisclosure,
    count_cells,
    masked_label,
    nested_differences,
    relation_intervals,
    relations_of,
)

__all__ = ["FINDING_COLUMNS", "audit_run", "audit_table", "audit_text", "verdict_statement"]

FINDING_COLUMNS = ["source", "location", "route", "value", "detail"]

_COUNT_NAME = re.compile(r"^(n|count|events|n_.+|.+_n|.+_count|events_.+)$")
_NOT_COUNTS = {"n_bootstrap", "n_imputations", "n_jobs", "n_failed_replicates", "n_clusters_total", "weighted_n"}
_IN_TEXT = COUNT_IN_TEXT  # the forms the masker replaces (one owner: disclosure)
_NESTED = [("first_transfer", "all_transfers")]


def _finding(source, location, route, value, detail="") -> dict:
    return {"source": source, "location": location, "route": route, "value": value, "detail": detail}


def _small(v, k: int) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and 1 <= v <= k - 1


def _near_integer(v: float) -> int | None:
    if not math.isfinite(v):
        return None
    r = round(v)
    return int(r) if abs(v - r) <= 1e-6 * max(1.0, abs(v)) else None


def _declaration(name: str) -> TableDisclosure | None:
    try:
        return declaration_for(name)
    except DisclosureError:
        return None


# ------------------------------------------------------------------------------------------------
# tables


def audit_table(frame: pd.DataFrame, name: str, k: int, decl: TableDisclosure | None = None) -> list[dict]:
    """Every count below ``k`` recoverable from one published table (cells as text).

    Parameters
    ----------
    frame : DataFrame
        The table as published, read with ``dtype=str`` (masked cells are text).
    name : str
        Its name (file stem): selects its declaration.
    k : int
        Threshold.
    decl : TableDisclosure, optional
        Declaration; by default the one registered under ``name`` (none: counts by column name).

    Returns
    -------
    list of dict
        Findings (:data:`FINDING_COLUMNS`).
    """
    decl = decl if decl is not None else _declaration(name)
    if decl is not None and decl.curve:
        return _audit_curve(frame, name, k)
    if decl is not None and decl.crosstab:
        num = frame.copy()
        cols = [c for c in frame.columns if pd.to_numeric(frame[c], errors="coerce").notna().any()]
        counts = cols
    else:
        counts = (
            decl.count_columns()
            if decl is not None
            else [c for c in frame.columns if _COUNT_NAME.match(str(c)) and c not in _NOT_COUNTS]
        )
        num = frame
    counts = [c for c in counts if c in frame.columns]
    found = []
    values = {c: pd.to_numeric(num[c].astype(str).str.replace(",", ""), errors="coerce") for c in counts}
    # direct
    for c in counts:
        for i, v in values[c].items():
            if _small(v, k):
                found.append(_finding(name, f"row {i}, {c}", "direct", int(v)))
    if decl is None:
        return found + _audit_derived_by_name(frame, name, k, values)
    # complement
    for c, d in decl.denominators.items():
        if c in values and d in values:
            for i in range(len(frame)):
                diff = values[d].iloc[i] - values[c].iloc[i]
                if _small(diff, k):
                    found.append(_finding(name, f"row {i}, {d} − {c}", "complement", int(diff)))
    # totals minus the rest
    found += _audit_relations(frame, name, k, decl, counts)
    # n × p
    hidden = {c: frame[c].astype(str).isin([masked_label(k), SUPPRESSED]) for c in counts}
    shares = [*decl.derived.items(), *((c, (d,)) for c, d in decl.proportions.items())]
    for col, sources in shares:
        if col not in frame.columns:
            continue
        p = pd.to_numeric(frame[col], errors="coerce")
        for s in sources:
            if s not in values:
                continue
            for scale in (1.0, 0.01):
                n_hat = p * values[s] * scale
                for i, v in n_hat.items():
                    r = _near_integer(v) if pd.notna(v) else None
                    if r is None:
                        continue
                    for c in sources:
                        if c == s or c not in values:
                            continue
                        if hidden[c].iloc[i] and (_small(r, k) or _small(values[s].iloc[i] - r, k)):
                            found.append(
                                _finding(name, f"row {i}, {col} × {s}", "n × p", r, f"{c} is hidden, {col} is not")
                            )
                    if len(sources) == 1 and (_small(r, k) or _small(values[s].iloc[i] - r, k)):
                        found.append(_finding(name, f"row {i}, {col} × {s}", "n × p", r))
    return found


def _audit_derived_by_name(frame, name, k, values) -> list[dict]:
    """Undeclared tables: percentages and proportions times every count column of the row."""
    found = []
    props = [c for c in frame.columns if re.search(r"(percent|proportion|risk|rate|share)", str(c))]
    for col in props:
        p = pd.to_numeric(frame[col], errors="coerce")
        for s, n in values.items():
            for scale in (1.0, 0.01):
                for i, v in (p * n * scale).items():
                    r = _near_integer(v) if pd.notna(v) else None
                    if r is not None and _small(r, k) and 0 < p.iloc[i] < (100 if scale == 0.01 else 1):
                        found.append(_finding(name, f"row {i}, {col} × {s}", "n × p", r))
    return found


def _audit_relations(frame, name, k, decl, counts) -> list[dict]:
    true_like = frame.copy()
    for c in counts:
        true_like[c] = pd.to_numeric(frame[c].astype(str).str.replace(",", ""), errors="coerce")
    hidden_cells = {}
    for c in counts:
        for i, text in frame[c].astype(str).items():
            below = re.fullmatch(r"<(\d+)", text.strip())
            if below:  # "<m": the run's own threshold, which may differ from the one audited against
                hidden_cells[(i, c)] = (1, int(below.group(1)) - 1)
            elif text == SUPPRESSED or (pd.isna(true_like.at[i, c]) and text.strip() not in ("", "nan")):
                hidden_cells[(i, c)] = (0, math.inf)
    if not hidden_cells:
        return []
    # relations are built on a frame where hidden cells hold a placeholder (never read as exact)
    placeholder = true_like.copy()
    for i, c in hidden_cells:
        placeholder.loc[i, c] = 0.0
    decl_for_relations = decl
    relations = relations_of(placeholder, decl_for_relations)
    relations = [r for r in relations if r.known_total is None or not any(c in hidden_cells for c in r.parts)]
    values = count_cells(placeholder, decl_for_relations)
    iv = relation_intervals(values, hidden_cells, relations)
    found = []
    for cell, (lo, hi) in iv.items():
        if lo == hi and _small(lo, k):
            found.append(_finding(name, f"row {cell[0]}, {cell[1]}", "totals minus the rest", int(lo)))
        elif lo == hi:
            for c, d in decl.denominators.items():
                if cell[1] == c and d in true_like:
                    comp = true_like[d].iloc[cell[0]] - lo
                    if _small(comp, k):
                        found.append(
                            _finding(name, f"row {cell[0]}, {d} − {c}", "totals minus the rest, complement", int(comp))
                        )
    return found


def _audit_curve(frame: pd.DataFrame, name: str, k: int) -> list[dict]:
    found = []
    for group, g in frame.groupby("group", sort=False):
        g = g.reset_index(drop=True)
        n = pd.to_numeric(g["n_at_risk"], errors="coerce")
        d = pd.to_numeric(g["n_events"], errors="coerce")
        est = pd.to_numeric(g["estimate"], errors="coerce")
        for i in range(len(g)):
            where = f"{group} at {g['time_days'].iloc[i]}"
            if _small(n.iloc[i], k):
                found.append(_finding(name, where, "direct (at risk)", int(n.iloc[i])))
            if _small(d.iloc[i], k):
                found.append(_finding(name, where, "direct", int(d.iloc[i])))
            if i + 1 < len(g) and pd.notna(n.iloc[i]) and pd.notna(n.iloc[i + 1]) and pd.notna(d.iloc[i]):
                censored = n.iloc[i] - n.iloc[i + 1] - d.iloc[i]
                if _small(censored, k):
                    found.append(_finding(name, where, "curve step (censored between rows)", int(censored)))
            if str(group).startswith("km:") and pd.isna(d.iloc[i]) and pd.notna(n.iloc[i]):
                s_prev, s_now = (1 - est.iloc[i - 1] if i else 1.0), 1 - est.iloc[i]
                if s_prev > 0:
                    r = _near_integer(n.iloc[i] * (1 - s_now / s_prev))
                    if r is not None and _small(r, k):
                        found.append(_finding(name, where, "curve step (n × (1 − S(t)/S(t−)))", r))
    return found


# ------------------------------------------------------------------------------------------------
# free text, figures, notebooks, report


def _audit_table_texts(frame: pd.DataFrame, source: str, k: int) -> list[dict]:
    """Counts written into the text cells of a table (messages, reasons, labels)."""
    decl = _declaration(Path(source).stem)
    counts = set(decl.count_columns()) if decl is not None else set()
    found = []
    for column in frame.columns:
        if column in counts:
            continue
        texts = [t for t in frame[column].astype(str).unique() if re.search(r"[A-Za-z]", t)]
        for text in texts:
            found += audit_text(text, source, k)
    return found


def audit_text(text: str, source: str, k: int) -> list[dict]:
    """Counts 1 … k − 1 written as counts in free text (captions, figure labels, outputs)."""
    found = []
    for pattern in _IN_TEXT:
        for m in pattern.finditer(str(text)):
            v = int(m.group(1).replace(",", ""))
            if _small(v, k):
                start = max(0, m.start() - 30)
                found.append(_finding(source, text[start : m.end() + 10].replace("\n", " "), "text", v))
    return found


_SVG_TEXT = re.compile(r"<text[^>]*>([^<]*)</text>", re.S)
_AT_RISK = re.compile(r'id="at-risk-number[^"]*">\s*<text[^>]*>([^<]*)</text>', re.S)


def _svg_texts(svg: str) -> tuple[list[str], list[str]]:
    """The texts of an SVG written with text kept as text (the project's style), and the texts of
    its numbers-at-risk annotations."""
    return [html.unescape(t) for t in _SVG_TEXT.findall(svg)], [html.unescape(t) for t in _AT_RISK.findall(svg)]


def _notebook_outputs(path: Path) -> tuple[list[str], list[pd.DataFrame]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    texts, tables = [], []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text" in out:
                texts.append("".join(out["text"]))
            # a frame's text/plain repeats its text/html table (read as a table below)
            for mime in ("text/markdown",) if "text/html" in data else ("text/plain", "text/markdown"):
                if mime in data:
                    texts.append("".join(data[mime]) if isinstance(data[mime], list) else str(data[mime]))
            if "text/html" in data:
                page = "".join(data["text/html"]) if isinstance(data["text/html"], list) else str(data["text/html"])
                tables += _html_tables(page)
    return texts, tables


_TABLE = re.compile(r"<table.*?</table>", re.S | re.I)
_ROW = re.compile(r"<tr.*?</tr>", re.S | re.I)
_CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")


def _html_tables(page: str) -> list[pd.DataFrame]:
    """Tables of an HTML page as frames of text (header = first row)."""
    out = []
    for table in _TABLE.findall(page):
        rows = [[html.unescape(_TAG.sub("", c)).strip() for c in _CELL.findall(r)] for r in _ROW.findall(table)]
        rows = [r for r in rows if r]
        if len(rows) < 2:
            continue
        width = max(len(r) for r in rows)
        rows = [r + [""] * (width - len(r)) for r in rows]
        header = [h if h else f"col{j}" for j, h in enumerate(rows[0])]
        frame = pd.DataFrame(rows[1:], columns=pd.Index(header).astype(str))
        frame = frame.loc[:, ~frame.columns.duplicated()]
        out.append(frame)
    return out


# ------------------------------------------------------------------------------------------------
# nested populations


def _audit_nested(estimates: pd.DataFrame, k: int) -> list[dict]:
    found = []
    if len(estimates):
        models = estimates.drop_duplicates(["notebook", "model_id"])[
            ["model_id", "outcome", "population", "n_obs", "n_events"]
        ]
        for inner, outer in _NESTED:
            a = models[models["population"] == inner]
            b = models[models["population"] == outer]
            for ra in a.itertuples():
                for rb in b[b["outcome"] == ra.outcome].itertuples():
                    for col in ("n_obs", "n_events"):
                        diff = pd.to_numeric(getattr(rb, col), errors="coerce") - pd.to_numeric(
                            getattr(ra, col), errors="coerce"
                        )
                        if _small(diff, k):
                            found.append(
                                _finding(
                                    "estimates.csv",
                                    f"{rb.model_id} − {ra.model_id}, {col}",
                                    "nested populations",
                                    int(diff),
                                )
                            )
    return found


def _audit_nested_rows(frame: pd.DataFrame, name: str, k: int, decl: TableDisclosure) -> list[dict]:
    """Rows nested in a reference row (``nested_in``): every difference of a count or of its
    complement from the reference row (sensitivity subsets, each centre left out in turn)."""
    key, reference = decl.nested_in
    return [
        _finding(f"{name}.csv", f"{reference} − {frame[key].iloc[i]}, {what}", "nested populations", int(diff))
        for i, _, diff, what in nested_differences(frame, decl, k)
    ]


# linked tables: the flow and the models of its populations


def _unadjusted_models(estimates: pd.DataFrame) -> set[str]:
    """Model ids whose terms are only the intercept and the arm (every analysed row is used)."""
    terms = estimates["term"].astype(str)
    plain = terms.eq("(Intercept)") | terms.str.startswith("treatment_arm[")
    return set(estimates.loc[plain, "model_id"]) - set(estimates.loc[~plain, "model_id"])


def _partition_sums(tables: dict[str, pd.DataFrame]) -> dict[str, list[tuple[str, int]]]:
    """Population → (table, sum) for every published table whose declared column adds up to it
    with no cell hidden (``sums_to`` of its declaration)."""
    sums: dict[str, list[tuple[str, int]]] = {}
    for stem, frame in tables.items():
        decl = _declaration(stem)
        for col, population in decl.sums_to.items() if decl is not None else ():
            if col not in frame.columns or not len(frame):
                continue
            values = pd.to_numeric(frame[col].astype(str).str.replace(",", ""), errors="coerce")
            if values.notna().all():
                sums.setdefault(population, []).append((f"{stem}.csv", int(values.sum())))
    return sums


def _audit_linked(
    flow: pd.DataFrame | None, estimates: pd.DataFrame, k: int, partitions: dict[str, list[tuple[str, int]]]
) -> list[dict]:
    """Complete cases within a population, and flow cells put back from other tables' counts."""
    has_flow = flow is not None and {"stage", "kind", "reason", "n_patients", "n_transfers"} <= set(flow.columns)
    found = []
    for population, (_, _, stage) in FLOW_POPULATIONS.items() if has_flow else ():  # tables partitioning it
        for table, total in partitions.get(population, []):
            found += _put_back(flow, stage, "", total, table, f"the sum of {table}", k)
    if not len(estimates):
        return found
    models = estimates.drop_duplicates(["notebook", "model_id"]).copy()
    models["n"] = pd.to_numeric(models["n_obs"], errors="coerce")
    unadjusted = _unadjusted_models(estimates)
    for (population, outcome), g in models.dropna(subset=["n"]).groupby(["population", "outcome"], sort=False):
        full = g[g["model_id"].isin(unadjusted)]
        if not len(full):
            continue
        largest = full.loc[full["n"].idxmax()]
        # an adjusted model uses the complete cases among the unadjusted model's rows
        for r in g.itertuples():
            diff = largest["n"] - r.n
            if _small(diff, k):
                found.append(
                    _finding(
                        "estimates.csv",
                        f"{largest['model_id']} − {r.model_id}, n_obs",
                        "nested populations",
                        int(diff),
                        "rows without a complete covariate set",
                    )
                )
        stage = FLOW_POPULATIONS.get(population, (None, None, None))[2]
        if stage is not None and has_flow:
            found += _put_back(
                flow, stage, outcome, int(largest["n"]), "estimates.csv", f"{largest['model_id']} n_obs", k
            )
    return found


def _put_back(flow: pd.DataFrame, stage: str, outcome: str, value: int, table: str, what: str, k: int) -> list[dict]:
    """Put ``value`` (``what``, published in ``table``) into the flow's hidden analysed cells of
    ``stage`` and audit the flow again."""
    rows = flow[(flow["stage"] == stage) & (flow["kind"] == "analysed")]
    if outcome:
        rows = rows[rows["reason"].astype(str).str.contains(f"for {outcome}", regex=False)]
    if not len(rows):
        return []
    i = rows.index[0]
    hidden = [c for c in ("n_patients", "n_transfers") if flow.loc[i, c] in (masked_label(k), SUPPRESSED)]
    if stage != "first_transfer":  # only there is a woman one row: elsewhere the value counts transfers
        hidden = [c for c in hidden if c == "n_transfers"]
    if not hidden:
        return []
    linked = flow.copy()
    for c in hidden:
        linked.loc[i, c] = str(value)
    return [
        dict(
            f,
            source=f"exclusions.csv + {table}",
            route="linked tables",
            detail=f"the flow's {stage} analysed row put back from {what}",
        )
        for f in audit_table(linked, "exclusions", k)
    ]


# ------------------------------------------------------------------------------------------------
# the whole run


def audit_run(run_dir: str | Path, *, min_cell_count: int | None = None, include_report: bool = True) -> pd.DataFrame:
    """Try every recovery route on everything a run folder publishes.

    Parameters
    ----------
    run_dir : str or Path
        A run folder (``tables/``, ``figures/``, ``notebooks/``, ``report.html``).
    min_cell_count : int, optional
        The threshold to audit against; by default the run's own (``manifest.json``).
    include_report : bool
        Read ``report.html`` too (the report itself calls this before it exists).

    Returns
    -------
    DataFrame
        One row per recovered count below the threshold (:data:`FINDING_COLUMNS`); empty when
        nothing is recovered.

    Raises
    ------
    DisclosureError
        When the folder is not a run folder or no threshold is known.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "tables").is_dir():
        raise DisclosureError(f"{run_dir} is not a run folder: it has no tables/ folder")
    if min_cell_count is None:
        manifest = run_dir / "manifest.json"
        params = json.loads(manifest.read_text()).get("parameters", {}) if manifest.exists() else {}
        min_cell_count = int(params.get("min_cell_count", 0) or 0)
    k = int(min_cell_count)
    if k <= 1:
        raise DisclosureError("no disclosure threshold to audit against: the run has min_cell_count 0; give one")
    found: list[dict] = []
    tables = {}
    for path in sorted((run_dir / "tables").glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        tables[path.stem] = frame
        if path.stem == "estimates":
            found += _audit_estimates(frame, k)
            continue
        found += [dict(f, source=path.name) for f in audit_table(frame, path.stem, k)]
        found += _audit_table_texts(frame, path.name, k)
    estimates = tables.get("estimates", pd.DataFrame())
    found += _audit_nested(estimates, k)
    for stem, frame in tables.items():
        decl = _declaration(stem)
        if decl is not None and decl.nested_in:
            found += _audit_nested_rows(frame, stem, k, decl)
    found += _audit_linked(tables.get("exclusions"), estimates, k, _partition_sums(tables))
    for path in sorted((run_dir / "figures").glob("*.txt")):
        found += audit_text(path.read_text(encoding="utf-8"), path.name, k)
    for path in sorted((run_dir / "figures").glob("*.svg")):
        texts, at_risk = _svg_texts(path.read_text(encoding="utf-8"))
        for t in texts:
            found += audit_text(t, path.name, k)
        for t in at_risk:
            v = pd.to_numeric(t.replace(",", ""), errors="coerce")
            if _small(v, k):
                found.append(_finding(path.name, "numbers at risk", "at-risk row", int(v)))
    saved_by_columns = {tuple(frame.columns): stem for stem, frame in tables.items() if stem != "estimates"}
    for path in sorted((run_dir / "notebooks").glob("*.ipynb")):
        texts, frames = _notebook_outputs(path)
        for t in texts:
            found += audit_text(t, path.name, k)
        for i, frame in enumerate(frames):
            # a notebook's display of a saved table is read with that table's declaration
            # (which count a percentage is of); any other display by the column-name rules
            shown = [c for c in frame.columns if c != "col0"]
            saved = saved_by_columns.get(tuple(shown), "")
            found += [
                dict(f, source=path.name, location=f"table {i}: {f['location']}")
                for f in audit_table(frame[shown] if saved else frame, saved, k, None)
            ]
    if include_report and (run_dir / "report.html").exists():
        page = (run_dir / "report.html").read_text(encoding="utf-8")
        found += audit_text(_TAG.sub(" ", page), "report.html", k)
    found += _audit_results_draft(run_dir, k)
    out = pd.DataFrame(found, columns=FINDING_COLUMNS)
    return out.drop_duplicates().reset_index(drop=True)


def _audit_results_draft(run_dir: Path, k: int) -> list[dict]:
    """The drafted Results: its text, and every number its keys file declares a count."""
    found = []
    md, keys = run_dir / "results_draft.md", run_dir / "results_draft_keys.csv"
    if md.exists():
        found += audit_text(re.sub(r"\[\^K\d+\]", "", md.read_text(encoding="utf-8")), md.name, k)
    if keys.exists():
        table = pd.read_csv(keys, dtype=str, keep_default_na=False)
        for r in table[table["style"] == "count"].itertuples(index=False):
            value = r.shown.replace(",", "")
            if value.isdigit() and _small(int(value), k):
                found.append(_finding(md.name, f"{r.key}: {r.file} ({r.row}) {r.column}", "direct", int(value)))
    return found


def _audit_estimates(frame: pd.DataFrame, k: int) -> list[dict]:
    found = []
    n_obs = pd.to_numeric(frame.get("n_obs"), errors="coerce")
    n_events = pd.to_numeric(frame.get("n_events"), errors="coerce")
    for col in ("n_obs", "n_events", "n_clusters"):
        if col in frame:
            for i, v in pd.to_numeric(frame[col], errors="coerce").items():
                if _small(v, k):
                    found.append(_finding("estimates.csv", f"{frame['model_id'].iloc[i]}, {col}", "direct", int(v)))
    if n_obs is not None and n_events is not None:
        for i, v in (n_obs - n_events).items():
            if _small(v, k):
                found.append(
                    _finding("estimates.csv", f"{frame['model_id'].iloc[i]}, n_obs − n_events", "complement", int(v))
                )
    return found


def verdict_statement(findings: pd.DataFrame | None, min_cell_count: int) -> str:
    """One sentence with the audit's verdict, for the report."""
    if min_cell_count <= 1:
        return "No disclosure audit: no threshold was set."
    if findings is None:
        return "The disclosure audit could not be run."
    if not len(findings):
        return (
            f"Disclosure audit: no count from 1 to {min_cell_count - 1} could be read or recomputed from the "
            f"tables, captions, figures, numbers at risk and notebook outputs by any route tried (direct, "
            f"complement, totals minus the rest, n × p, curve steps, nested populations, text)."
        )
    routes = findings["route"].value_counts()
    return (
        f"Disclosure audit: {len(findings)} count(s) below {min_cell_count} can be recovered ("
        + ", ".join(f"{r}: {n}" for r, n in routes.items())
        + "); do not release this run."
    )
