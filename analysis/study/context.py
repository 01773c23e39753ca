"""The run context: what every notebook of a run shares.

A notebook opens its context in one line (:func:`open_context`) and then goes through it for
everything it reads and writes: the derived cohort, the confidence level, the figure formats and
resolution, and the disclosure rule. Saving a table, an estimate, a figure or a caption through
the context applies the run's disclosure control, so no call can forget it.

Run by the runner, a notebook receives ``cohort_file``: the cohort the runner validated and
derived once, cached as Parquet in the run folder's private ``interim/`` area. Run interactively
(JupyterLab, no runner), ``cohort_file`` is empty and the context derives the cohort from
``data_dir`` with the same parameters, so both routes give the same cohort.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.data.cohort import Cohort, load_cohort
from analysis.data.cohort_cache import read_cohort_cache
from analysis.output import session
from analysis.output import style as figure_style
from analysis.output.disclosure import format_count, masked_label, rule_statement

__all__ = ["RunContext", "open_context"]


@dataclass
class RunContext:
    """Everything a notebook of one run shares.

    Attributes
    ----------
    notebook : str
        The notebook's name (``03_outcomes_logistic``), written into its estimate rows.
    cohort : Cohort
        The validated, derived cohort.
    paths : analysis.output.session.RunPaths
        The run folder, its ``figures/`` and ``tables/``; carries the disclosure threshold.
    conf_level : float
        Confidence level of every interval of the run.
    figure_formats : tuple of str
        Formats each figure is saved in.
    figure_dpi : int
        Resolution of raster formats.
    """

    notebook: str
    cohort: Cohort
    paths: session.RunPaths
    conf_level: float = 0.95
    figure_formats: tuple[str, ...] = ("pdf", "svg", "png")
    figure_dpi: int = 300
    messages: list[str] = field(default_factory=list)

    # -- the disclosure rule -------------------------------------------------------------------
    @property
    def min_cell_count(self) -> int:
        """The run's disclosure threshold (0: no control)."""
        return self.paths.min_cell_count

    def count(self, n) -> str:
        """Return a count as text, masked as ``<k`` when the rule hides it."""
        return format_count(n, self.min_cell_count)

    def masked_label(self) -> str:
        """The text that stands for a masked count (``<10``)."""
        return masked_label(self.min_cell_count)

    def rule(self) -> str:
        """One sentence stating the disclosure rule of the run."""
        return rule_statement(self.min_cell_count)

    # -- labels that follow the confidence level -----------------------------------------------
    @property
    def ci_label(self) -> str:
        """``95% CI`` for ``conf_level=0.95``; ``99% CI`` for 0.99; ``97.5% CI`` for 0.975."""
        return f"{100 * self.conf_level:g}% CI"

    # -- writing ---------------------------------------------------------------------------------
    def save_table(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        """Write ``tables/<name>.csv`` with small counts masked; return what was written."""
        return session.save_table(frame, name, self.paths)

    def save_estimates(self, frame: pd.DataFrame) -> Path:
        """Add this notebook's estimate rows (masked) to ``tables/estimates.csv``."""
        return session.save_estimates(frame, self.paths)

    def save_caption(self, text: str, number: int) -> str:
        """Write the caption of main figure ``number`` and return it."""
        return session.save_caption(text, number, self.paths)

    def save_figure(self, fig, name: str) -> list[Path]:
        """Save a figure in the run's formats and resolution under ``figures/<name>.*``."""
        return figure_style.save_figure(fig, name, self.paths.figures, formats=self.figure_formats,
                                        dpi=self.figure_dpi)


def open_context(notebook: str, *, data_dir: str | Path, run_dir: str | Path = "", cohort_file: str = "",
                 profile_cutoffs: dict | None = None, outcome: str = "live_birth", conf_level: float = 0.95,
                 figure_formats: Sequence[str] = ("pdf", "svg", "png"), figure_dpi: int = 300,
                 min_cell_count: int = 0) -> RunContext:
    """Return the run context of one notebook and apply the figure style.

    Parameters
    ----------
    notebook : str
        The notebook's name.
    data_dir : str or Path
        Cohort folder; read only when ``cohort_file`` is empty (interactive use).
    run_dir : str or Path
        Run folder; empty means ``reports/interactive``.
    cohort_file : str
        The runner's cached cohort (``interim/cohort``); empty derives the cohort here.
    profile_cutoffs, outcome
        Derivation parameters (profile cut-off rule, outcome of the flow log).
    conf_level : float
        Confidence level of every interval.
    figure_formats, figure_dpi
        How figures are saved.
    min_cell_count : int
        Disclosure threshold (0: none).

    Returns
    -------
    RunContext
    """
    if cohort_file:
        cohort = read_cohort_cache(cohort_file)
    else:
        cohort = load_cohort(data_dir, profile_cutoffs=profile_cutoffs, outcome=outcome)
    paths = session.run_paths(run_dir, min_cell_count=min_cell_count)
    figure_style.apply_style()
    return RunContext(notebook=notebook, cohort=cohort, paths=paths, conf_level=float(conf_level),
                      figure_formats=tuple(figure_formats), figure_dpi=int(figure_dpi))
