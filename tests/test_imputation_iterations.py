"""The number of chained-equation cycles chosen by the convergence rule (``n_iterations: auto``).

Split R-hat by hand (Gelman et al. 2013, BDA3 §11.4), the rule on a hand-made trace, and the
imputations it gives: those of a fixed count equal to the one chosen, whatever the workers.
"""

import numpy as np
import pandas as pd
import pytest
from test_imputation import _with_gaps  # the same small data with gaps

from analysis.core.exceptions import ModelError
from analysis.methods import imputation


def test_split_rhat_by_hand():
    """Two chains of 8; the first 4 are warm-up, the last 4 split into 2 + 2: four sequences of 2.

    Chain A keeps (0, 2 | 0, 2), chain B (10, 12 | 10, 12): sequence means 1, 11, 1, 11, each
    within-variance 2, so W = 2, B/n = var(1, 11, 1, 11) = 100/3, var+ = (1/2) 2 + 100/3 and
    R = sqrt(var+ / W) = sqrt(17 1/6) = 4.1433. With B's kept draws (2, 0 | 2, 0) instead the
    means agree: R = sqrt(1/2). The warm-up values do not count.
    """
    apart = np.array([[0, 9, 9, 9, 0, 2, 0, 2], [5, 5, 5, 5, 10, 12, 10, 12]], float)
    assert imputation.split_rhat(apart) == pytest.approx(np.sqrt((1 + 100 / 3) / 2), rel=1e-12)
    mixed = np.array([[0, 9, 9, 9, 0, 2, 0, 2], [5, 5, 5, 5, 2, 0, 2, 0]], float)
    assert imputation.split_rhat(mixed) == pytest.approx(np.sqrt(0.5), rel=1e-12)
    assert imputation.split_rhat(np.ones((3, 8))) == 1.0  # nothing moves and all agree
    assert imputation.split_rhat(np.array([[1.0] * 8, [2.0] * 8])) == np.inf  # nothing moves, chains disagree
    with pytest.raises(ModelError, match="two chains and seven iterations"):
        imputation.split_rhat(np.ones((1, 10)))


def _drifting_trace(n=40, mixed_from=15):
    """Three chains 10 apart until iteration ``mixed_from``, then the same alternation 0/1 (out of phase)."""
    t = np.zeros((3, n, 1))
    for c in range(3):
        for i in range(n):
            t[c, i, 0] = (10 * c if i < mixed_from else 0) + ((i + c) % 2)
    return t


def test_rule_on_a_hand_made_trace_waits_until_the_kept_half_has_mixed():
    """Checked at 10, 15, 20, …: the retained second half of the first t iterations starts at t // 2,
    and only from t = 30 does it leave out the chains' 15 separated iterations (at 25 it keeps
    iterations 12-24, three of them apart: R = 1.24)."""
    trace = _drifting_trace()
    assert imputation.iterations_needed(trace) == 30
    assert imputation.split_rhat(trace[:, :25, 0]) == pytest.approx(1.2387, abs=1e-4)
    assert imputation.iterations_needed(trace[:, :25]) is None  # not converged within the trace
    assert imputation.iterations_needed(trace, max_iter=25) is None
    assert imputation.iterations_needed(_drifting_trace(mixed_from=0)) == 10
    # two statistics: the slower one decides
    both = np.concatenate([_drifting_trace(mixed_from=0), trace], axis=2)
    assert imputation.iterations_needed(both) == 30


def test_auto_iterations_equal_the_fixed_count_chosen_for_one_and_two_workers(monkeypatch):
    from analysis.methods import resampling

    monkeypatch.setattr(resampling, "POOL_START_SECONDS", -1.0)  # the two workers do start
    d = _with_gaps()
    kw = {"columns": ["x", "g"], "predictors": ["y", "arm"], "m": 4, "seed": 9}
    rule = {"min_iter": 8, "step": 2, "max_iter": 14}  # a short rule keeps the test cheap
    one, info = imputation.impute_until_converged(d, **kw, rule=rule)
    two, info2 = imputation.impute_until_converged(d, **kw, rule=rule, n_jobs=2)
    assert info == info2 and info["converged"] and info["max_rhat"] < 1.1
    assert info["n_iter"] in range(8, 15, 2)
    fixed = imputation.impute_chained(d, **kw, n_iter=info["n_iter"])
    for a, b, c in zip(one, two, fixed):
        assert a.to_csv().encode() == b.to_csv().encode() == c.to_csv().encode()  # byte for byte
    table = imputation.iterations_table("auto", info, chains=4)
    assert table.loc[0, "iterations"] == info["n_iter"] and table.loc[0, "requested"] == "auto"
    assert table.loc[0, "max_rhat"] == info["max_rhat"] and bool(table.loc[0, "converged"])
    fixed_table = imputation.iterations_table(10, {}, chains=None)
    assert fixed_table.loc[0, "iterations"] == 10 and fixed_table.loc[0, "rule"] == "fixed by the plan"


