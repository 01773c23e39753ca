"""Target-trial emulation: definitions on hand-made courses, R on fixed data, and the truth of a
realistic clinic (null mode and effects on).

The realistic clinic (:mod:`analysis.data.clinic`) switches arms after failures, delays
personalized therapy, has frailty, a calendar trend, informative drop-out, a data cut and
returns for siblings; ``tests/test_clinic.py`` shows the old biopsy-origin design finding an
effect there in null mode. Here the emulated trial must not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.data.clinic import simulate_clinic
from analysis.data.cohort import Cohort, load_cohort
from analysis.data.synthetic import write_cohort
from analysis.methods import outcomes
from analysis.methods import target_trial as tt
from analysis.methods.resampling import bootstrap_frequencies
from analysis.study.s03_outcomes_logistic import with_transfer_band

REF = Path(__file__).parent / "reference"
COV = ["age_at_biopsy_years", "prior_failed_transfers", "center_id", "profile_group", "first_transfer_year"]


# ---------------------------------------------------------------------------------------------
# definitions, on hand-made courses
# ---------------------------------------------------------------------------------------------
def _hand_cohort(with_reason: bool = False) -> Cohort:
    d = pd.Timestamp
    rows = [  # patient, k, date, arm, live birth
        ("A", 1, "2020-01-10", "none", 0.0),
        ("A", 2, "2020-04-10", "none", 1.0),
        ("A", 3, "2022-01-10", "none", 0.0),
        ("B", 1, "2020-01-10", "empirical", 0.0),
        ("C", 1, "2020-01-10", "none", 0.0),
        ("D", 1, "2020-01-10", "personalized", np.nan),
        ("E", 1, "2020-01-10", "none", 0.0),
        ("E", 2, "2020-05-10", "personalized", 0.0),
        ("E", 3, "2020-09-10", "personalized", 1.0),
        ("F", 1, "2020-01-10", "none", 0.0),
    ]
    tr = pd.DataFrame(rows, columns=["patient_id", "transfer_number", "transfer_date", "treatment_arm", "live_birth"])
    tr["transfer_date"] = pd.to_datetime(tr["transfer_date"])
    tr["live_birth"] = tr["live_birth"].astype("Float64")
    end = {
        "A": d("2023-01-01"),
        "B": d("2021-06-01"),
        "C": d("2020-04-20"),
        "D": d("2020-03-01"),
        "E": d("2021-06-01"),
        "F": d("2020-04-20"),
    }
    pats = pd.DataFrame(
        {
            "patient_id": list(end),
            "included": True,
            "follow_up_end_date": list(end.values()),
            "prior_failed_transfers": 2,
        }
    )
    if with_reason:
        pats["follow_up_end_reason"] = ["data_cut", "data_cut", "data_cut", "lost", "data_cut", "stopped_treatment"]
    tr = tr.merge(pats.drop(columns="included"), on="patient_id")
    return Cohort(patients=pats, transfers=tr, flow=pd.DataFrame(), problems=pd.DataFrame())


def test_first_course_cuts_at_the_first_live_birth_and_dates_follow_up_from_time_zero():
    course = tt.first_course(_hand_cohort(), dropout_days=365)
    assert course.after_birth["patient_id"].tolist() == ["A"]  # the sibling transfer, reported
    assert course.transfers.groupby("patient_id").size().to_dict() == {"A": 2, "B": 1, "C": 1, "D": 1, "E": 3, "F": 1}
    women = course.women.set_index("patient_id")
    # A: live birth at her second transfer, 91 days after time zero (event dated the day after).
    assert (women.loc["A", "status"], women.loc["A", "time_days"]) == (1, 92)
    # B: a failure and no transfer for more than 365 days of follow-up: drop-out.
    assert (women.loc["B", "status"], women.loc["B", "end"]) == (2, "dropout")
    # C and F: follow-up ends 101 days after a failure: still in treatment, censored at the cut.
    assert (women.loc["C", "status"], women.loc["C", "time_days"], women.loc["C", "end"]) == (
        0,
        101,
        "end_of_follow_up",
    )
    # D: unknown outcome at her first transfer: censored there.
    assert (women.loc["D", "status"], women.loc["D", "time_days"]) == (0, 0.5)
    e = course.transfers[course.transfers["patient_id"] == "E"]
    assert e["on_protocol"].tolist() == [True, False, False]
    assert e["assigned_arm"].unique().tolist() == ["none"]
    assert e["earlier_failures"].tolist() == [2, 3, 4]
    assert course.transfers.set_index("patient_id").loc["B", "continued"] == 0
    assert np.isnan(course.transfers.set_index("patient_id").loc["C", "continued"])


def test_a_recorded_end_reason_decides_between_drop_out_and_censoring():
    women = tt.first_course(_hand_cohort(with_reason=True)).women.set_index("patient_id")
    assert women.loc["F", "status"] == 2  # stopped treatment, though follow-up was short
    assert women.loc["B", "status"] == 0  # data cut, though follow-up was long


def test_cumulative_live_birth_from_hazards_and_continuation_by_hand():
    # h = (0.3, 0.2, 0.5), c = (0.5, 1.0, -): 0.3; 0.3 + 0.7*0.5*0.2 = 0.37; 0.37 + 0.7*0.5*0.8*1.0*0.5 = 0.51
    np.testing.assert_allclose(
        tt._cumulative(np.array([0.3, 0.2, 0.5]), np.array([0.5, 1.0, 1.0])), [0.3, 0.37, 0.51], rtol=1e-14
    )


def test_protocol_table_has_every_target_item():
    table = tt.protocol_table(covariates=COV, dropout_days=365, max_k=3, conf_level=0.95, n_boot=200)
    assert table["item"].tolist() == [
        "Eligibility",
        "Treatment strategies",
        "Assignment",
        "Time zero",
        "Outcome",
        "Follow-up",
        "Causal contrasts",
        "Analysis",
    ]
    assert "365 days" in table.set_index("item").loc["Follow-up", "emulation"]


# ---------------------------------------------------------------------------------------------
# against R on fixed data (tests/reference/make_target_trial_reference.R)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fixed_course():
    # R's reference rows were derived with a missing marker counted as normal (the rule of the
    # time); the parity check is about the estimators on those same rows, so derive them alike
    return tt.first_course(load_cohort(REF / "target_trial_cohort", missing_marker_rule="normal"))


@pytest.fixture(scope="module")
def r_values():
    ref = pd.read_csv(REF / "target_trial_reference.csv")
    return {(q, t): v for q, t, v in ref.itertuples(index=False)}


def test_switch_and_baseline_weights_match_r(fixed_course):
    r = pd.read_csv(REF / "target_trial_weights.csv")
    t = fixed_course.transfers
    sw = tt.switch_weights(t, covariates=COV)
    bw = tt.baseline_weights(fixed_course.women, covariates=COV)
    bmap = pd.Series(bw.to_numpy(), index=fixed_course.women.loc[bw.index, "patient_id"].to_numpy())
    ours = pd.DataFrame(
        {
            "patient_id": t["patient_id"],
            "k": t["k"],
            "sw": sw.to_numpy(),
            "w": sw.to_numpy() * t["patient_id"].map(bmap).to_numpy(),
        }
    )
    both = ours.merge(r, on=["patient_id", "k"], suffixes=("", "_r"))
    assert len(both) == len(r) == len(t)
    np.testing.assert_array_equal(np.isnan(both["sw"]), np.isnan(both["sw_r"]))
    keep = ~np.isnan(both["sw"])
    np.testing.assert_allclose(both.loc[keep, "sw"], both.loc[keep, "sw_r"], rtol=1e-7)
    np.testing.assert_allclose(both.loc[keep, "w"], both.loc[keep, "w_r"], rtol=1e-5)


@pytest.mark.parametrize(
    "function,prefix",
    [
        (tt.per_protocol_cox, "cox_pp"),
        (tt.itt_cox, "cox_itt"),
        (tt.discrete_time_hazard, "dth"),
        (tt.sequential_trials, "seq"),
    ],
)
def test_longitudinal_models_match_r(fixed_course, r_values, function, prefix):
    rows = function(fixed_course, covariates=COV, notebook="test", model_id="test").set_index("term")
    for arm in ("empirical", "personalized"):
        row = rows.loc[f"treatment_arm[{arm}]"]
        assert row["coef"] == pytest.approx(r_values[(f"{prefix}_coef", arm)], rel=1e-5, abs=1e-8)
        assert row["std_error"] == pytest.approx(r_values[(f"{prefix}_robust_se", arm)], rel=1e-5)


# ---------------------------------------------------------------------------------------------
# bootstrap replicates by frequency weights = replicates on copied courses
# ---------------------------------------------------------------------------------------------
def _reference_curves(t: pd.DataFrame, *, max_k: int, groups) -> np.ndarray:
    """Per-protocol cumulative live birth computed the direct way, as the suite did before
    frequency weights: weights from the R-checked :func:`switch_weights` and
    :func:`baseline_weights` on the rows themselves (copies of a woman as separate women), then
    plain weighted shares transfer by transfer."""
    t = t.assign(patient_id=np.cumsum(t["k"].to_numpy() == 1).astype(str)).reset_index(drop=True)
    women = t[t["k"] == 1]
    bw = tt.baseline_weights(women, covariates=COV)
    bmap = pd.Series(bw.to_numpy(), index=women.loc[bw.index, "patient_id"].to_numpy())
    w = tt.switch_weights(t, covariates=COV).to_numpy() * t["patient_id"].map(bmap).to_numpy(float)
    out = []
    for g in groups:
        in_g = np.ones(len(t), bool) if g == "all" else (t["profile_group"].astype(str) == g).to_numpy()
        for arm in tt.ARMS:
            h, c = np.full(max_k, np.nan), np.full(max_k, np.nan)
            for j in range(1, max_k + 1):
                m = in_g & (t["assigned_arm"].to_numpy() == arm) & np.isfinite(w) & (t["k"].to_numpy() == j)
                lb, cont = t["lb"].to_numpy(float), t["continued"].to_numpy(float)
                at, af = m & np.isfinite(lb), m & (lb == 0) & np.isfinite(cont)
                if at.any():
                    h[j - 1] = np.sum(w[at] * lb[at]) / np.sum(w[at])
                if af.any():
                    c[j - 1] = np.sum(w[af] * cont[af]) / np.sum(w[af])
            out.append(tt._cumulative(h, c))
    return np.concatenate(out)


def _copied_courses(t: pd.DataFrame, counts: np.ndarray) -> pd.DataFrame:
    """The resample as rows: each woman's course repeated as many times as she was drawn."""
    codes = pd.factorize(t["patient_id"], sort=True)[0]
    rows_of = pd.Series(np.arange(len(t))).groupby(codes).apply(list)
    picked = [r for i in np.repeat(np.arange(len(counts)), counts) for r in rows_of[i]]
    return t.iloc[picked].reset_index(drop=True)


