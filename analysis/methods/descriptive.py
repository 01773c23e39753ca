r"""Descriptive tables: Table 1 by group, standardized mean differences, missingness.

All functions take the data first and columns by keyword, never modify their input, and return
tidy frames: one value per cell, numbers in their own columns. Only the ``display`` column of
:func:`table_one` and the frame of :func:`table_one_wide` are text meant for readers.

Conventions shared by the functions:

- *Missing* means ``pandas.isna`` (NaN, None, NaT, ``pd.NA``); empty strings are values.
- Group labels and category levels are reported as text (``str`` of the value; a float column
  holding only whole numbers, such as a 0/1 code read with missing values, gives ``"0"``, ``"1"``
  rather than ``"0.0"``, ``"1.0"``). Groups and levels come in the order of the categories for a
  categorical column, otherwise in sorted order of the values.
- Rows whose group is missing are left out of every summary (also of ``"overall"``), with a
  warning, so that the overall column is the union of the group columns.

References
----------
.. [A09] Austin PC (2009). Balance diagnostics for comparing the distribution of baseline
   covariates between treatment groups in propensity-score matched samples. Stat Med
   28:3083-3107.
.. [YD12] Yang D, Dalton JE (2012). A unified approach to measuring the effect size between two
   groups using SAS. SAS Global Forum, paper 335-2012.
.. [AS15] Austin PC, Stuart EA (2015). Moving towards best practice when using inverse
   probability of treatment weighting (IPTW) using the propensity score to estimate causal
   treatment effects in observational studies. Stat Med 34:3661-3679.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

OVERALL = "overall"

TABLE_ONE_COLUMNS = [
    "variable",
    "level",
    "group",
    "n",
    "n_missing",
    "mean",
    "sd",
    "median",
    "q1",
    "q3",
    "count",
    "percent",
    "summary_type",
    "display",
]

SMD_COLUMNS = ["variable", "variable_type", "comparison", "group", "reference", "smd"]

NO_DATA = "no data"

_ALL_ROWS = "\x00all rows"  # internal placeholder group when groupby is None

_STAT_LABEL = {"mean_sd": "mean (SD)", "median_iqr": "median [IQR]", "n_percent": "n (%)"}


# ---------------------------------------------------------------------------------------------
# helpers: labels, orders, checks
# ---------------------------------------------------------------------------------------------


def _as_list(cols, name):
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    out = list(cols)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} lists a column more than once: {out}")
    return out


def _check_columns(data, cols):
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in the data: {missing}")


def _labels(s):
    """Return the values of ``s`` as text labels (object Series, NaN where missing)."""
    s = pd.Series(s)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = _labels(pd.Series(s.cat.categories)).to_numpy(dtype=object)
        codes = s.cat.codes.to_numpy()
        out = np.where(codes >= 0, cats[np.clip(codes, 0, None)] if len(cats) else np.nan, np.nan)
        return pd.Series(out, index=s.index, dtype=object)
    if pd.api.types.is_float_dtype(s.dtype):
        present = s.dropna()
        if len(present) and np.all(np.isfinite(present)) and np.all(present == np.round(present)):
            s = s.astype("Int64")
    out = pd.Series(np.nan, index=s.index, dtype=object)
    mask = s.notna()
    out[mask] = s[mask].astype(str)
    return out


def _labels_and_order(s):
    """Return (labels, ordered levels): categories for a categorical, else sorted values."""
    lab = _labels(s)
    if isinstance(s.dtype, pd.CategoricalDtype):
        order = list(pd.unique(_labels(pd.Series(s.cat.categories))))
        return lab, order
    pairs = pd.DataFrame({"raw": s.to_numpy(dtype=object), "lab": lab.to_numpy()})
    pairs = pairs[pairs["lab"].notna()].drop_duplicates("lab")
    try:
        raw = pairs["raw"].to_numpy()
        idx = np.argsort(raw, kind="stable")
        order = list(pairs["lab"].to_numpy()[idx])
    except TypeError:
        order = sorted(pairs["lab"])
    return lab, order


def _group_labels(data, groupby, group_order=None, *, warn_missing=True):
    """Return (group labels per row, group order). ``groupby=None`` gives no groups."""
    if groupby is None:
        if group_order is not None:
            raise ValueError("group_order needs groupby")
        return pd.Series(np.nan, index=data.index, dtype=object), []
    lab, order = _labels_and_order(data[groupby])
    if group_order is not None:
        given = list(pd.unique(_labels(pd.Series(list(group_order)))))
        if len(given) != len(list(group_order)):
            raise ValueError(f"group_order has duplicates: {list(group_order)}")
        observed = set(lab.dropna())
        absent = sorted(observed - set(given))
        if absent:
            raise ValueError(f"group_order {given} does not list the groups {absent} found in '{groupby}'")
        order = given
    if OVERALL in order:
        raise ValueError(f"a group of '{groupby}' is named '{OVERALL}', which is reserved for the whole sample")
    n_missing = int(lab.isna().sum())
    if n_missing and warn_missing:
        warnings.warn(
            f"{n_missing} row(s) with a missing '{groupby}' are left out of the summaries",
            UserWarning,
            stacklevel=3,
        )
    return lab, order


def _check_variable_lists(groupby, continuous, categorical):
    both = sorted(set(continuous) & set(categorical))
    if both:
        raise ValueError(f"columns listed as both continuous and categorical: {both}")
    if groupby is not None and groupby in set(continuous) | set(categorical):
        raise ValueError(f"the grouping column '{groupby}' is also listed as a variable")


def _numeric(data, col):
    s = data[col]
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype(float)
    raise TypeError(
        f"continuous column '{col}' has dtype {s.dtype}, not numeric; convert it or list it under categorical"
    )


def _with_overall(values, groups):
    """Stack the rows twice: once under their group, once under 'overall'."""
    key = pd.concat([groups, pd.Series(OVERALL, index=groups.index, dtype=object)], ignore_index=True)
    return pd.concat([values, values], ignore_index=True), key


def _fmt(x, digits):
    return "NA" if pd.isna(x) else f"{x:.{digits}f}"


def skewness(x):
    r"""Return the adjusted Fisher-Pearson sample skewness of the non-missing values.

    .. math::

        G_1 = \frac{\sqrt{n(n-1)}}{n-2}\,
              \frac{m_3}{m_2^{3/2}}, \qquad m_k = \frac1n\sum_i (x_i - \bar x)^k,

    as ``pandas.Series.skew`` and SAS/SPSS report it (``e1071::skewness(type = 2)`` in R).
    NaN with fewer than 3 values; 0 for a constant.
    """
    return float(pd.Series(x, dtype=float).skew())


def continuous_summary_types(data, *, continuous, nonnormal=None, skew_threshold=1.0):
    """Return, per continuous column, ``"mean_sd"`` or ``"median_iqr"`` as :func:`table_one`
    chooses it (see there), as a Series indexed by column name."""
    continuous = _as_list(continuous, "continuous")
    if skew_threshold < 0:
        raise ValueError(f"skew_threshold must be >= 0, got {skew_threshold}")
    if nonnormal is not None:
        nonnormal = _as_list(nonnormal, "nonnormal")
        extra = sorted(set(nonnormal) - set(continuous))
        if extra:
            raise ValueError(f"nonnormal lists columns that are not continuous: {extra}")
        types = ["median_iqr" if v in set(nonnormal) else "mean_sd" for v in continuous]
        return pd.Series(types, index=pd.Index(continuous, dtype=object), dtype=object)
    skews = np.array([skewness(_numeric(data, v)) for v in continuous], dtype=float)
    with np.errstate(invalid="ignore"):
        types = np.where(np.abs(skews) > skew_threshold, "median_iqr", "mean_sd")
    return pd.Series(types, index=pd.Index(continuous, dtype=object), dtype=object)


# ---------------------------------------------------------------------------------------------
# table one
# ---------------------------------------------------------------------------------------------


def _continuous_rows(x, groups, all_groups, summary_type, variable):
    xx, key = _with_overall(x, groups)
    gb = xx.groupby(key.to_numpy(), sort=False)
    size = key.value_counts().reindex(all_groups, fill_value=0)
    st = pd.DataFrame(
        {
            "n": gb.count(),
            "mean": gb.mean(),
            "sd": gb.std(ddof=1),
            "median": gb.median(),
            "q1": gb.quantile(0.25),
            "q3": gb.quantile(0.75),
        }
    ).reindex(all_groups)
    st["n"] = st["n"].fillna(0).astype("int64")
    out = pd.DataFrame(
        {
            "variable": variable,
            "level": np.nan,
            "group": all_groups,
            "n": st["n"].to_numpy(),
            "n_missing": (size.to_numpy() - st["n"].to_numpy()).astype("int64"),
        }
    )
    for c in ["mean", "sd", "median", "q1", "q3"]:
        out[c] = st[c].to_numpy(dtype=float)
    out["count"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["percent"] = np.nan
    out["summary_type"] = summary_type
    return out


def _categorical_rows(s, groups, all_groups, variable):
    lab, levels = _labels_and_order(s)
    ll, key = _with_overall(lab, groups)
    size = key.value_counts().reindex(all_groups, fill_value=0).to_numpy()
    ok = ll.notna().to_numpy()
    counts = pd.DataFrame({"g": key[ok].to_numpy(), "l": ll[ok].to_numpy()}).groupby(["g", "l"]).size()
    mat = np.zeros((len(all_groups), len(levels)), dtype=np.int64)
    if len(counts):
        gi = pd.Index(all_groups).get_indexer(counts.index.get_level_values("g"))
        li = pd.Index(levels).get_indexer(counts.index.get_level_values("l"))
        mat[gi, li] = counts.to_numpy()
    n = mat.sum(axis=1)
    if not levels:  # every value missing and no categories: one row per group, no level
        out = pd.DataFrame({"variable": variable, "level": np.nan, "group": all_groups, "n": n})
        out["n_missing"] = size - n
        out["count"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["percent"] = np.nan
    else:
        k, g = len(levels), len(all_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = 100.0 * mat / n[:, None]
        out = pd.DataFrame(
            {
                "variable": variable,
                "level": np.repeat(np.asarray(levels, dtype=object), g),
                "group": np.tile(np.asarray(all_groups, dtype=object), k),
                "n": np.tile(n, k),
                "n_missing": np.tile(size - n, k),
            }
        )
        out["count"] = pd.array(mat.T.ravel(), dtype="Int64")
        out["percent"] = pct.T.ravel()
    for c in ["mean", "sd", "median", "q1", "q3"]:
        out[c] = np.nan
    out["summary_type"] = "n_percent"
    return out


def _display(long, digits, percent_digits):
    if isinstance(digits, Mapping):
        dig = long["variable"].map(dict(digits)).fillna(1).astype(int).to_numpy()
    else:
        dig = np.full(len(long), int(digits))
    cols = [long[c].to_numpy() for c in ["summary_type", "n", "mean", "sd", "median", "q1", "q3"]]
    count = long["count"].to_numpy(dtype=float, na_value=np.nan)
    pct = long["percent"].to_numpy()
    out = []
    for i, (st, n, m, sd, med, q1, q3) in enumerate(zip(*cols)):
        d = dig[i]
        if n == 0 or (st == "n_percent" and np.isnan(count[i])):
            out.append(NO_DATA)
        elif st == "mean_sd":
            out.append(f"{_fmt(m, d)} ({_fmt(sd, d)})")
        elif st == "median_iqr":
            out.append(f"{_fmt(med, d)} [{_fmt(q1, d)}, {_fmt(q3, d)}]")
        else:
            out.append(f"{int(count[i])} ({_fmt(pct[i], percent_digits)}%)")
    return out


def table_one(
    data,
    *,
    groupby,
    continuous=(),
    categorical=(),
    nonnormal=None,
    group_order=None,
    skew_threshold=1.0,
    digits=1,
    percent_digits=1,
):
    r"""Return the descriptive "Table 1" by group, as a tidy long frame.

    Parameters
    ----------
    data : DataFrame
        One row per subject (or per unit being described).
    groupby : str or None
        Column defining the groups (e.g. treatment arm). ``None`` describes the whole sample
        only. Rows with a missing group are left out (with a warning).
    continuous, categorical : sequence of str
        Columns summarised as numbers and as counts by level. A 0/1 or boolean indicator goes
        under ``categorical`` (it is shown as n (%) for each level).
    nonnormal : sequence of str, optional
        How continuous columns are summarised. ``None`` (default): chosen from the data, see
        Notes. A list (possibly empty) fixes the choice for every continuous column: the
        columns listed get median [IQR], all others mean (SD).
    group_order : sequence, optional
        Order of the groups; must list every group present (groups listed but absent get rows
        with ``n = 0``). Default: category order, else sorted values.
    skew_threshold : float
        Threshold on the absolute sample skewness for the automatic choice (default 1.0).
    digits : int or mapping
        Decimals for means, SDs, medians and quartiles in ``display``; a mapping gives them
        per variable (others 1).
    percent_digits : int
        Decimals for percentages in ``display``.

    Returns
    -------
    DataFrame
        One row per (variable, level, group), variables in the order continuous then
        categorical as given, groups in order followed by ``"overall"``. Columns:

        - ``variable``; ``level`` (text, NaN for continuous variables); ``group`` (text);
        - ``n``: non-missing values of the variable in the group; ``n_missing``: rows of the
          group where it is missing;
        - ``mean``, ``sd`` (sample SD, divisor :math:`n-1`), ``median``, ``q1``, ``q3``
          (quartiles by linear interpolation, :math:`Q(p) = x_{(\lfloor h\rfloor)} +
          (h - \lfloor h\rfloor)(x_{(\lfloor h\rfloor+1)} - x_{(\lfloor h\rfloor)})`,
          :math:`h = (n-1)p + 1`, R's default type 7): continuous rows only;
        - ``count`` and ``percent`` :math:`= 100\,\text{count}/n` (percent of the non-missing
          values): categorical rows only;
        - ``summary_type``: ``"mean_sd"``, ``"median_iqr"`` or ``"n_percent"``;
        - ``display``: ``"36.4 (4.1)"``, ``"2.3 [1.1, 3.9]"`` or ``"123 (45.6%)"``;
          ``"no data"`` where the group has no non-missing value.

    Notes
    -----
    **Mean (SD) or median [IQR].** Unless ``nonnormal`` is given, a continuous column is
    shown as median [IQR] when the absolute adjusted sample skewness :math:`|G_1|` (see
    :func:`skewness`) of all its non-missing values, pooled over the groups, exceeds
    ``skew_threshold``, and as mean (SD) otherwise (also when :math:`G_1` is undefined, with
    fewer than 3 values). The choice is per variable, the same in every group. Skewness is a
    crude rule (it ignores heavy tails and bimodality and is noisy in small samples); pass
    ``nonnormal`` to decide on subject-matter grounds, and report the rule in the methods.

    Missing values are not a category: ``percent`` is of the non-missing values and the
    number missing is in ``n_missing``. A categorical column keeps all its categories (count
    0 for unused ones). A variable with no non-missing value gives rows with ``n = 0``,
    NaN statistics and ``display = "no data"``, with a warning.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["a", "a", "b", "b"], "age": [30.0, 34.0, 35.0, 39.0],
    ...                    "smoker": ["no", "yes", "no", "no"]})
    >>> t1 = table_one(df, groupby="arm", continuous=["age"], categorical=["smoker"],
    ...                nonnormal=[])
    >>> list(t1.loc[t1.variable == "age", "display"])
    ['32.0 (2.8)', '37.0 (2.8)', '34.5 (3.7)']
    >>> list(t1.loc[t1.variable == "smoker", "display"])
    ['1 (50.0%)', '2 (100.0%)', '3 (75.0%)', '1 (50.0%)', '0 (0.0%)', '1 (25.0%)']
    """
    continuous = _as_list(continuous, "continuous")
    categorical = _as_list(categorical, "categorical")
    _check_variable_lists(groupby, continuous, categorical)
    _check_columns(data, ([groupby] if groupby is not None else []) + continuous + categorical)
    groups, order = _group_labels(data, groupby, group_order)
    if groupby is None:
        # one placeholder group holding every row; only its 'overall' copy is kept
        groups = pd.Series(_ALL_ROWS, index=data.index, dtype=object)
        order = [_ALL_ROWS]
    keep = groups.notna().to_numpy()
    frame = data.loc[keep, continuous + categorical]
    g = groups[keep]
    all_groups = order + [OVERALL]
    types = continuous_summary_types(frame, continuous=continuous, nonnormal=nonnormal, skew_threshold=skew_threshold)

    parts = [_continuous_rows(_numeric(frame, v), g, all_groups, types[v], v) for v in continuous]
    parts += [_categorical_rows(frame[v], g, all_groups, v) for v in categorical]
    empty = [v for v in continuous + categorical if frame[v].isna().all()]
    if empty:
        warnings.warn(
            f"no non-missing values in {empty}: their rows have n = 0 and display '{NO_DATA}'",
            UserWarning,
            stacklevel=2,
        )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in TABLE_ONE_COLUMNS})
    long = pd.concat(parts, ignore_index=True)
    long = long[long["group"] != _ALL_ROWS].reset_index(drop=True)
    long["display"] = _display(long, digits, percent_digits)
    long["level"] = long["level"].astype(object)
    return long[TABLE_ONE_COLUMNS]


# ---------------------------------------------------------------------------------------------
# standardized mean differences
# ---------------------------------------------------------------------------------------------


def _weights(data, weights):
    if weights is None:
        return np.ones(len(data))
    if isinstance(weights, str):
        _check_columns(data, [weights])
        w = data[weights]
    else:
        w = weights
    w = np.asarray(w, dtype=float)
    if w.shape != (len(data),):
        raise ValueError(f"weights must have one value per row ({len(data)}), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite and not missing")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    return w


def _ratio(num, den):
    """num / den with 0/0 = 0 and x/0 = ±inf (x != 0); NaN propagates."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
        zero = den == 0
        out = np.where(zero & (num == 0), 0.0, out)
        out = np.where(zero & (num != 0), np.sign(num) * np.inf, out)
    return out


