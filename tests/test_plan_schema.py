"""The typed analysis plan: one schema for every parameter, checked against the notebooks and the
default config, and applied by the runner to the resolved plan and the cohort before any kernel
starts."""

from __future__ import annotations

import pytest
from conftest import SHIPPED

from analysis.core.exceptions import ConfigError
from analysis.run.cli import main
from analysis.run.config import (
    AnalysisPlan,
    check_plan,
    default_config,
    plan_parameters,
    plan_schema_problems,
)
from analysis.run.plan_check import plan_cohort_problems
from analysis.run.runner import declared_parameters, notebook_paths, run_suite


def test_schema_defaults_equal_the_default_config_and_every_notebook_default():
    """Every notebook parameter is in the schema with the same default, and the schema's defaults
    are the package's default plan: catches a parameter added to a notebook or to
    default_config.yaml without a declared type, range and meaning."""
    schema = AnalysisPlan().model_dump(mode="json")
    assert schema == default_config()
    runner_set = {"data_dir", "run_dir", "cohort_file"}
    for path in notebook_paths():
        for name, info in declared_parameters(path).items():
            if name in runner_set:
                continue
            assert name in AnalysisPlan.model_fields, f"{path.name}: {name} has no entry in AnalysisPlan"
            assert eval(info["default"]) == schema[name], f"{path.name}: default of {name} differs from the schema"
    assert plan_schema_problems(default_config()) == []
    assert all(row["meaning"] for row in plan_parameters()), "every parameter states its meaning"


def _out_must_not_exist(out):
    assert not out.exists()
    assert not out.with_name(out.name + ".partial").exists(), "a run folder was started"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("covariates=[agee_at_biopsy_years, center_id]", ["agee_at_biopsy_years", "age_at_biopsy_years", "bmi_kg_m2"]),
        ("covariates=age_at_biopsy_years", ["covariates", "valid list"]),
        ("conf_level=95", ["conf_level", "less than 1", "0.95, not 95"]),
        ("estimand=ATX", ["estimand", "'ATE', 'ATT' or 'ATO'"]),
        ("n_imputations=1", ["n_imputations", '"auto" or at least 2']),
        ("n_imputations=many", ["n_imputations", "'auto'"]),
        ("n_iterations=0", ["n_iterations", '"auto" or at least 1']),
        ("n_iterations=often", ["n_iterations", "'auto'"]),
    ],
)
def test_bad_parameter_is_rejected_before_any_notebook_starts(small_cohort_dir, tmp_path, override, expected):
    """A misspelt covariate, a string for a list, a percentage for a level and an unknown estimand
    are rejected by the runner before a kernel starts (no run folder, no notebooks/), with the
    valid names or range in the message. The old runner only checked parameter names, so each of
    these started the notebooks and failed inside one (or silently ran a 95-level interval)."""
    out = tmp_path / "run"
    with pytest.raises(ConfigError) as err:
        run_suite(small_cohort_dir, out, overrides=[override], quiet=True)
    _out_must_not_exist(out)
    for piece in expected:
        assert piece in str(err.value)


def test_every_problem_is_listed_at_once():
    """Four problems give one error with four lines, not the first one only."""
    config = {**default_config(), "conf_level": 95, "estimand": "ATX", "covariates": "age", "n_jobs": 0}
    with pytest.raises(ConfigError) as err:
        check_plan(config)
    text = str(err.value)
    assert "4 problem(s)" in text
    for key in ("conf_level", "estimand", "covariates", "n_jobs"):
        assert f"\n  - {key}:" in text


@pytest.fixture(scope="module")
def shipped_cohort():
    from analysis.data.cohort import load_cohort

    return load_cohort(SHIPPED)


def test_plan_is_checked_against_the_cohort(shipped_cohort):
    """A covariate the contract knows but this cohort lacks (an optional column left out), a
    constant covariate and an arm absent from the cohort are named, with what the cohort has:
    the schema alone cannot see these (catches a check on names only)."""
    cohort = shipped_cohort
    transfers = cohort.transfers.drop(columns="amh_ng_ml").assign(
        center_id="C1",
        treatment_arm=cohort.transfers["treatment_arm"].where(cohort.transfers["treatment_arm"] != "empirical", "none"),
    )
    lean = type(cohort)(cohort.patients, transfers, cohort.flow, cohort.problems, cohort.outcome)
    config = {**default_config(), "covariates": ["amh_ng_ml", "center_id"], "reference_arm": "empirical"}
    assert plan_schema_problems(config) == []
    problems = plan_cohort_problems(config, lean)
    text = "\n".join(problems)
    assert "'amh_ng_ml' is not a column of this cohort" in text and "age_at_biopsy_years" in text
    assert "covariates: 'center_id' has one value only" in text
    assert "reference_arm: 'empirical' does not occur in this cohort; arms present: none, personalized" in text
    assert plan_cohort_problems(default_config(), cohort) == []


def test_sensitivity_level_unknown_to_the_contract_is_named(shipped_cohort):
    """An exclusion naming a level no clinic can have (a typo) would silently exclude nobody."""
    config = default_config()
    config["sensitivity_analyses"] = {"no_donor": {"exclude": {"oocyte_source": ["doner"]}}}
    problems = plan_cohort_problems(config, shipped_cohort)
    assert any("unknown level(s) ['doner']" in p and "autologous" in p for p in problems)


def test_params_command_prints_every_parameter_with_type_default_and_meaning(capsys):
    assert main(["params"]) == 0
    text = capsys.readouterr().out
    for name in AnalysisPlan.model_fields:
        assert f"\n  {name}: " in text
    assert "conf_level: float, > 0, < 1" in text
    assert "estimand: 'ATE' | 'ATT'" in text


def test_command_line_rejects_a_bad_plan_before_loading_the_runner(tmp_path):
    """``python -m analysis run`` checks the plan before it imports the runner and its notebook
    stack (papermill, the models): the process never loads them, so the answer comes in about a
    second of CPU time, and no run folder appears."""
    import subprocess
    import sys

    out = tmp_path / "run"
    code = (
        "import sys\n"
        "from analysis.run.cli import main\n"
        f"rc = main(['run', '--data', {str(SHIPPED)!r}, '--out', {str(out)!r}, '-p', 'estimand=ATX'])\n"
        "assert 'papermill' not in sys.modules and 'analysis.run.runner' not in sys.modules, 'runner loaded'\n"
        "sys.exit(rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(SHIPPED.parents[1]))
    assert res.returncode == 2, res.stderr
    assert "estimand: Input should be 'ATE', 'ATT' or 'ATO'" in res.stderr
    _out_must_not_exist(out)
