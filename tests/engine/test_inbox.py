"""Inbox before acknowledgement: accepted updates survive a crash and are handled in order."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from cm_bot.engine import ConversationEngine
from cm_bot.engine import engine as engine_module
from cm_bot.flows import load_flows
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag, InboundMessage
from tests.helpers import make_client, responses, texts


def test_accepted_updates_left_pending_by_a_crash_are_handled_after_restart_in_order(
    engine: ConversationEngine, db: Engine, test_flows_dir
) -> None:
    person = make_client(engine, db)
    person.say("hi")
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    # Three answers arrive and are committed to the inbox, then the process dies.
    for text in ("Good", "6", "1"):
        assert engine.accept(person.inbound(text=text)) is not None
    assert "intake.mood" not in responses(db)

    restarted = ConversationEngine(
        SqlStore(db), load_flows(test_flows_dir), engine.translator, config=engine.config
    )
    assert restarted.pending_chats() == [("console", "alice")]
    results = restarted.process("console", "alice")
    assert len(results) == 3
    assert responses(db) == {"intake.mood": "good", "intake.worry": 6, "intake.housing": ["mold"]}
    assert restarted.pending_chats() == []
    assert restarted.process("console", "alice") == []  # nothing twice


def test_the_same_update_accepted_twice_is_one_inbox_row(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    update = person.inbound(text="hi")
    assert engine.accept(update) is not None
    assert engine.accept(update) is None


def test_a_poison_update_is_dead_lettered_and_later_messages_still_get_through(
    engine: ConversationEngine, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = make_client(engine, db)
    person.say("hi")
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    original = engine_module._Turn.run

    def explode_on_poison(turn: engine_module._Turn) -> None:
        if turn.inbound is not None and turn.inbound.text == "poison":
            raise RuntimeError("handler bug")
        original(turn)

    monkeypatch.setattr(engine_module._Turn, "run", explode_on_poison)
    engine.accept(person.inbound(text="poison"))
    for _attempt in range(engine.config.max_attempts - 1):
        engine.process("console", "alice")
        assert engine.pending_chats() == [("console", "alice")]  # retried, not yet given up
    engine.process("console", "alice")
    assert engine.pending_chats() == []
    said = texts(person.read())
    assert "something went wrong" in said

    person.say("Good")  # the chat is not blocked behind the poison
    assert responses(db)["intake.mood"] == "good"
    with transaction(db) as session:
        dead = (
            session.execute(select(InboundMessage).where(InboundMessage.status == "dead"))
            .scalars()
            .one()
        )
        flags = session.execute(select(Flag).where(Flag.rule_id == "dead_letter")).scalars().all()
    assert dead.text is None and dead.attempts == engine.config.max_attempts
    assert len(flags) == 1
