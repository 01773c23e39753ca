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


def test_imputation_fills_only_gaps_deterministically_any_workers(monkeypatch):
    from analysis.methods import resampling

    monkeypatch.setattr(resampling, "POOL_START_SECONDS", -1.0)  # the two workers do start
    d = _with_gaps()
    one = imputation.impute_chained(d, columns=["x", "g"], predictors=["y", "arm"], m=4, seed=9, n_iter=5)
    two = imputation.impute_chained(d, columns=["x", "g"], predictors=["y", "arm"], m=4, seed=9, n_iter=5, n_jobs=2)
    for a, b in zip(one, two):
        pd.testing.assert_frame_equal(a, b)
        assert a.to_csv().encode() == b.to_csv().encode()  # byte for byte
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


def test_completed_sets_hold_only_their_imputed_columns_and_leave_the_data_alone():
    """m completed sets cost m times the imputed columns, not m deep copies of the frame.

    At 1M transfers notebook 05's 20 deep copies of the first transfers (and 20 copies of the
    working frame sent back by the workers) were about 4 GiB; the old code fails the
    shared-memory check.
    """
    d = _with_gaps().assign(wide=np.arange(400.0), label=[f"w{i}" for i in range(400)])
    before = d.copy()
    sets = imputation.impute_chained(d, columns=["x", "g"], predictors=["y", "arm"], m=3, seed=9, n_iter=3)
    pd.testing.assert_frame_equal(d, before)
    for filled in sets:
        assert list(filled.columns) == list(d.columns) and filled.index.equals(d.index)
        for c in ("wide", "y"):
            assert np.shares_memory(filled[c].to_numpy(), d[c].to_numpy())
        assert not np.shares_memory(filled["x"].to_numpy(), d["x"].to_numpy())
        filled["wide"] = -1.0  # assigning a column of one set changes neither the data nor the others
    pd.testing.assert_frame_equal(d, before)
    assert (sets[0]["wide"] == -1.0).all() and sets[0]["x"].notna().all()


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


# --------------------------------------------------------------------------------------------
# Sorted predictive mean matching, workers, the number of imputations
# --------------------------------------------------------------------------------------------


def _matchindex_walk(sorted_values, target, k):
    """The neighbour walk of R's mice (src/matchindex.cpp, mice 3.x), ported line by line: from
    the insertion point (lower_bound) take the nearer of the left and right neighbour k times,
    the right one on a tie. Returns the sorted positions taken."""
    n = len(sorted_values)
    r = int(np.searchsorted(sorted_values, target, side="left"))
    left, taken = r - 1, []
    while len(taken) < k and left >= 0 and r < n:
        if target - sorted_values[left] < sorted_values[r] - target:
            taken.append(left)
            left -= 1
        else:
            taken.append(r)
            r += 1
    while len(taken) < k and left >= 0:
        taken.append(left)
        left -= 1
    while len(taken) < k and r < n:
        taken.append(r)
        r += 1
    return sorted(taken)


def test_sorted_pmm_donors_are_the_pairwise_nearest_by_hand():
    """Donors' predicted means 0, 1, 3, 6, 10, 15 (sorted), k = 3. By hand, the distances
    |target - donor| give the three nearest: -5 -> 0, 1, 3; 2.2 -> 1 (1.2), 3 (0.8), 0 (2.2);
    4.4 -> 3 (1.4), 6 (1.6), 1 (3.4); 7.9 -> 6 (1.9), 10 (2.1), 3 (4.9); 12.4 -> 10 (2.4),
    15 (2.6), 6 (6.4); 20 -> 6, 10, 15. A brute-force pairwise ranking agrees."""
    donors = np.array([0.0, 1, 3, 6, 10, 15])
    targets = np.array([-5, 2.2, 4.4, 7.9, 12.4, 20])
    by_hand = [{0, 1, 3}, {0, 1, 3}, {1, 3, 6}, {3, 6, 10}, {6, 10, 15}, {6, 10, 15}]
    starts = imputation._nearest_window_starts(donors, targets, 3)
    for t, s, expected in zip(targets, starts, by_hand):
        assert set(donors[s : s + 3]) == expected, t
        brute = set(donors[np.argsort(np.abs(donors - t), kind="stable")[:3]])  # pairwise distances
        assert set(donors[s : s + 3]) == brute


def test_sorted_pmm_donors_equal_mice_matchindex_walk_with_ties():
    """On values with many ties (rounded to 0.5) and targets on and between them, the window
    holds exactly the positions mice's neighbour walk takes, for k = 1, 3, 5 and 10."""
    rng = np.random.default_rng(3)
    values = np.sort(np.round(rng.normal(0, 2, 40) * 2) / 2)
    targets = np.concatenate([rng.normal(0, 3, 200), values[::3], [values[0] - 1, values[-1] + 1]])
    for k in (1, 3, 5, 10):
        starts = imputation._nearest_window_starts(values, targets, k)
        for t, s in zip(targets, starts):
            assert list(range(s, s + k)) == _matchindex_walk(values, t, k), (k, t)


def test_imputation_j_is_byte_identical_whatever_m_and_first():
    """Imputation j is the same whatever m, and when computed alone with ``first`` (which the
    two-stage rule relies on); 1 against 2 workers is checked byte for byte above."""
    d = _with_gaps(seed=2)
    kw = {"columns": ["x", "g"], "predictors": ["y", "arm"], "seed": 11, "n_iter": 2}
    one = imputation.impute_chained(d, m=4, **kw)
    later = imputation.impute_chained(d, m=6, first=2, **kw)
    for a, b in zip(one[2:], later):
        assert a.to_csv().encode() == b.to_csv().encode()


