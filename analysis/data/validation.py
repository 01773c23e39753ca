"""Validation of a cohort against the data contract.

:func:`validate_cohort` parses the raw tables into typed frames and checks every rule of
:mod:`analysis.data.contract` at once. Each broken rule becomes one row of a problems table
(``table, column, rule, severity, n_rows, example_ids, message``); errors stop a run before any
analysis, warnings are listed in the run's report. No row is dropped here: exclusions belong to
:mod:`analysis.data.cohort`, which logs them.

Column checks (levels, hard ranges, uniqueness, missing values) are pandera schemas built from
the contract; parsing and the rules that span columns or tables are vectorised pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.core.exceptions import CohortValidationError
from analysis.core.text import exploded_lists
from analysis.data import contract
from analysis.data.contract import ColumnSpec
from analysis.data.loading import READ_NOTES

if TYPE_CHECKING:  # pandera is imported where a schema is built: a notebook reading the cached cohort never validates
    import pandera.pandas as pa

PROBLEM_COLUMNS = ["table", "column", "rule", "severity", "n_rows", "example_ids", "message"]
N_EXAMPLES = 5

#: Rules that warn (the data are possible, but some rows are left out of an analysis), by name.
WARNING_RULES = {
    "transfer_after_live_birth": "transfers: a transfer after the woman's first live birth (a sibling attempt) is "
    "reported and left out of the per-woman and all-transfer analyses",
}

#: Date layouts recognised in a date column that is not written YYYY-MM-DD, to name them in the message.
_DATE_LAYOUTS = {
    "DD/MM/YYYY or MM/DD/YYYY": r"^\d{1,2}/\d{1,2}/\d{2,4}$",
    "DD.MM.YYYY": r"^\d{1,2}\.\d{1,2}\.\d{2,4}$",
    "DD-MM-YYYY": r"^\d{1,2}-\d{1,2}-\d{4}$",
    "YYYY/MM/DD": r"^\d{4}/\d{1,2}/\d{1,2}$",
    "YYYYMMDD": r"^\d{8}$",
}
#: Excel stores a date as days since 1899-12-30; cells holding such a number (1950–2100) were
#: exported as numbers instead of dates.
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_EXCEL_SERIAL = (18264, 73051)

_TRUE = {"true", "1", "yes", "y", "t", "1.0"}
_FALSE = {"false", "0", "no", "n", "f", "0.0"}


@dataclass
class ValidatedCohort:
    """Typed tables and what validation found.

    Attributes
    ----------
    patients, transfers : DataFrame
        Parsed tables: every row of the input, typed per the contract, extra columns kept.
    problems : DataFrame
        Findings with :data:`PROBLEM_COLUMNS`; ``severity`` is ``"error"`` or ``"warning"``.
    births, adverse_events : DataFrame or None
        The optional tables, parsed like the others; None when the cohort has none.
    """

    patients: pd.DataFrame
    transfers: pd.DataFrame
    problems: pd.DataFrame
    births: pd.DataFrame | None = None
    adverse_events: pd.DataFrame | None = None

    @property
    def errors(self) -> pd.DataFrame:
        return self.problems[self.problems["severity"] == "error"]

    @property
    def warnings(self) -> pd.DataFrame:
        return self.problems[self.problems["severity"] == "warning"]

    def raise_for_errors(self) -> ValidatedCohort:
        """Raise :class:`CohortValidationError` listing every error, or return ``self``."""
        if len(self.errors):
            raise CohortValidationError(self.errors.reset_index(drop=True))
        return self


class _Findings:
    """Collects problems as rows."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, table, column, rule, severity, ids, message):
        ids = pd.Series(ids, dtype="object").astype(str)
        n = int(len(ids))
        if n == 0:
            return
        examples = ", ".join(ids.drop_duplicates().head(N_EXAMPLES))
        self.rows.append(
            dict(
                table=table,
                column=column,
                rule=rule,
                severity=severity,
                n_rows=n,
                example_ids=examples,
                message=message,
            )
        )

    def note(self, table, column, rule, severity, message):
        self.rows.append(
            dict(table=table, column=column, rule=rule, severity=severity, n_rows=0, example_ids="", message=message)
        )

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame(columns=PROBLEM_COLUMNS)
        out = pd.DataFrame(self.rows, columns=PROBLEM_COLUMNS)
        order = {"error": 0, "warning": 1}
        return (
            out.assign(_s=out["severity"].map(order))
            .sort_values(["_s", "table", "column", "rule"], kind="stable")
            .drop(columns="_s")
            .reset_index(drop=True)
        )


