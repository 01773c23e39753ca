"""The study configuration: one YAML analysis plan that every notebook receives.

Resolution order: the package defaults (``analysis/default_config.yaml``), then a study config
file, then ``-p key=value`` overrides. Every key must be a parameter that some notebook declares
in its ``parameters`` cell; an unknown key is an error that lists the known names (papermill on
its own only warns, so a typo would silently run the default analysis).
"""

from __future__ import annotations

import atexit
import copy
import json
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis.core.exceptions import ConfigError
from analysis.data.contract import ARMS, TABLES
from analysis.data.sources import cohort_folder_from_database, is_database_url
from analysis.methods.multiplicity import check_hierarchy
from analysis.methods.safety import CORE_OUTCOMES

RUNNER_PARAMETERS = ("data_dir", "run_dir", "cohort_file")  # set by the runner, not by a config
#: Study-config section naming the database tables or queries when ``--data`` is a URL:
#: ``data_source: {patients: TABLE_OR_QUERY, transfers: TABLE_OR_QUERY}``. Not a notebook parameter.
SOURCE_SECTION = "data_source"


def default_config() -> dict:
    """Return the package's default analysis plan as a dict (a fresh copy)."""
    text = resources.files("analysis").joinpath("default_config.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def read_config(path: str | Path) -> dict:
    """Read a study config file; raise :class:`ConfigError` if it is missing or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of parameter names to values")
    return data


def data_source_section(config_path: str | Path | None) -> dict | None:
    """Return the study config's ``data_source`` section (database tables or queries), or None.

    Raises
    ------
    ConfigError
        The section is not a mapping of ``patients``/``transfers`` to a table name or a query.
    """
    if config_path is None:
        return None
    section = read_config(config_path).get(SOURCE_SECTION)
    if section is None:
        return None
    bad = (
        not isinstance(section, dict)
        or set(section) - {"patients", "transfers"}
        or not all(isinstance(v, str) and v.strip() for v in section.values())
    )
    if bad:
        raise ConfigError(
            f"{config_path}: '{SOURCE_SECTION}' must map patients and transfers to a table name or a SELECT "
            f"query, got {section!r}"
        )
    return section


def cohort_folder(data: str | Path, config_path: str | Path | None = None) -> Path:
    """Return the cohort folder to analyse: ``data`` itself, or a database read into a temporary folder.

    ``data`` is a cohort folder or a SQLAlchemy URL (``postgresql+psycopg://user@host/clinic``);
    a URL is read with the tables or queries of the config's ``data_source`` section (default:
    tables ``patients`` and ``transfers``) and written, as contract CSV text, into a temporary
    folder removed when the process ends, so the run validates, hashes and derives it exactly as
    it would the same cohort in CSV files.
    """
    if not is_database_url(data):
        return Path(data).resolve()
    folder = Path(tempfile.mkdtemp(prefix="endoimmune_db_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return cohort_folder_from_database(str(data), data_source_section(config_path), folder)


def parse_override(text: str) -> tuple[str, object]:
    """Parse one ``key=value`` override; the value is read as YAML (``3``, ``[a, b]``, ``true``)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has no key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: cannot read the value: {exc}") from exc
    return key, parsed


def _set_dotted(config: dict, key: str, value, known: set[str]) -> None:
    head, _, rest = key.partition(".")
    if head not in known:
        raise ConfigError(_unknown_message([head], known))
    if not rest:
        config[head] = value
        return
    target = config.get(head)
    if not isinstance(target, dict) or rest not in target:
        sub = sorted(target) if isinstance(target, dict) else []
        raise ConfigError(f"unknown key {key!r}: '{head}' has the keys {sub}")
    target[rest] = value


def _unknown_message(unknown, known) -> str:
    names = ", ".join(sorted(known))
    return f"unknown parameter(s) {sorted(unknown)}: no notebook declares them. Known parameters: {names}"


def resolve_config(
    known: set[str], config_path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> dict:
    """Return the resolved analysis plan.

    Parameters
    ----------
    known : set of str
        Names declared in the notebooks' ``parameters`` cells.
    config_path : path, optional
        A study config overriding the defaults.
    overrides : list of str
        ``key=value`` strings applied last.

    Raises
    ------
    ConfigError
        A key that no notebook declares (the message lists the known names), or an unreadable
        file or override.
    """
    known = set(known) - set(RUNNER_PARAMETERS)
    config = default_config()
    stray_defaults = set(config) - known
    if stray_defaults:
        raise ConfigError(
            f"the package's default config names parameters no notebook declares: {sorted(stray_defaults)}"
        )
    if config_path is not None:
        study = read_config(config_path)
        study.pop(SOURCE_SECTION, None)  # where the data come from, not how they are analysed
        unknown = set(study) - known
        if unknown:
            raise ConfigError(f"{config_path}: " + _unknown_message(unknown, known))
        for key, value in study.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                bad = set(value) - set(config[key])
                if bad:
                    raise ConfigError(
                        f"{config_path}: unknown key(s) {sorted(bad)} under '{key}'; known: {sorted(config[key])}"
                    )
                config[key] = {**config[key], **value}
            else:
                config[key] = value
    config = copy.deepcopy(config)
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(config, key, value, known)
    return config


# --- The typed analysis plan ------------------------------------------------------------------

#: Outcomes a plan may name: the contract's boolean outcome columns of a transfer.
OUTCOMES = ("live_birth", "clinical_pregnancy", "positive_hcg", "miscarriage")
#: Columns the analysis derives and a covariate list may name besides the contract's own.
DERIVED_COVARIATES = ("profile_group", "biopsy_year", "therapy_match", "first_transfer_year")
#: Derived in the target-trial course table only (the cohort does not hold them).
COURSE_COVARIATES = ("first_transfer_year",)
FIGURE_FORMATS = ("pdf", "svg", "png", "jpg", "tif", "eps")


class ProfileCutoffs(BaseModel):
    """The cut-off rule deriving the immune profile from the markers (:mod:`analysis.data.profiles`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    il15_fn14_low: float = Field(0.5, gt=0, description="IL-15/Fn-14 ratio below this: under-activated")
    il15_fn14_high: float = Field(2.0, gt=0, description="IL-15/Fn-14 ratio above this: over-activated")
    il18_tweak_low: float = Field(0.5, gt=0, description="IL-18/TWEAK ratio below this: under-activated")
    il18_tweak_high: float = Field(2.0, gt=0, description="IL-18/TWEAK ratio above this: over-activated")
    unk_cd56_low: float = Field(1.2, ge=0, le=100, description="uNK CD56+ % below this: under-activated")
    unk_cd56_high: float = Field(4.5, ge=0, le=100, description="uNK CD56+ % above this: over-activated")

    @model_validator(mode="after")
    def _low_below_high(self):
        bad = [
            marker
            for marker in ("il15_fn14", "il18_tweak", "unk_cd56")
            if getattr(self, f"{marker}_low") >= getattr(self, f"{marker}_high")
        ]
        if bad:
            raise ValueError(f"each low cut-off must be below its high cut-off; not so for {', '.join(bad)}")
        return self


Covariates = list[str]


class AnalysisPlan(BaseModel):
    """Every parameter of the analysis plan: its type, range, default and meaning.

    The package defaults (``analysis/default_config.yaml``) and the notebooks' ``parameters``
    cells are checked against this model (``tests/test_plan_schema.py``); the runner validates
    the resolved plan with it (:func:`check_plan`) and against the cohort
    (:func:`analysis.run.plan_check.check_plan_against_cohort`) before any notebook starts.
    ``python -m analysis params`` prints it.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    conf_level: float = Field(0.95, gt=0, lt=1, description="confidence level of every interval (0.95, not 95)")
    outcome: Literal[OUTCOMES] = Field("live_birth", description="primary outcome")
    secondary_outcome: Literal[OUTCOMES] = Field("clinical_pregnancy", description="secondary outcome")
    reference_arm: Literal[ARMS] = Field("none", description="reference level of treatment_arm")
    covariates: Covariates = Field(
        default_factory=lambda: [
            "age_at_biopsy_years",
            "bmi_kg_m2",
            "prior_failed_transfers",
            "embryo_stage",
            "good_quality_embryos",
            "cycle_type",
            "oocyte_source",
            "center_id",
        ],
        description="adjustment set of the first-transfer, GEE and outcome models (columns of the cohort)",
    )
    cox_covariates: Covariates = Field(
        default_factory=lambda: ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id"],
        description="patient-level adjustment set of the Cox model (patient columns)",
    )
    trial_covariates: Covariates = Field(
        default_factory=lambda: [
            "age_at_biopsy_years",
            "bmi_kg_m2",
            "prior_failed_transfers",
            "center_id",
            "profile_group",
            "first_transfer_year",
        ],
        description="baseline confounders of the arm at time zero of the emulated target trial",
    )
    profile_cutoffs: ProfileCutoffs = Field(
        default_factory=ProfileCutoffs, description="cut-off rule deriving the profile from the markers"
    )
    blood_nk_cutoff: float = Field(12.0, gt=0, lt=100, description='% of lymphocytes; "elevated blood NK" above this')
    max_transfer_number: int = Field(
        4, ge=1, le=50, description="cumulative live birth by transfer 1 … this (last pooled)"
    )
    dropout_days: int = Field(365, ge=1, description="no transfer this many days after a failure: drop-out")
    pp_max_transfers: int = Field(3, ge=1, le=50, description="per-protocol cumulative live birth by transfer 1 … this")
    pp_bootstrap: int = Field(200, ge=0, description="bootstrap replicates of the per-protocol cumulative live birth")
    risk_table_events: bool = Field(False, description="Figure 4's risk table adds the cumulative live births")
    risk_table_censored: bool = Field(False, description="Figure 4's risk table adds the cumulative censored")
    figure_formats: list[Literal[FIGURE_FORMATS]] = Field(
        default_factory=lambda: ["pdf", "svg", "png"], min_length=1, description="formats every figure is saved in"
    )
    figure_dpi: int = Field(300, ge=50, le=2400, description="PNG resolution (dots per inch)")
    seed: int = Field(20261124, ge=0, description="seed of every random step (bootstrap, imputation)")
    n_jobs: int = Field(-1, ge=-1, description="worker processes for bootstrap and imputation (-1 every core; not 0)")
    ps_covariates: Covariates = Field(
        default_factory=lambda: [
            "age_at_biopsy_years",
            "bmi_kg_m2",
            "prior_failed_transfers",
            "center_id",
            "profile_group",
        ],
        description="confounders of the arm at the first transfer (propensity and AIPW models)",
    )
    estimand: Literal["ATE", "ATT", "ATO"] = Field(
        "ATE",
        description="ATE (whole population), ATT (those given personalized therapy) or ATO (overlap weights)",
    )
    aipw_max_failed_share: float = Field(
        0.05, ge=0, lt=1, description="AIPW estimate refused when more bootstrap resamples than this share fail"
    )
    aipw_inference: Literal["auto", "influence", "bootstrap"] = Field(
        "auto",
        description="AIPW intervals: influence function (stacked estimating equations), patient bootstrap, "
        "or auto (influence function above aipw_if_above patients, bootstrap otherwise)",
    )
    aipw_if_above: int = Field(
        5000, ge=0, description="number of patients above which aipw_inference='auto' uses the influence function"
    )
    missing_marker_rule: Literal["indeterminate", "normal"] = Field(
        "indeterminate",
        description="a missing marker without a lab profile: indeterminate (profile not derived unless the measured "
        "markers fix it) or normal (counts as inside its range)",
    )
    weight_truncation: list[float] = Field(
        default_factory=list, description="[] none, or [low, high] percentiles of the weights, e.g. [1, 99]"
    )
    caliper_sd: float = Field(0.2, gt=0, le=5, description="matching caliper, SD of the logit propensity score")
    n_bootstrap: int = Field(500, ge=1, description="bootstrap resamples of patients (AIPW, biomarkers)")
    n_imputations: int | Literal["auto"] = Field(
        "auto",
        description='multiple imputation: number of completed data sets (at least 2), or "auto": von Hippel\'s '
        "two-stage rule from a 5-imputation pilot (analysis.methods.imputation.imputations_needed)",
    )
    n_iterations: int | Literal["auto"] = Field(
        10,
        description='multiple imputation: cycles of the chained equations (at least 1), or "auto": the chains run '
        "until Gelman-Rubin's split R-hat of the mean and SD of every column's imputed values is below 1.1, "
        "checked every 5 cycles from 10, at most 50 (analysis.methods.imputation.impute_until_converged)",
    )
    sensitivity_analyses: dict[str, dict] = Field(
        default_factory=lambda: {
            "sequential_trials": {"population": "sequential_trials"},
            "no_donor_oocytes": {"exclude": {"oocyte_source": ["donor"]}},
            "no_pgt_a": {"exclude": {"pgt_a": [True]}},
            "rif_only": {"min_prior_failed_transfers": 3},
            "leave_one_centre_out": {"leave_one_out": "center_id"},
        },
        description="named reruns of the IPTW estimate (analysis.methods.sensitivity documents the keys)",
    )
    min_cell_count: int = Field(0, ge=0, description="disclosure control: counts 1 … this - 1 are masked (0 none)")
    spline_knots: int = Field(4, ge=3, le=7, description="restricted cubic spline knots (Harrell's positions, 3 to 7)")
    dca_max_threshold: float = Field(0.2, gt=0, lt=1, description="decision curves: required gain from 0 to this")
    benefit_max_bootstrap: int = Field(
        200,
        ge=1,
        description="decision-curve bands and c-for-benefit: at most this many of the n_bootstrap resamples "
        "(each refits the cross-validated benefit model)",
    )
    analysis_hierarchy: dict = Field(
        default_factory=lambda: {
            "primary": {
                "model_id": "lb_first_aipw",
                "arm": "personalized",
                "within": {"profile_group": "dysregulated"},
                "label": "AIPW risk difference, dysregulated profiles",
            },
            "secondary": [
                {"model_id": "lb_first_aipw", "arm": "personalized", "label": "AIPW risk difference, all profiles"},
                {"model_id": "ttlb_cox_itt", "arm": "personalized", "label": "time to live birth (Cox, ITT analogue)"},
                {"model_id": "lb_all_gee_ind", "arm": "personalized", "label": "live birth over all transfers (GEE)"},
                {
                    "model_id": "cp_first_adjusted",
                    "arm": "personalized",
                    "label": "clinical pregnancy, first transfer (adjusted logistic)",
                },
                {"model_id": "lb_first_aipw", "arm": "empirical", "label": "AIPW risk difference, empirical vs none"},
            ],
            "multiplicity": "holm",
            "alpha": 0.05,
        },
        description="declared primary analysis and secondary family (model_id, arm, optional within, label), "
        "multiplicity (holm, fixed_sequence, none) and alpha",
    )
    safety_outcomes: list[Literal[tuple(dict.fromkeys(o for o, _ in CORE_OUTCOMES))]] = Field(
        default_factory=lambda: ["preterm_birth", "any_pregnancy_loss"],
        min_length=1,
        description="declared harms weighed against the live-birth benefit (notebook 07; core outcomes per woman)",
    )

    @field_validator("analysis_hierarchy")
    @classmethod
    def _hierarchy_declared(cls, value: dict) -> dict:
        check_hierarchy(value)
        return value

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs_not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("n_jobs must be -1 (every core) or a positive number of workers, not 0")
        return value

    @field_validator("n_imputations")
    @classmethod
    def _at_least_two_imputations(cls, value: int | str) -> int | str:
        if value != "auto" and value < 2:
            raise ValueError('n_imputations must be "auto" or at least 2 (Rubin\'s rules need two imputations)')
        return value

    @field_validator("n_iterations")
    @classmethod
    def _at_least_one_iteration(cls, value: int | str) -> int | str:
        if value != "auto" and value < 1:
            raise ValueError('n_iterations must be "auto" or at least 1 cycle of the chained equations')
        return value

    @field_validator("weight_truncation")
    @classmethod
    def _truncation_pair(cls, value: list[float]) -> list[float]:
        if value and (len(value) != 2 or not 0 <= value[0] < value[1] <= 100):
            raise ValueError("weight_truncation must be [] or [low, high] percentiles with 0 <= low < high <= 100")
        return value

    @field_validator("covariates", "cox_covariates", "trial_covariates", "ps_covariates")
    @classmethod
    def _known_covariates(cls, value: list[str]) -> list[str]:
        known = covariate_names()
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"unknown covariate(s) {unknown}; known columns: {', '.join(sorted(known))}")
        duplicated = sorted({name for name in value if value.count(name) > 1})
        if duplicated:
            raise ValueError(f"covariate(s) named twice: {duplicated}")
        return value


def covariate_names() -> set[str]:
    """Return the column names a covariate list may name: the contract's columns and the derived ones."""
    names = {c.name for table in TABLES.values() for c in table}
    return (names | set(DERIVED_COVARIATES)) - {"patient_id"}


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(plan)"


def plan_schema_problems(config: dict) -> list[str]:
    """Return every way ``config`` breaks :class:`AnalysisPlan` (types, ranges, known names), one line each."""
    try:
        AnalysisPlan.model_validate(config)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = _location(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            field = AnalysisPlan.model_fields.get(str(error["loc"][0])) if error["loc"] else None
            meaning = f" [{field.description}]" if field is not None and field.description else ""
            problems.append(f"{where}: {message} (got {error['input']!r}){meaning}")
        return problems
    return []


def check_plan(config: dict) -> None:
    """Raise one :class:`ConfigError` listing every way ``config`` breaks :class:`AnalysisPlan`.

    Types, ranges and known names: cheap, before the data are read (the command line calls it
    before it even imports the runner). :func:`analysis.run.plan_check.check_plan_against_cohort`
    then checks the plan against the cohort.

    Raises
    ------
    ConfigError
        Every problem, one per line, with the valid names or range.
    """
    problems = plan_schema_problems(config)
    if problems:
        raise ConfigError(
            f"the analysis plan has {len(problems)} problem(s) (nothing was run):\n  - " + "\n  - ".join(problems)
        )


def _type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) if get_origin(annotation) is None else None
    if text and text != "Literal":
        return text
    if get_origin(annotation) is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    return str(annotation).replace("typing.", "")


def plan_parameters() -> list[dict]:
    """Return one row per plan parameter: name, type, default, meaning, and range when there is one."""
    rows = []
    defaults = AnalysisPlan().model_dump(mode="json")
    for name, field in AnalysisPlan.model_fields.items():
        bounds = []
        for meta in field.metadata:
            for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                if getattr(meta, attr, None) is not None:
                    bounds.append(f"{sign} {getattr(meta, attr)}")
        rows.append(
            {
                "name": name,
                "type": _type_name(field.annotation),
                "range": ", ".join(bounds),
                "default": defaults[name],
                "meaning": field.description or "",
            }
        )
    return rows


def format_plan_parameters() -> str:
    """Return the plan's parameters as text, like ``papermill --help-notebook`` (for ``python -m analysis params``)."""
    lines = ["Parameters of the analysis plan (defaults: analysis/default_config.yaml):", ""]
    for row in plan_parameters():
        bounds = f", {row['range']}" if row["range"] else ""
        lines.append(f"  {row['name']}: {row['type']}{bounds}")
        lines.append(f"      default: {json.dumps(row['default'])}")
        lines.append(f"      {row['meaning']}")
    return "\n".join(lines)
