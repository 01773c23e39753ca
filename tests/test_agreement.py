"""Tests of analysis.methods.agreement against reference values computed in R.

The reference values come from ``tests/reference/make_agreement_reference.R`` (R 4.2.2,
vcd 1.4-11, psych 2.2.9) run on ``tests/reference/agreement_data.csv`` (``datasets::airquality``
plus simulated ratings); the tests read only the CSVs.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.methods.agreement import cohens_kappa, confusion_table, spearman_ci

REF_DIR = Path(__file__).parent / "reference"
RTOL = 1e-10  # observed agreement with R: ~1e-13 relative


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF_DIR / "agreement_data.csv")


def _reference_cases(case):
    ref = pd.read_csv(REF_DIR / "agreement_reference.csv", keep_default_na=False)
    ref = ref[ref["case"] == case]
    keys = ["x", "y", "rows", "conf_level", "method"]
    out = []
    for key, g in ref.groupby(keys, sort=False):
        values = dict(zip(g["quantity"], g["value"].astype(float)))
        out.append(pytest.param(dict(zip(keys, key)), values, id="-".join(map(str, key))))
    return out


@pytest.mark.parametrize("case, expected", _reference_cases("spearman"))
def test_spearman_matches_r(data, case, expected):
    d = data if case["rows"] == 0 else data.iloc[: case["rows"]]
    got = spearman_ci(d[case["x"]], d[case["y"]], conf_level=case["conf_level"], method=case["method"])
    assert got["n"] == expected["n"]
    for q in ["rho", "p_value", "conf_low", "conf_high"]:
        assert got[q] == pytest.approx(expected[q], rel=RTOL), q


@pytest.mark.parametrize("case, expected", _reference_cases("kappa"))
def test_kappa_matches_vcd_and_psych(data, case, expected):
    got = cohens_kappa(data[case["x"]], data[case["y"]], conf_level=case["conf_level"])
    assert got["n"] == expected["n"]
    # vcd::Kappa / confint (kappa, ASE, CI); the null SE and z test by hand in R
    for q in [
        "kappa",
        "std_error",
        "conf_low",
        "conf_high",
        "std_error_null",
        "statistic",
        "p_value",
        "observed_agreement",
        "expected_agreement",
    ]:
        assert got[q] == pytest.approx(expected[q], rel=RTOL), q
    # psych::cohen.kappa gives the same kappa, SE and interval
    for q in ["kappa", "std_error", "conf_low", "conf_high"]:
        assert got[q] == pytest.approx(expected[q + "_psych"], rel=RTOL), q + " (psych)"


def test_spearman_p_value_is_scipy_t_approximation(data):
    d = data[["ozone", "temp"]].dropna()
    res = stats.spearmanr(d["ozone"], d["temp"])
    got = spearman_ci(data["ozone"], data["temp"])
    assert got["p_value"] == pytest.approx(res.pvalue, rel=1e-12)
    n, r = got["n"], got["rho"]
    t = r * np.sqrt((n - 2) / (1 - r**2))
    assert got["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), n - 2), rel=1e-10)


def test_spearman_interval_formulas():
    """Hand check: rho = -0.8 with n = 5 (x = 1..5, y = 5, 3, 4, 1, 2)."""
    x, y = [1, 2, 3, 4, 5], [5, 3, 4, 1, 2]
    z, q = np.arctanh(-0.8), stats.norm.ppf(0.975)
    se_bw = np.sqrt((1 + 0.64 / 2) / 2)
    got = spearman_ci(x, y)
    assert got["rho"] == pytest.approx(-0.8)
    assert got["conf_low"] == pytest.approx(np.tanh(z - q * se_bw))
    assert got["conf_high"] == pytest.approx(np.tanh(z + q * se_bw))
    got = spearman_ci(x, y, method="fieller")
    assert got["conf_high"] == pytest.approx(np.tanh(z + q * 1.06 / np.sqrt(2)))


def test_spearman_perfect_and_pairwise_complete():
    got = spearman_ci([1, 2, 3, 4, np.nan, 6], [2, 4, 6, 8, 10, None])
    assert got["n"] == 4
    assert (got["rho"], got["conf_low"], got["conf_high"], got["p_value"]) == (1, 1, 1, 0)


def test_spearman_too_few_pairs_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 4 complete pairs.*got 3"):
        spearman_ci([1, 2, 3, 4], [1, 3, 2, np.nan])


def test_spearman_bad_input_messages():
    with pytest.raises(ValueError, match="constant"):
        spearman_ci([1, 1, 1, 1, 1], [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="same length"):
        spearman_ci([1, 2, 3, 4], [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="method"):
        spearman_ci([1, 2, 3, 4], [1, 2, 4, 3], method="pearson")
    with pytest.raises(ValueError, match="conf_level"):
        spearman_ci([1, 2, 3, 4], [1, 2, 4, 3], conf_level=95)


def test_kappa_hand_computed_two_by_two():
    """Table [[20, 5], [10, 15]], n = 50: po = 0.7, pe = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4.

    Null SE^2 = (pe + pe^2 - sum r c (r + c)) / (n (1 - pe)^2)
              = (0.5 + 0.25 - (0.3 * 1.1 + 0.2 * 0.9)) / (50 * 0.25) = 0.24 / 12.5.
    """
    a = np.repeat([0, 0, 1, 1], [20, 5, 10, 15])
    b = np.repeat([0, 1, 0, 1], [20, 5, 10, 15])
    got = cohens_kappa(a, b)
    assert got["observed_agreement"] == pytest.approx(0.7)
    assert got["expected_agreement"] == pytest.approx(0.5)
    assert got["kappa"] == pytest.approx(0.4)
    assert got["std_error_null"] == pytest.approx(np.sqrt(0.24 / 12.5))
    assert got["p_value"] == pytest.approx(2 * stats.norm.sf(0.4 / np.sqrt(0.24 / 12.5)))
    assert got["conf_low"] == pytest.approx(0.4 - stats.norm.ppf(0.975) * got["std_error"])


def test_confusion_table_uses_union_of_levels(data):
    tab = confusion_table(data["rater_a_cat"], data["rater_c_cat"])
    assert list(tab.index) == list(tab.columns) == ["high", "low", "normal"]
    assert tab.index.name == "rater_a_cat" and tab.columns.name == "rater_c_cat"
    assert tab["high"].sum() == 0
    assert tab.to_numpy().sum() == cohens_kappa(data["rater_a_cat"], data["rater_c_cat"])["n"]
    raw = pd.crosstab(data["rater_a_cat"], data["rater_c_cat"])
    assert (tab.loc[raw.index, raw.columns].to_numpy() == raw.to_numpy()).all()


def test_kappa_constant_ratings_is_a_clear_error():
    with pytest.raises(ValueError, match="expected agreement is 1"):
        cohens_kappa(["yes"] * 6, ["yes"] * 6)


def test_kappa_one_constant_rater_warns():
    with pytest.warns(UserWarning, match="single level"):
        got = cohens_kappa([0, 0, 0, 0], [0, 1, 0, 1])
    assert got["kappa"] == 0 and np.isnan(got["p_value"])


def test_kappa_perfect_agreement():
    got = cohens_kappa(["a", "b", "c", "a"], ["a", "b", "c", "a"])
    assert got["kappa"] == 1 and got["std_error"] == 0
    assert (got["conf_low"], got["conf_high"]) == (1, 1)


def test_inputs_not_modified(data):
    before = data.copy(deep=True)
    spearman_ci(data["ozone"], data["temp"])
    cohens_kappa(data["rater_a_cat"], data["rater_b_cat"])
    pd.testing.assert_frame_equal(data, before)