def _row_ids(table: str, frame: pd.DataFrame) -> pd.Series:
    """Identifiers shown in problem reports: patient id, and the transfer number for transfers."""
    pid = (
        frame["patient_id"].astype("string").fillna("?")
        if "patient_id" in frame
        else pd.Series([f"row {i + 2}" for i in range(len(frame))], index=frame.index)
    )
    if table in ("transfers", "births") and "transfer_number" in frame:
        pid = pid + "#" + frame["transfer_number"].astype("string").fillna("?")
        if table == "births" and "baby_number" in frame:
            pid = pid + "." + frame["baby_number"].astype("string").fillna("?")
        return pid
    if table == "adverse_events" and "event_date" in frame:
        return pid + "@" + frame["event_date"].astype("string").fillna("?")
    return pid


# --------------------------------------------------------------------------- parsing


#: Text cells are parsed as Arrow strings: trimming, lower-casing and pattern matching then run
#: in Arrow's compiled kernels over the whole column, not as one Python call per cell (at 1M
#: transfers that was most of the validation time).
_TEXT = "string[pyarrow]"


def _text(raw: pd.Series) -> pd.Series:
    """The column as Arrow-backed text (missing cells stay missing)."""
    return raw.astype(_TEXT)


def _blank(raw: pd.Series) -> pd.Series:
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        return (raw.isna() | (_text(raw).str.strip() == "")).astype(bool)
    return raw.isna()


def _parse_column(raw: pd.Series, s: ColumnSpec) -> tuple[pd.Series, pd.Series]:
    """Parse one raw column; return the typed column and a mask of unparseable cells."""
    blank = _blank(raw)
    if s.kind in ("id", "category"):
        out = _text(raw).str.strip()
        if s.kind == "category":
            out = out.str.lower()
        out = out.mask(blank).astype("string")
        return out, pd.Series(False, index=raw.index)
    if s.kind == "agents":
        out = _text(raw).str.lower().str.replace(r"[\s\pZ]+", "", regex=True).mask(blank)
        out = out.fillna("").astype("string")
        return out, pd.Series(False, index=raw.index)
    if s.kind in ("float", "integer"):
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & ~blank
        if s.kind == "integer":
            frac = num.notna() & (np.floor(num) != num)
            bad = bad | frac
            num = num.mask(frac)
            return num.astype("Float64").round().astype("Int64"), bad
        return num.astype(float), bad
    if s.kind == "boolean":
        if pd.api.types.is_bool_dtype(raw):
            return raw.astype("boolean"), pd.Series(False, index=raw.index)
        text = _text(raw).str.strip().str.lower()
        out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
        out[text.isin(_TRUE).fillna(False).to_numpy(bool)] = True
        out[text.isin(_FALSE).fillna(False).to_numpy(bool)] = False
        bad = out.isna() & ~blank
        return out, bad
    if s.kind == "date":
        if pd.api.types.is_datetime64_any_dtype(raw):
            out = pd.to_datetime(raw).dt.tz_localize(None) if getattr(raw.dt, "tz", None) else raw
            return out.dt.normalize().astype("datetime64[ns]"), pd.Series(False, index=raw.index)
        # cache=False: pandas' cache decision samples up to 500 cells in Python; the fixed format
        # parses in compiled code anyway
        out = pd.to_datetime(_text(raw).str.strip().str.slice(0, 10), format="%Y-%m-%d", errors="coerce", cache=False)
        bad = out.isna() & ~blank
        return out.astype("datetime64[ns]"), bad
    raise ValueError(f"unknown column kind {s.kind!r}")


def _date_layout_findings(
    table: str, column: str, raw: pd.Series, bad: pd.Series, ids: pd.Series, findings: _Findings
) -> pd.Series:
    """Name the unreadable dates that are Excel serial numbers or another date layout; return the rest."""
    text = _text(raw).str.strip().astype("string")
    number = pd.to_numeric(text.where(bad), errors="coerce")
    serial = (
        bad & number.between(*_EXCEL_SERIAL).fillna(False).astype(bool) & (number == np.floor(number)).fillna(False)
    )
    if serial.any():
        first = int(number[serial].iloc[0])
        findings.add(
            table,
            column,
            "excel_serial_date",
            "error",
            ids[serial],
            f"{table}.{column} holds Excel serial day numbers (e.g. {first} = "
            f"{(_EXCEL_EPOCH + pd.Timedelta(days=first)).date()}): the cells were exported as numbers; format "
            "them as dates and write every date as YYYY-MM-DD",
        )
    rest = bad & ~serial
    n_iso = int((~bad & text.notna() & (text != "")).sum())
    layouts = {
        name: rest & text.str.match(pattern).fillna(False).astype(bool) for name, pattern in _DATE_LAYOUTS.items()
    }
    found = {name: mask for name, mask in layouts.items() if mask.any()}
    if found and (n_iso or len(found) > 1):
        other = pd.concat(found.values(), axis=1).any(axis=1)
        counts = "; ".join(f"{int(m.sum())} as {name} (e.g. '{text[m].iloc[0]}')" for name, m in found.items())
        findings.add(
            table,
            column,
            "mixed_date_formats",
            "error",
            ids[other],
            f"{table}.{column} mixes date formats: {n_iso} cell(s) as YYYY-MM-DD; {counts}. Write every date as "
            "YYYY-MM-DD (a day/month order cannot be guessed safely)",
        )
        rest = rest & ~other
    return rest