def test_frequency_weighted_curves_equal_the_direct_computation_on_copied_courses(fixed_course):
    """All data, a bootstrap resample, and all data without the reference centre (the first
    present centre then takes its place): the frequency-weighted refit of both weight models
    gives the same curves as refitting them on the copied rows."""
    # centre C1 renamed last: without the reference centre (then C2) the weight models are
    # still estimable (without C1 the switch model is separated, here as on copied rows)
    t = fixed_course.transfers.assign(center_id=lambda d: d["center_id"].replace({"C1": "C9"}))
    groups = ["all", "dysregulated", "balanced"]
    arrays = tt.per_protocol_arrays(t, covariates=COV)
    drawn = bootstrap_frequencies(arrays.n_women, seed_sequence=np.random.SeedSequence(7))
    centre = t.groupby("patient_id", sort=True)["center_id"].first().astype(str).to_numpy()
    without_first_centre = (centre != np.unique(centre)[0]).astype(int)
    assert (drawn > 1).any() and (drawn == 0).any()
    for counts in (np.ones(arrays.n_women, int), drawn, without_first_centre):
        ours = tt.per_protocol_curves(arrays, counts, max_k=3, groups=groups)
        direct = _reference_curves(_copied_courses(t, counts), max_k=3, groups=groups)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(direct))
        np.testing.assert_allclose(ours, direct, rtol=1e-9, atol=1e-12)


