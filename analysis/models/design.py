"""Model design: which columns are categorical, how covariates become design columns, and how
terms are named.

The one owner of the rule every model family of the suite (logistic, GEE, Cox, propensity, the
outcome models of AIPW and multiple imputation) follows: a column is categorical when the data
contract says so (:data:`analysis.data.contract.CATEGORICALS`) or when it holds strings,
booleans or a pandas Categorical; it is dummy-coded against its reference level (the contract's,
else the first observed level in sorted order); the dummy of level ``x`` of column ``c`` is
named ``c[x]`` in the results contract (``treatment_arm[personalized]``).

Three routes give a design:

- :func:`covariate_design` codes a list of covariates directly (numpy) and returns the plain
  term names with it; no model term string is parsed.
- :func:`coded_design` codes a model specification (exposures, interactions written ``a*b``
  or ``a:b``, covariates, references) from categorical integer codes, with exactly the
  columns, order and names patsy gives its formula; the logistic models of the notebooks are
  fitted from it.
- :func:`formula` and :func:`design_matrix` build a patsy formula and its design, for models
  fitted from a formula (with interactions, or predicted on new data);
  :func:`plain_column_names` names its columns in the plain form from the design's structure
  (terms, factors, contrast matrices), so no model's parameter string is ever parsed back.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from analysis.core.exceptions import ModelError
from analysis.data.contract import CATEGORICALS

__all__ = [
    "CATEGORICAL",
    "CodedDesign",
    "coded_design",
    "complete_rows",
    "covariate_design",
    "covariate_sources",
    "stratum_term",
    "design_matrix",
    "error_prefix",
    "formula",
    "formula_variables",
    "is_categorical",
    "model_frame",
    "named_design",
    "design_of_rows",
    "interaction_term",
    "level_term",
    "plain_column_names",
    "plain_column_terms",
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
    coded = list(_covariate_columns(data, covariates, references or {}, levels or {}, intercept))
    x = np.column_stack([c for c, _, _ in coded]) if coded else np.empty((len(data), 0))
    return x, [name for _, name, _ in coded]


def covariate_sources(
    data: pd.DataFrame,
    covariates: Sequence[str],
    *,
    references: Mapping[str, str] | None = None,
    intercept: bool = True,
    levels: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, str]:
    """Return the covariate each column of :func:`covariate_design` comes from, by column name.

    A categorical covariate's dummy columns all map to it (``center_id[B]`` → ``center_id``),
    so they can be tested jointly; a numeric covariate maps to itself; the intercept to
    ``(Intercept)``. Arguments are those of :func:`covariate_design`.
    """
    coded = _covariate_columns(data, covariates, references or {}, levels or {}, intercept)
    return {name: source for _, name, source in coded}


def _covariate_columns(data, covariates, references, levels, intercept):
    """Yield (values, plain name, source covariate) for each design column, in design order."""
    if intercept:
        yield np.ones(len(data)), "(Intercept)", "(Intercept)"
    for col in covariates:
        values = data[col]
        if not is_categorical(col, data):
            yield values.to_numpy(dtype=float), col, col
            continue
        text = values.astype(str)
        present = list(levels[col]) if col in levels else sorted(text.unique())
        ref = reference_level(col, data, references.get(col))
        ref = ref if ref in present else present[0]
        for level in present:
            if level != ref:
                yield (text == level).to_numpy(dtype=float), level_term(col, level), col


# --------------------------------------------------------------------------------------------
# direct design of a model specification (main effects and interactions), as patsy codes it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodedDesign:
    """The design of a model specification, coded from numeric columns and categorical codes.

    Attributes
    ----------
    matrix : ndarray
        Design (n, p) of the complete rows, intercept first.
    names : list of str
        Plain column names of the results contract (``treatment_arm[personalized]``,
        ``a[x]:b[y]``), in patsy's column order.
    rows : ndarray
        Boolean mask of the complete rows of the data (no missing value in any column used).
    outcome : ndarray
        The outcome column on the complete rows, as float.
    codes : dict
        Per categorical column, ``(codes, levels)``: integer codes (n,) into ``levels``, the
        observed levels as text in sorted order.
    numeric : dict
        Per numeric column, its values (n,) as float.
    references : dict
        The reference level of each categorical column.
    """

    matrix: np.ndarray
    names: list[str]
    rows: np.ndarray
    outcome: np.ndarray
    codes: dict[str, tuple[np.ndarray, list[str]]]
    numeric: dict[str, np.ndarray]
    references: dict[str, str]


def _spec_terms(exposures: Sequence[str], covariates: Sequence[str]) -> list[tuple[str, ...]]:
    """Return the terms of :func:`formula`'s right-hand side as tuples of columns, as patsy reads them.

    ``a*b`` gives ``a``, ``b`` and ``a:b``; ``a:b`` the interaction alone; a term repeated (as a
    set of columns) is kept once, at its first place.
    """
    raw: list[tuple[str, ...]] = []
    for e in exposures:
        if "*" in e:
            parts = tuple(p.strip() for p in e.split("*"))
            for k in range(1, len(parts) + 1):  # patsy: a*b*c = a + b + c + a:b + a:c + b:c + a:b:c
                raw += list(itertools.combinations(parts, k))
        elif ":" in e:
            raw.append(tuple(p.strip() for p in e.split(":")))
        else:
            raw.append((e,))
    raw += [(c,) for c in covariates if c not in exposures]
    seen: set[frozenset] = set()
    terms = []
    for t in raw:
        if frozenset(t) not in seen:
            seen.add(frozenset(t))
            terms.append(t)
    return terms


def _text_codes(values: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    """Return (codes, levels) of a text or Categorical column, -1 where missing, or None.

    A Categorical gives its own integer codes and categories; a text column is factorised
    once (which also finds its missing values). None when the levels are not all text
    (booleans, numbers, mixed objects): those keep patsy's own coding (see
    :func:`coded_design`).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, levels = np.asarray(values.cat.codes), list(values.cat.categories)
    elif pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        codes, uniques = pd.factorize(values)
        levels = list(uniques)
    else:
        return None
    if not all(type(level) is str for level in levels):
        return None
    return codes, levels


