"""Telegram re-delivers updates (webhook retries, restarts): each must count once."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from cm_bot.domain import InboundKind
from cm_bot.engine import ConversationEngine
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    ConsentRecord,
    Flag,
    HeldMessage,
    InboundMessage,
    Outbox,
    Response,
)
from tests.support.people import make_client
from tests.support.records import answers_to


def _counts(db: Engine) -> dict[str, int]:
    with transaction(db) as session:
        return {
            table.__name__: session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (InboundMessage, Outbox, Response, Flag, ConsentRecord, HeldMessage)
        }


def test_every_update_delivered_twice_stores_and_sends_nothing_twice(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    script = [
        ("text", "hi"),
        ("tap", "Yes"),
        ("tap", "Yes"),
        ("tap", "Yes"),
        ("text", "nonsense"),
        ("tap", "Bad"),
        ("tap", "10"),
        ("tap", "Mold"),
        ("tap", "Done"),
        ("tap", "Yes"),
        ("text", "/help"),
        ("text", "2"),
        ("text", "2021-05-06"),
        ("text", "All good"),
        ("text", "I want to die"),  # an urgent flag, the crisis reply, and the pause
        ("text", "ok"),  # kept for the case manager while paused
    ]
    for kind, value in script:
        if kind == "text":
            update = person.inbound(text=value)
        else:
            button = next(b for b in person.buttons if b.label.lstrip("✓ ") == value)
            update = person.inbound(InboundKind.BUTTON, payload=button.payload)
        first = engine.handle(update)
        after_first = _counts(db)
        second = engine.handle(update)
        assert second.duplicate and not second.outbox_ids
        assert _counts(db) == after_first, f"re-delivering {value!r} changed the record"
        assert not first.duplicate
        person.read()

    counts = _counts(db)
    assert counts["InboundMessage"] == len(script)
    assert counts["Flag"] == 2  # very worried (high) + words of crisis (urgent), once each
    assert counts["HeldMessage"] == 2
    assert counts["ConsentRecord"] == 1
    assert answers_to(db, "intake.notes") == ["All good"]
    with transaction(db) as session:
        texts = list(session.execute(select(Outbox.text)).scalars())
    assert sum("911" in t for t in texts) == 1  # the crisis reply, once
