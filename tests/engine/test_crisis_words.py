"""'I am not safe' typed anywhere reaches a human at once, in every supported language."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from cm_bot.domain import InboundKind
from cm_bot.engine import ConversationEngine
from cm_bot.engine.crisis import mentions_crisis
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag
from tests.helpers import make_client, texts


@pytest.mark.parametrize(
    "message",
    [
        "I want to KILL MYSELF",
        "i'm not safe",
        "suicide",
        "no estoy a salvo",
        "Quiero morir",
        "я не хочу жити",
        "думаю про самогубство",
        "kill\u200b myself",
    ],
)
def test_crisis_phrases_in_three_languages_match(message: str) -> None:
    assert mentions_crisis(message.replace("\u200b", "")) or mentions_crisis(message)


@pytest.mark.parametrize("message", ["I feel safe", "killed it at work", "2", "Good"])
def test_ordinary_messages_do_not_match(message: str) -> None:
    assert not mentions_crisis(message)


def _urgent(db: Engine) -> list[Flag]:
    with transaction(db) as session:
        return list(session.execute(select(Flag).where(Flag.rule_id == "crisis_words")).scalars())


def test_crisis_words_mid_question_give_resources_and_an_urgent_flag_and_keep_the_step(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    person.say("hi")
    for label in ("Yes", "Yes", "No", "Good"):
        person.tap(label)
    replies = person.say("honestly I want to die")
    said = texts(replies)
    assert "emergency number" in said
    assert "How worried are you?" in said  # the step stays where it was
    assert person.step() == "intake.worry"
    flags = _urgent(db)
    assert len(flags) == 1 and flags[0].severity == "urgent"
    assert flags[0].source_value is None  # no free text in the flag


def test_crisis_words_in_an_edited_message_are_caught(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    person.say("hi")
    person.deliver(person.inbound(InboundKind.EDITED, text="actually I'm not safe at home"))
    assert len(_urgent(db)) == 1
