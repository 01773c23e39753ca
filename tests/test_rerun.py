"""Rerunning some notebooks of a finished run (``run --notebooks 02 --out EXISTING_RUN``).

Two small notebooks stand in for the suite: ``01_uses_seed`` declares ``seed``, ``02_uses_k``
declares ``min_cell_count``; both read the runner's cached cohort. A rerun of one leaves the
other's files as they were (same bytes, same modification times) and the manifest says what was
reused; a changed parameter forces exactly the notebooks that declare it; a changed input file
forces every notebook and a fresh derivation of the cohort. Before, an existing ``--out`` was
an error unless replaced whole with ``--force``.
"""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from analysis.core.exceptions import RunError
from analysis.run.cli import _parser
from analysis.run.runner import notebooks_to_rerun, run_suite, select_notebooks

BODY = """\
from analysis.output.disclosure import TableDisclosure
from analysis.study.context import open_context
ctx = open_context(NAME, data_dir=data_dir, run_dir=run_dir, cohort_file=cohort_file, min_cell_count=0)
ctx.save_table(
    pd.DataFrame({"patients": [len(ctx.cohort.patients)], "value": [VALUE]}),
    NAME,
    declaration=TableDisclosure(counts=("patients",)),
)
"""


def _notebook(folder, name, parameters, value):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('data_dir = ""\nrun_dir = ""\ncohort_file = ""\n' + parameters)
    cell.metadata["tags"] = ["parameters"]
    body = BODY.replace("NAME", repr(name)).replace("VALUE", value)
    nb.cells = [nbformat.v4.new_code_cell("import pandas as pd"), cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def suite(tmp_path):
    folder = tmp_path / "nb"
    folder.mkdir()
    return [
        _notebook(folder, "01_uses_seed", "seed = 1", "seed"),
        _notebook(folder, "02_uses_k", "min_cell_count = 0", "min_cell_count"),
    ]


def _state(run, name):
    path = run / "tables" / f"{name}.csv"
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.fixture()
def first_run(small_cohort_dir, suite, tmp_path):
    out = tmp_path / "run"
    run_suite(small_cohort_dir, out, notebooks=suite, keep_interim=True, quiet=True)
    return out


def test_rerun_of_one_notebook_leaves_the_other_untouched_until_its_parameter_changes(
    small_cohort_dir, suite, first_run
):
    """Would catch a rerun that rewrites (or deletes) the outputs of a notebook it did not run, and
    one that reuses a notebook whose parameter changed (its outputs would be stale)."""
    before = _state(first_run, "01_uses_seed")
    executed_before = (first_run / "notebooks" / "01_uses_seed.ipynb").stat().st_mtime_ns
    k_before = _state(first_run, "02_uses_k")[1]
    run_suite(small_cohort_dir, first_run, notebooks=[suite[1]], quiet=True)
    assert _state(first_run, "01_uses_seed") == before
    assert (first_run / "notebooks" / "01_uses_seed.ipynb").stat().st_mtime_ns == executed_before
    assert _state(first_run, "02_uses_k")[1] != k_before
    manifest = json.loads((first_run / "manifest.json").read_text())
    assert manifest["rerun"]["executed"] == ["02_uses_k"] and manifest["rerun"]["reused"] == ["01_uses_seed"]
    assert manifest["rerun"]["forced"] == {} and manifest["rerun"]["cohort_reused"] is True
    assert manifest["cohort"]["reused"] is True
    assert [n["notebook"] for n in manifest["notebooks"]] == ["01_uses_seed.ipynb", "02_uses_k.ipynb"]
    assert manifest["notebooks"][0]["reused"] is True and "reused" not in manifest["notebooks"][1]
    assert manifest["notebooks"][1]["outputs"] == ["tables/02_uses_k.csv"]
    assert (first_run / "report.html").exists() and not first_run.with_name("run.partial").exists()

    # the same request with a parameter that only 01 declares: 01 is forced
    run_suite(small_cohort_dir, first_run, notebooks=[suite[1]], overrides=["seed=5"], quiet=True)
    manifest = json.loads((first_run / "manifest.json").read_text())
    assert manifest["rerun"]["executed"] == ["01_uses_seed", "02_uses_k"]
    assert manifest["rerun"]["forced"] == {"01_uses_seed": "parameter(s) changed: seed"}
    assert pd.read_csv(first_run / "tables" / "01_uses_seed.csv")["value"].iloc[0] == 5


@pytest.mark.slow
def test_changed_input_forces_every_notebook_and_a_new_cohort(small_cohort_dir, suite, first_run, tmp_path):
    """Would catch a rerun that reuses the cached cohort (or a notebook) after the data changed."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("patients.csv", "transfers.csv"):
        (data / name).write_bytes((small_cohort_dir / name).read_bytes())
    patients = pd.read_csv(data / "patients.csv", dtype=str, keep_default_na=False)
    patients.loc[0, "bmi_kg_m2"] = "30.5"
    patients.to_csv(data / "patients.csv", index=False)
    run_suite(data, first_run, notebooks=[suite[1]], quiet=True)
    manifest = json.loads((first_run / "manifest.json").read_text())
    assert manifest["rerun"]["executed"] == ["01_uses_seed", "02_uses_k"]
    assert manifest["rerun"]["forced"] == {"01_uses_seed": "input(s) changed: patients.csv"}
    assert manifest["rerun"]["cohort_reused"] is False and manifest["cohort"]["reused"] is False


def test_existing_run_without_notebooks_is_still_refused(small_cohort_dir, tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(RunError, match="name them with --notebooks"):
        run_suite(small_cohort_dir, tmp_path / "run", quiet=True)


def test_notebooks_are_chosen_by_number_or_name():
    assert _parser().parse_args(["run", "--notebooks", "05,06"]).notebooks == "05,06"
    assert [p.stem for p in select_notebooks("05, 06_biomarkers")] == ["05_treatment_effects", "06_biomarkers"]
    with pytest.raises(RunError, match="unknown notebook"):
        select_notebooks("5,99")


def test_decision_reads_only_the_parameters_a_notebook_declares():
    """Hand-made manifests: a parameter no earlier notebook declares forces nothing."""
    prev = {
        "inputs_sha256": {"patients.csv": "a", "config:s.yaml": "c"},
        "parameters": {"seed": 1, "k": 0, "n_bootstrap": 9},
        "notebooks": [{"notebook": "01_x.ipynb"}, {"notebook": "02_y.ipynb"}, {"notebook": "03_z.ipynb"}],
    }
    declared = {"01_x": {"seed", "data_dir"}, "02_y": {"k"}, "03_z": {"k", "n_bootstrap"}}
    config = {"seed": 1, "k": 0, "n_bootstrap": 10}
    stems, forced = notebooks_to_rerun(prev, ["02_y"], {"patients.csv": "a", "config:s.yaml": "d"}, config, declared)
    assert stems == ["02_y", "03_z"] and forced == {"03_z": "parameter(s) changed: n_bootstrap"}
    # a changed data file forces every earlier notebook, whatever it declares
    stems, forced = notebooks_to_rerun(prev, ["02_y"], {"patients.csv": "b"}, {**config, "n_bootstrap": 9}, declared)
    assert stems == ["01_x", "02_y", "03_z"]
    assert forced == {"01_x": "input(s) changed: patients.csv", "03_z": "input(s) changed: patients.csv"}
