"""A drafted Results section whose every number is keyed to the table cell it came from.

:func:`write_results_draft` writes ``results_draft.md``, ``results_draft.docx`` and
``results_draft_keys.csv`` into a run folder. Each number of the text is read from one cell of a
saved table (``tables/*.csv``, already masked under disclosure control, never the interim cohort)
or of ``manifest.json`` (the confidence level), and is followed by its key: ``16.9[^K7]`` in
Markdown (a footnote naming file, row and column), a superscript ``K7`` in Word, and one row of
``results_draft_keys.csv`` (key, file, row, column, style, shown). A masked count stays masked:
the text shows the table's ``<5`` or ``masked``. :func:`check_results_draft` re-reads every key
from the tables, formats it again and compares it with the text, and lists any number of the text
that carries no key. Wording stays with associations and intervals, as in ``gtsummary::inline_text``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.core.exceptions import RunError
from analysis.output.results import write_table
from analysis.output.wordfiles import new_document, save_document

__all__ = [
    "DRAFT_KEY_COLUMNS",
    "Cite",
    "Label",
    "SourceKey",
    "build_results_draft",
    "check_results_draft",
    "format_cell",
    "read_cell",
    "write_results_draft",
]

DRAFT_KEY_COLUMNS = ["key", "section", "file", "row", "column", "style", "shown"]
MD_FILE, DOCX_FILE, KEYS_FILE = "results_draft.md", "results_draft.docx", "results_draft_keys.csv"


@dataclass(frozen=True)
class SourceKey:
    """Where a number comes from: a file of the run, the row (column = value pairs), a column, a style.

    For ``manifest.json`` the row is empty and ``column`` is a dotted key (``parameters.conf_level``).
    """

    file: str
    row: tuple[tuple[str, str], ...]
    column: str
    style: str

    def row_text(self) -> str:
        """The row selector as written in the keys file: ``model_id=…; term=…``."""
        return "; ".join(f"{k}={v}" for k, v in self.row)


@dataclass(frozen=True)
class Cite:
    """A number in the text: its source and the text shown."""

    key: SourceKey
    shown: str


@dataclass(frozen=True)
class Label:
    """Words quoted from a table (a reason, a label, a verdict): shown in italics, never read as a number."""

    text: str


@dataclass
class Section:
    """A section of the draft: title and paragraphs (lists of text and :class:`Cite`)."""

    title: str
    paragraphs: list[list[str | Cite | Label]] = field(default_factory=list)


def read_cell(run_dir: str | Path, key: SourceKey) -> str:
    """Return the raw text of the cell ``key`` names (empty string for an empty cell).

    Raises
    ------
    RunError
        The file is absent, or not exactly one row matches, or the column is absent.
    """
    path = Path(run_dir) / key.file
    if not path.is_file():
        raise RunError(f"{key.file} is missing from the run folder")
    if path.suffix == ".json":
        node = json.loads(path.read_text(encoding="utf-8"))
        for part in key.column.split("."):
            if not isinstance(node, dict) or part not in node:
                raise RunError(f"{key.file} has no {key.column}")
            node = node[part]
        return str(node)
    frame = _read_csv(path)
    hit = frame
    for column, value in key.row:
        if column not in frame.columns:
            raise RunError(f"{key.file} has no column {column}")
        hit = hit[hit[column] == value]
    if key.column not in frame.columns:
        raise RunError(f"{key.file} has no column {key.column}")
    if len(hit) != 1:
        raise RunError(f"{key.file}: {len(hit)} rows match {key.row_text()} (one expected)")
    return str(hit.iloc[0][key.column])


_CSV_CACHE: dict[tuple[str, float, int], pd.DataFrame] = {}


def _read_csv(path: Path) -> pd.DataFrame:
    stat = path.stat()
    token = (str(path), stat.st_mtime, stat.st_size)
    if token not in _CSV_CACHE:
        _CSV_CACHE.clear() if len(_CSV_CACHE) > 64 else None
        _CSV_CACHE[token] = pd.read_csv(path, dtype=str, keep_default_na=False)
    return _CSV_CACHE[token]


def format_cell(raw: str, style: str) -> str:
    """Format a raw cell for the text; a masked (``<5``, ``masked``) or empty cell is shown as such.

    Styles: ``count`` (integer with thousands separators), ``percent`` (a proportion × 100, one
    decimal, with ``%``), ``points`` (a risk difference in percentage points, one decimal),
    ``percent_value`` (already a percentage, one decimal, with ``%``), ``ratio`` (two decimals), ``p`` (three decimals, ``<0.001``),
    ``level`` (a confidence level as a percentage, ``90%``), ``alpha`` (a significance level as written, ``0.05``).
    """
    text = raw.strip()
    if text == "":
        return "—"
    try:
        value = float(text)
    except ValueError:
        return text  # "<5", "masked": a masked count stays masked
    if style == "count":
        return f"{round(value):,}"
    if style == "points":
        return f"{100 * value:.1f}"
    if style == "percent":
        return f"{100 * value:.1f}%"
    if style == "percent_value":
        return f"{value:.1f}%"
    if style == "ratio":
        return f"{value:.2f}"
    if style == "p":
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if style == "level":
        return f"{100 * value:g}%"
    if style == "alpha":
        return f"{value:g}"
    raise ValueError(f"unknown number style {style!r}")


class _Draft:
    """Reads cells of one run and collects sections."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.sections: list[Section] = []

    def has(self, file: str, **row: str) -> bool:
        path = self.run_dir / file
        if not path.is_file():
            return False
        frame = _read_csv(path)
        hit = frame
        for column, value in row.items():
            if column not in frame.columns:
                return False
            hit = hit[hit[column] == value]
        return len(hit) == 1

    def cell(self, file: str, column: str, style: str, **row: str) -> Cite:
        key = SourceKey(file, tuple(row.items()), column, style)
        return Cite(key, format_cell(read_cell(self.run_dir, key), style))

    def raw(self, file: str, column: str, **row: str) -> str:
        return read_cell(self.run_dir, SourceKey(file, tuple(row.items()), column, "count"))


