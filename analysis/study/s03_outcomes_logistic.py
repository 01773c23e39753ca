"""The work of ``03_outcomes_logistic``: crude rates and the logistic and GEE models of the analysis plan.

First transfer: crude and adjusted ORs of each arm against the reference for the primary and the
secondary outcome; the arm × profile-group interaction with stratum-specific ORs and a
likelihood-ratio test; matched vs mismatched therapy. All transfers: GEE for the primary outcome
and for implantation per embryo. The model ids below are the ones ``tables/estimates.csv`` and
the reports name.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.methods import outcomes
from analysis.output import captions, plotting, style
from analysis.study.context import RunContext

__all__ = ["LogisticResults", "crude_rates", "logistic_models"]

FIRST = "first_transfer"
ARM = "treatment_arm"
#: Crude and adjusted first-transfer models: primary outcome (``lb_``), secondary outcome (``cp_``).
LB_CRUDE, LB_ADJUSTED, CP_CRUDE, CP_ADJUSTED = ("lb_first_crude", "lb_first_adjusted", "cp_first_crude",
                                                "cp_first_adjusted")
LB_PROFILE, LB_INTERACTION = "lb_first_profile_adjusted", "lb_first_interaction"
LB_MATCHING = "lb_first_matching"
LB_GEE, IMPLANTATION_GEE = "lb_all_gee", "implantation_all_gee"
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
    return ctx.save_table(outcomes.events_by(first, outcome=outcome, by=[MODIFIER, ARM]),
                          "rates_first_by_profile_arm")


def logistic_models(ctx: RunContext, *, outcome: str, secondary_outcome: str, covariates: list[str],
                    reference_arm: str) -> LogisticResults:
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
        return outcomes.fit_logit_model(log, data, model_id=model_id, outcome=y, population=FIRST,
                                        exposures=exposures, covariates=cov, references=references,
                                        conf_level=level)

    first_cp = cohort.population("first", secondary_outcome)
    first_transfer_models = [(LB_CRUDE, first, outcome, []), (LB_ADJUSTED, first, outcome, covariates),
                             (CP_CRUDE, first_cp, secondary_outcome, []),
                             (CP_ADJUSTED, first_cp, secondary_outcome, covariates)]
    for model_id, data, y, cov in first_transfer_models:
        logit(model_id, data, y, [ARM], cov)

    no_interaction = logit(LB_PROFILE, first, outcome, [ARM, MODIFIER], covariates)
    interaction = logit(LB_INTERACTION, first, outcome, [f"{ARM}*{MODIFIER}"], covariates)
    lr = ctx.save_table(outcomes.interaction_lr_table(interaction, no_interaction, model_id=LB_INTERACTION,
                                                      terms=f"{ARM}:{MODIFIER}"), "interaction_tests")
    strata = outcomes.stratum_effects(log, interaction, model_id=LB_INTERACTION, outcome=outcome, population=FIRST,
                                      arm_levels=TREATED_ARMS, modifier=MODIFIER, modifier_levels=MODIFIER_LEVELS,
                                      reference_arm=reference_arm, conf_level=level, data=first)
    logit(LB_MATCHING, first, outcome, ["therapy_match", MODIFIER], covariates, references=None)

    outcomes.fit_gee_model(log, cohort.population("all", outcome), model_id=LB_GEE, outcome=outcome,
                           population="all_transfers", exposures=[ARM], covariates=covariates, conf_level=level)
    outcomes.fit_gee_model(log, outcomes.implantation_population(cohort), model_id=IMPLANTATION_GEE,
                           outcome="gestational_sacs", population="all_transfers_embryos", exposures=[ARM],
                           covariates=covariates, trials="embryos_transferred", conf_level=level,
                           estimator="gee_binomial_trials_exchangeable")

    status_rows = log.status_frame()
    status = ctx.save_table(status_rows, "model_status_03")
    estimates = log.estimates_frame()
    ctx.save_estimates(estimates)
    forest = ctx.save_table(outcomes.forest_rows(estimates, adjusted_id=LB_ADJUSTED, stratified_id=LB_INTERACTION,
                                                 arm_labels=style.ARM_LABELS), "forest_lb_first")
    fig, ax = plt.subplots()
    plotting.plot_forest(forest, group_col="group", ax=ax,
                         xlabel=f"Odds ratio of live birth vs no immunotherapy ({ctx.ci_label})")
    ctx.save_figure(fig, "figure_3_forest")
    plt.close(fig)
    n_first = int(status_rows.set_index("model_id").loc[LB_ADJUSTED, "n_obs"])
    caption = captions.figure_3_caption(forest, n_obs=n_first, conf_level=level, min_cell_count=ctx.min_cell_count)
    return LogisticResults(
        first_transfer=outcomes.or_table(estimates, model_ids=[m[0] for m in first_transfer_models]),
        interaction=lr, strata=strata,
        matching=outcomes.or_table(estimates, model_ids=[LB_MATCHING], term_prefix="therapy_match["),
        all_transfers=outcomes.or_table(estimates, model_ids=[LB_GEE, IMPLANTATION_GEE]),
        status=status, estimates=estimates, forest=forest, figure=fig, caption=ctx.save_caption(caption, 3))
