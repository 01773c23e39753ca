"""The rows under Figure 4 (analysis.output.risk_table): numbers at risk, cumulative events and
cumulative censored, against direct counting, and with disclosure control read off the coarsened
curves so that no censoring count below k can be derived."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.methods import survival_analysis
from analysis.output.disclosure import at_risk_from_curves, coarsen_curves
from analysis.output.risk_table import numbers_at_risk

REF = Path(__file__).parent / "reference"
TIMES = [0, 90, 180, 365, 545, 730]


@pytest.fixture(scope="module")
def ttlb():
    """The shipped cohort's first course: time_days, event, treatment_arm (follow_up_data.csv)."""
    return pd.read_csv(REF / "follow_up_data.csv")


@pytest.fixture(scope="module")
def curves(ttlb):
    return survival_analysis.cumulative_live_birth_curves(ttlb, by=["treatment_arm"], at_risk_times=TIMES)


def test_exact_table_matches_direct_counting(ttlb, curves):
    """At risk: time >= tau; events and censored: time < tau, counted on the women themselves."""
    table = numbers_at_risk(curves.curves["treatment_arm"], TIMES, min_cell_count=0)
    for r in table.itertuples():
        arm = ttlb[ttlb["treatment_arm"] == r.group]
        before = arm[arm["time_days"] < r.time_days]
        assert r.n_at_risk == (arm["time_days"] >= r.time_days).sum()
        assert r.cum_events == before["event"].sum()
        assert r.cum_censored == (before["event"] == 0).sum()
    # the at-risk row is the one Figure 4 always drew (survival_at of the Kaplan-Meier fit)
    old = curves.at_risk["treatment_arm"].merge(table, on=["group", "time_days"], suffixes=("_old", ""))
    assert len(old) == len(table) and (old["n_at_risk_old"] == old["n_at_risk"]).all()


@pytest.mark.parametrize("k", [5, 10, 20])
def test_coarsened_table_hides_every_count_below_k(curves, k):
    """With k > 1: the at-risk row equals the figure's (at_risk_from_curves), the three counts add up
    to the group's size, and every change between two columns is 0 or at least k (a censoring count
    between two columns cannot be read as a small number)."""
    published = coarsen_curves(curves.curves["treatment_arm"], min_cell_count=k)
    table = numbers_at_risk(published, TIMES, min_cell_count=k)
    figure_row = at_risk_from_curves(published)
    for group, sub in table.groupby("group"):
        rows = figure_row[figure_row["group"] == group].sort_values("time_days")
        t, n = rows["time_days"].to_numpy(float), rows["n_at_risk"].to_numpy(float)
        shown = [n[max(np.searchsorted(t, tau, side="right") - 1, 0)] for tau in TIMES]
        np.testing.assert_array_equal(sub["n_at_risk"].to_numpy(float), np.array(shown, float))
        ok = sub.dropna()
        n0 = published.loc[published["group"] == group, "n_at_risk"].iloc[0]
        assert (ok["n_at_risk"] + ok["cum_events"] + ok["cum_censored"] == n0).all()
        for col in ("cum_events", "cum_censored"):
            steps = np.diff(ok[col].to_numpy(float))
            assert ((steps == 0) | (steps >= k)).all(), (group, col, steps)
        assert (ok["n_at_risk"] >= k).all()


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="n_events"):
        numbers_at_risk(pd.DataFrame({"group": ["a"], "time_days": [1.0], "n_at_risk": [3]}), [0], min_cell_count=0)
