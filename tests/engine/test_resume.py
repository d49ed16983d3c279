"""A client who comes back to an unfinished flow is offered to continue where they left off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from cm_bot.engine import ConversationEngine
from tests.support.people import make_client, texts
from tests.support.records import answers_to


def test_client_back_after_a_day_is_asked_before_hi_is_taken_as_an_answer(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    person.say("hello")
    for label in ("Yes", "Yes", "No", "Good"):
        person.tap(label)
    assert person.step() == "intake.worry"

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    replies = person.deliver(person.inbound(text="5", received_at=tomorrow))
    assert "continue where you left off" in texts(replies)
    assert answers_to(db, "intake.worry") == []

    replies = person.tap("Continue")
    assert "How worried are you?" in texts(replies)
    person.tap("5")
    assert answers_to(db, "intake.worry") == [5]


def test_quick_reply_is_taken_as_the_answer(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    person.say("hello")
    for label in ("Yes", "Yes", "No", "Good"):
        person.tap(label)
    person.say("5")
    assert answers_to(db, "intake.worry") == [5]
