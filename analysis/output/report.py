"""The run report: one self-contained ``report.html`` per run folder.

Opens offline in any browser: no script, no external address; figures are linked relative to
the run folder (PNG shown, PDF and SVG linked), publication tables are inlined, and the
executed notebooks are linked. Sections: main figures with their captions, supplementary
figures, the emulated target trial, the safety verdicts (the benefit weighed against harm, adverse
events by agent), publication tables, the analysis-plan parameters, the data-validation warnings and the
exclusion log, the sections skipped for want of an optional column, the disclosure rule, and the manifest. Patient identifiers never appear: the
validation findings are shown without their example ids.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd

from analysis.output.audit import audit_run, verdict_statement
from analysis.output.checklist_items import GUIDELINES
from analysis.output.checklists import heading_anchor
from analysis.output.disclosure import mask_table, rule_statement
from analysis.output.layout import LAYOUT_FILE
from analysis.output.pubtables import write_publication_tables
from analysis.output.results import SKIPPED_FILE

__all__ = ["write_report"]

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem} h2{font-size:1.25rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.2rem}
figure{margin:1.5rem 0} figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:.9rem}
table{border-collapse:collapse;font-size:.82rem;margin:.8rem 0} th,td{border-bottom:1px solid #ddd;padding:.2rem .5rem;
text-align:left;vertical-align:top} caption{font-weight:bold;text-align:left;padding:.3rem 0}
.footnote{font-size:.78rem;color:#555;margin:.2rem 0} pre{background:#f6f6f6;padding:.8rem;overflow-x:auto;font-size:.75rem}
.note{background:#fff6db;padding:.5rem .8rem;border-left:3px solid #e0b000}
"""


def _table_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if pd.isna(v) else str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure_html(run_dir: Path, stem: str, caption: str) -> str:
    links = " · ".join(
        f'<a href="figures/{stem}.{ext}">{ext.upper()}</a>'
        for ext in ("pdf", "svg", "png")
        if (run_dir / "figures" / f"{stem}.{ext}").exists()
    )
    img = (
        f'<img src="figures/{stem}.png" alt="{html.escape(stem)}">'
        if (run_dir / "figures" / f"{stem}.png").exists()
        else ""
    )
    return (
        f'<figure id="{html.escape(stem)}">{img}<figcaption>{html.escape(caption)} '
        f'<span class="footnote">({links})</span></figcaption></figure>'
    )


def _checks_html(tables: Path) -> list[str]:
    """The methods checks a reviewer asks for, from the saved (already masked) tables, where present."""
    out = []
    ess, pairwise = tables / "balance_ess.csv", tables / "balance_pairwise.csv"
    if ess.exists() and pairwise.exists():
        bal = pd.read_csv(pairwise)
        off = bal[~bal["smd_balanced"].astype(bool) | (bal["variance_ratio_balanced"].astype(str) == "False")]
        out.append(
            "<h2>Balance across every pair of arms</h2><p>Every covariate of the propensity and outcome "
            "models, every pair of arms, as <code>cobalt::bal.tab</code> reports it (SMD over the unweighted "
            f"pooled SD, variance ratio, KS): {len(off)} of {len(bal)} rows outside |SMD| ≤ 0.1 or a variance "
            "ratio of 0.5–2 after weighting. Effective sample size per arm:</p>"
            + _table_html(pd.read_csv(ess, dtype=str, keep_default_na=False))
        )
        if len(off):
            cols = ["variable", "group", "reference", "smd_weighted", "variance_ratio_weighted"]
            out.append(_table_html(off[cols].round(3).astype(str)))
    shape = tables / "marker_shape.csv"
    if shape.exists():
        cols = ["marker", "p_nonlinear", "quadratic_coef", "p_quadratic", "breakpoint", "inverted_u", "message"]
        frame = pd.read_csv(shape, dtype=str, keep_default_na=False)
        out.append(
            "<h2>Is a marker's curve an inverted U?</h2><p>Spline vs linear (likelihood ratio), the quadratic "
            "term, and the two-lines test at the spline's peak (Simonsohn 2018).</p>"
            + _table_html(frame[[c for c in cols if c in frame]])
        )
    return out