def test_a_bootstrap_replicate_costs_a_bounded_number_of_python_calls(fixed_course):
    """Counting interpreter calls (deterministic, unlike timing): a replicate refits two
    logistic models and a multinomial one on arrays built once. Rebuilding the course table and
    the designs in every replicate cost about 50,000 calls per replicate."""
    import cProfile
    import pstats

    def calls(n_boot: int) -> int:
        profile = cProfile.Profile()
        profile.enable()
        tt.per_protocol_cumulative(fixed_course, covariates=COV, n_boot=n_boot, seed=3, notebook="t", model_id="t")
        profile.disable()
        return pstats.Stats(profile).total_calls

    calls(2)  # one-time costs (imports, library discovery) are not per replicate
    per_replicate = (calls(6) - calls(2)) / 4
    assert per_replicate < 5000, per_replicate


# ---------------------------------------------------------------------------------------------
# against the truth of a realistic clinic
# ---------------------------------------------------------------------------------------------
def _clinic_course(tmp_path_factory, seed: int, null: bool, n: int = 3000, with_cohort: bool = False):
    folder = tmp_path_factory.mktemp(f"clinic_{seed}_{null}")
    clinic = simulate_clinic(n, seed=seed, null=null)
    write_cohort(clinic, folder)
    cohort = load_cohort(folder)
    return (clinic, tt.first_course(cohort), cohort) if with_cohort else (clinic, tt.first_course(cohort))


