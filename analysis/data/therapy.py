"""Immunotherapy agents, the direction each one acts in, and matched versus mismatched therapy.

This module is the one place that holds the agent-to-direction table. A treated transfer is
*matched* when its agents act in the direction its profile needs, *mismatched* otherwise; any
therapy in a balanced profile is mismatched. Directions:

- ``suppressive``: immunosuppressive or immunomodulating, for over-activation;
- ``stimulating``: supports uNK recruitment and maturation, for under-activation;
- ``neutral``: no immune direction (anticoagulant, or an agent the vocabulary does not name).

The mapping of agents to directions follows the practice described for profile-guided care
(prednisolone ± intralipid, G-CSF or IVIG for over-activation; intrauterine hCG for
under-activation [S1, S2]); the sources do not tabulate it, so it is an assumption to check
against the treating lab's protocol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.core.text import exploded_lists

#: Direction of each agent of the controlled vocabulary.
AGENT_DIRECTION = {
    "prednisolone": "suppressive",
    "intralipid": "suppressive",
    "ivig": "suppressive",
    "tacrolimus": "suppressive",
    "hydroxychloroquine": "suppressive",
    "g_csf": "suppressive",
    "hcg_intrauterine": "stimulating",
    "lmwh": "neutral",
    "other": "neutral",
}

#: Directions a profile needs for its therapy to count as matched.
PROFILE_NEEDS = {
    "balanced": frozenset(),
    "over_activated": frozenset({"suppressive"}),
    "under_activated": frozenset({"stimulating"}),
    "mixed": frozenset({"suppressive", "stimulating"}),
}

MATCH_LEVELS = ("none", "matched", "mismatched")


def agent_directions(agents: pd.Series) -> pd.DataFrame:
    """Return, per transfer, whether any agent acts in each direction.

    Parameters
    ----------
    agents : Series of str
        Semicolon-separated agent lists (``""`` for none).

    Returns
    -------
    DataFrame
        Boolean columns ``any_agent``, ``suppressive``, ``stimulating``, ``neutral``.
    """
    text = agents.fillna("").astype(str)
    out = pd.DataFrame(index=agents.index)
    out["any_agent"] = text.str.len() > 0
    exploded = exploded_lists(text)
    direction = exploded.map(AGENT_DIRECTION)
    for d in ("suppressive", "stimulating", "neutral"):
        out[d] = (direction == d).groupby(level=0).any().reindex(agents.index, fill_value=False)
    return out


def therapy_match(agents: pd.Series, profile: pd.Series) -> pd.Series:
    """Classify each transfer's therapy as ``none``, ``matched`` or ``mismatched``.

    ``none`` when no agent was given. Otherwise matched exactly when the set of directions of
    the non-neutral agents equals what the profile needs (:data:`PROFILE_NEEDS`): suppressive
    only for over-activation, stimulating only for under-activation, both for mixed. Any
    agent in a balanced profile, only neutral agents, or agents in the wrong direction are
    mismatched. A missing profile gives a missing result for treated transfers.

    Examples
    --------
    >>> import pandas as pd
    >>> agents = pd.Series(["", "prednisolone", "prednisolone", "hcg_intrauterine;prednisolone"])
    >>> profile = pd.Series(["over_activated", "over_activated", "balanced", "mixed"])
    >>> therapy_match(agents, profile).tolist()
    ['none', 'matched', 'mismatched', 'matched']
    """
    d = agent_directions(agents)
    prof = profile.astype("string")
    needs_sup = prof.isin(["over_activated", "mixed"]).fillna(False).to_numpy(bool)
    needs_sti = prof.isin(["under_activated", "mixed"]).fillna(False).to_numpy(bool)
    fits = (d["suppressive"].to_numpy() == needs_sup) & (d["stimulating"].to_numpy() == needs_sti)
    fits &= needs_sup | needs_sti
    result = np.where(~d["any_agent"].to_numpy(), "none", np.where(fits, "matched", "mismatched"))
    out = pd.Series(result, index=agents.index, dtype="string")
    out[(d["any_agent"].to_numpy()) & prof.isna().to_numpy()] = pd.NA
    return out
