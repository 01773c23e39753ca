"""The estimates and survival schemas of the results contract (``docs/results_format.md``).

Every estimate row any model or method produces is conformed here, so the columns, their order
and their dtypes have one owner; :mod:`analysis.output.results` writes and reads them.
"""

from __future__ import annotations

import numpy as np
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


def conform_estimates(frame: pd.DataFrame, **labels) -> pd.DataFrame:
    """Return ``frame`` with exactly the contract's columns, in order, with stable dtypes.

    Missing optional columns (``n_clusters`` for models without clusters, ``p_value`` for
    estimators without a test) are filled with NaN; extra columns raise ``ValueError``.
    ``labels`` are further columns (a scalar for every row, or one value per row), as
    ``frame.assign(**labels)``. Each column is converted once, and columns already of their
    contract dtype are taken as they are.
    """
    extra = (set(frame.columns) | set(labels)) - set(ESTIMATE_COLUMNS)
    if extra:
        raise ValueError(f"columns not in the estimates contract: {sorted(extra)}")
    index = frame.index
    out = {}
    for col in ESTIMATE_COLUMNS:
        if col in labels:
            value = labels[col]
            values = pd.Series(value, index=index) if not isinstance(value, pd.Series) else value.reindex(index)
        elif col in frame.columns:
            values = frame[col]
        else:
            values = pd.Series(np.nan, index=index)
        if col in _FLOAT_COLUMNS:
            converted = values if values.dtype == np.float64 else pd.to_numeric(values, errors="coerce").astype(float)
            out[col] = converted.to_numpy(dtype=float, copy=True)
        elif col in _COUNT_COLUMNS:
            out[col] = pd.to_numeric(values, errors="coerce").astype(_INT64).array.copy()
        else:
            out[col] = values.astype(_STRING).array.copy()
    return pd.DataFrame(out, index=index)


_FLOAT_COLUMNS = frozenset(["coef", "std_error", "estimate", "conf_low", "conf_high", "p_value"])
_COUNT_COLUMNS = frozenset(["n_obs", "n_events", "n_clusters"])
_INT64, _STRING = pd.Int64Dtype(), pd.StringDtype()  # "Int64" and "string", without a lookup by name
