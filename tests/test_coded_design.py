"""The logistic models of a specification are coded from categorical codes, without patsy.

:func:`analysis.models.design.coded_design` must give exactly patsy's design (the route every
formula model took before): the same columns, in the same order, with the same plain names
and values, for main effects and interactions, with a declared or a contract reference level,
an unused category of a Categorical, text levels out of sorted order and incomplete rows.
:func:`analysis.methods.outcomes.fit_logit_model` then fits it with the same numbers as
statsmodels' GLM, without building a patsy design or a statsmodels model (the old route did
both on every fit, and fails the last test here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.methods import outcomes
from analysis.models import design as model_design
from analysis.models import logistic
from analysis.models import tidy as tidy_models


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 900
    arm = rng.choice(["none", "empirical", "personalized"], n)
    profile = rng.choice(["balanced", "dysregulated"], n)
    center = rng.choice(["C3", "C1", "C2"], n)
    age = rng.normal(36, 4, n)
    prior = rng.integers(0, 5, n)
    eta = -0.4 + 0.5 * (arm == "personalized") + 0.3 * (profile == "dysregulated") - 0.05 * (age - 36)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    frame = pd.DataFrame(
        {
            "live_birth": y,
            # a Categorical with categories out of sorted order and one never observed
            "treatment_arm": pd.Categorical(arm, categories=["none", "personalized", "unused_arm", "empirical"]),
            "profile_group": pd.Categorical(profile),
            "center_id": pd.array(center, dtype="string"),
            "site_note": np.array(rng.choice(["b", "a", "c"], n), dtype=object),  # not in the contract
            "age_at_biopsy_years": age,
            "prior_failed_transfers": pd.array(prior, dtype="Int64"),
        },
        index=np.arange(n) * 3 + 11,
    )
    frame.loc[frame.index[::37], "age_at_biopsy_years"] = np.nan  # incomplete rows are left out
    frame.loc[frame.index[5::41], "center_id"] = pd.NA
    frame.loc[frame.index[7::53], "prior_failed_transfers"] = pd.NA
    frame.loc[frame.index[9::47], "treatment_arm"] = np.nan
    return frame


SPECS = [
    (["treatment_arm"], [], None),
    (["treatment_arm"], ["age_at_biopsy_years", "center_id", "prior_failed_transfers"], None),
    (["treatment_arm"], ["age_at_biopsy_years", "center_id"], {"treatment_arm": "personalized", "center_id": "C3"}),
    (["treatment_arm*profile_group"], ["age_at_biopsy_years", "site_note", "profile_group"], None),
    (["profile_group*treatment_arm"], ["center_id"], None),
    (["treatment_arm*age_at_biopsy_years"], ["prior_failed_transfers", "center_id"], None),
    (["age_at_biopsy_years:treatment_arm"], ["age_at_biopsy_years", "site_note"], None),
    (["age_at_biopsy_years*prior_failed_transfers"], ["treatment_arm"], None),
]


def _patsy_design(data, exposures, covariates, references):
    needed = ["live_birth"] + [p.strip() for e in exposures for p in e.replace("*", ":").split(":")] + covariates
    frame = model_design.model_frame(data, needed)
    f = model_design.formula("live_birth", exposures, covariates, frame, references)
    variables = model_design.formula_variables(f, frame)
    coded = model_design.with_categorical_dtype(frame, variables["categorical"])
    return frame, f, model_design.named_design(f.split("~", 1)[1], coded)


@pytest.mark.parametrize(("exposures", "covariates", "references"), SPECS)
def test_coded_design_equals_patsy_design(data, exposures, covariates, references):
    frame, f, expected = _patsy_design(data, exposures, covariates, references)
    coded = model_design.coded_design(data, "live_birth", exposures, covariates, references)
    assert coded is not None
    assert coded.names == list(expected.columns)
    np.testing.assert_array_equal(coded.matrix, expected.to_numpy(dtype=float))
    assert data.index[coded.rows].equals(frame.index)
    # the formula of the status message is the same text from the references used
    assert model_design.formula("live_birth", exposures, covariates, data, coded.references) == f


def test_coded_design_leaves_full_rank_interactions_to_patsy(data):
    """``a:b`` without its main effects: patsy codes a factor at full rank; not reproduced here."""
    assert model_design.coded_design(data, "live_birth", ["treatment_arm:profile_group"], []) is None
    assert model_design.coded_design(data, "live_birth", ["age_at_biopsy_years:treatment_arm"], []) is None


@pytest.mark.parametrize(("exposures", "covariates", "references"), SPECS[:6])
def test_coded_fit_equals_statsmodels_glm(data, exposures, covariates, references):
    frame, f, _ = _patsy_design(data, exposures, covariates, references)
    old = logistic.fit_logit(frame, f)
    new = logistic.fit_logit_coded(
        data, model_design.coded_design(data, "live_birth", exposures, covariates, references)
    )
    assert new is not None
    # the same operations as statsmodels' IRLS: the same numbers, not merely close ones
    np.testing.assert_array_equal(new.params.to_numpy(), old.params.to_numpy())
    np.testing.assert_array_equal(new.bse.to_numpy(), old.bse.to_numpy())
    np.testing.assert_array_equal(new.cov_params().to_numpy(), old.cov_params().to_numpy())
    assert new.llf == old.llf and new.nobs == old.nobs
    labels = dict(notebook="t", model_id="m", outcome="live_birth", population="p")
    pd.testing.assert_frame_equal(
        tidy_models.tidy_glm(new, **labels), tidy_models.tidy_glm(old, **labels), check_exact=True
    )


def test_fit_logit_model_builds_no_patsy_design_and_no_statsmodels_model(data, monkeypatch):
    import patsy

    from analysis.models import logistic

    def forbidden(*args, **kwargs):
        raise AssertionError("the logistic model of a specification went through patsy or statsmodels' GLM")

    monkeypatch.setattr(patsy, "dmatrix", forbidden)
    monkeypatch.setattr(patsy, "build_design_matrices", forbidden)
    monkeypatch.setattr(logistic, "GLM", forbidden)
    log = outcomes.ModelLog("t")
    fit = outcomes.fit_logit_model(
        log,
        data,
        model_id="m",
        outcome="live_birth",
        population="p",
        exposures=["treatment_arm*profile_group"],
        covariates=["age_at_biopsy_years", "center_id", "prior_failed_transfers"],
    )
    assert fit is not None and log.status_frame()["status"].tolist() == ["ok"]
    assert "treatment_arm[personalized]:profile_group[dysregulated]" in fit.params.index
