"""The estimates and survival schemas of the results contract (``docs/results_format.md``).

Every estimate row any model or method produces is conformed here, so the columns, their order
and their dtypes have one owner; :mod:`analysis.output.results` writes and reads them.
"""

from __future__ import annotations

import pandas as pd

ESTIMATE_COLUMNS = [
    "notebook",
    "model_id",
    "outcome",
    "population",
    "estimator",
    "term",
    "coef",
    "std_error",
    "estimate",
    "conf_low",
    "conf_high",
    "p_value",
    "n_obs",
    "n_events",
    "n_clusters",
]

SURVIVAL_COLUMNS = [
    "group",
    "time_days",
    "estimate",
    "conf_low",
    "conf_high",
    "n_at_risk",
    "n_events",
]


def empty_estimates() -> pd.DataFrame:
    """Return an empty estimates table with the contract's columns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ESTIMATE_COLUMNS})


def conform_estimates(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the contract's columns, in order, with stable dtypes.

    Missing optional columns (``n_clusters`` for models without clusters, ``p_value`` for
    estimators without a test) are filled with NaN; extra columns raise ``ValueError``.
    """
    extra = set(frame.columns) - set(ESTIMATE_COLUMNS)
    if extra:
        raise ValueError(f"columns not in the estimates contract: {sorted(extra)}")
    out = frame.reindex(columns=ESTIMATE_COLUMNS).copy()
    for col in ["coef", "std_error", "estimate", "conf_low", "conf_high", "p_value"]:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    for col in ["n_obs", "n_events", "n_clusters"]:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    for col in ["notebook", "model_id", "outcome", "population", "estimator", "term"]:
        out[col] = out[col].astype("string")
    return out
