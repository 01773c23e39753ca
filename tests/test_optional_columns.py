"""Every optional column of the data contract may be absent, or present and empty.

A clinic's export rarely has every optional column. Each section of the notebooks that needs a
missing column must say in one sentence what it skipped and why, and the run goes on; the run
report lists the skipped sections (``tables/skipped_sections.csv``). Before this was handled,
notebook 06 stopped with ``KeyError: "['blood_th1_th2_ratio'] not in index"`` on a valid cohort
without that column, notebook 02 with ``KeyError: "['unk_cd56_percent'] not in index"`` and
notebook 05's imputation model with ``KeyError: 'unk_cd56_percent'``.

The cheap tests here call the study functions of the notebooks that use a column directly (no
papermill, no kernel) on a 200-patient cohort with that one column dropped or emptied; the
whole suite on a cohort with every optional column dropped runs through the runner under
``@pytest.mark.slow``.
"""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis.data import contract
from analysis.data.cohort import load_cohort
from analysis.data.synthetic import simulate_cohort, write_cohort
from analysis.output import session
from analysis.study import s01_cohort as s01
from analysis.study import s02_immune_landscape as s02
from analysis.study import s04_time_to_live_birth as s04
from analysis.study import s05_treatment_effects as s05
from analysis.study import s06_biomarkers as s06
from analysis.study import s07_safety as s07
from analysis.study.context import RunContext, open_context
from analysis.study.messages import Message

OPTIONAL = [(table, s.name) for table, specs in contract.TABLES.items() for s in specs if not s.required]
#: The two endometrial markers the lean cohort keeps: the contract needs one measured marker per patient.
LEAN_KEEPS = ("il15_fn14_ratio", "il18_tweak_ratio")
COVARIATES = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id"]
PS_COVARIATES = [*COVARIATES, "profile_group"]


def _table_one(ctx: RunContext) -> None:
    s01.table_one_by_arm(ctx)


def _landscape(ctx: RunContext) -> None:
    s02.profile_concordance(ctx)
    s02.blood_vs_endometrium(ctx, profile_cutoffs={}, blood_nk_cutoff=12.0)


def _follow_up(ctx: RunContext) -> None:
    s04.follow_up(ctx, dropout_days=365)


def _imputation(ctx: RunContext) -> None:
    scores = s05.propensity_scores(ctx, outcome="live_birth", ps_covariates=PS_COVARIATES, reference_arm="none")
    s05.imputation_model(
        ctx, scores, outcome="live_birth", covariates=COVARIATES, ps_covariates=PS_COVARIATES, n_imputations=2, seed=1
    )


def _biomarkers(ctx: RunContext) -> None:
    rows = s06.populations(ctx, outcome="live_birth", reference_arm="none")
    u = rows.untreated
    s06.prognostic_markers(ctx, u, outcome="live_birth", spline_knots=3, n_bootstrap=5, seed=1)
    s06.compare_markers(ctx, u, outcome="live_birth", clinical=COVARIATES)
    s06.internal_validation(ctx, u, outcome="live_birth", clinical=COVARIATES, n_bootstrap=5, seed=1, n_jobs=1)
    s06.cutoffs(ctx, u, outcome="live_birth", profile_cutoffs={}, blood_nk_cutoff=12.0, n_bootstrap=5, seed=1)


def _safety(ctx: RunContext) -> None:
    """Notebook 07's tables: the pregnancy columns and the births and adverse-events tables."""
    data = s07.safety_data(ctx, outcome="live_birth")
    s07.core_outcomes(ctx, data)
    s07.adverse_events(ctx, data)
    s07.harms(ctx, data, reference_arm="none")
    s07.benefit_harm(
        ctx,
        data,
        outcome="live_birth",
        ps_covariates=PS_COVARIATES,
        reference_arm="none",
        safety_outcomes=["preterm_birth", "any_pregnancy_loss"],
        multiplicity="holm",
        alpha=0.05,
    )