def _continuous_moments(x, g, w, groups):
    """Weighted mean and variance per group (Austin & Stuart 2015 weighted variance)."""
    ok = ~np.isnan(x)
    frame = pd.DataFrame({"g": g[ok], "x": x[ok], "w": w[ok]})
    frame["wx"] = frame["w"] * frame["x"]
    frame["w2"] = frame["w"] ** 2
    sums = frame.groupby("g")[["w", "wx", "w2"]].sum().reindex(groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums["wx"] / sums["w"]
    dev = frame["x"] - frame["g"].map(mean)
    ss = (frame["w"] * dev**2).groupby(frame["g"]).sum().reindex(groups)
    den = sums["w"] ** 2 - sums["w2"]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(den > 0, sums["w"] / den * ss, np.nan)
    return mean.to_numpy(dtype=float), np.asarray(var, dtype=float)


def _proportions(lab, g, w, groups, levels):
    """Weighted proportion of each level (columns) within each group (rows)."""
    ok = lab.notna().to_numpy()
    tab = pd.DataFrame({"g": g[ok], "l": lab.to_numpy()[ok], "w": w[ok]}).groupby(["g", "l"])["w"].sum()
    mat = np.zeros((len(groups), len(levels)))
    if len(tab):
        gi = pd.Index(groups).get_indexer(tab.index.get_level_values("g"))
        li = pd.Index(levels).get_indexer(tab.index.get_level_values("l"))
        mat[gi, li] = tab.to_numpy()
    tot = mat.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tot > 0, mat / tot, np.nan)


