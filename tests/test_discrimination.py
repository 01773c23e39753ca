"""AUC, DeLong variance and test, Youden cut-off and spline basis against R (pROC, Hmisc) on fixed
data (tests/reference/make_biomarker_reference.R), and calibration by hand."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.core.exceptions import ModelError
from analysis.methods import discrimination, prognostic

REF = Path(__file__).parent / "reference"
MARKERS = ["il15_fn14_ratio", "unk_cd56_percent", "blood_nk_percent"]


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "biomarker_data.csv")


@pytest.fixture(scope="module")
def ref():
    r = pd.read_csv(REF / "biomarker_reference.csv")
    return {(q, m): g["value"].to_numpy() for (q, m), g in r.groupby(["quantity", "marker"], sort=False)}


@pytest.mark.parametrize("marker", MARKERS)
def test_auc_delong_and_youden_match_proc(data, ref, marker):
    y, x = data["live_birth"], data[marker]
    a = discrimination.auc_delong(x, y)
    assert a["auc"] == pytest.approx(ref[("auc", marker)][0], rel=1e-12)
    assert a["variance"] == pytest.approx(ref[("var_delong", marker)][0], rel=1e-10)
    assert a["conf_low"] == pytest.approx(ref[("ci_low", marker)][0], rel=1e-10)
    assert a["conf_high"] == pytest.approx(ref[("ci_high", marker)][0], rel=1e-10)
    best = discrimination.youden_cutoff(x, y)
    assert best["threshold"] == pytest.approx(ref[("youden_threshold", marker)][0], rel=1e-12)
    assert best["sensitivity"] == pytest.approx(ref[("youden_sensitivity", marker)][0], rel=1e-12)
    assert best["specificity"] == pytest.approx(ref[("youden_specificity", marker)][0], rel=1e-12)


@pytest.mark.parametrize("marker", MARKERS)
def test_spline_knots_and_basis_match_hmisc(data, ref, marker):
    knots = prognostic.rcs_knots(data[marker], 4)
    np.testing.assert_allclose(knots, ref[("rcs_knot", marker)], rtol=1e-12)
    basis = prognostic.rcs_basis(data[marker], knots)
    assert basis[:, 1].sum() == pytest.approx(ref[("rcs_basis_col2_sum", marker)][0], rel=1e-10)
    assert basis[0, 2] == pytest.approx(ref[("rcs_basis_col3_first", marker)][0], rel=1e-10)


def test_paired_delong_matches_roc_test(data, ref):
    t = discrimination.delong_test(data["il15_fn14_ratio"], data["blood_nk_percent"], data["live_birth"])
    assert t["statistic"] == pytest.approx(ref[("delong_z", "il15_vs_blood_nk")][0], rel=1e-10)
    assert t["p_value"] == pytest.approx(ref[("delong_p", "il15_vs_blood_nk")][0], rel=1e-9)


def test_auc_and_cutoff_by_hand():
    # scores of events 3, 4; non-events 1, 3: pairs (3>1) (3=3 half) (4>1) (4>3) -> 3.5/4
    y, s = [1, 1, 0, 0], [3, 4, 1, 3]
    assert discrimination.auc(s, y) == pytest.approx(0.875)
    m = discrimination.cutoff_metrics(s, y, 3.5)
    assert (m["n_tp"], m["n_fp"], m["n_fn"], m["n_tn"]) == (1, 0, 1, 2)
    assert m["sensitivity"] == 0.5 and m["specificity"] == 1.0 and m["ppv"] == 1.0 and m["npv"] == pytest.approx(2 / 3)


def test_perfectly_calibrated_predictions_have_slope_one_intercept_zero():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 20000)
    y = (rng.random(20000) < p).astype(float)
    cal = discrimination.calibration(p, y)
    assert cal["calibration_slope"] == pytest.approx(1, abs=0.06)
    assert cal["calibration_intercept"] == pytest.approx(0, abs=0.04)
    assert cal["brier"] == pytest.approx(np.mean(p * (1 - p)), rel=0.03)


def test_bad_markers_get_a_sentence_and_the_rest_goes_on(data):
    d = data.assign(empty=np.nan, flat=2.0)
    table = prognostic.prognostic_table(d, ["il15_fn14_ratio", "empty", "flat"], n_bootstrap=20).set_index("marker")
    assert table.loc["il15_fn14_ratio", "message"] == "" and np.isfinite(table.loc["il15_fn14_ratio", "auc"])
    assert "no observed value" in table.loc["empty", "message"]
    assert "constant" in table.loc["flat", "message"]
    few = d.iloc[:60]
    row = prognostic.prognostic_table(few, ["il15_fn14_ratio"], n_bootstrap=20).iloc[0]
    assert "too few" in row["message"] and np.isfinite(row["or_per_sd"])
    with pytest.raises(ModelError, match="constant"):
        discrimination.youden_cutoff([1, 1, 1], [0, 1, 0]) if False else prognostic.spline_or_curve(d, "flat")


def test_calibration_intercept_and_slope_match_statsmodels_glm():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.9, 400)
    y = (rng.random(400) < np.clip(p * 1.2 - 0.05, 0, 1)).astype(float)
    lp = np.log(p / (1 - p))
    slope = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit().params[1]
    intercept = sm.GLM(y, np.ones((400, 1)), family=sm.families.Binomial(), offset=lp).fit().params[0]
    cal = discrimination.calibration(p, y)
    assert cal["calibration_slope"] == pytest.approx(slope, abs=1e-8)
    assert cal["calibration_intercept"] == pytest.approx(intercept, abs=1e-8)


class _FormulaOnly:
    """The same model without the array fast path: every resample refits through fit_logit."""

    def __init__(self, formula):
        self.model = prognostic.LogisticRiskModel(formula)

    def __call__(self, frame):
        return self.model(frame)


def test_optimism_fast_path_equals_refitting_the_formula(data):
    rows = data.dropna().reset_index(drop=True)
    outcome = "live_birth"
    formula = "live_birth ~ il15_fn14_ratio + unk_cd56_percent + blood_nk_percent"
    fast = discrimination.optimism_corrected(
        rows, outcome=outcome, fit_predict=prognostic.LogisticRiskModel(formula), n_bootstrap=40, seed=11
    )
    slow = discrimination.optimism_corrected(
        rows, outcome=outcome, fit_predict=_FormulaOnly(formula), n_bootstrap=40, seed=11
    )
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, atol=1e-8, rtol=0)
    assert (fast["optimism"].abs() > 0).all()  # the resamples did refit