_KIND_TEXT = {
    "float": "a number",
    "integer": "a whole number",
    "boolean": "true/false (or 1/0, yes/no)",
    "date": "a date written YYYY-MM-DD",
}


def _read_notes(table: str, raw: pd.DataFrame, ids: pd.Series, findings: _Findings) -> None:
    """Report what the reader noticed (encoding, repeated column names; :data:`analysis.data.loading.READ_NOTES`)."""
    for note in raw.attrs.get(READ_NOTES, []):
        if note.get("non_ascii"):  # name the cells whose text the encoding decides
            for c in raw.columns:
                if raw[c].dtype != object:
                    continue
                odd = raw[c].astype("string").str.contains(r"[^\x00-\x7f]", regex=True).fillna(False).astype(bool)
                if odd.any():
                    findings.add(table, c, note["rule"], note["severity"], ids[odd], note["message"])
            continue
        findings.note(table, note["column"], note["rule"], note["severity"], note["message"])


def _parse_table(table: str, raw: pd.DataFrame, findings: _Findings) -> pd.DataFrame:
    specs = contract.TABLES[table]
    known = {s.name for s in specs}
    out = raw.copy()
    ids = _row_ids(table, raw)
    _read_notes(table, raw, ids, findings)
    if len(raw) == 0:
        findings.note(
            table,
            "(all)",
            "empty_table",
            "error",
            f"the {table} table has a header and no rows; export it again with its data",
        )
    for s in specs:
        if s.name not in raw.columns:
            if s.required:
                findings.note(
                    table, s.name, "required_column", "error", f"required column '{s.name}' is missing ({s.meaning})"
                )
            continue
        parsed, bad = _parse_column(raw[s.name], s)
        if s.kind == "date" and bad.any():
            bad = _date_layout_findings(table, s.name, raw[s.name], bad, ids, findings)
        if bad.any():
            example = raw.loc[bad, s.name].astype(str).head(3).tolist()
            findings.add(
                table,
                s.name,
                f"type_{s.kind}",
                "error",
                ids[bad],
                f"{table}.{s.name} must be {_KIND_TEXT[s.kind]}; cannot read {example}",
            )
        out[s.name] = parsed
    extra = [c for c in raw.columns if c not in known]
    for c in extra:
        findings.note(
            table,
            c,
            "extra_column",
            "warning",
            f"column '{c}' is not in the data contract; it is kept and not analysed",
        )
    return out


# --------------------------------------------------------------------------- column checks


def _schema(table: str, present: set[str]) -> pa.DataFrameSchema:
    import pandera.pandas as pa

    cols = {}
    for s in contract.TABLES[table]:
        if s.name not in present:
            continue
        checks = []
        if s.levels is not None and s.kind == "category":
            checks.append(pa.Check.isin(list(s.levels)))
        if s.limits is not None:
            checks.append(pa.Check.in_range(s.limits[0], s.limits[1]))
        cols[s.name] = pa.Column(checks=checks, nullable=s.nullable, unique=s.unique, required=False, coerce=False)
    return pa.DataFrameSchema(cols, strict=False)


_RULE_NAMES = {"not_nullable": "not_null", "field_uniqueness": "unique"}