def _smd_multinomial(p1, p0):
    r"""Yang & Dalton (2012) SMD of two level-proportion vectors (full, summing to 1)."""
    if p1.size == 0 or np.isnan(p1).any() or np.isnan(p0).any():
        return np.nan  # no level observed, or a group without data
    used = (p1 > 0) | (p0 > 0)
    p1, p0 = p1[used][1:], p0[used][1:]  # drop empty levels, then the first (reference) level
    if len(p1) == 0:
        return 0.0
    d = p1 - p0
    s = (np.diag(p1) - np.outer(p1, p1) + np.diag(p0) - np.outer(p0, p0)) / 2.0
    sol = np.linalg.pinv(s) @ d
    if not np.allclose(s @ sol, d, rtol=0, atol=1e-10):
        # the difference lies where neither group varies: complete separation
        return np.inf
    return float(np.sqrt(max(float(d @ sol), 0.0)))


def standardized_mean_differences(data, *, groupby, continuous=(), categorical=(), reference=None, weights=None):
    r"""Return standardized mean differences (SMD) between groups, one row per comparison.

    Parameters
    ----------
    data : DataFrame
    groupby : str
        Column with the groups (at least two). Rows with a missing group are left out.
    continuous, categorical : sequence of str
        Columns compared as numbers and as distributions over levels. Binary indicators go
        under ``categorical``.
    reference : scalar, optional
        The group the others are compared with (its value or its text label). Default: the
        first group (category order, else sorted).
    weights : str or array-like, optional
        Column name or one non-negative weight per row (e.g. IPTW weights). Default: all 1.

    Returns
    -------
    DataFrame
        Columns ``variable``, ``variable_type`` (``"continuous"``, ``"binary"`` or
        ``"categorical"``), ``comparison``, ``group``, ``reference``, ``smd``. For each
        variable one row ``comparison = "vs_reference"`` per non-reference group; with more
        than two groups also one row ``comparison = "max_pairwise"`` holding the largest
        absolute SMD over all pairs of groups, with ``group`` and ``reference`` naming that
        pair (NaN if no pair has an SMD).

    Notes
    -----
    Group 1 is ``group``, group 0 is ``reference``; :math:`n_g` non-missing values.

    - Continuous [A09]_: :math:`d = (\bar x_1 - \bar x_0)/\sqrt{(s_1^2 + s_0^2)/2}` with
      sample variances (divisor :math:`n_g - 1`). Signed.
    - Binary (a categorical column with exactly two observed levels) [A09]_:
      :math:`d = (\hat p_1 - \hat p_0)/\sqrt{(\hat p_1(1-\hat p_1) + \hat p_0(1-\hat p_0))/2}`,
      :math:`\hat p` the proportion of the *second* level (``1`` for 0/1, ``True``,
      ``"yes"`` against ``"no"``, or the second category). Signed.
    - Categorical with :math:`K \ge 3` levels, Yang & Dalton (2012) [YD12]_:
      :math:`d = \sqrt{(T - C)^\top S^{-1} (T - C)}`, with :math:`T, C` the proportions of
      levels 2..K in groups 1 and 0 (the first level is dropped; the value does not depend
      on which one), :math:`S = (S_1 + S_0)/2` and :math:`S_g = \operatorname{diag}(p_g) -
      p_g p_g^\top` the multinomial covariance of the level indicators. Levels absent from
      both groups are dropped first; :math:`S^{-1}` is the Moore-Penrose inverse, so a
      singular :math:`S` (a level present in one group only) still gives the distance in the
      directions where the groups vary. Non-negative. With two levels it equals the absolute
      binary SMD.

    Degenerate cases: both groups constant at the same value give 0 (as R ``tableone``);
    groups that do not overlap at all (constant at different values, or a difference where
    neither group varies) give ``±inf``, where ``tableone`` gives NaN or 0; a group with no
    non-missing value, or one value of a continuous variable, gives NaN. Missing values of a
    variable are dropped for that variable only.

    **Weights** (for balance after IPTW, [AS15]_): :math:`\bar x_w = \sum w_i x_i/\sum w_i`,
    proportions :math:`\hat p_w = \sum w_i 1\{x_i = k\}/\sum w_i` and, for continuous
    variables, the weighted variance with the reliability-weight correction

    .. math::

        s_w^2 = \frac{\sum w_i}{(\sum w_i)^2 - \sum w_i^2}\sum w_i (x_i - \bar x_w)^2,

    which is the :math:`n-1` sample variance when all weights are equal (so equal weights
    reproduce the unweighted SMD). Binary and multinomial variances stay :math:`p(1-p)` and
    :math:`\operatorname{diag}(p) - pp^\top` of the weighted proportions. (``survey::svyvar``,
    used by ``tableone::svyCreateTableOne``, applies :math:`n/(n-1)` instead, so weighted
    continuous SMDs differ slightly from ``tableone``'s.)

    The sign of a continuous or binary SMD follows ``group`` minus ``reference``; balance
    checks use its absolute value (commonly :math:`|d| < 0.1`).
    """
    continuous = _as_list(continuous, "continuous")
    categorical = _as_list(categorical, "categorical")
    if groupby is None:
        raise ValueError("standardized_mean_differences needs groupby")
    _check_variable_lists(groupby, continuous, categorical)
    _check_columns(data, [groupby] + continuous + categorical)
    w_all = _weights(data, weights)
    groups, order = _group_labels(data, groupby)
    keep = groups.notna().to_numpy()
    g = groups.to_numpy(dtype=object)[keep]
    w = w_all[keep]
    frame = data.loc[keep, continuous + categorical]
    present = list(pd.unique(g))
    order = [x for x in order if x in set(present)]
    if len(order) < 2:
        raise ValueError(f"'{groupby}' has {len(order)} group(s) with data; an SMD needs two")
    if reference is None:
        ref = order[0]
    else:
        ref = _labels(pd.Series([reference])).iloc[0]
        if ref not in order:
            raise ValueError(f"reference {reference!r} is not a group of '{groupby}': {order}")
    others = [x for x in order if x != ref]
    pairs = list(itertools.combinations(order, 2)) if len(order) > 2 else []
    gi = {x: i for i, x in enumerate(order)}

    rows = []

    # ``add`` calls ``smd_of`` before it returns, so the lambdas below see this iteration's values.
    def add(variable, vtype, smd_of):
        for grp in others:
            rows.append((variable, vtype, "vs_reference", grp, ref, smd_of(gi[grp], gi[ref])))
        if pairs:
            vals = np.array([abs(smd_of(gi[b], gi[a])) for a, b in pairs], dtype=float)
            if np.all(np.isnan(vals)):
                rows.append((variable, vtype, "max_pairwise", np.nan, np.nan, np.nan))
            else:
                k = int(np.nanargmax(vals))
                rows.append((variable, vtype, "max_pairwise", pairs[k][1], pairs[k][0], vals[k]))

    for v in continuous:
        x = _numeric(frame, v).to_numpy()
        mean, var = _continuous_moments(x, g, w, order)
        add(v, "continuous", lambda i, j: float(_ratio(mean[i] - mean[j], np.sqrt((var[i] + var[j]) / 2.0))))  # noqa: B023
    for v in categorical:
        lab, levels = _labels_and_order(frame[v])
        observed = set(lab.dropna())
        levels = [lv for lv in levels if lv in observed]
        p = _proportions(lab, g, w, order, levels)
        if len(levels) == 2:
            q = p[:, 1]
            add(
                v,
                "binary",
                lambda i, j: float(_ratio(q[i] - q[j], np.sqrt((q[i] * (1 - q[i]) + q[j] * (1 - q[j])) / 2.0))),  # noqa: B023
            )
        else:
            if not levels:
                warnings.warn(f"'{v}' has no non-missing values: its SMD is NaN", UserWarning, stacklevel=2)
            add(v, "categorical", lambda i, j: _smd_multinomial(p[i], p[j]))  # noqa: B023
    out = pd.DataFrame.from_records(rows, columns=SMD_COLUMNS)
    out["smd"] = out["smd"].astype(float)
    return out


