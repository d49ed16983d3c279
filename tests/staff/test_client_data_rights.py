"""Clients can see what is held about them and ask for erasure from the chat."""

from __future__ import annotations

from sqlalchemy import Engine, select

from cm_bot.engine import ConversationEngine
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag
from tests.support.people import make_client, texts


def test_mydata_summarises_counts_without_contents(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    person.say("hi")
    for label in ("Yes", "Yes", "No", "Okay"):
        person.tap(label)
    said = texts(person.say("/mydata"))
    assert "Answers to questions: 1" in said
    assert "Referrals to services: 0" in said
    assert "Consent: given on" in said
    assert "okay" not in said.lower()  # counts, never contents
    assert "How worried are you?" in said  # and the question is asked again


def test_erase_request_raises_one_flag_for_staff_after_confirmation(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    person.say("hi")
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    person.say("/erase")
    person.tap("Yes, ask to erase")
    assert "asked your case manager to erase" in texts(person.seen[-1:])
    with transaction(db) as session:
        flags = (
            session.execute(select(Flag).where(Flag.rule_id == "erasure_requested")).scalars().all()
        )
    assert len(flags) == 1 and flags[0].severity == "routine"
