"""Items of the reporting checklists a run answers: STROBE with RECORD, TARGET and TRIPOD+AI.

Data only; :mod:`analysis.output.checklists` resolves the locations against a run folder and
writes the checklists. Every item text is a paraphrase in this project's words of the
published item, never the published wording; the source of each guideline is in
:data:`GUIDELINES`. Item numbers follow the published checklists.

A location is a path relative to the run folder, optionally with a fragment: ``#<id>`` of a
section of an HTML page (``report.html#analysis-plan-parameters``), ``#<heading anchor>`` of a
Markdown heading (``results_draft.md#study-flow``) or ``#<dotted key>`` of a JSON file
(``manifest.json#parameters.covariates``, a parameter of the analysis plan). A ``*`` in the
file name matches any stem (``figures/figure_1_*.pdf``). ``authors`` says what only the authors
can write (setting, funding, ethics); an item with no location is for the authors alone.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChecklistItem", "Guideline", "GUIDELINES", "STROBE_RECORD", "TARGET", "TRIPOD_AI"]


@dataclass(frozen=True)
class ChecklistItem:
    """One checklist item: number, section, topic, paraphrased text, run locations, authors' part."""

    number: str
    section: str
    topic: str
    text: str
    where: tuple[str, ...] = ()
    authors: str = ""
    source: str = ""  # the guideline the item comes from when a checklist joins two (STROBE, RECORD)


@dataclass(frozen=True)
class Guideline:
    """A checklist: its file stem in the run folder, title, citations, items and a short name for links."""

    stem: str
    title: str
    citations: tuple[str, ...]
    items: tuple[ChecklistItem, ...]
    short: str = ""


def _p(name: str) -> str:
    """A parameter of the analysis plan, as the run records it."""
    return f"manifest.json#parameters.{name}"


# Locations used by several items.
FLOW = "figures/figure_1_*.pdf"
EXCLUSIONS = "tables/exclusions.csv"
TABLE_1 = "tables/publication/table_1_by_treatment_arm.html"
TABLE_1_PROFILE = "tables/publication/table_1_by_immune_profile.html"
TABLE_2 = "tables/publication/table_2_effects.html"
TABLE_3 = "tables/publication/table_3_core_outcomes.html"
FOREST = "figures/figure_3_*.pdf"
CURVES = "figures/figure_4_*.pdf"
BIOMARKERS = "figures/figure_5_*.pdf"
SAFETY = "figures/figure_6_*.pdf"
PROTOCOL = "tables/target_trial_protocol.csv"
TRIAL_SECTION = "report.html#the-emulated-target-trial"
PARAMETERS = "report.html#analysis-plan-parameters"
VALIDATION = "report.html#data-validation-and-exclusions"
HIERARCHY = "tables/hierarchy.csv"
MISSING = "tables/missingness.csv"
SENSITIVITY = "tables/sensitivity_summary.csv"


def _s(number, section, topic, text, where=(), authors=""):
    return ChecklistItem(number, section, topic, text, tuple(where), authors, "STROBE")


def _r(number, section, topic, text, where=(), authors=""):
    return ChecklistItem(number, section, topic, text, tuple(where), authors, "RECORD")


