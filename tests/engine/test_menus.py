"""A typed choice at an open menu answers the menu, never the question under it.

Scenarios from the newcomer review: "/language" then a typed "2" at the consent question
once declined consent by accident; "Español" was ignored; "/withdraw" then "yes" did
nothing; "/erase" then "yes" mid-flow counted as a wrong answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client, ConsentRecord, Flag, FlowRun, Response
from tests.support import records
from tests.support.people import Person, make_client, texts

CONSENT_QUESTION = "May I message you here?"  # tests/data/flows/consent.yaml


def _locale(db: Engine) -> str | None:
    with transaction(db) as session:
        return session.execute(select(Client.locale)).scalars().first()


def _answers(db: Engine) -> list[Any]:
    """Everything a typed menu choice must leave alone: runs' answers, responses, consent."""
    runs = [(r.flow_id, r.step_id, r.answers, r.bad_attempts) for r in records.rows(db, FlowRun)]
    return [
        runs,
        [(r.key, r.value) for r in records.rows(db, Response)],
        records.rows(db, ConsentRecord),
    ]


def _at_consent(engine: ConversationEngine, db: Engine) -> Person:
    person = make_client(engine, db)
    assert CONSENT_QUESTION in texts(person.say("hello"))
    return person


@pytest.mark.parametrize("typed", ["2", "Español", "español", "ESPANOL", "es", "Spanish", " 2. "])
def test_a_language_typed_at_the_language_menu_picks_it_and_answers_nothing_else(
    engine: ConversationEngine, db: Engine, typed: str
) -> None:
    person = _at_consent(engine, db)
    before = _answers(db)
    person.say("/language")

    said = texts(person.say(typed))

    assert _locale(db) == "es"
    assert _answers(db)[1:] == before[1:]  # no response, no consent decision
    assert [r[2] for r in _answers(db)[0]] == [r[2] for r in before[0]]
    assert "Sí" in [b.label for b in person.buttons]  # the consent question, now in Spanish
    assert said


def test_text_that_names_no_option_gets_the_menu_again_and_reaches_no_question(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _at_consent(engine, db)
    before = _answers(db)
    person.say("/language")

    said = texts(person.say("no"))  # "no" would decline consent under the menu

    assert "Please choose one of the options above" in said
    assert "Which language" in said
    assert _answers(db) == before


def test_yes_typed_at_the_withdraw_menu_withdraws(engine: ConversationEngine, db: Engine) -> None:
    person = _at_consent(engine, db)
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    person.say("/withdraw")

    said = texts(person.say("yes"))

    assert "Your consent is withdrawn" in said
    assert [r.action for r in records.rows(db, ConsentRecord)] == ["granted", "withdrawn"]


@pytest.mark.parametrize("typed", ["no", "2", "No, keep going"])
def test_no_typed_at_the_withdraw_menu_keeps_going(
    engine: ConversationEngine, db: Engine, typed: str
) -> None:
    person = _at_consent(engine, db)
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    person.say("/withdraw")

    said = texts(person.say(typed))

    assert "Nothing has changed" in said
    assert [r.action for r in records.rows(db, ConsentRecord)] == ["granted"]


def test_yes_typed_at_the_erase_menu_mid_flow_asks_for_erasure_not_a_wrong_answer(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _at_consent(engine, db)
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    before = _answers(db)
    person.say("/erase")

    said = texts(person.say("yes"))

    assert "asked your case manager to erase" in said
    assert [f.rule_id for f in records.rows(db, Flag)] == ["erasure_requested"]
    assert _answers(db) == before  # no bad attempt counted on the question underneath


@pytest.mark.parametrize("typed", ["1", "continue", "Continue!"])
def test_a_typed_choice_at_the_resume_offer_continues(
    engine: ConversationEngine, db: Engine, typed: str
) -> None:
    person = _at_consent(engine, db)
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    person.say("/stop")
    assert "continue where you left off" in texts(person.say("hello"))  # the offer

    said = texts(person.say(typed))

    assert "How are you today?" in said
    assert person.step() == "intake.mood"
    with transaction(db) as session:
        statuses = session.execute(
            select(FlowRun.status).where(col(FlowRun.flow_id) == "intake")
        ).scalars()
        assert list(statuses) == ["active"]


def test_after_three_misses_the_way_to_a_person_is_said_and_no_number_changes(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _at_consent(engine, db)
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    labels = [b.label for b in person.buttons]

    for _ in range(3):
        said = person.say("purple")

    assert "/human" in texts(said)
    assert [b.label for b in person.buttons] == labels  # no "Talk to my case manager" button