def _estimate(d: _Draft, model_id: str, term: str, style: str) -> list[str | Cite]:
    """``est (CI low to high)`` of one estimates row."""
    f = "tables/estimates.csv"
    return [
        d.cell(f, "estimate", style, model_id=model_id, term=term),
        " (CI ",
        d.cell(f, "conf_low", style, model_id=model_id, term=term),
        " to ",
        d.cell(f, "conf_high", style, model_id=model_id, term=term),
        ")",
    ]


def _has_estimate(d: _Draft, model_id: str, term: str) -> bool:
    return d.has("tables/estimates.csv", model_id=model_id, term=term) and d.raw(
        "tables/estimates.csv", "estimate", model_id=model_id, term=term
    ) not in ("", "nan")


_ARMS = ("empirical", "personalized")


def _flow(d: _Draft) -> Section:
    s = Section("Study flow")
    f = "tables/exclusions.csv"
    if not (d.run_dir / f).is_file():
        s.paragraphs.append(["The exclusion log was not written by this run."])
        return s
    flow = _read_csv(d.run_dir / f)
    first = flow.iloc[0]
    para: list[str | Cite] = [
        "Of ",
        d.cell(f, "n_patients", "count", step=first["step"]),
        " women with ",
        d.cell(f, "n_transfers", "count", step=first["step"]),
        " embryo transfers in the data, ",
    ]
    excluded = flow[(flow["kind"] == "excluded") & (flow["stage"] == "cohort")]
    parts = []
    for _, r in excluded.iterrows():
        parts.append([d.cell(f, "n_patients", "count", step=r["step"]), " were excluded (", Label(r["reason"]), ")"])
    for i, p in enumerate(parts):
        para += p + (["; "] if i < len(parts) - 1 else [". "])
    if not parts:
        para.append("none was excluded. ")
    analysed = flow[(flow["stage"] == "first_transfer") & (flow["kind"] == "analysed")]
    if len(analysed):
        step = analysed.iloc[0]["step"]
        para += [
            "The first-transfer population analysed for the primary outcome comprised ",
            d.cell(f, "n_patients", "count", step=step),
            " women (Figure 1).",
        ]
    s.paragraphs.append(para)
    return s


