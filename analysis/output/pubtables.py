"""Publication tables: Table 1, the model tables and Table 3 (core outcomes) as CSV, HTML, LaTeX (booktabs) and Word.

Built after the notebooks from a run's tidy tables (``tables/*.csv``), written into
``tables/publication/<name>.{csv,html,tex,docx}`` with a title and footnotes (tests used,
abbreviations, the disclosure rule). Every format is byte-for-byte reproducible: the Word file's
zip entries carry a fixed date and its document properties no time.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data.contract import CATEGORICALS
from analysis.methods.multiplicity import adjusted_p_values, check_hierarchy
from analysis.models.design import level_term, stratum_term
from analysis.output.disclosure import SUPPRESSED, rule_statement
from analysis.output.results import write_table
from analysis.output.style import label_for
from analysis.output.wordfiles import document_bytes

__all__ = [
    "HIERARCHY_COLUMNS",
    "PublicationTable",
    "hierarchy_table",
    "model_table",
    "missing_by_arm_table",
    "follow_up_table",
    "model_terms_table",
    "risk_table",
    "table_two_merged",
    "table_one",
    "table_three",
    "write_publication_tables",
    "write_table_formats",
]

ABBREVIATIONS = (
    "AIPW, augmented inverse probability weighting; CI, confidence interval; IPTW, inverse "
    "probability of treatment weighting; IQR, interquartile range; MI, multiple imputation; OR, odds "
    "ratio; RD, risk difference; RR, risk ratio; SD, standard deviation; SMD, standardized mean "
    "difference."
)


@dataclass
class PublicationTable:
    """A display table with its title and footnotes.

    ``spanners`` groups columns under a header, as gtsummary's ``tbl_merge`` spans each merged
    table: ``[("", 1), ("Unadjusted", 2), ...]`` covers the columns left to right. Under a spanner
    a column named ``"<spanner>: <name>"`` shows ``<name>`` (HTML, LaTeX, Word); the CSV keeps the
    full names, so its columns stay unique.
    """

    name: str
    title: str
    frame: pd.DataFrame
    footnotes: list[str] = field(default_factory=list)
    spanners: list[tuple[str, int]] = field(default_factory=list)

    def shown_columns(self) -> list[str]:
        """Column headers as shown under the spanners (the spanner's prefix taken off)."""
        names = [str(c) for c in self.frame.columns]
        if not self.spanners:
            return names
        out, i = [], 0
        for label, width in self.spanners:
            for name in names[i : i + width]:
                out.append(name.removeprefix(f"{label}: ") if label else name)
            i += width
        return out + names[i:]


def _ci(est, low, high, digits=2, percent=False) -> str:
    if pd.isna(est):
        return "not estimable"
    f = (lambda v: f"{100 * v:.1f}") if percent else (lambda v: f"{v:.{digits}f}")
    return f"{f(est)} ({f(low)} to {f(high)})" if percent else f"{f(est)} ({f(low)}–{f(high)})"


def _p(p) -> str:
    return "" if pd.isna(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def table_one(display: pd.DataFrame, *, by: str, min_cell_count: int) -> PublicationTable:
    """Table 1 from a saved display table (``table1_by_arm_display.csv``)."""
    frame = display.fillna("").rename(
        columns={"variable": "Characteristic", "level": "Level", "missing": "Missing", "overall": "Overall"}
    )
    frame = frame.rename(
        columns={
            c: label_for(c) for c in frame.columns if c not in ("Characteristic", "Level", "Missing", "Overall", "SMD")
        }
    )
    return PublicationTable(
        f"table_1_by_{by}",
        f"Table 1. Characteristics at the first transfer by {by.replace('_', ' ')}",
        frame,
        [
            "Continuous variables: mean (SD) when the absolute sample skewness is at most 1, else median [IQR]; "
            "categories: n (%). SMD: largest absolute standardized mean difference between groups (Austin 2009; "
            "Yang & Dalton 2012 for multi-level categories). Missing: n (%) of the whole sample.",
            ABBREVIATIONS,
            rule_statement(min_cell_count),
        ],
    )


_MODELS = [  # (model_id, label, measure)
    ("lb_first_crude", "Crude logistic", "OR"),
    ("lb_first_adjusted", "Adjusted logistic", "OR"),
    ("lb_first_iptw", "IPTW", "OR"),
    ("lb_first_iptw_rd", "IPTW", "RD (%)"),
    ("lb_first_iptw_rr", "IPTW", "RR"),
    ("lb_first_aipw", "AIPW (doubly robust)", "RD (%)"),
    ("lb_first_matched", "Propensity-score matched", "OR"),
    ("lb_first_mi", "Adjusted logistic, multiple imputation", "OR"),
    ("lb_all_gee_ind", "All transfers, GEE", "OR"),
    ("ttlb_cox_itt", "Time to live birth from the first transfer, Cox (ITT analogue)", "HR"),
    ("ttlb_cox_pp", "Time to live birth, per protocol (IPTW × IPCW Cox)", "HR"),
]


#: The main-effect term of each arm against the reference, from the contract's levels.
_ARM_TERMS = pd.DataFrame(
    [
        (level_term("treatment_arm", arm), arm)
        for arm in CATEGORICALS["treatment_arm"].levels
        if arm != CATEGORICALS["treatment_arm"].reference
    ],
    columns=["term", "arm"],
)


#: Columns of ``tables/hierarchy.csv``.
HIERARCHY_COLUMNS = [
    "role",
    "order",
    "label",
    "model_id",
    "term",
    "estimator",
    "estimate",
    "conf_low",
    "conf_high",
    "p_value",
    "p_adjusted",
    "multiplicity",
    "alpha",
    "significant",
    "message",
]


def _hierarchy_term(entry: dict, *, treatment: str = "treatment_arm") -> str:
    """The estimate term a hierarchy entry names: its ``term``, else ``<treatment>[<arm>]`` and, with
    ``within`` (a mapping of one column to a level), `` | <column>=<level>``."""
    if "term" in entry:
        return str(entry["term"])
    term = level_term(treatment, entry["arm"])
    for column, level in (entry.get("within") or {}).items():
        term = stratum_term(term, column, level)
    return term


def hierarchy_table(estimates: pd.DataFrame, hierarchy: dict) -> pd.DataFrame:
    """Return the declared primary and secondary analyses with raw and adjusted p-values.

    The primary is tested at ``alpha``. The secondary family is tested only after the primary
    rejects (serial gatekeeping), within it by ``multiplicity`` (``holm``; ``fixed_sequence`` in
    the declared order; ``none``): a secondary's adjusted p-value is the larger of the primary's
    p-value and its own adjusted p-value within the family, so ``significant`` (adjusted p ≤
    alpha) controls the family-wise error over primary and secondary together (Dmitrienko,
    Tamhane & Wiens 2008, Biom J 50:667). A declared analysis missing from ``estimates`` gets a
    message and no p-value, and takes no part in the adjustment.

    Parameters
    ----------
    estimates : DataFrame
        ``tables/estimates.csv``.
    hierarchy : dict
        ``primary`` (``model_id``, ``arm``, optional ``within``, ``label``; or ``term`` in place of
        ``arm``/``within``), ``secondary`` (list of the same),
        ``multiplicity``, ``alpha``.

    Returns
    -------
    DataFrame
        :data:`HIERARCHY_COLUMNS`.

    Raises
    ------
    ValueError
        A malformed hierarchy (every problem listed).
    """
    check_hierarchy(hierarchy)
    alpha = float(hierarchy["alpha"])
    entries = [("primary", hierarchy["primary"])] + [("secondary", e) for e in hierarchy["secondary"]]
    rows = []
    for k, (role, e) in enumerate(entries):
        term = _hierarchy_term(e)
        hit = estimates[(estimates["model_id"] == e["model_id"]) & (estimates["term"] == term)]
        base = {
            "role": role,
            "order": k,
            "label": e.get("label", ""),
            "model_id": e["model_id"],
            "term": term,
            "multiplicity": "none" if role == "primary" else hierarchy["multiplicity"],
            "alpha": alpha,
        }
        if hit.empty:
            rows.append(
                {**base, "estimator": "", "p_value": np.nan, "message": "not in estimates.csv (not estimable?)"}
            )
            continue
        r = hit.iloc[0]
        rows.append(
            {
                **base,
                "estimator": r["estimator"],
                "estimate": r["estimate"],
                "conf_low": r["conf_low"],
                "conf_high": r["conf_high"],
                "p_value": r["p_value"],
                "message": "",
            }
        )
    out = pd.DataFrame(rows).reindex(columns=HIERARCHY_COLUMNS)
    p = pd.to_numeric(out["p_value"], errors="coerce").to_numpy(float)
    adj = np.full(len(out), np.nan)
    adj[0] = p[0]
    if len(out) > 1:
        within = adjusted_p_values(p[1:], hierarchy["multiplicity"])
        adj[1:] = np.where(np.isfinite(within), np.fmax(within, p[0] if np.isfinite(p[0]) else 1.0), np.nan)
    out["p_adjusted"] = adj
    out["significant"] = np.isfinite(adj) & (adj <= alpha)
    gate = ~(np.isfinite(p[0]) and p[0] <= alpha)
    if gate and len(out) > 1:
        out.loc[out["role"] == "secondary", "message"] = out.loc[out["role"] == "secondary", "message"].where(
            out.loc[out["role"] == "secondary", "message"] != "", "not confirmatory: the primary did not reject"
        )
    return out


def _role_of(hierarchy_rows: pd.DataFrame | None, model_id: str, term: str) -> tuple[str, float]:
    if hierarchy_rows is None:
        return "", np.nan
    hit = hierarchy_rows[(hierarchy_rows["model_id"] == model_id) & (hierarchy_rows["term"] == term)]
    if hit.empty:
        return "supportive", np.nan
    r = hit.iloc[0]
    return ("primary" if r["role"] == "primary" else f"secondary {int(r['order'])}"), r["p_adjusted"]


def model_table(
    estimates: pd.DataFrame, *, conf_level: float = 0.95, min_cell_count: int, hierarchy: dict | None = None
) -> PublicationTable:
    """Main effect estimates of each arm against no immunotherapy across the suite's models.

    With a declared ``hierarchy`` (:func:`hierarchy_table`) the declared analyses come first, in
    their order, with their role (primary, secondary k) and adjusted p-value; every other row is
    supportive (a sensitivity or alternative estimator, not part of the tested family).
    """
    h = hierarchy_table(estimates, hierarchy) if hierarchy else None
    labels = {m: (label, measure) for m, label, measure in _MODELS}
    rows = []

    def add(model_id, term, label, measure, r, arm, where):
        arm_part = arm.capitalize()
        role, p_adj = _role_of(h, model_id, term)
        pct = measure.startswith("RD")
        entry = {
            "Model": label + (f", {where} profiles" if where else ""),
            "Arm vs none": arm_part,
            "Measure": measure,
            f"Estimate ({conf_level * 100:g}% CI)": _ci(r.estimate, r.conf_low, r.conf_high, percent=pct),
            "P": _p(r.p_value),
            "n": "" if pd.isna(r.n_obs) else f"{int(r.n_obs):,}",
        }
        if h is not None:
            entry = {"Role": role, **entry, "P (adjusted)": _p(p_adj)}
        rows.append(entry)

    seen = set()
    if h is not None:
        declared = [hierarchy["primary"], *hierarchy["secondary"]]
        for d, entry in zip(h.itertuples(), declared):
            sel = estimates[(estimates["model_id"] == d.model_id) & (estimates["term"] == d.term)]
            label, measure = labels.get(
                d.model_id, (d.label or d.model_id, "RD (%)" if "rd" in str(d.estimator) else "OR")
            )
            # the arm and stratum come from the declaration (a literal ``term`` names neither)
            arm = entry.get("arm", d.term)
            where = ", ".join(str(v) for v in (entry.get("within") or {}).values())
            for r in sel.head(1).itertuples():
                add(d.model_id, d.term, label, measure, r, arm, where)
                seen.add((d.model_id, d.term))
    for model_id, label, measure in _MODELS:
        sel = estimates[estimates["model_id"] == model_id].merge(_ARM_TERMS, on="term")
        for r in sel.itertuples():
            if (model_id, r.term) not in seen:
                add(model_id, r.term, label, measure, r, r.arm, "")
    columns = ["Model", "Arm vs none", "Measure", f"Estimate ({conf_level * 100:g}% CI)", "P", "n"]
    if h is not None:
        columns = ["Role", *columns, "P (adjusted)"]
    frame = pd.DataFrame(rows, columns=columns)
    # the AIPW rows say how their interval was computed (estimator aipw_rd or aipw_if_rd)
    aipw_estimators = set(estimates.loc[estimates["model_id"] == "lb_first_aipw", "estimator"].astype(str))
    aipw_ci = (
        "influence-function CI with the propensity and outcome models' estimating equations stacked"
        if aipw_estimators == {"aipw_if_rd"}
        else "percentile bootstrap CI over patients"
    )
    footnotes = [
        "First transfer unless stated. Adjusted models: age, BMI, prior failed transfers, embryo stage, good-quality "
        "embryos, cycle type, oocyte source and centre. IPTW: stabilised weights from a multinomial propensity model, "
        f"design-based (sandwich) SEs. AIPW: {aipw_ci}. Matched: 1:1 nearest neighbour, "
        "caliper 0.2 SD of the logit score, SEs clustered on pairs. MI: Rubin's rules. GEE: transfers up to the first "
        "live birth, adjusted also for the transfer number, independence working correlation, robust SEs, clustered on "
        "patients. Cox: Efron ties, time zero at the first transfer after the biopsy (emulated target trial); per "
        "protocol: censored at a switch of arm, stabilised IPTW × IPCW, robust SEs by woman. P: two-sided Wald test.",
    ]
    if h is not None:
        method = {"holm": "Holm's step-down procedure", "fixed_sequence": "a fixed testing sequence in the order shown"}
        footnotes.append(
            f"Role: the declared analysis hierarchy (analysis plan). The primary analysis is tested at α = "
            f"{float(hierarchy['alpha']):g}; the secondary family only after it rejects, adjusted by "
            f"{method.get(hierarchy['multiplicity'], 'no adjustment')}; P (adjusted): the larger of the primary's "
            f"p-value and the adjusted one (serial gatekeeping). Supportive rows are alternative estimators and are "
            f"not tested."
        )
    return PublicationTable(
        "table_2_effects",
        "Table 2. Live birth with empirical and personalized immunotherapy against none",
        frame,
        [*footnotes, ABBREVIATIONS, rule_statement(min_cell_count)],
    )


def model_terms_table(
    estimates: pd.DataFrame, model_id: str, *, title: str, conf_level: float = 0.95, min_cell_count: int
) -> PublicationTable:
    """Every term of one model (its full coefficient table) as a publication table."""
    rows = estimates[estimates["model_id"] == model_id]
    estimator = str(rows["estimator"].iloc[0]) if len(rows) else ""
    difference = estimator.endswith("_rd")
    measure = {"cox_efron": "HR", "cox_itt": "HR", "cox_pp_ipcw": "HR"}.get(
        estimator, "RD (%)" if difference else ("RR" if estimator.endswith("rr") else "OR")
    )
    frame = pd.DataFrame(
        {
            "Term": rows["term"].astype(str).to_numpy(),
            f"{measure} ({conf_level * 100:g}% CI)": [
                _ci(r.estimate, r.conf_low, r.conf_high, percent=difference) for r in rows.itertuples()
            ],
            "P": [_p(v) for v in rows["p_value"]],
        }
    )
    frame = frame[frame["Term"] != "(Intercept)"].reset_index(drop=True)
    n = rows["n_obs"].dropna()
    size = f" {int(n.iloc[0]):,} observations" if len(n) else ""
    return PublicationTable(
        f"table_s_{model_id}",
        f"{title} (model {model_id};{size})",
        frame,
        [
            f"Estimator: {estimator}; see Table 2 and docs/analysis_plan.md for the model.",
            ABBREVIATIONS,
            rule_statement(min_cell_count),
        ],
    )


_CORE_OUTCOME_LABELS = {
    "positive_hcg": "Positive hCG",
    "clinical_pregnancy": "Clinical pregnancy",
    "viable_intrauterine_pregnancy": "Viable intrauterine pregnancy",
    "live_birth": "Live birth",
    "biochemical_loss": "Biochemical pregnancy loss",
    "miscarriage": "Miscarriage",
    "miscarriage_second_trimester": "Second-trimester miscarriage",
    "ectopic_pregnancy": "Ectopic pregnancy",
    "termination": "Termination",
    "any_pregnancy_loss": "Any pregnancy loss",
    "multiple_pregnancy": "Multiple pregnancy",
    "preterm_birth": "Preterm birth (< 37 weeks)",
    "very_preterm_birth": "Very preterm birth (< 32 weeks)",
    "low_birthweight": "Low birthweight (< 2,500 g)",
    "small_for_gestational_age": "Small for gestational age",
    "major_congenital_anomaly": "Major congenital anomaly",
    "neonatal_death": "Neonatal death",
    "nicu_admission": "Neonatal intensive care",
}
_DENOMINATORS = {
    "woman": "per woman",
    "transfer": "per transfer",
    "positive_hcg": "per positive hCG",
    "clinical_pregnancy": "per clinical pregnancy",
    "live_birth": "per live birth",
}


def _core_cell(r, conf_level: float) -> str:
    if str(r.get("recorded", "True")) in ("False", "false"):
        return "not recorded"
    events, n = str(r["n_events"]), str(r["n"])
    if events.startswith("<") or n.startswith("<") or SUPPRESSED in (events, n):
        return f"{events}/{n}"  # as published: a hidden count keeps its proportion hidden too
    if n in ("", "0", "nan", "<NA>"):
        return "no denominator"
    shown = f"{int(float(events))}/{int(float(n)):,}"
    p, lo, hi = pd.to_numeric(
        pd.Series([r[c] for c in ("proportion", "conf_low_proportion", "conf_high_proportion")]), errors="coerce"
    )
    if pd.isna(p) or pd.isna(lo) or pd.isna(hi):  # the proportion hidden by disclosure control
        return f"{shown} ({SUPPRESSED})"
    return f"{shown} ({100 * p:.1f}%; {100 * lo:.1f} to {100 * hi:.1f})"


def table_three(core: pd.DataFrame, *, conf_level: float = 0.95, min_cell_count: int) -> PublicationTable:
    """Table 3: the core outcome set (COMMIT) by arm, per woman, from ``core_outcomes_women_by_arm.csv``.

    Parameters
    ----------
    core : DataFrame
        The saved (masked) table of :func:`analysis.methods.safety.core_outcome_table`, read as text.
    conf_level : float
    min_cell_count : int
    """
    groups = list(dict.fromkeys(core["group"]))
    keys = list(dict.fromkeys(zip(core["outcome"], core["denominator"])))
    rows = []
    for outcome, denominator in keys:
        entry = {
            "Outcome": _CORE_OUTCOME_LABELS.get(outcome, outcome.replace("_", " ")),
            "Denominator": _DENOMINATORS.get(denominator, denominator),
        }
        for g in groups:
            r = core[(core["outcome"] == outcome) & (core["denominator"] == denominator) & (core["group"] == g)]
            entry[label_for(g)] = _core_cell(r.iloc[0], conf_level) if len(r) else ""
        rows.append(entry)
    return PublicationTable(
        "table_3_core_outcomes",
        "Table 3. Core outcome set for infertility research by arm at the first transfer, per woman",
        pd.DataFrame(rows),
        [
            "Outcomes of the COMMIT core outcome set (Duffy et al., Hum Reprod 2020;35:2725) over each woman's "
            "transfers up to and including her first live birth, grouped by her arm at the first transfer. Cells: "
            f"events/denominator (%; exact Clopper–Pearson {conf_level * 100:g}% CI). A multiple pregnancy is one "
            "pregnancy event; a baby outcome counts a delivery once when any baby had it. Preterm: before 259 days; "
            "small for gestational age: below the 10th centile of the Hadlock (1991) in-utero weight standard.",
            ABBREVIATIONS,
            rule_statement(min_cell_count),
        ],
    )


def _html(t: PublicationTable) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.shown_columns())
    if t.spanners:
        span = "".join(f'<th colspan="{w}">{html.escape(label)}</th>' for label, w in t.spanners)
        head = f"{span}</tr><tr>{head}"
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in t.frame.itertuples(index=False)
    )
    notes = "".join(f'<p class="footnote">{html.escape(n)}</p>' for n in t.footnotes)
    return (
        f'<table class="publication"><caption>{html.escape(t.title)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>\n{notes}\n"
    )


