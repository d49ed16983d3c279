"""Time as a value passed in: the one place that reads the wall clock.

Everything that needs "now" (the engine's turns, the store's timestamps, the
dispatcher, the ticker) gets it from a :class:`Clock` wired in by
``bootstrap.py``. Tests pass a :class:`ManualClock` and move it, so a check-in
"three days later" takes no sleeping and every timestamp in the database is the
one the test chose.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Now, injectable so tests control time without sleeping."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class SystemClock:
    """The wall clock, UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move: for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = aware(start)
        self._guard = threading.Lock()  # the engine may read it from worker threads

    def now(self) -> datetime:
        """The time the clock was last set to."""
        with self._guard:
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (backwards too: a clock step is a thing tests check)."""
        with self._guard:
            self._now = aware(moment)

    def advance(self, by: timedelta) -> datetime:
        """Move forward by ``by``; returns the new time."""
        with self._guard:
            self._now += by
            return self._now


SYSTEM_CLOCK = SystemClock()


def utcnow() -> datetime:
    """The wall clock, UTC: only for defaults of code called outside the app (the CLI, tests)."""
    return SYSTEM_CLOCK.now()


def aware(moment: datetime) -> datetime:
    """A datetime as aware UTC (a naive one is taken to be UTC already, as SQLite returns it)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock", "aware", "utcnow"]
