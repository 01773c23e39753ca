"""Firth logistic regression and the intervals of proportions against R and hand-derived cases.

Reference values: ``tests/reference/make_safety_reference.R`` (logistf 1.26.1 compiled from its
source, R's ``glm``, ``binom.test`` and ``prop.test``); see ``tests/reference/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.core.exceptions import ModelError
from analysis.methods.proportions import clopper_pearson_interval, newcombe_difference_interval, wilson_interval
from analysis.models.firth import firth_profile_interval, fit_firth

REF = Path(__file__).parent / "reference"
TERMS = ["(Intercept)", "age", "oc", "vic", "vicl", "vis", "dia"]


@pytest.fixture(scope="module")
def firth_reference():
    return pd.read_csv(REF / "firth_reference.csv")


@pytest.fixture(scope="module")
def sex2():
    d = pd.read_csv(REF / "firth_sex2.csv")
    x = np.column_stack([np.ones(len(d)), d[TERMS[1:]].to_numpy(float)])
    return x, d["case"].to_numpy(float)


def _values(ref, case, quantity, terms=TERMS):
    sel = ref[(ref["case"] == case) & (ref["quantity"] == quantity)].set_index("term")["value"]
    return sel.loc[terms].to_numpy(float)


def test_firth_sex2_against_logistf(firth_reference, sex2):
    """Coefficients, penalised log-likelihood and profile limits equal logistf's on its own
    worked example (``logistf(case ~ age + oc + vic + vicl + vis + dia, data = sex2)``; the
    coefficients printed in logistf's documentation, 0.1203, -1.1060, -0.0688, 2.2689, -2.1114,
    -0.7883, 3.0960, are the same to 4 decimals). Tolerance 1e-6 (both fits converged to 1e-10).
    Catches: a penalty left out (ML coefficients; dia's ML estimate is larger), a hat matrix
    without the weights, a profile that re-optimises the penalty on the reduced design."""
    x, y = sex2
    fit = fit_firth(x, y)
    assert fit.converged
    assert_allclose(fit.coef, _values(firth_reference, "sex2_firth", "coef"), rtol=0, atol=1e-6)
    assert_allclose(
        [round(c, 4) for c in fit.coef], [0.1203, -1.1060, -0.0688, 2.2689, -2.1114, -0.7883, 3.0960], atol=1e-9
    )
    loglik = _values(firth_reference, "sex2_firth", "penalized_loglik", ["(model)"])[0]
    assert fit.loglik == pytest.approx(loglik, abs=1e-8)
    for j, term in enumerate(TERMS):
        low, high = firth_profile_interval(x, y, j, fit=fit)
        assert low == pytest.approx(_values(firth_reference, "sex2_firth", "pl_low", [term])[0], abs=1e-5)
        assert high == pytest.approx(_values(firth_reference, "sex2_firth", "pl_high", [term])[0], abs=1e-5)


def test_firth_covariance_is_the_inverse_information_and_logistf_augments_it(firth_reference, sex2):
    """Our Wald covariance is the inverse Fisher information :math:`(X^T W X)^{-1}` at the Firth
    estimate (Heinze & Schemper 2002; earlier logistf versions printed se(age) = 0.4237);
    logistf 1.26 returns the inverse information of its augmented data,
    :math:`X^T \\operatorname{diag}\\{\\pi(1-\\pi)(1 + h)\\} X`. Both built from our fit equal
    logistf's to 1e-6, so the difference is the definition, not the fit."""
    x, y = sex2
    fit = fit_firth(x, y)
    mu = 1 / (1 + np.exp(-(x @ fit.coef)))
    v = mu * (1 - mu)
    info = x.T @ (x * v[:, None])
    h = v * np.einsum("ij,jk,ik->i", x, np.linalg.inv(info), x)
    assert_allclose(fit.cov, np.linalg.inv(info), rtol=1e-10)
    assert fit.std_error[1] == pytest.approx(0.4237, abs=5e-5)
    augmented = np.linalg.inv(x.T @ (x * (v * (1 + h))[:, None]))
    assert_allclose(
        np.sqrt(np.diag(augmented)), _values(firth_reference, "sex2_firth", "se_augmented"), rtol=0, atol=1e-6
    )


def test_firth_off_equals_glm(firth_reference, sex2):
    """With the penalty switched off the same Newton steps give R's ``glm`` (1e-7) on sex2 without
    ``dia`` (all seven diaphragm users are cases, so with it ML does not converge, which the fit
    reports). Catches a wrong likelihood or information matrix independent of the penalty."""
    x, y = sex2
    fit = fit_firth(x[:, :6], y, firth=False)
    assert fit.converged
    assert_allclose(fit.coef, _values(firth_reference, "sex2_glm", "coef", TERMS[:6]), atol=1e-7)
    assert_allclose(fit.std_error, _values(firth_reference, "sex2_glm", "std_error", TERMS[:6]), atol=1e-7)
    separated = fit_firth(x, y, firth=False)  # all diaphragm users are cases: no ML estimate
    assert not separated.converged


def test_firth_vanishes_with_large_n_weighted(firth_reference):
    """135,000 women given as case weights: Firth equals logistf's weighted fit (1e-7) and differs
    from ``glm`` only by the O(1/n) bias correction (below 1e-4, a hundredth of glm's SE); SEs of the ML fit equal glm's to 1e-6 (relative).
    Catches weights ignored in the hat matrix (the penalty would not shrink with n)."""
    big = pd.read_csv(REF / "firth_large_weighted.csv")
    x = np.column_stack([np.ones(len(big)), big[["x1", "x2"]].to_numpy(float)])
    fit = fit_firth(x, big["y"].to_numpy(float), weights=big["w"].to_numpy(float))
    terms = ["(Intercept)", "x1", "x2"]
    assert_allclose(fit.coef, _values(firth_reference, "large_weighted_firth", "coef", terms), atol=1e-7)
    glm = _values(firth_reference, "large_weighted_glm", "coef", terms)
    assert np.max(np.abs(fit.coef - glm)) < 1e-4
    assert np.max(np.abs(fit.coef - glm)) > 1e-6  # the penalty is still there
    ml = fit_firth(x, big["y"].to_numpy(float), weights=big["w"].to_numpy(float), firth=False)
    assert_allclose(ml.coef, glm, atol=1e-8)
    assert_allclose(ml.std_error, _values(firth_reference, "large_weighted_glm", "std_error", terms), rtol=1e-6)


@pytest.mark.parametrize(
    "table",
    [
        (3, 10, 0, 12),  # zero cell: ML does not exist, the Haldane OR does
        (7, 20, 4, 30),
        (1, 50, 9, 40),
    ],
)
def test_firth_single_binary_covariate_is_haldane(table):
    """Hand-derived: with an intercept and one binary covariate the Firth log OR is the log OR of
    the 2 × 2 table with 1/2 added to every cell, and its profile limit exists even with a zero
    cell (1e-8). Catches a penalty of the wrong size (1/4 or 1 per cell gives another OR)."""
    a, n1, c, n0 = table
    x = np.column_stack([np.ones(n1 + n0), np.r_[np.ones(n1), np.zeros(n0)]])
    y = np.r_[np.ones(a), np.zeros(n1 - a), np.ones(c), np.zeros(n0 - c)]
    fit = fit_firth(x, y)
    haldane = np.log(((a + 0.5) / (n1 - a + 0.5)) / ((c + 0.5) / (n0 - c + 0.5)))
    assert fit.coef[1] == pytest.approx(haldane, abs=1e-8)
    assert fit.coef[0] == pytest.approx(np.log((c + 0.5) / (n0 - c + 0.5)), abs=1e-8)
    low, high = firth_profile_interval(x, y, 1, fit=fit)
    assert low < fit.coef[1] < high and np.isfinite([low, high]).all()


def test_firth_rejects_non_binary_and_rank_deficient():
    x = np.column_stack([np.ones(4), [1, 1, 1, 1]])
    with pytest.raises(ModelError, match="rank deficient"):
        fit_firth(x, np.array([0, 1, 0, 1]))
    with pytest.raises(ModelError, match="0/1"):
        fit_firth(np.ones((3, 1)), np.array([0, 2, 1]))


@pytest.fixture(scope="module")
def proportions_reference():
    return pd.read_csv(REF / "proportions_reference.csv")


def test_clopper_pearson_and_wilson_against_r(proportions_reference):
    """Exact binomial limits equal ``binom.test`` and Wilson limits ``prop.test(correct = FALSE)``
    at 95% and 90%, including 0 and n events (1e-10). Catches a Wald interval, a one-sided
    quantile, or the continuity-corrected score interval."""
    for method, fn in (("clopper_pearson", clopper_pearson_interval), ("wilson", wilson_interval)):
        for level, rows in proportions_reference[proportions_reference["method"] == method].groupby("conf_level"):
            low, high = fn(rows["x"], rows["n"], conf_level=level)
            assert_allclose(low, rows["low"], atol=1e-10)
            assert_allclose(high, rows["high"], atol=1e-10)


def test_newcombe_against_r_and_the_published_examples(proportions_reference):
    """Newcombe's hybrid score interval equals the hand-built R value (1e-10) and his published
    examples (Stat Med 1998;17:873, Table II, method 10: 56/70 − 48/80 → 0.0524 to 0.3339;
    9/10 − 3/10 → 0.1705 to 0.8090). Catches the limits of the two Wilson intervals swapped
    (the lower limit of a difference uses the upper limit of the second group)."""
    rows = proportions_reference[proportions_reference["method"] == "newcombe_hybrid"]
    for level, r in rows.groupby("conf_level"):
        d, low, high = newcombe_difference_interval(r["x"], r["n"], r["x2"], r["n2"], conf_level=level)
        assert_allclose(d, r["x"] / r["n"] - r["x2"] / r["n2"], atol=1e-12)
        assert_allclose(low, r["low"], atol=1e-10)
        assert_allclose(high, r["high"], atol=1e-10)
    _, low, high = newcombe_difference_interval([56, 9], [70, 10], [48, 3], [80, 10])
    assert_allclose(np.round(low, 4), [0.0524, 0.1705])
    assert_allclose(np.round(high, 4), [0.3339, 0.8090])
