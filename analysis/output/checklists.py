"""Reporting checklists of a run: where the run answers each item, and what the authors must add.

For each guideline of :data:`analysis.output.checklist_items.GUIDELINES` writes
``checklist_<name>.csv``, ``.html`` and ``.docx`` into the run folder (next to ``report.html``).
Every location an item names is looked up in the run folder: a file must exist, a section must
be a heading of the page (``report.html#…``, ``results_draft.md#…``), a parameter must be in the
manifest. Only locations found are listed under ``where``; the others are named under
``missing`` (a section skipped for want of a column, a table this run did not write), so a
checklist never points at something absent. :func:`check_checklists` re-reads a written checklist
and lists every location that does not resolve.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd

from analysis.output.checklist_items import GUIDELINES, ChecklistItem, Guideline
from analysis.output.results import write_table
from analysis.output.wordfiles import new_document, save_document

__all__ = [
    "CHECKLIST_COLUMNS",
    "STATUS",
    "check_checklists",
    "checklist_table",
    "heading_anchor",
    "resolve_location",
    "write_checklists",
]

CHECKLIST_COLUMNS = ["source", "item", "section", "topic", "recommendation", "status", "where", "missing", "authors"]

#: The four states of an item.
STATUS = {
    "run": "answered by the run",
    "both": "answered by the run; the authors complete it",
    "absent": "not answered by this run",
    "authors": "for the authors",
}

_SEP = "; "


def heading_anchor(title: str) -> str:
    """The anchor of a heading: lower case, runs of other characters than letters and digits as ``-``.

    >>> heading_anchor("Who benefits: the supported rule")
    'who-benefits-the-supported-rule'
    """
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _html_ids(path: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8")))


def _markdown_anchors(path: Path) -> set[str]:
    return {heading_anchor(m) for m in re.findall(r"^#+\s+(.+?)\s*$", path.read_text(encoding="utf-8"), flags=re.M)}


def _json_has(path: Path, dotted: str) -> bool:
    node = json.loads(path.read_text(encoding="utf-8"))
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def resolve_location(run_dir: str | Path, location: str) -> str | None:
    """Return the location as found in the run folder (a ``*`` replaced by the file's stem), or None.

    Parameters
    ----------
    run_dir : path
        The run folder.
    location : str
        ``path[#fragment]`` relative to the run folder (see :mod:`analysis.output.checklist_items`).

    Returns
    -------
    str or None
        The concrete location when the file exists and its fragment (section id, Markdown heading,
        JSON key) is in it; None otherwise.
    """
    run_dir = Path(run_dir)
    path, _, fragment = location.partition("#")
    matches = sorted(run_dir.glob(path)) if "*" in path else [run_dir / path]
    hits = [p for p in matches if p.is_file()]
    if not hits:
        return None
    found = hits[0]
    if fragment:
        suffix = found.suffix.lower()
        if suffix in (".html", ".htm"):
            ok = fragment in _html_ids(found)
        elif suffix == ".md":
            ok = fragment in _markdown_anchors(found)
        elif suffix == ".json":
            ok = _json_has(found, fragment)
        else:
            ok = False
        if not ok:
            return None
    rel = found.relative_to(run_dir).as_posix()
    return f"{rel}#{fragment}" if fragment else rel


def _describe_missing(location: str) -> str:
    path, _, fragment = location.partition("#")
    if path == "manifest.json" and fragment.startswith("parameters."):
        return f"plan parameter {fragment.split('.', 1)[1]}"
    if fragment:
        return f"section {fragment} of {path}"
    return path.replace("*", "…")


def _row(run_dir: Path, item: ChecklistItem) -> dict:
    found, missing = [], []
    for location in item.where:
        hit = resolve_location(run_dir, location)
        (found.append(hit) if hit else missing.append(_describe_missing(location)))
    if found:
        status = STATUS["both"] if item.authors else STATUS["run"]
    elif item.where:
        status = STATUS["absent"]
    else:
        status = STATUS["authors"]
    return {
        "source": item.source,
        "item": item.number,
        "section": item.section,
        "topic": item.topic,
        "recommendation": item.text,
        "status": status,
        "where": _SEP.join(found),
        "missing": _SEP.join(missing),
        "authors": item.authors,
    }


def checklist_table(run_dir: str | Path, guideline: Guideline) -> pd.DataFrame:
    """One row per item of ``guideline``: status, the run's locations that exist, what is missing.

    Returns
    -------
    DataFrame
        :data:`CHECKLIST_COLUMNS`; ``where`` and ``missing`` are ``"; "``-separated.
    """
    run_dir = Path(run_dir)
    return pd.DataFrame([_row(run_dir, item) for item in guideline.items], columns=CHECKLIST_COLUMNS)


def _note(row) -> str:
    parts = []
    if row["missing"]:
        parts.append(f"Not in this run: {row['missing']}.")
    if row["authors"]:
        parts.append(f"For the authors: {row['authors']}.")
    return " ".join(parts)


def _html(guideline: Guideline, table: pd.DataFrame) -> str:
    def where(cell: str) -> str:
        if not cell:
            return ""
        return "<br>".join(f'<a href="{html.escape(loc)}">{html.escape(loc)}</a>' for loc in cell.split(_SEP))

    rows = "".join(
        "<tr>"
        + f"<td>{html.escape(r['source'])} {html.escape(r['item'])}</td><td>{html.escape(r['section'])}</td>"
        + f"<td><b>{html.escape(r['topic'])}</b>: {html.escape(r['recommendation'])}</td>"
        + f"<td>{html.escape(r['status'])}</td><td>{where(r['where'])}</td><td>{html.escape(_note(r))}</td>"
        + "</tr>"
        for _, r in table.iterrows()
    )
    cites = "".join(f"<li>{html.escape(c)}</li>" for c in guideline.citations)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(guideline.title)}</title><style>"
        "body{font-family:Helvetica,Arial,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "table{border-collapse:collapse;font-size:.82rem} th,td{border-bottom:1px solid #ddd;padding:.25rem .5rem;"
        "text-align:left;vertical-align:top} .footnote{font-size:.8rem;color:#555}</style></head><body>\n"
        f"<h1>{html.escape(guideline.title)}</h1>"
        '<p>Where this run answers each item (paths relative to the run folder; open from <a href="report.html">'
        "report.html</a>'s folder) and what only the authors can write. Item texts are paraphrased; use the "
        "published checklist for the wording:</p>"
        f"<ul>{cites}</ul>"
        "<table><thead><tr><th>Item</th><th>Section</th><th>Recommendation (paraphrased)</th><th>Status</th>"
        f"<th>Where in the run</th><th>Notes</th></tr></thead><tbody>{rows}</tbody></table>\n</body></html>\n"
    )


def _docx(guideline: Guideline, table: pd.DataFrame, path: Path) -> Path:
    from docx.shared import Pt

    document = new_document()
    document.add_heading(guideline.title, level=1)
    document.add_paragraph(
        "Where this run answers each item (paths relative to the run folder) and what only the authors can write. "
        "Item texts are paraphrased; use the published checklist for the wording."
    )
    for c in guideline.citations:
        document.add_paragraph(c).runs[0].font.size = Pt(8)
    columns = ["Item", "Recommendation (paraphrased)", "Status", "Where in the run", "Notes"]
    grid = document.add_table(rows=1, cols=len(columns))
    grid.style = "Table Grid"
    for cell, name in zip(grid.rows[0].cells, columns):
        cell.text = name
    for _, r in table.iterrows():
        cells = grid.add_row().cells
        values = [
            f"{r['source']} {r['item']}",
            f"{r['topic']}: {r['recommendation']}",
            r["status"],
            r["where"].replace(_SEP, "\n"),
            _note(r),
        ]
        for cell, value in zip(cells, values):
            cell.text = value
    return save_document(document, path)


def write_checklists(run_dir: str | Path) -> list[Path]:
    """Write every checklist of a run as CSV, HTML and Word into the run folder.

    Call after ``report.html`` and the Results draft are written: their sections are looked up.

    Returns
    -------
    list of Path
        The files written.
    """
    run_dir = Path(run_dir)
    paths = []
    for guideline in GUIDELINES.values():
        table = checklist_table(run_dir, guideline)
        paths.append(write_table(table, run_dir / f"{guideline.stem}.csv"))
        page = run_dir / f"{guideline.stem}.html"
        page.write_text(_html(guideline, table), encoding="utf-8")
        paths.append(page)
        paths.append(_docx(guideline, table, run_dir / f"{guideline.stem}.docx"))
    return paths


def check_checklists(run_dir: str | Path) -> list[str]:
    """Re-read the written checklists and list every problem (empty: all is well).

    A problem is a checklist file that is absent, an item answered by the run without a
    location, or a listed location that does not resolve in the run folder.
    """
    run_dir = Path(run_dir)
    problems = []
    answered = {STATUS["run"], STATUS["both"]}
    for guideline in GUIDELINES.values():
        path = run_dir / f"{guideline.stem}.csv"
        if not path.is_file():
            problems.append(f"{path.name} is missing")
            continue
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        for _, r in table.iterrows():
            locations = [loc for loc in r["where"].split(_SEP) if loc]
            if r["status"] in answered and not locations:
                problems.append(f"{path.name} item {r['item']}: answered but no location")
            for loc in locations:
                if resolve_location(run_dir, loc) != loc:
                    problems.append(f"{path.name} item {r['item']}: {loc} does not resolve")
    return problems
