"""What a re-screen plan may say (issue 18): the instruments, and "every 4w" read as days.

Shared by ``/rescreen`` (the engine), ``cm-bot case rescreen`` and the console form, so the
three accept exactly the same input.
"""

from __future__ import annotations

import re

# The instruments a re-screen can repeat, in the order they are shown.
RESCREEN_INSTRUMENTS = ("phq9", "gad7")
MIN_EVERY_DAYS = 7  # PHQ-9 / GAD-7 ask about the last 2 weeks; more often than weekly is noise
MAX_EVERY_DAYS = 182  # half a year
STOP = "off"

_EVERY = re.compile(r"^(\d{1,3})\s*([dw])$")


def parse_every(text: str) -> int | None:
    """``"4w"`` → 28, ``"30d"`` → 30; ``None`` for anything else or outside 7 to 182 days."""
    found = _EVERY.match(text.strip().lower())
    if found is None:
        return None
    days = int(found.group(1)) * (7 if found.group(2) == "w" else 1)
    return days if MIN_EVERY_DAYS <= days <= MAX_EVERY_DAYS else None


def every_text(days: int) -> str:
    """Days as the shortest way to type them: 28 → ``"4w"``, 30 → ``"30d"``."""
    return f"{days // 7}w" if days % 7 == 0 else f"{days}d"


__all__ = [
    "MAX_EVERY_DAYS",
    "MIN_EVERY_DAYS",
    "RESCREEN_INSTRUMENTS",
    "STOP",
    "every_text",
    "parse_every",
]
