"""The package's layer rule, its import cycles and its picture, checked from the code.

The rule itself lives in ``pyproject.toml`` (import-linter contracts); these tests run it on the
package and on copies broken on purpose, so a check that could never fail would be noticed.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
sys.path.insert(0, str(REPO / "docs"))

import architecture_graph  # noqa: E402  (the docs script, imported by path)


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _copy_package(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "analysis", tmp_path / "analysis", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_package_keeps_its_layer_and_cycle_contracts():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_import_against_the_layer_rule_breaks_the_contract(tmp_path):
    root = _copy_package(tmp_path)
    with open(root / "analysis" / "data" / "therapy.py", "a", encoding="utf-8") as f:
        f.write("\nimport analysis.run.runner  # a data module reaching up into the runner\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "analysis.data is not allowed to import analysis.run" in result.stdout


def test_an_import_cycle_inside_a_layer_breaks_the_contract(tmp_path):
    root = _copy_package(tmp_path)
    # models.tidy imports models.logistic; the reverse import closes a cycle within one layer.
    with open(root / "analysis" / "models" / "logistic.py", "a", encoding="utf-8") as f:
        f.write("\nimport analysis.models.tidy  # closes a cycle\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "No cycles are allowed in analysis.models" in result.stdout


def _in_function_package_imports(path: Path) -> list[tuple[int, str]]:
    """Imports of ``analysis`` inside a function body that no comment explains."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("analysis"):
                names = (inner.module,)
            elif isinstance(inner, ast.Import):
                names = tuple(a.name for a in inner.names if a.name.startswith("analysis"))
            else:
                continue
            if not names:
                continue
            # A reason is a comment on the import line, or a comment block opening the function
            # body or sitting just above the function (the CLI explains its lazy imports once).
            window = lines[max(node.lineno - 6, 0) : inner.lineno]
            if not any("#" in line for line in window):
                found.append((inner.lineno, names[0]))
    return found


def test_no_unexplained_in_function_imports_of_the_package():
    offenders = {}
    for path in sorted((REPO / "analysis").rglob("*.py")):
        hits = _in_function_package_imports(path)
        if hits:
            offenders[str(path.relative_to(REPO))] = hits
    assert offenders == {}


def test_in_function_import_check_finds_an_unexplained_one(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from analysis.data import contract\n    return contract\n", encoding="utf-8")
    assert _in_function_package_imports(bad) == [(2, "analysis.data")]


def test_no_relative_imports_in_the_package():
    relative = [
        str(p.relative_to(REPO))
        for p in (REPO / "analysis").rglob("*.py")
        if any(
            isinstance(n, ast.ImportFrom) and n.level > 0 for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        )
    ]
    assert relative == []


def test_architecture_doc_shows_the_current_import_graph():
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert architecture_graph.generated_block() in text, (
        "docs/architecture.md is out of date: run `python docs/architecture_graph.py --write`"
    )


def test_every_layer_folder_is_in_the_contract_and_the_picture():
    folders = sorted(p.name for p in (REPO / "analysis").iterdir() if (p / "__init__.py").exists())
    assert folders == sorted(architecture_graph.LAYERS)
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    for layer in architecture_graph.LAYERS:
        assert f'"analysis.{layer}",' in pyproject


@pytest.mark.parametrize("target", ["analysis", "tests", "benchmarks", "docs"])
def test_ruff_finds_nothing(target):
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", target], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_notebook_without_models_does_not_load_statsmodels_or_pandera():
    """Every kernel paid about 1.5 s for statsmodels and SciPy's statistics because the output
    layer's ``analysis.models.schema`` ran ``analysis/models/__init__.py``, which imported every
    model, and about 0.5 s for pandera, which only validation of raw tables needs (the notebooks
    read the run's validated cohort); both are now loaded on first use."""
    code = (
        "import sys\n"
        "from analysis.study import s01_cohort\n"
        "from analysis.study.context import open_context\n"
        "assert 'statsmodels' not in sys.modules, 'statsmodels loaded'\n"
        "assert 'pandera' not in sys.modules, 'pandera loaded'\n"
        "from analysis.models import fit_logit\n"
        "assert 'statsmodels' in sys.modules and callable(fit_logit)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