def _disclosure_html(run_dir: Path, k: int, params: dict) -> str:
    """The report's disclosure section: threshold, cells masked per table, curves, plots, the audit."""
    head = "<h2>Disclosure control</h2>"
    if k <= 1:
        return head + f"<p>{html.escape(rule_statement(k))}</p>"
    interval = float(params.get("curve_interval_days", 30) or 30)
    logs = sorted((run_dir / "disclosure").glob("*.json")) if (run_dir / "disclosure").is_dir() else []
    rows = [json.loads(p.read_text(encoding="utf-8")) for p in logs]
    table = pd.DataFrame(rows)
    if len(table):
        table = table[
            (table[["primary", "complement", "secondary", "derived", "extremes"]].sum(axis=1) > 0)
            | (table["curve_rows_before"] > 0)
        ]
    try:
        verdict = verdict_statement(audit_run(run_dir, min_cell_count=k, include_report=False), k)
    except Exception as exc:  # noqa: BLE001  (a report is still written; the verdict says why not)
        verdict = f"The disclosure audit could not be run: {exc}"
    text = [
        f"<p>Threshold: <b>{k}</b>. {html.escape(rule_statement(k))}</p>",
        f"<p>Curve intervals: {interval:g} days. Patient-level plots are binned: scatter "
        f"plots become hexagonal bins drawn only where they hold at least {k} patients, strip plots "
        f"become box plots without points whose whiskers end at percentiles with at least {k} patients "
        f"beyond them, and residual plots show means of at least {k} events.</p>",
    ]
    if len(table):
        text.append(
            "<p>Cells masked per table (primary: counts below the threshold; complement: counts whose "
            "complement is below it; secondary: cells hidden so that no masked cell can be recomputed "
            "from totals; derived: percentages, risks and rates of hidden counts; extremes: minima, "
            "maxima and outer percentiles of too few people; curve rows: before and after coarsening):</p>"
            + _table_html(table.drop(columns=["unprotectable"], errors="ignore"))
        )
    text.append(f'<p class="note">{html.escape(verdict)}</p>')
    return head + "".join(text)


