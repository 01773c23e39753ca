"""Regression and survival models of the suite, checked against R's reference implementations.

Modules
-------
logistic
    Logistic regression (:func:`~analysis.models.logistic.fit_logit`), conditional logistic
    regression for matched sets, linear combinations of coefficients and likelihood-ratio tests.
gee
    Logistic GEE with exchangeable or independent working correlation for clustered outcomes,
    including a grouped binomial response (successes out of trials), matching
    ``geepack::geeglm``.
survival
    Cox regression (Efron ties), the survival 3.x proportional-hazards score test, Kaplan-Meier
    with Greenwood standard errors, the log-rank test and the Aalen-Johansen estimator of
    cumulative incidence with competing events.
tidy
    Adapters from fitted models to the estimates table of :mod:`analysis.output.results`.

Every fitting function raises :class:`analysis.core.exceptions.ModelError` with a sentence naming the
problem when a model cannot be fitted (no rows, no events, one level, separation,
non-convergence).
"""

from analysis.models.gee import GEEResult, fit_gee_logit
from analysis.models.logistic import (
    fit_conditional_logit,
    fit_logit,
    likelihood_ratio_test,
    linear_combination,
)
from analysis.models.survival import (
    aalen_johansen,
    cumulative_incidence_from_km,
    fit_cox,
    kaplan_meier,
    logrank_test,
    proportional_hazards_test,
    survival_at,
)
from analysis.models.tidy import (
    tidy_conditional_logit,
    tidy_cox,
    tidy_gee,
    tidy_glm,
    tidy_linear_combination,
)

__all__ = [
    "GEEResult",
    "aalen_johansen",
    "cumulative_incidence_from_km",
    "fit_conditional_logit",
    "fit_cox",
    "fit_gee_logit",
    "fit_logit",
    "kaplan_meier",
    "likelihood_ratio_test",
    "linear_combination",
    "logrank_test",
    "proportional_hazards_test",
    "survival_at",
    "tidy_conditional_logit",
    "tidy_cox",
    "tidy_gee",
    "tidy_glm",
    "tidy_linear_combination",
]