def _cohort(d: _Draft, conf: Cite) -> Section:
    s = Section("Cohort")
    f = "tables/core_outcomes_women_by_arm.csv"
    if d.has(f, group="none", outcome="live_birth", denominator="woman"):
        para: list[str | Cite] = ["At the first transfer, "]
        for i, arm in enumerate(("none", *_ARMS)):
            label = {"none": " women had no immunotherapy", "empirical": " empirical", "personalized": " personalized"}
            para += [d.cell(f, "n", "count", group=arm, outcome="live_birth", denominator="woman"), label[arm]]
            para.append(", " if i == 0 else (" and " if i == 1 else " immunotherapy (Table 1). "))
        s.paragraphs.append(para)
    f = "tables/profile_prevalence.csv"
    if (d.run_dir / f).is_file():
        prev = _read_csv(d.run_dir / f)
        overall = prev[prev["group"] == "overall"]
        para = ["Among women with a profile, the immune profile was "]
        rows = list(overall["immune_profile"])
        for i, profile in enumerate(rows):
            para += [
                Label(profile.replace("_", " ")),
                " in ",
                d.cell(f, "n", "count", group="overall", immune_profile=profile),
                " women, ",
                d.cell(f, "percent", "percent_value", group="overall", immune_profile=profile),
                ", " if i < len(rows) - 1 else " (Figure 2).",
            ]
        s.paragraphs.append(para)
    return s


def _main_effect(d: _Draft, conf: Cite) -> Section:
    s = Section("Main effect")
    f = "tables/hierarchy.csv"
    if d.has(f, role="primary"):
        label = d.raw(f, "label", role="primary")
        if d.raw(f, "estimate", role="primary") not in ("", "nan"):
            difference = d.raw(f, "estimator", role="primary").endswith("_rd")
            style = "points" if difference else "ratio"
            s.paragraphs.append(
                [
                    "In the declared primary analysis (",
                    Label(label),
                    "), the estimate was ",
                    d.cell(f, "estimate", style, role="primary"),
                    " percentage points (" if difference else " (",
                    "CI ",
                    d.cell(f, "conf_low", style, role="primary"),
                    " to ",
                    d.cell(f, "conf_high", style, role="primary"),
                    "; p = ",
                    d.cell(f, "p_value", "p", role="primary"),
                    ", tested at α = ",
                    d.cell(f, "alpha", "alpha", role="primary"),
                    ").",
                ]
            )
        else:
            message = d.raw(f, "message", role="primary")
            s.paragraphs.append(
                [
                    "The declared primary analysis (",
                    Label(label),
                    ") could not be estimated in this run: ",
                    Label(message),
                    ".",
                ]
            )
    for arm in _ARMS:
        term = f"treatment_arm[{arm}]"
        para: list[str | Cite] = []
        if _has_estimate(d, "lb_first_iptw_rd", term):
            para += [
                f"{arm.capitalize()} immunotherapy at the first transfer was associated with a difference in "
                "the risk of live birth of ",
                *_estimate(d, "lb_first_iptw_rd", term, "points"),
                " percentage points against none (IPTW, ",
                conf,
                " CIs",
            ]
            if d.has("tables/iptw_risks.csv", arm=arm) and d.has("tables/iptw_risks.csv", arm="none"):
                para += [
                    "; weighted risks ",
                    d.cell("tables/iptw_risks.csv", "risk", "percent", arm=arm),
                    " and ",
                    d.cell("tables/iptw_risks.csv", "risk", "percent", arm="none"),
                ]
            para.append(")")
            if _has_estimate(d, "lb_first_iptw_rr", term):
                para += [", a risk ratio of ", *_estimate(d, "lb_first_iptw_rr", term, "ratio")]
            if _has_estimate(d, "lb_first_iptw", term):
                para += [" and an odds ratio of ", *_estimate(d, "lb_first_iptw", term, "ratio")]
            para.append(".")
        if _has_estimate(d, "lb_first_aipw", term):
            para += [
                " The doubly robust (AIPW) risk difference was ",
                *_estimate(d, "lb_first_aipw", term, "points"),
                " percentage points.",
            ]
        if _has_estimate(d, "lb_first_crude", term) and _has_estimate(d, "lb_first_adjusted", term):
            para += [
                " The unadjusted odds ratio was ",
                *_estimate(d, "lb_first_crude", term, "ratio"),
                " and the covariate-adjusted odds ratio ",
                *_estimate(d, "lb_first_adjusted", term, "ratio"),
                " (Table 2).",
            ]
        if para:
            s.paragraphs.append([p.lstrip() if isinstance(p, str) and i == 0 else p for i, p in enumerate(para)])
    if _has_estimate(d, "ttlb_cox_itt", "treatment_arm[personalized]"):
        s.paragraphs.append(
            [
                "From the first transfer after the biopsy, the hazard ratio of live birth with personalized "
                "immunotherapy against none was ",
                *_estimate(d, "ttlb_cox_itt", "treatment_arm[personalized]", "ratio"),
                " (Cox, analogue of intention to treat; Figure 4).",
            ]
        )
    if not s.paragraphs:
        s.paragraphs.append(["No main-effect estimate was estimable in this run."])
    return s


