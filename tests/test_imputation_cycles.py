"""The chained equations' cycles are array passes, and give the bytes of the plain algorithm.

At registry scale notebook 05's imputation spent its time around the draws, not in them: every
update refactorised a categorical column through pandas, every categorical draw factorised the
column's labels again, the passive profile group was rebuilt from a frame of every column (and
through string Series) after every update touching its rows, the convergence trace was computed
for a fixed number of cycles too, and each completed data set's analysis model went through
patsy and statsmodels. These tests pin what the cycles may no longer do (counted calls, not
timings) and that the values are the same bytes as the plain algorithm of
``tests/imputation_reference.py`` on small data with every kind of column: numeric with ties,
categorical, boolean, passive (with and without its inputs named, and a passive level that
appears only once imputed).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest
from imputation_reference import reference_imputations

from analysis.data.profiles import RULE_MARKERS, profile_group_from_markers
from analysis.methods import imputation, outcomes


def _mixed_gaps(seed: int = 3, n: int = 260) -> pd.DataFrame:
    """Markers, a passive profile group, numeric (one with many ties), categorical and boolean columns with gaps."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "il15_fn14_ratio": np.exp(rng.normal(0, 0.7, n)),
            "il18_tweak_ratio": np.exp(rng.normal(0, 0.7, n)),
            "unk_cd56_percent": np.exp(rng.normal(np.log(2.5), 0.5, n)),
            "age": rng.normal(36, 4, n),
            "prior": rng.integers(0, 3, n).astype(float),  # few values: tied predicted means
            "center": rng.choice(["C1", "C2", "C3"], n),
            "pgt": rng.random(n) < 0.4,
            "y": rng.integers(0, 2, n),
            "arm": rng.choice(["none", "empirical", "personalized"], n),
        }
    )
    d["profile_group"] = profile_group_from_markers(d)
    d = d.astype({"pgt": object})
    for column, share in [*[(m, 0.2) for m in RULE_MARKERS], ("age", 0.15), ("prior", 0.2), ("center", 0.15)]:
        d.loc[rng.random(n) < share, column] = np.nan
    d.loc[rng.random(n) < 0.15, "pgt"] = np.nan
    d.loc[d[list(RULE_MARKERS)].isna().any(axis=1), "profile_group"] = None
    return d


COLUMNS = [*RULE_MARKERS, "age", "prior", "center", "pgt", "profile_group"]
PREDICTORS = ["y", "arm"]


@pytest.fixture(scope="module")
def gaps() -> pd.DataFrame:
    return _mixed_gaps()


def _bytes(frames: list) -> list:
    return [(f.to_csv().encode(), tuple(map(str, f.dtypes))) for f in frames]


@pytest.mark.parametrize("named", [False, True])
def test_imputations_are_the_bytes_of_the_plain_algorithm(gaps, named):
    derive = partial(profile_group_from_markers, cutoffs=None)
    passive = imputation.PassiveColumn(derive, inputs=RULE_MARKERS) if named else derive
    arguments = dict(columns=COLUMNS, predictors=PREDICTORS, m=2, n_iter=3, seed=11)
    fast = imputation.impute_chained(gaps, passive={"profile_group": passive}, **arguments)
    plain = reference_imputations(gaps, passive={"profile_group": derive}, **arguments)
    assert _bytes(fast) == _bytes(plain)
    assert fast[0]["prior"].isna().sum() == 0 and set(fast[0]["pgt"].map(str)) <= {"True", "False"}


def test_a_passive_level_seen_only_where_imputed_gives_the_bytes_of_the_plain_algorithm(gaps):
    """The observed rows all ``balanced``: ``dysregulated`` exists only where the group is derived."""
    data = gaps.copy()
    data.loc[data["profile_group"].notna(), "profile_group"] = "balanced"
    arguments = dict(columns=COLUMNS, predictors=PREDICTORS, m=2, n_iter=3, seed=5)
    derive = partial(profile_group_from_markers, cutoffs=None)
    fast = imputation.impute_chained(
        data, passive={"profile_group": imputation.PassiveColumn(derive, RULE_MARKERS)}, **arguments
    )
    plain = reference_imputations(data, passive={"profile_group": derive}, **arguments)
    assert _bytes(fast) == _bytes(plain)
    assert (fast[0]["profile_group"] == "dysregulated").any()


def test_design_updated_in_place_equals_the_design_built_afresh():
    """Known levels recoded on the rows changed, a level gone, a new level, a numeric column:
    after each update the design (values and column positions) is the one built from the values."""
    values = {
        "g": np.array(["b", "a", "b", "c", "a"], dtype=object),
        "x": np.array([1.0, 2.0, 4.0, 8.0, 16.0]),
        "h": np.array([True, False, True, True, False], dtype=object),
    }
    design = imputation._Design(values, ["g", "x", "h"])
    steps = [
        ("g", [1], ["c"], True),  # known level: the row recoded
        ("g", [1, 3], ["b", "b"], True),  # "c" gone: one design column fewer
        ("g", [0, 4], ["z", "a"], False),  # "z" new: one more
        ("h", [1, 4], [True, True], False),  # the indicator constant: its column dropped
        ("x", [2], [-3.0], False),
    ]
    for column, rows, new, as_drawn in steps:
        rows = np.array(rows)
        values[column][rows] = new
        drawn = np.unique(np.asarray(new, dtype=str), return_inverse=True) if as_drawn else None
        design.update(column, rows, drawn)
        fresh = imputation._Design(values, ["g", "x", "h"])
        np.testing.assert_array_equal(design.X, fresh.X)
        assert design.slices == fresh.slices
        for c in ["g", "x", "h"]:
            np.testing.assert_array_equal(design.regressors(c), fresh.regressors(c))
    # intercept; g (levels a, b, z) two indicators; x; h constant, no column
    assert design.X.shape[1] == 1 + 2 + 1


