"""The benchmark harness works on a tiny cohort (timings are reported by `make bench`, never asserted)."""

import pandas as pd

from benchmarks import run


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