# ---------------------------------------------------------------------------------------------
# display and missingness
# ---------------------------------------------------------------------------------------------


def table_one_wide(long, *, smd=None, smd_digits=3):
    """Return Table 1 as a display frame: one row per variable level, one column per group.

    Parameters
    ----------
    long : DataFrame
        Output of :func:`table_one` (rows may be filtered).
    smd : DataFrame, optional
        Output of :func:`standardized_mean_differences`. Adds an ``SMD`` column: the absolute
        SMD versus the reference with two groups, the largest absolute pairwise SMD
        (``max_pairwise`` row) with more.
    smd_digits : int
        Decimals of the SMD.

    Returns
    -------
    DataFrame of str
        Columns ``variable`` (name and statistic, e.g. ``"age, mean (SD)"``, on the first row
        of each variable only), ``level`` (``""`` for continuous variables), one column per
        group in the order of ``long`` (``overall`` included), ``SMD`` (if ``smd`` given) and
        ``missing`` (``"k (p%)"`` missing in the whole sample, from the ``overall`` rows, or
        summed over the groups if those were filtered out). SMD and missing are on the
        first row of each variable.
    """
    need = {"variable", "level", "group", "n", "n_missing", "summary_type", "display"}
    lacking = sorted(need - set(long.columns))
    if lacking:
        raise ValueError(f"long is not a table_one() result: columns {lacking} are missing")
    lv = long["level"].astype(object).where(long["level"].notna(), "")
    t = long.assign(level=lv)
    groups = list(pd.unique(t["group"]))
    keys = t[["variable", "level"]].drop_duplicates()
    wide = t.pivot(index=["variable", "level"], columns="group", values="display")
    wide = wide.reindex(pd.MultiIndex.from_frame(keys))[groups].fillna("")
    wide.columns = list(groups)
    wide = wide.reset_index()

    first = ~wide["variable"].duplicated()
    stat = t.drop_duplicates("variable").set_index("variable")["summary_type"].map(_STAT_LABEL)
    label = wide["variable"] + ", " + wide["variable"].map(stat).fillna("")
    var_names = wide["variable"]
    wide["variable"] = np.where(first, label, "")

    if smd is not None:
        s = smd[smd["variable"].isin(set(var_names))]
        maxp = s[s["comparison"] == "max_pairwise"].drop_duplicates("variable")
        vsref = s[s["comparison"] == "vs_reference"]
        one = vsref[~vsref["variable"].isin(set(maxp["variable"]))]
        one = one[~one["variable"].duplicated(keep=False)]
        val = pd.concat([maxp, one]).set_index("variable")["smd"].abs()
        txt = var_names.map(val).map(lambda x: "" if pd.isna(x) else ("inf" if np.isinf(x) else f"{x:.{smd_digits}f}"))
        wide["SMD"] = np.where(first, txt, "")

    if OVERALL in groups:
        miss = t[t["group"] == OVERALL].drop_duplicates("variable").set_index("variable")
        k, tot = miss["n_missing"], miss["n"] + miss["n_missing"]
    else:
        per = t.drop_duplicates(["variable", "group"])
        k = per.groupby("variable")["n_missing"].sum()
        tot = per.groupby("variable")["n"].sum() + k
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * k / tot
    mtxt = pd.Series([f"{int(a)} ({_fmt(b, 1)}%)" for a, b in zip(k, pct)], index=k.index)
    wide["missing"] = np.where(first, var_names.map(mtxt).fillna(""), "")
    return wide


