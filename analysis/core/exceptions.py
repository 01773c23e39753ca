"""Exceptions raised by the suite.

Every error meant for a user carries a message that says what is wrong and what to do; the
command-line interface prints that message without a traceback.
"""


class AnalysisError(Exception):
    """Base class for errors that the command line reports as a plain message."""


class CohortValidationError(AnalysisError):
    """The cohort breaks the data contract.

    Parameters
    ----------
    problems : pandas.DataFrame
        One row per broken rule with columns ``table, column, rule, severity, n_rows,
        example_ids, message`` (see :func:`analysis.data.validation.validate_cohort`).
    """

    def __init__(self, problems):
        self.problems = problems
        super().__init__(self._format(problems))

    def __reduce__(self):
        # rebuilt from the problems table, not the message (the runner's cohort process sends it over a pipe)
        return (type(self), (self.problems,), self.__dict__)

    @staticmethod
    def _format(problems):
        return format_problems(problems, header="The cohort breaks the data contract")


class ConfigError(AnalysisError):
    """A study configuration or parameter is unknown or invalid."""


class DataReadError(AnalysisError):
    """A data file is missing, unreadable or in an unsupported format."""


class RunError(AnalysisError):
    """A notebook of a run failed, or the run folder cannot be used."""


class ModelError(AnalysisError):
    """A model cannot be fitted on the data given (no events, separation, one level, …)."""


def format_problems(problems, header: str = "Problems") -> str:
    """Render a problems table as a readable multi-line message."""
    n_err = int((problems["severity"] == "error").sum())
    lines = [f"{header}: {n_err} error(s), {len(problems) - n_err} warning(s)"]
    for row in problems.itertuples(index=False):
        count = f" — {row.n_rows} row(s), e.g. {row.example_ids}" if row.n_rows else ""
        lines.append(f"  [{row.severity}] {row.table}.{row.column} ({row.rule}): {row.message}{count}")
    return "\n".join(lines)


class DisclosureError(AnalysisError):
    """A table cannot be published safely: it has no disclosure declaration, or disagrees with it."""