def _figures(ctx: RunContext) -> None:
    """The figure sections (costly: run once, on the lean cohort, not per column)."""
    s01.missing_values(ctx)
    s02.markers_by_profile(ctx, profile_cutoffs={})
    s02.marker_correlations(ctx)
    s02.landscape_figure(ctx, profile_cutoffs={}, blood_nk_cutoff=12.0)
    rows = s06.populations(ctx, outcome="live_birth", reference_arm="none")
    s06.marker_spline_figure(ctx, rows.untreated, outcome="live_birth", spline_knots=3)
    comparison = s06.compare_markers(ctx, rows.untreated, outcome="live_birth", clinical=COVARIATES)
    validation = s06.internal_validation(
        ctx, rows.untreated, outcome="live_birth", clinical=COVARIATES, n_bootstrap=5, seed=1, n_jobs=1
    )
    s06.effect_modification(ctx, rows.first, outcome="live_birth", covariates=COVARIATES, reference_arm="none")
    benefits = s06.who_benefits(
        ctx,
        rows.first,
        outcome="live_birth",
        covariates=COVARIATES,
        ps_covariates=PS_COVARIATES,
        reference_arm="none",
        dca_max_threshold=0.2,
        n_bootstrap=5,
        max_bootstrap=200,
        seed=1,
        n_jobs=1,
        multiplicity="holm",
        alpha=0.05,
    )
    s06.figure_5(ctx, comparison, validation, benefits)


#: The sections (study functions, by notebook) that read each optional column, without their
#: figures; Table 1 (notebook 01) describes every one.
MARKER_SECTIONS = (_table_one, _landscape, _imputation, _biomarkers)
USES = {
    "amh_ng_ml": (_table_one,),
    "infertility_years": (_table_one,),
    "prior_miscarriages": (_table_one,),
    "diagnosis": (_table_one,),
    "follow_up_end_reason": (_follow_up,),
    "il15_fn14_ratio": MARKER_SECTIONS,
    "il18_tweak_ratio": MARKER_SECTIONS,
    "unk_cd56_percent": MARKER_SECTIONS,
    "cd138_per_hpf": (_table_one, _biomarkers),
    "immune_profile": (_table_one, _landscape),
    "blood_nk_percent": MARKER_SECTIONS,
    "blood_th1_th2_ratio": (_table_one, _biomarkers),
    "endometrial_thickness_mm": (_table_one,),
    # notebook 07 (safety): outcomes a cohort does not record are reported as "not recorded"
    **{
        name: (_safety,)
        for name in (
            "pregnancy_location",
            "pregnancy_loss_type",
            "fetal_heartbeats",
            "gestational_age_days",
            "delivery_mode",
            "birth_date",
            "sex",
            "nicu_admission",
            "resolved",
        )
    },
}
#: Optional columns whose absence skips nothing: the analyses have a documented rule for it
#: (``warn_if_absent=False`` in the contract: drop-out by the ``dropout_days`` rule).
NOTHING_SKIPPED = {s.name for _, specs in contract.TABLES.items() for s in specs if not s.warn_if_absent}


@pytest.fixture(scope="module")
def base_tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("optional_base")
    write_cohort(simulate_cohort(200, seed=7), folder)
    return {
        t: pd.read_csv(folder / f"{t}.csv", dtype=str, keep_default_na=False)
        for t in ("patients", "transfers", "births", "adverse_events")
    }