#: STROBE (cohort version) with the RECORD items placed after the STROBE item they extend.
STROBE_RECORD: tuple[ChecklistItem, ...] = (
    _s(
        "1a",
        "Title and abstract",
        "Design",
        "Name the design with a usual term in the title or abstract.",
        (),
        "title and abstract",
    ),
    _s(
        "1b",
        "Title and abstract",
        "Abstract",
        "Give a balanced summary of what was done and what was found.",
        ("results_draft.md#main-effect",),
        "the abstract; the drafted Results give its numbers",
    ),
    _r(
        "1.1",
        "Title and abstract",
        "Type of data",
        "Say what kind of routinely collected data were used and, if possible, name the databases.",
        (),
        "type and name of the clinic databases",
    ),
    _r(
        "1.2",
        "Title and abstract",
        "Place and period",
        "Give the region and the period of the study in the title or abstract.",
        (),
        "region and period",
    ),
    _r(
        "1.3",
        "Title and abstract",
        "Linkage",
        "State clearly whether databases were linked for the study.",
        (),
        "whether the clinic records were linked to other data",
    ),
    _s(
        "2",
        "Introduction",
        "Background",
        "Explain the scientific background and why the study was done.",
        (),
        "background",
    ),
    _s(
        "3",
        "Introduction",
        "Objectives",
        "State the objectives, with any hypotheses fixed in advance.",
        (_p("analysis_hierarchy"), HIERARCHY, "report.html#the-declared-analysis-hierarchy"),
        "the objectives in words",
    ),
    _s("4", "Methods", "Study design", "Present the key elements of the design early.", (TRIAL_SECTION, PROTOCOL)),
    _s(
        "5",
        "Methods",
        "Setting",
        "Describe setting, places and dates: recruitment, exposure, follow-up and data collection.",
        ("tables/profile_prevalence_by_centre.csv",),
        "the clinics, their location and the calendar periods",
    ),
    _s(
        "6a",
        "Methods",
        "Participants",
        "Give eligibility criteria, sources and methods of selection, and how follow-up was done.",
        (EXCLUSIONS, FLOW, PROTOCOL, _p("dropout_days")),
    ),
    _s(
        "6b",
        "Methods",
        "Matching",
        "For a matched analysis give the matching criteria and the numbers exposed and unexposed.",
        ("tables/matching_summary.csv", _p("caliper_sd")),
    ),
    _r(
        "6.1",
        "Methods",
        "Selection algorithm",
        "List in detail the codes or algorithms that selected the population, or explain why not.",
        (EXCLUSIONS, _p("profile_cutoffs"), _p("missing_marker_rule")),
        "the codes of the source systems, if any",
    ),
    _r(
        "6.2",
        "Methods",
        "Validation of the algorithm",
        "Reference validation studies of those codes or algorithms, or describe a validation done here.",
        ("tables/profile_concordance.csv",),
        "published validation of the profile rule",
    ),
    _r(
        "6.3",
        "Methods",
        "Linkage flow",
        "With linked databases, show the linkage with the numbers linked at each stage.",
        (),
        "a linkage diagram if records were linked",
    ),
    _s(
        "7",
        "Methods",
        "Variables",
        "Define every outcome, exposure, predictor, confounder and effect modifier; give diagnostic criteria.",
        (_p("outcome"), _p("covariates"), _p("ps_covariates"), _p("profile_cutoffs"), PROTOCOL),
    ),
    _r(
        "7.1",
        "Methods",
        "Codes of variables",
        "Give the complete codes and algorithms that classify exposures, outcomes, confounders and modifiers.",
        (_p("profile_cutoffs"), _p("blood_nk_cutoff")),
        "source-system codes behind each variable",
    ),
    _s(
        "8",
        "Methods",
        "Data sources and measurement",
        "For each variable give its source and how it was measured, and whether measurement was alike across groups.",
        ("tables/profile_concordance.csv",),
        "laboratory assays and how the clinics record each variable",
    ),
    _s(
        "9",
        "Methods",
        "Bias",
        "Describe what was done about possible sources of bias.",
        (
            "tables/balance_pairwise.csv",
            "report.html#balance-across-every-pair-of-arms",
            "tables/negative_control.csv",
            "tables/evalues.csv",
        ),
    ),
    _s(
        "10",
        "Methods",
        "Study size",
        "Explain how the number of participants came about.",
        (FLOW, EXCLUSIONS),
        "why this size (no sample size calculation is part of the run)",
    ),
    _s(
        "11",
        "Methods",
        "Quantitative variables",
        "Explain how quantitative variables were handled and why any groupings were chosen.",
        (_p("spline_knots"), _p("profile_cutoffs"), _p("max_transfer_number"), "tables/marker_shape.csv"),
    ),
    _s(
        "12a",
        "Methods",
        "Statistical methods",
        "Describe every statistical method, including how confounding was controlled.",
        (TABLE_2, _p("covariates"), _p("ps_covariates"), _p("estimand"), "notebooks/05_treatment_effects.ipynb"),
    ),
    _s(
        "12b",
        "Methods",
        "Subgroups and interactions",
        "Describe the methods for subgroups and interactions.",
        ("tables/interaction_tests.csv", "tables/subgroup_interactions.csv", "figures/supp_subgroup_forest.pdf"),
    ),
    _s(
        "12c",
        "Methods",
        "Missing data",
        "Explain how missing data were handled.",
        (
            "tables/imputation_model.csv",
            "tables/imputation_iterations.csv",
            _p("n_imputations"),
            _p("n_iterations"),
            _p("missing_marker_rule"),
        ),
    ),
    _s(
        "12d",
        "Methods",
        "Loss to follow-up",
        "Explain, where it applies, how loss to follow-up was handled.",
        (_p("dropout_days"), PROTOCOL, "figures/supp_aalen_johansen.pdf"),
    ),
    _s(
        "12e",
        "Methods",
        "Sensitivity analyses",
        "Describe any sensitivity analyses.",
        (_p("sensitivity_analyses"), "tables/sensitivity_status.csv"),
    ),
    _r(
        "12.1",
        "Methods",
        "Access to the database",
        "Say how far the investigators had access to the database population the study population came from.",
        (),
        "access to the clinic databases",
    ),
    _r(
        "12.2",
        "Methods",
        "Data cleaning",
        "Describe how the data were cleaned.",
        ("tables/validation_findings.csv", VALIDATION),
    ),
    _r(
        "12.3",
        "Methods",
        "Linkage methods",
        "State whether data were linked at person, institution or other level, how, and how linkage quality was judged.",
        (),
        "linkage, if any",
    ),
    _s(
        "13a",
        "Results",
        "Participants",
        "Give the numbers at each stage: eligible, examined, included, followed up, analysed.",
        (FLOW, EXCLUSIONS, "results_draft.md#study-flow"),
    ),
    _s(
        "13b",
        "Results",
        "Non-participation",
        "Give the reasons for non-participation at each stage.",
        (EXCLUSIONS, FLOW),
    ),
    _s("13c", "Results", "Flow diagram", "Consider a flow diagram.", (FLOW,)),
    _r(
        "13.1",
        "Results",
        "Selection of persons",
        "Describe the selection in detail, including filtering for data quality, availability and linkage.",
        (EXCLUSIONS, "tables/validation_findings.csv"),
    ),
    _s(
        "14a",
        "Results",
        "Descriptive data",
        "Give the participants' characteristics and information on exposures and possible confounders.",
        (TABLE_1, TABLE_1_PROFILE, "results_draft.md#cohort"),
    ),
    _s(
        "14b",
        "Results",
        "Missing data",
        "Give the number with missing data for each variable of interest.",
        (MISSING, "figures/supp_missingness.pdf", TABLE_1),
    ),
    _s(
        "14c",
        "Results",
        "Follow-up time",
        "Summarise follow-up time.",
        (CURVES, "tables/survival.csv"),
        "total and typical follow-up if not tabulated",
    ),
    _s(
        "15",
        "Results",
        "Outcome data",
        "Report numbers of outcome events or summary measures over time.",
        ("tables/rates_first_by_profile_arm.csv", TABLE_3, "tables/cumulative_live_birth_by_transfer.csv"),
    ),
    _s(
        "16a",
        "Results",
        "Main results",
        "Give unadjusted and confounder-adjusted estimates with their precision, and say which confounders and why.",
        (TABLE_2, FOREST, _p("covariates"), "results_draft.md#main-effect"),
        "why these confounders",
    ),
    _s(
        "16b",
        "Results",
        "Category boundaries",
        "Give the boundaries of categories made from continuous variables.",
        (_p("profile_cutoffs"), _p("blood_nk_cutoff"), _p("max_transfer_number")),
    ),
    _s(
        "16c",
        "Results",
        "Absolute risk",
        "Where relevant, translate relative into absolute risks over a meaningful period.",
        ("tables/aipw_risks.csv", "tables/iptw_risks.csv", "results_draft.md#main-effect"),
    ),
    _s(
        "17",
        "Results",
        "Other analyses",
        "Report the other analyses: subgroups, interactions, sensitivity analyses.",
        (SENSITIVITY, "tables/subgroup_effects.csv", "results_draft.md#per-protocol-and-sensitivity-analyses"),
    ),
    _s(
        "18",
        "Discussion",
        "Key results",
        "Summarise the key results against the objectives.",
        (),
        "discussion (the drafted Results list the numbers)",
    ),
    _s(
        "19",
        "Discussion",
        "Limitations",
        "Discuss limitations, sources of bias or imprecision, with direction and size of likely bias.",
        ("tables/evalues.csv", "tables/negative_control.csv"),
        "the discussion of limitations",
    ),
    _r(
        "19.1",
        "Discussion",
        "Limits of routine data",
        "Discuss what follows from using data not collected for this question: misclassification, unmeasured confounding, missing data, changing eligibility.",
        (),
        "the discussion of routine-data limitations",
    ),
    _s(
        "20",
        "Discussion",
        "Interpretation",
        "Interpret cautiously, with objectives, limitations, multiplicity and other evidence in view.",
        (HIERARCHY,),
        "the interpretation",
    ),
    _s("21", "Discussion", "Generalisability", "Discuss how far the results apply elsewhere.", (), "external validity"),
    _s("22", "Other information", "Funding", "Give funding sources and the funders' role.", (), "funding"),
    _r(
        "22.1",
        "Other information",
        "Access to materials",
        "Say how to obtain supplementary material: protocol, raw data, code.",
        ("manifest.json#git", "notebooks/01_cohort.ipynb"),
        "where data and code can be obtained",
    ),
)


