"""The endometrial immune profile: the cut-off rule that derives it from the markers.

The lab's ``immune_profile`` is used when present; :func:`derive_immune_profile` derives one from
the markers by a parameterised cut-off rule, kept beside the lab's for comparison and used when
the lab's is absent. Published descriptions are qualitative [S1, S2, S6]: over-activation is
excess uNK activation (high IL-15/Fn-14 or a high uNK count) or a Th1-shifted IL-18/TWEAK;
under-activation is too few or immature uNK (low IL-15/Fn-14, low IL-18/TWEAK or a low uNK
count); mixed is signals in both directions; balanced is no marker outside its reference range.
Numeric cut-offs for the two mRNA ratios are not published; the defaults below are assumptions
to tune per lab. The uNK density range 1.2–4.5 % of stromal cells is from [S11].

A missing marker is not evidence of a normal marker. Under the default rule
(``missing_marker_rule="indeterminate"``) a profile is derived only when the measured markers fix
it whatever the missing ones would show; otherwise it is ``indeterminate``, a fifth level that is
reported and left out of the profile-specific analyses. The old rule, ``"normal"``, counts a
missing marker as inside its reference range (one normal marker with the others missing gives
``balanced``), which moves dysregulated women into the balanced group and dilutes any effect
modification by profile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.contract import INDETERMINATE, PROFILES

#: Default cut-offs (``*_low``: below is low; ``*_high``: above is high).
DEFAULT_CUTOFFS = {
    "il15_fn14_low": 0.5,  # [A] relative to a reference median of 1
    "il15_fn14_high": 2.0,  # [A]
    "il18_tweak_low": 0.5,  # [A]
    "il18_tweak_high": 2.0,  # [A]
    "unk_cd56_low": 1.2,  # [S11] reference range 1.2–4.5 % of stromal cells
    "unk_cd56_high": 4.5,  # [S11]
}

#: Ways to treat a marker that was not measured (see :func:`derive_immune_profile`).
MISSING_MARKER_RULES = ("indeterminate", "normal")

_MARKERS = {
    "il15_fn14": "il15_fn14_ratio",
    "il18_tweak": "il18_tweak_ratio",
    "unk_cd56": "unk_cd56_percent",
}

#: The marker columns the cut-off rule reads (and nothing else): the inputs of a passively
#: imputed profile group (:func:`profile_group_from_markers`).
RULE_MARKERS = tuple(_MARKERS.values())


def resolve_cutoffs(cutoffs: dict | None = None) -> dict:
    """Return the default cut-offs updated with ``cutoffs``; unknown keys raise ``ValueError``."""
    out = dict(DEFAULT_CUTOFFS)
    unknown = set(cutoffs or {}) - set(out)
    if unknown:
        raise ValueError(f"unknown profile cut-off(s) {sorted(unknown)}; known: {sorted(out)}")
    out.update(cutoffs or {})
    for key in _MARKERS:
        if not out[f"{key}_low"] < out[f"{key}_high"]:
            raise ValueError(f"profile cut-offs: {key}_low must be below {key}_high")
    return out


def check_missing_marker_rule(rule: str) -> str:
    """Return ``rule`` if it is one of :data:`MISSING_MARKER_RULES`; raise ``ValueError`` otherwise."""
    if rule not in MISSING_MARKER_RULES:
        raise ValueError(f"missing_marker_rule must be one of {list(MISSING_MARKER_RULES)}, got {rule!r}")
    return rule


def derive_immune_profile(
    patients: pd.DataFrame, cutoffs: dict | None = None, *, missing_marker_rule: str = "indeterminate"
) -> pd.Series:
    """Derive the immune profile from the endometrial markers.

    A marker is *high* above its ``*_high`` cut-off and *low* below its ``*_low`` cut-off. Then::

        over signal  = any of IL-15/Fn-14, IL-18/TWEAK, uNK CD56 % high
        under signal = any of them low
        mixed           if over and under
        over_activated  if over only
        under_activated if under only
        balanced        if neither
        <NA>            if none of the three is measured

    A missing marker (some but not all three measured) is handled by ``missing_marker_rule``:

    - ``"indeterminate"`` (default): the profile is derived only when every value the missing
      markers could take gives the same profile. That holds only for ``mixed`` (a high and a low
      marker are already measured; nothing can undo either signal). Otherwise the result is
      ``"indeterminate"``: an over-activated woman could be mixed, a balanced one anything.
    - ``"normal"``: a missing marker counts as inside its reference range (neither high nor low),
      the rule before indeterminate profiles existed.

    A marker the cohort does not measure at all (its column absent, or empty in every row) is not
    part of the lab's panel: the rule is applied to the markers the panel has, and its absence
    makes no profile indeterminate (the run says which markers were used; Figure 2's caption
    names the absent ones). Missingness *within* the panel is what ``missing_marker_rule`` handles.

    Parameters
    ----------
    patients : DataFrame
        Holds ``il15_fn14_ratio``, ``il18_tweak_ratio`` and ``unk_cd56_percent`` (a column that
        is absent, or empty throughout, is not part of the panel).
    cutoffs : dict, optional
        Overrides of :data:`DEFAULT_CUTOFFS`.
    missing_marker_rule : {"indeterminate", "normal"}
        How a missing marker counts.

    Returns
    -------
    Series
        String categories from :data:`analysis.data.contract.DERIVED_PROFILES` (the four
        profiles and ``indeterminate``), aligned to ``patients``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"il15_fn14_ratio": [1.0, 3.0, 0.2, 0.2],
    ...                    "il18_tweak_ratio": [1.0, 1.0, 1.0, 3.0],
    ...                    "unk_cd56_percent": [2.5, 2.5, 2.5, 2.5]})
    >>> derive_immune_profile(df).tolist()
    ['balanced', 'over_activated', 'under_activated', 'mixed']
    >>> gap = pd.DataFrame({"il15_fn14_ratio": [1.0, 3.0, 3.0],
    ...                     "il18_tweak_ratio": [None, None, 0.2],
    ...                     "unk_cd56_percent": [2.5, 2.5, None]})
    >>> derive_immune_profile(gap).tolist()
    ['indeterminate', 'indeterminate', 'mixed']
    >>> derive_immune_profile(gap, missing_marker_rule="normal").tolist()
    ['balanced', 'over_activated', 'mixed']
    >>> derive_immune_profile(gap.drop(columns="unk_cd56_percent")).tolist()  # a two-marker panel
    ['indeterminate', 'indeterminate', 'mixed']
    >>> derive_immune_profile(gap.drop(columns=["il18_tweak_ratio", "unk_cd56_percent"])).tolist()
    ['balanced', 'over_activated', 'over_activated']
    """
    profile = _rule_labels(patients, cutoffs, missing_marker_rule)
    return pd.Series(profile, index=patients.index, dtype="string").replace("", pd.NA)


def _rule_labels(patients: pd.DataFrame, cutoffs: dict | None, missing_marker_rule: str) -> np.ndarray:
    """The cut-off rule of :func:`derive_immune_profile` on arrays: one label per row, ``""`` where none is measured."""
    check_missing_marker_rule(missing_marker_rule)
    c = resolve_cutoffs(cutoffs)
    high = np.zeros(len(patients), bool)
    low = np.zeros(len(patients), bool)
    measured = np.zeros(len(patients), bool)
    complete = np.ones(len(patients), bool)
    for key, column in _MARKERS.items():
        values = pd.to_numeric(patients[column], errors="coerce").to_numpy(float) if column in patients else None
        if values is None or np.isnan(values).all():
            continue  # not in this cohort's panel: the rule uses the markers the lab measures
        ok = ~np.isnan(values)
        measured |= ok
        complete &= ok
        high |= ok & (values > c[f"{key}_high"])
        low |= ok & (values < c[f"{key}_low"])
    undetermined = measured & ~complete & ~(high & low)
    if missing_marker_rule == "normal":
        undetermined[:] = False
    return np.select(
        [undetermined, high & low, high, low, measured],
        [INDETERMINATE, "mixed", "over_activated", "under_activated", "balanced"],
        default="",
    )


def profile_group(profile: pd.Series) -> pd.Series:
    """Collapse the profile to ``balanced`` / ``dysregulated``; missing and ``indeterminate`` give missing."""
    group = profile.astype("string").map({p: ("balanced" if p == "balanced" else "dysregulated") for p in PROFILES})
    return group.astype("string")


def profile_group_from_markers(patients: pd.DataFrame, cutoffs: dict | None = None) -> pd.Series:
    """Return the profile group the cut-off rule gives from the markers (for passive imputation).

    On completed markers (every one measured) the missing-marker rule plays no part; a row
    with a marker still missing gets a missing group.

    Parameters
    ----------
    patients : DataFrame
        Holds the three markers of the rule.
    cutoffs : dict, optional
        Overrides of :data:`DEFAULT_CUTOFFS`.

    Returns
    -------
    Series
        ``balanced`` / ``dysregulated`` (object dtype, missing as None), aligned to ``patients``.
    """
    # profile_group(derive_immune_profile(...)) computed on the rule's labels, without the string
    # Series in between: passive imputation calls this after every update of a marker
    labels = _rule_labels(patients, cutoffs, "indeterminate")
    group = np.where(labels == "balanced", "balanced", "dysregulated").astype(object)
    group[~np.isin(labels, PROFILES)] = None
    return pd.Series(group, index=patients.index, dtype=object)
