"""What ``05_treatment_effects`` shows: propensity scores, weights and balance, IPTW, AIPW and matched
effects, E-values, multiple imputation and the sensitivity sets.

Each function takes the run context (:class:`analysis.study.context.RunContext`) and the
notebook's analysis parameters, saves what the notebook writes through the context, and returns
a small result object with the tables, figures and messages the notebook shows. Sections that fit
models return their :class:`analysis.methods.outcomes.ModelLog`; :func:`save_models` writes the
estimates and model status of all of them, in the order the notebook ran them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.core.exceptions import ModelError
from analysis.data.profiles import RULE_MARKERS, profile_group_from_markers
from analysis.methods import effects, imputation, outcomes, propensity, sensitivity, target_trial
from analysis.methods.outcomes import ModelLog
from analysis.output import plotting, style
from analysis.output.plotting import effects as effect_plots
from analysis.study.context import RunContext
from analysis.study.messages import Message

__all__ = [
    "Balance",
    "DoublyRobust",
    "EValues",
    "ImputationModel",
    "ImputedVsCompleteCase",
    "Matched",
    "Propensity",
    "SensitivityReruns",
    "Weights",
    "WeightedEffects",
    "balance",
    "doubly_robust",
    "evalues",
    "imputation_model",
    "imputed_vs_complete_case",
    "love_figure",
    "matched_effect",
    "overlap_figure",
    "propensity_scores",
    "save_models",
    "sensitivity_forest",
    "sensitivity_reruns",
    "weighted_effects",
    "weights",
]

TREATED = "personalized"
IPTW_ID = "lb_first_iptw"
AIPW_ID = "lb_first_aipw"
MATCHED_ID = "lb_first_matched"
MI_ID = "lb_first_mi"
COMPLETE_CASE_ID = "lb_first_adjusted_cc"
SENSITIVITY_TERM = f"treatment_arm[{TREATED}]"
#: Markers added to the imputation model (beside the adjustment and propensity covariates).
IMPUTATION_MARKERS = ["il15_fn14_ratio", "il18_tweak_ratio", "unk_cd56_percent", "blood_nk_percent"]
#: Predictors of the imputation models that are not imputed themselves (besides the outcome).
IMPUTATION_PREDICTORS = ["treatment_arm"]
#: Cycles of the chained equations when the plan's ``n_iterations`` is a number (its default).
IMPUTATION_ITERATIONS = 10
NO_POSITIVITY_PROBLEM = (
    "no arm has scores outside the common support or estimated probabilities below 0.025; no weight above 20."
)


@dataclass(frozen=True)
class Propensity:
    """Propensity scores of the arm and their overlap.

    Attributes
    ----------
    first : DataFrame
        First transfers with a known outcome (the analysed rows).
    scores : DataFrame
        One row per patient with complete covariates: arm and the score of each arm.
    overlap : DataFrame
        As saved in ``tables/propensity_overlap.csv``.
    """

    first: pd.DataFrame
    scores: pd.DataFrame
    overlap: pd.DataFrame


@dataclass(frozen=True)
class Weights:
    """Inverse probability of treatment weights and what the reader is told about them.

    Attributes
    ----------
    raw : Series
        Weights before truncation.
    weights : Series
        Weights after truncation (the ones used).
    estimand : Message
        The estimand, population and propensity model in one sentence.
    positivity : Message
        Scores outside the common support, small probabilities and large weights, or that there are none.
    summary : DataFrame
        As saved in ``tables/weights_summary.csv``.
    """

    raw: pd.Series
    weights: pd.Series
    estimand: Message
    positivity: Message
    summary: pd.DataFrame


@dataclass(frozen=True)
class Balance:
    """Matched pairs (personalized vs none) and covariate balance before and after weighting and matching.

    Attributes
    ----------
    pairs : DataFrame
        The matched pairs (row positions of treated and control).
    treated : Series
        Whether each patient of the pairwise score is treated.
    matched_weights : Series
        1 for the rows in a matched pair, 0 for the others (the matched sample as weights).
    table : DataFrame
        As saved in ``tables/balance.csv``.
    """

    pairs: pd.DataFrame
    treated: pd.Series
    matched_weights: pd.Series
    table: pd.DataFrame


@dataclass(frozen=True)
class PairwiseBalance:
    """Balance of every covariate (propensity and outcome models) for every pair of arms, cobalt style.

    Attributes
    ----------
    table : DataFrame
        As saved in ``tables/balance_pairwise.csv``
        (:func:`analysis.methods.propensity.balance_statistics`).
    ess : DataFrame
        Kish's effective sample size per arm, as saved in ``tables/balance_ess.csv``.
    flagged : DataFrame
        The rows outside the thresholds after weighting (|SMD| > 0.1 or variance ratio outside
        0.5–2).
    """

    table: pd.DataFrame
    ess: pd.DataFrame
    flagged: pd.DataFrame


@dataclass(frozen=True)
class WeightedEffects:
    """IPTW odds ratios, risk differences and risk ratios.

    Attributes
    ----------
    log : ModelLog
    risks : DataFrame
        As saved in ``tables/iptw_risks.csv``.
    shown : DataFrame
        The arm rows of the three models.
    """

    log: ModelLog
    risks: pd.DataFrame
    shown: pd.DataFrame


@dataclass(frozen=True)
class DoublyRobust:
    """AIPW risk differences, overall and by profile group.

    Attributes
    ----------
    log : ModelLog
    risks : DataFrame
        As saved in ``tables/aipw_risks.csv``.
    shown : DataFrame
        term, estimator (``aipw_if_rd``: influence function; ``aipw_rd``: bootstrap), estimate,
        conf_low, conf_high, n_obs of the risk differences.
    negative_control : DataFrame
        The main contrast (personalized vs none, dysregulated profiles) beside the negative control
        (the same contrast in balanced profiles, where personalized therapy gives no agent, so its
        true effect is null), each with what its interval says; as saved in
        ``tables/negative_control.csv``.
    bootstrap : Message
        What the bootstrap said (failed replicates, or why the estimate is refused), or that the
        intervals came from the influence function.
    comparison : DataFrame
        Influence-function and bootstrap SEs and limits of each risk difference side by side;
        as saved in ``tables/aipw_inference_comparison.csv``.
    """

    log: ModelLog
    risks: pd.DataFrame
    shown: pd.DataFrame
    negative_control: pd.DataFrame
    bootstrap: Message = Message("")
    comparison: pd.DataFrame | None = None


@dataclass(frozen=True)
class Matched:
    """The matched OR of personalized vs none and the matching summary.

    Attributes
    ----------
    log : ModelLog
    summary : DataFrame
        As saved in ``tables/matching_summary.csv``.
    """

    log: ModelLog
    summary: pd.DataFrame


@dataclass(frozen=True)
class EValues:
    """E-values of the ratio estimates.

    Attributes
    ----------
    table : DataFrame
        As saved in ``tables/evalues.csv``.
    """

    table: pd.DataFrame


@dataclass(frozen=True)
class ImputationModel:
    """The rows and columns of the multiple imputation, and its model table.

    Attributes
    ----------
    data : DataFrame
        First transfers with a known outcome and arm, including women whose profile is
        ``indeterminate`` (their profile group is imputed passively from the imputed markers).
    columns : list of str
        The imputed columns.
    table : DataFrame
        As saved in ``tables/imputation_model.csv``.
    passive : dict
        Passively imputed columns and how they are derived
        (:class:`analysis.methods.imputation.PassiveColumn`: the function and the columns it reads).
    """

    data: pd.DataFrame
    columns: list
    table: pd.DataFrame
    passive: dict


@dataclass(frozen=True)
class ImputedVsCompleteCase:
    """The adjusted model pooled over the imputed data sets beside the complete-case fit.

    Attributes
    ----------
    log : ModelLog
    table : DataFrame
        As saved in ``tables/mi_vs_complete_case.csv``.
    iterations : DataFrame
        As saved in ``tables/imputation_iterations.csv``: the cycles run and, with
        ``n_iterations="auto"``, how the rule chose them.
    """

    log: ModelLog
    table: pd.DataFrame
    iterations: pd.DataFrame | None = None


@dataclass(frozen=True)
class SensitivityReruns:
    """The IPTW OR rerun in every sensitivity set.

    Attributes
    ----------
    log : ModelLog
    status : DataFrame
        As saved in ``tables/sensitivity_status.csv``.
    summary : DataFrame
        As saved in ``tables/sensitivity_summary.csv`` (main analysis first).
    """

    log: ModelLog
    status: pd.DataFrame
    summary: pd.DataFrame


def propensity_scores(ctx: RunContext, *, outcome: str, ps_covariates: list[str], reference_arm: str) -> Propensity:
    """Multinomial propensity scores of the arm at the first transfer; save the overlap table.

    Parameters
    ----------
    ctx : RunContext
    outcome : str
        Outcome whose known values the rows need.
    ps_covariates : list of str
        Confounders of the propensity model.
    reference_arm : str

    Returns
    -------
    Propensity
    """
    first = ctx.cohort.population("first", outcome)
    scores = propensity.propensity_scores(first, covariates=ps_covariates, reference=reference_arm)
    overlap = ctx.save_table(propensity.overlap_table(scores), "propensity_overlap")
    return Propensity(first=first, scores=scores, overlap=overlap)


def overlap_figure(ctx: RunContext, scores: Propensity) -> Figure:
    """Draw and save the score distributions by arm (``supp_overlap``).

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity

    Returns
    -------
    Figure
    """
    fig, axes = plt.subplots(1, 2, figsize=style.figure_size("double", aspect=0.35))
    effect_plots.plot_overlap(scores.scores, score=f"ps_{TREATED}", ax=axes[0])
    effect_plots.plot_overlap(scores.scores, score="ps_empirical", ax=axes[1])
    style.add_panel_letter(axes[0], "a")
    style.add_panel_letter(axes[1], "b")
    ctx.save_figure(fig, "supp_overlap")
    return fig


def weights(
    ctx: RunContext, scores: Propensity, *, estimand: str, weight_truncation: list[float], ps_covariates: list[str]
) -> Weights:
    """IPTW weights (truncated as asked), the estimand statement, positivity checks; save the weight summary.

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity
    estimand : str
        ``ATE`` or ``ATT`` (treated: personalized).
    weight_truncation : list of float
        Empty, or the low and high percentiles.
    ps_covariates : list of str

    Returns
    -------
    Weights
    """
    raw = propensity.iptw_weights(scores.scores, estimand=estimand, treated=TREATED)
    used = propensity.truncate_weights(raw, weight_truncation)
    statement = effects.estimand_statement(
        estimand=estimand, covariates=ps_covariates, n=len(scores.scores), truncation=weight_truncation
    )
    warnings = propensity.positivity_warnings(scores.scores, weights=used)
    positivity = "**Positivity:** " + (" ".join(warnings) if warnings else NO_POSITIVITY_PROBLEM)
    summary = ctx.save_table(propensity.weight_summary(used, scores.scores["arm"]), "weights_summary")
    return Weights(raw=raw, weights=used, estimand=Message(statement), positivity=Message(positivity), summary=summary)


def balance(
    ctx: RunContext,
    scores: Propensity,
    weights: Weights,
    *,
    ps_covariates: list[str],
    reference_arm: str,
    caliper_sd: float,
) -> Balance:
    """Match personalized to none on the pairwise score; save the balance of weighted and matched samples.

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity
    weights : Weights
    ps_covariates : list of str
    reference_arm : str
    caliper_sd : float
        Caliper in SD of the logit of the score.

    Returns
    -------
    Balance
    """
    first = scores.first
    pair_scores = propensity.pairwise_propensity(
        first, treated=TREATED, reference=reference_arm, covariates=ps_covariates
    )
    treated = first.loc[pair_scores.index, "treatment_arm"].astype(str) == TREATED
    pairs = propensity.match_nearest(pair_scores, treated, caliper_sd=caliper_sd)
    matched_rows = [*pairs["treated_index"], *pairs["control_index"]]
    in_match = pd.Series(first.index.isin(matched_rows).astype(float), index=first.index)
    table = propensity.balance_table(
        first, covariates=ps_covariates, weights=weights.weights, reference=reference_arm, matched_weights=in_match
    )
    return Balance(pairs=pairs, treated=treated, matched_weights=in_match, table=ctx.save_table(table, "balance"))


def pairwise_balance(
    ctx: RunContext, scores: Propensity, weights: Weights, *, ps_covariates: list[str], covariates: list[str]
) -> PairwiseBalance:
    """Balance like ``cobalt::bal.tab``: every pair of arms, every covariate of both models; save it.

    SMDs use the unweighted pooled SD (so weighting cannot hide imbalance by inflating the
    spread), with variance ratios, weighted KS statistics and the effective sample size per arm;
    rows outside |SMD| ≤ 0.1 or variance ratio 0.5–2 after weighting are flagged.

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity
    weights : Weights
    ps_covariates, covariates : list of str
        The propensity model's covariates and the outcome model's adjustment set.

    Returns
    -------
    PairwiseBalance
    """
    checked = list(dict.fromkeys([*ps_covariates, *covariates]))
    table = propensity.balance_statistics(scores.first, covariates=checked, weights=weights.weights)
    ess = propensity.effective_sample_sizes(weights.weights, scores.first["treatment_arm"])
    off = ~table["smd_balanced"] | table["variance_ratio_balanced"].eq(False).fillna(False).astype(bool)
    return PairwiseBalance(
        table=ctx.save_table(table, "balance_pairwise"),
        ess=ctx.save_table(ess, "balance_ess"),
        flagged=table.loc[off, ["variable", "group", "reference", "smd_weighted", "variance_ratio_weighted"]],
    )


def pairwise_love_figure(ctx: RunContext, balance: PairwiseBalance) -> Figure:
    """Draw and save |SMD| before and after weighting for each pair of arms (``supp_love_plot_pairwise``).

    Parameters
    ----------
    ctx : RunContext
    balance : PairwiseBalance

    Returns
    -------
    Figure
    """
    pairs = list(dict.fromkeys(zip(balance.table["group"], balance.table["reference"])))
    # each panel its own x range: a shared one clips the largest unweighted SMDs of the other pairs
    fig, axes = plt.subplots(1, len(pairs), figsize=style.figure_size("double", aspect=0.6), squeeze=False)
    for ax, (group, reference), letter in zip(axes[0], pairs, "abc", strict=False):
        rows = balance.table[(balance.table["group"] == group) & (balance.table["reference"] == reference)]
        effect_plots.plot_love(rows, group=group, ax=ax)
        style.add_panel_letter(ax, letter)
    style.legend_on_last(axes[0])
    ctx.save_figure(fig, "supp_love_plot_pairwise")
    return fig


def love_figure(ctx: RunContext, matched: Balance) -> Figure:
    """Draw and save the standardized differences before and after (``supp_love_plot``).

    Parameters
    ----------
    ctx : RunContext
    matched : Balance

    Returns
    -------
    Figure
    """
    fig, axes = plt.subplots(1, 2, figsize=style.figure_size("double", aspect=0.4), sharex=True)
    effect_plots.plot_love(matched.table, group=TREATED, ax=axes[0])
    effect_plots.plot_love(matched.table.drop(columns="smd_matched"), group="empirical", ax=axes[1])
    style.add_panel_letter(axes[0], "a")
    style.add_panel_letter(axes[1], "b")
    fig.tight_layout()
    ctx.save_figure(fig, "supp_love_plot")
    return fig


def weighted_effects(
    ctx: RunContext, scores: Propensity, weights: Weights, *, outcome: str, reference_arm: str
) -> WeightedEffects:
    """Weighted OR (sandwich SEs), risk difference and risk ratio of each arm; save the weighted risks.

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity
    weights : Weights
    outcome : str
    reference_arm : str

    Returns
    -------
    WeightedEffects
    """
    first, w = scores.first, weights.weights
    log = ModelLog(ctx.notebook)
    log.run(
        IPTW_ID,
        outcome,
        "first_transfer",
        len(w),
        partial(
            effects.iptw_logit_rows,
            first,
            w,
            outcome=outcome,
            reference=reference_arm,
            model_id=IPTW_ID,
            notebook=ctx.notebook,
            conf_level=ctx.conf_level,
        ),
    )
    rd_rr, risks = effects.iptw_risk_rows(
        first,
        w,
        outcome=outcome,
        reference=reference_arm,
        model_id=IPTW_ID,
        notebook=ctx.notebook,
        conf_level=ctx.conf_level,
    )
    log.record(rd_rr, outcome, "first_transfer")
    shown = outcomes.or_table(log.estimates_frame(), model_ids=[IPTW_ID, f"{IPTW_ID}_rd", f"{IPTW_ID}_rr"])
    return WeightedEffects(log=log, risks=ctx.save_table(risks, "iptw_risks"), shown=shown)


def doubly_robust(
    ctx: RunContext,
    scores: Propensity,
    *,
    outcome: str,
    ps_covariates: list[str],
    reference_arm: str,
    n_bootstrap: int,
    seed: int,
    n_jobs: int,
    aipw_max_failed_share: float = 0.05,
    aipw_inference: str = "auto",
    aipw_if_above: int = 5000,
) -> DoublyRobust:
    """AIPW risk differences overall and by profile group; save the risks and the two inferences side by side.

    The outcome model uses the propensity covariates, with arm × profile group. The intervals
    come from the influence function (stacked estimating equations, estimator ``aipw_if_rd``)
    or the patient bootstrap (``aipw_rd``), as ``aipw_inference`` says (``auto``: the influence
    function above ``aipw_if_above`` patients). The influence-function SEs and limits are saved
    beside the bootstrap's in ``tables/aipw_inference_comparison.csv`` (bootstrap columns empty
    when it was not run). When more than ``aipw_max_failed_share`` of the bootstrap replicates
    fail the estimate is refused: the model status says why, and the tables are empty.

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity
    outcome : str
    ps_covariates : list of str
    reference_arm : str
    n_bootstrap, seed, n_jobs : int
    aipw_max_failed_share : float
        Largest share of failed bootstrap replicates accepted.
    aipw_inference : {"auto", "influence", "bootstrap"}
    aipw_if_above : int

    Returns
    -------
    DoublyRobust
    """
    log = ModelLog(ctx.notebook)
    try:
        aipw = effects.aipw_rd_rows(
            scores.first,
            outcome=outcome,
            ps_covariates=ps_covariates,
            outcome_covariates=ps_covariates,
            reference=reference_arm,
            inference=aipw_inference,
            influence_above=aipw_if_above,
            n_bootstrap=n_bootstrap,
            seed=seed,
            n_jobs=n_jobs,
            conf_level=ctx.conf_level,
            model_id=AIPW_ID,
            notebook=ctx.notebook,
            max_failed_share=aipw_max_failed_share,
        )
    except ModelError as exc:
        if "is not reported" not in str(exc):
            raise
        log.failed(AIPW_ID, outcome, "first_transfer", exc, n_obs=len(scores.first))
        empty = pd.DataFrame()
        return DoublyRobust(
            log=log,
            risks=empty,
            shown=empty,
            negative_control=empty,
            bootstrap=Message(str(exc)),
            comparison=empty,
        )
    log.record(aipw.estimates, outcome, "first_transfer")
    control = ctx.save_table(negative_control(aipw.estimates), "negative_control")
    if aipw.inference == "bootstrap":
        said = " ".join(aipw.warnings) or f"all {n_bootstrap} bootstrap resamples were fitted."
    else:
        said = (
            f"intervals from the influence function (stacked estimating equations of both models; "
            f"aipw_inference={aipw_inference!r}, above {aipw_if_above} patients for 'auto'); no bootstrap was run."
        )
    return DoublyRobust(
        log=log,
        risks=ctx.save_table(aipw.risks, "aipw_risks"),
        shown=aipw.estimates[["term", "estimator", "estimate", "conf_low", "conf_high", "n_obs"]],
        negative_control=control,
        bootstrap=Message(said),
        comparison=ctx.save_table(aipw.comparison, "aipw_inference_comparison"),
    )


#: The main contrast and its negative control among the AIPW rows.
NEGATIVE_CONTROL_TERMS = {
    "treatment_arm[personalized] | profile_group=dysregulated": "main contrast",
    "treatment_arm[personalized] | profile_group=balanced": "negative control",
}


def negative_control(estimates: pd.DataFrame) -> pd.DataFrame:
    """Set the negative control beside the main contrast, with what each interval says.

    Personalized therapy in a balanced profile means no agent (nothing is out of range to
    correct), so its effect there is null by construction: an interval that excludes 0 points to
    residual confounding of who gets personalized care (or an effect of the visit, not the agent).

    Parameters
    ----------
    estimates : DataFrame
        AIPW risk-difference rows (``lb_first_aipw``).

    Returns
    -------
    DataFrame
        ``role, term, estimate, conf_low, conf_high, n_obs, reading``.
    """
    rows = estimates[estimates["term"].isin(list(NEGATIVE_CONTROL_TERMS))].copy()
    rows["role"] = rows["term"].map(NEGATIVE_CONTROL_TERMS)
    rows = rows.sort_values("role", key=lambda r: r.map({"main contrast": 0, "negative control": 1}))
    excludes = (rows["conf_low"] > 0) | (rows["conf_high"] < 0)
    reading = {
        ("main contrast", True): "the interval excludes no difference",
        ("main contrast", False): "the interval includes no difference",
        ("negative control", True): "the interval excludes 0 where no agent is given: residual confounding is likely",
        ("negative control", False): "the interval includes 0, as it should where no agent is given",
    }
    rows["reading"] = [reading[(r, bool(x))] for r, x in zip(rows["role"], excludes)]
    return rows[["role", "term", "estimate", "conf_low", "conf_high", "n_obs", "reading"]].reset_index(drop=True)


def matched_effect(
    ctx: RunContext, scores: Propensity, matched: Balance, *, outcome: str, reference_arm: str, caliper_sd: float
) -> Matched:
    """OR of personalized vs none in the matched sample (SEs clustered on pairs); save the matching summary.

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity
    matched : Balance
    outcome : str
    reference_arm : str
    caliper_sd : float

    Returns
    -------
    Matched
    """
    summary = propensity.matching_summary(
        matched.pairs, matched.treated, caliper_sd=caliper_sd, contrast=f"{TREATED} vs {reference_arm}"
    )
    summary = ctx.save_table(summary, "matching_summary")
    log = ModelLog(ctx.notebook)
    log.run(
        MATCHED_ID,
        outcome,
        "first_transfer_matched",
        2 * len(matched.pairs),
        partial(
            effects.matched_logit_rows,
            scores.first,
            matched.pairs,
            outcome=outcome,
            reference=reference_arm,
            model_id=MATCHED_ID,
            notebook=ctx.notebook,
            conf_level=ctx.conf_level,
        ),
    )
    return Matched(log=log, summary=summary)


def evalues(
    ctx: RunContext, scores: Propensity, weighted: WeightedEffects, matched: Matched, *, outcome: str
) -> EValues:
    """E-values of the IPTW OR and RR and of the matched OR; save them.

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity
    weighted : WeightedEffects
    matched : Matched
    outcome : str

    Returns
    -------
    EValues
    """
    rows = _joined(ctx, weighted.log, matched.log).estimates_frame()
    ratio_rows = rows[rows["model_id"].isin([IPTW_ID, f"{IPTW_ID}_rr", MATCHED_ID])]
    table = effects.evalue_table(ratio_rows, outcome_risk=float(scores.first[outcome].mean()))
    return EValues(table=ctx.save_table(table, "evalues"))


def imputation_model(
    ctx: RunContext,
    scores: Propensity,
    *,
    outcome: str,
    covariates: list[str],
    ps_covariates: list[str],
    n_imputations: int | str,
    seed: int,
    profile_cutoffs: dict | None = None,
    n_iterations: int | str = IMPUTATION_ITERATIONS,
) -> ImputationModel:
    """The chained-equations imputation model of the adjustment set, propensity covariates and markers; save it.

    The rows are the first transfers of the included women and of the women whose profile is
    ``indeterminate`` (missing markers, no lab profile): their markers are imputed and their
    profile group re-derived from each completed data set by the cut-off rule (passive
    imputation), so the imputed analyses use them with the profile their imputed markers give.

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity
    outcome : str
    covariates, ps_covariates : list of str
    n_imputations : int or "auto"
    seed : int
    profile_cutoffs : dict, optional
        The profile cut-off rule used to re-derive the profile group.
    n_iterations : int or "auto"
        Cycles of the chained equations (``"auto"``: chosen by the convergence rule, recorded in
        ``tables/imputation_iterations.csv``).

    Returns
    -------
    ImputationModel
    """
    absent = ctx.missing_columns(ctx.cohort.patients, IMPUTATION_MARKERS)  # optional markers: impute those measured
    markers = [m for m in IMPUTATION_MARKERS if m not in absent]
    columns = list(dict.fromkeys([*covariates, *ps_covariates, *markers]))
    data = ctx.cohort.population("first_with_indeterminate", outcome).dropna(subset=[outcome, *IMPUTATION_PREDICTORS])
    passive = (  # the group reads the rule's markers only: recomputed after their updates alone
        {
            "profile_group": imputation.PassiveColumn(
                partial(profile_group_from_markers, cutoffs=profile_cutoffs),
                inputs=tuple(m for m in RULE_MARKERS if m in columns),
            )
        }
        if "profile_group" in columns
        else {}
    )
    table = imputation.imputation_model_table(
        data,
        columns=columns,
        predictors=[outcome, *IMPUTATION_PREDICTORS],
        m=n_imputations,
        n_iter=n_iterations,
        seed=seed,
        passive=list(passive),
    )
    return ImputationModel(data=data, columns=columns, table=ctx.save_table(table, "imputation_model"), passive=passive)


def imputed_vs_complete_case(
    ctx: RunContext,
    scores: Propensity,
    model: ImputationModel,
    *,
    outcome: str,
    covariates: list[str],
    reference_arm: str,
    n_imputations: int | str,
    seed: int,
    n_jobs: int,
    n_iterations: int | str = IMPUTATION_ITERATIONS,
) -> ImputedVsCompleteCase:
    """Fit the adjusted model on each imputed data set (Rubin's rules) and on complete cases; save both side by side.

    Parameters
    ----------
    ctx : RunContext
    scores : Propensity
    model : ImputationModel
    outcome : str
    covariates : list of str
    reference_arm : str
    n_imputations : int or "auto"
        Completed data sets; ``"auto"``: as many as von Hippel's two-stage rule asks for
        (:func:`analysis.methods.imputation.impute_chained_auto`).
    seed, n_jobs : int
    n_iterations : int or "auto"
        Cycles of the chained equations; ``"auto"``: until Gelman–Rubin's split R-hat of the
        imputed values' means and SDs across the chains is below 1.1
        (:func:`analysis.methods.imputation.impute_until_converged`; with ``n_imputations="auto"``
        the pilot's chains decide). The count is saved in ``tables/imputation_iterations.csv``.

    Returns
    -------
    ImputedVsCompleteCase
    """
    formula = outcomes.formula(
        outcome, ["treatment_arm"], covariates, model.data, references={"treatment_arm": reference_arm}
    )
    impute = {
        "columns": model.columns,
        "predictors": [outcome, *IMPUTATION_PREDICTORS],
        "n_iter": n_iterations,
        "seed": seed,
        "n_jobs": n_jobs,
        "passive": model.passive,
    }
    if n_imputations == "auto":  # von Hippel's two stages, the arm's terms deciding
        completed, choice = imputation.impute_chained_auto(
            model.data, formula=formula, term_prefix="treatment_arm[", **impute
        )
        chosen = (
            f"m = {choice['m']} imputations by von Hippel's two-stage rule (pilot of {choice['m_pilot']}, "
            f"largest fraction of missing information of the arm's terms {choice['fmi_pilot']:.3f})"
        )
        judged = choice["m_pilot"]
    elif n_iterations == "auto":
        rest = {k: v for k, v in impute.items() if k != "n_iter"}
        completed, choice = imputation.impute_until_converged(model.data, m=n_imputations, **rest)
        chosen, judged = "", n_imputations
    else:
        completed, chosen = imputation.impute_chained(model.data, m=n_imputations, **impute), ""
        choice, judged = {}, None
    iterations = ctx.save_table(
        imputation.iterations_table(n_iterations, choice, chains=judged), "imputation_iterations"
    )
    log = ModelLog(ctx.notebook)
    log.run(
        MI_ID,
        outcome,
        "first_transfer",
        len(model.data),
        partial(
            imputation.fit_pooled_logit,
            completed,
            formula,
            model_id=MI_ID,
            outcome=outcome,
            population="first_transfer",
            notebook=ctx.notebook,
            conf_level=ctx.conf_level,
            exposures=["treatment_arm"],  # the formula's specification: each set coded without patsy
            covariates=covariates,
            references={"treatment_arm": reference_arm},
        ),
    )
    if chosen and log.status[-1]["status"] == "ok":  # the status table says how many imputations "auto" gave
        log.status[-1]["message"] = chosen
    outcomes.fit_logit_model(
        log,
        scores.first,
        model_id=COMPLETE_CASE_ID,
        outcome=outcome,
        population="first_transfer",
        exposures=["treatment_arm"],
        covariates=covariates,
        references={"treatment_arm": reference_arm},
        conf_level=ctx.conf_level,
    )
    est = log.estimates_frame()
    table = imputation.complete_case_vs_imputed(est[est["model_id"] == COMPLETE_CASE_ID], est[est["model_id"] == MI_ID])
    return ImputedVsCompleteCase(log=log, table=ctx.save_table(table, "mi_vs_complete_case"), iterations=iterations)


def sensitivity_reruns(
    ctx: RunContext,
    weighted: WeightedEffects,
    *,
    sensitivity_analyses: dict,
    outcome: str,
    ps_covariates: list[str],
    estimand: str,
    weight_truncation: list[float],
    reference_arm: str,
) -> SensitivityReruns:
    """Rerun the IPTW OR of personalized vs none in each sensitivity set; save status and summary.

    A ``sequential_trials`` set is the sequential target-trial emulation over all transfers
    (:func:`analysis.methods.target_trial.sequential_trials` with ``ps_covariates``).

    Parameters
    ----------
    ctx : RunContext
    weighted : WeightedEffects
        The main analysis, shown first in the summary.
    sensitivity_analyses : dict
        Named sets (:mod:`analysis.methods.sensitivity`).
    outcome : str
    ps_covariates : list of str
    estimand : str
    weight_truncation : list of float
    reference_arm : str

    Returns
    -------
    SensitivityReruns
    """
    populations = sensitivity.sensitivity_populations(ctx.cohort, sensitivity_analyses, outcome=outcome)
    estimator = partial(
        effects.iptw_estimate,
        covariates=ps_covariates,
        outcome=outcome,
        estimand=estimand,
        truncation=weight_truncation,
        reference=reference_arm,
        notebook=ctx.notebook,
        conf_level=ctx.conf_level,
    )
    main = weighted.log.estimates_frame()
    trials = partial(
        target_trial.sequential_trials, covariates=ps_covariates, notebook=ctx.notebook, conf_level=ctx.conf_level
    )
    result = sensitivity.run_sensitivity(
        populations, estimator, term=SENSITIVITY_TERM, main=main[main["model_id"] == IPTW_ID], trial_estimator=trials
    )
    log = ModelLog(ctx.notebook)
    log.record(result.estimates, outcome, "sensitivity")
    status = ctx.save_table(result.status, "sensitivity_status")
    ctx.save_table(result.summary, "sensitivity_summary")
    return SensitivityReruns(log=log, status=status, summary=result.summary)


def sensitivity_forest(ctx: RunContext, reruns: SensitivityReruns) -> Figure:
    """Draw and save the forest plot of the sensitivity reruns (``supp_sensitivity_forest``).

    Parameters
    ----------
    ctx : RunContext
    reruns : SensitivityReruns

    Returns
    -------
    Figure
    """
    # its own figure, full width and as tall as its rows need (gca would draw on the last figure)
    _, ax = plt.subplots(figsize=style.figure_size("double", aspect=min(1.2, 0.2 + 0.045 * len(reruns.summary))))
    plotting.plot_forest(
        reruns.summary,
        label_col="label",
        xlabel=f"Odds ratio of live birth, {TREATED} vs none\n(IPTW, {ctx.ci_label})",
        ax=ax,
    )
    ctx.save_figure(ax.figure, "supp_sensitivity_forest")
    return ax.figure


def _joined(ctx: RunContext, *logs: ModelLog) -> ModelLog:
    """Several sections' model logs as one, in order (as one log kept through the notebook would be)."""
    return ModelLog(
        ctx.notebook,
        estimates=[rows for log in logs for rows in log.estimates],
        status=[row for log in logs for row in log.status],
    )


def save_models(ctx: RunContext, *logs: ModelLog) -> pd.DataFrame:
    """Save the estimates and the model status of every section's models; return the status as saved.

    Parameters
    ----------
    ctx : RunContext
    *logs : ModelLog
        The sections' logs, in the order the notebook ran them.

    Returns
    -------
    DataFrame
        As saved in ``tables/model_status_05.csv``.
    """
    log = _joined(ctx, *logs)
    ctx.save_estimates(log.estimates_frame())
    return ctx.save_table(log.status_frame(), "model_status_05")
