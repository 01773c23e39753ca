"""Project hygiene: pinned environments agree, notebooks carry no outputs and their parameters
match the default analysis plan, the data dictionary is in step with the contract."""

from __future__ import annotations

import ast
import json
import re
import tomllib

import pytest
import yaml
from conftest import REPO

from analysis.run.config import RUNNER_PARAMETERS, default_config
from analysis.run.runner import declared_parameters, notebook_paths


def _pins_pyproject():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(re.match(r"([A-Za-z0-9_.-]+)==([^;\s]+)", d).groups() for d in deps)


def test_environment_yml_names_the_same_packages_and_versions():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = dict(
        d.split("=", 1)
        for d in env["dependencies"]
        if isinstance(d, str) and not d.startswith("python=") and d != "pip"
    )
    # packages conda-forge does not carry come from pip, in the pip subsection, pinned the same way
    pip_section = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    conda.update(dict(p.split("==", 1) for section in pip_section for p in section))
    pip = {k.lower(): v for k, v in _pins_pyproject().items()}
    assert {k.lower(): v for k, v in conda.items()} == pip


def test_notebooks_are_committed_without_outputs():
    for path in notebook_paths():
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{path.name} has outputs"
                assert cell.get("execution_count") is None, f"{path.name} has execution counts"


def test_notebooks_have_a_tagged_parameters_cell_and_define_no_functions():
    for path in notebook_paths():
        nb = json.loads(path.read_text())
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, path.name
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            assert not re.search(r"^\s*(def|class) ", src, re.M), f"{path.name} defines a function or class"


#: Syntax a notebook leaves to :mod:`analysis.study`: loops, conditionals, functions, classes, comprehensions.
CONTROL_FLOW = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.If,
    ast.IfExp,
    ast.Lambda,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.Try,
    ast.Match,
)


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebooks_hold_no_loops_conditionals_functions_or_comprehensions(path):
    """A notebook is parameters, a context line, calls into ``analysis.study`` and what they show."""
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]), filename=f"{path.name} cell {i}")
        found = sorted({type(node).__name__ for node in ast.walk(tree) if isinstance(node, CONTROL_FLOW)})
        assert not found, f"{path.name}, cell {i}: {', '.join(found)}"


def test_notebook_defaults_equal_the_default_analysis_plan():
    defaults = default_config()
    seen = set()
    for path in notebook_paths():
        for name, info in declared_parameters(path).items():
            if name in RUNNER_PARAMETERS:
                continue
            seen.add(name)
            assert name in defaults, f"{path.name} declares {name}, missing from default_config.yaml"
            assert eval(info["default"]) == defaults[name], f"{path.name}: default of {name} differs"
    assert set(defaults) == seen, "every default must be a parameter some notebook declares"


def test_data_dictionary_is_in_step_with_the_contract():
    from analysis.data.contract import data_dictionary_markdown

    text = (REPO / "docs" / "data_dictionary.md").read_text()
    assert data_dictionary_markdown() in text


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
