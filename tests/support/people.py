"""A test client that talks to the engine like a person on the console channel would."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from cm_bot.domain import Button, Inbound, InboundKind, Outbound
from cm_bot.engine import ConversationEngine
from cm_bot.storage import outbox
from cm_bot.storage.admin import add_staff, link_client, new_case
from tests.support.records import client_id_of, open_run_of, responses, where

_ids = itertools.count(1)


@dataclass
class Person:
    """One client on one channel, remembering the last buttons they were shown."""

    engine: ConversationEngine
    db: Engine
    user_id: str
    channel: str = "console"
    language: str | None = "en"
    seen: list[Outbound] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)

    def inbound(self, kind: InboundKind = InboundKind.TEXT, **kwargs: Any) -> Inbound:
        return Inbound(
            channel=self.channel,
            external_id=f"u{next(_ids)}",
            user_id=self.user_id,
            chat_id=self.user_id,
            kind=kind,
            language=self.language,
            **kwargs,
        )

    def deliver(self, inbound: Inbound) -> list[Outbound]:
        self.engine.handle(inbound)
        return self.read()

    def read(self) -> list[Outbound]:
        got: list[Outbound] = []
        while items := outbox.claim(self.db, self.channel, chat_id=self.user_id):
            for item in items:
                outbox.mark_sent(self.db, item.id, None)
                got.append(item.message)
                if item.message.buttons:
                    self.buttons = [b for row in item.message.buttons for b in row]
        self.seen.extend(got)
        return got

    def say(self, text: str) -> list[Outbound]:
        return self.deliver(self.inbound(text=text))

    def tap(self, label: str) -> list[Outbound]:
        button = next((b for b in self.buttons if b.label.lstrip("✓ ") == label), None)
        assert button is not None, f"no button {label!r} in {[b.label for b in self.buttons]}"
        return self.deliver(self.inbound(InboundKind.BUTTON, payload=button.payload))

    def step(self) -> str | None:
        """Where this person stands (``flow.step`` of their open run); None if nowhere."""
        client_id = client_id_of(self.db, self.user_id, self.channel)
        return None if client_id is None else where(open_run_of(self.db, client_id))

    def answers(self) -> list[tuple[str, Any]]:
        """This person's stored answers as (key, value), oldest first; [] if not a client."""
        client_id = client_id_of(self.db, self.user_id, self.channel)
        return [] if client_id is None else responses(self.db, client_id)


def texts(messages: list[Outbound]) -> str:
    return "\n---\n".join(m.text for m in messages)


def make_client(
    engine: ConversationEngine, db: Engine, user_id: str = "alice", manager: str = "Maria"
) -> Person:
    """A client of a new case of ``manager``'s, linked on the console as ``user_id``."""
    with contextlib.suppress(ValueError):
        add_staff(db, manager, "case_manager")
    case = new_case(db, manager)
    link_client(db, case.ref, "console", user_id, user_id)
    return Person(engine, db, user_id)
