"""What ``06_biomarkers`` shows: prognostic value of the markers, cut-offs, effect modification, who benefits.

Each function takes the run context (:class:`analysis.study.context.RunContext`) and the
notebook's analysis parameters, saves what the notebook writes through the context, and returns
a small result object with the tables, figures and messages the notebook shows. A section whose
model cannot be estimated on the data returns its reason instead of a table, and the figure
panels that need it say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.core.exceptions import ModelError
from analysis.data.contract import BLOOD_MARKERS, ENDOMETRIAL_MARKERS
from analysis.methods import benefit, discrimination, outcomes, prognostic
from analysis.methods.landscape import marker_cutoff_lines
from analysis.methods.multiplicity import holm_p_values
from analysis.methods.outcomes import Attempt
from analysis.output import captions, style
from analysis.output.plotting import biomarkers as bplots
from analysis.study.context import RunContext
from analysis.study.messages import Message, not_estimable

__all__ = [
    "BenefitResult",
    "CutOffs",
    "EffectModification",
    "Figure5",
    "MarkerComparison",
    "Populations",
    "PrognosticMarkers",
    "Subgroups",
    "Validation",
    "CalibrationCurve",
    "MarkerShape",
    "calibration_curve",
    "compare_markers",
    "cutoffs",
    "marker_shape",
    "effect_modification",
    "figure_5",
    "internal_validation",
    "marker_spline_figure",
    "populations",
    "prognostic_markers",
    "published_cutoffs",
    "subgroups",
    "who_benefits",
]

#: Every marker analysed: endometrial, then blood.
MARKERS = [*ENDOMETRIAL_MARKERS, *BLOOD_MARKERS]
#: The endometrial markers of the profile rule: the marker set of the model comparison and validation.
CORE_ENDOMETRIAL = ["il15_fn14_ratio", "il18_tweak_ratio", "unk_cd56_percent"]
#: Markers whose spline OR curves are drawn (one panel each).
SPLINE_MARKERS = [*CORE_ENDOMETRIAL, "blood_nk_percent"]
#: Bootstrap resamples of the internal validation are capped here (each refits the model).
MAX_VALIDATION_BOOTSTRAP = 200
#: Points of the decision curve between 0 and ``dca_max_threshold``.
DECISION_CURVE_POINTS = 41
PROGNOSTIC_COLUMNS = [
    "marker",
    "n",
    "n_events",
    "or_per_sd",
    "or_per_sd_low",
    "or_per_sd_high",
    "auc",
    "auc_low",
    "auc_high",
    "rank_statistic",
    "p_nonlinear",
    "message",
]
CUTOFF_COLUMNS = [
    "marker",
    "source",
    "direction",
    "threshold",
    "threshold_low",
    "threshold_high",
    "range_low",
    "range_high",
    "sensitivity",
    "specificity",
    "sensitivity_corrected",
    "specificity_corrected",
    "ppv",
    "npv",
    "message",
]
SHAPE_COLUMNS = [
    "marker",
    "n",
    "p_nonlinear",
    "quadratic_coef",
    "p_quadratic",
    "breakpoint",
    "slope_below",
    "p_slope_below",
    "slope_above",
    "p_slope_above",
    "inverted_u",
    "message",
]
PANEL_LETTERS = "abcdefgh"


@dataclass(frozen=True)
class Populations:
    """The rows the notebook analyses.

    Attributes
    ----------
    first : DataFrame
        First transfers with a known outcome.
    untreated : DataFrame
        Those of them in the reference arm (no immunotherapy): prognosis without treatment.
    """

    first: pd.DataFrame
    untreated: pd.DataFrame


@dataclass(frozen=True)
class PrognosticMarkers:
    """Prognostic value of each marker among untreated first transfers.

    Attributes
    ----------
    table : DataFrame
        As saved in ``tables/prognostic_markers.csv``.
    shown : DataFrame
        The columns a reader looks at.
    """

    table: pd.DataFrame
    shown: pd.DataFrame


@dataclass(frozen=True)
class MarkerComparison:
    """Clinical vs + endometrial vs + blood marker models, or why they could not be compared.

    Attributes
    ----------
    result : Attempt
        Holds a :class:`analysis.methods.prognostic.MarkerModelComparison`, or the reason.
    shown : DataFrame or Message
        The tests as saved in ``tables/discrimination_tests.csv``, or the reason.
    """

    result: Attempt
    shown: pd.DataFrame | Message


@dataclass(frozen=True)
class Validation:
    """Bootstrap internal validation of the clinical + endometrial model, or why not.

    Attributes
    ----------
    result : Attempt
        Holds the validation table (apparent and optimism-corrected measures), or the reason.
    rows : DataFrame
        The complete rows the model is fitted on.
    risk_model : LogisticRiskModel
        The model (refitted on ``rows`` for the calibration panel).
    outcome : str
        The outcome column of ``rows``.
    shown : DataFrame or Message
        The table as saved in ``tables/validation_internal.csv``, or the reason.
    refits : BootstrapRefits or None
        The model refitted in each resample of the validation, which the calibration curve's
        bootstrap (same resamples) reuses; None when the validation was not run on them.
    """

    result: Attempt
    rows: pd.DataFrame
    risk_model: prognostic.LogisticRiskModel
    outcome: str
    shown: pd.DataFrame | Message
    refits: discrimination.BootstrapRefits | None = None


@dataclass(frozen=True)
class CutOffs:
    """Data-driven (Youden) and published cut-offs of each marker.

    Attributes
    ----------
    table : DataFrame
        As saved in ``tables/cutoffs.csv``.
    shown : DataFrame
        The columns a reader looks at.
    """

    table: pd.DataFrame
    shown: pd.DataFrame


@dataclass(frozen=True)
class MarkerShape:
    """Whether each marker's curve is an inverted U (spline, quadratic and two-lines tests).

    Attributes
    ----------
    table : DataFrame
        As saved in ``tables/marker_shape.csv``.
    shown : DataFrame
        The columns a reader looks at.
    """

    table: pd.DataFrame
    shown: pd.DataFrame


@dataclass(frozen=True)
class CalibrationCurve:
    """Apparent and optimism-corrected calibration curve of the clinical + endometrial model, or why not.

    Attributes
    ----------
    shown : DataFrame or Message
        The curve as saved in ``tables/calibration_curve.csv``, or the reason.
    figure : Figure or None
        ``figures/supp_calibration_corrected.*``.
    """

    shown: pd.DataFrame | Message
    figure: Figure | None


@dataclass(frozen=True)
class EffectModification:
    """OR of personalized vs none along each marker, and the interaction tests.

    Attributes
    ----------
    curves : DataFrame
        The OR curves of every marker.
    tests : DataFrame
        As saved in ``tables/interaction_tests_markers.csv``.
    figure : Figure
        Saved as ``supp_effect_modification``.
    """

    curves: pd.DataFrame
    tests: pd.DataFrame
    figure: Figure


@dataclass(frozen=True)
class BenefitResult:
    """Who benefits, judged on observed outcomes: decision curves, calibration for benefit, the rule.

    Attributes
    ----------
    scores : Attempt
        Holds the women's AIPW scores (arm × profile group outcome model), or why not.
    predicted : Attempt
        Holds each woman's cross-validated predicted benefit and the decision curve, or why not.
    quintiles : DataFrame or None
        Observed (AIPW) vs predicted benefit by fifth (None without a benefit model).
    decisions : DataFrame or None
        Net benefit of each strategy across thresholds with bootstrap bands (None without a model).
    calibration : DataFrame or Message
        As saved in ``tables/benefit_calibration.csv`` (calibration for benefit and c-for-benefit).
    quintiles_shown : DataFrame or Message
        The quintiles as saved in ``tables/benefit_by_quintile.csv``, or why there are none.
    table : DataFrame or Message
        As saved in ``tables/benefit.csv``: the rule table by profile group and by immune profile.
    rule : Message
        The treatment rule the data support, in one paragraph.
    """

    scores: Attempt
    predicted: Attempt
    quintiles: pd.DataFrame | None
    decisions: pd.DataFrame | None
    calibration: pd.DataFrame | Message
    quintiles_shown: pd.DataFrame | Message
    table: pd.DataFrame | Message
    rule: Message


@dataclass(frozen=True)
class Subgroups:
    """Personalized vs none by clinical subgroup, with interaction tests and the forest plot.

    Attributes
    ----------
    effects : DataFrame or Message
        As saved in ``tables/subgroup_effects.csv``.
    tests : DataFrame or Message
        As saved in ``tables/subgroup_interactions.csv``.
    skipped : list of str
        One sentence per subgroup left out (its column is not in the data).
    figure : Figure
        Saved as ``supp_subgroup_forest``.
    caption : str
        Saved as ``figures/supp_subgroup_forest.txt``.
    """

    effects: pd.DataFrame | Message
    tests: pd.DataFrame | Message
    skipped: list[str]
    figure: Figure
    caption: str


@dataclass(frozen=True)
class Figure5:
    """Figure 5 and its caption.

    Attributes
    ----------
    figure : Figure
        Saved as ``figure_5_biomarkers``.
    caption : str
        Saved as ``figures/figure_5.txt``.
    """

    figure: Figure
    caption: str


def _measured(ctx: RunContext, frame: pd.DataFrame, markers: list[str], section: str) -> list[str]:
    """Return the ``markers`` that ``frame`` measures; the others (optional, absent or empty) are recorded as skipped."""
    missing = ctx.missing_columns(frame, markers)
    if missing:
        print(ctx.skip(f"{section}, for {', '.join(missing)}", missing))
    return [m for m in markers if m not in missing]


def populations(ctx: RunContext, *, outcome: str, reference_arm: str) -> Populations:
    """Return the first transfers with a known outcome and the untreated among them.

    Parameters
    ----------
    ctx : RunContext
    outcome : str
    reference_arm : str
        The arm without immunotherapy.

    Returns
    -------
    Populations
    """
    first = ctx.cohort.population("first", outcome)
    return Populations(first=first, untreated=first[first["treatment_arm"].astype(str) == reference_arm])


def prognostic_markers(
    ctx: RunContext, untreated: pd.DataFrame, *, outcome: str, spline_knots: int, n_bootstrap: int, seed: int
) -> PrognosticMarkers:
    """OR per SD and per doubling, AUC and spline χ² of every marker; save the table and per-SD estimates.

    Parameters
    ----------
    ctx : RunContext
    untreated : DataFrame
        :attr:`Populations.untreated`.
    outcome : str
    spline_knots : int
    n_bootstrap, seed : int
        Bootstrap of the AUC.

    Returns
    -------
    PrognosticMarkers
    """
    _measured(ctx, untreated, MARKERS, "Prognostic value of a marker")  # absent markers keep a row saying so
    table = prognostic.prognostic_table(
        untreated,
        MARKERS,
        outcome=outcome,
        nk=spline_knots,
        n_bootstrap=n_bootstrap,
        seed=seed,
        conf_level=ctx.conf_level,
    )
    # six markers tested at once: Holm across them (the raw p-values are kept beside)
    table = table.assign(
        p_per_sd_holm=holm_p_values(table["p_per_sd"]),
        p_nonlinear_holm=holm_p_values(table["p_nonlinear"]) if "p_nonlinear" in table else np.nan,
    )
    table = ctx.save_table(table, "prognostic_markers")
    ctx.save_estimates(
        prognostic.per_sd_estimates(table, outcome=outcome, conf_level=ctx.conf_level, notebook=ctx.notebook)
    )
    return PrognosticMarkers(
        table=table, shown=table.reindex(columns=PROGNOSTIC_COLUMNS)
    )  # a column no marker reached is empty


def marker_spline_figure(ctx: RunContext, untreated: pd.DataFrame, *, outcome: str, spline_knots: int) -> Figure:
    """Draw and save the spline OR curves of :data:`SPLINE_MARKERS` (``supp_marker_splines``).

    A marker whose spline cannot be fitted gets a panel saying why.

    Parameters
    ----------
    ctx : RunContext
    untreated : DataFrame
    outcome : str
    spline_knots : int

    Returns
    -------
    Figure
    """
    _measured(ctx, untreated, SPLINE_MARKERS, "Spline curve of a marker")  # their panels say why
    fig, axes = plt.subplots(2, 2, figsize=style.figure_size("double", aspect=0.7))
    for ax, marker, letter in zip(axes.flat, SPLINE_MARKERS, PANEL_LETTERS):
        curve = outcomes.attempt(
            lambda m=marker: prognostic.spline_or_curve(
                untreated, m, outcome=outcome, nk=spline_knots, conf_level=ctx.conf_level
            )
        )
        if curve.ok:
            bplots.plot_or_curve(curve.value, ax=ax, ylabel="OR of live birth vs median")
        else:
            bplots.plot_message(curve.reason, ax=ax)
        style.add_panel_letter(ax, letter)
    ctx.save_figure(fig, "supp_marker_splines")
    return fig


def compare_markers(
    ctx: RunContext,
    untreated: pd.DataFrame,
    *,
    outcome: str,
    clinical: list[str],
    n_bootstrap: int = MAX_VALIDATION_BOOTSTRAP,
    seed: int = 0,
    n_jobs: int = 1,
) -> MarkerComparison:
    """Compare the clinical model with + endometrial and + blood markers; save both tables when estimable.

    Added marker sets are tested by the likelihood ratio and their AUC gain is optimism-corrected
    with a bootstrap interval (no DeLong test between nested models); the endometrial and blood
    models, not nested, keep the paired DeLong test.

    Parameters
    ----------
    ctx : RunContext
    untreated : DataFrame
    outcome : str
    clinical : list of str
        Clinical covariates.
    n_bootstrap : int
        Resamples of the AUC gains, capped at :data:`MAX_VALIDATION_BOOTSTRAP`.
    seed, n_jobs : int

    Returns
    -------
    MarkerComparison
        With no endometrial or no blood marker measured, the sentence saying the comparison was skipped.
    """
    for kind, markers in (("endometrial", CORE_ENDOMETRIAL), ("blood", list(BLOOD_MARKERS))):
        if len(ctx.missing_columns(untreated, markers)) == len(markers):
            section = "Clinical model against + endometrial and + blood markers"
            shown = ctx.skip(section, markers, f"no {kind} marker is measured ({', '.join(markers)} absent or empty)")
            return MarkerComparison(
                result=outcomes.Attempt(None, shown.removeprefix("**Not estimable:** ")), shown=shown
            )
    endometrial = _measured(ctx, untreated, CORE_ENDOMETRIAL, "Model comparison of the markers")
    blood = _measured(ctx, untreated, list(BLOOD_MARKERS), "Model comparison of the markers")
    result = outcomes.attempt(
        lambda: prognostic.compare_marker_models(
            untreated,
            outcome=outcome,
            clinical=clinical,
            endometrial=endometrial,
            blood=blood,
            conf_level=ctx.conf_level,
            n_bootstrap=min(n_bootstrap, MAX_VALIDATION_BOOTSTRAP),
            seed=seed,
            n_jobs=n_jobs,
        )
    )
    if not result.ok:
        return MarkerComparison(result=result, shown=not_estimable(result.reason))
    ctx.save_table(result.value.discrimination, "discrimination")
    return MarkerComparison(result=result, shown=ctx.save_table(result.value.tests, "discrimination_tests"))


def internal_validation(
    ctx: RunContext,
    untreated: pd.DataFrame,
    *,
    outcome: str,
    clinical: list[str],
    n_bootstrap: int,
    seed: int,
    n_jobs: int,
) -> Validation:
    """Optimism-corrected performance of the clinical + endometrial model; save it when estimable.

    Parameters
    ----------
    ctx : RunContext
    untreated : DataFrame
    outcome : str
    clinical : list of str
    n_bootstrap : int
        Resamples, capped at :data:`MAX_VALIDATION_BOOTSTRAP`.
    seed, n_jobs : int

    Returns
    -------
    Validation
    """
    endometrial = _measured(ctx, untreated, CORE_ENDOMETRIAL, "Internal validation of the clinical + endometrial model")
    if not endometrial:
        shown = ctx.skip("Internal validation of the clinical + endometrial model", CORE_ENDOMETRIAL)
        reason = shown.removeprefix("**Not estimable:** ")
        return Validation(
            result=outcomes.Attempt(None, reason), rows=None, risk_model=None, outcome=outcome, shown=shown
        )
    rows = outcomes.model_frame(untreated, [outcome, *clinical, *endometrial])
    risk_model = prognostic.LogisticRiskModel(outcomes.formula(outcome, endometrial, clinical, rows))
    n_boot = min(n_bootstrap, MAX_VALIDATION_BOOTSTRAP)
    # The model is refitted in each resample once, for this validation and the calibration curve.
    # The refits only save work: where the design cannot be built or fitted (the errors the
    # validation itself reports) the validation refits as it always did, and says why not.
    try:
        refits = discrimination.bootstrap_refits(
            *risk_model.arrays(rows.reset_index(drop=True)),
            fit=prognostic.LogisticRiskModel.fit_arrays,
            n_bootstrap=n_boot,
            seed=seed,
            n_jobs=n_jobs,
        )
    except (ModelError, ValueError, np.linalg.LinAlgError):
        refits = None
    result = outcomes.attempt(
        lambda: discrimination.optimism_corrected(
            rows,
            outcome=outcome,
            fit_predict=risk_model,
            n_bootstrap=n_boot,
            seed=seed,
            n_jobs=n_jobs,
            refits=refits,
        )
    )
    shown = ctx.save_table(result.value, "validation_internal") if result.ok else not_estimable(result.reason)
    return Validation(
        result=result,
        rows=rows,
        risk_model=risk_model,
        outcome=outcome,
        shown=shown,
        refits=refits if result.ok else None,
    )


def published_cutoffs(profile_cutoffs: dict, *, blood_nk_cutoff: float) -> dict[str, list[tuple]]:
    """The lab's published cut-offs of each profile-rule marker and of blood NK cells, with their direction.

    The endometrial ones are the profile rule's lines
    (:func:`analysis.methods.landscape.marker_cutoff_lines`): ``published low`` (at or above is
    normal), ``published high`` (at or below is normal) and ``published range`` (the lab's rule:
    inside the reference range is normal). Blood NK cells above the cut-off are "elevated", so at
    or below is normal.

    Parameters
    ----------
    profile_cutoffs : dict
        The profile cut-off rule.
    blood_nk_cutoff : float
        Published blood NK cut-off, % of lymphocytes.

    Returns
    -------
    dict
        Marker → list of (name, value, side), as :func:`analysis.methods.discrimination.cutoff_table` takes.
    """
    lines = marker_cutoff_lines(profile_cutoffs)
    out = {
        marker: [(f"published {side}", value, side) for side, value in lines[marker].items()]
        + [("published range", (lines[marker]["low"], lines[marker]["high"]), "range")]
        for marker in CORE_ENDOMETRIAL
    }
    out["blood_nk_percent"] = [("published", blood_nk_cutoff, "high")]
    return out


def cutoffs(
    ctx: RunContext,
    untreated: pd.DataFrame,
    *,
    outcome: str,
    profile_cutoffs: dict,
    blood_nk_cutoff: float,
    n_bootstrap: int,
    seed: int,
) -> CutOffs:
    """Youden cut-offs (bootstrap CI) beside the published ones for every marker; save the table.

    Parameters
    ----------
    ctx : RunContext
    untreated : DataFrame
    outcome : str
    profile_cutoffs : dict
    blood_nk_cutoff : float
    n_bootstrap, seed : int

    Returns
    -------
    CutOffs
    """
    table = discrimination.cutoff_table(
        untreated,
        outcome=outcome,
        markers=_measured(ctx, untreated, MARKERS, "Cut-offs of a marker"),
        published=published_cutoffs(profile_cutoffs, blood_nk_cutoff=blood_nk_cutoff),
        n_bootstrap=n_bootstrap,
        seed=seed,
        conf_level=ctx.conf_level,
    )
    table = ctx.save_table(table, "cutoffs")
    return CutOffs(table=table, shown=table[CUTOFF_COLUMNS])


def marker_shape(ctx: RunContext, untreated: pd.DataFrame, *, outcome: str, spline_knots: int) -> MarkerShape:
    """Test each marker's curve for an inverted U (both too low and too high harmful); save the table.

    Parameters
    ----------
    ctx : RunContext
    untreated : DataFrame
    outcome : str
    spline_knots : int

    Returns
    -------
    MarkerShape
    """
    table = prognostic.marker_shape_table(
        untreated, SPLINE_MARKERS, outcome=outcome, nk=spline_knots, conf_level=ctx.conf_level
    )
    table = ctx.save_table(table, "marker_shape")
    return MarkerShape(table=table, shown=table[SHAPE_COLUMNS])


def calibration_curve(
    ctx: RunContext, validation: Validation, *, n_bootstrap: int, seed: int, n_jobs: int
) -> CalibrationCurve:
    """Apparent and optimism-corrected calibration curve (``rms::calibrate`` style); save table and figure.

    Parameters
    ----------
    ctx : RunContext
    validation : Validation
        The clinical + endometrial model and its rows.
    n_bootstrap : int
        Resamples, capped at :data:`MAX_VALIDATION_BOOTSTRAP`.
    seed, n_jobs : int

    Returns
    -------
    CalibrationCurve
    """
    n_boot = min(n_bootstrap, MAX_VALIDATION_BOOTSTRAP)
    refits = validation.refits  # the validation's resamples, when these are the same ones
    if refits is not None and not refits.matches(n_bootstrap=n_boot, seed=seed, n_rows=len(validation.rows)):
        refits = None
    result = outcomes.attempt(
        lambda: discrimination.calibration_curve_corrected(
            *validation.risk_model.arrays(validation.rows),
            n_bootstrap=n_boot,
            seed=seed,
            n_jobs=n_jobs,
            refits=refits,
        )
    )
    if not result.ok:
        return CalibrationCurve(shown=not_estimable(result.reason), figure=None)
    fig, ax = plt.subplots(figsize=style.figure_size("single", aspect=1.0))
    bplots.plot_calibration_corrected(result.value, ax=ax)
    ctx.save_figure(fig, "supp_calibration_corrected")
    plt.close(fig)
    return CalibrationCurve(shown=ctx.save_table(result.value, "calibration_curve"), figure=fig)


def effect_modification(
    ctx: RunContext, first: pd.DataFrame, *, outcome: str, covariates: list[str], reference_arm: str
) -> EffectModification:
    """OR of personalized vs none along each marker and its interaction test; save table and figure.

    Parameters
    ----------
    ctx : RunContext
    first : DataFrame
        :attr:`Populations.first`.
    outcome : str
    covariates : list of str
    reference_arm : str

    Returns
    -------
    EffectModification
    """
    curves, tests = benefit.interaction_tests(
        first,
        _measured(ctx, first, MARKERS, "Effect modification by a marker"),
        outcome=outcome,
        covariates=covariates,
        reference=reference_arm,
        conf_level=ctx.conf_level,
    )
    tests = tests.assign(p_holm=holm_p_values(tests["p_value"]))  # Holm across the markers
    tests = ctx.save_table(tests, "interaction_tests_markers")
    fig, axes = plt.subplots(2, 3, figsize=style.figure_size("double", aspect=0.55), sharey=True)
    for ax, (_, curve), letter in zip(axes.flat, curves.groupby("marker", sort=False), PANEL_LETTERS):
        bplots.plot_or_curve(curve, ax=ax, ylabel="OR personalized vs none")
        style.add_panel_letter(ax, letter)
    ctx.save_figure(fig, "supp_effect_modification")
    return EffectModification(curves=curves, tests=tests, figure=fig)


#: The arm whose benefit is judged (against ``reference_arm``).
TREATED_ARM = "personalized"
#: Model ids of the subgroup rows: ``lb_first_subgroup_<subgroup>``.
SUBGROUP_MODEL_PREFIX = "lb_first_subgroup_"
#: The population of the subgroup analysis: the primary estimand's (personalized therapy gives an
#: agent only to a dysregulated profile).
SUBGROUP_POPULATION = ("profile_group", "dysregulated")


def _age_band(age: pd.Series) -> pd.Series:
    return pd.Series(
        np.select([age < 35, age < 40], ["<35 y", "35-39 y"], "40+ y"), index=age.index, dtype=object
    ).where(age.notna())


#: Clinical subgroups: name → (source column, derivation of the subgroup's levels as text).
SUBGROUPS = {
    "age_band": ("age_at_biopsy_years", _age_band),
    "prior_failed_2plus": (
        "prior_failed_transfers",
        lambda x: x.map(lambda v: np.nan if pd.isna(v) else ("2+ failed" if v >= 2 else "0-1 failed")),
    ),
    "embryo_quality": (
        "good_quality_embryos",
        lambda x: x.map(lambda v: np.nan if pd.isna(v) else ("top" if v >= 1 else "non-top")),
    ),
    "pgt_a": ("pgt_a", lambda x: x.map(lambda v: np.nan if pd.isna(v) else ("PGT-A" if bool(v) else "no PGT-A"))),
    "cycle_type": ("cycle_type", lambda x: x.astype(object).where(x.notna())),
    "indication_rif_rpl": (
        "indication",
        lambda x: (
            x.astype(object).where(x.astype(object).isin(["rif", "rpl"])).map(lambda v: v if pd.isna(v) else v.upper())
        ),
    ),
}


#: Display order of levels that do not sort as text.
LEVEL_ORDER = {"age_band": ["<35 y", "35-39 y", "40+ y"]}


def _in_level_order(effects: pd.DataFrame) -> pd.DataFrame:
    rank = [
        LEVEL_ORDER[s].index(g) if s in LEVEL_ORDER and g in LEVEL_ORDER[s] else 0
        for s, g in zip(effects["subgroup"], effects["group"])
    ]
    first = {s: i for i, s in enumerate(dict.fromkeys(effects["subgroup"]))}
    key = pd.Series([first[s] * 100 + r for s, r in zip(effects["subgroup"], rank)], index=effects.index)
    return effects.loc[key.sort_values(kind="stable").index].reset_index(drop=True)


def who_benefits(
    ctx: RunContext,
    first: pd.DataFrame,
    *,
    outcome: str,
    covariates: list[str],
    ps_covariates: list[str],
    reference_arm: str,
    dca_max_threshold: float,
    n_bootstrap: int,
    max_bootstrap: int,
    seed: int,
    n_jobs: int,
    multiplicity: str,
    alpha: float,
) -> BenefitResult:
    """Decision curves and calibration for benefit from observed outcomes, and the supported rule; save them.

    Every "observed" quantity is doubly robust (AIPW scores from the propensity model on
    ``ps_covariates`` and an outcome model with arm × profile group). The benefit model (arm ×
    profile group + ``covariates``) is judged out of fold. The rule is
    :func:`analysis.methods.benefit.rule_table` on the AIPW estimates by profile group and by
    immune profile, each grouping a family adjusted by ``multiplicity``.

    Parameters
    ----------
    ctx : RunContext
    first : DataFrame
    outcome : str
    covariates : list of str
        Clinical covariates of the benefit model.
    ps_covariates : list of str
        Confounders (propensity and outcome models of the AIPW scores).
    reference_arm : str
    dca_max_threshold : float
        Largest required gain in the decision curves.
    n_bootstrap, max_bootstrap, seed, n_jobs : int
        Bootstrap of the decision-curve bands and of the c-for-benefit: ``min(n_bootstrap,
        max_bootstrap)`` resamples (the plan's ``benefit_max_bootstrap``: each decision-curve
        resample refits the cross-validated benefit model); seed of the resamples and folds.
    multiplicity : str
        ``holm``, ``fixed_sequence`` or ``none``.
    alpha : float

    Returns
    -------
    BenefitResult
    """
    scores = outcomes.attempt(
        lambda: benefit.aipw_scores(
            first,
            outcome=outcome,
            ps_covariates=ps_covariates,
            outcome_covariates=ps_covariates,
            modifier="profile_group",
            reference=reference_arm,
        )
    )
    predicted = (
        outcomes.attempt(
            lambda: benefit.decision_curve_with_bands(
                first,
                scores.value,
                outcome=outcome,
                modifiers=["profile_group"],
                covariates=covariates,
                thresholds=np.linspace(0, dca_max_threshold, DECISION_CURVE_POINTS),
                reference=reference_arm,
                n_bootstrap=min(n_bootstrap, max_bootstrap),
                seed=seed,
                n_jobs=n_jobs,
                conf_level=ctx.conf_level,
            )
        )
        if scores.ok
        else scores
    )
    quintiles = decisions = None
    quintiles_shown = calibration = not_estimable(predicted.reason)
    if predicted.ok:
        decisions, oof = predicted.value
        sc = scores.value
        quintiles = benefit.benefit_by_fifth(sc, oof, conf_level=ctx.conf_level)
        two = sc.loc[sc.index.intersection(oof.dropna().index)]
        two = two[two["arm"].isin([TREATED_ARM, reference_arm])]
        c = benefit.c_for_benefit(
            oof.loc[two.index].to_numpy(),
            (two["arm"] == TREATED_ARM).to_numpy(int),
            two["y"].to_numpy(),
            n_bootstrap=min(n_bootstrap, max_bootstrap),
            seed=seed,
            conf_level=ctx.conf_level,
        )
        cal = pd.concat(
            [
                benefit.calibration_for_benefit(sc, oof, conf_level=ctx.conf_level),
                pd.DataFrame(
                    [
                        {
                            "measure": "c_for_benefit",
                            "estimate": c["c_for_benefit"],
                            "std_error": np.nan,
                            "conf_low": c["conf_low"],
                            "conf_high": c["conf_high"],
                            "ideal": 1.0,
                            "n": 2 * c["n_pairs"],
                        }
                    ]
                ),
            ],
            ignore_index=True,
        )
        quintiles_shown = ctx.save_table(quintiles, "benefit_by_quintile")
        ctx.save_table(decisions, "decision_curve")
        calibration = ctx.save_table(cal, "benefit_calibration")
    strata, reasons = benefit.aipw_rule_strata(
        first, outcome=outcome, ps_covariates=ps_covariates, reference_arm=reference_arm, conf_level=ctx.conf_level
    )
    if len(strata):
        rule = benefit.rule_table(strata, alpha=alpha, multiplicity=multiplicity)
        table = ctx.save_table(rule, "benefit")
        text = benefit.rule_statement(rule, alpha=alpha, conf_level=ctx.conf_level)
        text += "".join(f" Not estimable by {r}." for r in reasons)
    else:
        table = not_estimable("; ".join(reasons))
        text = (
            "The data support no treatment rule: the doubly robust estimates could not be computed ("
            + "; ".join(reasons)
            + ")."
        )
    return BenefitResult(
        scores=scores,
        predicted=predicted,
        quintiles=quintiles,
        decisions=decisions,
        calibration=calibration,
        quintiles_shown=quintiles_shown,
        table=table,
        rule=Message(text),
    )


def subgroups(
    ctx: RunContext,
    first: pd.DataFrame,
    *,
    outcome: str,
    ps_covariates: list[str],
    reference_arm: str,
    multiplicity: str,
) -> Subgroups:
    """Personalized vs none by clinical subgroup with interaction tests; save tables, estimates and the forest plot.

    The subgroups (:data:`SUBGROUPS`) are derived from the contract's columns; one whose column
    is not in the data is skipped with a sentence saying so. Each subgroup gets its own AIPW
    scores (outcome model with arm × subgroup) among :data:`SUBGROUP_POPULATION`; interaction
    tests are adjusted over the subgroups by ``multiplicity``.

    Parameters
    ----------
    ctx : RunContext
    first : DataFrame
    outcome : str
    ps_covariates : list of str
    reference_arm : str
    multiplicity : str

    Returns
    -------
    Subgroups
    """
    col, level = SUBGROUP_POPULATION
    rows = first[first[col].astype(str) == level]
    population = f"{col.replace('_', ' ')} {level}"
    skipped, scores, failed = [], {}, []
    for name, (source, derive) in SUBGROUPS.items():
        if source not in rows:
            skipped.append(f"{name}: the data have no column {source}, so this subgroup is not analysed")
            continue
        frame = rows.assign(**{name: derive(rows[source])})
        got = outcomes.attempt(
            lambda f=frame, n=name: benefit.aipw_scores(
                f,
                outcome=outcome,
                ps_covariates=[c for c in ps_covariates if c != col],
                outcome_covariates=[c for c in ps_covariates if c != col],
                modifier=n,
                reference=reference_arm,
            )
        )
        if got.ok:
            scores[name] = got.value
        else:
            failed.append(f"{name}: {got.reason}")
    fig, ax = plt.subplots(figsize=style.figure_size("double", aspect=0.9))
    if not scores:
        reason = "; ".join(skipped + failed) or "no subgroup"
        bplots.plot_message(reason, ax=ax)
        ctx.save_figure(fig, "supp_subgroup_forest")
        return Subgroups(not_estimable(reason), not_estimable(reason), skipped, fig, reason)
    effects, tests = benefit.subgroup_effects(
        scores, conf_level=ctx.conf_level, multiplicity=multiplicity, reference=reference_arm
    )
    effects = _in_level_order(effects)
    ctx.save_estimates(
        benefit.subgroup_estimate_rows(
            effects,
            model_id_prefix=SUBGROUP_MODEL_PREFIX,
            notebook=ctx.notebook,
            outcome=outcome,
            population=f"first_transfer_{level}",
            conf_level=ctx.conf_level,
        )
    )
    ctx.plot(bplots.plot_subgroup_forest, effects, tests, ax=ax)
    effects = ctx.save_table(effects, "subgroup_effects")
    tests = ctx.save_table(tests, "subgroup_interactions")
    ctx.save_figure(fig, "supp_subgroup_forest")
    caption = ctx.caption(captions.subgroup_forest_caption, tests, skipped + failed, population=population, n=len(rows))
    return Subgroups(effects, tests, skipped + failed, fig, ctx.save_caption(caption, "supp_subgroup_forest"))


def figure_5(ctx: RunContext, comparison: MarkerComparison, validation: Validation, benefits: BenefitResult) -> Figure5:
    """Draw and save Figure 5 (ROC, calibration, benefit by fifth, decision curves) and its caption.

    A panel whose model could not be estimated says why.

    Parameters
    ----------
    ctx : RunContext
    comparison : MarkerComparison
    validation : Validation
    benefits : BenefitResult

    Returns
    -------
    Figure5
    """
    fig, axes = plt.subplots(2, 2, figsize=style.figure_size("double", aspect=0.85))
    models = comparison.result.value
    if comparison.result.ok:
        ctx.plot(bplots.plot_roc, models.predictions, models.y, ax=axes[0, 0], aucs=models.aucs())
    else:
        bplots.plot_message(comparison.result.reason, ax=axes[0, 0])
    if validation.result.ok:
        predict = validation.risk_model(validation.rows)
        ctx.plot(bplots.plot_calibration, predict(validation.rows), validation.rows[validation.outcome], ax=axes[0, 1])
    else:
        bplots.plot_message(validation.result.reason, ax=axes[0, 1])
    if benefits.predicted.ok:
        bplots.plot_benefit_quintiles(benefits.quintiles, ax=axes[1, 0])
        bplots.plot_decision_curve(benefits.decisions, ax=axes[1, 1])
    else:
        bplots.plot_message(benefits.predicted.reason, ax=axes[1, 0])
        bplots.plot_message(benefits.predicted.reason, ax=axes[1, 1])
    for ax, letter in zip(axes.flat, PANEL_LETTERS):
        style.add_panel_letter(ax, letter)
    ctx.save_figure(fig, "figure_5_biomarkers")
    caption = captions.figure_5_caption(
        models.discrimination if comparison.result.ok else None,
        models.tests if comparison.result.ok else None,
        validation.result.value,
        conf_level=ctx.conf_level,
        min_cell_count=ctx.min_cell_count,
    )
    return Figure5(figure=fig, caption=ctx.save_caption(caption, 5))