def _t(number, section, topic, text, where=(), authors=""):
    return ChecklistItem(number, section, topic, text, tuple(where), authors, "TARGET")


#: TARGET: the specification items (6) and their emulation (7) side by side in the protocol table.
TARGET: tuple[ChecklistItem, ...] = (
    _t(
        "1a",
        "Abstract",
        "Study type",
        "Say that the study emulates a target trial with observational data; give the objectives and the trial in brief.",
        (),
        "abstract",
    ),
    _t("1b", "Abstract", "Data sources", "Name the data sources of the emulation.", (), "abstract"),
    _t(
        "1c",
        "Abstract",
        "Key elements",
        "Summarise assumptions, methods, findings and conclusions.",
        ("results_draft.md#main-effect",),
        "abstract",
    ),
    _t("2", "Introduction", "Background", "Give the background and the gap the study fills.", (), "background"),
    _t(
        "3",
        "Introduction",
        "Causal question",
        "Summarise the causal question the target-trial protocol asks.",
        (PROTOCOL, TRIAL_SECTION),
    ),
    _t(
        "4",
        "Introduction",
        "Rationale",
        "Explain why a target trial is emulated with these data, citing trials that shaped the design where there are any.",
        (),
        "rationale and related trials",
    ),
    _t(
        "5",
        "Methods",
        "Data sources",
        "Cite the data sources with their purpose, type, places, setting and period, and any linkage or pooling.",
        ("manifest.json#inputs_sha256",),
        "origin, setting and period of the data",
    ),
    _t("6a", "Methods: target trial", "Eligibility", "Describe who would be eligible.", (PROTOCOL,)),
    _t(
        "6b",
        "Methods: target trial",
        "Treatment strategies",
        "Describe the strategies compared in enough detail.",
        (PROTOCOL,),
        "agents and doses of each strategy",
    ),
    _t(
        "6c",
        "Methods: target trial",
        "Assignment",
        "State that eligible people would be randomised, possibly knowing their allocation.",
        (PROTOCOL,),
    ),
    _t(
        "6d",
        "Methods: target trial",
        "Follow-up",
        "State that follow-up starts at assignment and when it ends.",
        (PROTOCOL,),
    ),
    _t(
        "6e",
        "Methods: target trial",
        "Outcomes",
        "Describe the outcomes, how and when measured.",
        (PROTOCOL, _p("outcome")),
    ),
    _t(
        "6f",
        "Methods: target trial",
        "Causal contrasts",
        "Describe the causal contrasts and effect measures.",
        (PROTOCOL,),
    ),
    _t(
        "6g",
        "Methods: target trial",
        "Identifying assumptions",
        "Describe the assumptions that identify each estimand and the variables involved.",
        (PROTOCOL, _p("trial_covariates")),
        "the assumptions in words (exchangeability, positivity, consistency)",
    ),
    _t(
        "6h",
        "Methods: target trial",
        "Analysis plan",
        "For each estimand describe the analysis and its modelling assumptions, missing data included.",
        (PROTOCOL, _p("analysis_hierarchy")),
    ),
    _t(
        "7a",
        "Methods: emulation",
        "Eligibility",
        "Describe how eligibility was put into practice with the data.",
        (PROTOCOL, EXCLUSIONS),
    ),
    _t(
        "7b",
        "Methods: emulation",
        "Treatment strategies",
        "Describe how the strategies were identified in the data.",
        (PROTOCOL,),
    ),
    _t(
        "7c",
        "Methods: emulation",
        "Assignment",
        "Describe how assignment was emulated.",
        (PROTOCOL, _p("trial_covariates"), _p("ps_covariates")),
    ),
    _t(
        "7d",
        "Methods: emulation",
        "Follow-up",
        "Show that follow-up starts at assignment and describe how its end was defined in the data.",
        (PROTOCOL, "tables/delay_biopsy_to_first_transfer.csv", _p("dropout_days")),
    ),
    _t("7e", "Methods: emulation", "Outcomes", "Describe how the outcomes were defined in the data.", (PROTOCOL,)),
    _t(
        "7f",
        "Methods: emulation",
        "Causal contrasts",
        "Describe how the contrasts and effect measures were estimated.",
        (PROTOCOL, TABLE_2),
    ),
    _t(
        "7g(i)",
        "Methods: emulation",
        "Identifying assumptions",
        "For each estimand describe the assumptions made, baseline confounding included.",
        (PROTOCOL, _p("trial_covariates")),
        "plausibility of the assumptions",
    ),
    _t(
        "7g(ii)",
        "Methods: emulation",
        "Variables of the assumptions",
        "Describe how the variables of those assumptions were defined.",
        (_p("trial_covariates"), TABLE_1),
    ),
    _t(
        "7h(i)",
        "Methods: emulation",
        "Analysis",
        "For each estimand describe the analysis and its modelling assumptions, missing data included.",
        ("notebooks/04_time_to_live_birth.ipynb", "tables/model_status_04.csv", _p("n_imputations")),
    ),
    _t(
        "7h(ii)",
        "Methods: emulation",
        "Sensitivity analyses",
        "Describe the analyses of how sensitive the results are to these choices.",
        ("tables/sensitivity_status.csv", "tables/negative_control.csv", "tables/evalues.csv"),
    ),
    _t(
        "8",
        "Results",
        "Participant selection",
        "Give the numbers assessed, eligible and assigned to each strategy; a flow diagram is advised.",
        (FLOW, EXCLUSIONS, "results_draft.md#study-flow"),
    ),
    _t("9", "Results", "Baseline data", "Describe baseline characteristics by strategy.", (TABLE_1,)),
    _t(
        "10",
        "Results",
        "Follow-up",
        "Summarise length of follow-up and why it ended, by strategy and contrast.",
        (CURVES, "figures/supp_aalen_johansen.pdf", "tables/survival.csv"),
    ),
    _t(
        "11",
        "Results",
        "Missing data",
        "Describe how often each variable is missing, by strategy.",
        (MISSING, TABLE_1),
        "by strategy, if not tabulated",
    ),
    _t(
        "12",
        "Results",
        "Outcomes",
        "Describe how often each outcome occurred, by strategy.",
        ("tables/rates_first_by_profile_arm.csv", TABLE_3, "tables/cumulative_live_birth_per_protocol.csv"),
    ),
    _t(
        "13",
        "Results",
        "Effect estimates",
        "Give each contrast's estimate with its precision, absolute and relative where possible.",
        (TABLE_2, "tables/estimates.csv", "results_draft.md#main-effect"),
    ),
    _t(
        "14",
        "Results",
        "Additional analyses",
        "Report every analysis of sensitivity to the choices made.",
        (SENSITIVITY, "figures/supp_sensitivity_forest.pdf", "results_draft.md#per-protocol-and-sensitivity-analyses"),
    ),
    _t(
        "15",
        "Discussion",
        "Interpretation",
        "Interpret the findings in the light of the causal question.",
        (),
        "interpretation",
    ),
    _t(
        "16",
        "Discussion",
        "Limitations",
        "Discuss limitations, including how the emulation differs from the target trial and how plausible the assumptions are.",
        ("tables/negative_control.csv", "tables/evalues.csv"),
        "the discussion of limitations",
    ),
    _t("17", "Other information", "Ethics", "Give the ethics approval.", (), "ethics approval"),
    _t(
        "18",
        "Other information",
        "Registration",
        "Say whether, when and where the protocol was registered.",
        (),
        "registration",
    ),
    _t(
        "19",
        "Other information",
        "Data sharing",
        "Say whether and how data, code and materials can be obtained.",
        ("manifest.json#git",),
        "where data and code can be obtained",
    ),
    _t("20", "Other information", "Funding", "Give funding sources and the funders' role.", (), "funding"),
    _t(
        "21",
        "Other information",
        "Conflicts of interest",
        "State the authors' conflicts of interest.",
        (),
        "conflicts of interest",
    ),
)


