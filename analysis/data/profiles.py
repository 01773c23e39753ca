"""The endometrial immune profile: the cut-off rule that derives it from the markers.

The lab's ``immune_profile`` is used when present; :func:`derive_immune_profile` derives one from
the markers by a parameterised cut-off rule, kept beside the lab's for comparison and used when
the lab's is absent. Published descriptions are qualitative [S1, S2, S6]: over-activation is
excess uNK activation (high IL-15/Fn-14 or a high uNK count) or a Th1-shifted IL-18/TWEAK;
under-activation is too few or immature uNK (low IL-15/Fn-14, low IL-18/TWEAK or a low uNK
count); mixed is signals in both directions; balanced is no marker outside its reference range.
Numeric cut-offs for the two mRNA ratios are not published; the defaults below are assumptions
to tune per lab. The uNK density range 1.2–4.5 % of stromal cells is from [S11].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.contract import PROFILES

#: Default cut-offs (``*_low``: below is low; ``*_high``: above is high).
DEFAULT_CUTOFFS = {
    "il15_fn14_low": 0.5,  # [A] relative to a reference median of 1
    "il15_fn14_high": 2.0,  # [A]
    "il18_tweak_low": 0.5,  # [A]
    "il18_tweak_high": 2.0,  # [A]
    "unk_cd56_low": 1.2,  # [S11] reference range 1.2–4.5 % of stromal cells
    "unk_cd56_high": 4.5,  # [S11]
}

_MARKERS = {
    "il15_fn14": "il15_fn14_ratio",
    "il18_tweak": "il18_tweak_ratio",
    "unk_cd56": "unk_cd56_percent",
}


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


def derive_immune_profile(patients: pd.DataFrame, cutoffs: dict | None = None) -> pd.Series:
    """Derive the four-level immune profile from the endometrial markers.

    A marker is *high* above its ``*_high`` cut-off and *low* below its ``*_low`` cut-off
    (missing markers are neither). Then::

        over signal  = any of IL-15/Fn-14, IL-18/TWEAK, uNK CD56 % high
        under signal = any of them low
        mixed           if over and under
        over_activated  if over only
        under_activated if under only
        balanced        if neither and at least one of the three markers is measured
        <NA>            if none of the three is measured

    Parameters
    ----------
    patients : DataFrame
        Must hold ``il15_fn14_ratio``, ``il18_tweak_ratio`` and ``unk_cd56_percent`` (columns
        that are absent count as unmeasured).
    cutoffs : dict, optional
        Overrides of :data:`DEFAULT_CUTOFFS`.

    Returns
    -------
    Series
        String categories from :data:`analysis.data.contract.PROFILES`, aligned to ``patients``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"il15_fn14_ratio": [1.0, 3.0, 0.2, 0.2],
    ...                    "il18_tweak_ratio": [1.0, 1.0, 1.0, 3.0],
    ...                    "unk_cd56_percent": [2.5, 2.5, 2.5, 2.5]})
    >>> derive_immune_profile(df).tolist()
    ['balanced', 'over_activated', 'under_activated', 'mixed']
    """
    c = resolve_cutoffs(cutoffs)
    high = np.zeros(len(patients), bool)
    low = np.zeros(len(patients), bool)
    measured = np.zeros(len(patients), bool)
    for key, column in _MARKERS.items():
        if column not in patients:
            continue
        values = pd.to_numeric(patients[column], errors="coerce").to_numpy(float)
        ok = ~np.isnan(values)
        measured |= ok
        high |= ok & (values > c[f"{key}_high"])
        low |= ok & (values < c[f"{key}_low"])
    profile = np.select(
        [high & low, high, low, measured],
        ["mixed", "over_activated", "under_activated", "balanced"],
        default="",
    )
    out = pd.Series(profile, index=patients.index, dtype="string").replace("", pd.NA)
    return out


def profile_group(profile: pd.Series) -> pd.Series:
    """Collapse the four-level profile to ``balanced`` / ``dysregulated`` (missing stays missing)."""
    group = profile.astype("string").map({p: ("balanced" if p == "balanced" else "dysregulated") for p in PROFILES})
    return group.astype("string")
