"""Text helpers every layer needs alike: invisible characters and Telegram's length unit.

Kept in one place so the engine's answer parsing, the crisis matcher, the channel's
message splitting and the Bot API emulator cannot disagree on what is invisible or
how long a message is.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

# Zero-width spaces and joiners, direction marks, bidi embeddings, overrides and isolates,
# word joiners and the byte-order mark: nothing a person sees, so never part of a word.
INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2065\u2066\u2067\u2068\u2069"
    "\ufeff"
)
_INVISIBLE = re.compile(f"[{INVISIBLE}]")


def without_invisible(text: str) -> str:
    """``text`` with every :data:`INVISIBLE` character removed."""
    return _INVISIBLE.sub("", text)


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units): an emoji is two.

    A lone surrogate counts as one unit rather than failing to encode.
    """
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class _Format(string.Formatter):
    """``str.format`` that leaves unknown ``{names}`` alone: flow text is data, not code."""

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, str) and key in kwargs:
            return kwargs[key]
        return "{" + str(key) + "}"


_FORMATTER = _Format()


def fill(text: str, values: Mapping[str, Any]) -> str:
    """A flow's text with its ``{placeholders}`` filled; unknown ones and bad braces stay."""
    if "{" not in text:
        return text
    try:
        return _FORMATTER.vformat(text, (), values)
    except (ValueError, IndexError):
        return text


__all__ = ["INVISIBLE", "fill", "utf16_length", "without_invisible"]