def _latex_escape(text: str) -> str:
    for a, b in [
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
        ("<", r"\textless{}"),
        (">", r"\textgreater{}"),
        ("–", "--"),
        ("−", "$-$"),
        ("×", r"$\times$"),
    ]:
        text = text.replace(a, b)
    return text


def _latex_spanners(t: PublicationTable) -> list[str]:
    if not t.spanners:
        return []
    cells, rules, col = [], [], 1
    for label, width in t.spanners:
        cells.append(rf"\multicolumn{{{width}}}{{c}}{{{_latex_escape(label)}}}" if label else " & ".join([""] * width))
        if label:
            rules.append(rf"\cmidrule(lr){{{col}-{col + width - 1}}}")
        col += width
    return [" & ".join(cells) + r" \\", " ".join(rules)]


def _latex(t: PublicationTable) -> str:
    cols = "l" * len(t.frame.columns)
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        rf"\caption{{{_latex_escape(t.title)}}}",
        rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule",
        *_latex_spanners(t),
        " & ".join(_latex_escape(str(c)) for c in t.shown_columns()) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(_latex_escape(str(v)) for v in row) + r" \\" for row in t.frame.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"\par\footnotesize {_latex_escape(n)}" for n in t.footnotes]
    lines += [r"\end{table}", ""]
    return "\n".join(lines)