def _column_checks(table: str, frame: pd.DataFrame, findings: _Findings) -> None:
    import pandera.pandas as pa

    schema = _schema(table, set(frame.columns))
    try:
        schema.validate(frame, lazy=True)
        return
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    ids = _row_ids(table, frame)
    failures = failures[failures["index"].notna()]
    for (column, check), group in failures.groupby(["column", "check"], sort=True):
        rule = _RULE_NAMES.get(check) or (
            "range"
            if str(check).startswith("in_range")
            else "allowed_levels"
            if str(check).startswith("isin")
            else str(check)
        )
        index = group["index"].drop_duplicates()
        s = contract.spec(table, column)
        if rule == "allowed_levels":
            bad = sorted(group["failure_case"].astype(str).unique())[:5]
            msg = f"{table}.{column} must be one of {list(s.levels)}; found {bad}"
        elif rule == "range":
            msg = (
                f"{table}.{column} must lie in [{s.limits[0]:g}, {s.limits[1]:g}]"
                + (f" {s.unit}" if s.unit else "")
                + f"; found {sorted(group['failure_case'].astype(float).unique())[:5]}"
            )
        elif rule == "not_null":
            msg = f"{table}.{column} is required and may not be empty"
        elif rule == "unique":
            msg = f"{table}.{column} must be unique; repeated values found"
        else:
            msg = f"{table}.{column} fails {check}"
        findings.add(table, column, rule, "error", ids.loc[index.to_numpy()], msg)


def _soft_checks(table: str, frame: pd.DataFrame, findings: _Findings) -> None:
    ids = _row_ids(table, frame)
    for s in contract.TABLES[table]:
        if s.name not in frame.columns:
            if not s.required and s.warn_if_absent:
                findings.note(
                    table,
                    s.name,
                    "optional_column_absent",
                    "warning",
                    f"optional column '{s.name}' is absent; analyses that need it are skipped",
                )
            continue
        col = frame[s.name]
        if not s.required and len(col) and col.isna().all():
            findings.note(
                table,
                s.name,
                "all_missing",
                "warning",
                f"optional column '{s.name}' is empty in every row; analyses that need it are skipped",
            )
        if s.plausible is not None and s.kind in ("float", "integer"):
            lo, hi = s.plausible
            out = col.notna() & ((col < lo) | (col > hi))
            if s.limits is not None:
                out &= (col >= s.limits[0]) & (col <= s.limits[1])
            out = out.fillna(False).astype(bool)
            if out.any():
                findings.add(
                    table,
                    s.name,
                    "plausible_range",
                    "warning",
                    ids[out],
                    f"{table}.{s.name} outside the usual range [{lo:g}, {hi:g}]"
                    + (f" {s.unit}" if s.unit else "")
                    + "; possible but worth checking",
                )


# --------------------------------------------------------------------------- cross-table rules


def after_first_live_birth(transfers: pd.DataFrame) -> pd.Series:
    """Flag the transfers that follow a woman's first live birth (sibling attempts).

    A transfer is flagged when an earlier transfer of the same woman (lower ``transfer_number``)
    ended in live birth; unknown outcomes count as no live birth, and rows without a patient id
    or transfer number are never flagged.

    Parameters
    ----------
    transfers : DataFrame
        Typed transfers with ``patient_id``, ``transfer_number`` and ``live_birth``.

    Returns
    -------
    Series
        Boolean, indexed like ``transfers``.

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": ["a", "a", "a", "b"], "transfer_number": [1, 2, 3, 1],
    ...                   "live_birth": [False, True, False, True]})
    >>> after_first_live_birth(t).tolist()
    [False, False, True, False]
    """
    usable = transfers["patient_id"].notna() & transfers["transfer_number"].notna()
    t = transfers.loc[usable, ["patient_id", "transfer_number", "live_birth"]]
    t = t.sort_values(["patient_id", "transfer_number"], kind="stable")
    lb = t["live_birth"].astype("boolean").fillna(False).astype(int)
    births_before = lb.groupby(t["patient_id"], sort=False).cumsum() - lb
    return (births_before > 0).reindex(transfers.index, fill_value=False).astype(bool)


def _design_checks(patients: pd.DataFrame, transfers: pd.DataFrame, outcome: str, findings: _Findings) -> None:
    """Data the contract allows that leave the analyses nothing to compare or estimate.

    One arm only, every ``outcome`` unknown (errors: no notebook could answer its question), a
    centre with one patient (warning).
    """
    tids = _row_ids("transfers", transfers)
    pids = _row_ids("patients", patients)
    if len(transfers) and "treatment_arm" in transfers:
        arms = transfers["treatment_arm"].dropna().unique()
        if len(arms) == 1:
            findings.add(
                "transfers",
                "treatment_arm",
                "single_arm",
                "error",
                tids,
                f"every transfer has treatment_arm '{arms[0]}': the analyses compare arms, so at least two of "
                f"{list(contract.ARMS)} are needed",
            )
    if len(transfers) and outcome in transfers and transfers[outcome].isna().all():
        findings.add(
            "transfers",
            outcome,
            "all_outcomes_unknown",
            "error",
            tids,
            f"transfers.{outcome} (the outcome of the analysis plan) is unknown in every transfer: nothing can be "
            "estimated",
        )
    if "center_id" in patients and patients["center_id"].notna().any():
        size = patients.groupby("center_id")["center_id"].transform("size")
        alone = (size == 1).fillna(False).astype(bool)
        if alone.any():
            findings.add(
                "patients",
                "center_id",
                "single_patient_centre",
                "warning",
                pids[alone.to_numpy()],
                f"centre(s) {sorted(patients.loc[alone, 'center_id'].astype(str))[:5]} have one patient each: "
                "centre-adjusted models cannot tell the centre from the patient (consider merging small centres)",
            )


