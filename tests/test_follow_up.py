"""Median follow-up by reverse Kaplan–Meier, against R's survival::survfit with reversed status."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.methods.follow_up import reverse_km_follow_up, survival_quantile

REF = Path(__file__).parent / "reference"


def test_reverse_km_follow_up_matches_r_survfit_on_the_shipped_cohort():
    """R (make_follow_up_reference.R):
    quantile(survfit(Surv(time_days, 1 - event) ~ 1, data = arm rows), c(0.25, 0.5, 0.75)),
    per arm and overall, on follow_up_data.csv (the shipped cohort's first course)."""
    data = pd.read_csv(REF / "follow_up_data.csv")
    ref = pd.read_csv(REF / "follow_up_reference.csv").set_index("group")
    ours = pd.concat(
        [
            reverse_km_follow_up(data, duration_col="time_days", event_col="event", group_col="treatment_arm"),
            reverse_km_follow_up(data, duration_col="time_days", event_col="event"),
        ]
    ).set_index("group")
    assert sorted(ours.index) == sorted(ref.index)
    ours = ours.loc[ref.index]
    assert (ours[["n", "n_ended"]].to_numpy() == ref[["n", "n_ended"]].to_numpy()).all()
    np.testing.assert_allclose(
        ours[["median_days", "q1_days", "q3_days"]].to_numpy(float),
        ref[["median_days", "q1_days", "q3_days"]].to_numpy(float),
        rtol=0,
        atol=1e-9,
    )
    assert ref.loc["empirical", "q1_days"] == 208.5  # R's midpoint where the curve sits on 0.75


def test_survival_quantile_by_hand():
    """Five women followed 2, 4, 6, 8, 10 days, none with the event: the reverse curve is
    0.8, 0.6, 0.4, 0.2, 0 (quartiles 4, 6, 8); an event at 4 censors her, so the curve is 0.8,
    0.8, 0.533, 0.267, 0 (quartiles 6, 8, 10). R: quantile(survfit(Surv(t, c(1, 0, 1, 1, 1)) ~ 1))."""
    data = pd.DataFrame({"t": [2, 4, 6, 8, 10], "event": [0, 0, 0, 0, 0]})
    row = reverse_km_follow_up(data, duration_col="t", event_col="event").iloc[0]
    assert (row["median_days"], row["q1_days"], row["q3_days"]) == (6.0, 4.0, 8.0)
    row = reverse_km_follow_up(data.assign(event=[0, 1, 0, 0, 0]), duration_col="t", event_col="event").iloc[0]
    assert (row["n"], row["n_ended"], row["median_days"], row["q1_days"], row["q3_days"]) == (5, 4, 8.0, 6.0, 10.0)
    assert np.isnan(survival_quantile(np.array([1.0, 2.0]), np.array([0.9, 0.8]), 0.5))


def test_a_missing_column_is_named():
    with pytest.raises(KeyError, match="'days'"):
        reverse_km_follow_up(pd.DataFrame({"t": [1]}), duration_col="days", event_col="t")