def _docx(t: PublicationTable) -> bytes:
    import docx
    from docx.shared import Pt

    document = docx.Document()
    props = document.core_properties
    props.author = props.last_modified_by = "endoimmune-analysis"
    props.created = props.modified = pd.Timestamp("2000-01-01").to_pydatetime()
    props.revision = 1
    document.add_paragraph(t.title).runs[0].bold = True
    table = document.add_table(rows=1, cols=len(t.frame.columns))
    table.style = "Table Grid"
    if t.spanners:
        col = 0
        for label, width in t.spanners:
            cell = table.rows[0].cells[col]
            if width > 1:
                cell = cell.merge(table.rows[0].cells[col + width - 1])
            cell.text = label
            col += width
        table.add_row()
    for cell, name in zip(table.rows[-1].cells, t.shown_columns()):
        cell.text = str(name)
    for row in t.frame.itertuples(index=False):
        cells = table.add_row().cells
        for cell, value in zip(cells, row):
            cell.text = str(value)
    for n in t.footnotes:
        document.add_paragraph(n).runs[0].font.size = Pt(8)
    return document_bytes(document)  # every zip entry dated 1980-01-01: reproducible bytes


def write_table_formats(t: PublicationTable, folder: Path) -> list[Path]:
    """Write one table as CSV, HTML, LaTeX and Word into ``folder``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_table(t.frame, folder / f"{t.name}.csv")]
    for suffix, text in ((".html", _html(t)), (".tex", _latex(t))):
        path = folder / f"{t.name}{suffix}"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    path = folder / f"{t.name}.docx"
    path.write_bytes(_docx(t))
    return paths + [path]


def write_publication_tables(
    run_dir: str | Path, *, conf_level: float = 0.95, min_cell_count: int, hierarchy: dict | None = None
) -> list[PublicationTable]:
    """Build every publication table a run's tidy tables allow and write them in all formats.

    With a declared analysis ``hierarchy`` also writes ``tables/hierarchy.csv``
    (:func:`hierarchy_table`) and marks the roles in Table 2.
    """
    tables_dir = Path(run_dir) / "tables"
    built = []
    for by in ("arm", "profile"):
        path = tables_dir / f"table1_by_{by}_display.csv"
        if path.exists():
            display = pd.read_csv(path, dtype=str, keep_default_na=False)
            built.append(
                table_one(
                    display, by="treatment_arm" if by == "arm" else "immune_profile", min_cell_count=min_cell_count
                )
            )
    est_path = tables_dir / "estimates.csv"
    if est_path.exists():
        est = pd.read_csv(est_path)
        if hierarchy:
            write_table(hierarchy_table(est, hierarchy), tables_dir / "hierarchy.csv")
        built.append(model_table(est, conf_level=conf_level, min_cell_count=min_cell_count, hierarchy=hierarchy))
        built += [
            model_terms_table(
                est,
                model_id,
                title=f"Supplementary table: {label}, {measure}",
                conf_level=conf_level,
                min_cell_count=min_cell_count,
            )
            for model_id, label, measure in _MODELS
            if (est["model_id"] == model_id).any()
        ]
    if est_path.exists() and (est["model_id"] == "lb_first_crude").any():
        built.append(table_two_merged(est, conf_level=conf_level, min_cell_count=min_cell_count))
    for name, build in (
        ("missing_by_arm", missing_by_arm_table),
        ("follow_up_by_arm", follow_up_table),
        ("risk_table_figure_4", risk_table),
    ):
        if (tables_dir / f"{name}.csv").exists():
            frame = pd.read_csv(tables_dir / f"{name}.csv", dtype=str, keep_default_na=False)
            built.append(build(frame, min_cell_count=min_cell_count))
    core_path = tables_dir / "core_outcomes_women_by_arm.csv"
    if core_path.exists():
        core = pd.read_csv(core_path, dtype=str, keep_default_na=False)
        built.append(table_three(core, conf_level=conf_level, min_cell_count=min_cell_count))
    for t in built:
        write_table_formats(t, tables_dir / "publication")
    return built


# --------------------------------------------------------------------------------------------
# issue 19: merged Table 2, missing data by arm, follow-up, the rows under Figure 4

#: Table 2's merged models: (model id, column group).
MERGED_MODELS = (
    ("lb_first_crude", "Unadjusted"),
    ("lb_first_adjusted", "Adjusted"),
    ("lb_first_iptw", "IPTW-weighted"),
)


def _n_text(value) -> str:
    if isinstance(value, str) and not value.replace(".", "", 1).isdigit():
        return value  # masked: "<10", "masked"
    return "" if pd.isna(value) else f"{int(float(value)):,}"


def table_two_merged(
    estimates: pd.DataFrame, *, conf_level: float = 0.95, min_cell_count: int, models=MERGED_MODELS
) -> PublicationTable:
    """Table 2 as gtsummary's ``tbl_merge``: one row per arm, one column group per model.

    The odds ratio of live birth at the first transfer of each arm against no immunotherapy,
    unadjusted, adjusted and IPTW-weighted side by side, each with its interval and p-value; the
    observations each model used are in a footnote. A model absent from the run is left out.

    Parameters
    ----------
    estimates : DataFrame
        ``tables/estimates.csv`` of the run.
    conf_level : float
    min_cell_count : int
    models : sequence of (model_id, label)
    """
    ci = f"OR ({conf_level * 100:g}% CI)"
    present = [(m, label) for m, label in models if (estimates["model_id"] == m).any()]
    rows = []
    for term, arm in _ARM_TERMS.itertuples(index=False):
        entry = {"Arm vs none": label_for(arm)}
        for model_id, label in present:
            hit = estimates[(estimates["model_id"] == model_id) & (estimates["term"] == term)]
            r = hit.iloc[0] if len(hit) else None
            entry[f"{label}: {ci}"] = "" if r is None else _ci(r.estimate, r.conf_low, r.conf_high)
            entry[f"{label}: P"] = "" if r is None else _p(r.p_value)
        rows.append(entry)
    sizes = []
    for model_id, label in present:
        n = estimates.loc[estimates["model_id"] == model_id, "n_obs"].dropna()
        sizes.append(f"{label}, {_n_text(n.iloc[0]) if len(n) else 'n not shown'} first transfers")
    return PublicationTable(
        "table_2_merged",
        "Table 2. Live birth at the first transfer by arm: unadjusted, adjusted and IPTW-weighted odds ratios",
        pd.DataFrame(rows),
        [
            "Odds ratios against no immunotherapy from logistic regression: unadjusted; adjusted for age, BMI, "
            "prior failed transfers, embryo stage, good-quality embryos, cycle type, oocyte source and centre "
            "(complete cases); IPTW: stabilised weights from a multinomial propensity model, design-based (sandwich) "
            "SEs. P: two-sided Wald test. Observations: " + "; ".join(sizes) + ".",
            ABBREVIATIONS,
            rule_statement(min_cell_count),
        ],
        spanners=[("", 1)] + [(label, 2) for _, label in present],
    )


def _missing_cell(n_missing, percent) -> str:
    text = _n_text(n_missing)
    if text.startswith("<") or text == "masked" or text == "":
        return text
    p = pd.to_numeric(percent, errors="coerce")
    return f"{text} ({p:.1f}%)" if np.isfinite(p) else text


def missing_by_arm_table(missing: pd.DataFrame, *, min_cell_count: int) -> PublicationTable:
    """Missing data per variable by arm at the first transfer, n (%) missing, from ``missing_by_arm.csv``.

    Parameters
    ----------
    missing : DataFrame
        The saved (masked) table, read as text: variable, group, n, n_missing, percent_missing.
    min_cell_count : int
    """
    groups = list(dict.fromkeys(missing["group"]))
    sizes = missing.drop_duplicates("group").set_index("group")["n"]
    header = {g: f"{'Overall' if g == 'overall' else label_for(g)} (n = {_n_text(sizes[g])})" for g in groups}
    rows = []
    for variable, sub in missing.groupby("variable", sort=False):
        entry = {"Variable": label_for(variable).replace("_", " ")}
        for r in sub.itertuples(index=False):
            entry[header[r.group]] = _missing_cell(r.n_missing, r.percent_missing)
        rows.append(entry)
    return PublicationTable(
        "table_s_missing_by_arm",
        "Supplementary table: missing data by arm at the first transfer",
        pd.DataFrame(rows, columns=["Variable", *header.values()]),
        [
            "Cells: women with the value missing (% of the arm). Arm at the first transfer after the biopsy.",
            rule_statement(min_cell_count),
        ],
    )


def _days(value) -> str:
    v = pd.to_numeric(value, errors="coerce")
    return "not reached" if not np.isfinite(v) else f"{v:g}"


def follow_up_table(follow_up: pd.DataFrame, *, min_cell_count: int) -> PublicationTable:
    """Median follow-up (reverse Kaplan–Meier) with its IQR by arm, from ``follow_up_by_arm.csv``.

    Parameters
    ----------
    follow_up : DataFrame
        The saved (masked) table, read as text: group, n, n_ended, median_days, q1_days, q3_days.
    min_cell_count : int
    """
    rows = []
    for r in follow_up.itertuples(index=False):
        masked = any(str(getattr(r, c)) == "masked" for c in ("median_days", "q1_days", "q3_days"))
        rows.append(
            {
                "Arm": "Overall" if r.group == "overall" else label_for(r.group),
                "Women": _n_text(r.n),
                "Follow-up ended without a live birth": _n_text(r.n_ended),
                "Median follow-up, days (IQR)": "masked"
                if masked
                else f"{_days(r.median_days)} ({_days(r.q1_days)}–{_days(r.q3_days)})",
            }
        )
    return PublicationTable(
        "table_s_follow_up",
        "Supplementary table: follow-up from time zero of the emulated trial by arm",
        pd.DataFrame(rows),
        [
            "Follow-up by the reverse Kaplan–Meier method (Schemper & Smith, Control Clin Trials 1996;17:343): the end "
            "of follow-up without a live birth is the event and a live birth censors, so the median is the potential "
            "follow-up, not shortened by early births. Quartiles as R's quantile.survfit; 'not reached' where the "
            "curve stays above the level.",
            rule_statement(min_cell_count),
        ],
    )


def risk_table(risk: pd.DataFrame, *, min_cell_count: int, stats=("n_at_risk", "cum_events", "cum_censored")):
    """The rows under Figure 4 as a table: per grouping, group and statistic, one column per time.

    Parameters
    ----------
    risk : DataFrame
        ``risk_table_figure_4.csv`` read as text: grouping, group, time_days, n_at_risk,
        cum_events, cum_censored.
    min_cell_count : int
    stats : sequence of str
        Rows shown for each group, in order (:data:`analysis.output.risk_table.RISK_TABLE_STATS`).
    """
    times = sorted(pd.to_numeric(risk["time_days"]).unique())
    names = {"n_at_risk": "At risk", "cum_events": "Cumulative live births", "cum_censored": "Cumulative censored"}
    order = {g: i for i, g in enumerate(("none", "empirical", "personalized", "balanced", "dysregulated"))}
    keys = list(dict.fromkeys(zip(risk["grouping"], risk["group"])))
    keys.sort(key=lambda k: (list(dict.fromkeys(risk["grouping"])).index(k[0]), order.get(k[1], len(order)), k[1]))
    rows = []
    for grouping, group in keys:
        sub = risk[(risk["grouping"] == grouping) & (risk["group"] == group)]
        by_time = sub.assign(t=pd.to_numeric(sub["time_days"])).set_index("t")
        for stat in stats:
            entry = {"Grouping": label_for(grouping).replace("_", " "), "Group": label_for(group), "Row": names[stat]}
            for t in times:
                entry[f"Day {t:g}"] = _n_text(by_time.at[t, stat]) if t in by_time.index else ""
            rows.append(entry)
    return PublicationTable(
        "table_s_risk_figure_4",
        "Supplementary table: numbers at risk, cumulative live births and cumulative censored under Figure 4",
        pd.DataFrame(rows),
        [
            "At risk: women still followed on that day; cumulative live births and censored: before that day, so the "
            "three add up to the group's size. With disclosure control, counts are read off the coarsened curves at "
            "the start of the interval holding each day, and are blank beyond a curve's end.",
            rule_statement(min_cell_count),
        ],
    )
