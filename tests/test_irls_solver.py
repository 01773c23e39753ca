"""The IRLS step of :func:`analysis.models.logistic.fit_binomial_irls`: normal equations when the
column-scaled cross-product is well conditioned, SVD least squares otherwise.

The step was an SVD least squares on every iteration, about five times the cost of the normal
equations on 50,000 rows and the main cost of the bootstrap replicates that refit logistic
models. The checks here: the normal equations give the SVD's solution to rounding on ordinary
designs (rows scaled as age in years beside 0/1 dummies), the fitted model is the one R's ``glm``
reports (``tests/reference``, through the existing parity tests and a hand-checkable case here),
and a design near collinearity, where squaring the condition number would lose digits, goes to the
SVD.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.models import logistic
from analysis.models.logistic import NORMAL_EQUATIONS_MAX_CONDITION, _weighted_least_squares, fit_binomial_irls


def _design(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.normal(35, 4, n)
    group = rng.integers(0, 4, n)
    x = np.column_stack([np.ones(n), age, *(group == g for g in (1, 2, 3)), rng.normal(size=n)])
    eta = -4 + 0.1 * age + 0.5 * (group == 2) - 0.3 * x[:, 5]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return x, y


def _svd_step(x, z, weights):
    root = np.sqrt(weights)
    return np.linalg.lstsq(x * root[:, None], z * root, rcond=None)[0]


def test_a_well_conditioned_step_solves_the_normal_equations_to_the_svd_solution(monkeypatch):
    x, y = _design()
    weights = np.random.default_rng(1).uniform(0.05, 0.25, len(y))
    z = np.random.default_rng(2).normal(size=len(y))
    reference = _svd_step(x, z, weights)
    svd_calls = []
    real = np.linalg.lstsq
    monkeypatch.setattr(np.linalg, "lstsq", lambda *a, **k: svd_calls.append(1) or real(*a, **k))
    step = _weighted_least_squares(x, z, weights)
    np.testing.assert_allclose(step, reference, rtol=1e-11, atol=1e-13)
    fit = fit_binomial_irls(x, y, np.ones(len(y)))
    assert svd_calls == [] and fit.converged  # no SVD in any iteration of an ordinary fit


def test_the_fit_is_the_svd_fit_to_rounding_and_reaches_the_score_equations():
    """The fixed point does not depend on how each step is solved: the score X'(y - p) is zero."""
    x, y = _design(seed=3)
    fit = fit_binomial_irls(x, y, np.ones(len(y)))
    score = x.T @ (y - fit.fitted)
    assert np.max(np.abs(score)) < 1e-8 * len(y)
    beta, mu = np.zeros(x.shape[1]), np.full(len(y), (y.sum() + 0.5) / (len(y) + 1))  # SVD-only IRLS
    eta = np.log(mu / (1 - mu))
    for _ in range(25):
        v = mu * (1 - mu)
        beta = _svd_step(x, eta + (y - mu) / v, v)
        eta = x @ beta
        mu = 1 / (1 + np.exp(-eta))
    np.testing.assert_allclose(fit.coef, beta, rtol=1e-10, atol=1e-12)


def test_a_near_collinear_design_is_solved_by_the_svd(monkeypatch):
    """Squaring a condition number of 1e9 would leave about 1e-16 * 1e18 of the solution: such a step
    must not go through the normal equations."""
    x, _ = _design(n=5000, seed=4)
    x = np.column_stack([x, x[:, 1] + np.random.default_rng(5).normal(0, 1e-6, len(x))])  # age twice
    weights = np.full(len(x), 0.2)
    z = np.random.default_rng(6).normal(size=len(x))
    scale = np.sqrt(np.diag((x * weights[:, None]).T @ x))
    assert np.linalg.cond(((x * weights[:, None]).T @ x) / np.outer(scale, scale)) > NORMAL_EQUATIONS_MAX_CONDITION
    svd_calls = []
    real = np.linalg.lstsq
    monkeypatch.setattr(logistic.np.linalg, "lstsq", lambda *a, **k: svd_calls.append(1) or real(*a, **k))
    step = _weighted_least_squares(x, z, weights)
    assert svd_calls == [1]
    np.testing.assert_array_equal(step, _svd_step(x, z, weights))


@pytest.mark.parametrize("n_rows", [40, 400])
def test_saturated_two_group_fit_is_the_hand_computed_log_odds(n_rows):
    """One binary covariate: the fitted log odds of each group are its observed log odds."""
    rng = np.random.default_rng(n_rows)
    g = rng.integers(0, 2, n_rows).astype(float)
    y = (rng.random(n_rows) < np.where(g == 1, 0.6, 0.3)).astype(float)
    fit = fit_binomial_irls(np.column_stack([np.ones(n_rows), g]), y, np.ones(n_rows))
    p0, p1 = y[g == 0].mean(), y[g == 1].mean()
    np.testing.assert_allclose(
        fit.coef, [np.log(p0 / (1 - p0)), np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0))], rtol=1e-10
    )


def test_a_start_from_a_nearby_fit_reaches_the_same_fit_in_fewer_steps(monkeypatch):
    """A bootstrap refit started from the estimate on all data (R's ``start``): the same
    coefficients to the stopping rule, fewer IRLS steps than from ``mustart``."""
    x, y = _design(seed=8)
    draws = np.random.default_rng(9).multinomial(len(y), np.full(len(y), 1 / len(y))).astype(float)
    full = fit_binomial_irls(x, y, np.ones(len(y)), coef_tol=1e-12)
    steps = []
    real = logistic._weighted_least_squares
    monkeypatch.setattr(logistic, "_weighted_least_squares", lambda *a: steps.append(1) or real(*a))
    cold = fit_binomial_irls(x, y, draws, coef_tol=1e-12)
    n_cold = len(steps)
    warm = fit_binomial_irls(x, y, draws, coef_tol=1e-12, start=full.coef)
    assert cold.converged and warm.converged
    np.testing.assert_allclose(warm.coef, cold.coef, rtol=0, atol=1e-10)
    assert len(steps) - n_cold < n_cold
