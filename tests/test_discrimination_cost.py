"""Registry-scale paths of the marker bootstraps: the same bits as the computations they replace, and their cost.

Each bootstrap here once recomputed everything from the resampled rows: three ``rankdata``
sorts per AUC, a sort of the rows per Youden cut-off, and the clinical model refitted once per
pair it belongs to. The references below are those computations, written out as they were
(``_rank_placements``, ``_row_auc``, ``_row_youden_optimism``, ``_gain_by_pair``); the equality
tests compare the new paths with them bit for bit on small data with ties, and the cost tests
count the calls a replicate makes, which the old paths fail.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from analysis.methods import discrimination, prognostic
from analysis.methods.resampling import bootstrap, numbered_bootstrap, percentile_interval


def _rank_placements(cases, controls):
    """The structural components by three rankings (the computation before the one-sort path)."""
    r_all = scipy.stats.rankdata(np.concatenate([cases, controls]))
    r_cases, r_controls = scipy.stats.rankdata(cases), scipy.stats.rankdata(controls)
    m, n = len(cases), len(controls)
    return (r_all[:m] - r_cases) / n, 1 - (r_all[m:] - r_controls) / m


def _row_auc(sample):
    return discrimination.auc(sample[:, 0], sample[:, 1])


def _row_youden_optimism(sample, direction, full):
    best = discrimination.youden_cutoff(sample[:, 0], sample[:, 1], direction=direction)
    on_full = discrimination._sens_spec(full[:, 0], full[:, 1], best["threshold"], direction)
    return np.array([best["threshold"], best["sensitivity"], best["specificity"], *on_full])


def _scores(seed, n, *, decimals=None):
    """Scores (rounded to ``decimals`` for ties) and a 0/1 outcome related to them."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n)
    if decimals is not None:
        x = np.round(x, decimals)
    y = (rng.random(n) < 0.25 + 0.3 * (x > np.median(x))).astype(float)
    return x, y


@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_one_sort_placements_are_the_bits_of_three_rankings(decimals):
    for seed in range(20):
        x, y = _scores(seed, 60 + 40 * seed, decimals=decimals)
        x[:3] = -0.0 if seed % 2 else 0.0  # signed zeros tie with zeros in both
        cases, controls = x[y == 1], x[y == 0]
        for new, old in zip(discrimination._placements(cases, controls), _rank_placements(cases, controls)):
            assert new.tobytes() == old.tobytes()


def test_auc_ranks_nothing(monkeypatch):
    calls = []
    real = scipy.stats.rankdata
    monkeypatch.setattr(scipy.stats, "rankdata", lambda *a, **k: calls.append(1) or real(*a, **k))
    x, y = _scores(0, 200, decimals=1)
    discrimination.auc(x, y)
    discrimination.auc_delong(x, y)
    assert calls == []


@pytest.mark.parametrize("decimals", [None, 1])
def test_auc_bootstrap_ci_is_the_bits_of_the_row_bootstrap(decimals):
    x, y = _scores(3, 300, decimals=decimals)
    y[:] = 0
    y[:2] = 1  # two events: about one resample in seven has none and fails in both paths
    x[5] = np.nan  # dropped before resampling in both
    data = np.column_stack([x, y])
    data = data[np.isfinite(data).all(axis=1)]
    reps = bootstrap(_row_auc, data, n_boot=80, seed=11)
    assert 0 < np.isnan(reps).sum() < 40
    low, high = percentile_interval(reps)
    assert discrimination.auc_bootstrap_ci(x, y, n_bootstrap=80, seed=11) == (float(low[0]), float(high[0]))


def test_auc_bootstrap_ci_computes_no_auc_per_replicate(monkeypatch):
    calls = []
    real = discrimination.auc
    monkeypatch.setattr(discrimination, "auc", lambda *a, **k: calls.append(1) or real(*a, **k))
    x, y = _scores(4, 150, decimals=1)
    discrimination.auc_bootstrap_ci(x, y, n_bootstrap=25, seed=1)
    assert len(calls) == 0  # the row path computed one per replicate


def test_youden_bootstrap_is_the_bits_of_the_row_bootstrap():
    for seed, decimals in [(5, None), (6, 1), (7, 0)]:
        x, y = _scores(seed, 250, decimals=decimals)
        x[:4] = np.inf  # dropped inside each resample, as youden_cutoff drops it
        frame = pd.DataFrame({"m": x, "lb": y})
        for direction in ("<", ">"):
            full = np.column_stack([x, y])
            old = bootstrap(_row_youden_optimism, full, n_boot=40, seed=seed, direction=direction, full=full)
            finite = np.isfinite(x)
            values, inverse = np.unique(x[finite], return_inverse=True)
            codes = np.full(len(x), -1.0)
            codes[finite] = inverse
            new = bootstrap(
                discrimination._youden_optimism_rows,
                np.column_stack([codes, y]),
                n_boot=40,
                seed=seed,
                direction=direction,
                full=full,
                values=values,
            )
            assert new.tobytes() == old.tobytes()
        table = discrimination.cutoff_table(frame, outcome="lb", markers=["m"], n_bootstrap=40, seed=seed)
        assert table["n_failed_replicates"].iloc[0] == 0


