"""Independence, exchangeable and cluster-weighted logistic GEE of a binary outcome against geepack.

Expected values: ``tests/reference/make_gee_reference.R`` (R 4.2.2, geepack 1.3.9; see
``R_VERSIONS_gee.txt``) on the committed fixed data ``tests/reference/implantation.csv``, with
the binary outcome "at least one gestational sac" and the transfer number as a factor, as the
all-transfer live-birth models of the analysis plan. R is never run here.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.core.exceptions import ModelError
from analysis.models.gee import fit_gee_logit, inverse_cluster_size

RTOL = 1e-6
REFERENCE = Path(__file__).resolve().parent / "reference"
ARM = "C(arm, Treatment('none'))"
FORMULA = f"any_sac ~ age + {ARM} + C(transfer_band)"
NAMES = {
    "(Intercept)": "(Intercept)",
    "age": "age",
    "armempirical": "arm[empirical]",
    "armpersonalized": "arm[personalized]",
    "transfer_band2": "transfer_band[2]",
    "transfer_band3": "transfer_band[3]",
    "transfer_band4": "transfer_band[4]",
}
CASES = [
    ("gee_binary_independence", "independence", False),
    ("gee_binary_exchangeable", "exchangeable", False),
    ("gee_binary_cluster_weighted", "independence", True),
]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(REFERENCE / "implantation.csv")
    d = d.assign(any_sac=(d["sacs"] > 0).astype(int), transfer_band=d["transfer"].astype(str))
    return d.assign(cluster_weight=inverse_cluster_size(d["patient_id"]))


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "gee_reference.csv")


@pytest.mark.parametrize(("model_id", "cov_struct", "weighted"), CASES, ids=[c[0] for c in CASES])
def test_binary_gee_matches_geepack(data, reference, model_id, cov_struct, weighted):
    """Coefficients, robust SEs, working correlation and scale equal geeglm's to a relative 1e-6."""
    fit = fit_gee_logit(
        data, FORMULA, groups="patient_id", cov_struct=cov_struct, weights="cluster_weight" if weighted else None
    )
    ref = reference[reference["model_id"] == model_id].set_index("term")
    assert_allclose(fit.params[list(NAMES.values())], ref.loc[list(NAMES), "coef"], rtol=RTOL)
    assert_allclose(fit.bse[list(NAMES.values())], ref.loc[list(NAMES), "std_error"], rtol=RTOL)
    assert_allclose(fit.scale, ref.loc["scale_phi", "coef"], rtol=RTOL)
    assert_allclose(fit.alpha, ref.loc["working_correlation_alpha", "coef"], rtol=RTOL, atol=0)
    assert fit.n_clusters == data["patient_id"].nunique() and fit.nobs == len(data)


def test_cluster_weights_sum_to_one_per_woman(data):
    """Each patient's weights sum to 1, so every woman counts once whatever her number of transfers."""
    sums = data.groupby("patient_id")["cluster_weight"].sum()
    assert_allclose(sums, np.ones(len(sums)))


def test_unit_weights_give_the_unweighted_fit(data):
    """Weights of 1 reproduce the unweighted independence GEE exactly."""
    plain = fit_gee_logit(data, FORMULA, groups="patient_id", cov_struct="independence")
    ones = fit_gee_logit(data.assign(one=1.0), FORMULA, groups="patient_id", cov_struct="independence", weights="one")
    assert_allclose(ones.params, plain.params, rtol=1e-12)
    assert_allclose(ones.cov_robust, plain.cov_robust, rtol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf])
def test_weights_must_be_positive_and_finite(data, bad):
    d = data.assign(w=data["cluster_weight"].where(data.index != 3, bad))
    with pytest.raises(ModelError, match="positive and finite"):
        fit_gee_logit(d, FORMULA, groups="patient_id", cov_struct="independence", weights="w")


def test_weights_and_trials_are_not_combined(data):
    with pytest.raises(ModelError, match="cannot be combined"):
        fit_gee_logit(data, f"sacs ~ age + {ARM}", groups="patient_id", trials="embryos", weights="cluster_weight")
