"""The benchmark harness works on a tiny cohort (timings are reported by `make bench`, never asserted)."""

import pandas as pd
import pytest

from benchmarks import run


# the harness behind `make bench`, not an estimator: on demand (`make test-slow`) to keep the
# default run under 10 minutes
@pytest.mark.slow
def test_harness_times_every_model_stage_and_writes_table(tmp_path):
    out = tmp_path / "bench.csv"
    assert run.main(["--sizes", "300", "--no-suite", "--no-r", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table["stage"]) == ["simulate_and_write", *run.MODEL_STAGES]
    assert (table["status"] == "ok").all(), table[["stage", "status"]]
    assert (table.loc[table["stage"] != "simulate_and_write", "peak_mib_process"] > 10).all()
    assert out.with_suffix(".png").exists()
    md = run.markdown_table(table)
    assert md.splitlines()[0].startswith("| stage |") and "fit_logit" in md


@pytest.mark.slow
def test_rerunning_one_size_keeps_the_others_and_marks_the_shipped_cohort(tmp_path):
    out = tmp_path / "bench.csv"
    earlier = pd.DataFrame(
        {
            "size": ["shipped", "shipped", "1000"],
            "n_transfers": [2900, 2900, 967],
            "stage": ["load_validate", "suite", "suite"],
            "wall_seconds": [0.3, 40.0, 35.0],
            "status": ["ok", "ok", "ok"],
        }
    )
    earlier.to_csv(out, index=False)
    assert run.main(["--sizes", "300", "--no-suite", "--no-r", "--keep-other-sizes", "--out", str(out)]) == 0
    table = pd.read_csv(out, dtype={"size": str})
    assert set(table["size"]) == {"shipped", "1000", "300"}
    assert table.loc[table["size"] == "shipped", "wall_seconds"].tolist() == [0.3, 40.0]
    header = run.markdown_table(table).splitlines()[0]
    assert "2,900 transfers (shipped cohort)" in header and "967 transfers |" in header


def test_cell_times_are_read_from_papermill_metadata_and_kept_per_size(tmp_path):
    """The 1M run of 2026-12-03 could not be traced to its cells: the suite's folder was temporary."""
    import nbformat

    from benchmarks.stage import cell_seconds

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("x = 1\ny = 2"),
        nbformat.v4.new_code_cell("fit = model(x)  # slow"),
        nbformat.v4.new_code_cell("not executed"),
    ]
    nb.cells[1].metadata["papermill"] = {"duration": 0.25}
    nb.cells[2].metadata["papermill"] = {"duration": 12.5}
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "05_x.ipynb")
    cells = cell_seconds(tmp_path / "nb")
    assert cells == [
        {"notebook": "05_x", "cell": 0, "code": "x = 1", "seconds": 0.25},
        {"notebook": "05_x", "cell": 1, "code": "fit = model(x)  # slow", "seconds": 12.5},
    ]
    run._write_cells(cells, tmp_path, 1000000, 995889)
    table = pd.read_csv(tmp_path / "cells_1000000.csv")
    assert table["seconds"].sum() == 12.75 and set(table["n_transfers"]) == {995889}
