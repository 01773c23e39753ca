"""Model design: which columns are categorical, how covariates become design columns, and how
terms are named.

The one owner of the rule every model family of the suite (logistic, GEE, Cox, propensity, the
outcome models of AIPW and multiple imputation) follows: a column is categorical when the data
contract says so (:data:`analysis.data.contract.CATEGORICALS`) or when it holds strings,
booleans or a pandas Categorical; it is dummy-coded against its reference level (the contract's,
else the first observed level in sorted order); the dummy of level ``x`` of column ``c`` is
named ``c[x]`` in the results contract (``treatment_arm[personalized]``).

Two routes give a design:

- :func:`covariate_design` codes a list of covariates directly (numpy) and returns the plain
  term names with it; no model term string is parsed.
- :func:`formula` and :func:`design_matrix` build a patsy formula and its design, for models
  fitted from a formula (with interactions, or predicted on new data);
  :func:`plain_term_name` renames patsy's parameter names to the plain form.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import patsy

from analysis.core.exceptions import ModelError
from analysis.data.contract import CATEGORICALS

__all__ = [
    "CATEGORICAL",
    "complete_rows",
    "covariate_design",
    "design_matrix",
    "error_prefix",
    "formula",
    "formula_variables",
    "is_categorical",
    "model_frame",
    "plain_term_name",
    "reference_level",
    "term",
    "with_categorical_dtype",
]

#: Columns that enter models as categorical, with their reference level (None: the first
#: observed level in sorted order); from the data contract.
CATEGORICAL: dict[str, str | None] = {name: c.reference for name, c in CATEGORICALS.items()}


# --------------------------------------------------------------------------------------------
# which columns are categorical, and their reference levels
# --------------------------------------------------------------------------------------------


def is_categorical(column: str, data: pd.DataFrame | None = None) -> bool:
    """Return whether a column enters models as categorical (dummy-coded against a reference).

    Columns named in :data:`CATEGORICAL` always do; others when ``data`` holds them as a
    categorical, string, object or boolean column.
    """
    if column in CATEGORICAL:
        return True
    if data is None or column not in data:
        return False
    values = data[column]
    return (
        isinstance(values.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(values)
        or pd.api.types.is_bool_dtype(values)
        or values.dtype == object
    )


def reference_level(column: str, data: pd.DataFrame | None = None, reference: str | None = None) -> str | None:
    """Return the reference level of a categorical column.

    ``reference`` when given, else the data contract's (:data:`CATEGORICAL`), else the first
    level in sorted order present in ``data`` (None when there is none).
    """
    ref = reference or CATEGORICAL.get(column)
    if ref is None and data is not None and column in data:
        levels = sorted(pd.Series(data[column]).dropna().astype(str).unique())
        ref = levels[0] if levels else None
    return ref


def model_frame(data: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return the complete cases of ``columns`` with categoricals as plain strings (for patsy)."""
    cols = list(dict.fromkeys(columns))
    out = data[cols].dropna().copy()
    for c in cols:
        if isinstance(out[c].dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].astype(str)
        elif str(out[c].dtype) in ("Int64", "Float64"):
            out[c] = out[c].astype(float)
        elif str(out[c].dtype) == "boolean":
            out[c] = out[c].astype(int)
    return out


# --------------------------------------------------------------------------------------------
# direct design of a list of covariates, with plain term names
# --------------------------------------------------------------------------------------------