#: The all-transfer GEE models of notebook 03 (main, and the two sensitivity models).
GEE_MODELS = [("independence", False), ("exchangeable", False), ("independence", True)]
GEE_COV = [
    "age_at_biopsy_years",
    "prior_failed_transfers",
    "center_id",
    "profile_group",
    "biopsy_year",
    "transfer_number_band",
]


def _gee_rows(cohort) -> pd.DataFrame:
    """Arm rows of the three all-transfer GEE models, fitted as notebook 03 fits them."""
    log = outcomes.ModelLog("test")
    data = with_transfer_band(cohort.population("all", "live_birth"))
    for i, (corr, weighted) in enumerate(GEE_MODELS):
        outcomes.fit_gee_model(
            log,
            data,
            model_id=f"gee{i}",
            outcome="live_birth",
            population="all_transfers",
            exposures=["treatment_arm"],
            covariates=GEE_COV,
            conf_level=0.99,
            cov_struct=corr,
            cluster_weighted=weighted,
        )
    rows = log.estimates_frame()
    return rows[rows["term"].str.startswith("treatment_arm[")]


# one null clinic in the default run, two more on demand (`make test-slow`)
@pytest.mark.parametrize(
    "seed", [11, pytest.param(12, marks=pytest.mark.slow), pytest.param(13, marks=pytest.mark.slow)]
)
def test_every_longitudinal_arm_estimate_holds_the_null_on_a_realistic_null_clinic(tmp_path_factory, seed):
    _, course, cohort = _clinic_course(tmp_path_factory, seed, null=True, with_cohort=True)
    for function in (tt.itt_cox, tt.per_protocol_cox, tt.discrete_time_hazard, tt.sequential_trials):
        rows = function(course, covariates=COV, notebook="test", model_id="test", conf_level=0.99)
        for row in rows.itertuples():
            assert row.conf_low < 1 < row.conf_high, (
                function.__name__,
                row.term,
                row.estimate,
                row.conf_low,
                row.conf_high,
            )
    gee = _gee_rows(cohort)
    assert len(gee) == 2 * len(GEE_MODELS)
    for row in gee.itertuples():
        assert row.conf_low < 1 < row.conf_high, (row.model_id, row.term, row.estimate, row.conf_low, row.conf_high)
    cumulative = tt.per_protocol_cumulative(
        course, covariates=COV, notebook="test", model_id="test", n_boot=60, groups=("all",), conf_level=0.99, seed=seed
    )
    assert cumulative.n_failed_replicates == 0
    d = cumulative.differences
    assert ((d["conf_low"] < 0) & (0 < d["conf_high"])).all(), d