def test_chains_that_do_not_mix_stop_at_the_maximum_and_say_so():
    """With a tight threshold no count passes: the chains run to max_iter, reported as not converged."""
    d = _with_gaps()
    _, info = imputation.impute_until_converged(
        d,
        columns=["x", "g"],
        predictors=["y", "arm"],
        m=3,
        seed=1,
        rule={"threshold": 0.5, "min_iter": 8, "max_iter": 9},
    )
    assert info["n_iter"] == 9 and not info["converged"] and info["max_rhat"] >= 0.5


def test_auto_iterations_with_auto_imputations_decided_by_the_pilot():
    """m by von Hippel's rule and the cycles by R-hat, both from the pilot's chains: the result is
    impute_chained with the m and the count chosen."""
    d = _with_gaps(seed=5)
    kw = {"columns": ["x", "g"], "predictors": ["y", "arm"], "seed": 4}
    done, choice = imputation.impute_chained_auto(
        d, formula="y ~ arm + x + C(g)", term_prefix="x", m_pilot=3, cv_se=0.2, n_iter="auto", **kw
    )
    assert choice["m"] > 3 and choice["n_iter"] >= 10 and choice["converged"]
    fixed = imputation.impute_chained(d, m=choice["m"], n_iter=choice["n_iter"], **kw)
    assert len(done) == choice["m"]
    for a, b in zip(done, fixed):
        assert a.to_csv() == b.to_csv()


def test_bad_iteration_requests_are_explained():
    d = _with_gaps()
    with pytest.raises(ModelError, match="positive number of cycles"):
        imputation.impute_chained(d, columns=["x"], predictors=["y"], m=2, n_iter="auto")
    with pytest.raises(ModelError, match="m >= 2"):
        imputation.impute_until_converged(d, columns=["x"], predictors=["y"], m=1)


@pytest.mark.slow  # two passes of notebook 05's imputation section on the shipped cohort: about 20 s
def test_notebook_05_records_the_iterations_chosen(tmp_path):
    """Notebook 05's section with ``n_iterations="auto"`` saves the count the rule chose; the pooled
    estimates are those of the fixed count it chose (same imputations)."""
    from pathlib import Path

    from analysis.study import s05_treatment_effects as s05
    from analysis.study.context import open_context

    data = Path(__file__).parents[1] / "data" / "synthetic"
    covariates = ["age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers", "center_id"]
    ps = [*covariates, "profile_group"]

    def section(run, n_iterations):
        ctx = open_context("05_treatment_effects", data_dir=data, run_dir=tmp_path / run, min_cell_count=0)
        scores = s05.propensity_scores(ctx, outcome="live_birth", ps_covariates=ps, reference_arm="none")
        kw = {"outcome": "live_birth", "covariates": covariates, "n_imputations": 3, "seed": 1}
        model = s05.imputation_model(ctx, scores, ps_covariates=ps, n_iterations=n_iterations, **kw)
        done = s05.imputed_vs_complete_case(
            ctx, scores, model, reference_arm="none", n_jobs=1, n_iterations=n_iterations, **kw
        )
        return ctx, done

    ctx, auto = section("auto", "auto")
    saved = pd.read_csv(ctx.paths.tables / "imputation_iterations.csv")
    chosen = int(saved.loc[0, "iterations"])
    assert saved.loc[0, "requested"] == "auto" and chosen in range(10, 51, 5)
    assert saved.loc[0, "chains_judged"] == 3 and saved.loc[0, "max_rhat"] < 1.1
    assert pd.read_csv(ctx.paths.tables / "imputation_model.csv")["iterations"].eq("auto").all()
    # the pooled estimates are those of the fixed count chosen (the imputations are the same)
    ctx_fixed, fixed = section("fixed", chosen)
    assert pd.read_csv(ctx_fixed.paths.tables / "imputation_iterations.csv").loc[0, "rule"] == "fixed by the plan"
    pd.testing.assert_frame_equal(auto.table, fixed.table)