def covariate_design(
    data: pd.DataFrame,
    covariates: Sequence[str],
    *,
    references: Mapping[str, str] | None = None,
    intercept: bool = True,
    levels: Mapping[str, Sequence[str]] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Return the design matrix of main effects of ``covariates`` and its plain term names.

    A numeric covariate gives one column, named as the covariate. A categorical one (see
    :func:`is_categorical`) gives one 0/1 column per level other than its reference, in sorted
    order of the levels (as text), named ``covariate[level]``; the reference is
    ``references[covariate]``, else :func:`reference_level`, and the first level when that is
    not among the levels. With an intercept, the columns are those of patsy's
    ``1 + C(covariate, Treatment(reference)) + …`` in the same order.

    Parameters
    ----------
    data : DataFrame
        Complete rows (see :func:`model_frame`); not modified.
    covariates : sequence of str
        Columns, in design order.
    references : mapping of str to str, optional
        Reference level per categorical covariate, overriding the contract's.
    intercept : bool
        Put a first column of ones, named ``(Intercept)``.
    levels : mapping of str to sequence of str, optional
        Levels per categorical covariate, in place of the observed ones (e.g. only the arms a
        caller keeps, in its own order).

    Returns
    -------
    (ndarray, list of str)
        The design (n, p) and the p term names.
    """
    references = references or {}
    levels = levels or {}
    columns: list[np.ndarray] = [np.ones(len(data))] if intercept else []
    names: list[str] = ["(Intercept)"] if intercept else []
    for col in covariates:
        values = data[col]
        if not is_categorical(col, data):
            columns.append(values.to_numpy(dtype=float))
            names.append(col)
            continue
        text = values.astype(str)
        present = list(levels[col]) if col in levels else sorted(text.unique())
        ref = reference_level(col, data, references.get(col))
        ref = ref if ref in present else present[0]
        for level in present:
            if level != ref:
                columns.append((text == level).to_numpy(dtype=float))
                names.append(f"{col}[{level}]")
    x = np.column_stack(columns) if columns else np.empty((len(data), 0))
    return x, names


# --------------------------------------------------------------------------------------------
# patsy formulas
# --------------------------------------------------------------------------------------------


def term(column: str, data: pd.DataFrame | None = None, reference: str | None = None) -> str:
    """Return the formula term for a column: ``C(col, Treatment(reference=…))`` for categoricals.

    Which columns are categorical and their reference levels follow :func:`is_categorical` and
    :func:`reference_level`, the rule every model of the suite shares.
    """
    if not is_categorical(column, data):
        return column
    ref = reference_level(column, data, reference)
    return f"C({column}, Treatment(reference={ref!r}))" if ref is not None else f"C({column})"


def covariate_terms(covariates: Sequence[str], data: pd.DataFrame | None = None) -> str:
    """Return the right-hand side ``term + term + …`` of main effects (``1`` when empty)."""
    return " + ".join(term(c, data) for c in covariates) or "1"


def formula(
    outcome: str, exposures: list[str], covariates: list[str], data: pd.DataFrame, references: dict | None = None
) -> str:
    """Build a patsy formula ``outcome ~ exposures + covariates`` with categorical references.

    Exposures may contain interactions written ``a:b`` or ``a*b`` of column names.
    """
    references = references or {}

    def expand(expr: str) -> str:
        for op in ("*", ":"):
            if op in expr:
                return op.join(term(p.strip(), data, references.get(p.strip())) for p in expr.split(op))
        return term(expr, data, references.get(expr))

    rhs = [expand(e) for e in exposures] + [term(c, data, references.get(c)) for c in covariates if c not in exposures]
    return f"{outcome} ~ " + " + ".join(rhs) if rhs else f"{outcome} ~ 1"


def error_prefix(model_id: str | None) -> str:
    """Return the prefix ``"<model_id>: "`` of a model's error messages (empty without an id)."""
    return f"{model_id}: " if model_id else ""


def _names_in_code(code: str, columns: pd.Index) -> tuple[list[str], list[str]]:
    """Return (columns referenced, columns wrapped in ``C()``) by one patsy factor's code."""
    tree = ast.parse(code, mode="eval")
    found: list[str] = []
    categorical: list[str] = []

    def column_of(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name) and node.id in columns:
            return node.id
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "Q"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in columns
        ):
            return node.args[0].value
        return None

    for node in ast.walk(tree):
        name = column_of(node)
        if name is not None:
            found.append(name)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "C" and node.args:
            inner = column_of(node.args[0])
            if inner is not None:
                categorical.append(inner)
    return found, categorical


def formula_variables(formula: str, data: pd.DataFrame) -> dict[str, list[str]]:
    """Return the data columns a patsy formula refers to.

    Parameters
    ----------
    formula : str
        A patsy formula such as ``"live_birth ~ C(treatment_arm, Treatment('none')) + age"``.
    data : DataFrame
        The data the formula will be evaluated on.

    Returns
    -------
    dict
        ``outcome``: columns on the left-hand side; ``covariates``: columns on the right-hand
        side; ``categorical``: right-hand-side columns treated as categorical (wrapped in
        ``C()`` or of a non-numeric dtype). Each list keeps formula order without duplicates.
    """
    desc = patsy.ModelDesc.from_formula(formula)

    def collect(terms):
        names: list[str] = []
        cats: list[str] = []
        for term in terms:
            for factor in term.factors:
                found, cat = _names_in_code(factor.code, data.columns)
                names.extend(found)
                cats.extend(cat)
        return list(dict.fromkeys(names)), list(dict.fromkeys(cats))

    lhs, _ = collect(desc.lhs_termlist)
    rhs, cats = collect(desc.rhs_termlist)
    non_numeric = [c for c in rhs if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c])]
    categorical = list(dict.fromkeys(cats + non_numeric))
    return {"outcome": lhs, "covariates": rhs, "categorical": categorical}


def complete_rows(data: pd.DataFrame, columns: Sequence[str], *, model_id: str | None = None) -> pd.DataFrame:
    """Return the rows of ``data`` with no missing value in ``columns`` (a view, not a copy).

    Raises
    ------
    ModelError
        If no row is complete.
    """
    columns = list(dict.fromkeys(columns))
    mask = data[columns].notna().all(axis=1).to_numpy()
    if not mask.any():
        raise ModelError(
            f"{error_prefix(model_id)}no rows left after dropping missing values of "
            f"{', '.join(columns)} ({len(data)} rows before); the model cannot be fitted"
        )
    return data.loc[mask]


