"""A test client that talks to the engine like a person on the console channel would."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.domain import Button, Inbound, InboundKind, Outbound
from cm_bot.engine import ConversationEngine
from cm_bot.storage import outbox
from cm_bot.storage.admin import add_staff, link_client, new_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import FlowRun, Response

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
        with transaction(self.db) as session:
            run = (
                session.execute(
                    select(FlowRun)
                    .where(col(FlowRun.status).in_(("active", "paused")))
                    .order_by(col(FlowRun.id).desc())
                )
                .scalars()
                .first()
            )
            return None if run is None else f"{run.flow_id}.{run.step_id}"


def texts(messages: list[Outbound]) -> str:
    return "\n---\n".join(m.text for m in messages)


def make_client(
    engine: ConversationEngine, db: Engine, user_id: str = "alice", manager: str = "Maria"
) -> Person:
    with contextlib.suppress(ValueError):
        add_staff(db, manager, "case_manager")
    case = new_case(db, manager)
    link_client(db, case.ref, "console", user_id, user_id)
    return Person(engine, db, user_id)


def responses(db: Engine) -> dict[str, Any]:
    with transaction(db) as session:
        rows = session.execute(select(Response).order_by(col(Response.id))).scalars()
        return {r.key: r.value for r in rows}
