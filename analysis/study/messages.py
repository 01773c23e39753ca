"""Text a notebook shows to its reader, rendered as Markdown by Jupyter."""

from __future__ import annotations

__all__ = ["Message", "not_estimable"]


class Message(str):
    """A sentence (Markdown) a notebook shows as the last value of a cell.

    A plain ``str`` subclass: it compares, joins and prints as the text, and Jupyter renders
    it as Markdown instead of a quoted string.
    """

    def _repr_markdown_(self) -> str:
        return str(self)


def not_estimable(reason: str) -> Message:
    """The message shown where a section has no result: ``**Not estimable:** <reason>``."""
    return Message(f"**Not estimable:** {reason}")
