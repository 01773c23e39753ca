"""The cohort data contract: every column of the input tables, in one place.

The contract is data, not prose: :data:`PATIENTS` and :data:`TRANSFERS` (required) and
:data:`BIRTHS` and :data:`ADVERSE_EVENTS` (optional tables, read when present) list one
:class:`ColumnSpec` per column. Validation (:mod:`analysis.data.validation`), loading
(:mod:`analysis.data.loading`), the synthetic generator and ``docs/data_dictionary.md`` are all derived
from these specs; a test checks the dictionary is in step with them.

Sources are cited by short key; ``docs/data_dictionary.md`` lists them in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARMS = ("none", "empirical", "personalized")
PROFILES = ("balanced", "over_activated", "under_activated", "mixed")
#: The fifth level of a derived profile: markers missing and the measured ones do not fix the
#: profile (:func:`analysis.data.profiles.derive_immune_profile`); reported, never analysed.
INDETERMINATE = "indeterminate"
DERIVED_PROFILES = (*PROFILES, INDETERMINATE)
PROFILE_GROUPS = ("balanced", "dysregulated")
AGENTS = (
    "prednisolone",
    "intralipid",
    "hcg_intrauterine",
    "g_csf",
    "ivig",
    "tacrolimus",
    "hydroxychloroquine",
    "lmwh",
    "other",
)
PREGNANCY_LOCATIONS = ("intrauterine", "ectopic", "heterotopic", "unknown")
PREGNANCY_LOSS_TYPES = (
    "none",
    "biochemical",
    "miscarriage_first_trimester",
    "miscarriage_second_trimester",
    "ectopic",
    "termination",
    "stillbirth",
)
#: Loss types that the contract's ``miscarriage`` column counts (losses of an intrauterine
#: pregnancy before 22 completed weeks).
MISCARRIAGE_LOSS_TYPES = ("miscarriage_first_trimester", "miscarriage_second_trimester", "termination")
ADVERSE_EVENT_TYPES = (
    "infusion_reaction",
    "hyperglycaemia",
    "hypertension",
    "infection",
    "mood_change",
    "injection_site_reaction",
    "bleeding",
    "thrombosis",
    "allergic_reaction",
    "other",
)
SEVERITIES = ("mild", "moderate", "severe", "life_threatening", "death")
#: Severity grades that make an event serious whatever else is recorded (ICH E2A).
SERIOUS_SEVERITIES = ("life_threatening", "death")
#: Embryo age at transfer in days, by stage: gestational age on the transfer day is 14 + this.
EMBRYO_AGE_DAYS = {"cleavage": 3, "blastocyst": 5}
ENDOMETRIAL_MARKERS = ("il15_fn14_ratio", "il18_tweak_ratio", "unk_cd56_percent", "cd138_per_hpf")
BLOOD_MARKERS = ("blood_nk_percent", "blood_th1_th2_ratio")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the data contract.

    Attributes
    ----------
    name : str
        Column name as it must appear in the file.
    kind : {"id", "category", "float", "integer", "boolean", "date", "agents"}
        Logical type. ``agents`` is a semicolon-separated list from :data:`AGENTS`.
    required : bool
        The column must be present in the file.
    nullable : bool
        Cells may be empty.
    unit : str
        Unit of measurement, or ``""``.
    levels : tuple of str, optional
        Allowed values of a category (or of each element of an ``agents`` list).
    limits : tuple of float, optional
        Hard range ``(low, high)``: values outside are impossible and stop the run.
    plausible : tuple of float, optional
        Soft range: values outside are possible but unusual and give a warning.
    meaning : str
        What the column holds.
    source : str
        Where the unit, range or levels come from.
    unique : bool
        Values are unique in the table.
    tags : tuple of str
        Groups the column belongs to (e.g. ``endometrial_marker``).
    reference : str, optional
        Reference level of a category in every model (its odds, hazard or risk ratios are
        against this level); None leaves the first observed level in sorted order.
    warn_if_absent : bool
        An optional column's absence is reported as a warning (False where the analyses have a
        documented rule for its absence, so nothing is skipped).
    """

    name: str
    kind: str
    required: bool
    nullable: bool
    meaning: str
    unit: str = ""
    levels: tuple[str, ...] | None = None
    limits: tuple[float, float] | None = None
    plausible: tuple[float, float] | None = None
    source: str = ""
    unique: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)
    reference: str | None = None
    warn_if_absent: bool = True


