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

from importlib import import_module

# Names are imported on first use (PEP 562), so that importing one light submodule
# (``analysis.models.schema``, used by the output layer) does not load statsmodels and SciPy's
# statistics into every notebook kernel.
_HOMES = {
    "GEEResult": "gee",
    "fit_gee_logit": "gee",
    "fit_conditional_logit": "logistic",
    "fit_logit": "logistic",
    "likelihood_ratio_test": "logistic",
    "linear_combination": "logistic",
    "aalen_johansen": "survival",
    "cumulative_incidence_from_km": "survival",
    "fit_cox": "survival",
    "kaplan_meier": "survival",
    "logrank_test": "survival",
    "proportional_hazards_test": "survival",
    "survival_at": "survival",
    "tidy_conditional_logit": "tidy",
    "tidy_cox": "tidy",
    "tidy_gee": "tidy",
    "tidy_glm": "tidy",
    "tidy_linear_combination": "tidy",
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f"analysis.models.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'analysis.models' has no attribute {name!r}")


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
