"""Multiple imputation and Rubin's rules: by hand, against mice::pool, and against the truth."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.core.exceptions import ModelError
from analysis.methods import imputation, outcomes

REF = Path(__file__).parent / "reference"


def test_rubin_by_hand():
    """Q = (1, 1.2, 0.8, 1.1, 0.9), U = (.04, .05, .045, .04, .05): Qbar 1, Ubar .045, B .025,
    T = .045 + 1.2 * .025 = .075, r = .03 / .045 = 2/3, lambda = .03 / .075 = .4,
    Rubin df (m-1)/lambda^2 = 25; with dfcom 100: df_obs = 101/103 * 100 * .6 = 58.83, df = 1/(1/25 + 1/58.83)."""
    res = imputation.pool_rubin([1.0, 1.2, 0.8, 1.1, 0.9], [0.04, 0.05, 0.045, 0.04, 0.05], df_complete=100)
    assert res["estimate"] == pytest.approx(1.0)
    assert res["t"] == pytest.approx(0.075)
    assert res["riv"] == pytest.approx(2 / 3)
    assert res["lambda"] == pytest.approx(0.4)
    df_obs = 101 / 103 * 100 * 0.6
    assert res["df"] == pytest.approx(1 / (1 / 25 + 1 / df_obs))
    assert imputation.pool_rubin([1.0, 1.2, 0.8, 1.1, 0.9], [0.04, 0.05, 0.045, 0.04, 0.05])["df"] == pytest.approx(25)


def test_pooling_matches_mice_pool():
    """R: pool(as.mira(lapply(imputations, glm(...)))) and pool.scalar(n = 104, k = 4) (make_mi_reference.R)."""
    ref = pd.read_csv(REF / "mi_reference_pool.csv").set_index("term")
    scalar = imputation.pool_rubin([1.0, 1.2, 0.8, 1.1, 0.9], [0.04, 0.05, 0.045, 0.04, 0.05], df_complete=100)
    for k in ["estimate", "ubar", "b", "t", "df", "riv", "lambda", "fmi"]:
        assert scalar[k] == pytest.approx(ref.loc["pool.scalar", k], rel=1e-10), k
    d = pd.read_csv(REF / "mi_completed.csv", dtype={"center_id": str})
    frames = [g.reset_index(drop=True) for _, g in d.groupby("imputation")]
    f = "live_birth ~ C(treatment_arm, Treatment(reference='none')) + age_at_biopsy_years + bmi_kg_m2 + C(center_id)"
    rows = imputation.fit_pooled_logit(
        frames, f, model_id="lb_first_mi", outcome="live_birth", population="first_transfer", notebook="t"
    ).set_index("term")
    names = {
        "(Intercept)": "(Intercept)",
        "treatment_arm[empirical]": "treatment_armempirical",
        "treatment_arm[personalized]": "treatment_armpersonalized",
        "bmi_kg_m2": "bmi_kg_m2",
        "age_at_biopsy_years": "age_at_biopsy_years",
        "center_id[C4]": "center_idC4",
    }
    for ours, theirs in names.items():
        assert rows.loc[ours, "coef"] == pytest.approx(ref.loc[theirs, "estimate"], rel=1e-6)
        assert rows.loc[ours, "std_error"] == pytest.approx(np.sqrt(ref.loc[theirs, "t"]), rel=1e-5)


def _with_gaps(seed=0, n=400):
    rng = np.random.default_rng(seed)
    x = rng.normal(30, 4, n)
    g = rng.choice(["a", "b", "c"], n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x - 30) / 4))).astype(int)
    d = pd.DataFrame({"x": x, "g": g, "y": y, "arm": rng.choice(["none", "personalized"], n)})
    d.loc[rng.random(n) < 0.25, "x"] = np.nan
    d.loc[rng.random(n) < 0.15, "g"] = np.nan
    return d


def test_imputation_fills_only_gaps_deterministically_any_workers():
    d = _with_gaps()
    one = imputation.impute_chained(d, columns=["x", "g"], predictors=["y", "arm"], m=4, seed=9, n_iter=5)
    two = imputation.impute_chained(d, columns=["x", "g"], predictors=["y", "arm"], m=4, seed=9, n_iter=5, n_jobs=2)
    for a, b in zip(one, two):
        pd.testing.assert_frame_equal(a, b)
    observed = d["x"].notna()
    for filled in one:
        assert filled[["x", "g"]].notna().all().all()
        pd.testing.assert_series_equal(filled.loc[observed, "x"], d.loc[observed, "x"])
        # PMM draws observed values only
        assert set(filled.loc[~observed, "x"]) <= set(d.loc[observed, "x"])
        assert set(filled["g"]) <= {"a", "b", "c"}
    assert not one[0].equals(one[1])  # imputations differ from one another
    again = imputation.impute_chained(d, columns=["x", "g"], predictors=["y", "arm"], m=4, seed=9, n_iter=5)
    pd.testing.assert_frame_equal(one[3], again[3])


def test_pmm_preserves_the_relation_with_the_outcome():
    # x is missing at random given y; complete-case mean of x is biased, MI recovers the full-data mean
    rng = np.random.default_rng(4)
    n = 2000
    x = rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    z = x + rng.normal(0, 0.7, n)  # an auxiliary marker correlated with x
    d = pd.DataFrame({"x": x, "y": y, "z": z})
    d.loc[(y == 1) & (rng.random(n) < 0.6), "x"] = np.nan
    imps = imputation.impute_chained(d, columns=["x"], predictors=["y", "z"], m=10, seed=1)
    mi_mean = np.mean([i["x"].mean() for i in imps])
    assert abs(d["x"].mean() - x.mean()) > 0.15  # complete cases are biased ...
    assert abs(mi_mean - x.mean()) < 0.06  # ... imputation is not


def test_bad_requests_are_explained():
    d = _with_gaps()
    with pytest.raises(ModelError, match="predictor"):
        imputation.impute_chained(d.assign(y=np.where(d.index < 3, np.nan, d["y"])), columns=["x"], predictors=["y"])
    with pytest.raises(ModelError, match="no observed value"):
        imputation.impute_chained(d.assign(x=np.nan), columns=["x"], predictors=["y"])
    with pytest.raises(ModelError, match="not in the data"):
        imputation.impute_chained(d, columns=["nope"])


def test_mi_on_synthetic_cohort_covers_truth_and_is_close_to_complete_data():
    from analysis.data.cohort import derive_cohort
    from analysis.data.synthetic import simulate_cohort
    from analysis.data.validation import validate_cohort

    sim = simulate_cohort(1500, seed=202)
    first = derive_cohort(validate_cohort(sim.patients, sim.transfers)).population("first")
    cov = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "good_quality_embryos", "center_id"]
    f = outcomes.formula("live_birth", ["therapy_match", "profile_group"], cov, first)
    imps = imputation.impute_chained(
        first, columns=cov + ["profile_group"], predictors=["live_birth", "therapy_match"], m=10, seed=5
    )
    rows = imputation.fit_pooled_logit(
        imps, f, model_id="m", outcome="live_birth", population="p", notebook="t"
    ).set_index("term")
    row = rows.loc["therapy_match[matched]"]
    assert row["conf_low"] <= 1.8 <= row["conf_high"]
    assert row["n_obs"] == len(first)
