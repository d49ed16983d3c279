"""The events the emulator's waits sleep on: long polls, ``wait_until`` and the webhook loop."""

from __future__ import annotations

import asyncio
import contextlib


class Signals:
    """Edge-triggered events: each change sets the current event and installs a fresh one.

    A waiter takes the current event, re-checks its condition, then waits; replacing the
    event (instead of clearing it) means no waiter can miss a change between those steps.

    Attributes:
        updates: Set when the update queue or the webhook changes.
        state: Set on any change the test side could be waiting for.
        closing: Set once the emulator stops; replaced on every start.
    """

    def __init__(self) -> None:
        self.updates = asyncio.Event()
        self.state = asyncio.Event()
        self.closing = asyncio.Event()

    def updates_changed(self) -> None:
        """Wake long polls and the webhook loop (and every state wait)."""
        event, self.updates = self.updates, asyncio.Event()
        event.set()
        self.state_changed()

    def state_changed(self) -> None:
        """Wake every ``wait_until``."""
        event, self.state = self.state, asyncio.Event()
        event.set()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the emulator stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)