def test_cutoff_table_chooses_the_cutoff_once_not_per_replicate(monkeypatch):
    calls = []
    real = discrimination.youden_cutoff
    monkeypatch.setattr(discrimination, "youden_cutoff", lambda *a, **k: calls.append(1) or real(*a, **k))
    x, y = _scores(8, 150, decimals=1)
    discrimination.cutoff_table(pd.DataFrame({"m": x, "lb": y}), outcome="lb", markers=["m"], n_bootstrap=30, seed=2)
    assert len(calls) == 1  # the point estimate; the row path added one per replicate


def _comparison_data(n=300, seed=9):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(35, 4, n),
            "bmi": rng.normal(24, 3, n),
            "e1": rng.lognormal(size=n),
            "e2": np.round(rng.lognormal(size=n), 1),
            "b1": rng.normal(10, 3, n),
        }
    )
    frame["lb"] = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 0.4 * frame["e1"] - 0.05 * (frame["age"] - 35))))).astype(
        int
    )
    return frame


def _gain_by_pair(positions, *, designs, pairs, y):
    """A replicate's AUC gains with each pair's models fitted for that pair (the computation before)."""
    out = []
    for big, small in pairs:
        betas = [prognostic.LogisticRiskModel.fit_arrays(designs[m][positions], y[positions]) for m in (big, small)]
        if any(b is None for b in betas):
            return None
        lin = [designs[m] @ b for m, b in zip((big, small), betas)]
        out += [
            discrimination.auc(lin[0][positions], y[positions]) - discrimination.auc(lin[1][positions], y[positions]),
            discrimination.auc(lin[0], y) - discrimination.auc(lin[1], y),
        ]
    return np.array(out)


PAIRS = [("clinical + endometrial markers", "clinical"), ("clinical + blood markers", "clinical")]
MODELS = {
    "clinical": ["age", "bmi"],
    "clinical + endometrial markers": ["age", "bmi", "e1", "e2"],
    "clinical + blood markers": ["age", "bmi", "b1"],
}


def test_auc_gain_replicate_is_the_bits_of_fitting_each_pair():
    rows = _comparison_data()
    y = rows["lb"].to_numpy(dtype=float)
    designs = {m: prognostic._design(rows, "lb", cols) for m, cols in MODELS.items()}
    rng = np.random.default_rng(1)
    for _ in range(10):
        positions = rng.integers(0, len(y), len(y))
        new = prognostic._auc_gain_replicate(positions, designs=designs, pairs=PAIRS, y=y)
        assert new.tobytes() == _gain_by_pair(positions, designs=designs, pairs=PAIRS, y=y).tobytes()


def test_auc_gain_replicate_fits_the_shared_clinical_model_once(monkeypatch):
    calls = []
    real = prognostic.LogisticRiskModel.fit_arrays
    monkeypatch.setattr(prognostic.LogisticRiskModel, "fit_arrays", lambda x, y: calls.append(1) or real(x, y))
    rows = _comparison_data()
    y = rows["lb"].to_numpy(dtype=float)
    designs = {m: prognostic._design(rows, "lb", cols) for m, cols in MODELS.items()}
    prognostic._auc_gain_replicate(np.arange(len(y)), designs=designs, pairs=PAIRS, y=y)
    assert len(calls) == 3  # three models; fitting per pair made it four


def test_numbered_bootstrap_draws_the_rows_of_bootstrap():
    rows = bootstrap(lambda s: s, np.arange(40), n_boot=12, seed=5)
    numbered = numbered_bootstrap(lambda p, b: np.r_[b, p], 40, n_boot=12, seed=5, n_jobs=1)
    assert (numbered[:, 0] == np.arange(12)).all()
    assert (numbered[:, 1:] == rows).all()


FORMULA = "live_birth ~ il15_fn14_ratio + unk_cd56_percent + blood_nk_percent"


@pytest.fixture(scope="module")
def validation_rows():
    frame = pd.read_csv(Path(__file__).parent / "reference" / "biomarker_data.csv").dropna().reset_index(drop=True)
    return frame.iloc[:120].reset_index(drop=True)  # small enough that some resamples cannot be fitted


@pytest.fixture(scope="module")
def refits(validation_rows):
    x, y = prognostic.LogisticRiskModel(FORMULA).arrays(validation_rows)
    return discrimination.bootstrap_refits(x, y, fit=prognostic.LogisticRiskModel.fit_arrays, n_bootstrap=40, seed=11)