def _marker(name, meaning, unit, limits, plausible, source):
    return ColumnSpec(
        name,
        "float",
        required=False,
        nullable=True,
        meaning=meaning,
        unit=unit,
        limits=limits,
        plausible=plausible,
        source=source,
        tags=("endometrial_marker",),
    )


PATIENTS: tuple[ColumnSpec, ...] = (
    ColumnSpec("patient_id", "id", True, False, "Patient identifier, unique in the table.", unique=True),
    ColumnSpec("center_id", "id", True, False, "Centre (clinic or site) that treated the patient."),
    ColumnSpec(
        "age_at_biopsy_years",
        "float",
        True,
        False,
        "Age at the endometrial biopsy.",
        unit="years",
        limits=(16, 60),
        plausible=(20, 50),
        source="[S43]; contract",
    ),
    ColumnSpec(
        "bmi_kg_m2",
        "float",
        True,
        True,
        "Body-mass index at biopsy.",
        unit="kg/m²",
        limits=(12, 70),
        plausible=(16, 45),
        source="[K]",
    ),
    ColumnSpec(
        "amh_ng_ml",
        "float",
        False,
        True,
        "Anti-Müllerian hormone.",
        unit="ng/mL",
        limits=(0, 50),
        plausible=(0.01, 20),
        source="[K]",
    ),
    ColumnSpec(
        "infertility_years",
        "float",
        False,
        True,
        "Duration of infertility at biopsy.",
        unit="years",
        limits=(0, 30),
        plausible=(0, 20),
        source="[K]",
    ),
    ColumnSpec(
        "prior_failed_transfers",
        "integer",
        True,
        False,
        "Embryo transfers that failed before the biopsy.",
        unit="count",
        limits=(0, 40),
        plausible=(0, 15),
        source="[S25] (RIF ≥ 3 failed transfers)",
    ),
    ColumnSpec(
        "prior_miscarriages",
        "integer",
        False,
        True,
        "Clinical pregnancy losses before the biopsy.",
        unit="count",
        limits=(0, 30),
        plausible=(0, 10),
        source="[S10]",
    ),
    ColumnSpec(
        "indication",
        "category",
        True,
        False,
        "Reason for referral: rif = recurrent implantation failure, rpl = recurrent pregnancy loss.",
        levels=("rif", "rpl", "good_prognosis", "donor_oocyte"),
        source="[S2]",
        reference="rif",
    ),
    ColumnSpec(
        "diagnosis",
        "category",
        False,
        True,
        "Main infertility diagnosis.",
        levels=("tubal", "male_factor", "endometriosis", "ovulatory", "unexplained", "other"),
    ),
    ColumnSpec("biopsy_date", "date", True, False, "Date of the mid-luteal endometrial biopsy."),
    ColumnSpec(
        "follow_up_end_date",
        "date",
        True,
        False,
        "End of follow-up (last contact); time to live birth is censored here.",
    ),
    ColumnSpec(
        "follow_up_end_reason",
        "category",
        False,
        True,
        "Why follow-up ended: data_cut (administrative end of the study, woman possibly still in treatment), "
        "stopped_treatment (drop-out), lost or moved (censored). When present it decides between drop-out and "
        "censoring in the target-trial analyses; when absent drop-out is defined by the dropout_days rule.",
        levels=("data_cut", "stopped_treatment", "lost", "moved"),
        warn_if_absent=False,
    ),
    _marker(
        "il15_fn14_ratio",
        "IL-15/Fn-14 mRNA ratio: uNK activation and maturation.",
        "relative mRNA ratio (unitless)",
        (0, 1000),
        (0.01, 50),
        "[S1]; scale [A]",
    ),
    _marker(
        "il18_tweak_ratio",
        "IL-18/TWEAK mRNA ratio: Th1-type drift and angiogenesis.",
        "relative mRNA ratio (unitless)",
        (0, 1000),
        (0.01, 50),
        "[S1]; scale [A]",
    ),
    _marker(
        "unk_cd56_percent",
        "uNK density: CD56+ cells as % of stromal cells.",
        "% of stromal cells",
        (0, 100),
        (0.1, 45),
        "[S11] (reference 1.2–4.5%), [S12]",
    ),
    _marker(
        "cd138_per_hpf",
        "CD138+ plasma cells per high-power field (chronic endometritis).",
        "cells per HPF",
        (0, 500),
        (0, 50),
        "[S18] (≥ 5 per HPF), [S19]",
    ),
    ColumnSpec(
        "immune_profile",
        "category",
        False,
        True,
        "The lab's immune profile; derived from the markers when absent.",
        levels=PROFILES,
        source="[S1], [S2], [S6]",
        reference="balanced",
    ),
    ColumnSpec(
        "blood_nk_percent",
        "float",
        False,
        True,
        "Peripheral blood NK cells (CD3−CD56+) as % of lymphocytes.",
        unit="% of lymphocytes",
        limits=(0, 100),
        plausible=(1, 40),
        source="[S13], [S17]",
        tags=("blood_marker",),
    ),
    ColumnSpec(
        "blood_th1_th2_ratio",
        "float",
        False,
        True,
        "Peripheral blood Th1/Th2 ratio (CD4+IFN-γ+ / CD4+IL-4+).",
        unit="ratio",
        limits=(0, 1000),
        plausible=(0.5, 80),
        source="[S27], [S28]",
        tags=("blood_marker",),
    ),
)

