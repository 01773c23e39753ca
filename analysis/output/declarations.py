"""The results contract's disclosure declarations: what every saved table holds.

Every table a notebook saves (``ctx.save_table(frame, name)``) is masked by the declaration
registered here under its name (:func:`declaration_for`); a name without one is an error, so a
new table cannot leave a run unmasked by omission. A declaration says which columns are counts,
which count each denominator belongs to, which columns are computed from counts (percentages,
risks, rates, sensitivities, NNT and their limits), which cells sum to which totals, and which
columns are extreme values (see :class:`analysis.output.disclosure.TableDisclosure`;
``docs/results_format.md`` shows how to declare a new table).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from analysis.core.exceptions import DisclosureError
from analysis.output.disclosure import GroupSum, TableDisclosure

__all__ = ["DECLARATIONS", "TABLE_ONE", "declaration_for"]

_CI = ("conf_low", "conf_high")
_NO_COUNTS = "estimates, tests or text only: no count of people"

#: Table 1 in long form (one row per variable, level and group; ``overall`` is the sum of groups).
TABLE_ONE = TableDisclosure(
    counts=("n", "n_missing", "count"),
    denominators={"count": "n"},
    derived={"percent": ("count", "n"), "display": ("count", "n")},
    row_sums=(("", ("n", "n_missing")),),  # n + n_missing = the group's size, known from any variable
    group_sums=(
        GroupSum("count", ("variable", "group"), total="n"),
        GroupSum("count", ("variable", "level"), total_where=("group", "overall")),
        GroupSum("n", ("variable", "level"), total_where=("group", "overall")),
        GroupSum("n_missing", ("variable", "level"), total_where=("group", "overall")),
    ),
    copies=(("n", ("variable", "group")), ("n_missing", ("variable", "group"))),
)

_MODEL_STATUS = TableDisclosure(counts=("n_obs",))

DECLARATIONS: dict[str, TableDisclosure] = {
    # -- 01 cohort --------------------------------------------------------------------------------
    "exclusions": TableDisclosure(counts=("n_patients", "n_transfers"), flow=True),
    "table1_by_*_smd": TableDisclosure(note="standardized mean differences"),
    "table1_by_*_display": TableDisclosure(
        note="display strings built from the masked long table (analysis.study.summaries.table_one_by)"
    ),
    "table1_by_*": TABLE_ONE,
    "missingness": TableDisclosure(
        counts=("n", "n_missing"), denominators={"n_missing": "n"}, derived={"percent_missing": ("n_missing", "n")}
    ),
    "missing_by_arm": TableDisclosure(
        counts=("n", "n_missing"),
        denominators={"n_missing": "n"},
        derived={"percent_missing": ("n_missing", "n")},
        group_sums=(
            GroupSum("n", ("variable",), total_where=("group", "overall")),
            GroupSum("n_missing", ("variable",), total_where=("group", "overall")),
        ),
        copies=(("n", ("group",)),),  # a group's size is the same on every variable's row
    ),
    # -- 02 immune landscape ----------------------------------------------------------------------
    "profile_prevalence": TableDisclosure(
        counts=("n", "total"),
        denominators={"n": "total"},
        derived={"percent": ("n", "total")},
        group_sums=(GroupSum("n", ("group",), total="total"),),
    ),
    "profile_prevalence_by_centre": TableDisclosure(
        counts=("n", "total"),
        denominators={"n": "total"},
        derived={"percent": ("n", "total")},
        # within a centre the profiles sum to its total; over centres each profile sums to the
        # overall count published in profile_prevalence
        group_sums=(GroupSum("n", ("group",), total="total"), GroupSum("n", ("immune_profile",))),
    ),
    "profile_concordance": TableDisclosure(crosstab=True),
    "marker_correlations": TableDisclosure(note="Spearman correlations"),
    "blood_vs_endometrium_spearman": TableDisclosure(counts=("n",)),
    "blood_nk_kappa": TableDisclosure(counts=("n",)),
    # -- 03 outcomes ------------------------------------------------------------------------------
    "rates_first_by_profile_arm": TableDisclosure(
        counts=("n", "events"),
        denominators={"events": "n"},
        derived={"percent": ("events", "n")},
        sums_to={"n": "first_transfer"},  # every analysed first transfer is in one profile × arm cell
    ),
    "interaction_tests": TableDisclosure(note=_NO_COUNTS),
    "model_status_03": _MODEL_STATUS,
    "forest_lb_first": TableDisclosure(note=_NO_COUNTS),
    # -- 04 time to live birth --------------------------------------------------------------------
    "target_trial_protocol": TableDisclosure(note="protocol text"),
    "delay_biopsy_to_first_transfer": TableDisclosure(counts=("n",)),
    "cumulative_live_birth_per_protocol": TableDisclosure(note="weighted (IPCW) cumulative incidences, no counts"),
    "logrank_tests": TableDisclosure(note=_NO_COUNTS),
    # the rows under Figure 4, read off the published (coarsened) curves: with k > 1 every count is
    # a sum of whole intervals (0 or at least k events, censored exits 0 or at least k)
    "risk_table_figure_4": TableDisclosure(counts=("n_at_risk", "cum_events", "cum_censored")),
    # reverse Kaplan-Meier follow-up per arm: the quartiles are hidden with the arm's n
    "follow_up_by_arm": TableDisclosure(
        counts=("n", "n_ended"),
        denominators={"n_ended": "n"},
        derived={c: ("n",) for c in ("median_days", "q1_days", "q3_days")},
        group_sums=(
            GroupSum("n", (), total_where=("group", "overall")),
            GroupSum("n_ended", (), total_where=("group", "overall")),
        ),
    ),
    "ph_tests": TableDisclosure(note=_NO_COUNTS),
    "model_status_04": _MODEL_STATUS,
    "cumulative_live_birth_by_transfer": TableDisclosure(
        counts=("n_patients", "n_reaching", "n_known", "n_live_births"),
        denominators={"n_live_births": "n_known", "n_known": "n_reaching"},
        derived={
            c: ("n_live_births", "n_known", "n_reaching")
            for c in (
                "conservative",
                "conservative_low",
                "conservative_high",
                "optimistic",
                "optimistic_low",
                "optimistic_high",
            )
        },
    ),
    "survival": TableDisclosure(curve=True),
    # -- 05 treatment effects ---------------------------------------------------------------------
    "propensity_overlap": TableDisclosure(
        counts=("n",),
        extremes={"min": 0.0, "max": 0.0, "p05": 0.05, "p95": 0.95, "support_low": 0.0, "support_high": 0.0},
        extremes_n="n",
        proportions={"outside_support": "n"},
    ),
    "weights_summary": TableDisclosure(
        counts=("n",),
        extremes={"min": 0.0, "max": 0.0, "p01": 0.01, "p99": 0.01},
        extremes_n="n",
    ),
    "balance": TableDisclosure(note="standardized mean differences"),
    "iptw_risks": TableDisclosure(
        counts=("n",), derived={c: ("n",) for c in ("risk", "std_error", *_CI)}, not_counts=("weighted_n",)
    ),
    "aipw_risks": TableDisclosure(
        counts=("n",),
        derived={c: ("n",) for c in ("risk", "std_error", *_CI)},
        not_counts=("n_bootstrap", "n_failed_replicates"),
    ),
    "aipw_inference_comparison": TableDisclosure(counts=("n_obs",), not_counts=("n_bootstrap",)),
    "negative_control": TableDisclosure(counts=("n_obs",)),
    "matching_summary": TableDisclosure(
        counts=("n_treated", "n_control", "n_pairs", "n_treated_unmatched"),
        row_sums=(("n_treated", ("n_pairs", "n_treated_unmatched")),),
    ),
    "evalues": TableDisclosure(note=_NO_COUNTS),
    "imputation_model": TableDisclosure(counts=("n_missing",), derived={"percent_missing": ("n_missing",)}),
    "mi_vs_complete_case": TableDisclosure(counts=("n_obs_complete_case", "n_obs_imputed")),
    "imputation_iterations": TableDisclosure(note="cycles of the chained equations and their convergence: no count"),
    "sensitivity_status": TableDisclosure(counts=("n_obs",)),
    "sensitivity_summary": TableDisclosure(
        counts=("n_obs", "n_events"), denominators={"n_events": "n_obs"}, nested_in=("label", "main analysis")
    ),
    "model_status_05": _MODEL_STATUS,
    # -- 06 biomarkers ----------------------------------------------------------------------------
    "prognostic_markers": TableDisclosure(counts=("n", "n_events"), denominators={"n_events": "n"}),
    "discrimination": TableDisclosure(counts=("n", "n_events"), denominators={"n_events": "n"}),
    "discrimination_tests": TableDisclosure(note=_NO_COUNTS),
    "validation_internal": TableDisclosure(note=_NO_COUNTS, not_counts=("n_bootstrap", "n_failed_replicates")),
    "cutoffs": TableDisclosure(
        counts=("n_tp", "n_fp", "n_fn", "n_tn"),
        derived={
            **{f"sensitivity{s}": ("n_tp", "n_fn") for s in ("", "_low", "_high")},
            **{f"specificity{s}": ("n_tn", "n_fp") for s in ("", "_low", "_high")},
            **{f"ppv{s}": ("n_tp", "n_fp") for s in ("", "_low", "_high")},
            **{f"npv{s}": ("n_tn", "n_fn") for s in ("", "_low", "_high")},
        },
        # the 2×2 cells sum to the marker's patients, events and non-events (published elsewhere)
        row_sums=(("", ("n_tp", "n_fp", "n_fn", "n_tn")), ("", ("n_tp", "n_fn")), ("", ("n_fp", "n_tn"))),
    ),
    "interaction_tests_markers": TableDisclosure(counts=("n", "n_events"), denominators={"n_events": "n"}),
    "benefit_by_quintile": TableDisclosure(
        counts=("n", "n_treated", "n_untreated"),
        row_sums=(("n", ("n_treated", "n_untreated")),),
        derived={c: ("n_treated", "n_untreated") for c in ("observed_benefit", *_CI)},
    ),
    # net benefit from AIPW scores; share_treated × n is the number the rule treats
    "decision_curve": TableDisclosure(
        counts=("n",),
        proportions={"share_treated": "n"},
        not_counts=("n_bootstrap", "n_failed_replicates"),
    ),
    # the supported rule (AIPW risks by group): its risks and differences are masked with the arm sizes
    "benefit": TableDisclosure(
        counts=("n", "n_treated", "n_untreated"),
        row_sums=(("n", ("n_treated", "n_untreated")),),
        derived={
            "risk_treated": ("n_treated",),
            "risk_untreated": ("n_untreated",),
            **{
                c: ("n_treated", "n_untreated")
                for c in ("risk_difference", *_CI, "nnt", "nnt_low", "nnt_high", "nnt_kind", "nnt_display", "verdict")
            },
        },
    ),
    "benefit_calibration": TableDisclosure(counts=("n",)),
    "subgroup_effects": TableDisclosure(
        counts=("n", "n_treated", "n_untreated"),
        row_sums=(("n", ("n_treated", "n_untreated")),),
        derived={
            "risk_treated": ("n_treated",),
            "risk_untreated": ("n_untreated",),
            **{c: ("n_treated", "n_untreated") for c in ("risk_difference", "std_error", *_CI)},
        },
    ),
    "subgroup_interactions": TableDisclosure(note=_NO_COUNTS),
    "hierarchy": TableDisclosure(note=_NO_COUNTS),
    "marker_shape": TableDisclosure(counts=("n", "n_events"), denominators={"n_events": "n"}),
    "calibration_curve": TableDisclosure(
        note="calibration curve: predicted against observed probabilities",
        not_counts=("n_bootstrap", "n_failed_replicates"),
    ),
    # -- 05 balance like cobalt -------------------------------------------------------------------
    "balance_ess": TableDisclosure(counts=("n",), derived={"ess": ("n",), "ess_share": ("n",)}),
    # a covariate's mean in an arm times the arm's size is a count for a 0/1 covariate
    "balance_pairwise": TableDisclosure(
        counts=("n_group", "n_reference"),
        proportions={"mean_group": "n_group", "mean_reference": "n_reference"},
        derived={"mean_group_weighted": ("n_group",), "mean_reference_weighted": ("n_reference",)},
    ),
    # -- 07 safety --------------------------------------------------------------------------------
    "core_outcomes_*": TableDisclosure(
        counts=("n_events", "n"),
        denominators={"n_events": "n"},
        derived={c: ("n_events", "n") for c in ("proportion", "conf_low_proportion", "conf_high_proportion")},
    ),
    "adverse_events_by_agent": TableDisclosure(
        counts=(
            "n_women_treated",
            "n_women_with_event",
            "n_events",
            "n_serious",
            "n_mild",
            "n_moderate",
            "n_severe",
            "n_life_threatening",
            "n_death",
        ),
        denominators={"n_women_with_event": "n_women_treated", "n_serious": "n_events"},
        derived={
            c: ("n_women_with_event", "n_women_treated")
            for c in ("women_with_event_percent", "conf_low_percent", "conf_high_percent")
        },
    ),
    "harm_differences_by_*": TableDisclosure(
        counts=("n_events_treated", "n_treated", "n_events_reference", "n_reference"),
        denominators={"n_events_treated": "n_treated", "n_events_reference": "n_reference"},
        derived={
            "risk_treated_proportion": ("n_events_treated", "n_treated"),
            "risk_reference_proportion": ("n_events_reference", "n_reference"),
            **{
                c: ("n_events_treated", "n_treated", "n_events_reference", "n_reference")
                for c in ("rd_proportion", "rd_low_proportion", "rd_high_proportion")
            },
        },
    ),
    "benefit_harm": TableDisclosure(
        counts=(
            "n_treated",
            "n_events_treated",
            "n_untreated",
            "n_events_untreated",
            "n_events_harm_treated",
            "n_events_harm_reference",
        ),
        denominators={
            "n_events_treated": "n_treated",
            "n_events_untreated": "n_untreated",
            "n_events_harm_treated": "n_treated",
            "n_events_harm_reference": "n_untreated",
        },
        derived={
            c: ("n_treated", "n_events_treated", "n_untreated", "n_events_untreated")
            for c in (
                "gained_percent",
                "gained_low_percent",
                "gained_high_percent",
                "net_percent",
                "net_low_percent",
                "net_high_percent",
            )
        }
        | {
            c: ("n_treated", "n_untreated", "n_events_harm_treated", "n_events_harm_reference")
            for c in ("added_percent", "added_low_percent", "added_high_percent")
        },
    ),
    "harm_checked_rule": TableDisclosure(
        counts=("n_treated", "n_untreated", "fewest_harm_events"),
        derived={"display": ("n_treated", "n_untreated", "fewest_harm_events")},
    ),
    "birthweight_by_arm": TableDisclosure(counts=("n",), derived={c: ("n",) for c in ("median_g", "q1_g", "q3_g")}),
    "gestational_age_by_arm": TableDisclosure(
        counts=("n",), derived={c: ("n",) for c in ("median_days", "q1_days", "q3_days")}
    ),
    "model_status_07": _MODEL_STATUS,
    # -- every notebook -------------------------------------------------------------------------
    "figure_layout": TableDisclosure(note="layout check of each saved figure (analysis.output.layout): text only"),
}


def declaration_for(name: str) -> TableDisclosure:
    """Return the disclosure declaration of the table saved as ``name``.

    Exact names win over patterns (``table1_by_*``); among patterns the longest wins.

    Raises
    ------
    DisclosureError
        When no declaration matches: saving an undeclared table is refused.
    """
    if name in DECLARATIONS:
        return DECLARATIONS[name]
    matches = sorted((p for p in DECLARATIONS if "*" in p and fnmatchcase(name, p)), key=len, reverse=True)
    if matches:
        return DECLARATIONS[matches[0]]
    raise DisclosureError(
        f"table '{name}' has no disclosure declaration: add one to analysis/output/declarations.py "
        f"(DECLARATIONS['{name}'] = TableDisclosure(counts=..., denominators=..., derived=...)); "
        f"see docs/results_format.md"
    )
