"""Who benefits at registry size: no step per pair of women, no copied rows per bootstrap replicate.

The matching and the concordance of the c-for-benefit are checked against brute-force
references written here (every free woman scanned for every match; every pair of pairs
compared) on small data with ties, and the concordance of a binary outcome against scipy's
Mann–Whitney U on 300,000 values. The old concordance formed n × n sign matrices (671 GiB at
300,000 values: a MemoryError; 10.2 s of CPU per call for the 13,169 pairs of the 100k-transfer
cohort, 201 calls) and the old matching scanned every free woman for every match (12.9 s of CPU
for 12,000 women per arm, 14.8 s for the 100k-transfer cohort). A decision-curve replicate fits
each drawn woman once, weighted by her copies."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from analysis.methods import benefit


def _brute_force_concordance(score, outcome):
    concordant = tied = usable = 0
    for i in range(len(score)):
        for j in range(i + 1, len(score)):
            if outcome[i] == outcome[j]:
                continue
            usable += 1
            if score[i] == score[j]:
                tied += 1
            elif (score[i] > score[j]) == (outcome[i] > outcome[j]):
                concordant += 1
    return (concordant + 0.5 * tied) / usable if usable else np.nan, usable


def _brute_force_matching(predicted, treated):
    """Greedy matching as van Klaveren et al. describe it, scanning every free woman each time."""
    t_pos = [i for i in range(len(treated)) if treated[i] == 1]
    c_pos = [i for i in range(len(treated)) if treated[i] == 0]
    small, large = (t_pos, c_pos) if len(t_pos) <= len(c_pos) else (c_pos, t_pos)
    free = list(large)
    pairs = []
    for i in sorted(small, key=lambda k: (predicted[k], k)):
        j = min(free, key=lambda k: (abs(predicted[k] - predicted[i]), predicted[k], k))
        free.remove(j)
        pairs.append((i, j) if treated[i] == 1 else (j, i))
    return pairs


@pytest.mark.parametrize("kind", ["ordinal", "continuous", "heavy ties"])
def test_concordance_equals_brute_force_pair_count(kind):
    rng = np.random.default_rng({"ordinal": 1, "continuous": 2, "heavy ties": 3}[kind])
    for n in [0, 1, 2, 3, 17, 80]:
        if kind == "ordinal":  # the c-for-benefit's case: observed benefit −1, 0, 1
            score, outcome = rng.normal(size=n).round(2), rng.integers(-1, 2, n).astype(float)
        elif kind == "continuous":  # more outcome levels than score levels: the split runs on the score
            score, outcome = rng.integers(0, 4, n).astype(float), rng.normal(size=n)
        else:
            score, outcome = rng.integers(0, 3, n).astype(float), rng.integers(0, 3, n).astype(float)
        got, want = benefit.concordance(score, outcome), _brute_force_concordance(score, outcome)
        assert got[1] == want[1]
        assert (np.isnan(got[0]) and np.isnan(want[0])) or got[0] == want[0], (n, got, want)


def test_concordance_of_a_binary_outcome_is_the_mann_whitney_auc_at_registry_size():
    """300,000 values, a tenth of the scores tied: C = U / (n1 n0) exactly (fails on the n × n design)."""
    rng = np.random.default_rng(4)
    outcome = rng.integers(0, 2, 300_000).astype(float)
    score = np.where(rng.random(300_000) < 0.1, 0.5, rng.normal(size=300_000) + 0.3 * outcome)
    c, usable = benefit.concordance(score, outcome)
    n1, n0 = int(outcome.sum()), int((outcome == 0).sum())
    u = mannwhitneyu(score[outcome == 1], score[outcome == 0], method="asymptotic").statistic
    assert usable == n1 * n0
    assert c == pytest.approx(u / (n1 * n0), rel=1e-12)


def test_concordance_names_missing_values():
    with pytest.raises(ValueError, match="missing"):
        benefit.concordance(np.array([0.1, np.nan]), np.array([0.0, 1.0]))


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_matching_equals_brute_force_greedy_matching(seed):
    """Ties in predicted benefit (on a grid of 1/7), equal distances on both sides, either arm smaller."""
    rng = np.random.default_rng(seed)
    n = 120
    predicted = rng.integers(0, 8, n) / 7
    treated = (rng.random(n) < [0.3, 0.5, 0.7][seed - 5]).astype(int)
    y = rng.integers(0, 2, n)
    got = benefit.benefit_matched_pairs(predicted, treated, y)
    want = _brute_force_matching(predicted, treated)
    assert list(zip(got["treated_position"], got["control_position"])) == want
    tp, cp = np.array(want).T
    np.testing.assert_array_equal(got["observed_benefit"], y[tp] - y[cp])
    np.testing.assert_array_equal(got["predicted_benefit"], (predicted[tp] + predicted[cp]) / 2)


def test_matching_takes_the_lowest_of_equally_distant_benefits_in_floating_point():
    """1e-17 and 2e-17 are both at distance 1.0 from 1.0 in double precision: the lower is taken."""
    pairs = benefit.benefit_matched_pairs(np.array([1.0, 2e-17, 1e-17]), np.array([1, 0, 0]), np.zeros(3))
    assert pairs["control_position"].tolist() == [2]


def test_matching_and_concordance_of_twelve_thousand_pairs_take_well_under_a_second_of_cpu():
    """12,000 women per arm: about 0.05 s of CPU (the scan of every free woman took about 9 s)."""
    rng = np.random.default_rng(8)
    n = 24_000
    predicted = rng.normal(0.05, 0.03, n)
    treated = np.repeat([1, 0], n // 2)
    y = rng.integers(0, 2, n)
    start = time.process_time()
    pairs = benefit.benefit_matched_pairs(predicted, treated, y)
    c, usable = benefit.concordance(pairs["predicted_benefit"].to_numpy(), pairs["observed_benefit"].to_numpy())
    used = time.process_time() - start
    assert len(pairs) == n // 2 and 0 < usable < len(pairs) ** 2 / 2 and 0.4 < c < 0.6
    assert used < 1.5, used


def test_c_for_benefit_bootstrap_is_over_pairs_and_reproducible():
    rng = np.random.default_rng(9)
    predicted, treated, y = rng.normal(size=400), rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    a = benefit.c_for_benefit(predicted, treated, y, n_bootstrap=50, seed=3)
    b = benefit.c_for_benefit(predicted, treated, y, n_bootstrap=50, seed=3)
    assert a == b
    pairs = benefit.benefit_matched_pairs(predicted, treated, y)
    assert (
        a["c_for_benefit"]
        == _brute_force_concordance(pairs["predicted_benefit"].to_numpy(), pairs["observed_benefit"].to_numpy())[0]
    )
    assert a["conf_low"] <= a["c_for_benefit"] <= a["conf_high"]


def test_decision_curve_replicate_fits_each_drawn_woman_once_weighted_by_her_copies(monkeypatch):
    """A bootstrap replicate's training fits get every drawn woman once, with her number of copies
    as binomial weight (the likelihood of the copied rows; the old replicate copied the rows and
    rebuilt the designs), and the folds still hold all copies of a woman together."""
    causal = pd.read_csv(Path(__file__).parent / "reference" / "causal_data.csv")
    clinical = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id"]
    arrays = benefit._benefit_arrays(
        causal,
        outcome="live_birth",
        treatment="treatment_arm",
        treated="personalized",
        reference="none",
        modifiers=["profile_group"],
        covariates=clinical,
    )
    seen = []
    real = benefit.fit_binomial_irls

    def recording(x, proportion, trials, **kwargs):
        seen.append((x.copy(), np.asarray(trials).copy()))
        return real(x, proportion, trials, **kwargs)

    monkeypatch.setattr(benefit, "fit_binomial_irls", recording)
    pos = np.random.default_rng(10).integers(0, len(causal), len(causal))
    benefit._decision_curve_replicate(
        pos,
        designs=benefit._replicate_designs(arrays),
        effect_score=np.zeros(len(causal)),
        profile=None,
        treat_level="dysregulated",
        thresholds=[0.0],
        n_folds=5,
        fold_seed=0,
    )
    counts = np.bincount(pos, minlength=len(causal))
    drawn_pooled = counts[arrays["pool"]].sum()
    assert len(seen) == 5
    for x, trials in seen:
        assert len(np.unique(x, axis=0)) == len(x)  # no woman twice (continuous covariates tell them apart)
        assert set(np.unique(trials)) <= set(np.unique(counts[counts > 0]).astype(float))
    # every drawn copy of a pooled woman is in the training set of all folds but her own
    assert sum(t.sum() for _, t in seen) == 4 * drawn_pooled