def with_categorical_dtype(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return ``frame`` with the given complete columns as pandas Categoricals of their levels.

    Patsy codes an object column by testing every value in Python; a Categorical it codes
    from its integer codes, so building a design is linear in numpy rather than in the
    interpreter. The categories are the observed values, sorted, exactly the levels patsy
    infers from an object, numeric or boolean column, so the design columns, their order and
    the reference level do not change. Columns already Categorical are left as they are.
    """
    convert = [
        c
        for c in columns
        if c in frame.columns and not isinstance(frame[c].dtype, pd.CategoricalDtype) and frame[c].notna().all()
    ]
    if not convert:
        return frame
    out = frame.copy()
    for c in convert:
        values = out[c].to_numpy()
        if values.dtype == object and not all(isinstance(v, str) for v in pd.unique(values)):
            continue  # mixed types: leave patsy's own sorting in charge
        out[c] = pd.Categorical(values)
    return out


def _categorical_term(data, contrast=None, levels=None):
    """Patsy's ``C()``, without its per-value loop for a pandas Categorical with no levels given.

    ``C(x, Treatment(ref))`` wraps its data in a box that patsy then codes value by value in
    Python, even when ``x`` is already a Categorical. For a Categorical (see
    :func:`with_categorical_dtype`) with the default or a treatment contrast, the same design
    follows from the Categorical with the reference category moved first and patsy's default
    treatment coding, which patsy codes from the integer codes. Anything else goes to
    ``patsy.builtins.C`` unchanged.
    """
    if levels is None and isinstance(getattr(data, "dtype", None), pd.CategoricalDtype):
        reference = getattr(contrast, "reference", None)
        if contrast is None or (isinstance(contrast, patsy.Treatment) and reference is None):
            return data
        categories = list(data.dtype.categories)
        if isinstance(contrast, patsy.Treatment) and reference in categories:
            order = [reference] + [c for c in categories if c != reference]
            return pd.Series(data).cat.reorder_categories(order)
    return patsy.builtins.C(data, contrast, levels)


def design_matrix(formula_rhs: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return the patsy design (a DataFrame with ``design_info``) of a right-hand side.

    Categorical terms of Categorical columns are coded from their integer codes (see
    :func:`_categorical_term`); column names, order and reference levels are patsy's own.
    """
    env = patsy.EvalEnvironment.capture(1).with_outer_namespace({"C": _categorical_term})
    return patsy.dmatrix(formula_rhs, frame, return_type="dataframe", NA_action="raise", eval_env=env)


# --------------------------------------------------------------------------------------------
# plain term names of patsy, formulaic and lifelines parameters
# --------------------------------------------------------------------------------------------


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` where it is outside brackets, parentheses and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _variable_name(factor: str) -> str:
    """Return the column named by a patsy/formulaic factor such as ``C(x, Treatment('a'))``."""
    factor = factor.strip()
    if factor.startswith("C(") and factor.endswith(")"):
        factor = _split_top_level(factor[2:-1], ",")[0].strip()
    if factor.startswith("Q(") and factor.endswith(")"):
        inner = factor[2:-1].strip()
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            factor = inner[1:-1]
    return factor


def _plain_factor(part: str) -> str:
    part = part.strip()
    if part.endswith("]"):
        depth = 0
        for i in range(len(part) - 1, -1, -1):
            if part[i] == "]":
                depth += 1
            elif part[i] == "[":
                depth -= 1
                if depth == 0:
                    factor, level = part[:i], part[i + 1 : -1]
                    for prefix in ("T.", "S.", "D.", "H."):
                        if level.startswith(prefix):
                            level = level[len(prefix) :]
                            break
                    return f"{_variable_name(factor)}[{level}]"
    return part


def plain_term_name(name: str) -> str:
    """Return a model term name in the plain form of the results contract.

    ``Intercept`` becomes ``(Intercept)``; a level of a categorical covariate becomes
    ``variable[level]`` whatever the coding wrapper (patsy's
    ``C(treatment_arm, Treatment(reference='none'))[T.personalized]`` and
    ``treatment_arm[T.personalized]`` both give ``treatment_arm[personalized]``); interactions
    are renamed part by part (``a[T.x]:b[T.y]`` gives ``a[x]:b[y]``); numeric terms are
    unchanged.

    Parameters
    ----------
    name : str
        Raw parameter name of a statsmodels, formulaic or lifelines model.

    Returns
    -------
    str

    Examples
    --------
    >>> plain_term_name("C(treatment_arm, Treatment(reference='none'))[T.personalized]")
    'treatment_arm[personalized]'
    >>> plain_term_name("treatment_arm[T.empirical]:profile_group[T.dysregulated]")
    'treatment_arm[empirical]:profile_group[dysregulated]'
    >>> plain_term_name("Intercept")
    '(Intercept)'
    """
    name = str(name)
    if name in ("Intercept", "(Intercept)", "const"):
        return "(Intercept)"
    return ":".join(_plain_factor(p) for p in _split_top_level(name, ":"))