def test_validation_and_calibration_on_shared_refits_are_the_bits_of_refitting(validation_rows, refits):
    model = prognostic.LogisticRiskModel(FORMULA)
    kwargs = {"outcome": "live_birth", "fit_predict": model, "n_bootstrap": 40, "seed": 11}
    old = discrimination.optimism_corrected(validation_rows, **kwargs)
    new = discrimination.optimism_corrected(validation_rows, **kwargs, refits=refits)
    assert new.to_csv() == old.to_csv()
    assert (refits.status == 1).all()
    x, y = model.arrays(validation_rows)
    old = discrimination.calibration_curve_corrected(x, y, n_bootstrap=40, seed=11)
    new = discrimination.calibration_curve_corrected(x, y, n_bootstrap=40, seed=11, refits=refits)
    assert new.to_csv() == old.to_csv()


def test_a_resample_without_coefficients_fails_or_refits_as_before():
    """Two rows of thirty have b = 1, one a live birth: a resample with one of them is separated, one with neither
    has a constant column, so it has no coefficients and its formula refit fails as before."""
    rng = np.random.default_rng(2)
    n = 30
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": np.r_[1.0, 1.0, np.zeros(n - 2)]})
    frame["live_birth"] = np.r_[1, 0, (rng.random(n - 2) < 0.4).astype(int)]
    model = prognostic.LogisticRiskModel("live_birth ~ a + b")
    x, y = model.arrays(frame)
    shared = discrimination.bootstrap_refits(x, y, fit=model.fit_arrays, n_bootstrap=60, seed=4)
    assert (shared.status == 0).any() and (shared.status == 1).any()
    kwargs = {"outcome": "live_birth", "fit_predict": model, "n_bootstrap": 60, "seed": 4}
    new = discrimination.optimism_corrected(frame, **kwargs, refits=shared)
    assert new.to_csv() == discrimination.optimism_corrected(frame, **kwargs).to_csv()
    new = discrimination.calibration_curve_corrected(x, y, n_bootstrap=60, seed=4, refits=shared)
    assert new.to_csv() == discrimination.calibration_curve_corrected(x, y, n_bootstrap=60, seed=4).to_csv()
    assert new["n_failed_replicates"].iloc[0] > 0


def test_shared_refits_fit_nothing_again(validation_rows, refits, monkeypatch):
    calls = []
    real_fit, real_coef = prognostic.LogisticRiskModel.fit_arrays, discrimination._fit_coefficients
    monkeypatch.setattr(prognostic.LogisticRiskModel, "fit_arrays", lambda x, y: calls.append(1) or real_fit(x, y))
    monkeypatch.setattr(discrimination, "_fit_coefficients", lambda x, y: calls.append(1) or real_coef(x, y))
    model = prognostic.LogisticRiskModel(FORMULA)
    discrimination.optimism_corrected(
        validation_rows, outcome="live_birth", fit_predict=model, n_bootstrap=40, seed=11, refits=refits
    )
    discrimination.calibration_curve_corrected(*model.arrays(validation_rows), n_bootstrap=40, seed=11, refits=refits)
    assert len(calls) == 1  # the calibration curve's apparent fit; without the refits, 40 per analysis


def test_refits_of_other_resamples_are_refused(validation_rows, refits):
    model = prognostic.LogisticRiskModel(FORMULA)
    with pytest.raises(ValueError, match="seed and n_bootstrap"):
        discrimination.calibration_curve_corrected(
            *model.arrays(validation_rows), n_bootstrap=40, seed=12, refits=refits
        )
    with pytest.raises(ValueError, match="seed and n_bootstrap"):
        discrimination.optimism_corrected(
            validation_rows, outcome="live_birth", fit_predict=model, n_bootstrap=39, seed=11, refits=refits
        )


def test_youden_threshold_interval_is_the_percentile_interval_of_the_replicates():
    """Failed before: the 1-d thresholds were read as one replicate of 60 statistics, so both
    limits were the first replicate's threshold (tables/cutoffs.csv)."""
    x, y = _scores(12, 300)
    table = discrimination.cutoff_table(
        pd.DataFrame({"m": x, "lb": y}), outcome="lb", markers=["m"], n_bootstrap=60, seed=3
    )
    finite = np.isfinite(x)
    values, inverse = np.unique(x[finite], return_inverse=True)
    full = np.column_stack([x, y])
    best = discrimination.youden_cutoff(x, y, direction="auto")
    reps = bootstrap(
        discrimination._youden_optimism_rows,
        np.column_stack([inverse.astype(float), y]),
        n_boot=60,
        seed=3,
        direction=best["direction"],
        full=full,
        values=values,
    )
    low, high = np.nanquantile(reps[:, 0], [0.025, 0.975])
    assert table["threshold_low"].iloc[0] == low and table["threshold_high"].iloc[0] == high
