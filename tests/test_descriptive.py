"""Tests of analysis.methods.descriptive on small frames whose numbers can be computed by hand."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.methods.descriptive import (
    TABLE_ONE_COLUMNS,
    missingness_table,
    skewness,
    standardized_mean_differences,
    table_one,
    table_one_wide,
)


@pytest.fixture
def tiny():
    """Eight patients in two arms.

    age, ctl = 30, 32, 34, 36: mean 33, SD sqrt(20/3) = 2.582, median 33,
        quartiles (type 7, h = 3p + 1) 31.5 and 34.5.
    age, trt = 31, 35, 39, missing: n 3, 1 missing, mean 35, SD 4, median 35, quartiles 33, 37.
    SMD(age) = (35 - 33) / sqrt((16 + 20/3) / 2) = 2 / sqrt(34/3).
    smoker, ctl: no no yes no -> yes 1/4 = 25%; trt: yes yes no missing -> yes 2/3 = 66.7%.
    SMD(smoker) = (2/3 - 1/4) / sqrt((2/3 * 1/3 + 1/4 * 3/4) / 2) = (5/12) / sqrt(59/288).
    """
    return pd.DataFrame(
        {
            "arm": ["ctl"] * 4 + ["trt"] * 4,
            "age": [30.0, 32, 34, 36, 31, 35, 39, np.nan],
            "smoker": ["no", "no", "yes", "no", "yes", "yes", "no", None],
            "grade": ["A", "B", "C", "A", "A", "C", "C", "B"],
        }
    )


def _row(t, variable, group, level=None):
    sel = (t["variable"] == variable) & (t["group"] == group)
    sel &= t["level"].isna() if level is None else (t["level"] == level)
    assert sel.sum() == 1
    return t[sel].iloc[0]


def test_table_one_hand_values(tiny):
    t = table_one(tiny, groupby="arm", continuous=["age"], categorical=["smoker"], nonnormal=[])
    assert list(t.columns) == TABLE_ONE_COLUMNS
    ctl, trt = _row(t, "age", "ctl"), _row(t, "age", "trt")
    assert (ctl["n"], ctl["n_missing"], trt["n"], trt["n_missing"]) == (4, 0, 3, 1)
    assert ctl["mean"] == pytest.approx(33) and ctl["sd"] == pytest.approx(np.sqrt(20 / 3))
    assert (ctl["median"], ctl["q1"], ctl["q3"]) == pytest.approx((33, 31.5, 34.5))
    assert (trt["mean"], trt["sd"]) == pytest.approx((35, 4))
    assert (trt["median"], trt["q1"], trt["q3"]) == pytest.approx((35, 33, 37))
    assert ctl["display"] == "33.0 (2.6)" and trt["display"] == "35.0 (4.0)"
    assert ctl["summary_type"] == "mean_sd"
    overall = _row(t, "age", "overall")
    ages = tiny["age"].dropna()
    assert overall["n"] == 7 and overall["mean"] == pytest.approx(ages.mean())

    yes = _row(t, "smoker", "trt", "yes")
    assert (yes["n"], yes["n_missing"], yes["count"]) == (3, 1, 2)
    assert yes["percent"] == pytest.approx(200 / 3)
    assert yes["display"] == "2 (66.7%)" and yes["summary_type"] == "n_percent"
    assert _row(t, "smoker", "ctl", "yes")["display"] == "1 (25.0%)"
    assert _row(t, "smoker", "overall", "no")["display"] == "4 (57.1%)"
    # one row per (variable, level, group); groups then overall
    assert len(t) == 3 + 2 * 3
    assert list(t["group"].iloc[:3]) == ["ctl", "trt", "overall"]


def test_table_one_median_iqr_forced(tiny):
    t = table_one(tiny, groupby="arm", continuous=["age"], nonnormal=["age"])
    assert _row(t, "age", "ctl")["display"] == "33.0 [31.5, 34.5]"
    assert _row(t, "age", "trt")["display"] == "35.0 [33.0, 37.0]"
    assert (t["summary_type"] == "median_iqr").all()


def test_automatic_choice_by_skewness():
    x = np.array([1.0, 1, 1, 2, 2, 3, 4, 10, 40, 1, 2, 2])
    n = len(x)
    m2, m3 = np.mean((x - x.mean()) ** 2), np.mean((x - x.mean()) ** 3)
    g1 = np.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
    assert skewness(x) == pytest.approx(g1)
    assert skewness(x) == pytest.approx(stats.skew(x, bias=False))
    df = pd.DataFrame({"g": ["a", "b"] * 6, "skewed": x, "flat": np.arange(12.0)})
    t = table_one(df, groupby="g", continuous=["skewed", "flat"])
    kinds = t.groupby("variable")["summary_type"].unique()
    assert list(kinds["skewed"]) == ["median_iqr"] and list(kinds["flat"]) == ["mean_sd"]
    t = table_one(df, groupby="g", continuous=["skewed"], skew_threshold=abs(g1) + 0.01)
    assert (t["summary_type"] == "mean_sd").all()


def test_smd_hand_values(tiny):
    s = standardized_mean_differences(tiny, groupby="arm", continuous=["age"], categorical=["smoker"])
    assert list(s["comparison"]) == ["vs_reference"] * 2
    assert list(s["group"]) == ["trt", "trt"] and list(s["reference"]) == ["ctl", "ctl"]
    smd = s.set_index("variable")["smd"]
    assert smd["age"] == pytest.approx(2 / np.sqrt(34 / 3))
    assert smd["smoker"] == pytest.approx((5 / 12) / np.sqrt(59 / 288))
    assert list(s["variable_type"]) == ["continuous", "binary"]
    # reference flips the sign
    s2 = standardized_mean_differences(tiny, groupby="arm", continuous=["age"], reference="trt")
    assert s2["smd"].iloc[0] == pytest.approx(-smd["age"])


def _mahalanobis_smd(x, g, a, b, drop):
    """Yang-Dalton SMD by numpy: proportions of all levels but `drop`, inverse of mean cov."""
    levels = [lv for lv in sorted(set(x)) if lv != drop]
    t = np.array([np.mean(x[g == b] == lv) for lv in levels])
    c = np.array([np.mean(x[g == a] == lv) for lv in levels])
    s = (np.diag(t) - np.outer(t, t) + np.diag(c) - np.outer(c, c)) / 2
    return float(np.sqrt((t - c) @ np.linalg.inv(s) @ (t - c)))


def test_three_level_categorical_smd_is_mahalanobis():
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "arm": np.repeat(["ctl", "trt"], [40, 60]),
            "grade": np.concatenate(
                [rng.choice(list("ABC"), 40, p=[0.5, 0.3, 0.2]), rng.choice(list("ABC"), 60, p=[0.2, 0.3, 0.5])]
            ),
        }
    )
    got = standardized_mean_differences(df, groupby="arm", categorical=["grade"])
    assert got["variable_type"].iloc[0] == "categorical"
    x, g = df["grade"].to_numpy(), df["arm"].to_numpy()
    for drop in "ABC":  # the distance does not depend on the level dropped
        assert got["smd"].iloc[0] == pytest.approx(_mahalanobis_smd(x, g, "ctl", "trt", drop))


def test_weighted_smd_with_equal_weights_equals_unweighted(tiny):
    kw = dict(groupby="arm", continuous=["age"], categorical=["smoker", "grade"])
    plain = standardized_mean_differences(tiny, **kw)
    equal = standardized_mean_differences(tiny.assign(w=2.5), weights="w", **kw)
    pd.testing.assert_frame_equal(plain, equal, rtol=1e-12)


def test_weighted_smd_hand_formula():
    """Weighted mean sum(w x)/sum(w); variance sum(w)/(sum(w)^2 - sum(w^2)) sum w (x - m)^2."""
    df = pd.DataFrame(
        {
            "arm": ["c", "c", "c", "t", "t", "t"],
            "x": [1.0, 2.0, 4.0, 3.0, 5.0, 6.0],
            "y": [0, 1, 1, 1, 1, 0],
            "w": [1.0, 2.0, 3.0, 0.5, 1.5, 1.0],
        }
    )

    def moments(x, w):
        m = np.sum(w * x) / np.sum(w)
        return m, np.sum(w) / (np.sum(w) ** 2 - np.sum(w**2)) * np.sum(w * (x - m) ** 2)

    c, t = df[df.arm == "c"], df[df.arm == "t"]
    (m0, v0), (m1, v1) = moments(c.x, c.w), moments(t.x, t.w)
    p0, p1 = np.average(c.y, weights=c.w), np.average(t.y, weights=t.w)
    got = standardized_mean_differences(
        df, groupby="arm", continuous=["x"], categorical=["y"], weights=df["w"].to_numpy()
    ).set_index("variable")["smd"]
    assert got["x"] == pytest.approx((m1 - m0) / np.sqrt((v1 + v0) / 2))
    assert got["y"] == pytest.approx((p1 - p0) / np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2))


def test_three_arms_vs_reference_and_max_pairwise():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "arm": np.repeat(["a", "b", "c"], [30, 40, 50]),
            "age": np.concatenate([rng.normal(m, 4, k) for m, k in [(34, 30), (35, 40), (38, 50)]]),
            "grade": rng.choice(list("XYZ"), 120),
        }
    )
    kw = dict(continuous=["age"], categorical=["grade"])
    s = standardized_mean_differences(df, groupby="arm", reference="b", **kw)
    age = s[s.variable == "age"]
    assert list(age["comparison"]) == ["vs_reference", "vs_reference", "max_pairwise"]
    assert list(age["group"].iloc[:2]) == ["a", "c"] and set(age["reference"].iloc[:2]) == {"b"}
    pairwise = {}
    for pair in [("a", "b"), ("a", "c"), ("b", "c")]:
        sub = df[df.arm.isin(pair)]
        two = standardized_mean_differences(sub, groupby="arm", reference=pair[0], **kw)
        pairwise[pair] = two.set_index("variable")["smd"].abs()
        assert len(two) == 2  # two groups: no max_pairwise row
    for v in ["age", "grade"]:
        mx = s[(s.variable == v) & (s.comparison == "max_pairwise")].iloc[0]
        best = max(pairwise, key=lambda p: pairwise[p][v])
        assert mx["smd"] == pytest.approx(pairwise[best][v])
        assert {mx["group"], mx["reference"]} == set(best)
    # the vs-reference rows are the signed two-group SMDs (group minus reference)
    for grp in ["a", "c"]:
        sub = df[df.arm.isin([grp, "b"])]
        two = standardized_mean_differences(sub, groupby="arm", reference="b", **kw)
        got = s[(s.group == grp) & (s.comparison == "vs_reference")]
        pd.testing.assert_frame_equal(got.reset_index(drop=True), two, rtol=1e-12)


def test_smd_degenerate_cases():
    df = pd.DataFrame({"arm": list("aabb"), "same": [1.0] * 4, "apart": [1.0, 1, 2, 2], "cat": ["x", "x", "y", "z"]})
    s = standardized_mean_differences(df, groupby="arm", continuous=["same", "apart"], categorical=["cat"]).set_index(
        "variable"
    )["smd"]
    assert s["same"] == 0 and s["apart"] == np.inf and s["cat"] == np.inf


def test_inputs_not_modified(tiny):
    df = tiny.assign(w=[1.0, 2, 1, 1, 1, 3, 1, 1], arm=pd.Categorical(tiny["arm"]))
    before = df.copy(deep=True)
    t = table_one(df, groupby="arm", continuous=["age"], categorical=["smoker", "grade"])
    s = standardized_mean_differences(
        df, groupby="arm", continuous=["age"], categorical=["smoker", "grade"], weights="w"
    )
    table_one_wide(t, smd=s)
    missingness_table(df, by="arm")
    pd.testing.assert_frame_equal(df, before)


def test_all_missing_variable_gives_no_data_rows(tiny):
    df = tiny.assign(crp=np.nan, nk=None)
    with pytest.warns(UserWarning, match="no non-missing values"):
        t = table_one(df, groupby="arm", continuous=["crp"], categorical=["nk"])
    for v in ["crp", "nk"]:
        rows = t[t.variable == v]
        assert len(rows) == 3 and (rows["n"] == 0).all()
        assert list(rows["n_missing"]) == [4, 4, 8]
        assert (rows["display"] == "no data").all()
    with pytest.warns(UserWarning, match="no non-missing values"):
        s = standardized_mean_differences(df, groupby="arm", continuous=["crp"], categorical=["nk"])
    assert s["smd"].isna().all()
    wide = table_one_wide(t)
    assert list(wide["missing"]) == ["8 (100.0%)", "8 (100.0%)"]


def test_group_missing_in_one_arm_gives_no_data(tiny):
    df = tiny.assign(amh=[1.0, 2.0, 3.0, 4.0, np.nan, np.nan, np.nan, np.nan])
    t = table_one(df, groupby="arm", continuous=["amh"], nonnormal=[])
    assert _row(t, "amh", "trt")["display"] == "no data"
    s = standardized_mean_differences(df, groupby="arm", continuous=["amh"])
    assert np.isnan(s["smd"].iloc[0])


def test_group_order_levels_and_missing_group(tiny):
    df = tiny.assign(
        arm=[1.0, 1, 1, 1, 0, 0, 0, np.nan],
        grade=pd.Categorical(tiny["grade"], categories=["C", "B", "A", "D"]),
    )
    with pytest.warns(UserWarning, match="1 row"):
        t = table_one(df, groupby="arm", categorical=["grade"], group_order=[1, 0])
    assert list(pd.unique(t["group"])) == ["1", "0", "overall"]
    assert list(pd.unique(t["level"])) == ["C", "B", "A", "D"]
    assert _row(t, "grade", "overall", "D")["display"] == "0 (0.0%)"
    assert _row(t, "grade", "overall", "C")["n"] == 7
    with pytest.raises(ValueError, match="does not list the groups"):
        table_one(df, groupby="arm", categorical=["grade"], group_order=[1])


def test_no_groupby_gives_overall_only(tiny):
    t = table_one(tiny, groupby=None, continuous=["age"], categorical=["smoker"])
    assert set(t["group"]) == {"overall"} and len(t) == 3


def test_table_one_wide(tiny):
    t = table_one(tiny, groupby="arm", continuous=["age"], categorical=["smoker"], nonnormal=[])
    s = standardized_mean_differences(tiny, groupby="arm", continuous=["age"], categorical=["smoker"])
    w = table_one_wide(t, smd=s)
    assert list(w.columns) == ["variable", "level", "ctl", "trt", "overall", "SMD", "missing"]
    assert list(w["variable"]) == ["age, mean (SD)", "smoker, n (%)", ""]
    assert list(w["level"]) == ["", "no", "yes"]
    assert w.loc[0, "ctl"] == "33.0 (2.6)" and w.loc[2, "trt"] == "2 (66.7%)"
    assert w.loc[0, "SMD"] == f"{2 / np.sqrt(34 / 3):.3f}" and w.loc[2, "SMD"] == ""
    assert list(w["missing"]) == ["1 (12.5%)", "1 (12.5%)", ""]


def test_missingness_table(tiny):
    m = missingness_table(tiny)
    assert list(m.columns) == ["variable", "n", "n_missing", "percent_missing"]
    assert list(m["n_missing"]) == [0, 1, 1, 0]
    assert m.set_index("variable").loc["age", "percent_missing"] == pytest.approx(12.5)
    mb = missingness_table(tiny, columns=["age", "smoker"], by="arm")
    assert list(mb["group"]) == ["ctl", "trt", "overall"] * 2
    assert list(mb["n"]) == [4, 4, 8] * 2 and list(mb["n_missing"]) == [0, 1, 1] * 2
    assert list(mb["percent_missing"]) == pytest.approx([0, 25, 12.5] * 2)


def test_clear_errors(tiny):
    with pytest.raises(ValueError, match="both continuous and categorical"):
        table_one(tiny, groupby="arm", continuous=["age"], categorical=["age"])
    with pytest.raises(TypeError, match="not numeric"):
        table_one(tiny, groupby="arm", continuous=["smoker"])
    with pytest.raises(KeyError, match="not in the data"):
        table_one(tiny, groupby="arm", continuous=["bmi"])
    with pytest.raises(ValueError, match="reserved"):
        table_one(tiny.assign(arm="overall"), groupby="arm", continuous=["age"])
    with pytest.raises(ValueError, match="reference"):
        standardized_mean_differences(tiny, groupby="arm", continuous=["age"], reference="x")
    with pytest.raises(ValueError, match="non-negative"):
        standardized_mean_differences(tiny, groupby="arm", continuous=["age"], weights=-np.ones(8))


def test_no_warnings_on_clean_data(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = table_one(tiny, groupby="arm", continuous=["age"], categorical=["smoker", "grade"])
        s = standardized_mean_differences(tiny, groupby="arm", continuous=["age"], categorical=["smoker", "grade"])
        table_one_wide(t, smd=s)
