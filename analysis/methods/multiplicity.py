r"""Multiplicity control over a family of tests: Holm's step-down and a fixed testing sequence.

- **Holm** (Holm 1979, Scand J Stat 6:65): with the :math:`m` p-values ordered
  :math:`p_{(1)} \le \dots \le p_{(m)}`, the adjusted p-value of the :math:`j`-th smallest is
  :math:`\tilde p_{(j)} = \max_{k \le j} \min\{1, (m - k + 1)\,p_{(k)}\}`; rejecting where
  :math:`\tilde p \le \alpha` controls the family-wise error rate at :math:`\alpha` strongly.
  The same numbers as R's ``p.adjust(p, "holm")``.
- **Fixed sequence** (Maurer, Hothorn & Lehmacher 1995; Westfall & Krishen 2001, J Stat Plan
  Inference 99:25): the hypotheses are tested in their declared order at the full
  :math:`\alpha`, stopping at the first non-rejection; the adjusted p-value of the
  :math:`j`-th is :math:`\tilde p_j = \max_{k \le j} p_k`.

A missing p-value (a test that could not be computed) stays missing and takes no part in the
family: it neither uses up :math:`\alpha` nor, in a fixed sequence, stops it (a hierarchy whose
test is missing is reported as such by the caller).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MULTIPLICITY_METHODS", "adjusted_p_values", "check_hierarchy", "fixed_sequence_p_values", "holm_p_values"]

#: Methods :func:`adjusted_p_values` knows.
MULTIPLICITY_METHODS = ("holm", "fixed_sequence", "none")


def _as_array(p_values: Sequence[float]) -> np.ndarray:
    p = np.asarray(p_values, dtype=float)
    bad = p[np.isfinite(p) & ((p < 0) | (p > 1))]
    if bad.size:
        raise ValueError(f"p-values must lie in [0, 1]; got {sorted(bad.tolist())}")
    return p


def holm_p_values(p_values: Sequence[float]) -> np.ndarray:
    """Return Holm's step-down adjusted p-values, in the order given.

    Parameters
    ----------
    p_values : sequence of float
        Raw p-values; NaN for a test that could not be computed (left out of the family).

    Returns
    -------
    ndarray
        Adjusted p-values (NaN where the raw one is).

    Examples
    --------
    >>> holm_p_values([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = _as_array(p_values)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out


def fixed_sequence_p_values(p_values: Sequence[float]) -> np.ndarray:
    """Return fixed-sequence adjusted p-values: the running maximum in the declared order.

    Examples
    --------
    >>> fixed_sequence_p_values([0.01, 0.04, 0.03]).tolist()
    [0.01, 0.04, 0.04]
    """
    p = _as_array(p_values)
    out = np.full(p.shape, np.nan)
    running = 0.0
    for i in np.flatnonzero(np.isfinite(p)):
        running = max(running, p[i])
        out[i] = running
    return out


def adjusted_p_values(p_values: Sequence[float], method: str) -> np.ndarray:
    """Return p-values adjusted by ``method`` (``holm``, ``fixed_sequence`` or ``none``).

    Raises
    ------
    ValueError
        An unknown method (the message lists the known ones).
    """
    if method == "holm":
        return holm_p_values(p_values)
    if method == "fixed_sequence":
        return fixed_sequence_p_values(p_values)
    if method == "none":
        return _as_array(p_values).copy()
    raise ValueError(f"unknown multiplicity method {method!r}; known: {', '.join(MULTIPLICITY_METHODS)}")


def check_hierarchy(hierarchy: dict) -> None:
    """Raise ``ValueError`` listing every problem of a declared analysis hierarchy (see :func:`hierarchy_table`)."""
    problems = []
    if not isinstance(hierarchy, dict):
        raise ValueError("analysis_hierarchy must be a mapping with primary, secondary, multiplicity and alpha")
    for key in ("primary", "secondary", "multiplicity", "alpha"):
        if key not in hierarchy:
            problems.append(f"no '{key}'")
    entries = [hierarchy.get("primary")] + list(hierarchy.get("secondary") or [])
    for i, e in enumerate(entries):
        where = "primary" if i == 0 else f"secondary[{i - 1}]"
        if not isinstance(e, dict) or "model_id" not in e or not ({"term", "arm"} & set(e)):
            problems.append(f"{where} needs model_id and arm (or term)")
        elif not isinstance(e.get("within", {}), dict):
            problems.append(f"{where}: within must map one column to a level")
    if hierarchy.get("multiplicity") not in MULTIPLICITY_METHODS:
        problems.append(
            f"multiplicity {hierarchy.get('multiplicity')!r} is not one of {', '.join(MULTIPLICITY_METHODS)}"
        )
    alpha = hierarchy.get("alpha")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        problems.append(f"alpha {alpha!r} must lie between 0 and 1")
    if problems:
        raise ValueError("analysis_hierarchy: " + "; ".join(problems))
