"""The terminal channel: the same engine as Telegram, with buttons shown as numbers.

It is a real channel (inbox, outbox, de-duplication and all), so a newcomer with
no token can walk through the flows, and the tests can drive a full
conversation through a subprocess and kill it half-way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TextIO

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.domain import Button, Inbound, InboundKind, Outbound
from cm_bot.engine import ConversationEngine
from cm_bot.storage import outbox
from cm_bot.storage.admin import add_staff, has_any_case, link_client, new_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag

CHANNEL = "console"
DEMO_USER = "local"
DEMO_MANAGER = "Demo Case Manager"


def ensure_demo_case(db: Engine) -> str | None:
    """On an empty database, open a demo case linked to the terminal user; returns its ref."""
    if has_any_case(db):
        return None
    add_staff(db, DEMO_MANAGER, "case_manager")
    case = new_case(db, DEMO_MANAGER)
    link_client(db, case.ref, CHANNEL, DEMO_USER, DEMO_USER)
    return case.ref


def render(message: Outbound) -> str:
    """A message as terminal text, buttons numbered ``[1] …``."""
    lines = [message.text]
    number = 0
    for row in message.buttons:
        cells = []
        for button in row:
            number += 1
            cells.append(f"[{number}] {button.label}")
        lines.append("   " + "   ".join(cells))
    return "\n".join(lines)


def pick_button(buttons: list[Button], typed: str) -> Button | None:
    """The button a typed line means: its exact label, else its number when no label is a number."""
    wanted = typed.strip().casefold()
    for button in buttons:
        if button.label.strip().lstrip("✓ ").casefold() == wanted:
            return button
    numeric_labels = any(b.label.strip().isdigit() for b in buttons)
    if not numeric_labels and wanted.isdigit() and 1 <= int(wanted) <= len(buttons):
        return buttons[int(wanted) - 1]
    return None


class ConsoleChannel:
    """Reads lines, hands them to the engine, prints what the outbox holds for this chat."""

    def __init__(
        self,
        engine: ConversationEngine,
        db: Engine,
        *,
        stdin: TextIO,
        stdout: TextIO,
        user_id: str = DEMO_USER,
        language: str | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.engine = engine
        self.db = db
        self.stdin = stdin
        self.stdout = stdout
        self.user_id = user_id
        self.language = language
        self.new_id = new_id
        self.buttons: list[Button] = []
        self._seen_flag = self._last_flag_id()

    def send(self, line: str) -> None:
        """Deliver one typed line (or tapped button) to the engine, then print the replies."""
        button = pick_button(self.buttons, line) if self.buttons and line.strip() else None
        inbound = Inbound(
            channel=CHANNEL,
            external_id=self.new_id(),
            user_id=self.user_id,
            chat_id=self.user_id,
            kind=InboundKind.BUTTON if button else InboundKind.TEXT,
            text=None if button else line,
            payload=button.payload if button else None,
            language=self.language,
        )
        self.engine.handle(inbound)
        self.drain()

    def drain(self) -> None:
        """Print and mark sent every pending message to this chat."""
        while items := outbox.claim(self.db, CHANNEL, chat_id=self.user_id):
            for item in items:
                self.stdout.write("\n" + render(item.message) + "\n")
                self.buttons = [b for row in item.message.buttons for b in row]
                outbox.mark_sent(self.db, item.id, None)
        for flag in self._new_flags():
            self.stdout.write(f"\n  (flag for the case manager: {flag.severity} — {flag.reason})\n")
        self.stdout.flush()

    def _last_flag_id(self) -> int:
        with transaction(self.db) as session:
            return int(
                session.execute(select(col(Flag.id)).order_by(col(Flag.id).desc())).scalar() or 0
            )

    def _new_flags(self) -> list[Flag]:
        with transaction(self.db) as session:
            flags = list(
                session.execute(
                    select(Flag).where(col(Flag.id) > self._seen_flag).order_by(col(Flag.id))
                ).scalars()
            )
        if flags:
            self._seen_flag = flags[-1].id or self._seen_flag
        return flags

    def run(self) -> None:
        """The chat loop: ``/start`` first (resume or begin), then one line at a time until EOF."""
        self.send("/start")
        while True:
            self.stdout.write("\n> ")
            self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                self.stdout.write("\n")
                return
            line = line.rstrip("\n")
            if line.strip() in ("/quit", "/exit"):
                return
            self.send(line)


__all__ = ["CHANNEL", "ConsoleChannel", "ensure_demo_case", "pick_button", "render"]