def test_imputations_needed_is_von_hippel_rule_by_hand():
    """von Hippel (2020): FMI 0.3 from 5 pilot imputations: logit(0.3) = ln(3/7) = -0.847298,
    + 1.959964 * sqrt(2/5) = 1.239590 gives 0.392292, expit 0.596834; m = 1 + (0.596834 /
    0.05)^2 / 2 = 72.24, so 73. With 20 pilot imputations the upper limit is expit(-0.847298 +
    1.959964 * 0.316228 = -0.227503) = 0.443367 and m = 1 + 0.5 * 78.63 = 40.3 -> 41. No missing
    information keeps the pilot's 5."""
    assert imputation.imputations_needed(0.3, m_pilot=5) == 73
    assert imputation.imputations_needed(0.3, m_pilot=20) == 41
    assert imputation.imputations_needed(0.0, m_pilot=5) == 5
    assert imputation.imputations_needed(0.001, m_pilot=5) == 5  # the rule asks for 1.0; the pilot is kept
    with pytest.raises(ModelError, match="pilot"):
        imputation.imputations_needed(0.3, m_pilot=1)


def test_auto_imputation_keeps_the_pilot_and_adds_what_the_rule_asks():
    d = _with_gaps(seed=5)
    kw = {"columns": ["x", "g"], "predictors": ["y", "arm"], "seed": 4, "n_iter": 2}
    done, choice = imputation.impute_chained_auto(
        d, formula="y ~ arm + x + C(g)", term_prefix="x", m_pilot=3, cv_se=0.2, **kw
    )
    assert choice["m"] == imputation.imputations_needed(choice["fmi_pilot"], m_pilot=3, cv_se=0.2)
    assert choice["m"] > 3 and len(done) == choice["m"]
    plain = imputation.impute_chained(d, m=choice["m"], **kw)
    for a, b in zip(done, plain):
        pd.testing.assert_frame_equal(a, b)


#: Pooled estimate and between-imputation variance B of every term of the adjusted model on the
#: shipped cohort (notebook 05's imputation model, m = 20, seed 20261124), computed once with the
#: implementation before sorted-window matching and array-backed chained equations (commit
#: b895292, analysis/methods/imputation.py).
OLD_POOLED = {
    "(Intercept)": (3.584425405045073, 0.013163596135183628),
    "treatment_arm[empirical]": (-0.005713792766363897, 2.000080140452711e-05),
    "treatment_arm[personalized]": (0.6422554861062626, 9.404288855139508e-06),
    "embryo_stage[blastocyst]": (-0.12444534048489933, 1.681052008995504e-05),
    "cycle_type[frozen]": (0.4499004989402959, 5.625035379379929e-06),
    "oocyte_source[donor]": (0.5070588731949466, 2.777030432038581e-05),
    "center_id[C2]": (0.2776631749388566, 1.9928192356427447e-05),
    "center_id[C3]": (-0.024506666625783817, 8.336947886566956e-06),
    "center_id[C4]": (0.232211623242167, 1.573299494636185e-05),
    "center_id[C5]": (-0.15535794329075378, 6.794507104280333e-05),
    "age_at_biopsy_years": (-0.106340610456034, 1.299313267761343e-07),
    "bmi_kg_m2": (-0.04410530738699468, 2.022656212507246e-05),
    "prior_failed_transfers": (-0.13878797484950833, 5.190323366175707e-07),
    "good_quality_embryos": (0.3960195002333652, 9.065337936271658e-05),
}


@pytest.mark.slow
def test_pooled_estimates_on_shipped_cohort_unchanged_within_monte_carlo_error():
    """The pooled log odds ratios of notebook 05's imputed model equal the old implementation's
    within Monte-Carlo error. Two independent sets of m_old = 20 and m_new = 10 imputations
    (another seed) differ by N(0, B/m_old + B/m_new) per term; each B is estimated by its
    set's between-imputation variance, and the tolerance is 4 such SDs (14 terms: a family
    false alarm rate near 1e-3 under a correct implementation)."""
    from functools import partial

    from analysis.data.cohort import load_cohort
    from analysis.data.profiles import profile_group_from_markers
    from analysis.models.logistic import fit_logit
    from analysis.run.config import AnalysisPlan
    from analysis.study import s05_treatment_effects as s05

    plan = AnalysisPlan()
    cohort = load_cohort(Path(__file__).parents[1] / "data" / "synthetic")
    markers = [c for c in s05.IMPUTATION_MARKERS if c in cohort.patients]
    columns = list(dict.fromkeys([*plan.covariates, *plan.ps_covariates, *markers]))
    data = cohort.population("first_with_indeterminate", "live_birth").dropna(
        subset=["live_birth", *s05.IMPUTATION_PREDICTORS]
    )
    m = 10
    imps = imputation.impute_chained(
        data,
        columns=columns,
        predictors=["live_birth", *s05.IMPUTATION_PREDICTORS],
        m=m,
        n_iter=s05.IMPUTATION_ITERATIONS,
        seed=7,
        passive={"profile_group": partial(profile_group_from_markers, cutoffs=None)},
    )
    f = outcomes.formula("live_birth", ["treatment_arm"], plan.covariates, data, references={"treatment_arm": "none"})
    params = pd.concat([fit_logit(d, f, model_id="mi").params for d in imps], axis=1)
    new_q, new_b = params.mean(axis=1), params.var(axis=1, ddof=1)
    assert set(new_q.index) == set(OLD_POOLED)
    for term, (old_q, old_b) in OLD_POOLED.items():
        sd = np.sqrt(old_b / 20 + new_b[term] / m)
        assert abs(new_q[term] - old_q) <= 4 * sd, (term, new_q[term], old_q, sd)