def _a(number, section, topic, text, where=(), authors=""):
    return ChecklistItem(number, section, topic, text, tuple(where), authors, "TRIPOD+AI")


#: TRIPOD+AI for the biomarker models of notebook 06 (development with internal validation).
TRIPOD_AI: tuple[ChecklistItem, ...] = (
    _a(
        "1",
        "Title",
        "Title",
        "Say that a multivariable prediction model is developed or evaluated, for whom, and what it predicts.",
        (),
        "title",
    ),
    _a("2", "Abstract", "Abstract", "Follow the TRIPOD+AI checklist for abstracts.", (), "abstract"),
    _a(
        "3a",
        "Introduction",
        "Background",
        "Explain the clinical context and why the model is developed or evaluated, with existing models.",
        (),
        "background",
    ),
    _a(
        "3b",
        "Introduction",
        "Purpose",
        "Describe the target population, the model's place in care and its intended users.",
        (),
        "intended use",
    ),
    _a(
        "3c",
        "Introduction",
        "Inequalities",
        "Describe known health inequalities between groups.",
        (),
        "known inequalities",
    ),
    _a(
        "4",
        "Introduction",
        "Objectives",
        "State the objectives, saying whether the model is developed, validated or both.",
        (),
        "objectives",
    ),
    _a(
        "5a",
        "Methods",
        "Data",
        "Describe the data sources for development and evaluation, why they were used and how representative they are.",
        ("manifest.json#inputs_sha256",),
        "representativeness of the clinic data",
    ),
    _a("5b", "Methods", "Dates", "Give the dates of accrual and, where it applies, end of follow-up.", (), "dates"),
    _a(
        "6a",
        "Methods",
        "Setting",
        "Give the setting with the number and places of centres.",
        ("tables/profile_prevalence_by_centre.csv",),
        "places of the centres",
    ),
    _a("6b", "Methods", "Eligibility", "Describe who was eligible.", (EXCLUSIONS, "tables/prognostic_markers.csv")),
    _a(
        "6c",
        "Methods",
        "Treatments",
        "Give the treatments received and how the models handled them.",
        ("tables/prognostic_markers.csv", "tables/benefit.csv"),
    ),
    _a(
        "7",
        "Methods",
        "Data preparation",
        "Describe pre-processing and quality checks, and whether they were alike across groups.",
        ("tables/validation_findings.csv", VALIDATION),
    ),
    _a(
        "8a",
        "Methods",
        "Outcome",
        "Define the predicted outcome and its horizon, how and when assessed, and why it was chosen.",
        (_p("outcome"), PROTOCOL),
    ),
    _a(
        "8b",
        "Methods",
        "Outcome assessors",
        "If assessing the outcome needs judgement, describe the assessors.",
        (),
        "outcome assessment",
    ),
    _a("8c", "Methods", "Blinded outcome", "Report any blinding of outcome assessment.", (), "blinding"),
    _a(
        "9a",
        "Methods",
        "Choice of predictors",
        "Describe how the candidate predictors were chosen and any selection before modelling.",
        (_p("covariates"),),
        "why these predictors",
    ),
    _a(
        "9b",
        "Methods",
        "Predictors",
        "Define every predictor, how and when measured.",
        (_p("profile_cutoffs"), "tables/marker_correlations.csv"),
        "assays and timing of the biopsy",
    ),
    _a(
        "9c",
        "Methods",
        "Predictor assessors",
        "If measuring a predictor needs judgement, describe the assessors.",
        (),
        "laboratory staff and reading",
    ),
    _a(
        "10",
        "Methods",
        "Sample size",
        "Explain the study size for development and evaluation and why it suffices.",
        ("tables/discrimination.csv",),
        "sample size justification",
    ),
    _a(
        "11",
        "Methods",
        "Missing data",
        "Describe how missing data were handled and why any data were left out.",
        (MISSING, "tables/imputation_model.csv", _p("missing_marker_rule")),
    ),
    _a(
        "12a",
        "Methods",
        "Use of the data",
        "Describe how the data were used for development and evaluation, and any partitioning.",
        ("tables/validation_internal.csv", _p("n_bootstrap")),
    ),
    _a(
        "12b",
        "Methods",
        "Handling of predictors",
        "Describe the functional form, rescaling or transformation of predictors.",
        ("tables/marker_shape.csv", _p("spline_knots")),
    ),
    _a(
        "12c",
        "Methods",
        "Model and validation",
        "Give the model type, every building step and the internal validation method.",
        ("tables/validation_internal.csv", "tables/calibration_curve.csv", "notebooks/06_biomarkers.ipynb"),
    ),
    _a(
        "12d",
        "Methods",
        "Heterogeneity",
        "Describe whether and how heterogeneity across clusters (centres) was handled.",
        (),
        "heterogeneity of performance across centres is not estimated by the run",
    ),
    _a(
        "12e",
        "Methods",
        "Performance measures",
        "Give every performance measure and plot, and how models were compared.",
        ("tables/discrimination.csv", "tables/discrimination_tests.csv", BIOMARKERS, "tables/decision_curve.csv"),
    ),
    _a(
        "12f",
        "Methods",
        "Updating",
        "Describe any recalibration or updating after evaluation.",
        (),
        "model updating (none in the run)",
    ),
    _a(
        "12g",
        "Methods",
        "Predictions",
        "For evaluation, describe how predictions were calculated.",
        ("notebooks/06_biomarkers.ipynb",),
    ),
    _a(
        "13",
        "Methods",
        "Class imbalance",
        "If class imbalance methods were used, say why and how, and how predictions were recalibrated.",
        (),
        "none used by the run",
    ),
    _a("14", "Methods", "Fairness", "Describe any approach to model fairness.", (), "fairness"),
    _a(
        "15",
        "Methods",
        "Model output",
        "Say what the model outputs and how any thresholds were found.",
        ("tables/cutoffs.csv", "tables/benefit.csv", _p("dca_max_threshold")),
    ),
    _a(
        "16",
        "Methods",
        "Development vs evaluation",
        "Identify differences between development and evaluation data.",
        (),
        "internal validation only: same data",
    ),
    _a(
        "17",
        "Methods",
        "Ethics",
        "Name the approving ethics committee and describe consent or its waiver.",
        (),
        "ethics",
    ),
    _a("18a", "Open science", "Funding", "Give funding and the funders' role.", (), "funding"),
    _a(
        "18b",
        "Open science",
        "Conflicts of interest",
        "Declare the authors' conflicts of interest.",
        (),
        "conflicts of interest",
    ),
    _a(
        "18c",
        "Open science",
        "Protocol",
        "Say where the protocol is, or that there is none.",
        (PARAMETERS,),
        "where the protocol is published",
    ),
    _a(
        "18d",
        "Open science",
        "Registration",
        "Give the registration, or say the study was not registered.",
        (),
        "registration",
    ),
    _a("18e", "Open science", "Data sharing", "Say whether the data can be obtained.", (), "data availability"),
    _a(
        "18f",
        "Open science",
        "Code sharing",
        "Say whether the analysis code can be obtained.",
        ("manifest.json#git", "notebooks/06_biomarkers.ipynb"),
        "where the code is published",
    ),
    _a(
        "19",
        "Patient and public involvement",
        "Involvement",
        "Describe patient and public involvement, or say there was none.",
        (),
        "patient and public involvement",
    ),
    _a(
        "20a",
        "Results",
        "Flow of participants",
        "Describe the flow, with numbers with and without the outcome and follow-up where it applies.",
        (FLOW, "tables/prognostic_markers.csv"),
    ),
    _a(
        "20b",
        "Results",
        "Characteristics",
        "Report characteristics overall and by setting: dates, predictors, treatments, size, events, missing data.",
        (TABLE_1, TABLE_1_PROFILE, MISSING),
    ),
    _a(
        "20c",
        "Results",
        "Comparison with development data",
        "For evaluation, compare the distribution of predictors and outcome with the development data.",
        (),
        "not applicable to internal validation",
    ),
    _a(
        "21",
        "Results",
        "Numbers in each analysis",
        "Give the participants and events in each analysis.",
        ("tables/prognostic_markers.csv", "tables/discrimination.csv"),
    ),
    _a(
        "22",
        "Results",
        "Full model",
        "Give the full model (formula, code) so others can predict and evaluate it.",
        ("notebooks/06_biomarkers.ipynb",),
        "the model's coefficients in the paper",
    ),
    _a(
        "23a",
        "Results",
        "Performance",
        "Report performance with confidence intervals, also in key subgroups; plots help.",
        (
            "tables/discrimination.csv",
            "tables/validation_internal.csv",
            BIOMARKERS,
            "tables/benefit_calibration.csv",
            "results_draft.md#biomarkers-and-who-benefits",
        ),
    ),
    _a(
        "23b",
        "Results",
        "Heterogeneity",
        "If examined, report heterogeneity of performance across clusters.",
        (),
        "not examined by the run",
    ),
    _a("24", "Results", "Updating", "Report any model updating and its performance.", (), "none in the run"),
    _a(
        "25",
        "Discussion",
        "Interpretation",
        "Interpret the main results, fairness included, against objectives and earlier studies.",
        (),
        "interpretation",
    ),
    _a(
        "26",
        "Discussion",
        "Limitations",
        "Discuss limitations (sample, size, overfitting, missing data) and their effects.",
        ("tables/validation_internal.csv",),
        "limitations",
    ),
    _a(
        "27a",
        "Discussion",
        "Poor input data",
        "Describe how poor or missing input data should be handled in use.",
        (),
        "handling of missing markers in practice",
    ),
    _a(
        "27b",
        "Discussion",
        "Users",
        "Say whether users must handle inputs and what expertise they need.",
        (),
        "users and expertise",
    ),
    _a(
        "27c",
        "Discussion",
        "Next steps",
        "Discuss next steps towards applicability and generalisability.",
        (),
        "next steps",
    ),
)


