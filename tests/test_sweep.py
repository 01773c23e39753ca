"""Parameter sweeps: a grid on a local Dask cluster, a failing run that does not stop the others,
resuming without rerunning finished runs, and the combined estimates with parameter columns."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from analysis.core.exceptions import ConfigError
from analysis.run.sweep import plan_sweep, read_sweep, run_sweep


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory):
    from analysis.data.synthetic import simulate_cohort, write_cohort

    out = tmp_path_factory.mktemp("tiny")
    write_cohort(simulate_cohort(200, seed=3), out)
    return out


def _sweep_file(tmp_path, cohort, **extra):
    spec = {
        "data": str(cohort),
        "notebooks": ["03_outcomes_logistic"],
        "base": {"conf_level": 0.9},
        "sets": {"main": {}, "broken": {"reference_arm": "no_such_arm"}},
        "grid": {"outcome": ["live_birth", "clinical_pregnancy"]},
        **extra,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_plan_is_the_product_in_a_stable_order(tmp_path, tiny_cohort):
    runs = plan_sweep(read_sweep(_sweep_file(tmp_path, tiny_cohort)))
    assert [r.slug for r in runs] == [
        "001_main_outcome-live_birth",
        "002_main_outcome-clinical_pregnancy",
        "003_broken_outcome-live_birth",
        "004_broken_outcome-clinical_pregnancy",
    ]
    assert runs[2].parameters == {"conf_level": 0.9, "reference_arm": "no_such_arm", "outcome": "live_birth"}


def test_bad_sweep_file_lists_every_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"grid": {"outcome": "live_birth"}, "notebooks": ["99_nope"], "colour": 1}))
    with pytest.raises(ConfigError) as err:
        read_sweep(path)
    for piece in ["unknown key", "'data'", "grid.outcome", "99_nope"]:
        assert piece in str(err.value)


# a Dask LocalCluster start-up: on demand (`make test-slow`) to keep the default run under 10 minutes
@pytest.mark.slow
def test_sweep_on_local_dask_cluster_survives_a_failure_and_resumes(tmp_path, tiny_cohort):
    from distributed import Client, LocalCluster

    sweep = _sweep_file(tmp_path, tiny_cohort)
    out = tmp_path / "sweep_out"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        status = run_sweep(sweep, out, scheduler=client, quiet=True)
    assert list(status["status"]) == ["ok", "ok", "failed", "failed"]
    assert "no_such_arm" in status.loc[2, "message"]
    combined = pd.read_csv(out / "estimates.csv")
    assert set(combined["run"]) == {"001_main_outcome-live_birth", "002_main_outcome-clinical_pregnancy"}
    assert {"param_outcome", "param_conf_level", "param_reference_arm"} <= set(combined.columns)
    lb = combined[combined["run"] == "001_main_outcome-live_birth"]
    assert set(lb["param_outcome"]) == {"live_birth"} and (lb["param_conf_level"] == 0.9).all()
    # the run's own estimates are carried over unchanged
    own = pd.read_csv(out / "runs" / "001_main_outcome-live_birth" / "tables" / "estimates.csv")
    assert len(own) == len(lb)
    # resume: finished runs are skipped (their manifests untouched), failed ones are tried again
    manifest = out / "runs" / "001_main_outcome-live_birth" / "manifest.json"
    before = json.loads(manifest.read_text())["finished"]
    again = run_sweep(sweep, out, jobs=1, quiet=True)
    assert json.loads(manifest.read_text())["finished"] == before
    assert again.loc[0, "message"] == "finished earlier; skipped"
    assert list(again["status"]) == ["ok", "ok", "failed", "failed"]
