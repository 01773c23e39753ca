"""Configuration resolution and the command line's messages for bad input (never a traceback)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, SHIPPED

from analysis.core.exceptions import ConfigError
from analysis.run.cli import main
from analysis.run.config import default_config, parse_override, resolve_config
from analysis.run.runner import known_parameters, notebook_paths

KNOWN = set(known_parameters(notebook_paths()))


def test_defaults_resolve_and_overrides_apply(tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text("conf_level: 0.9\nprofile_cutoffs:\n  unk_cd56_high: 5.0\n")
    cfg = resolve_config(
        KNOWN, study, ["covariates=[age_at_biopsy_years, center_id]", "profile_cutoffs.unk_cd56_low=1.0"]
    )
    assert cfg["conf_level"] == 0.9
    assert cfg["covariates"] == ["age_at_biopsy_years", "center_id"]
    assert cfg["profile_cutoffs"]["unk_cd56_high"] == 5.0
    assert cfg["profile_cutoffs"]["unk_cd56_low"] == 1.0
    assert cfg["profile_cutoffs"]["il15_fn14_high"] == default_config()["profile_cutoffs"]["il15_fn14_high"]


def test_unknown_key_lists_known_names(tmp_path):
    with pytest.raises(ConfigError) as info:
        resolve_config(KNOWN, None, ["outcom=live_birth"])
    assert "outcom" in str(info.value) and "outcome" in str(info.value) and "covariates" in str(info.value)
    study = tmp_path / "study.yaml"
    study.write_text("sead: 1\n")
    with pytest.raises(ConfigError, match="sead"):
        resolve_config(KNOWN, study)


def test_override_values_are_yaml():
    assert parse_override("a=3") == ("a", 3)
    assert parse_override("a=[x, y]") == ("a", ["x", "y"])
    with pytest.raises(ConfigError):
        parse_override("novalue")


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def test_cli_missing_folder_is_a_clean_message(tmp_path):
    res = _cli("run", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run"))
    assert res.returncode == 2
    assert "data folder not found" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert not (tmp_path / "run").exists()


def test_cli_bad_config_key_is_a_clean_message(tmp_path):
    res = _cli("run", "--data", str(SHIPPED), "--out", str(tmp_path / "run"), "-p", "covariatez=[x]")
    assert res.returncode == 2
    assert "covariatez" in res.stderr and "Known parameters" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_cli_unreadable_file_is_a_clean_message(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(SHIPPED / "transfers.csv", data)
    (data / "patients.parquet").write_bytes(b"this is not parquet")
    res = _cli("validate", "--data", str(data))
    assert res.returncode == 2
    assert "cannot read" in res.stderr and "patients.parquet" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_invalid_data_lists_every_error_and_writes_nothing(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SHIPPED, data)
    text = (data / "patients.csv").read_text().replace(",rif,", ",ivf,", 3)
    (data / "patients.csv").write_text(text)
    res = _cli("run", "--data", str(data), "--out", str(tmp_path / "run"))
    assert res.returncode == 2
    assert "patients.indication (allowed_levels)" in res.stderr and "3 row(s)" in res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_cli_help_on_every_command():
    for cmd in ([], ["run"], ["synth"], ["validate"]):
        res = _cli(*cmd, "--help")
        assert res.returncode == 0 and "usage" in res.stdout.lower()


def test_synth_command_writes_contract_cohort(tmp_path, capsys):
    assert main(["synth", "--patients", "50", "--seed", "3", "--out", str(tmp_path)]) == 0
    # issue 17: the generator also writes the optional safety tables (births, adverse events)
    assert {p.name for p in tmp_path.iterdir()} == {
        "patients.csv",
        "transfers.csv",
        "truth.json",
        "births.csv",
        "adverse_events.csv",
    }
    assert main(["validate", "--data", str(tmp_path)]) == 0


def test_synth_writes_a_realistic_null_clinic_and_refuses_null_without_the_preset(tmp_path, capsys):
    assert (
        main(["synth", "--preset", "realistic", "--null", "--patients", "200", "--seed", "4", "--out", str(tmp_path)])
        == 0
    )
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["null"] is True and truth["generator"] == "analysis.data.clinic.simulate_clinic"
    assert truth["first_transfer"]["all"]["rd_personalized_vs_none"] == 0.0
    assert main(["validate", "--data", str(tmp_path)]) == 0
    assert main(["synth", "--null", "--patients", "20", "--out", str(tmp_path / "x")]) == 2
    assert "--null needs --preset realistic" in capsys.readouterr().err