GUIDELINES: dict[str, Guideline] = {
    "strobe_record": Guideline(
        "checklist_strobe_record",
        "STROBE checklist for cohort studies with the RECORD extension for routinely collected data",
        (
            "von Elm E, Altman DG, Egger M, Pocock SJ, Gøtzsche PC, Vandenbroucke JP. The Strengthening the "
            "Reporting of Observational Studies in Epidemiology (STROBE) statement. PLoS Med 2007;4(10):e296. "
            "doi:10.1371/journal.pmed.0040296",
            "Benchimol EI, Smeeth L, Guttmann A, et al. The REporting of studies Conducted using Observational "
            "Routinely-collected health Data (RECORD) statement. PLoS Med 2015;12(10):e1001885. "
            "doi:10.1371/journal.pmed.1001885",
        ),
        STROBE_RECORD,
        "STROBE with RECORD",
    ),
    "target": Guideline(
        "checklist_target",
        "TARGET checklist for observational studies emulating a target trial",
        (
            "Cashin AG, Hansford HJ, Hernán MA, et al. Transparent reporting of observational studies emulating a "
            "target trial: the TARGET statement. JAMA 2025;334(12):1084–1093. doi:10.1001/jama.2025.13350; "
            "published at the same time in BMJ 2025, doi:10.1136/bmj-2025-087179",
        ),
        TARGET,
        "TARGET",
    ),
    "tripod_ai": Guideline(
        "checklist_tripod_ai",
        "TRIPOD+AI checklist for the biomarker prediction models",
        (
            "Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement: updated guidance for reporting clinical "
            "prediction models that use regression or machine learning methods. BMJ 2024;385:e078378. "
            "doi:10.1136/bmj-2023-078378",
        ),
        TRIPOD_AI,
        "TRIPOD+AI",
    ),
}