def _sensitivity(d: _Draft) -> Section:
    s = Section("Per-protocol and sensitivity analyses")
    term = "treatment_arm[personalized]"
    if _has_estimate(d, "ttlb_cox_pp", term):
        s.paragraphs.append(
            [
                "Per protocol (follow-up censored at a switch of arm, weighted for it), the hazard ratio of live "
                "birth with personalized immunotherapy against none was ",
                *_estimate(d, "ttlb_cox_pp", term, "ratio"),
                ".",
            ]
        )
    else:
        s.paragraphs.append(
            ["The per-protocol hazard ratio was not estimable in this run (`tables/model_status_04.csv`)."]
        )
    f = "tables/sensitivity_summary.csv"
    if (d.run_dir / f).is_file():
        rows = _read_csv(d.run_dir / f)
        para: list[str | Cite] = [
            "The IPTW odds ratio of live birth with personalized immunotherapy against none was, by analysis set: "
        ]
        for i, label in enumerate(rows["label"]):
            para += [
                Label(label),
                " ",
                d.cell(f, "estimate", "ratio", label=label),
                " (CI ",
                d.cell(f, "conf_low", "ratio", label=label),
                " to ",
                d.cell(f, "conf_high", "ratio", label=label),
                ")",
                "; " if i < len(rows) - 1 else " (supplementary sensitivity forest plot).",
            ]
        s.paragraphs.append(para)
    return s


def _biomarkers(d: _Draft) -> Section:
    s = Section("Biomarkers and who benefits")
    f = "tables/validation_internal.csv"
    if d.has(f, measure="auc") and d.has(f, measure="calibration_slope"):
        s.paragraphs.append(
            [
                "The clinical model with endometrial markers had an apparent AUC of ",
                d.cell(f, "apparent", "ratio", measure="auc"),
                " and an optimism-corrected AUC of ",
                d.cell(f, "corrected", "ratio", measure="auc"),
                ", with an optimism-corrected calibration slope of ",
                d.cell(f, "corrected", "ratio", measure="calibration_slope"),
                " (Figure 5).",
            ]
        )
    f = "tables/benefit.csv"
    if (d.run_dir / f).is_file():
        rule = _read_csv(d.run_dir / f)
        rows = rule[rule["grouping"] == "profile_group"]
        para: list[str | Cite] = []
        for _, r in rows.iterrows():
            g = dict(grouping="profile_group", group=r["group"])
            para += [
                "In ",
                Label(r["group"]),
                " profiles, personalized immunotherapy was associated with a doubly robust risk "
                "difference in live birth of ",
                d.cell(f, "risk_difference", "points", **g),
                " percentage points (CI ",
                d.cell(f, "conf_low", "points", **g),
                " to ",
                d.cell(f, "conf_high", "points", **g),
                "; adjusted p = ",
                d.cell(f, "p_adjusted", "p", **g),
                "; rule: ",
                Label(r["verdict"]),
                "). ",
            ]
        if para:
            s.paragraphs.append(para)
    if not s.paragraphs:
        s.paragraphs.append(["The biomarker analyses were not estimable in this run."])
    return s


