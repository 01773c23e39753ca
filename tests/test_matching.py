"""Greedy 1:1 caliper matching: the O(n log n) implementation equals the brute-force definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.methods.propensity import match_nearest


def _brute_force(ps: pd.Series, treated: pd.Series, caliper_sd: float) -> list[tuple]:
    """The definition, step by step: scan every available control for each treated unit."""
    p = ps.to_numpy(dtype=float)
    logit = np.log(p / (1 - p))
    t = treated.loc[ps.index].to_numpy(dtype=bool)
    caliper = caliper_sd * logit.std(ddof=1) if caliper_sd else np.inf
    t_pos, c_pos = np.flatnonzero(t), np.flatnonzero(~t)
    available = np.ones(len(c_pos), dtype=bool)
    pairs = []
    for i in t_pos[np.lexsort((t_pos, -p[t_pos]))]:
        if not available.any():
            break
        d = np.where(available, np.abs(logit[c_pos] - logit[i]), np.inf)
        j = int(np.argmin(d))  # first minimum: the earlier control row
        if d[j] <= caliper:
            available[j] = False
            pairs.append((ps.index[i], ps.index[c_pos[j]], d[j]))
    return pairs


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("caliper_sd", [0.2, 0.0, 0.02])
def test_matches_equal_the_brute_force_definition(seed, caliper_sd):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    # coarse scores make many exact ties, between controls and between treated units
    ps = pd.Series(
        np.round(rng.uniform(0.05, 0.95, n), int(rng.integers(1, 4))), index=rng.permutation(np.arange(1000, 1000 + n))
    )
    treated = pd.Series(rng.random(n) < rng.uniform(0.2, 0.8), index=ps.index)
    got = match_nearest(ps, treated, caliper_sd=caliper_sd)
    want = _brute_force(ps, treated, caliper_sd)
    assert list(zip(got["treated_index"], got["control_index"])) == [(a, b) for a, b, _ in want]
    np.testing.assert_array_equal(got["distance"].to_numpy(), np.array([d for *_, d in want], dtype=float))


def test_more_treated_than_controls_stops_when_controls_run_out():
    ps = pd.Series([0.9, 0.8, 0.7, 0.3], index=list("abcd"))
    treated = pd.Series([True, True, True, False], index=ps.index)
    pairs = match_nearest(ps, treated, caliper_sd=0)
    assert pairs[["treated_index", "control_index"]].values.tolist() == [["a", "d"]]