def _write_variant(tables: dict, folder, *, drop=(), empty=()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame = frame.drop(columns=[c for c in drop if c in frame.columns])
        frame = frame.assign(**{c: "" for c in empty if c in contract.columns(name)})
        frame.to_csv(folder / f"{name}.csv", index=False)


def _run_sections(data_dir, run_dir, sections) -> pd.DataFrame:
    """Derive the cohort once, call ``sections`` each with its own context; return the skipped-sections table."""
    cohort = load_cohort(data_dir)
    paths = session.run_paths(run_dir, min_cell_count=0)
    for section in sections:
        ctx = RunContext(section.__name__, cohort, paths, figure_formats=("png",), figure_dpi=30)
        section(ctx)
        plt.close("all")
    path = run_dir / "tables" / "skipped_sections.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else pd.DataFrame(columns=["columns"])


def test_every_optional_column_has_its_notebooks_declared():
    """A new optional column must say which notebooks read it, or the tests below would not drop it."""
    assert sorted(USES) == sorted(name for _, name in OPTIONAL)


@pytest.mark.parametrize("column", sorted(USES))
def test_sections_run_without_the_column(column, base_tables, tmp_path):
    """Each optional column dropped in turn: the sections that use it run and say what they skipped.

    Would catch the KeyErrors of notebooks 02, 05 and 06 on a cohort without a marker (the old
    design indexed every marker of the contract), and a section skipped without a record.
    """
    _write_variant(base_tables, tmp_path / "data", drop=[column])
    skipped = _run_sections(tmp_path / "data", tmp_path / "run", USES[column])
    named = skipped["columns"].str.split(";").explode()
    if column in NOTHING_SKIPPED:
        assert column not in set(named)
    else:
        assert column in set(named), f"no section says it skipped {column}"


@pytest.mark.parametrize("column", ["unk_cd56_percent", "blood_th1_th2_ratio"])
def test_sections_run_with_the_column_empty_in_every_row(column, base_tables, tmp_path):
    """A marker present as a header but never measured counts as absent (not as a column of zero rows).

    Would catch a section that checks only for the header and then fits on no data.
    """
    _write_variant(base_tables, tmp_path / "data", empty=[column])
    skipped = _run_sections(tmp_path / "data", tmp_path / "run", USES[column])
    assert column in set(skipped["columns"].str.split(";").explode())


def test_every_section_runs_on_the_lean_cohort(base_tables, tmp_path):
    """Every optional column dropped but two endometrial markers: the figure sections too.

    Would catch a figure panel that indexes an absent marker (Figure 2's uNK panel, the spline
    panels, Figure 5 after a skipped validation).
    """
    drop = [name for _, name in OPTIONAL if name not in LEAN_KEEPS]
    _write_variant(base_tables, tmp_path / "lean", drop=drop)
    skipped = _run_sections(tmp_path / "lean", tmp_path / "run", (*MARKER_SECTIONS, _figures))
    assert set(skipped["columns"].str.split(";").explode()) == set(drop) - NOTHING_SKIPPED
    caption = (tmp_path / "run" / "figures" / "figure_2.txt").read_text()
    assert "Not in the data, so not drawn: unk_cd56_percent, blood_nk_percent." in caption


def test_skipped_section_message_is_one_sentence_naming_section_column_and_reason(base_tables, tmp_path):
    """What the notebook shows in place of a skipped section, and what the report lists.

    Would catch a bare KeyError, an empty cell, or a skip the report does not see.
    """
    _write_variant(base_tables, tmp_path / "data", drop=["blood_nk_percent"])
    ctx = open_context("02_immune_landscape", data_dir=tmp_path / "data", run_dir=tmp_path / "run", min_cell_count=0)
    blood = s02.blood_vs_endometrium(ctx, profile_cutoffs={}, blood_nk_cutoff=12.0)
    assert isinstance(blood.spearman, Message)
    assert str(blood.spearman) == (
        "**Not estimable:** Blood NK against the endometrium skipped: column `blood_nk_percent` absent or empty "
        "in the data."
    )
    rows = pd.read_csv(tmp_path / "run" / "tables" / "skipped_sections.csv", dtype=str)
    assert rows.to_dict("records") == [
        {
            "notebook": "02_immune_landscape",
            "section": "Blood NK against the endometrium",
            "columns": "blood_nk_percent",
            "reason": "column `blood_nk_percent` absent or empty in the data",
        }
    ]
    # a rerun of the notebook on data that have the column clears its rows (and the file)
    _write_variant(base_tables, tmp_path / "full")
    ctx = open_context("02_immune_landscape", data_dir=tmp_path / "full", run_dir=tmp_path / "run", min_cell_count=0)
    assert not (tmp_path / "run" / "tables" / "skipped_sections.csv").exists()
    plt.close("all")


@pytest.mark.slow
def test_whole_suite_runs_on_a_cohort_without_any_optional_column(base_tables, tmp_path):
    """The lean cohort: every optional column dropped except two endometrial markers (the contract
    needs one measured marker per patient). Every notebook runs to the end through the runner, and
    the report lists the skipped sections. Would catch the KeyError that stopped notebook 06.
    """
    from analysis.run.runner import notebook_paths, run_suite

    drop = [name for _, name in OPTIONAL if name not in LEAN_KEEPS]
    _write_variant(base_tables, tmp_path / "lean", drop=drop)
    cheap = ["n_bootstrap=10", "pp_bootstrap=10", "n_imputations=2", "n_jobs=1", "figure_formats=[png]"]
    out = run_suite(tmp_path / "lean", tmp_path / "run", overrides=[*cheap, "figure_dpi=50"], quiet=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and len(manifest["notebooks"]) == len(notebook_paths())
    skipped = pd.read_csv(out / "tables" / "skipped_sections.csv", dtype=str)
    named = set(skipped["columns"].str.split(";").explode())
    assert named == set(drop) - NOTHING_SKIPPED
    report = (out / "report.html").read_text()
    assert "Skipped sections" in report
    for section in skipped["section"]:
        assert section.replace("&", "&amp;") in report
