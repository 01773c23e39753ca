"""The analysis plan against the cohort it will analyse, before any notebook starts.

:func:`analysis.run.config.check_plan` checks types, ranges and names (cheap, no data);
:func:`check_plan_against_cohort` checks what only the data can tell: a covariate the contract
knows but this cohort lacks or holds one value of, an arm that does not occur, an outcome that is
never known, a sensitivity set naming a missing column or an unknown level. It lives apart from
:mod:`analysis.run.config` because the sensitivity rules it reuses pull in the model stack, which
the command line's quick plan check does without.
"""

from __future__ import annotations

from analysis.core.exceptions import ConfigError
from analysis.data.cohort import Cohort
from analysis.data.contract import TABLES
from analysis.methods.sensitivity import check_sets
from analysis.run.config import COURSE_COVARIATES


def _category_levels() -> dict[str, set]:
    levels = {}
    for table in TABLES.values():
        for column in table:
            if column.kind == "category" and column.levels:
                levels[column.name] = set(column.levels)
            elif column.kind == "boolean":
                levels[column.name] = {True, False}
    return levels


def plan_cohort_problems(config: dict, cohort: Cohort) -> list[str]:
    """Return every way a schema-valid plan does not fit ``cohort``, one line each.

    Checks that each covariate is a column of the cohort with at least one known value and at
    least two distinct values (a constant column cannot be adjusted for), that the reference arm
    and the outcomes occur, that the outcomes have known values, and that the sensitivity sets
    name columns the cohort has and levels the contract knows.
    """
    problems = []
    data = cohort.transfers
    available = set(data.columns) | set(COURSE_COVARIATES)
    for key in ("covariates", "cox_covariates", "trial_covariates", "ps_covariates"):
        for name in config.get(key, []):
            if name not in available:
                problems.append(
                    f"{key}: {name!r} is not a column of this cohort (an optional column left out of the "
                    f"export?); columns it has: {', '.join(sorted(available - {'patient_id'}))}"
                )
                continue
            if name in COURSE_COVARIATES:
                continue
            values = data[name].dropna()
            if values.empty:
                problems.append(f"{key}: {name!r} has no known value in this cohort")
            elif values.nunique() < 2:
                problems.append(f"{key}: {name!r} has one value only ({values.iloc[0]!r}): it cannot be adjusted for")
    arms = set(data["treatment_arm"].dropna().astype(str))
    if config.get("reference_arm") not in arms:
        problems.append(
            f"reference_arm: {config.get('reference_arm')!r} does not occur in this cohort; arms present: "
            f"{', '.join(sorted(arms))}"
        )
    for key in ("outcome", "secondary_outcome"):
        name = config.get(key)
        if name in data and data[name].notna().sum() == 0:
            problems.append(f"{key}: {name!r} is unknown for every transfer of this cohort")
    sets = config.get("sensitivity_analyses") or {}
    try:
        check_sets(sets, set(data.columns))
    except ConfigError as exc:
        problems.extend(line.strip("- ").strip() for line in str(exc).splitlines()[1:])
    levels = _category_levels()
    for label, spec in sets.items():
        for column, listed in ((spec or {}).get("exclude") or {}).items():
            known = levels.get(column)
            if known is None or not isinstance(listed, list):
                continue
            unknown = [value for value in listed if value not in known]
            if unknown:
                problems.append(
                    f"sensitivity_analyses.{label}.exclude.{column}: unknown level(s) {unknown}; "
                    f"levels: {sorted(map(str, known))}"
                )
    return problems


def check_plan_against_cohort(config: dict, cohort: Cohort) -> None:
    """Raise one :class:`ConfigError` listing every way a schema-valid plan does not fit ``cohort``.

    Raises
    ------
    ConfigError
        Every problem, one per line, with what the cohort has.
    """
    problems = plan_cohort_problems(config, cohort)
    if problems:
        raise ConfigError(
            f"the analysis plan has {len(problems)} problem(s) for this cohort (nothing was run):\n  - "
            + "\n  - ".join(problems)
        )
