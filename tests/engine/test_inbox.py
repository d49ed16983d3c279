"""Inbox before acknowledgement: accepted updates survive a crash and are handled in order."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine, select

from cm_bot.domain import Inbound
from cm_bot.engine import ConversationEngine
from cm_bot.flows import load_flows
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag, InboundMessage
from tests.support.people import make_client, texts
from tests.support.records import answers_to, responses


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
    assert answers_to(db, "intake.mood") == []

    restarted = ConversationEngine(
        SqlStore(db), load_flows(test_flows_dir), engine.translator, config=engine.config
    )
    assert restarted.pending_chats() == [("console", "alice")]
    results = restarted.process("console", "alice")
    assert len(results) == 3
    assert responses(db) == [
        ("intake.mood", "good"),
        ("intake.worry", 6),
        ("intake.housing", ["mold"]),
    ]
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
    engine: ConversationEngine, db: Engine
) -> None:
    def explode_on_poison(inbound: Inbound) -> None:
        if inbound.text == "poison":
            raise RuntimeError("handler bug")

    engine = ConversationEngine(
        engine.store,
        engine.flows,
        engine.translator,
        config=replace(engine.config, after_turn=explode_on_poison),
    )
    person = make_client(engine, db)
    person.say("hi")
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    engine.accept(person.inbound(text="poison"))
    for _attempt in range(engine.config.max_attempts - 1):
        engine.process("console", "alice")
        assert engine.pending_chats() == [("console", "alice")]  # retried, not yet given up
    engine.process("console", "alice")
    assert engine.pending_chats() == []
    said = texts(person.read())
    assert "something went wrong" in said

    person.say("Good")  # the chat is not blocked behind the poison
    assert answers_to(db, "intake.mood") == ["good"]
    with transaction(db) as session:
        dead = (
            session.execute(select(InboundMessage).where(InboundMessage.status == "dead"))
            .scalars()
            .one()
        )
        flags = session.execute(select(Flag).where(Flag.rule_id == "dead_letter")).scalars().all()
    assert dead.text is None and dead.attempts == engine.config.max_attempts
    assert len(flags) == 1
