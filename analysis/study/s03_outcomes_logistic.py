"""The work of ``03_outcomes_logistic``: crude rates and the logistic and GEE models of the analysis plan.

First transfer: crude and adjusted ORs of each arm against the reference for the primary and the
secondary outcome; the arm × profile-group interaction with stratum-specific ORs and a
likelihood-ratio test; matched vs mismatched therapy. All transfers: GEE for the primary outcome
and for implantation per embryo. The model ids below are the ones ``tables/estimates.csv`` and
the reports name.

All-transfer live-birth models (every transfer of a woman's course up to her first live birth;
later transfers, sibling attempts, are left out by the ``all`` population). The arm changes
after failures and a woman stops after a live birth, so her number of transfers depends on the
outcome; with a non-diagonal working correlation the GEE estimates can then be biased (Pepe and
Anderson, Commun Stat Simul 1994). Hence:

* ``lb_all_gee_ind`` (main): independence working correlation, robust SEs by woman;
* ``lb_all_gee_exch`` (sensitivity): the same model with an exchangeable working correlation;
* ``lb_all_gee_cw`` (sensitivity): cluster-weighted independence GEE, prior weights 1 / (the
  woman's number of transfers in the model), so every woman counts once (Williamson, Datta and
  Satten, Biometrics 2003), which stays valid under informative cluster size.

Each adjusts for the transfer number (1, 2, 3, 4+, ``transfer_number_band``) besides the
adjustment set. Earlier failed transfers are in the model through the two: within a course cut
at the first live birth, the failures before transfer :math:`k` are the baseline
``prior_failed_transfers`` (a covariate of the adjustment set) plus :math:`k - 1`. The retired
id ``lb_all_gee`` (exchangeable, no transfer number, sibling attempts included) is replaced by
``lb_all_gee_ind`` (``docs/results_format.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.methods import outcomes
from analysis.output import captions, plotting, style
from analysis.study.context import RunContext

__all__ = ["LogisticResults", "crude_rates", "gee_side_by_side", "logistic_models", "with_transfer_band"]

FIRST = "first_transfer"
ARM = "treatment_arm"
#: Crude and adjusted first-transfer models: primary outcome (``lb_``), secondary outcome (``cp_``).
LB_CRUDE, LB_ADJUSTED, CP_CRUDE, CP_ADJUSTED = (
    "lb_first_crude",
    "lb_first_adjusted",
    "cp_first_crude",
    "cp_first_adjusted",
)
LB_PROFILE, LB_INTERACTION = "lb_first_profile_adjusted", "lb_first_interaction"
LB_MATCHING = "lb_first_matching"
#: All-transfer live-birth GEE: independence (main), exchangeable and cluster-weighted (sensitivity).
LB_GEE_IND, LB_GEE_EXCH, LB_GEE_CW = "lb_all_gee_ind", "lb_all_gee_exch", "lb_all_gee_cw"
IMPLANTATION_GEE = "implantation_all_gee"
#: Each all-transfer live-birth GEE: (model id, working correlation, cluster-weighted, estimator, label).
LB_GEE_MODELS = [
    (LB_GEE_IND, "independence", False, "gee_logit_independence", "independence (main)"),
    (LB_GEE_EXCH, "exchangeable", False, "gee_logit_exchangeable", "exchangeable"),
    (LB_GEE_CW, "independence", True, "gee_logit_independence_cluster_weighted", "cluster-weighted"),
]
TRANSFER_BAND, TRANSFER_BANDS = "transfer_number_band", ["1", "2", "3", "4+"]
MODIFIER, MODIFIER_LEVELS = "profile_group", ["balanced", "dysregulated"]
TREATED_ARMS = ["empirical", "personalized"]


@dataclass(frozen=True)
class LogisticResults:
    """Every model of ``03_outcomes_logistic`` and what it wrote.

    Attributes
    ----------
    first_transfer : DataFrame
        Arm ORs of the crude and adjusted first-transfer models (primary and secondary outcome).
    interaction : DataFrame
        Likelihood-ratio test of the arm × profile-group interaction (``tables/interaction_tests.csv``).
    strata : DataFrame
        Stratum-specific ORs of each arm within each profile group.
    matching : DataFrame
        ORs of matched and mismatched therapy against none.
    all_transfers : DataFrame
        Arm ORs of the GEE models over all transfers (primary outcome, implantation per embryo).
    gee_side_by_side : DataFrame
        The arm ORs (CI) of the three all-transfer live-birth GEE, one column per model.
    status : DataFrame
        Every model's status, rows used and message (``tables/model_status_03.csv``).
    estimates : DataFrame
        The tidy rows added to ``tables/estimates.csv`` (before masking).
    forest : DataFrame
        Rows of Figure 3 (``tables/forest_lb_first.csv``).
    figure : Figure
        Figure 3, the forest plot of adjusted ORs overall and by profile group.
    caption : str
        Caption of Figure 3.
    """

    first_transfer: pd.DataFrame
    interaction: pd.DataFrame
    strata: pd.DataFrame
    matching: pd.DataFrame
    all_transfers: pd.DataFrame
    gee_side_by_side: pd.DataFrame
    status: pd.DataFrame
    estimates: pd.DataFrame
    forest: pd.DataFrame
    figure: Figure
    caption: str


def crude_rates(ctx: RunContext, *, outcome: str) -> pd.DataFrame:
    """Write and return the crude rates of ``outcome`` at the first transfer by profile group and arm.

    Parameters
    ----------
    ctx : RunContext
    outcome : str
        The primary outcome.

    Returns
    -------
    DataFrame
        profile_group, treatment_arm, n, events, percent (``tables/rates_first_by_profile_arm.csv``).
    """
    first = ctx.cohort.population("first", outcome)
    return ctx.save_table(outcomes.events_by(first, outcome=outcome, by=[MODIFIER, ARM]), "rates_first_by_profile_arm")


def with_transfer_band(transfers: pd.DataFrame) -> pd.DataFrame:
    """Return ``transfers`` with ``transfer_number_band``: the transfer number as 1, 2, 3, 4+ (text levels).

    Examples
    --------
    >>> with_transfer_band(pd.DataFrame({"transfer_number": [1, 4, 6]}))["transfer_number_band"].tolist()
    ['1', '4+', '4+']
    """
    number = transfers["transfer_number"].astype(int)
    last = len(TRANSFER_BANDS)
    band = number.astype(str).where(number < last, TRANSFER_BANDS[-1])
    return transfers.assign(**{TRANSFER_BAND: band})


def gee_side_by_side(estimates: pd.DataFrame) -> pd.DataFrame:
    """Arm ORs (CI) of the all-transfer live-birth GEE, one column per model, main model first.

    Parameters
    ----------
    estimates : DataFrame
        Contract rows holding the models of :data:`LB_GEE_MODELS`.

    Returns
    -------
    DataFrame
        Indexed by term; one column per model (its label and id), cells ``OR (low–high)``.
    """
    arms = outcomes.or_table(estimates, model_ids=[m[0] for m in LB_GEE_MODELS])
    cells = arms.assign(cell=[f"{r.estimate:.2f} ({r.conf_low:.2f}–{r.conf_high:.2f})" for r in arms.itertuples()])
    columns = {m[0]: f"{m[4]}: {m[0]}" for m in LB_GEE_MODELS}
    wide = cells.pivot(index="term", columns="model_id", values="cell")
    wide = wide.reindex(columns=[m for m in columns if m in wide.columns]).rename(columns=columns)
    return wide.rename_axis(columns=None)


def logistic_models(
    ctx: RunContext, *, outcome: str, secondary_outcome: str, covariates: list[str], reference_arm: str
) -> LogisticResults:
    """Fit the notebook's models, write their tables, estimates, Figure 3 and its caption.

    A model that cannot be estimated is recorded in the status table with its reason; the others
    go on. Intervals follow ``ctx.conf_level``.

    Parameters
    ----------
    ctx : RunContext
    outcome, secondary_outcome : str
        Primary and secondary outcome.
    covariates : list of str
        The adjustment set.
    reference_arm : str
        Reference level of the arm.

    Returns
    -------
    LogisticResults
    """
    cohort, level = ctx.cohort, ctx.conf_level
    first = cohort.population("first", outcome)
    log = outcomes.ModelLog(ctx.notebook)
    refs = {ARM: reference_arm}

    def logit(model_id, data, y, exposures, cov, references=refs):
        """Fit one first-transfer logistic model into ``log``; return the fit or None."""
        return outcomes.fit_logit_model(
            log,
            data,
            model_id=model_id,
            outcome=y,
            population=FIRST,
            exposures=exposures,
            covariates=cov,
            references=references,
            conf_level=level,
        )

    first_cp = cohort.population("first", secondary_outcome)
    first_transfer_models = [
        (LB_CRUDE, first, outcome, []),
        (LB_ADJUSTED, first, outcome, covariates),
        (CP_CRUDE, first_cp, secondary_outcome, []),
        (CP_ADJUSTED, first_cp, secondary_outcome, covariates),
    ]
    for model_id, data, y, cov in first_transfer_models:
        logit(model_id, data, y, [ARM], cov)

    no_interaction = logit(LB_PROFILE, first, outcome, [ARM, MODIFIER], covariates)
    interaction = logit(LB_INTERACTION, first, outcome, [f"{ARM}*{MODIFIER}"], covariates)
    lr = ctx.save_table(
        outcomes.interaction_lr_table(interaction, no_interaction, model_id=LB_INTERACTION, terms=f"{ARM}:{MODIFIER}"),
        "interaction_tests",
    )
    strata = outcomes.stratum_effects(
        log,
        interaction,
        model_id=LB_INTERACTION,
        outcome=outcome,
        population=FIRST,
        arm_levels=TREATED_ARMS,
        modifier=MODIFIER,
        modifier_levels=MODIFIER_LEVELS,
        reference_arm=reference_arm,
        conf_level=level,
        data=first,
    )
    logit(LB_MATCHING, first, outcome, ["therapy_match", MODIFIER], covariates, references=None)

    all_transfers = with_transfer_band(cohort.population("all", outcome))
    for model_id, cov_struct, weighted, estimator, _ in LB_GEE_MODELS:
        outcomes.fit_gee_model(
            log,
            all_transfers,
            model_id=model_id,
            outcome=outcome,
            population="all_transfers",
            exposures=[ARM],
            covariates=[*covariates, TRANSFER_BAND],
            conf_level=level,
            estimator=estimator,
            cov_struct=cov_struct,
            cluster_weighted=weighted,
        )
    outcomes.fit_gee_model(
        log,
        outcomes.implantation_population(cohort),
        model_id=IMPLANTATION_GEE,
        outcome="gestational_sacs",
        population="all_transfers_embryos",
        exposures=[ARM],
        covariates=covariates,
        trials="embryos_transferred",
        conf_level=level,
        estimator="gee_binomial_trials_exchangeable",
    )

    status_rows = log.status_frame()
    status = ctx.save_table(status_rows, "model_status_03")
    estimates = log.estimates_frame()
    ctx.save_estimates(estimates)
    forest = ctx.save_table(
        outcomes.forest_rows(
            estimates, adjusted_id=LB_ADJUSTED, stratified_id=LB_INTERACTION, arm_labels=style.ARM_LABELS
        ),
        "forest_lb_first",
    )
    fig, ax = plt.subplots()
    plotting.plot_forest(
        forest, group_col="group", ax=ax, xlabel=f"Odds ratio of live birth vs no immunotherapy ({ctx.ci_label})"
    )
    ctx.save_figure(fig, "figure_3_forest")
    plt.close(fig)
    n_first = int(status_rows.set_index("model_id").loc[LB_ADJUSTED, "n_obs"])
    caption = captions.figure_3_caption(forest, n_obs=n_first, conf_level=level, min_cell_count=ctx.min_cell_count)
    return LogisticResults(
        first_transfer=outcomes.or_table(estimates, model_ids=[m[0] for m in first_transfer_models]),
        interaction=lr,
        strata=strata,
        matching=outcomes.or_table(estimates, model_ids=[LB_MATCHING], term_prefix="therapy_match["),
        all_transfers=outcomes.or_table(estimates, model_ids=[*(m[0] for m in LB_GEE_MODELS), IMPLANTATION_GEE]),
        gee_side_by_side=gee_side_by_side(estimates),
        status=status,
        estimates=estimates,
        forest=forest,
        figure=fig,
        caption=ctx.save_caption(caption, 3),
    )
