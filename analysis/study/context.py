"""The run context: what every notebook of a run shares.

A notebook opens its context in one line (:func:`open_context`) and then goes through it for
everything it reads and writes: the derived cohort, the confidence level, the figure formats and
resolution, and the disclosure rule. Saving a table, an estimate, a figure or a caption through
the context applies the run's disclosure control, so no call can forget it; plotting, caption
and table functions of the output layer called through :meth:`RunContext.plot`,
:meth:`RunContext.caption` and :meth:`RunContext.table` receive the run's ``min_cell_count`` and
``conf_level`` without the notebook passing them. Those functions require ``min_cell_count``
(no default), so a call outside the context that forgets it is an error, never an unmasked count.

Run by the runner, a notebook receives ``cohort_file``: the cohort the runner validated and
derived once, cached as Parquet in the run folder's private ``interim/`` area. Run interactively
(JupyterLab, no runner), ``cohort_file`` is empty and the context derives the cohort from
``data_dir`` with the same parameters, so both routes give the same cohort.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.data.cohort import Cohort, load_cohort
from analysis.data.cohort_cache import read_cohort_cache
from analysis.methods import resampling
from analysis.output import session
from analysis.output import style as figure_style
from analysis.output.disclosure import (
    FLOW_POPULATIONS,
    TableDisclosure,
    at_risk_from_curves,
    coarsen_curves,
    curve_rule_statement,
    format_count,
    mask_crosstab,
    mask_figure_texts,
    mask_table,
    masked_label,
    rule_statement,
)
from analysis.study.messages import Message, not_estimable

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
    skipped : list of dict
        Sections this notebook skipped because a column they need is absent or empty
        (:meth:`skip`); written to ``tables/skipped_sections.csv`` and listed in the report.
    """

    notebook: str
    cohort: Cohort
    paths: session.RunPaths
    conf_level: float = 0.95
    figure_formats: tuple[str, ...] = ("pdf", "svg", "png")
    figure_dpi: int = 300
    messages: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    # -- sections that need a column the data do not have ----------------------------------------
    @staticmethod
    def missing_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
        """Return the ``columns`` that ``frame`` lacks or holds no value of (optional columns may be absent).

        Examples
        --------
        >>> RunContext.missing_columns(pd.DataFrame({"a": [1.0], "b": [None]}), ["a", "b", "c"])
        ['b', 'c']
        """
        return [c for c in columns if c not in frame.columns or frame[c].isna().all()]

    def skip(self, section: str, columns: Sequence[str], why: str = "") -> Message:
        """Record that ``section`` did not run because ``columns`` are absent or empty; return its message.

        The message is the one sentence the notebook shows in place of the section's result;
        the run report lists every skipped section (``tables/skipped_sections.csv``).

        Parameters
        ----------
        section : str
            What was skipped, as the reader knows it (``"blood NK against the endometrium"``).
        columns : sequence of str
            The optional columns it needs that the cohort lacks.
        why : str
            Optional end of the sentence, when the reason is not just the missing columns.

        Returns
        -------
        Message
            ``**Not estimable:** <section> skipped: <columns> absent or empty in the data.``
        """
        cols = ", ".join(f"`{c}`" for c in columns)
        reason = why or f"{'column' if len(columns) == 1 else 'columns'} {cols} absent or empty in the data"
        self.skipped.append(
            {"notebook": self.notebook, "section": section, "columns": ";".join(columns), "reason": reason}
        )
        session.save_skipped_sections(self.skipped, self.notebook, self.paths)
        return not_estimable(f"{section} skipped: {reason}.")

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

    def mask(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return a tidy table with small counts (and their rows' percentages) masked, for display."""
        return mask_table(frame, self.min_cell_count)

    def coarsen_curves(self, curves: pd.DataFrame) -> pd.DataFrame:
        """Return step curves (``survival.csv`` form) coarsened by the run's rule (unchanged with no control)."""
        return coarsen_curves(curves, min_cell_count=self.min_cell_count, interval_days=self.paths.curve_interval_days)

    def at_risk_of(self, curves: pd.DataFrame) -> pd.DataFrame:
        """Numbers at risk of coarsened curves for a figure's at-risk row (blank beyond each curve's end)."""
        return at_risk_from_curves(curves)

    def curve_rule(self) -> str:
        """One sentence stating how curves were coarsened (empty with no control)."""
        return curve_rule_statement(self.min_cell_count, self.paths.curve_interval_days)

    def mask_crosstab(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return a cross-tabulation (every numeric cell a count) with small cells masked, for display."""
        return mask_crosstab(frame, self.min_cell_count)

    # -- calling the output layer with the run's settings --------------------------------------
    def _with_run_settings(self, fn: Callable, args, kwargs):
        """Call ``fn`` with ``min_cell_count`` and ``conf_level`` filled in from the run where it takes them."""
        params = inspect.signature(fn).parameters
        kwargs = dict(kwargs)
        for name, value in (("min_cell_count", self.min_cell_count), ("conf_level", self.conf_level)):
            if name not in params:
                continue
            given = kwargs.setdefault(name, value)
            if given != value:
                raise ValueError(
                    f"{fn.__name__}: {name}={given!r} differs from the run's {name}={value!r}; "
                    f"a notebook does not override the run's settings"
                )
        return fn(*args, **kwargs)

    def caption(self, fn: Callable, *args, **kwargs) -> str:
        """Return ``fn(*args, **kwargs)`` (a caption function of :mod:`analysis.output.captions`)
        with the run's ``min_cell_count`` and ``conf_level``.

        Examples
        --------
        >>> text = ctx.caption(figure_1_caption, ctx.cohort.flow)  # doctest: +SKIP
        >>> ctx.save_caption(text, 1)  # doctest: +SKIP
        """
        return self._with_run_settings(fn, args, kwargs)

    def plot(self, fn: Callable, *args, **kwargs):
        """Return ``fn(*args, **kwargs)`` (a plotting function of :mod:`analysis.output.plotting`)
        with the run's ``min_cell_count`` (and ``conf_level`` where it takes one).

        Examples
        --------
        >>> ctx.plot(plot_flow, ctx.cohort.flow, ax=ax)  # doctest: +SKIP
        """
        return self._with_run_settings(fn, args, kwargs)

    def table(self, fn: Callable, *args, **kwargs):
        """Return ``fn(*args, **kwargs)`` (a table builder such as
        :func:`analysis.study.summaries.table_one_by` or :mod:`analysis.output.pubtables`) with the
        run's ``min_cell_count`` and ``conf_level``."""
        return self._with_run_settings(fn, args, kwargs)

    # -- labels that follow the confidence level -----------------------------------------------
    @property
    def ci_label(self) -> str:
        """``95% CI`` for ``conf_level=0.95``; ``99% CI`` for 0.99; ``97.5% CI`` for 0.975."""
        return f"{100 * self.conf_level:g}% CI"

    # -- writing ---------------------------------------------------------------------------------
    def save_table(self, frame: pd.DataFrame, name: str, *, declaration: TableDisclosure | None = None) -> pd.DataFrame:
        """Write ``tables/<name>.csv`` masked by its disclosure declaration; return what was written.

        ``declaration`` overrides the one registered under ``name`` in
        :mod:`analysis.output.declarations`; a table with neither is refused
        (:class:`~analysis.core.exceptions.DisclosureError`).
        """
        return session.save_table(frame, name, self.paths, declaration=declaration, hidden_totals=self._hidden_totals)

    def save_estimates(self, frame: pd.DataFrame) -> Path:
        """Add this notebook's estimate rows (masked) to ``tables/estimates.csv``.

        With a disclosure threshold, the counts of a model that leaves out fewer than that many
        of its whole population (first transfers, or all transfers, with a known outcome) are
        masked too (:func:`analysis.output.disclosure.mask_estimates`).
        """
        return session.save_estimates(frame, self.paths, self._population_sizes(frame))

    @functools.cached_property
    def _hidden_totals(self) -> frozenset[str]:
        """Populations of the run's outcome whose size the flow hides: fewer than ``k`` (but some)
        of their rows have an unknown outcome, so the analysed size would give that count back."""
        outcome = self.cohort.outcome
        if self.min_cell_count <= 1 or outcome not in self.cohort.transfers.columns:
            return frozenset()
        sizes = self._population_sizes(pd.DataFrame({"population": list(FLOW_POPULATIONS), "outcome": outcome}))
        k = self.min_cell_count
        return frozenset(population for (population, _), (n, _, before) in sizes.items() if 0 < before - n < k)

    def _population_sizes(self, frame: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int, int]]:
        """(population, outcome) → (rows, events, rows before the outcome's unknowns are left out)."""
        if self.min_cell_count <= 1 or not {"population", "outcome"} <= set(frame.columns):
            return {}
        sizes = {}
        for population, outcome in frame[["population", "outcome"]].drop_duplicates().itertuples(index=False):
            if str(population) not in FLOW_POPULATIONS or str(outcome) not in self.cohort.transfers.columns:
                continue
            name, before_stage, _ = FLOW_POPULATIONS[str(population)]
            rows = self.cohort.population(name, str(outcome))
            y = pd.to_numeric(rows[str(outcome)], errors="coerce")
            flow = self.cohort.flow
            before = flow.loc[(flow["stage"] == before_stage) & (flow["kind"] == "included"), "n_transfers"]
            sizes[(str(population), str(outcome))] = (
                len(rows),
                int(y.sum()),
                int(before.iloc[0]) if len(before) else len(rows),
            )
        return sizes

    def save_caption(self, text: str, number: int | str) -> str:
        """Write the caption of main figure ``number`` (or of supplementary figure ``supp_…``) and return it."""
        return session.save_caption(text, number, self.paths)

    def save_figure(self, fig, name: str) -> list[Path]:
        """Save a figure in the run's formats and resolution under ``figures/<name>.*``.

        Its layout check is recorded in ``tables/figure_layout.csv`` (and fails the save when
        ``ENDOIMMUNE_FIGURE_LAYOUT=raise``; see :mod:`analysis.output.layout`). Counts below the
        run's threshold written in any of its texts are masked first
        (:func:`analysis.output.disclosure.mask_figure_texts`).
        """
        mask_figure_texts(fig, self.min_cell_count)
        return figure_style.save_figure(
            fig,
            name,
            self.paths.figures,
            formats=self.figure_formats,
            dpi=self.figure_dpi,
            layout_record=self.paths.tables,
        )


def open_context(
    notebook: str,
    *,
    data_dir: str | Path,
    run_dir: str | Path = "",
    cohort_file: str = "",
    profile_cutoffs: dict | None = None,
    missing_marker_rule: str = "indeterminate",
    outcome: str = "live_birth",
    conf_level: float = 0.95,
    figure_formats: Sequence[str] = ("pdf", "svg", "png"),
    figure_dpi: int = 300,
    min_cell_count: int,
    curve_interval_days: float = 30,
) -> RunContext:
    """Return the run context of one notebook; apply the figure style and one BLAS thread.

    The BLAS libraries are held to one thread (:func:`analysis.methods.resampling.limit_blas_threads`),
    as in the runner's kernels and workers, so a notebook run interactively computes the same bits.

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
    profile_cutoffs, missing_marker_rule, outcome
        Derivation parameters (profile cut-off rule, how a missing marker counts, outcome of the
        flow log); used only when the cohort is derived here.
    conf_level : float
        Confidence level of every interval.
    figure_formats, figure_dpi
        How figures are saved.
    min_cell_count : int
        Disclosure threshold (0: none). Required, so a notebook cannot forget it: the
        parameters cell's ``min_cell_count`` (the run's value) is passed here.
    curve_interval_days : float
        Width of the time intervals of coarsened curves (with ``min_cell_count`` > 1).

    Returns
    -------
    RunContext
    """
    resampling.limit_blas_threads()
    if cohort_file:
        cohort = read_cohort_cache(cohort_file)
    else:
        cohort = load_cohort(
            data_dir, profile_cutoffs=profile_cutoffs, outcome=outcome, missing_marker_rule=missing_marker_rule
        )
    paths = session.run_paths(run_dir, min_cell_count=min_cell_count, curve_interval_days=curve_interval_days)
    figure_style.apply_style()
    session.save_skipped_sections([], notebook, paths)  # a rerun starts with nothing skipped
    return RunContext(
        notebook=notebook,
        cohort=cohort,
        paths=paths,
        conf_level=float(conf_level),
        figure_formats=tuple(figure_formats),
        figure_dpi=int(figure_dpi),
    )
