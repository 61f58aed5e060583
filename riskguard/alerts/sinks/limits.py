"""Text within a service's length limit: counted in UTF-16 units, cut with ``…``.

Slack, Discord and Telegram count lengths in characters of their own; counting UTF-16 code units
(a character outside the BMP counts two) is never less than what any of them counts. A cut text
ends in :data:`ELLIPSIS` and stays within the limit, the ``…`` included. Escaped text is only ever
cut between characters of the original, so a cut never ends inside an entity such as ``&amp;``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

ELLIPSIS: Final = "…"


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units (a character outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """Plain ``text`` cut to ``limit`` UTF-16 units, ending in ``…`` when cut."""
    return cut_escaped(text, limit, _unchanged)


def cut_escaped(text: str, limit: int, escape: Callable[[str], str]) -> str:
    """``escape(text)`` cut to ``limit`` UTF-16 units, ending in ``…`` when cut.

    ``escape`` must escape character by character (as HTML or Slack's mrkdwn escaping does): the
    cut keeps the escaped form of as many whole characters of ``text`` as fit before the ``…``.
    """
    escaped = escape(text)
    if utf16_units(escaped) <= limit:
        return escaped
    pieces: list[str] = []
    used = 0
    for char in text:
        piece = escape(char)
        width = utf16_units(piece)
        if used + width > limit - 1:
            break
        pieces.append(piece)
        used += width
    return "".join(pieces) + ELLIPSIS


def _unchanged(text: str) -> str:
    return text
