"""The runner end to end on a small cohort: files written, parameters reach the notebooks,
a failing notebook is named with its cell and partial notebook, run folders are protected."""

from __future__ import annotations

import contextlib
import json
import os
import shutil

import nbformat
import pandas as pd
import pytest

from analysis.core.exceptions import RunError
from analysis.data.loading import read_cohort_tables
from analysis.data.sources import write_database_tables
from analysis.data.validation import validate_cohort
from analysis.output.audit import audit_run
from analysis.output.layout import LAYOUT_ENV
from analysis.output.results import ESTIMATE_COLUMNS, read_run
from analysis.run.cli import main
from analysis.run.runner import notebook_paths, run_suite

REQUIRED_MODELS = {
    "lb_first_crude",
    "lb_first_adjusted",
    "lb_first_interaction",
    "cp_first_adjusted",
    "lb_first_matching",
    "lb_all_gee_ind",
    "implantation_all_gee",
    "ttlb_cox_itt",
}


#: Parameters of this module's two whole-suite runs: two checked by the tests below, and fewer
#: resamples and imputations than the defaults (the runner, not the estimates, is under test).
OVERRIDES = ["conf_level=0.9", "blood_nk_cutoff=15", "n_bootstrap=100", "n_imputations=5", "pp_bootstrap=50"]


