"""The linear-time separation certificate and the integer-coded categorical design.

``check_not_separated`` settles most fits with a Stiemke certificate built from an IRLS fit
and only falls back to Konis's linear programme when the certificate fails; the design of a
``C(x, Treatment(ref))`` term is built from a Categorical's codes instead of patsy's per-value
loop. Both are speed-ups, so both must give exactly the answers of the slow paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
import pytest

from analysis.models.design import design_matrix, with_categorical_dtype
from analysis.models.logistic import (
    binomial_irls,
    certifies_no_separation,
    separating_direction,
)


def _random_design(rng, n, p, separated):
    x = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    eta = x @ rng.normal(scale=1.0, size=p)
    if separated == "complete":
        y = (eta > 0).astype(float)
    elif separated == "quasi":
        y = (eta > 0).astype(float)
        tied = rng.choice(n, size=max(2, n // 10), replace=False)
        x[tied, 1] = 0.0  # rows on a hyperplane get both outcomes: quasi-complete if kept apart
        y = np.where(x[:, 1] > 0, 1.0, np.where(x[:, 1] < 0, 0.0, rng.integers(0, 2, n)))
    else:
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame(x, columns=[f"x{j}" for j in range(p)]), y


@pytest.mark.parametrize("seed", range(40))
def test_certificate_never_contradicts_the_linear_programme(seed):
    rng = np.random.default_rng(seed)
    kind = ["none", "none", "complete", "quasi"][seed % 4]
    n, p = int(rng.integers(15, 400)), int(rng.integers(2, 6))
    design, y = _random_design(rng, n, p, kind)
    x = design.to_numpy()
    ones = np.ones(n)
    with np.errstate(all="ignore"):
        beta = binomial_irls(x, y, ones)
    certified = certifies_no_separation(x, y, ones, beta)
    separated = separating_direction(design, y) is not None
    # a certificate is a proof: it may fail to exist, but never on separated data
    assert not (certified and separated)
    if kind in ("complete", "quasi"):
        assert separated and not certified
    if kind == "none" and n >= 100 * p and not separated:
        # with plenty of rows and no separation the cheap path settles the question
        assert certified


def test_certificate_on_binomial_counts_matches_hand_case():
    # two groups, 3/10 and 7/10 successes: the MLE exists (logit 0.3 and 0.7)
    x = np.array([[1.0, 0.0], [1.0, 1.0]])
    prop, trials = np.array([0.3, 0.7]), np.array([10.0, 10.0])
    beta = binomial_irls(x, prop, trials)
    np.testing.assert_allclose(beta, [np.log(3 / 7), np.log(7 / 3) - np.log(3 / 7)], atol=1e-10)
    assert certifies_no_separation(x, prop, trials, beta)
    # 0/10 in the second group: its log odds diverge, no certificate
    prop0 = np.array([0.3, 0.0])
    with np.errstate(all="ignore"):
        beta0 = binomial_irls(x, prop0, trials)
    assert not certifies_no_separation(x, prop0, trials, beta0)


def test_integer_coded_categorical_design_equals_patsy():
    rng = np.random.default_rng(7)
    n = 500
    frame = pd.DataFrame(
        {
            "arm": rng.choice(["none", "empirical", "personalized"], n),
            "centre": rng.choice([3, 1, 2], n),
            "donor": rng.random(n) < 0.3,
            "age": rng.normal(35, 4, n),
        }
    )
    rhs = (
        "C(arm, Treatment('none')) + C(centre, Treatment(reference=2)) + C(donor) + age + C(arm, Treatment('none')):age"
    )
    expected = patsy.dmatrix(rhs, frame, return_type="dataframe")
    fast = design_matrix(rhs, with_categorical_dtype(frame, ["arm", "centre", "donor"]))
    assert list(fast.columns) == list(expected.columns)
    np.testing.assert_array_equal(fast.to_numpy(), expected.to_numpy())
    # the stored spec codes new object-typed rows (e.g. one counterfactual arm) as patsy does
    new = frame.head(20).assign(arm="personalized")
    again = patsy.build_design_matrices([fast.design_info], new, return_type="dataframe")[0]
    want = patsy.build_design_matrices([expected.design_info], new, return_type="dataframe")[0]
    np.testing.assert_array_equal(again.to_numpy(), want.to_numpy())