def _cross_checks(patients: pd.DataFrame, transfers: pd.DataFrame, findings: _Findings) -> None:
    rules = contract.CROSS_RULES
    pids = _row_ids("patients", patients)
    tids = _row_ids("transfers", transfers)

    def flag(table, column, rule, mask, ids):
        mask = pd.Series(mask).fillna(False).astype(bool).to_numpy()
        if mask.any():
            findings.add(table, column, rule, "error", ids[mask], rules[rule])

    def has(frame, *cols):
        return all(c in frame.columns for c in cols)

    markers = [m for m in contract.ENDOMETRIAL_MARKERS if m in patients.columns]
    flag(
        "patients",
        ",".join(contract.ENDOMETRIAL_MARKERS),
        "at_least_one_endometrial_marker",
        patients[markers].isna().all(axis=1) if markers else np.ones(len(patients), bool),
        pids,
    )
    if has(patients, "biopsy_date", "follow_up_end_date"):
        flag(
            "patients",
            "follow_up_end_date",
            "biopsy_before_follow_up_end",
            patients["follow_up_end_date"] < patients["biopsy_date"],
            pids,
        )

    if not has(transfers, "patient_id") or not has(patients, "patient_id"):
        return
    known = transfers["patient_id"].isin(patients["patient_id"].dropna())
    flag("transfers", "patient_id", "patient_id_known", ~known & transfers["patient_id"].notna(), tids)

    pat_cols = [c for c in ("patient_id", "biopsy_date", "follow_up_end_date") if c in patients.columns]
    first = patients[pat_cols].drop_duplicates("patient_id")
    merged = transfers[["patient_id"]].merge(first, on="patient_id", how="left", validate="many_to_one")
    merged.index = transfers.index
    if has(transfers, "transfer_date"):
        if "biopsy_date" in merged:
            flag(
                "transfers",
                "transfer_date",
                "biopsy_before_transfer",
                transfers["transfer_date"] <= merged["biopsy_date"],
                tids,
            )
        if "follow_up_end_date" in merged:
            flag(
                "transfers",
                "transfer_date",
                "transfer_before_follow_up_end",
                transfers["transfer_date"] > merged["follow_up_end_date"],
                tids,
            )

    if has(transfers, "transfer_number"):
        num = transfers["transfer_number"]
        grp = transfers.assign(_n=num).groupby("patient_id", sort=False)["_n"]
        size = grp.transform("size")
        nunique = grp.transform("nunique")
        bad = (grp.transform("min") != 1) | (grp.transform("max") != size) | (nunique != size)
        flag("transfers", "transfer_number", "transfer_numbers_consecutive", bad & num.notna(), tids)
        if has(transfers, "transfer_date"):
            ordered = transfers.sort_values(["patient_id", "transfer_number"], kind="stable")
            prev = ordered.groupby("patient_id", sort=False)["transfer_date"].shift()
            bad_order = (ordered["transfer_date"] <= prev).reindex(transfers.index)
            flag("transfers", "transfer_date", "transfer_dates_ordered", bad_order, tids)
        if has(transfers, "live_birth"):
            after = after_first_live_birth(transfers)
            if after.any():
                findings.add(
                    "transfers",
                    "live_birth",
                    "transfer_after_live_birth",
                    "warning",
                    tids[after.to_numpy()],
                    WARNING_RULES["transfer_after_live_birth"],
                )

    if has(transfers, "good_quality_embryos", "embryos_transferred"):
        flag(
            "transfers",
            "good_quality_embryos",
            "good_quality_within_embryos",
            transfers["good_quality_embryos"] > transfers["embryos_transferred"],
            tids,
        )
    if has(transfers, "gestational_sacs", "embryos_transferred"):
        flag(
            "transfers",
            "gestational_sacs",
            "sacs_within_embryos",
            transfers["gestational_sacs"] > transfers["embryos_transferred"],
            tids,
        )
    if has(transfers, "live_birth", "clinical_pregnancy"):
        flag(
            "transfers",
            "live_birth",
            "live_birth_implies_clinical_pregnancy",
            (transfers["live_birth"] == True) & (transfers["clinical_pregnancy"] == False),  # noqa: E712  (nullable: NA stays unflagged)
            tids,
        )
    if has(transfers, "miscarriage", "clinical_pregnancy"):
        flag(
            "transfers",
            "miscarriage",
            "miscarriage_implies_clinical_pregnancy",
            (transfers["miscarriage"] == True) & (transfers["clinical_pregnancy"] == False),  # noqa: E712  (nullable: NA stays unflagged)
            tids,
        )
    if has(transfers, "clinical_pregnancy", "positive_hcg"):
        flag(
            "transfers",
            "clinical_pregnancy",
            "clinical_pregnancy_implies_positive_hcg",
            (transfers["clinical_pregnancy"] == True) & (transfers["positive_hcg"] == False),  # noqa: E712  (nullable: NA stays unflagged)
            tids,
        )
    if has(transfers, "clinical_pregnancy", "gestational_sacs"):
        cp = transfers["clinical_pregnancy"]
        sacs = transfers["gestational_sacs"]
        flag(
            "transfers",
            "clinical_pregnancy",
            "clinical_pregnancy_iff_sacs",
            cp.notna() & sacs.notna() & (cp.fillna(False).astype(bool) != (sacs.fillna(0) > 0)),
            tids,
        )
    if has(transfers, "treatment_agents", "treatment_arm"):
        agents = transfers["treatment_agents"].fillna("")
        arm = transfers["treatment_arm"]
        flag(
            "transfers",
            "treatment_agents",
            "agents_match_arm",
            ((arm == "none") & (agents != "")) | ((arm == "empirical") & (agents == "")),
            tids,
        )
        # Unknown agents: explode the lists once, vectorised.
        exploded = exploded_lists(agents)
        exploded = exploded[exploded != ""]
        unknown = ~exploded.isin(contract.AGENTS)
        if unknown.any():
            rows = exploded.index[unknown.to_numpy()].unique()
            found = sorted(exploded[unknown].unique())[:5]
            findings.add(
                "transfers",
                "treatment_agents",
                "allowed_levels",
                "error",
                tids.loc[rows],
                f"transfers.treatment_agents must list agents from {list(contract.AGENTS)}; found {found}",
            )