def missingness_table(data, *, columns=None, by=None):
    """Return the number and percentage of missing values per column, optionally by group.

    Parameters
    ----------
    data : DataFrame
    columns : sequence of str, optional
        Columns to report (default: all, except ``by``).
    by : str, optional
        Grouping column. Rows with a missing group form their own group (``group`` NaN).

    Returns
    -------
    DataFrame
        Columns ``variable``, ``group`` (only with ``by``: each group, then ``"overall"``),
        ``n`` (number of rows in the group: the denominator, unlike :func:`table_one` where
        ``n`` counts non-missing values), ``n_missing`` and ``percent_missing``
        :math:`= 100\\,n_\\text{missing}/n` (NaN for an empty group). Rows in the order of
        ``columns``.
    """
    cols = _as_list(columns, "columns") if columns is not None else [c for c in data.columns if c != by]
    _check_columns(data, cols + ([by] if by is not None else []))
    miss = data[cols].isna()
    if by is None:
        n = len(data)
        out = pd.DataFrame({"variable": cols, "n": n, "n_missing": miss.sum().to_numpy(dtype=np.int64)})
    else:
        lab, order = _group_labels(data, by, warn_missing=False)
        if lab.isna().any():
            order = order + [np.nan]
        key = lab.fillna("\x00missing").to_numpy()
        order_key = ["\x00missing" if pd.isna(x) else x for x in order]
        counts = miss.groupby(key).sum().reindex(order_key, fill_value=0)
        sizes = pd.Series(key).value_counts().reindex(order_key, fill_value=0)
        counts.loc["\x00overall"] = miss.sum()
        sizes.loc["\x00overall"] = len(data)
        glabels = order + [OVERALL]
        ng = len(glabels)
        out = pd.DataFrame(
            {
                "variable": np.repeat(np.asarray(cols, dtype=object), ng),
                "group": np.tile(np.asarray(glabels, dtype=object), len(cols)),
                "n": np.tile(sizes.to_numpy(dtype=np.int64), len(cols)),
                "n_missing": counts.to_numpy(dtype=np.int64).T.ravel(),
            }
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["percent_missing"] = np.where(out["n"] > 0, 100.0 * out["n_missing"] / out["n"], np.nan)
    return out