@pytest.fixture(scope="module")
def run(small_cohort_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "small"
    # issue 19: a figure with overlapping texts, text off the canvas or a legend on its data fails the run
    with _figure_layout_raises():
        # kernels started the ordinary way; db_run's come from the warm process, and the two
        # runs' bytes are compared below
        run_suite(small_cohort_dir, out, overrides=OVERRIDES, quiet=True, warm_kernels=False)
    return out


@contextlib.contextmanager
def _figure_layout_raises():
    old = os.environ.get(LAYOUT_ENV)
    os.environ[LAYOUT_ENV] = "raise"  # the notebooks' kernels inherit it
    try:
        yield
    finally:
        if old is None:
            del os.environ[LAYOUT_ENV]
        else:
            os.environ[LAYOUT_ENV] = old


def test_run_folder_has_notebooks_tables_figures_and_manifest(run, small_cohort_dir):
    assert sorted(p.name for p in (run / "notebooks").iterdir()) == [p.name for p in notebook_paths()]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    # issue 17: the optional births and adverse-event tables are inputs too, with their SHA-256
    assert set(manifest["inputs_sha256"]) == {"patients.csv", "transfers.csv", "births.csv", "adverse_events.csv"}
    assert manifest["parameters"]["conf_level"] == 0.9
    assert [n["notebook"] for n in manifest["notebooks"]] == [p.name for p in notebook_paths()]
    assert all(n["wall_seconds"] > 0 for n in manifest["notebooks"])
    for key in ("started", "finished", "versions", "git"):
        assert manifest[key]
    assert any((run / "figures").glob("figure_3_forest.pdf"))
    assert not run.with_name(run.name + ".partial").exists()


def test_the_intruder_recovers_small_counts_from_an_unmasked_run(run, capsys):
    """The audit can fail: on the run made without disclosure control (min_cell_count = 0) it
    recovers counts below 10 by the known routes, and the command line exits 1. The report of an
    unmasked run says no control was applied."""
    findings = audit_run(run, min_cell_count=10)
    routes = set(findings["route"])
    for route in ("direct", "curve step (censored between rows)", "at-risk row", "text"):
        assert route in routes, route
    assert {"survival.csv", "figure_4_cumulative_live_birth.svg"} <= set(findings["source"])
    assert main(["audit", str(run), "--min-cell-count", "10"]) == 1
    assert "do not release this run" in capsys.readouterr().out
    assert main(["audit", str(run)]) == 2  # no threshold of its own: the user must give one
    page = (run / "report.html").read_text()
    assert "No disclosure control was applied (min_cell_count = 0)" in page
    assert not (run / "disclosure").exists()


def test_executed_notebooks_have_outputs_and_no_errors(run):
    for path in (run / "notebooks").iterdir():
        nb = nbformat.read(path, as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert outputs, path.name
        assert not [o for o in outputs if o.get("output_type") == "error"], path.name


def test_parameters_really_reach_the_notebooks(run):
    """conf_level=0.9 changes every interval: check an OR's limits are the 90% Wald limits."""
    est = read_run(run)["estimates"]
    assert list(est.columns) == ESTIMATE_COLUMNS
    row = est[(est["model_id"] == "lb_first_adjusted") & (est["term"] == "treatment_arm[personalized]")].iloc[0]
    import numpy as np
    from scipy.stats import norm

    z = norm.ppf(0.95)
    assert row["conf_low"] == pytest.approx(np.exp(row["coef"] - z * row["std_error"]), rel=1e-8)
    kappa = pd.read_csv(run / "tables" / "blood_nk_kappa.csv")
    assert "15%" in kappa["comparison"].iloc[0]
    nb = nbformat.read(run / "notebooks" / "02_immune_landscape.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "blood_nk_cutoff = 15" in injected[0].source


def test_required_model_ids_land_in_estimates(run):
    est = read_run(run)["estimates"]
    assert REQUIRED_MODELS <= set(est["model_id"])
    gee = est[est["model_id"] == "lb_all_gee_ind"]
    assert (gee["n_clusters"] > 0).all()
    surv = pd.read_csv(run / "tables" / "survival.csv")
    assert list(surv.columns) == ["group", "time_days", "estimate", "conf_low", "conf_high", "n_at_risk", "n_events"]


def test_the_harm_check_of_notebook_07_weighs_notebook_06s_rule(run):
    """Issue 17 part 4: notebook 07 checks the rule notebook 06 published, not a rule of its own.
    For every group of ``benefit.csv`` (06) the harm-checked rule (07) carries the same verdict,
    adjusted p-value and arm sizes, and ``benefit_harm.csv`` the same live-birth difference and
    limits (per 100 women), in this run at conf_level 0.9 with Holm's adjustment. The old harm
    check used a crude first-transfer difference by profile group only, so neither the immune
    profile rows nor these numbers matched."""
    rule = pd.read_csv(run / "tables" / "benefit.csv").set_index(["grouping", "group"])
    checked = pd.read_csv(run / "tables" / "harm_checked_rule.csv").set_index(["grouping", "group"])
    weighed = pd.read_csv(run / "tables" / "benefit_harm.csv")
    assert set(checked.index) == set(rule.index) and len(rule) >= 4
    joined = checked.join(rule, rsuffix="_06")
    assert (joined["rule_verdict"] == joined["verdict"]).all()
    assert joined["p_adjusted"].to_numpy() == pytest.approx(joined["p_adjusted_06"].to_numpy(), rel=1e-12)
    assert (joined["n_treated"] == joined["n_treated_06"]).all()
    assert (joined["recommended"] <= (joined["verdict"] == "treat")).all()  # never recommended without the rule
    for col, source in (("gained_percent", "risk_difference"), ("gained_low_percent", "conf_low")):
        merged = weighed.merge(rule[[source]].reset_index(), on=["grouping", "group"])
        assert len(merged) == len(weighed)
        assert merged[col].to_numpy() == pytest.approx(100 * merged[source].to_numpy(), rel=1e-12, abs=1e-12)


def test_existing_run_folder_is_not_overwritten(run, small_cohort_dir, monkeypatch):
    """Refused before anything starts: no warm process is started for a run that cannot go on."""
    import analysis.run.runner as runner

    def no_warm_process(*args, **kwargs):
        raise AssertionError("the warm process was started for a refused run")

    monkeypatch.setattr(runner, "start_warm_kernels", no_warm_process)
    with pytest.raises(RunError, match="--force"):
        run_suite(small_cohort_dir, run, quiet=True)


def test_failing_notebook_names_notebook_cell_and_partial_path(small_cohort_dir, tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    for p in notebook_paths()[:1]:
        shutil.copy(p, nb_dir)
    broken = nbformat.read(nb_dir / "01_cohort.ipynb", as_version=4)
    broken.cells.append(nbformat.v4.new_code_cell("raise ValueError('deliberate failure')"))
    nbformat.write(broken, nb_dir / "01_cohort.ipynb")
    out = tmp_path / "run"
    with pytest.raises(RunError) as info:
        run_suite(small_cohort_dir, out, notebooks=[nb_dir / "01_cohort.ipynb"], overrides=[], quiet=True)
    text = str(info.value)
    assert "01_cohort.ipynb" in text and "ValueError: deliberate failure" in text and "cell" in text
    partial = out.with_name("run.partial") / "notebooks" / "01_cohort.ipynb"
    assert str(partial) in text and partial.exists()
    assert not out.exists()


def _files(run_dir):
    return {
        p.relative_to(run_dir): p.read_bytes()
        for sub in ("tables", "figures")
        for p in sorted((run_dir / sub).rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def db_run(small_cohort_dir, postgres_url, tmp_path_factory):
    """The module's cohort loaded into a real PostgreSQL server (contract SQL types: DATE,
    BOOLEAN, INTEGER, DOUBLE PRECISION, TEXT) and run again with ``--data URL``, two notebooks at
    a time, same overrides: the one second whole-suite run of this module, shared by the
    determinism and the database tests below."""
    raw = read_cohort_tables(small_cohort_dir)
    checked = validate_cohort(raw["patients"], raw["transfers"], raw.get("births"), raw.get("adverse_events"))
    write_database_tables(
        postgres_url, checked.patients, checked.transfers, births=checked.births, adverse_events=checked.adverse_events
    )
    out = tmp_path_factory.mktemp("runs") / "from_postgresql"
    return run_suite(postgres_url, out, overrides=OVERRIDES, quiet=True, jobs=2)


def test_two_runs_one_parallel_give_byte_identical_tables_and_figures(run, db_run):
    """Determinism, --jobs and warm kernels together: a second run of the same inputs and
    parameters, its notebooks two at a time in kernels forked from the warm process (the first
    run's kernels start cold, one at a time), writes the same bytes in every table and figure
    (PDF, SVG, PNG); only the manifest's times and the executed notebooks' metadata differ. (The
    second run reads the same rows from PostgreSQL, see ``db_run``: one whole-suite run serves
    these checks.)"""
    again = db_run
    first, second = _files(run), _files(again)
    assert sorted(first) == sorted(second)
    assert any(str(p).endswith(".pdf") for p in first) and any(str(p).endswith(".svg") for p in first)
    different = [str(p) for p in first if first[p] != second[p]]
    assert not different, different
    manifest = json.loads((again / "manifest.json").read_text())
    assert [n["notebook"] for n in manifest["notebooks"]] == [p.name for p in notebook_paths()]
    assert not (again / "tables" / "estimates.csv.lock").exists()
    n = len(notebook_paths())  # the first run's kernels all cold, the second's all forked
    assert json.loads((run / "manifest.json").read_text())["kernels"] == {
        "forked_from_warm_process": 0,
        "started_cold": n,
    }
    assert manifest["kernels"] == {"forked_from_warm_process": n, "started_cold": 0}


def test_run_from_postgresql_equals_the_run_from_csv_files(run, db_run):
    """The run from the database writes the same bytes in every table as the run from the CSV
    files. Catches a database reader that changes a type (counts as 1.0, dates with times, NULL
    as 'None'), a value, or the row order that bootstraps follow."""
    tables = {p: b for p, b in _files(run).items() if p.parts[0] == "tables"}
    db_tables = {p: b for p, b in _files(db_run).items() if p.parts[0] == "tables"}
    assert sorted(tables) == sorted(db_tables) and len(tables) > 10
    different = [str(p) for p in tables if tables[p] != db_tables[p]]
    assert not different, different
    manifest = json.loads((db_run / "manifest.json").read_text())
    assert manifest["status"] == "ok" and set(manifest["inputs_sha256"]) == {
        "patients.csv",
        "transfers.csv",
        "births.csv",
        "adverse_events.csv",
    }


def test_checklists_of_the_run_name_only_existing_files_and_sections(run):
    """Issue 19 part 2: every item the run marks answered points at a file, report section or plan
    parameter that exists in this run; the report links the checklists and its sections have ids."""
    from analysis.output.checklist_items import GUIDELINES
    from analysis.output.checklists import STATUS, check_checklists

    assert check_checklists(run) == []
    answered = 0
    for g in GUIDELINES.values():
        table = pd.read_csv(run / f"{g.stem}.csv", dtype=str, keep_default_na=False)
        assert list(table["item"]) == [i.number for i in g.items]
        answered += int(table["status"].isin([STATUS["run"], STATUS["both"]]).sum())
    assert answered >= 60
    page = (run / "report.html").read_text()
    assert 'id="the-emulated-target-trial"' in page and 'href="checklist_target.html"' in page
    sections = {loc for g in GUIDELINES.values() for i in g.items for loc in i.where if loc.startswith("report.html#")}
    assert sections and all(f'id="{loc.split("#")[1]}"' in page for loc in sections)  # no misspelt section


def test_every_number_of_the_results_draft_matches_its_table_row(run, tmp_path):
    """Issue 19 part 3: the draft's keyed numbers are re-read from the run's tables (none differs, no
    number lacks a key); the same draft against a copy with one altered estimate fails on that key."""
    from analysis.output.results_draft import check_results_draft

    assert check_results_draft(run).empty
    keys = pd.read_csv(run / "results_draft_keys.csv", dtype=str, keep_default_na=False)
    assert len(keys) >= 40 and "tables/estimates.csv" in set(keys["file"])
    text = (run / "results_draft.md").read_text()
    assert "associated with" in text and "90%" in text  # conf_level=0.9 reaches the text
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("notebooks", "figures"))
    row = keys[(keys["file"] == "tables/estimates.csv") & (keys["column"] == "estimate")].iloc[0]
    est = pd.read_csv(copy / "tables" / "estimates.csv", dtype=str, keep_default_na=False)
    selector = dict(part.split("=", 1) for part in row["row"].split("; "))
    hit = (est["model_id"] == selector["model_id"]) & (est["term"] == selector["term"])
    est.loc[hit, "estimate"] = str(float(est.loc[hit, "estimate"].iloc[0]) * 1.5 + 0.5)
    est.to_csv(copy / "tables" / "estimates.csv", index=False)
    problems = check_results_draft(copy)
    assert list(problems["key"]) == [row["key"]]


def test_the_submission_bundle_of_the_run_opens_and_matches_its_manifest(run, tmp_path):
    """Issue 19 part 5: zip, Word files and TIFFs open; every checksum matches; nothing row-level."""
    import hashlib
    import io
    import zipfile

    import docx
    from PIL import Image

    path = tmp_path / "bundle.zip"
    assert main(["bundle", str(run), "--out", str(path)]) == 0
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("bundle_manifest.json"))
        assert set(manifest["files"]) == set(names) - {"bundle_manifest.json"}
        for name, entry in manifest["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == entry["sha256"], name
        assert not [n for n in names if n.startswith("interim/") or n.endswith((".parquet", ".pkl"))]
        tiffs = [n for n in names if n.endswith(".tiff")]
        assert len(tiffs) == len([n for n in names if n.startswith("figures/figure_") and n.endswith(".pdf")]) >= 4
        for name in tiffs:
            image = Image.open(io.BytesIO(zf.read(name)))
            assert image.format == "TIFF" and round(image.info["dpi"][0]) == 300
        for name in [n for n in names if n.endswith(".docx")]:
            docx.Document(io.BytesIO(zf.read(name)))


def test_every_figure_of_the_run_passes_the_layout_check(run):
    """Issue 19: every saved figure is checked (texts apart, on the canvas, legends off the data);
    the run records the check of each figure in tables/figure_layout.csv."""
    record = pd.read_csv(run / "tables" / "figure_layout.csv", keep_default_na=False)
    saved = {p.stem for p in (run / "figures").glob("*.png")}
    assert saved and saved == set(record["figure"])
    bad = record[record["problem"] != "none"]
    assert bad.empty, bad.to_string()
    assert f"Every one of the {len(saved)} figures passed the layout check" in (run / "report.html").read_text()


def test_issue_19_tables_are_written_in_four_formats_and_shown_in_the_report(run):
    """Table 2 merged, missing data by arm, follow-up and the rows under Figure 4: tidy tables, four
    publication formats each, inlined in the report; follow-up numbers add up across arms."""
    pub = run / "tables" / "publication"
    page = (run / "report.html").read_text()
    for name in ("table_2_merged", "table_s_missing_by_arm", "table_s_follow_up", "table_s_risk_figure_4"):
        for ext in ("csv", "html", "tex", "docx"):
            assert (pub / f"{name}.{ext}").stat().st_size > 100, (name, ext)
        assert f"tables/publication/{name}.docx" in page
    fu = pd.read_csv(run / "tables" / "follow_up_by_arm.csv").set_index("group")
    assert fu.loc["overall", "n"] == fu.drop("overall")["n"].sum()
    assert (fu["q1_days"] <= fu["median_days"]).all() and (fu["median_days"] <= fu["q3_days"]).all()
    risk = pd.read_csv(run / "tables" / "risk_table_figure_4.csv")
    n0 = risk[risk["time_days"] == 0].set_index(["grouping", "group"])["n_at_risk"]
    total = risk.set_index(["grouping", "group"])[["n_at_risk", "cum_events", "cum_censored"]].sum(axis=1)
    assert (total == n0.reindex(total.index)).all()


def test_a_first_run_starts_the_longest_notebooks_first(tmp_path):
    """Would catch the old fallback of a folder without a manifest (later notebooks first):
    notebook 07 (18 s at 100k) then started beside notebook 06 (84 s) and notebook 05 (59 s)
    waited for it. An earlier manifest in the folder still decides when there is one."""
    from analysis.run.runner import TYPICAL_WALL_SECONDS, _longest_first

    paths = notebook_paths()
    names = [paths[k].name for k in _longest_first(paths, tmp_path)]
    assert set(names) == set(TYPICAL_WALL_SECONDS)  # every notebook of the suite has a typical time
    assert names[:3] == ["06_biomarkers.ipynb", "05_treatment_effects.ipynb", "04_time_to_live_birth.ipynb"]
    earlier = {"notebooks": [{"notebook": p.name, "wall_seconds": float(i)} for i, p in enumerate(paths)]}
    (tmp_path / "manifest.json").write_text(json.dumps(earlier))
    assert [paths[k].name for k in _longest_first(paths, tmp_path)][0] == paths[-1].name


def test_the_runner_imports_papermill_without_compiling_the_iri_grammar():
    """Would catch the 1.6-2.0 s of CPU that every run spent compiling rfc3987_syntax's grammar
    (imported by jsonschema's format checkers under nbformat) before its first notebook; the
    notebooks are still read and validated."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from analysis.run.runner import declared_parameters, notebook_paths\n"
        "path = notebook_paths()[0]\n"
        "assert 'data_dir' in declared_parameters(path)\n"
        "import nbformat\n"
        "nbformat.validate(nbformat.read(path, as_version=4))\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'))\n"
    )
    shell = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.strip() in ("None", "absent")