def write_report(run_dir: str | Path, manifest: dict | None = None) -> Path:
    """Write the publication tables and ``report.html`` of a finished run folder.

    Parameters
    ----------
    run_dir : path
        The run folder (``figures/``, ``tables/``, ``notebooks/``).
    manifest : dict, optional
        The run's manifest (read from ``manifest.json`` when not given).

    Returns
    -------
    Path
        The report.
    """
    run_dir = Path(run_dir)
    if manifest is None:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    params = manifest.get("parameters", {})
    k = int(params.get("min_cell_count", 0) or 0)
    publication = write_publication_tables(
        run_dir,
        conf_level=float(params.get("conf_level", 0.95)),
        min_cell_count=k,
        hierarchy=params.get("analysis_hierarchy"),
    )

    parts = [
        "<h1>Endometrial immune profiling and immunotherapy: run report</h1>",
        f"<p>Run of suite version {html.escape(str(manifest.get('suite_version')))} on "
        f"<code>{html.escape(Path(str(manifest.get('data_dir', ''))).name)}</code>; status "
        f"<b>{html.escape(str(manifest.get('status')))}</b>. Tables are in <code>tables/</code> "
        f"(publication versions in CSV, HTML, LaTeX and Word in <code>tables/publication/</code>).</p>",
        f'<p class="note">{html.escape(rule_statement(k))}</p>',
    ]

    figures = run_dir / "figures"
    main = sorted(
        {p.stem for p in figures.glob("figure_*.png") if re.match(r"figure_\d+_", p.stem)},
        key=lambda s: int(s.split("_")[1]),
    )
    parts.append("<h2>Main figures</h2>")
    for stem in main:
        number = stem.split("_")[1]
        cap_path = figures / f"figure_{number}.txt"
        caption = cap_path.read_text(encoding="utf-8").strip() if cap_path.exists() else f"Figure {number}."
        parts.append(_figure_html(run_dir, stem, caption))
    supp = sorted({p.stem for p in figures.glob("supp_*.png")})
    if supp:
        parts.append("<h2>Supplementary figures</h2>")
        for i, stem in enumerate(supp, 1):
            cap_path = figures / f"{stem}.txt"
            caption = (
                cap_path.read_text(encoding="utf-8")
                .strip()
                .replace("Supplementary figure:", f"Supplementary figure S{i}:")
                if cap_path.exists()
                else f"Supplementary figure S{i}: {stem[5:].replace('_', ' ')}."
            )
            parts.append(_figure_html(run_dir, stem, caption))

    protocol = run_dir / "tables" / "target_trial_protocol.csv"
    if protocol.exists():
        parts.append(
            "<h2>The emulated target trial</h2><p>The protocol of the trial that the longitudinal "
            "analyses emulate (TARGET guideline items), and the days from the biopsy to time zero by "
            "arm:</p>" + _table_html(pd.read_csv(protocol, dtype=str, keep_default_na=False))
        )
        delay = run_dir / "tables" / "delay_biopsy_to_first_transfer.csv"
        if delay.exists():
            parts.append(_table_html(pd.read_csv(delay, dtype=str, keep_default_na=False)))  # masked when saved

    parts.extend(_checks_html(run_dir / "tables"))
    hierarchy = run_dir / "tables" / "hierarchy.csv"
    if hierarchy.exists():
        parts.append(
            "<h2>The declared analysis hierarchy</h2><p>The primary analysis, tested at the declared α, and "
            "the secondary family, tested only after the primary rejects, with raw and multiplicity-adjusted "
            "p-values (<code>tables/hierarchy.csv</code>); every other estimate is supportive.</p>"
            + _table_html(pd.read_csv(hierarchy, dtype=str, keep_default_na=False))
        )

    rule = run_dir / "tables" / "benefit.csv"
    if rule.exists():
        shown = [
            "grouping",
            "group",
            "n",
            "risk_treated",
            "risk_untreated",
            "risk_difference",
            "conf_low",
            "conf_high",
            "p_value",
            "p_adjusted",
            "nnt_display",
            "verdict",
        ]
        frame = pd.read_csv(rule, dtype=str, keep_default_na=False)
        parts.append(
            "<h2>Who benefits: the supported rule</h2><p>Live birth at the first transfer with and without "
            "personalized therapy by group (doubly robust AIPW risks), the risk difference with its CI, raw and "
            "multiplicity-adjusted p-values, the number needed to treat (Altman) and the verdict "
            "(<code>tables/benefit.csv</code>; decision curves and calibration for benefit in Figure 5, "
            "<code>tables/decision_curve.csv</code> and <code>tables/benefit_calibration.csv</code>).</p>"
            + _table_html(frame[[c for c in shown if c in frame.columns]])
        )
    rule = run_dir / "tables" / "harm_checked_rule.csv"
    if rule.exists():
        verdicts = pd.read_csv(rule, dtype=str, keep_default_na=False)  # masked when saved
        parts.append(
            "<h2>Safety: the benefit weighed against harm</h2><p>Personalized immunotherapy is recommended for "
            "a group only when the supported rule above treats it and its gain in live births exceeds every "
            "declared harm with confidence (notebook 07, <code>tables/harm_checked_rule.csv</code>; Figure 6, "
            "Table 3):</p><ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in verdicts.get("display", [])) + "</ul>"
        )
        adverse = run_dir / "tables" / "adverse_events_by_agent.csv"
        if adverse.exists():
            parts.append(
                "<p>Adverse events by agent (women with an event per 100 women treated, exact intervals):</p>"
                + _table_html(pd.read_csv(adverse, dtype=str, keep_default_na=False))
            )

    parts.append("<h2>Publication tables</h2>")
    for t in publication:
        html_path = run_dir / "tables" / "publication" / f"{t.name}.html"
        links = " · ".join(
            f'<a href="tables/publication/{t.name}.{ext}">{ext}</a>' for ext in ("csv", "html", "tex", "docx")
        )
        parts.append(html_path.read_text(encoding="utf-8") + f'<p class="footnote">Download: {links}</p>')

    parts.append("<h2>Analysis-plan parameters</h2>")
    rows = [{"parameter": key, "value": json.dumps(value, sort_keys=True)} for key, value in sorted(params.items())]
    parts.append(_table_html(pd.DataFrame(rows)))

    parts.append("<h2>Data validation and exclusions</h2>")
    findings = run_dir / "tables" / "validation_findings.csv"
    if findings.exists():
        f = pd.read_csv(findings)
        f = f.drop(columns=[c for c in f.columns if "id" in c.lower()], errors="ignore")  # never patient ids
        parts.append(
            "<p>Warnings found when the data were checked against the data contract:</p>"
            + (_table_html(mask_table(f, k)) if len(f) else "<p>None.</p>")
        )
    exclusions = run_dir / "tables" / "exclusions.csv"
    if exclusions.exists():
        parts.append(
            "<p>Exclusion log (Figure 1 is drawn from it):</p>"
            + _table_html(pd.read_csv(exclusions, dtype=str, keep_default_na=False))
        )

    skipped = run_dir / "tables" / SKIPPED_FILE
    parts.append("<h2>Skipped sections</h2>")
    if skipped.exists():
        parts.append(
            "<p>Sections that did not run because a column they need is absent or empty in the data:</p>"
            + _table_html(pd.read_csv(skipped, dtype=str, keep_default_na=False))
        )
    else:
        parts.append("<p>None: every section had the columns it needs.</p>")

    layout = run_dir / "tables" / LAYOUT_FILE
    if layout.exists():
        checked = pd.read_csv(layout, dtype=str, keep_default_na=False)
        problems = checked[checked["problem"] != "none"]
        parts.append("<h2>Figure layout</h2>")
        parts.append(
            f"<p>Every one of the {checked['figure'].nunique()} figures passed the layout check (no overlapping "
            "texts, no text off the canvas, no legend over data).</p>"
            if problems.empty
            else "<p>Figures to retouch before submission (<code>tables/figure_layout.csv</code>):</p>"
            + _table_html(problems)
        )

    parts.append(_disclosure_html(run_dir, k, params))

    parts.append("<h2>Executed notebooks</h2><ul>")
    for nb in sorted((run_dir / "notebooks").glob("*.ipynb")):
        parts.append(f'<li><a href="notebooks/{nb.name}">{html.escape(nb.name)}</a> (open in JupyterLab)</li>')
    parts.append("</ul>")

    parts.append(
        "<h2>Manifest</h2><p>Inputs with their SHA-256, versions, git commit and timings "
        '(<a href="manifest.json">manifest.json</a>):</p>'
    )
    shown = {key: value for key, value in manifest.items() if key not in ("parameters",)}
    parts.append(f"<pre>{html.escape(json.dumps(shown, indent=2, sort_keys=True, default=str))}</pre>")

    parts.append(
        "<h2>Manuscript aids</h2><p>Written after this report from the same tables: the drafted Results "
        '(<a href="results_draft.md">Markdown</a>, <a href="results_draft.docx">Word</a>; every number keyed to its '
        'table row in <a href="results_draft_keys.csv">results_draft_keys.csv</a>) and the reporting checklists, '
        "each item pointing to where this run answers it: "
        + " · ".join(
            f'<a href="{g.stem}.html">{g.short}</a> (<a href="{g.stem}.docx">docx</a>, <a href="{g.stem}.csv">csv</a>)'
            for g in GUIDELINES.values()
        )
        + ". <code>python -m analysis bundle RUN_DIR</code> packs them with the figures for submission.</p>"
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Run report</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    page = re.sub(  # an anchor before every section heading, so checklists and other pages can point at it
        r"<h2>(.*?)</h2>",
        lambda m: (
            f'<a id="{heading_anchor(html.unescape(re.sub(r"<[^>]+>", "", m.group(1))))}"></a><h2>{m.group(1)}</h2>'
        ),
        page,
    )
    path = run_dir / "report.html"
    tmp = path.with_name("report.html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