def _flagger(findings: _Findings):
    def flag(table, column, rule, mask, ids):
        mask = pd.Series(mask).fillna(False).astype(bool).to_numpy()
        if mask.any():
            findings.add(table, column, rule, "error", ids[mask], contract.CROSS_RULES[rule])

    return flag


def _is(series: pd.Series, value) -> pd.Series:
    """``series == value`` with missing values False (nullable columns)."""
    return (series == value).fillna(False).astype(bool)


def _pregnancy_checks(transfers: pd.DataFrame, findings: _Findings) -> None:
    """Rules of the optional pregnancy columns of transfers (each only when its columns are present)."""
    flag = _flagger(findings)
    tids = _row_ids("transfers", transfers)
    t = transfers
    cols = set(t.columns)
    if {"pregnancy_loss_type", "positive_hcg"} <= cols:
        flag(
            "transfers",
            "pregnancy_loss_type",
            "loss_type_needs_positive_hcg",
            t["pregnancy_loss_type"].notna() & _is(t["positive_hcg"], False),
            tids,
        )
    if {"pregnancy_loss_type", "live_birth", "clinical_pregnancy", "miscarriage"} <= cols:
        loss = t["pregnancy_loss_type"]
        known = loss.notna()
        misc_types = loss.isin(contract.MISCARRIAGE_LOSS_TYPES)
        bad = known & (
            (_is(loss, "none") & _is(t["live_birth"], False))
            | (~_is(loss, "none") & _is(t["live_birth"], True))
            | (_is(loss, "biochemical") & _is(t["clinical_pregnancy"], True))
            | (~_is(loss, "biochemical") & _is(t["clinical_pregnancy"], False))
            | (misc_types & _is(t["miscarriage"], False))
            | (~misc_types & ~_is(loss, "none") & _is(t["miscarriage"], True))
        )
        flag("transfers", "pregnancy_loss_type", "loss_type_matches_outcomes", bad, tids)
    if {"pregnancy_loss_type", "pregnancy_location"} <= cols:
        ectopic_loss = _is(t["pregnancy_loss_type"], "ectopic")
        ectopic_site = t["pregnancy_location"].isin(("ectopic", "heterotopic"))
        both_known = t["pregnancy_loss_type"].notna() & t["pregnancy_location"].notna()
        flag(
            "transfers",
            "pregnancy_location",
            "ectopic_location",
            both_known & (ectopic_loss != ectopic_site),
            tids,
        )
    if {"pregnancy_location", "clinical_pregnancy"} <= cols:
        flag(
            "transfers",
            "pregnancy_location",
            "location_needs_clinical_pregnancy",
            t["pregnancy_location"].notna() & _is(t["clinical_pregnancy"], False),
            tids,
        )
    if {"fetal_heartbeats", "clinical_pregnancy"} <= cols:
        flag(
            "transfers",
            "fetal_heartbeats",
            "heartbeats_need_clinical_pregnancy",
            (t["fetal_heartbeats"] > 0).fillna(False) & _is(t["clinical_pregnancy"], False),
            tids,
        )
    if {"gestational_age_days", "live_birth"} <= cols:
        stillbirth = (
            _is(t["pregnancy_loss_type"], "stillbirth")
            if "pregnancy_loss_type" in cols
            else pd.Series(False, index=t.index)
        )
        delivered = _is(t["live_birth"], True) | stillbirth
        ga = t["gestational_age_days"]
        flag(
            "transfers",
            "gestational_age_days",
            "gestational_age_needs_delivery",
            (ga.notna() & ~delivered) | (ga.isna() & _is(t["live_birth"], True)),
            tids,
        )


