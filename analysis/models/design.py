"""Model design: how covariates become design columns and how terms are named.

The one place that turns column names into model terms and back into the plain names of the
results contract (``treatment_arm[personalized]``).
"""

from __future__ import annotations


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` where it is outside brackets, parentheses and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _variable_name(factor: str) -> str:
    """Return the column named by a patsy/formulaic factor such as ``C(x, Treatment('a'))``."""
    factor = factor.strip()
    if factor.startswith("C(") and factor.endswith(")"):
        factor = _split_top_level(factor[2:-1], ",")[0].strip()
    if factor.startswith("Q(") and factor.endswith(")"):
        inner = factor[2:-1].strip()
        if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
            factor = inner[1:-1]
    return factor


def _plain_factor(part: str) -> str:
    part = part.strip()
    if part.endswith("]"):
        depth = 0
        for i in range(len(part) - 1, -1, -1):
            if part[i] == "]":
                depth += 1
            elif part[i] == "[":
                depth -= 1
                if depth == 0:
                    factor, level = part[:i], part[i + 1 : -1]
                    for prefix in ("T.", "S.", "D.", "H."):
                        if level.startswith(prefix):
                            level = level[len(prefix) :]
                            break
                    return f"{_variable_name(factor)}[{level}]"
    return part


def plain_term_name(name: str) -> str:
    """Return a model term name in the plain form of the results contract.

    ``Intercept`` becomes ``(Intercept)``; a level of a categorical covariate becomes
    ``variable[level]`` whatever the coding wrapper (patsy's
    ``C(treatment_arm, Treatment(reference='none'))[T.personalized]`` and
    ``treatment_arm[T.personalized]`` both give ``treatment_arm[personalized]``); interactions
    are renamed part by part (``a[T.x]:b[T.y]`` gives ``a[x]:b[y]``); numeric terms are
    unchanged.

    Parameters
    ----------
    name : str
        Raw parameter name of a statsmodels, formulaic or lifelines model.

    Returns
    -------
    str

    Examples
    --------
    >>> plain_term_name("C(treatment_arm, Treatment(reference='none'))[T.personalized]")
    'treatment_arm[personalized]'
    >>> plain_term_name("treatment_arm[T.empirical]:profile_group[T.dysregulated]")
    'treatment_arm[empirical]:profile_group[dysregulated]'
    >>> plain_term_name("Intercept")
    '(Intercept)'
    """
    name = str(name)
    if name in ("Intercept", "(Intercept)", "const"):
        return "(Intercept)"
    return ":".join(_plain_factor(p) for p in _split_top_level(name, ":"))