def _observed_sorted(codes: np.ndarray, levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Return codes into the observed levels in sorted (text) order, and those levels."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(levels)))
    order = sorted(present, key=levels.__getitem__)
    remap = np.empty(len(levels), dtype=np.intp)
    remap[order] = np.arange(len(order))
    return remap[codes], [levels[i] for i in order]


def coded_design(
    data: pd.DataFrame,
    outcome: str,
    exposures: Sequence[str],
    covariates: Sequence[str],
    references: Mapping[str, str] | None = None,
) -> CodedDesign | None:
    """Return the design of ``outcome ~ exposures + covariates`` coded without patsy, or None.

    The columns, their order, names and values are those of :func:`design_matrix` on
    :func:`formula`'s right-hand side over :func:`model_frame`'s complete rows, renamed by
    :func:`plain_column_names`: an intercept; each categorical column (see
    :func:`is_categorical`) treatment-coded against its reference (``references``, else
    :func:`reference_level`) with one 0/1 column per other observed level in sorted order; an
    interaction as the products of its factors' columns, the left-most factor varying fastest.
    Terms follow patsy's order: terms without a numeric factor first, then the terms of each
    set of numeric factors in order of first appearance, each group by degree.

    A categorical column is coded once, from its integer codes (a Categorical's own codes, or
    one factorisation of a text column); no value goes through a string or a formula.

    Returns None, for :func:`design_matrix` to decide, when the specification is outside what
    this coder reproduces exactly: a categorical column whose values are not text (booleans,
    numbers), a nullable boolean column, a reference level absent from the rows, a variable
    with one observed level, or an interaction whose lower-order terms are not all in the model
    (patsy then codes some factors at full rank).
    """
    references = references or {}
    terms = _spec_terms(exposures, covariates)
    columns = list(dict.fromkeys([outcome] + [c for t in terms for c in t]))
    series = {c: data[c] for c in columns}
    text: dict[str, tuple[np.ndarray, list[str]]] = {}
    rows = np.ones(len(data), dtype=bool)
    for col, values in series.items():
        if col != outcome and (str(values.dtype) == "boolean" or pd.api.types.is_bool_dtype(values.dtype)):
            return None
        if col != outcome and is_categorical(col, data):
            coded = _text_codes(values)
            if coded is None:
                return None
            text[col] = coded
            rows &= coded[0] >= 0
        else:
            rows &= np.asarray(values.notna())
    n = int(rows.sum())
    if n == 0:
        return None
    codes: dict[str, tuple[np.ndarray, list[str]]] = {}
    numeric: dict[str, np.ndarray] = {}
    used_references: dict[str, str] = {}
    factor_columns: dict[str, list[tuple[str, np.ndarray]]] = {}
    for col in columns[1:]:
        values = series[col]
        if col in text:
            coded = _observed_sorted(text[col][0][rows], text[col][1])
            c, levels = coded
            ref = references.get(col) or CATEGORICAL.get(col) or levels[0]
            if ref not in levels or len(levels) < 2:
                return None
            codes[col], used_references[col] = coded, ref
            indicators = np.equal.outer(c, np.arange(len(levels))).astype(float)
            factor_columns[col] = [(level_term(col, lv), indicators[:, j]) for j, lv in enumerate(levels) if lv != ref]
        else:
            if not pd.api.types.is_numeric_dtype(values.dtype):
                return None
            numeric[col] = values.to_numpy(dtype=float, na_value=np.nan)[rows]
            factor_columns[col] = [(col, numeric[col])]
    # patsy's order: buckets by the set of numeric factors (the all-categorical bucket first),
    # each by degree; within a bucket a term must find every lower-order categorical subterm
    # already used, else patsy would code it at full rank (left to patsy here)
    buckets: dict[frozenset, list[tuple[str, ...]]] = {frozenset(): [()]}
    for t in terms:
        buckets.setdefault(frozenset(c for c in t if c in numeric), []).append(t)
    names, blocks = ["(Intercept)"], [np.ones((n, 1))]
    for bucket_terms in buckets.values():
        used: set[frozenset] = set()
        for t in sorted(bucket_terms, key=len):
            cats = [c for c in t if c in codes]
            proper = [frozenset(s) for k in range(len(cats)) for s in itertools.combinations(cats, k)]
            if frozenset(cats) in used or any(s not in used for s in proper):
                return None
            used.update(proper + [frozenset(cats)])
            if not t:
                continue
            per_factor = [factor_columns[c] for c in t]
            for combo in itertools.product(*reversed(per_factor)):
                combo = combo[::-1]
                names.append(interaction_term(*(name for name, _ in combo)))
                value = combo[0][1]
                for _, other in combo[1:]:
                    value = value * other
                blocks.append(value[:, None])
    matrix = np.hstack(blocks)
    y = pd.to_numeric(series[outcome], errors="coerce").to_numpy(dtype=float)[rows]
    return CodedDesign(
        matrix=matrix,
        names=names,
        rows=rows,
        outcome=y,
        codes=codes,
        numeric=numeric,
        references=used_references,
    )


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


def named_design(formula_rhs: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return the design of a right-hand side with the plain column names of the results contract.

    The columns are :func:`design_matrix`'s, renamed by :func:`plain_column_names`; the frame
    keeps its ``design_info``, so :func:`design_of_rows` codes other rows the same way.
    """
    design = design_matrix(formula_rhs, frame)
    info = design.design_info
    design.columns = plain_column_names(info)
    design.design_info = info
    return design


def design_of_rows(design: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Return the design of ``rows`` coded exactly as ``design`` (same levels, columns, order).

    Used for counterfactual predictions: the rows with the exposure set to one arm get the
    columns the model was fitted on.

    Parameters
    ----------
    design : DataFrame
        A design from :func:`named_design` or :func:`design_matrix` (carries ``design_info``).
    rows : DataFrame
        Rows to code; every variable of the design must be present and complete.

    Returns
    -------
    ndarray
        (len(rows), number of design columns).
    """
    return np.asarray(patsy.build_design_matrices([design.design_info], rows, NA_action="raise")[0], dtype=float)


def design_matrix(formula_rhs: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return the patsy design (a DataFrame with ``design_info``) of a right-hand side.

    Categorical terms of Categorical columns are coded from their integer codes (see
    :func:`_categorical_term`); column names, order and reference levels are patsy's own.
    """
    env = patsy.EvalEnvironment.capture(1).with_outer_namespace({"C": _categorical_term})
    return patsy.dmatrix(formula_rhs, frame, return_type="dataframe", NA_action="raise", eval_env=env)


# --------------------------------------------------------------------------------------------
# plain names of a patsy design's columns, from its structure
# --------------------------------------------------------------------------------------------


def _factor_variable(code: str) -> str:
    """Return the data column a patsy factor's code names (``C(x, …)`` and ``Q('x')`` give x).

    The code is a Python expression (the formula's own text for that factor), read with
    :mod:`ast`; an expression that names no single column is returned as written.
    """
    try:
        node = ast.parse(code.strip(), mode="eval").body
    except SyntaxError:
        return code.strip()
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "C" and node.args:
        node = node.args[0]
    if isinstance(node, ast.Name):
        return node.id
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Q"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ):
        return str(node.args[0].value)
    return code.strip()


def _factor_column_names(factor, subterm, factor_infos) -> list[str]:
    """Return the plain names of the columns one factor contributes to a subterm."""
    variable = _factor_variable(factor.code)
    info = factor_infos[factor]
    if info.type == "numerical":
        return [variable] if info.num_columns == 1 else [f"{variable}[{j}]" for j in range(info.num_columns)]
    contrast = subterm.contrast_matrices[factor]
    matrix = np.asarray(contrast.matrix)
    names = []
    for j, suffix in enumerate(contrast.column_suffixes):
        column = matrix[:, j]
        indicator = np.isin(column, (0.0, 1.0)).all() and column.sum() == 1
        level = info.categories[int(np.argmax(column))] if indicator else suffix.strip("[]")
        names.append(f"{variable}[{level}]")
    return names


def _named_columns(design_info: patsy.DesignInfo) -> list[tuple[str, str]]:
    """Return (plain column name, plain term name) for every column of a patsy design."""
    out: list[tuple[str, str]] = []
    for term, subterms in design_info.term_codings.items():
        term_name = ":".join(_factor_variable(f.code) for f in term.factors) or "(Intercept)"
        for subterm in subterms:
            if not subterm.factors:
                out.append(("(Intercept)", term_name))
                continue
            per_factor = [_factor_column_names(f, subterm, design_info.factor_infos) for f in subterm.factors]
            # left-most factor varies fastest (patsy's and R's order of interaction columns)
            for combo in itertools.product(*reversed(per_factor)):
                out.append((":".join(reversed(combo)), term_name))
    return out


def plain_column_names(design_info: patsy.DesignInfo) -> list[str]:
    """Return the plain names of a patsy design's columns, in column order.

    Built from the design's structure, not from patsy's column strings: for every term and
    subterm, each factor contributes its variable (the column its code names, without the
    ``C(…)``/``Q(…)`` wrapper) and, for a categorical factor, the level its contrast column
    indicates. The intercept is ``(Intercept)``; a level ``x`` of a categorical column ``c`` is
    ``c[x]``, whatever its coding wrapper; an interaction joins its factors' names with ``:``
    (left-most factor varying fastest, as patsy and R order the columns). A non-indicator
    contrast column (sum or Helmert coding) keeps patsy's suffix as its level.

    Parameters
    ----------
    design_info : patsy.DesignInfo
        The ``design_info`` of a design built by :func:`design_matrix`.

    Returns
    -------
    list of str
        One name per design column; same length and order as ``design_info.column_names``.

    Examples
    --------
    >>> frame = pd.DataFrame({"arm": ["none", "personalized", "empirical"], "age": [30.0, 35.0, 40.0]})
    >>> design = design_matrix("C(arm, Treatment(reference='none')) + age", frame)
    >>> plain_column_names(design.design_info)
    ['(Intercept)', 'arm[empirical]', 'arm[personalized]', 'age']
    """
    names = [name for name, _ in _named_columns(design_info)]
    if len(names) != len(design_info.column_names):
        raise ModelError(
            f"the design has {len(design_info.column_names)} columns but {len(names)} names were built "
            "from its terms; the formula uses a coding this suite does not name"
        )
    return names


def level_term(column: str, level: str) -> str:
    """Return the plain term name of one level of a categorical column (``column[level]``)."""
    return f"{column}[{level}]"


def stratum_term(term: str, modifier: str, level: str) -> str:
    """Return the name of a term's effect within one level of a modifier (results contract).

    ``treatment_arm[personalized] | profile_group=dysregulated``.
    """
    return f"{term} | {modifier}={level}"


def interaction_term(*terms: str) -> str:
    """Return the plain name of an interaction of plain terms (``a[x]:b[y]``)."""
    return ":".join(terms)


def plain_column_terms(design_info: patsy.DesignInfo) -> list[str]:
    """Return the plain name of the term each column of a patsy design belongs to.

    The columns of one categorical covariate share its name (``arm[empirical]`` and
    ``arm[personalized]`` both belong to ``arm``); an interaction's columns belong to
    ``a:b``. Used to group columns into the terms R tests jointly (``terms = TRUE``).

    Parameters
    ----------
    design_info : patsy.DesignInfo

    Returns
    -------
    list of str
        One term name per design column, in column order.
    """
    return [term for _, term in _named_columns(design_info)]