TRANSFERS: tuple[ColumnSpec, ...] = (
    ColumnSpec("patient_id", "id", True, False, "Patient identifier (must exist in patients)."),
    ColumnSpec("transfer_date", "date", True, False, "Date of the embryo transfer."),
    ColumnSpec(
        "transfer_number",
        "integer",
        True,
        False,
        "Order of the transfer after the biopsy: 1, 2, … consecutive within a patient.",
        unit="count",
        limits=(1, 50),
        plausible=(1, 12),
    ),
    ColumnSpec(
        "treatment_arm",
        "category",
        True,
        False,
        "none = no immunotherapy; empirical = immunotherapy chosen without regard to the "
        "profile (conventional immunotherapy); personalized = chosen from the profile.",
        levels=ARMS,
        source="[S3]",
        reference="none",
    ),
    ColumnSpec(
        "treatment_agents",
        "agents",
        True,
        True,
        "Immunotherapy agents given, semicolon-separated; empty for none.",
        levels=AGENTS,
    ),
    ColumnSpec(
        "embryo_stage",
        "category",
        True,
        False,
        "Stage of the embryo(s) transferred.",
        levels=("cleavage", "blastocyst"),
        reference="cleavage",
    ),
    ColumnSpec(
        "embryos_transferred",
        "integer",
        True,
        False,
        "Number of embryos transferred.",
        unit="count",
        limits=(1, 4),
        plausible=(1, 3),
        source="contract; [S45]",
    ),
    ColumnSpec(
        "good_quality_embryos",
        "integer",
        True,
        True,
        "Embryos of good (top) morphological quality among those transferred.",
        unit="count",
        limits=(0, 4),
        source="[S3], [S4]",
    ),
    ColumnSpec(
        "cycle_type",
        "category",
        True,
        False,
        "Fresh or frozen-thawed transfer.",
        levels=("fresh", "frozen"),
        reference="fresh",
    ),
    ColumnSpec(
        "oocyte_source",
        "category",
        True,
        False,
        "Oocytes from the patient or a donor.",
        levels=("autologous", "donor"),
        reference="autologous",
    ),
    ColumnSpec("pgt_a", "boolean", True, True, "Embryo tested euploid by PGT-A."),
    ColumnSpec(
        "endometrial_thickness_mm",
        "float",
        False,
        True,
        "Endometrial thickness before transfer.",
        unit="mm",
        limits=(1, 30),
        plausible=(4, 20),
        source="[K] (< 7 mm thin)",
    ),
    ColumnSpec("positive_hcg", "boolean", True, True, "Serum hCG positive (biochemical pregnancy)."),
    ColumnSpec(
        "gestational_sacs",
        "integer",
        True,
        True,
        "Gestational sacs on ultrasound; implantation rate = sacs / embryos.",
        unit="count",
        limits=(0, 4),
        source="[S10]",
    ),
    ColumnSpec(
        "clinical_pregnancy",
        "boolean",
        True,
        True,
        "At least one gestational sac on ultrasound, including ectopic.",
        source="[S10]",
    ),
    ColumnSpec(
        "miscarriage",
        "boolean",
        True,
        True,
        "Loss of an intrauterine pregnancy before 22 completed weeks.",
        source="[S10]",
    ),
    ColumnSpec(
        "live_birth",
        "boolean",
        True,
        True,
        "At least one live-born baby (a multiple delivery counts once); empty = unknown.",
        source="[S30]",
    ),
    # Pregnancy and delivery (optional; the safety analyses of notebook 07 report an outcome as
    # not recorded when its column is absent, so their absence is not a warning).
    ColumnSpec(
        "pregnancy_location",
        "category",
        False,
        True,
        "Where the pregnancy implanted, for a clinical pregnancy (heterotopic: intrauterine and ectopic "
        "together); empty when there was no clinical pregnancy or it is unknown.",
        levels=PREGNANCY_LOCATIONS,
        source="[S55]",
        tags=("safety",),
        warn_if_absent=False,
    ),
    ColumnSpec(
        "pregnancy_loss_type",
        "category",
        False,
        True,
        "How a pregnancy (positive hCG) ended when it did not end in a live birth: biochemical (hCG "
        "positive, no sac), miscarriage in the first (< 12 + 0 weeks) or second trimester (12 + 0 to "
        "21 + 6 weeks), ectopic, termination, stillbirth (≥ 22 weeks); none = ended in live birth. "
        "Empty when hCG was negative or the outcome is unknown. A multiple pregnancy is one event.",
        levels=PREGNANCY_LOSS_TYPES,
        source="[S55]; [S10]",
        tags=("safety",),
        warn_if_absent=False,
    ),
    ColumnSpec(
        "fetal_heartbeats",
        "integer",
        False,
        True,
        "Fetuses with a heartbeat on the first-trimester ultrasound (2 or more: a multiple pregnancy, "
        "counted as one pregnancy event).",
        unit="count",
        limits=(0, 6),
        plausible=(0, 3),
        source="[S55]",
        tags=("safety",),
        warn_if_absent=False,
    ),
    ColumnSpec(
        "gestational_age_days",
        "integer",
        False,
        True,
        "Gestational age at delivery (live birth or stillbirth), in completed days from the first "
        "day of the last menstrual period as dated from the transfer (transfer day = 14 days + the "
        "embryo's age: 17 for cleavage, 19 for blastocyst). Preterm: < 259 days (37 weeks); very "
        "preterm: < 224 days (32 weeks).",
        unit="days",
        limits=(154, 322),
        plausible=(168, 300),
        source="[S55]; WHO ICD-11 preterm definitions",
        tags=("safety",),
        warn_if_absent=False,
    ),
    ColumnSpec(
        "delivery_mode",
        "category",
        False,
        True,
        "How the pregnancy was delivered.",
        levels=("vaginal", "caesarean"),
        tags=("safety",),
        warn_if_absent=False,
    ),
)