def test_cycles_do_not_refactorise_trace_or_rederive_from_unread_columns(gaps, monkeypatch):
    """Counted calls per cycle: no pandas factorisation and no convergence trace in a fixed
    number of cycles, and the passive group recomputed only after updates of the markers it reads.

    The old cycles factorised every categorical column on each update (the count grew with the
    cycles), traced every cycle, and rederived the group after each update touching its rows
    (age, prior, centre and the indicator as well as the markers).
    """
    calls = {"factorize": 0, "derive": 0}
    factorize = pd.factorize

    def counted_factorize(*args, **kwargs):
        calls["factorize"] += 1
        return factorize(*args, **kwargs)

    def counted_derive(frame):
        calls["derive"] += 1
        assert list(frame.columns) == list(RULE_MARKERS)  # given the columns it reads, no others
        return profile_group_from_markers(frame)

    def no_trace(*args, **kwargs):
        raise AssertionError("a fixed number of cycles computed the convergence trace")

    monkeypatch.setattr(pd, "factorize", counted_factorize)
    monkeypatch.setattr(imputation, "_trace_point", no_trace)
    passive = {"profile_group": imputation.PassiveColumn(counted_derive, inputs=RULE_MARKERS)}
    counts = {}
    for n_iter in (2, 6):
        calls.update(factorize=0, derive=0)
        imputation.impute_chained(
            gaps, columns=COLUMNS, predictors=PREDICTORS, m=1, n_iter=n_iter, seed=2, passive=passive
        )
        counts[n_iter] = dict(calls)
    assert counts[6]["factorize"] == counts[2]["factorize"]  # the design coded once per chain, not per cycle
    # once at the start, then once per cycle after each of the three markers (each has gaps
    # where the group is missing)
    assert counts[2]["derive"] == 1 + 2 * 3 and counts[6]["derive"] == 1 + 6 * 3


def test_passive_inputs_must_be_columns_of_the_imputation(gaps):
    with pytest.raises(imputation.ModelError, match="inputs of passive"):
        imputation.impute_chained(
            gaps,
            columns=COLUMNS,
            predictors=PREDICTORS,
            m=1,
            n_iter=1,
            passive={"profile_group": imputation.PassiveColumn(profile_group_from_markers, ("cd138_per_hpf",))},
        )


def test_donor_order_is_the_stable_sort_of_the_shuffled_rows_with_ties_and_nan():
    """Distinct means take the fast sort; ties (also -0.0 and 0.0) and NaN the stable sort of
    the shuffle, which breaks ties at random: both equal ``shuffled[argsort(v[shuffled], stable)]``."""
    rng = np.random.default_rng(0)
    cases = [
        rng.normal(size=500),
        np.round(rng.normal(size=500), 1),
        np.array([0.0, -0.0, 1.0, 0.5, -0.0]),
        np.array([2.0, np.nan, 1.0, np.nan, 3.0]),
        np.array([1.0]),
    ]
    for v in cases:
        shuffled = rng.permutation(len(v))
        expected = shuffled[np.argsort(v[shuffled], kind="stable")]
        np.testing.assert_array_equal(imputation._donor_order(v, shuffled), expected)
    # by hand: ties keep their shuffled order
    np.testing.assert_array_equal(
        imputation._donor_order(np.array([1.0, 0.0, 1.0, 0.0]), np.array([2, 3, 0, 1])), [3, 1, 2, 0]
    )


def test_pooled_fits_coded_without_patsy_equal_the_formula_route(gaps, monkeypatch):
    """The analysis model on each completed set, coded from the specification: the same rows as
    through the formula (patsy and statsmodels' GLM), which the old route built on every set."""
    import patsy
    import statsmodels.api as sm

    data = gaps.assign(center=gaps["center"].astype("string"))
    completed = imputation.impute_chained(
        data, columns=["age", "prior", "center"], predictors=PREDICTORS, m=3, n_iter=2
    )
    references = {"arm": "none"}
    formula = outcomes.formula("y", ["arm"], ["age", "prior", "center"], data, references=references)
    labels = dict(model_id="mi", outcome="y", population="p", notebook="t")
    by_formula = imputation.fit_pooled_logit(completed, formula, **labels)

    def forbidden(*args, **kwargs):
        raise AssertionError("a completed data set went through patsy or statsmodels' GLM")

    monkeypatch.setattr(patsy, "dmatrix", forbidden)
    monkeypatch.setattr(sm, "GLM", forbidden)
    coded = imputation.fit_pooled_logit(
        completed, formula, exposures=["arm"], covariates=["age", "prior", "center"], references=references, **labels
    )
    pd.testing.assert_frame_equal(coded, by_formula, check_exact=True)
    assert coded.to_csv().encode() == by_formula.to_csv().encode()