def _births_checks(births: pd.DataFrame, transfers: pd.DataFrame, findings: _Findings) -> None:
    flag = _flagger(findings)
    bids = _row_ids("births", births)
    tids = _row_ids("transfers", transfers)
    key = ["patient_id", "transfer_number"]
    if not all(c in births.columns for c in key) or not all(c in transfers.columns for c in key):
        return
    keep = [
        c for c in (*key, "live_birth", "fetal_heartbeats", "transfer_date", "gestational_age_days", "embryo_stage")
    ]
    keep = [c for c in keep if c in transfers.columns]
    lookup = transfers[keep].drop_duplicates(key)
    merged = births[key].merge(lookup, on=key, how="left", indicator=True)
    merged.index = births.index
    known = merged["_merge"] == "both"
    flag("births", "transfer_number", "births_transfer_known", ~known, bids)
    if "live_birth" in merged:
        flag("births", "transfer_number", "births_need_live_birth", known & ~_is(merged["live_birth"], True), bids)
    if "live_birth" in transfers.columns:
        has_baby = (
            transfers[key]
            .merge(births[key].drop_duplicates().assign(_baby=True), on=key, how="left")["_baby"]
            .notna()
            .to_numpy()
        )
        flag("transfers", "live_birth", "live_birth_has_baby", _is(transfers["live_birth"], True) & ~has_baby, tids)
    if "baby_number" in births.columns:
        grp = births.groupby(key, sort=False)["baby_number"]
        size = grp.transform("size")
        bad = (grp.transform("min") != 1) | (grp.transform("max") != size) | (grp.transform("nunique") != size)
        flag("births", "baby_number", "baby_numbers_consecutive", bad & births["baby_number"].notna(), bids)
    babies = births.groupby(key, sort=False)["patient_id"].transform("size")
    if "fetal_heartbeats" in merged:
        flag(
            "births",
            "baby_number",
            "babies_within_heartbeats",
            (babies > merged["fetal_heartbeats"]).fillna(False),
            bids,
        )
    if "birth_date" in births.columns:
        dates = births.groupby(key, sort=False)["birth_date"]
        flag(
            "births",
            "birth_date",
            "twins_same_birth_date",
            (dates.transform("nunique") > 1) | (dates.transform("count").between(1, babies - 1)),
            bids,
        )
        if {"transfer_date", "gestational_age_days", "embryo_stage"} <= set(merged.columns):
            age_at_transfer = 14 + merged["embryo_stage"].map(contract.EMBRYO_AGE_DAYS).astype(float)
            expected = merged["transfer_date"] + pd.to_timedelta(
                merged["gestational_age_days"].astype(float) - age_at_transfer, unit="D"
            )
            gap = (births["birth_date"] - expected).dt.days.abs()
            flag("births", "birth_date", "birth_date_matches_gestational_age", (gap > 3).fillna(False), bids)