#: One row per live-born baby (twins: two rows of one transfer, one pregnancy event).
BIRTHS: tuple[ColumnSpec, ...] = (
    ColumnSpec("patient_id", "id", True, False, "Mother's patient identifier (must exist in patients)."),
    ColumnSpec(
        "transfer_number",
        "integer",
        True,
        False,
        "The transfer the baby was conceived from (with patient_id, a row of transfers).",
        unit="count",
        limits=(1, 50),
    ),
    ColumnSpec(
        "baby_number",
        "integer",
        True,
        False,
        "Order of the baby within the delivery: 1, 2, … consecutive per transfer.",
        unit="count",
        limits=(1, 6),
    ),
    ColumnSpec("birth_date", "date", False, True, "Date of birth.", warn_if_absent=False),
    ColumnSpec(
        "birthweight_g",
        "float",
        True,
        True,
        "Birthweight. Small for gestational age: below the 10th centile of the Hadlock (1991) "
        "in-utero weight standard for the gestational age.",
        unit="g",
        limits=(200, 7000),
        plausible=(400, 5500),
        source="[S55]; Hadlock et al. Radiology 1991;181:129",
    ),
    ColumnSpec("sex", "category", False, True, "Sex of the baby.", levels=("female", "male"), warn_if_absent=False),
    ColumnSpec("neonatal_death", "boolean", True, True, "Death within 28 days of birth.", source="[S55]"),
    ColumnSpec(
        "major_congenital_anomaly",
        "boolean",
        True,
        True,
        "A major congenital anomaly diagnosed at birth or in the neonatal period.",
        source="[S55]",
    ),
    ColumnSpec(
        "nicu_admission",
        "boolean",
        False,
        True,
        "Admitted to neonatal intensive care.",
        warn_if_absent=False,
    ),
)