def _safety(d: _Draft) -> Section | None:
    f = "tables/core_outcomes_women_by_arm.csv"
    if not (d.run_dir / f).is_file():
        return None
    s = Section("Safety")
    for outcome, denominator, label in (
        ("preterm_birth", "live_birth", "Preterm birth per live birth"),
        ("any_pregnancy_loss", "positive_hcg", "Any pregnancy loss per positive hCG test"),
    ):
        para: list[str | Cite] = [f"{label}: "]
        arms = [a for a in ("none", *_ARMS) if d.has(f, group=a, outcome=outcome, denominator=denominator)]
        if not arms:
            continue
        for i, arm in enumerate(arms):
            row = dict(group=arm, outcome=outcome, denominator=denominator)
            para += [
                f"{arm} ",
                d.cell(f, "n_events", "count", **row),
                " of ",
                d.cell(f, "n", "count", **row),
                ", ",
                d.cell(f, "proportion", "percent", **row),
                "; " if i < len(arms) - 1 else " (Table 3).",
            ]
        s.paragraphs.append(para)
    term = "treatment_arm[personalized]"
    if _has_estimate(d, "preterm_first_iptw_rd", term):
        s.paragraphs.append(
            [
                "The IPTW difference in the risk of preterm live birth at the first transfer with personalized "
                "immunotherapy against none was ",
                *_estimate(d, "preterm_first_iptw_rd", term, "points"),
                " percentage points (Figure 6).",
            ]
        )
    return s


