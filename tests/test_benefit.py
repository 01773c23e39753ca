"""Benefit table, NNT and decision curves by hand."""

import numpy as np
import pandas as pd
import pytest

from analysis.methods import benefit


def test_by_profile_risk_difference_and_nnt_by_hand():
    # dysregulated: treated 40/100, untreated 20/100 -> RD 0.2, SE sqrt(.24/100 + .16/100) = 0.0632
    rows = []
    for arm, events, n in [("personalized", 40, 100), ("none", 20, 100)]:
        rows += [
            {"treatment_arm": arm, "profile_group": "dysregulated", "live_birth": int(i < events)} for i in range(n)
        ]
    t = benefit.by_profile_table(pd.DataFrame(rows)).iloc[0]
    se = np.sqrt(0.4 * 0.6 / 100 + 0.2 * 0.8 / 100)
    assert t["risk_difference"] == pytest.approx(0.2)
    assert t["conf_low"] == pytest.approx(0.2 - 1.959964 * se, rel=1e-5)
    assert t["nnt"] == pytest.approx(5.0)
    assert t["nnt_low"] == pytest.approx(1 / (0.2 + 1.959964 * se), rel=1e-5)
    assert t["nnt_kind"] == "NNT (benefit)"
    assert "dysregulated" in benefit.supported_rule(benefit.by_profile_table(pd.DataFrame(rows)))


def test_decision_curve_by_hand():
    b = pd.DataFrame({"benefit": [0.3, 0.1, -0.05], "profile_group": ["dysregulated", "dysregulated", "balanced"]})
    dc = benefit.decision_curve(b, thresholds=[0.05]).set_index("strategy")["net_benefit"]
    assert dc["treat none"] == 0
    assert dc["treat all"] == pytest.approx((0.25 + 0.05 - 0.10) / 3)
    assert dc["treat by model"] == pytest.approx((0.25 + 0.05) / 3)
    assert dc["treat dysregulated profiles"] == pytest.approx((0.25 + 0.05) / 3)
