"""The counting-process Cox fit (:func:`analysis.models.survival.cox_counting_process_fit`).

Against R (``coxph(Surv(start, stop, event) ~ ., weights = w, cluster = patient_id, ties =
"efron")``, survival 3.5.3) on the fixed per-protocol rows of the target-trial reference
(``tests/reference/make_target_trial_reference.R`` writes ``cox_counting_rows.csv`` and
``cox_counting_reference.csv``), against R's ``coxph`` on ``lung`` (ties, no entry, unit
weights), and on a case solved by hand (entry times, a weight, one event per risk set).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from numpy.testing import assert_allclose

from analysis.core.exceptions import ModelError
from analysis.models.survival import cox_counting_process_fit

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def r_rows():
    return pd.read_csv(REF / "cox_counting_rows.csv")


@pytest.fixture(scope="module")
def r_fit():
    return pd.read_csv(REF / "cox_counting_reference.csv")


def _fit_rows(rows: pd.DataFrame, terms, **kw):
    return cox_counting_process_fit(
        rows[list(terms)].to_numpy(float),
        start=rows["start"].to_numpy(float),
        stop=rows["stop"].to_numpy(float),
        event=rows["event"].to_numpy(int),
        weights=rows["w"].to_numpy(float),
        clusters=rows["patient_id"].to_numpy(),
        **kw,
    )


def test_weighted_counting_process_fit_matches_r_coxph_with_cluster(r_rows, r_fit):
    fit = _fit_rows(r_rows, r_fit["term"])
    assert_allclose(fit.coef, r_fit["coef"], rtol=1e-7, atol=1e-10)
    assert_allclose(np.sqrt(np.diag(fit.covariance)), r_fit["se"], rtol=1e-7)
    assert_allclose(np.sqrt(np.diag(fit.robust_covariance)), r_fit["robust_se"], rtol=1e-7)
    assert fit.loglik == pytest.approx(r_fit["loglik"].iloc[0], rel=1e-10)
    assert (fit.n_events, fit.n_clusters) == (int(r_rows["event"].sum()), r_rows["patient_id"].nunique())


def test_weighted_score_residuals_sum_to_the_score_which_is_zero_at_the_estimate(r_rows, r_fit):
    fit = _fit_rows(r_rows, r_fit["term"])
    assert_allclose(r_rows["w"].to_numpy() @ fit.score_residuals, 0, atol=1e-8)


def test_splitting_rows_at_entry_times_changes_nothing(r_rows, r_fit):
    # A woman's row (0, stop] cut into (0, s] and (s, stop] with the same covariates, weight and
    # cluster: the same risk sets, so the same estimates and (summed within woman) the same
    # robust variance.
    terms = list(r_fit["term"])
    first = r_rows[(r_rows["start"] == 0) & (r_rows["stop"] > 2)].copy()
    cut = np.floor(first["stop"] / 2)
    head, tail = first.assign(stop=cut, event=0), first.assign(start=cut)
    split = pd.concat([r_rows.drop(first.index), head, tail], ignore_index=True)
    whole, pieces = _fit_rows(r_rows, terms), _fit_rows(split, terms)
    assert_allclose(pieces.coef, whole.coef, rtol=1e-9, atol=1e-12)
    assert_allclose(pieces.covariance, whole.covariance, rtol=1e-8, atol=1e-14)
    assert_allclose(pieces.robust_covariance, whole.robust_covariance, rtol=1e-8, atol=1e-14)


def test_unit_weights_no_entry_with_ties_match_r_coxph_on_lung():
    lung = pd.read_csv(REF / "shared" / "lung.csv")
    ref = pd.read_csv(REF / "model_reference_coefficients.csv")
    ref = ref[ref["model_id"] == "coxph_efron_factor_ecog"].set_index("term")
    data = lung[["time", "status", "age", "sex", "ph.ecog"]].dropna()
    data = data[data["ph.ecog"] < 3]
    assert data["time"].duplicated().any()  # tied event times: Efron's approximation is used
    X = np.column_stack([data["age"], data["sex"], data["ph.ecog"] == 1, data["ph.ecog"] == 2]).astype(float)
    fit = cox_counting_process_fit(X, stop=data["time"].to_numpy(float), event=(data["status"] == 2).to_numpy(int))
    terms = ["age", "sex", "ecog1", "ecog2"]
    assert_allclose(fit.coef, ref.loc[terms, "coef"], rtol=1e-8)
    assert_allclose(np.sqrt(np.diag(fit.covariance)), ref.loc[terms, "std_error"], rtol=1e-8)


def test_a_case_solved_by_hand():
    # Rows (start, stop], x, event, weight:
    #   A (0, 1] x=1 event w=a;  B (0, 1.5] x=0 censored;  C (1.5, 2] x=0 event;  D (1.5, 3] x=1 censored.
    # Risk sets: {A, B} at t=1, {C, D} at t=2 (B and D, entering at 1.5, are not at risk at 1).
    # l(b) = a b - a log(a u + 1) - log(1 + u), u = exp(b); U = 0 gives a u^2 + (1 - a) u - a = 0.
    a = 2.0
    u = ((a - 1) + np.sqrt((1 - a) ** 2 + 4 * a * a)) / (2 * a)
    info = a * a * u / (a * u + 1) ** 2 + u / (1 + u) ** 2
    xbar1, h1 = a * u / (a * u + 1), a / (a * u + 1)
    xbar2, h2 = u / (1 + u), 1 / (1 + u)
    resid = np.array(
        [
            (1 - xbar1) - u * (1 - xbar1) * h1,  # A: event, then its share of the hazard
            xbar1 * h1,  # B: at risk at t=1
            -xbar2 + xbar2 * h2,  # C: event at t=2
            -u * (1 - xbar2) * h2,
        ]
    )  # D: at risk at t=2
    w = np.array([a, 1, 1, 1])
    fit = cox_counting_process_fit(
        np.array([[1.0], [0], [0], [1]]),
        start=np.array([0, 0, 1.5, 1.5]),
        stop=np.array([1, 1.5, 2, 3]),
        event=np.array([1, 0, 1, 0]),
        weights=w,
    )
    assert fit.coef[0] == pytest.approx(np.log(u), rel=1e-12)
    assert fit.covariance[0, 0] == pytest.approx(1 / info, rel=1e-10)
    assert_allclose(fit.score_residuals[:, 0], resid, rtol=1e-10, atol=1e-14)
    assert fit.robust_covariance[0, 0] == pytest.approx(np.sum((w * resid) ** 2) / info**2, rel=1e-10)
    # A and D in one cluster, B and C in another: scores summed within cluster first.
    fit2 = cox_counting_process_fit(
        np.array([[1.0], [0], [0], [1]]),
        start=np.array([0, 0, 1.5, 1.5]),
        stop=np.array([1, 1.5, 2, 3]),
        event=np.array([1, 0, 1, 0]),
        weights=w,
        clusters=np.array(["g1", "g2", "g2", "g1"]),
    )
    by_cluster = np.array([w[0] * resid[0] + resid[3], resid[1] + resid[2]])
    assert fit2.robust_covariance[0, 0] == pytest.approx(np.sum(by_cluster**2) / info**2, rel=1e-10)
    assert fit2.n_clusters == 2


def test_efron_ties_by_hand():
    # One event time, t = 1: rows x = (1, 0, 1, 1), the first two with tied events, the other two
    # censored at 2. S0 = 3u + 1, S1 = 3u; the events' S0_D = u + 1, S1_D = u (u = exp(b)).
    # Efron's means: xbar_0 = S1 / S0, xbar_1 = (S1 - S1_D / 2) / (S0 - S0_D / 2);
    # U(b) = 1 - xbar_0 - xbar_1 and, x being binary, I(b) = sum_k xbar_k (1 - xbar_k).
    def means(b):
        u = np.exp(b)
        return np.array([3 * u / (3 * u + 1), (3 * u - u / 2) / (3 * u + 1 - (u + 1) / 2)])

    b_hat = scipy.optimize.brentq(lambda b: 1 - means(b).sum(), -5, 5, xtol=1e-15, rtol=1e-15)
    breslow = np.log(1 / 3)  # 1 - 2 * 3u / (3u + 1) = 0: what ignoring Efron's correction gives
    assert abs(b_hat - breslow) > 0.1
    fit = cox_counting_process_fit(
        np.array([[1.0], [0], [1], [1]]), stop=np.array([1.0, 1, 2, 2]), event=np.array([1, 1, 0, 0])
    )
    assert fit.coef[0] == pytest.approx(b_hat, rel=1e-10)
    xbar = means(b_hat)
    assert fit.covariance[0, 0] == pytest.approx(1 / np.sum(xbar * (1 - xbar)), rel=1e-10)


def test_bad_inputs_raise_model_errors():
    x = np.array([[1.0], [0], [1]])
    with pytest.raises(ModelError, match="no event"):
        cox_counting_process_fit(x, stop=np.array([1.0, 2, 3]), event=np.zeros(3))
    with pytest.raises(ModelError, match="start < stop"):
        cox_counting_process_fit(x, start=np.array([0, 2, 0]), stop=np.array([1.0, 2, 3]), event=np.ones(3))
    with pytest.raises(ModelError, match="singular"):
        cox_counting_process_fit(np.ones((3, 1)), stop=np.array([1.0, 2, 3]), event=np.ones(3))


def test_time_split_model_equals_lifelines_on_the_same_episodes():
    """The time-split Cox of notebook 04 (episodes split at the median event time, the arm
    coefficient early and late) now runs on this solver; on a simulated design it gives
    lifelines' ``CoxPHFitter(entry_col=)`` estimates on the same episode rows (lifelines stops
    its Newton-Raphson about 1e-7 short, hence rtol 1e-5), and counts the episode rows."""
    from lifelines import CoxPHFitter

    from analysis.methods.outcomes import ModelLog
    from analysis.methods.survival_analysis import _fit_time_split

    rng = np.random.default_rng(8)
    n = 400
    arm = rng.integers(0, 2, n)
    age = rng.normal(35, 4, n)
    time = np.ceil(rng.exponential(200 * np.exp(-0.4 * arm + 0.03 * (age - 35)))) + 1
    design = pd.DataFrame(
        {"time_days": time, "event": (rng.random(n) < 0.7).astype(int), "treatment_arm[x]": arm, "age": age}
    )
    log = ModelLog("t")
    _fit_time_split(log, design, ["treatment_arm[x]", "age"], notebook="t", conf_level=0.95)
    ours = log.estimates_frame().set_index("term")
    tau = float(design.loc[design["event"] == 1, "time_days"].median())
    early = design.assign(start=0.0, stop=np.minimum(time, tau), event=np.where(time <= tau, design["event"], 0))
    late = design[time > tau].assign(start=tau, stop=lambda d: d["time_days"])
    long = pd.concat([early.assign(late=0), late.assign(late=1)], ignore_index=True)
    long["early_arm"] = long["treatment_arm[x]"] * (1 - long["late"])
    long["late_arm"] = long["treatment_arm[x]"] * long["late"]
    ref = CoxPHFitter().fit(
        long[["start", "stop", "event", "early_arm", "late_arm", "age"]],
        duration_col="stop",
        event_col="event",
        entry_col="start",
        fit_options={"precision": 1e-12},
    )
    names = {"early_arm": f"treatment_arm[x] | days <= {tau:g}", "late_arm": f"treatment_arm[x] | days > {tau:g}"}
    for theirs, mine in {**names, "age": "age"}.items():
        assert ours.loc[mine, "coef"] == pytest.approx(ref.params_[theirs], rel=1e-5)
        assert ours.loc[mine, "std_error"] == pytest.approx(ref.standard_errors_[theirs], rel=1e-5)
    assert ours["n_obs"].iloc[0] == len(long)