#: One row per adverse event of an immunotherapy agent.
ADVERSE_EVENTS: tuple[ColumnSpec, ...] = (
    ColumnSpec("patient_id", "id", True, False, "Patient identifier (must exist in patients)."),
    ColumnSpec("event_date", "date", True, False, "Onset of the event."),
    ColumnSpec(
        "agent",
        "category",
        True,
        False,
        "The agent the event is attributed to (one of treatment_agents given to the woman).",
        levels=AGENTS,
    ),
    ColumnSpec("event", "category", True, False, "What happened.", levels=ADVERSE_EVENT_TYPES),
    ColumnSpec(
        "severity",
        "category",
        True,
        False,
        "Severity grade (CTCAE grades 1 to 5: mild, moderate, severe, life-threatening, death).",
        levels=SEVERITIES,
        source="CTCAE v5.0",
    ),
    ColumnSpec(
        "serious",
        "boolean",
        True,
        False,
        "Serious adverse event: death, life-threatening, hospitalisation, disability or a congenital "
        "anomaly (ICH E2A).",
        source="ICH E2A",
    ),
    ColumnSpec(
        "resolved", "boolean", False, True, "The event had resolved by the end of follow-up.", warn_if_absent=False
    ),
)

TABLES = {"patients": PATIENTS, "transfers": TRANSFERS, "births": BIRTHS, "adverse_events": ADVERSE_EVENTS}
#: Tables a cohort folder must hold; the others are read when present.
REQUIRED_TABLES = ("patients", "transfers")
OPTIONAL_TABLES = ("births", "adverse_events")

THERAPY_MATCH_LEVELS = ("none", "matched", "mismatched")


@dataclass(frozen=True)
class CategoricalSpec:
    """How a categorical column enters the models: its levels and its reference level.

    Attributes
    ----------
    name : str
        Column of the analysis data (input or derived).
    levels : tuple of str, optional
        Allowed levels; None when they are whatever values occur (identifiers, booleans).
    reference : str, optional
        Level every other level is compared with; None leaves the first observed level in
        sorted order.
    """

    name: str
    levels: tuple[str, ...] | None
    reference: str | None


#: Every column that enters models as categorical: the category columns of the input tables
#: (levels and reference from their :class:`ColumnSpec`), the centre, PGT-A, and the columns
#: the cohort derives (profile group, match of therapy and profile).
CATEGORICALS: dict[str, CategoricalSpec] = {
    **{
        s.name: CategoricalSpec(s.name, s.levels, s.reference)
        for specs in TABLES.values()
        for s in specs
        if s.kind == "category"
    },
    # the analysis column holds the derived profile's fifth level too (the lab reports four)
    "immune_profile": CategoricalSpec("immune_profile", DERIVED_PROFILES, "balanced"),
    "center_id": CategoricalSpec("center_id", None, None),
    "pgt_a": CategoricalSpec("pgt_a", None, None),
    "profile_group": CategoricalSpec("profile_group", PROFILE_GROUPS, "balanced"),
    "therapy_match": CategoricalSpec("therapy_match", THERAPY_MATCH_LEVELS, "none"),
}