def _adverse_event_checks(
    events: pd.DataFrame, patients: pd.DataFrame, transfers: pd.DataFrame, findings: _Findings
) -> None:
    flag = _flagger(findings)
    eids = _row_ids("adverse_events", events)
    if "patient_id" not in events.columns or "patient_id" not in patients.columns:
        return
    known = events["patient_id"].isin(patients["patient_id"].dropna())
    flag("adverse_events", "patient_id", "adverse_event_patient_known", ~known & events["patient_id"].notna(), eids)
    dates = [c for c in ("biopsy_date", "follow_up_end_date") if c in patients.columns]
    if "event_date" in events.columns and len(dates) == 2:
        merged = events[["patient_id"]].merge(
            patients[["patient_id", *dates]].drop_duplicates("patient_id"), on="patient_id", how="left"
        )
        merged.index = events.index
        outside = (events["event_date"] < merged["biopsy_date"]) | (events["event_date"] > merged["follow_up_end_date"])
        flag("adverse_events", "event_date", "adverse_event_in_follow_up", outside & known, eids)
    if "agent" in events.columns and {"patient_id", "treatment_agents"} <= set(transfers.columns):
        agent = exploded_lists(transfers["treatment_agents"])
        given = pd.DataFrame(
            {"patient_id": transfers["patient_id"].loc[agent.index].to_numpy(), "agent": agent.to_numpy()}
        )
        given = given.loc[given["agent"] != "", ["patient_id", "agent"]].drop_duplicates().assign(_given=True)
        hit = (
            events[["patient_id", "agent"]]
            .astype(object)
            .merge(given.astype(object), on=["patient_id", "agent"], how="left")
        )
        hit.index = events.index
        flag(
            "adverse_events",
            "agent",
            "adverse_event_agent_given",
            hit["_given"].isna() & events["agent"].notna() & known,
            eids,
        )
    if {"severity", "serious"} <= set(events.columns):
        flag(
            "adverse_events",
            "serious",
            "serious_if_life_threatening",
            events["severity"].isin(contract.SERIOUS_SEVERITIES) & _is(events["serious"], False),
            eids,
        )


# --------------------------------------------------------------------------- entry point


def validate_cohort(
    patients_raw: pd.DataFrame,
    transfers_raw: pd.DataFrame,
    births_raw: pd.DataFrame | None = None,
    adverse_events_raw: pd.DataFrame | None = None,
    *,
    outcome: str = "live_birth",
) -> ValidatedCohort:
    """Parse and check the tables against the data contract, reporting every problem at once.

    Parameters
    ----------
    patients_raw, transfers_raw : DataFrame
        Tables as read by :func:`analysis.data.loading.read_cohort_tables` (text cells or typed);
        what the reader noticed (``attrs["read_notes"]``: encoding, repeated column names) is
        reported with the rest.
    outcome : str
        The analysis plan's outcome: every value unknown is an error.
    births_raw, adverse_events_raw : DataFrame, optional
        The optional tables, when the cohort has them; their rules are checked only then.

    Returns
    -------
    ValidatedCohort
        Typed tables (all input rows, extra columns kept) and the problems found. Call
        :meth:`ValidatedCohort.raise_for_errors` to stop on errors.

    Examples
    --------
    >>> from analysis.data.loading import read_cohort_tables
    >>> raw = read_cohort_tables("data/synthetic")
    >>> checked = validate_cohort(raw["patients"], raw["transfers"])
    >>> len(checked.errors)
    0
    """
    findings = _Findings()
    patients = _parse_table("patients", patients_raw, findings)
    transfers = _parse_table("transfers", transfers_raw, findings)
    _column_checks("patients", patients, findings)
    _column_checks("transfers", transfers, findings)
    _soft_checks("patients", patients, findings)
    _soft_checks("transfers", transfers, findings)
    _cross_checks(patients, transfers, findings)
    _design_checks(patients, transfers, outcome, findings)
    _pregnancy_checks(transfers, findings)
    optional = {}
    for table, raw in (("births", births_raw), ("adverse_events", adverse_events_raw)):
        if raw is None:
            optional[table] = None
            continue
        optional[table] = _parse_table(table, raw, findings)
        _column_checks(table, optional[table], findings)
        _soft_checks(table, optional[table], findings)
    if optional["births"] is not None:
        _births_checks(optional["births"], transfers, findings)
    if optional["adverse_events"] is not None:
        _adverse_event_checks(optional["adverse_events"], patients, transfers, findings)
    return ValidatedCohort(patients, transfers, findings.frame(), optional["births"], optional["adverse_events"])