def test_per_protocol_cumulative_difference_covers_the_declared_strategy_effect(tmp_path_factory):
    clinic, course = _clinic_course(tmp_path_factory, 21, null=False)
    result = tt.per_protocol_cumulative(
        course, covariates=COV, notebook="test", model_id="test", n_boot=100, groups=("all",), seed=21
    )
    truth = clinic.truth["cumulative"]["with_dropout"]["difference"]["all"]["by_transfer"]
    d = result.differences.set_index("k")
    for k in (1, 2, 3):
        assert d.loc[k, "conf_low"] < truth[k - 1] < d.loc[k, "conf_high"], (k, d.loc[k].to_dict(), truth[k - 1])
    assert d.loc[3, "conf_low"] > 0  # and the benefit is found


@pytest.mark.slow
def test_coverage_of_the_per_protocol_cumulative_difference_over_many_seeds(tmp_path_factory):
    """Coverage study (make test-slow): the 95% interval at transfer 3 over 30 realistic clinics."""
    hits = []
    for seed in range(100, 130):
        clinic, course = _clinic_course(tmp_path_factory, seed, null=False, n=2500)
        result = tt.per_protocol_cumulative(
            course, covariates=COV, notebook="test", model_id="test", n_boot=200, groups=("all",), seed=seed
        )
        truth = clinic.truth["cumulative"]["with_dropout"]["difference"]["all"]["by_transfer"][2]
        row = result.differences.set_index("k").loc[3]
        hits.append(row["conf_low"] < truth < row["conf_high"])
    coverage = float(np.mean(hits))
    print(f"coverage of clb_pp at transfer 3: {coverage:.3f} over {len(hits)} clinics")
    assert coverage >= 0.85


def test_a_recorded_end_reason_column_passes_the_contract_and_reaches_the_course(tmp_path):
    clinic = simulate_clinic(400, seed=8)
    patients = clinic.patients.copy()
    # Women without a live birth who never come back after a failure stopped treatment.
    lb = clinic.transfers.groupby("patient_id")["live_birth"].max()
    patients["follow_up_end_reason"] = np.where(patients["patient_id"].map(lb).eq(1), "data_cut", "stopped_treatment")
    write_cohort(type(clinic)(patients, clinic.transfers, clinic.truth), tmp_path)
    cohort = load_cohort(tmp_path)
    assert "follow_up_end_reason" in cohort.transfers.columns
    women = tt.first_course(cohort).women
    no_birth = women["status"] != 1
    known = women["end"] != "outcome_unknown"
    assert (women.loc[no_birth & known, "status"] == 2).all()  # the recorded reason decides: drop-out


def test_the_course_is_built_from_one_copy_of_the_transfers(tmp_path):
    """Every transfer column rides along in the course (any baseline covariate may be asked
    for), so copies of the whole frame are what the course costs at registry size. Built from a
    clinic with sibling transfers after live births (rows dropped from the course), the course
    allocates at most about one transfers frame at its peak (the earlier version: 1.8 to 2.2,
    from masking, sorting, re-indexing and copying the frame in turn)."""
    import tracemalloc

    write_cohort(simulate_clinic(3000, seed=12), tmp_path)
    cohort = load_cohort(tmp_path)
    frame_bytes = cohort.transfers.memory_usage(deep=True).sum()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        course = tt.first_course(cohort)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(course.after_birth) > 0
    assert (
        len(course.transfers) + len(course.after_birth)
        == cohort.transfers["patient_id"].isin(cohort.patients.loc[cohort.patients["included"], "patient_id"]).sum()
    )
    assert peak < 1.3 * frame_bytes, peak / frame_bytes