# Table-level rules checked across columns or tables; names are the ``rule`` in problem reports.
CROSS_RULES = {
    "at_least_one_endometrial_marker": "patients: at least one endometrial marker per patient",
    "biopsy_before_follow_up_end": "patients: biopsy_date ≤ follow_up_end_date",
    "patient_id_known": "transfers: patient_id exists in patients",
    "biopsy_before_transfer": "transfers: biopsy_date < transfer_date",
    "transfer_before_follow_up_end": "transfers: transfer_date ≤ follow_up_end_date",
    "transfer_numbers_consecutive": "transfers: transfer_number is 1, 2, … without gaps or repeats per patient",
    "transfer_dates_ordered": "transfers: transfer dates increase with transfer_number",
    "good_quality_within_embryos": "transfers: good_quality_embryos ≤ embryos_transferred",
    "sacs_within_embryos": "transfers: gestational_sacs ≤ embryos_transferred",
    "live_birth_implies_clinical_pregnancy": "transfers: live_birth ⇒ clinical_pregnancy",
    "clinical_pregnancy_implies_positive_hcg": "transfers: clinical_pregnancy ⇒ positive_hcg",
    "clinical_pregnancy_iff_sacs": "transfers: clinical_pregnancy ⇔ gestational_sacs > 0",
    "agents_match_arm": "transfers: arm none has no agents; empirical has at least one",
    "miscarriage_implies_clinical_pregnancy": "transfers: miscarriage ⇒ clinical_pregnancy",
    "loss_type_needs_positive_hcg": "transfers: a pregnancy_loss_type is recorded only with positive_hcg",
    "loss_type_matches_outcomes": "transfers: pregnancy_loss_type agrees with the outcome columns (none ⇔ "
    "live_birth; biochemical ⇔ no clinical_pregnancy; miscarriage_* or termination ⇒ miscarriage; ectopic or "
    "biochemical ⇒ no miscarriage; a live birth may carry miscarriage, the loss of a co-twin)",
    "ectopic_location": "transfers: pregnancy_loss_type ectopic ⇔ pregnancy_location ectopic or heterotopic",
    "location_needs_clinical_pregnancy": "transfers: pregnancy_location is recorded only for a clinical pregnancy",
    "heartbeats_need_clinical_pregnancy": "transfers: fetal_heartbeats > 0 ⇒ clinical_pregnancy",
    "gestational_age_needs_delivery": "transfers: gestational_age_days is recorded only for a live birth or a "
    "stillbirth, and every live birth has one when the column is present",
    "births_transfer_known": "births: (patient_id, transfer_number) is a transfer",
    "births_need_live_birth": "births: a baby's transfer has live_birth true",
    "live_birth_has_baby": "births: every live birth has at least one baby row",
    "baby_numbers_consecutive": "births: baby_number is 1, 2, … without gaps or repeats per transfer "
    "(twins: one delivery, one pregnancy event)",
    "babies_within_heartbeats": "births: babies per transfer ≤ fetal_heartbeats where recorded",
    "twins_same_birth_date": "births: babies of one transfer share their birth date (one delivery)",
    "birth_date_matches_gestational_age": "births: birth_date = transfer_date + gestational_age_days − (14 + "
    "embryo age) within 3 days",
    "adverse_event_patient_known": "adverse_events: patient_id exists in patients",
    "adverse_event_in_follow_up": "adverse_events: biopsy_date ≤ event_date ≤ follow_up_end_date",
    "adverse_event_agent_given": "adverse_events: the agent was among the woman's treatment_agents",
    "serious_if_life_threatening": "adverse_events: a life-threatening or fatal event is serious (ICH E2A)",
}


def spec(table: str, column: str) -> ColumnSpec:
    """Return the :class:`ColumnSpec` of ``column`` in ``table``."""
    for s in TABLES[table]:
        if s.name == column:
            return s
    raise KeyError(f"{table}.{column} is not in the data contract")


def columns(table: str) -> list[str]:
    """Return the contract's column names of ``table`` in contract order."""
    return [s.name for s in TABLES[table]]


def data_dictionary_markdown() -> str:
    """Render the contract as the Markdown tables of ``docs/data_dictionary.md``.

    The document embeds this text verbatim; a test keeps the two in step.
    """
    lines = []
    for table, specs in TABLES.items():
        lines.append(f"### `{table}`\n")
        lines.append(
            "| column | type | unit | allowed values / range | usual range (warning outside) | required | may be empty | meaning | source |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for s in specs:
            if s.levels:
                allowed = ", ".join(s.levels) + (" (semicolon list)" if s.kind == "agents" else "")
            elif s.limits:
                allowed = f"{s.limits[0]:g} – {s.limits[1]:g}"
            elif s.kind == "date":
                allowed = "YYYY-MM-DD"
            elif s.kind == "boolean":
                allowed = "true / false (1/0, yes/no)"
            else:
                allowed = "unique" if s.unique else ""
            usual = f"{s.plausible[0]:g} – {s.plausible[1]:g}" if s.plausible else ""
            lines.append(
                f"| `{s.name}` | {s.kind} | {s.unit} | {allowed} | {usual} | {'yes' if s.required else 'no'} "
                f"| {'yes' if s.nullable else 'no'} | {s.meaning} | {s.source} |"
            )
        lines.append("")
    lines.append("### Rules across columns and tables\n")
    lines.append("| rule | what it checks |")
    lines.append("|---|---|")
    for name, text in CROSS_RULES.items():
        lines.append(f"| `{name}` | {text} |")
    return "\n".join(lines) + "\n"
