"""The proportional-hazards score test summed by tie group: the same numbers, a fraction of the memory.

``proportional_hazards_test`` (R's ``cox.zph``) used to build five arrays of one row per
transfer and one column per pair of covariates (risk-set and death sums of :math:`r x x^\\top`):
1.1 GiB each at a million transfers and 12 columns, a transient of about 350 MiB already at
100,000 transfers (notebook 04's Cox cell). It now sums by tie group
(:func:`analysis.models.survival._zph_score_and_information`). R's ``cox.zph`` is matched in
``test_models_against_r.py``; here the per-death algorithm it replaced is kept as the reference
on data with heavy ties and several strata, and the memory is measured.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analysis.models.survival import _segment_cumsum, _zph_score_and_information


def _per_death_reference(x, times, events, stratum, risk, g_all):
    """The earlier implementation: every sum with a row per transfer, then per death."""
    order = np.lexsort((-times, stratum))
    t, d, s = times[order], events[order], stratum[order]
    xs, r, g = x[order], risk[order], g_all[order]
    n = len(t)
    new_stratum = np.r_[True, s[1:] != s[:-1]]
    new_tie = new_stratum | np.r_[True, t[1:] != t[:-1]]
    stratum_start = np.maximum.accumulate(np.where(new_stratum, np.arange(n), 0))
    tie_id = np.cumsum(new_tie) - 1
    tie_end = np.r_[np.flatnonzero(new_tie)[1:] - 1, n - 1][tie_id]
    tie_start = np.flatnonzero(new_tie)[tie_id]
    rx = r[:, None] * xs
    rxx = rx[:, :, None] * xs[:, None, :]
    risk0 = _segment_cumsum(r, stratum_start)[tie_end]
    risk1 = _segment_cumsum(rx, stratum_start)[tie_end]
    risk2 = _segment_cumsum(rxx, stratum_start)[tie_end]
    dead0 = _segment_cumsum(r * d, tie_start)[tie_end]
    dead1 = _segment_cumsum(rx * d[:, None], tie_start)[tie_end]
    dead2 = _segment_cumsum(rxx * d[:, None, None], tie_start)[tie_end]
    dcount = _segment_cumsum(d, tie_start)
    ndead = dcount[tie_end]
    deaths = d == 1
    frac = (dcount[deaths] - 1) / ndead[deaths]
    denom = risk0[deaths] - frac * dead0[deaths]
    mean = (risk1[deaths] - frac[:, None] * dead1[deaths]) / denom[:, None]
    second = (risk2[deaths] - frac[:, None, None] * dead2[deaths]) / denom[:, None, None]
    cov = second - mean[:, :, None] * mean[:, None, :]
    gd = g[deaths]
    u_gamma = (gd[:, None] * (xs[deaths] - mean)).sum(axis=0)
    i11 = cov.sum(axis=0)
    i12 = (gd[:, None, None] * cov).sum(axis=0)
    i22 = (gd[:, None, None] ** 2 * cov).sum(axis=0)
    return u_gamma, np.block([[i11, i12], [i12.T, i22]])


def _data(n, p, *, n_times, n_strata, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    x -= x.mean(axis=0)
    times = rng.integers(1, n_times + 1, size=n).astype(float)  # whole days: many ties
    events = (rng.random(n) < 0.4).astype(float)
    stratum = rng.integers(0, n_strata, size=n)
    risk = np.exp(x @ rng.normal(scale=0.3, size=p))
    g = np.log(times)
    g_all = g - g[events == 1].mean()
    return x, times, events, stratum, risk, g_all


@pytest.mark.parametrize(("n_times", "n_strata"), [(15, 1), (40, 3), (5000, 2)])
def test_tie_group_sums_equal_the_per_death_sums(n_times, n_strata):
    """Heavy ties (15 distinct days for 3,000 rows), strata, and nearly no ties (5,000 days)."""
    data = _data(3000, 5, n_times=n_times, n_strata=n_strata, seed=n_times)
    u, imat = _zph_score_and_information(*data)
    u_ref, imat_ref = _per_death_reference(*data)
    assert_allclose(u, u_ref, rtol=1e-9, atol=1e-9)
    assert_allclose(imat, imat_ref, rtol=1e-9, atol=1e-9 * np.abs(imat_ref).max())


def test_memory_does_not_grow_with_rows_times_column_pairs():
    """200,000 rows, 12 columns: one n x p x p array is 220 MiB and the reference held five."""
    data = _data(200_000, 12, n_times=1500, n_strata=1, seed=1)
    design_mib = data[0].nbytes / 2**20  # 18 MiB
    tracemalloc.start()
    try:
        _zph_score_and_information(*data)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak < 8 * design_mib, f"peak {peak:.0f} MiB for a design of {design_mib:.0f} MiB"