def build_results_draft(run_dir: str | Path) -> list[Section]:
    """Return the sections of the drafted Results of a run, every number a :class:`Cite`.

    Sections whose tables the run did not write say so without a number; safety appears only
    when notebook 07 wrote its tables.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "tables").is_dir():
        raise RunError(f"{run_dir} is not a run folder: it has no tables/ folder")
    d = _Draft(run_dir)
    conf = d.cell("manifest.json", "parameters.conf_level", "level")
    sections = [_flow(d), _cohort(d, conf), _main_effect(d, conf), _sensitivity(d), _biomarkers(d)]
    safety = _safety(d)
    return sections + ([safety] if safety else [])


_INTRO = (
    "*Draft written from this run's tables. Every number is followed by a key to the table cell it was read "
    "from (footnotes; `results_draft_keys.csv`); estimates are associations with their confidence intervals, "
    "not proof of effect. Edit the wording, keep the keys until the numbers are checked.*"
)


def _keyed(sections: list[Section]) -> tuple[list[tuple[str, list[list[str]]]], pd.DataFrame]:
    """Number the cites K1, K2, … in reading order; return the text parts and the keys table."""
    rows, out = [], []
    for section in sections:
        paragraphs = []
        for para in section.paragraphs:
            parts = []
            for i, part in enumerate(para):
                if isinstance(part, Cite):
                    before = "".join(p if isinstance(p, str) else "x" for p in para[:i])  # a Label is words
                    if before and not before[-1].isspace():
                        raise ValueError(f"a number must follow a space: …{before[-20:]!r}")
                    key = f"K{len(rows) + 1}"
                    rows.append(
                        {
                            "key": key,
                            "section": section.title,
                            "file": part.key.file,
                            "row": part.key.row_text(),
                            "column": part.key.column,
                            "style": part.key.style,
                            "shown": part.shown,
                        }
                    )
                    parts.append((part.shown, key))
                else:
                    parts.append(part)
            paragraphs.append(parts)
        out.append((section.title, paragraphs))
    return out, pd.DataFrame(rows, columns=DRAFT_KEY_COLUMNS)


def _md_part(part) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Label):
        return f"*{part.text.replace('*', '')}*"
    return f"{part[0]}[^{part[1]}]"


def _markdown(keyed, keys: pd.DataFrame) -> str:
    lines = ["# Results", "", _INTRO, ""]
    for title, paragraphs in keyed:
        lines += [f"## {title}", ""]
        for parts in paragraphs:
            lines += ["".join(_md_part(p) for p in parts).strip(), ""]
    lines += ["## Sources of the numbers", ""]
    for r in keys.itertuples(index=False):
        where = f"row {r.row}, " if r.row else ""
        lines.append(f"[^{r.key}]: `{r.file}`, {where}column `{r.column}`")
    return "\n".join(lines) + "\n"


def _word(keyed, keys: pd.DataFrame, path: Path) -> Path:
    from docx.shared import Pt

    document = new_document()
    document.add_heading("Results", level=1)
    document.add_paragraph(_INTRO.strip("*").replace("`", ""))
    for title, paragraphs in keyed:
        document.add_heading(title, level=2)
        for parts in paragraphs:
            paragraph = document.add_paragraph()
            for p in parts:
                if isinstance(p, str):
                    paragraph.add_run(p)
                elif isinstance(p, Label):
                    paragraph.add_run(p.text).italic = True
                else:
                    paragraph.add_run(p[0])
                    paragraph.add_run(p[1]).font.superscript = True
    document.add_heading("Sources of the numbers", level=2)
    for r in keys.itertuples(index=False):
        where = f"row {r.row}, " if r.row else ""
        document.add_paragraph(f"{r.key}: {r.file}, {where}column {r.column}").runs[0].font.size = Pt(8)
    return save_document(document, path)


def write_results_draft(run_dir: str | Path) -> list[Path]:
    """Write ``results_draft.md``, ``results_draft.docx`` and ``results_draft_keys.csv`` into a run folder.

    Returns
    -------
    list of Path
        The three files.
    """
    run_dir = Path(run_dir)
    keyed, keys = _keyed(build_results_draft(run_dir))
    md = run_dir / MD_FILE
    md.write_text(_markdown(keyed, keys), encoding="utf-8")
    return [md, _word(keyed, keys, run_dir / DOCX_FILE), write_table(keys, run_dir / KEYS_FILE)]


_CITED = re.compile(r"(?:(?<=\s)|^)(\S+?)\[\^(K\d+)\]")


def check_results_draft(run_dir: str | Path) -> pd.DataFrame:
    """Re-read every keyed number of ``results_draft.md`` from its table and list the problems.

    A problem is a number whose table cell (formatted in its style) differs from the text, a key
    whose row no longer exists, a key of the text missing from ``results_draft_keys.csv`` or the
    reverse, or a number in the text without a key (figure and table numbers and code spans
    aside, and words quoted from a table, in italics).

    Returns
    -------
    DataFrame
        ``key, shown, expected, problem``; empty when the draft matches its tables.
    """
    run_dir = Path(run_dir)
    md_path, keys_path = run_dir / MD_FILE, run_dir / KEYS_FILE
    if not md_path.is_file() or not keys_path.is_file():
        raise RunError(f"{run_dir} has no Results draft ({MD_FILE}, {KEYS_FILE})")
    text = md_path.read_text(encoding="utf-8")
    body = text.split("## Sources of the numbers", 1)[0]
    keys = pd.read_csv(keys_path, dtype=str, keep_default_na=False).set_index("key")
    problems = []
    cited = {}
    for shown, key in _CITED.findall(body):
        cited[key] = shown
        if key not in keys.index:
            problems.append({"key": key, "shown": shown, "expected": "", "problem": "key not in the keys file"})
            continue
        r = keys.loc[key]
        row = tuple(tuple(part.split("=", 1)) for part in r["row"].split("; ") if part)
        try:
            expected = format_cell(read_cell(run_dir, SourceKey(r["file"], row, r["column"], r["style"])), r["style"])
        except RunError as exc:
            problems.append({"key": key, "shown": shown, "expected": "", "problem": str(exc)})
            continue
        if expected != shown:
            problems.append(
                {
                    "key": key,
                    "shown": shown,
                    "expected": expected,
                    "problem": f"{r['file']} ({r['row']}) column {r['column']} reads {expected}",
                }
            )
    for key in keys.index.difference(list(cited)):
        problems.append({"key": key, "shown": "", "expected": "", "problem": "key not cited in the text"})
    stripped = _CITED.sub(" ", body)
    stripped = re.sub(r"`[^`]*`|\*[^*\n]+\*|\b(?:Figure|Table)s? \d+\b", " ", stripped)  # code, quoted labels
    for line in stripped.splitlines():
        if re.search(r"\d", line):
            problems.append({"key": "", "shown": line.strip()[:80], "expected": "", "problem": "number without a key"})
    return pd.DataFrame(problems, columns=["key", "shown", "expected", "problem"])
