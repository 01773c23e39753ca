"""Sensitivity analyses as named parameter sets: which rows each one analyses.

The analysis plan names each set in the config key ``sensitivity_analyses``, a mapping from a
label to a spec. A spec may hold:

``population``
    ``first`` (default: each patient's first transfer); ``sequential_trials``: the sequential
    target-trial emulation over all transfers (:func:`analysis.methods.target_trial.sequential_trials`:
    a trial at every transfer of a woman's course, up to her first live birth, among the women
    still in it; the arm at that transfer modelled on the history (transfer number, previous
    arm, calendar year) and the baseline covariates; weighted pooled logistic model with robust
    SEs by woman). It takes no other key. ``all`` (every transfer of the course, the first
    estimator rerun with SEs clustered on the patient) is still accepted for existing configs,
    but no longer a default set: its baseline propensity score models an arm that changes from
    transfer to transfer without the history that moves it (earlier failures, the previous
    arm), so it is not an all-transfer effect; the sequential trials replace it.
``exclude``
    ``{column: [values]}``: rows whose value is listed are left out (e.g. donor oocytes,
    PGT-A cycles).
``min_prior_failed_transfers``
    keep patients with at least this many failed transfers before the biopsy (recurrent
    implantation failure: 3).
``leave_one_out``
    a column (``center_id``): one rerun per value, each leaving that value's rows out,
    labelled ``<label>_<value>``.

:func:`sensitivity_populations` turns the sets into row selections; :func:`run_sensitivity`
applies one estimator to each (the trial estimator to the ``sequential_trials`` sets) and
gathers estimates, a status per set and a summary for the forest plot. A set whose estimator
fails is reported with its message; the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.core.exceptions import AnalysisError, ConfigError
from analysis.data.cohort import Cohort
from analysis.methods.target_trial import Course, first_course
from analysis.models.schema import conform_estimates, empty_estimates

__all__ = [
    "DEFAULT_SETS",
    "SensitivityPopulation",
    "SensitivityResults",
    "check_sets",
    "run_sensitivity",
    "sensitivity_populations",
]

#: The analysis plan's default sets (mirrored in ``default_config.yaml``). ``sequential_trials``
#: replaced ``all_transfers`` (``{"population": "all"}``, model id ``lb_sens_all_transfers``, retired).
DEFAULT_SETS = {
    "sequential_trials": {"population": "sequential_trials"},
    "no_donor_oocytes": {"exclude": {"oocyte_source": ["donor"]}},
    "no_pgt_a": {"exclude": {"pgt_a": [True]}},
    "rif_only": {"min_prior_failed_transfers": 3},
    "leave_one_centre_out": {"leave_one_out": "center_id"},
}

_KEYS = {"population", "exclude", "min_prior_failed_transfers", "leave_one_out"}
_POPULATIONS = ("first", "all", "sequential_trials")
TRIALS = "sequential_trials"


@dataclass(frozen=True)
class SensitivityPopulation:
    """One rerun: its label, population name, rows and a sentence saying what was left out.

    The rows are held as a selection (``rows``, a boolean mask) of a frame every set of the same
    population shares (``source``), and copied out only when :attr:`data` is read: with one
    copy per set a leave-one-centre-out set at a million transfers held a copy of the first
    transfers per centre at once (3 GiB of notebook 05's peak).

    A ``sequential_trials`` set holds the cohort instead (``cohort``); its course
    (:func:`analysis.methods.target_trial.first_course`) is built when the set is run
    (:meth:`trial`) and let go after: built with the other sets it took 2 GiB at 1M transfers
    for the whole of the reruns. :attr:`course` and :attr:`data` (its transfers with a known
    outcome) build it on each read.
    """

    label: str
    population: str
    source: pd.DataFrame | None
    note: str
    rows: np.ndarray | None = None
    cohort: Cohort | None = None

    def trial(self) -> tuple[Course, pd.DataFrame, str]:
        """Build a ``sequential_trials`` set's course; return it, its transfers with a known outcome and the note."""
        if self.cohort is None:
            raise ValueError(f"sensitivity set {self.label!r} is not a sequential_trials set")
        course = first_course(self.cohort)
        known = course.transfers[course.transfers["lb"].notna()]
        note = (
            f"sequential trials: {len(known)} transfers of {known['patient_id'].nunique()} women up to their "
            f"first live birth ({len(course.after_birth)} later transfers not counted)"
        )
        return course, known, note

    @property
    def course(self) -> Course | None:
        """The emulated trial's population of a ``sequential_trials`` set (built on each read), else None."""
        return self.trial()[0] if self.cohort is not None else None

    @property
    def data(self) -> pd.DataFrame:
        """The set's rows (a copy made on each read; all of ``source`` without ``rows``)."""
        if self.cohort is not None:
            return self.trial()[1]
        return self.source if self.rows is None else self.source[self.rows]

    @property
    def n_obs(self) -> int:
        """Number of rows of :attr:`data` (without copying them, except for a ``sequential_trials`` set)."""
        if self.cohort is not None:
            return len(self.data)
        return len(self.source) if self.rows is None else int(np.count_nonzero(self.rows))


@dataclass(frozen=True)
class SensitivityResults:
    """One estimator rerun in every sensitivity set.

    Attributes
    ----------
    estimates : DataFrame
        Contract rows of every set.
    status : DataFrame
        label, model_id, status, n_obs, note, message: one row per set.
    summary : DataFrame
        label, model_id, estimator, n_obs, n_events, estimate, conf_low, conf_high of the
        summary term; the main estimate first.
    """

    estimates: pd.DataFrame
    status: pd.DataFrame
    summary: pd.DataFrame


def check_sets(sets: Mapping, columns) -> None:
    """Raise one :class:`ConfigError` listing every problem of the sensitivity specs."""
    problems = []
    if not isinstance(sets, Mapping):
        raise ConfigError(f"sensitivity_analyses must be a mapping of name to spec, got {type(sets).__name__}")
    for label, spec in sets.items():
        if not isinstance(spec, Mapping):
            problems.append(f"{label}: spec must be a mapping, got {spec!r}")
            continue
        unknown = set(spec) - _KEYS
        if unknown:
            problems.append(f"{label}: unknown key(s) {sorted(unknown)} (known: {sorted(_KEYS)})")
        if spec.get("population", "first") not in _POPULATIONS:
            problems.append(
                f"{label}: population must be one of {', '.join(map(repr, _POPULATIONS))}, got {spec['population']!r}"
            )
        elif spec.get("population") == TRIALS and set(spec) - {"population"}:
            problems.append(
                f"{label}: population 'sequential_trials' takes no other key (got {sorted(set(spec) - {'population'})})"
            )
        for col, values in (spec.get("exclude") or {}).items():
            if col not in columns:
                problems.append(f"{label}: exclude names column {col!r}, which the cohort does not have")
            if not isinstance(values, list):
                problems.append(f"{label}: exclude.{col} must be a list of values, got {values!r}")
        loo = spec.get("leave_one_out")
        if loo is not None and loo not in columns:
            problems.append(f"{label}: leave_one_out names column {loo!r}, which the cohort does not have")
        k = spec.get("min_prior_failed_transfers")
        if k is not None and (not isinstance(k, int) or k < 0):
            problems.append(f"{label}: min_prior_failed_transfers must be a non-negative integer, got {k!r}")
    if problems:
        raise ConfigError("sensitivity_analyses has problems:\n  - " + "\n  - ".join(problems))


def _matches(values: pd.Series, listed: list) -> pd.Series:
    """Rows whose value is one of ``listed`` (booleans compared as booleans, others as text)."""
    if pd.api.types.is_bool_dtype(values):
        wanted = {str(v).lower() in ("true", "1", "yes") for v in listed}
        return values.isin(list(wanted)).fillna(False).astype(bool)
    return values.astype("string").isin([str(v) for v in listed]).fillna(False).astype(bool)


def sensitivity_populations(
    cohort: Cohort, sets: Mapping, *, outcome: str = "live_birth"
) -> list[SensitivityPopulation]:
    """Return the rows each sensitivity set analyses, in the order of ``sets``.

    Parameters
    ----------
    cohort : Cohort
    sets : mapping
        Label → spec (module docstring).
    outcome : str
        Outcome whose known values the rows need.
    """
    first = cohort.population("first", outcome)
    check_sets(sets, set(first.columns))
    out = []
    for label, spec in sets.items():
        pop = spec.get("population", "first")
        if pop == TRIALS:  # the course is built when the set runs (SensitivityPopulation.trial)
            out.append(SensitivityPopulation(label, pop, None, "sequential trials over the course", cohort=cohort))
            continue
        data = cohort.population(pop, outcome) if pop == "all" else first
        notes = ["all transfers" if pop == "all" else "first transfers"]
        keep = pd.Series(True, index=data.index)
        for col, values in (spec.get("exclude") or {}).items():
            hit = _matches(data[col], values)
            keep &= ~hit
            notes.append(f"{int(hit.sum())} with {col} in {values} left out")
        k = spec.get("min_prior_failed_transfers")
        if k is not None:
            low = ~(pd.to_numeric(data["prior_failed_transfers"]) >= k).fillna(False).astype(bool)
            keep &= ~low
            notes.append(f"{int(low.sum())} with fewer than {k} prior failed transfers (or unknown) left out")
        keep = keep.to_numpy(dtype=bool)
        loo = spec.get("leave_one_out")
        if loo is None:
            out.append(SensitivityPopulation(label, pop, data, "; ".join(notes), rows=keep))
            continue
        text = data[loo].astype(str).to_numpy()
        present = data[loo].notna().to_numpy()
        for value in sorted(set(text[keep & present])):
            hit = keep & (text == value)
            out.append(
                SensitivityPopulation(
                    f"{label}_{value}",
                    pop,
                    data,
                    "; ".join(notes + [f"{int(hit.sum())} from {loo} {value} left out"]),
                    rows=keep & ~hit,
                )
            )
    return out


def run_sensitivity(
    populations: list[SensitivityPopulation],
    estimator: Callable[..., pd.DataFrame],
    *,
    term: str,
    main: pd.DataFrame | None = None,
    prefix: str = "lb_sens_",
    trial_estimator: Callable[..., pd.DataFrame] | None = None,
) -> SensitivityResults:
    """Apply one estimator to every sensitivity population.

    Parameters
    ----------
    populations : list of SensitivityPopulation
    estimator : callable
        ``estimator(data, population=..., model_id=...)`` returning contract rows; ``population``
        is ``first_transfer`` or ``all_transfers``; not used for ``sequential_trials`` sets.
    term : str
        The term the summary shows (e.g. ``treatment_arm[personalized]``).
    main : DataFrame, optional
        The main analysis' contract rows, shown first in the summary.
    prefix : str
        Model id prefix; the id is ``<prefix><label>``.
    trial_estimator : callable, optional
        ``trial_estimator(course, model_id=...)`` returning contract rows, applied to the
        ``sequential_trials`` sets (e.g. :func:`analysis.methods.target_trial.sequential_trials`
        with its covariates bound); required when there is such a set.

    Returns
    -------
    SensitivityResults

    Raises
    ------
    ValueError
        A ``sequential_trials`` set without ``trial_estimator``.
    """
    if trial_estimator is None and any(p.population == TRIALS for p in populations):
        raise ValueError("a sequential_trials sensitivity set needs trial_estimator")
    estimates, status = [], []
    for p in populations:
        model_id = f"{prefix}{p.label}"
        population = "all_transfers" if p.population == "all" else "first_transfer"
        note = p.note
        n_obs = None if p.population == TRIALS else p.n_obs  # a trial set's rows are known once its course is built
        try:
            if p.population == TRIALS:
                course, known, note = p.trial()  # built for this set only, let go after it
                n_obs = len(known)
                del known
                rows = trial_estimator(course, model_id=model_id)
                del course
            else:
                rows = estimator(p.data, population=population, model_id=model_id)
            estimates.append(rows)
            status.append(
                {"label": p.label, "model_id": model_id, "status": "ok", "n_obs": n_obs, "note": note, "message": ""}
            )
        except AnalysisError as exc:
            status.append(
                {
                    "label": p.label,
                    "model_id": model_id,
                    "status": "not estimable",
                    "n_obs": n_obs,
                    "note": note,
                    "message": str(exc),
                }
            )
    est = conform_estimates(pd.concat(estimates, ignore_index=True)) if estimates else empty_estimates()
    pick = est[est["term"] == term]
    parts = [main[main["term"] == term].assign(label="main analysis")] if main is not None else []
    parts.append(pick.assign(label=pick["model_id"].str.removeprefix(prefix)))
    summary = pd.concat(parts, ignore_index=True)
    summary = summary[["label", "model_id", "estimator", "n_obs", "n_events", "estimate", "conf_low", "conf_high"]]
    return SensitivityResults(estimates=est, status=pd.DataFrame(status), summary=summary.reset_index(drop=True))
