"""A mapping spec (YAML) from any clinic export to the data contract, and the report of what it did.

A spec names, for each contract table, the export table it comes from and one rule per contract
column::

    source:                       # optional: how to read the export (analysis.data.sources.read_export)
      format: redcap              # a REDCap project: records + data dictionary
      records: records.csv
      dictionary: data_dictionary.csv
    tables:
      patients:
        from: records             # export table (file stem, sheet, REDCap instrument)
        columns:
          patient_id: record_id                       # a rename
          indication: {from: indic, recode: {RIF: rif, RPL: rpl}}
          amh_ng_ml: {from: amh_pmol_l, divide: 7.14, round: 2}
          biopsy_date: {from: biopsy_dt, date_format: "%d/%m/%Y"}
      transfers:
        from: patients_wide
        wide: {pattern: '^t(?P<slot>\\d+)_(?P<field>.+)$'}    # one row per transfer from t1_date, t2_date, …
        columns:
          transfer_number: slot
          treatment_agents: {agents: {columns: {pred: prednisolone, ilip: intralipid}}}

Column rule keys:

``from``
    Source column (a plain string rule is a rename: ``{from: that}``).
``missing``
    Source values that mean "empty" (``[-99, "NA", "unknown"]``).
``recode``
    ``{source value: contract value}``, compared as text (``1`` and ``"1"`` alike). A value that
    matches no key is kept as it is, so validation names it, and is listed in the report.
``multiply``, ``divide``, ``round``
    Unit conversion, e.g. AMH pmol/L to ng/mL: ``divide: 7.14`` (1 ng/mL = 7.14 pmol/L, from the
    molecular mass of AMH, about 140 kDa; the factor used throughout the AMH literature, e.g.
    La Marca et al., Hum Reprod Update 2010;16:113-30), then ``round`` to the decimals the lab
    reports.
``date_format``
    ``strptime`` format of text dates (``"%d/%m/%Y"``), or ``excel`` for Excel serial day
    numbers. Cells that already are dates need none.
``agents``
    Builds the semicolon list of :data:`analysis.data.contract.AGENTS` from several columns:
    ``columns: {column: agent}`` (a yes/checkbox column per agent, ``true_values`` saying what
    counts as given: default ``1, true, yes, y, checked, x``), ``checkbox: FIELD`` (a REDCap
    checkbox field, its labels from the data dictionary), or ``from: [col, col, …]`` (columns
    holding agent names), each with an optional ``recode`` of names to the vocabulary. Agents
    are written in alphabetical order.
``value``
    A constant for every row.

``wide`` turns one row per patient with numbered column groups into one row per transfer:
``pattern`` is a regular expression with the groups ``slot`` and ``field``; the other columns
are repeated on every row, the slot number is the column ``slot`` and a slot whose fields are
all empty is no transfer (counted in the report, never dropped silently).

:func:`map_export` never drops a row: every export row becomes a contract row. Its report lists
the renames, recodes and conversions, the export columns left unmapped, the contract columns
not mapped, and every value that matched no recode (or failed a conversion) with its count and
example ids.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from analysis.core.exceptions import ConfigError
from analysis.data.contract import AGENTS, TABLES
from analysis.data.sources import cell_text, read_export, write_contract_tables

SPEC_KEYS = {"source", "tables"}
TABLE_KEYS = {"from", "wide", "columns"}
RULE_KEYS = {"from", "missing", "recode", "multiply", "divide", "round", "date_format", "agents", "value"}
AGENT_KEYS = {"columns", "checkbox", "from", "true_values", "recode"}
TRUE_VALUES = ("1", "true", "yes", "y", "checked", "x")
EXAMPLE_IDS = 5
EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # day 0 of Excel's (1900 leap-year bug) serial dates


@dataclass
class MappedCohort:
    """The contract tables a spec made from an export, and the report of the mapping.

    Attributes
    ----------
    tables : dict of DataFrame
        ``patients`` and ``transfers`` as contract text (every cell a string or ``None``).
    report : dict
        ``tables`` (per contract table: source, rows in and out, renamed, recoded, converted,
        unmapped export columns, contract columns not mapped, empty wide slots) and
        ``unmatched`` (one row per value that matched no recode or conversion: table, column,
        value, count, example ids).
    """

    tables: dict[str, pd.DataFrame]
    report: dict = field(default_factory=dict)


def read_mapping_spec(path: str | Path) -> dict:
    """Read and check a mapping spec; raise one :class:`ConfigError` listing every problem."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the mapping spec {path}: {exc}") from exc
    problems = spec_problems(spec)
    if problems:
        raise ConfigError(f"mapping spec {path} has {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
    return spec


def spec_problems(spec) -> list[str]:
    """Return every problem of a mapping spec (unknown keys, unknown contract columns, bad rules)."""
    if not isinstance(spec, dict):
        return ["the spec must be a mapping with the key 'tables'"]
    problems = [f"unknown top-level key {k!r} (known: {sorted(SPEC_KEYS)})" for k in spec if k not in SPEC_KEYS]
    tables = spec.get("tables")
    if not isinstance(tables, dict) or not tables:
        return [*problems, f"'tables' must map contract tables ({', '.join(TABLES)}) to their rules"]
    for name, table in tables.items():
        if name not in TABLES:
            problems.append(f"tables.{name}: not a contract table (known: {', '.join(TABLES)})")
            continue
        if not isinstance(table, dict):
            problems.append(f"tables.{name}: must be a mapping with 'from' and 'columns'")
            continue
        problems += [
            f"tables.{name}: unknown key {k!r} (known: {sorted(TABLE_KEYS)})" for k in table if k not in TABLE_KEYS
        ]
        if "from" not in table:
            problems.append(f"tables.{name}: 'from' (the export table) is missing")
        wide = table.get("wide")
        if wide is not None:
            pattern = wide.get("pattern") if isinstance(wide, dict) else None
            try:
                groups = re.compile(pattern).groupindex if isinstance(pattern, str) else {}
            except re.error as exc:
                groups = {}
                problems.append(f"tables.{name}.wide.pattern: not a regular expression: {exc}")
            if not {"slot", "field"} <= set(groups):
                problems.append(
                    f"tables.{name}.wide.pattern must be a regular expression with groups 'slot' and 'field'"
                )
        known = [c.name for c in TABLES[name]]
        for column, rule in (table.get("columns") or {}).items():
            where = f"tables.{name}.columns.{column}"
            if column not in known:
                problems.append(f"{where}: not a column of the contract's {name} table (known: {', '.join(known)})")
            problems += _rule_problems(where, rule)
    return problems


def _rule_problems(where: str, rule) -> list[str]:
    if isinstance(rule, str):
        return []
    if not isinstance(rule, dict):
        return [f"{where}: a rule is a source column name or a mapping, got {rule!r}"]
    problems = [f"{where}: unknown key {k!r} (known: {sorted(RULE_KEYS)})" for k in rule if k not in RULE_KEYS]
    sources = [k for k in ("from", "agents", "value") if k in rule]
    if len(sources) != 1:
        problems.append(f"{where}: needs exactly one of 'from', 'agents', 'value' (got {sources or 'none'})")
    if "recode" in rule and not isinstance(rule["recode"], dict):
        problems.append(f"{where}.recode: must map source values to contract values")
    for key in ("multiply", "divide"):
        if key in rule and (not isinstance(rule[key], int | float) or rule[key] == 0):
            problems.append(f"{where}.{key}: must be a non-zero number, got {rule[key]!r}")
    agents = rule.get("agents")
    if agents is not None:
        if not isinstance(agents, dict):
            return [*problems, f"{where}.agents: must be a mapping"]
        problems += [
            f"{where}.agents: unknown key {k!r} (known: {sorted(AGENT_KEYS)})" for k in agents if k not in AGENT_KEYS
        ]
        if sum(k in agents for k in ("columns", "checkbox", "from")) != 1:
            problems.append(f"{where}.agents: needs exactly one of 'columns', 'checkbox', 'from'")
        named = list((agents.get("columns") or {}).values()) + list((agents.get("recode") or {}).values())
        bad = [a for a in named if a not in AGENTS]
        if bad:
            problems.append(f"{where}.agents: {bad} not in the agent vocabulary ({', '.join(AGENTS)})")
    return problems


def _widen_to_long(frame: pd.DataFrame, pattern: str) -> tuple[pd.DataFrame, int]:
    """One row per filled slot of a wide table; returns the rows and the number of empty slots."""
    regex = re.compile(pattern)
    slots: dict[str, dict[str, str]] = {}
    for column in frame.columns:
        match = regex.match(str(column))
        if match:
            slots.setdefault(match["slot"], {})[match["field"]] = column
    fixed = [c for c in frame.columns if not regex.match(str(c))]
    order = sorted(slots, key=lambda s: int(s) if s.isdigit() else s)
    rows, empty = [], 0
    for record in frame.to_dict("records"):
        for slot in order:
            values = {f: record[c] for f, c in slots[slot].items()}
            if all(cell_text(v) is None for v in values.values()):
                empty += 1
                continue
            rows.append({**{c: record[c] for c in fixed}, "slot": int(slot) if slot.isdigit() else slot, **values})
    fields = list(dict.fromkeys(f for s in order for f in slots[s]))
    return pd.DataFrame(rows, columns=[*fixed, "slot", *fields]), empty


class _Unmatched:
    def __init__(self, table: str, ids: list):
        self.table, self.ids = table, ids
        self.rows: dict[tuple, list] = {}

    def add(self, column: str, value: str, row: int, why: str) -> None:
        self.rows.setdefault((column, value, why), []).append(self.ids[row])

    def records(self) -> list[dict]:
        return [
            {
                "table": self.table,
                "column": column,
                "value": value,
                "problem": why,
                "count": len(ids),
                "example_ids": [str(i) for i in ids[:EXAMPLE_IDS]],
            }
            for (column, value, why), ids in self.rows.items()
        ]


def _apply_rule(column: str, rule, src: pd.DataFrame, unmatched: _Unmatched, log: dict) -> list:
    rule = {"from": rule} if isinstance(rule, str) else rule
    if "value" in rule:
        log["constant"][column] = rule["value"]
        return [cell_text(rule["value"])] * len(src)
    if "agents" in rule:
        return _agents(column, rule["agents"], src, unmatched, log)
    name = rule["from"]
    log["renamed"][column] = name
    raw = src[name].tolist()
    missing = {cell_text(v) for v in rule.get("missing", [])}
    recode = {cell_text(k): v for k, v in (rule.get("recode") or {}).items()}
    out = []
    counts: Counter = Counter()
    for i, value in enumerate(raw):
        text = cell_text(value)
        if text is None or text in missing:
            out.append(None)
            continue
        if recode:
            if text in recode:
                counts[text] += 1
                value = recode[text]
                text = cell_text(value)
            else:
                unmatched.add(column, text, i, "matched no recode")
        if "multiply" in rule or "divide" in rule:
            try:
                number = float(text) * float(rule.get("multiply", 1)) / float(rule.get("divide", 1))
            except ValueError:
                unmatched.add(column, text, i, "not a number")
                out.append(text)
                continue
            value = round(number, int(rule["round"])) if "round" in rule else number
            text = cell_text(value)
        elif "round" in rule:
            try:
                text = cell_text(round(float(text), int(rule["round"])))
            except ValueError:
                unmatched.add(column, text, i, "not a number")
        fmt = rule.get("date_format")
        if fmt and not hasattr(value, "year"):
            try:
                stamp = (
                    EXCEL_EPOCH + pd.Timedelta(days=float(text)) if fmt == "excel" else pd.to_datetime(text, format=fmt)
                )
                text = stamp.strftime("%Y-%m-%d")
            except (ValueError, TypeError):
                unmatched.add(column, text, i, f"not a date in format {fmt}")
        out.append(text)
    if recode:
        log["recoded"][column] = {k: int(v) for k, v in counts.items()}
    if "multiply" in rule or "divide" in rule or "round" in rule:
        log["converted"][column] = {k: rule[k] for k in ("multiply", "divide", "round") if k in rule}
    if fmt := rule.get("date_format"):
        log["converted"][column] = {"date_format": fmt}
    return out


def _agents(column: str, spec: dict, src: pd.DataFrame, unmatched: _Unmatched, log: dict) -> list:
    recode = {str(k): v for k, v in (spec.get("recode") or {}).items()}
    true_values = {str(v).lower() for v in spec.get("true_values", TRUE_VALUES)}
    if "checkbox" in spec:
        field_name = spec["checkbox"]
        labels = src.attrs.get("checkbox_choices", {}).get(field_name, {})
        flags = {f"{field_name}___{code}": label for code, label in labels.items()}
        flags = {c: a for c, a in flags.items() if c in src.columns}
    elif "columns" in spec:
        flags = dict(spec["columns"])
    else:
        flags = None
    per_row: list[set] = [set() for _ in range(len(src))]
    if flags is not None:
        log["agents"][column] = {"columns": flags}
        for col, agent in flags.items():
            for i, value in enumerate(src[col].tolist()):
                text = cell_text(value)
                if text is not None and text.lower() in true_values:
                    per_row[i].add(agent)
    else:
        cols = spec["from"]
        log["agents"][column] = {"from": cols}
        for col in cols:
            for i, value in enumerate(src[col].tolist()):
                text = cell_text(value)
                if text is not None:
                    per_row[i].add(text)
    out = []
    for i, names in enumerate(per_row):
        agents = set()
        for name in names:
            agent = recode.get(name, name)
            if agent not in AGENTS:
                unmatched.add(column, name, i, "not an agent of the vocabulary (add it to recode)")
            agents.add(agent)
        out.append(";".join(sorted(agents)) or None)
    return out


def _source_columns(rule) -> list[str]:
    if isinstance(rule, str):
        return [rule]
    if "from" in rule:
        return [rule["from"]]
    agents = rule.get("agents") or {}
    if "columns" in agents:
        return list(agents["columns"])
    if "from" in agents:
        return list(agents["from"])
    return []


def map_export(export: dict[str, pd.DataFrame], spec: dict) -> MappedCohort:
    """Map export tables onto the contract tables with a checked spec.

    Raises
    ------
    ConfigError
        The spec names an export table or column the export does not have (every one listed,
        with the names the export has).
    """
    problems = spec_problems(spec)
    for name, table in spec["tables"].items():
        if table["from"] not in export:
            problems.append(f"tables.{name}.from: no export table {table['from']!r} (export tables: {sorted(export)})")
    if problems:
        raise ConfigError("the mapping spec does not fit the export:\n  - " + "\n  - ".join(problems))
    tables, report = {}, {"tables": {}, "unmatched": []}
    used_by_source: dict[str, set] = {}
    for name, table in spec["tables"].items():
        src = export[table["from"]]
        attrs = dict(src.attrs)
        empty_slots = 0
        if table.get("wide"):
            src, empty_slots = _widen_to_long(src, table["wide"]["pattern"])
            src.attrs.update(attrs)
        rules = table.get("columns") or {}
        checkboxes = [
            r["agents"]["checkbox"]
            for r in rules.values()
            if isinstance(r, dict) and "checkbox" in (r.get("agents") or {})
        ]
        missing = sorted({c for rule in rules.values() for c in _source_columns(rule) if c not in src.columns})
        missing += [f"{f}___*" for f in checkboxes if not any(str(c).startswith(f + "___") for c in src.columns)]
        if missing:
            raise ConfigError(
                f"tables.{name}: export table {table['from']!r} has no column(s) {missing}; "
                f"its columns: {', '.join(map(str, src.columns))}"
            )
        id_rule = rules.get("patient_id")
        ids = [cell_text(v) for v in src[_source_columns(id_rule)[0]]] if id_rule else list(range(1, len(src) + 1))
        unmatched = _Unmatched(name, ids)
        log = {"renamed": {}, "recoded": {}, "converted": {}, "agents": {}, "constant": {}}
        out = pd.DataFrame({c: _apply_rule(c, rule, src, unmatched, log) for c, rule in rules.items()}, dtype=object)
        _flag_unknown_levels(name, out, rules, unmatched)
        used = {c for rule in rules.values() for c in _source_columns(rule)}
        used |= {c for f in checkboxes for c in src.columns if str(c).startswith(f + "___")}
        if table.get("wide"):  # back to the export's own column names (t1_date, t2_date, … for `date`)
            regex = re.compile(table["wide"]["pattern"])
            matches = {c: regex.match(str(c)) for c in export[table["from"]].columns}
            used = {c for c, m in matches.items() if (m and m["field"] in used) or (not m and c in used)}
        used_by_source.setdefault(table["from"], set()).update(used)
        tables[name] = out
        report["tables"][name] = {
            "source": table["from"],
            "rows_in": int(len(export[table["from"]])),
            "rows_out": int(len(out)),
            "wide_empty_slots": int(empty_slots),
            **log,
            "contract_columns_not_mapped": [c.name for c in TABLES[name] if c.name not in rules],
        }
        report["unmatched"] += unmatched.records()
    for name, table in spec["tables"].items():  # unmapped: used by no contract table
        columns = export[table["from"]].columns
        report["tables"][name]["unmapped_source_columns"] = [
            str(c) for c in columns if c not in used_by_source[table["from"]]
        ]
    return MappedCohort(tables, report)


def _flag_unknown_levels(table: str, out: pd.DataFrame, rules: dict, unmatched: _Unmatched) -> None:
    """Report category values outside the contract's levels (validation will refuse them)."""
    for spec in TABLES[table]:
        if spec.kind != "category" or not spec.levels or spec.name not in out:
            continue
        rule = rules[spec.name]
        if isinstance(rule, dict) and "recode" in rule:
            continue  # already reported as unmatched recodes
        for i, value in enumerate(out[spec.name].tolist()):
            if value is not None and value.lower() not in spec.levels:
                unmatched.add(spec.name, value, i, f"not a level of the contract ({', '.join(spec.levels)})")


def mapping_report_markdown(report: dict) -> str:
    """Render a mapping report as Markdown (``mapping_report.md``)."""
    lines = ["# Mapping report", ""]
    for name, t in report["tables"].items():
        lines += [f"## {name} (from export table `{t['source']}`)", ""]
        lines.append(f"- rows: {t['rows_in']} in the export, {t['rows_out']} written")
        if t["wide_empty_slots"]:
            lines.append(
                f"- wide layout: {t['wide_empty_slots']} empty transfer slot(s) (no field filled) are no transfer"
            )
        for column, source in t["renamed"].items():
            lines.append(f"- `{source}` → `{column}`")
        for column, counts in t["recoded"].items():
            lines.append(f"- recoded `{column}`: " + ", ".join(f"{k!r}: {v}" for k, v in counts.items()))
        for column, how in t["converted"].items():
            lines.append(f"- converted `{column}`: {how}")
        for column, how in t["agents"].items():
            lines.append(f"- agents `{column}` from {how}")
        for column, value in t["constant"].items():
            lines.append(f"- `{column}` set to {value!r} on every row")
        lines.append(f"- export columns left unmapped: {', '.join(t['unmapped_source_columns']) or 'none'}")
        lines.append(f"- contract columns not mapped: {', '.join(t['contract_columns_not_mapped']) or 'none'}")
        lines.append("")
    lines += ["## Values that matched no rule", ""]
    if not report["unmatched"]:
        lines.append("None: every value matched a recode or conversion.")
    else:
        lines.append("| table | column | value | problem | count | example ids |")
        lines.append("|---|---|---|---|---|---|")
        for u in report["unmatched"]:
            lines.append(
                f"| {u['table']} | {u['column']} | {u['value']} | {u['problem']} | {u['count']} | {', '.join(u['example_ids'])} |"
            )
    return "\n".join(lines) + "\n"


def map_export_files(spec_path: str | Path, in_path: str | Path, out_dir: str | Path) -> MappedCohort:
    """Read an export with a spec, write the contract tables and the mapping report into ``out_dir``.

    Writes ``patients.csv``, ``transfers.csv``, ``mapping_report.md`` and ``mapping_report.json``.

    Examples
    --------
    >>> mapped = map_export_files("examples/redcap/mapping.yaml", "examples/redcap", "/tmp/mapped")  # doctest: +SKIP
    """
    spec = read_mapping_spec(spec_path)
    mapped = map_export(read_export(in_path, spec.get("source")), spec)
    out_dir = Path(out_dir)
    write_contract_tables(mapped.tables, out_dir)
    (out_dir / "mapping_report.md").write_text(mapping_report_markdown(mapped.report), encoding="utf-8")
    (out_dir / "mapping_report.json").write_text(json.dumps(mapped.report, indent=2) + "\n", encoding="utf-8")
    return mapped
