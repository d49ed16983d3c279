"""Button taps: only the current prompt's buttons of this client count, exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cm_bot.domain import InboundKind
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import load_flows
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore, create_db_engine
from cm_bot.storage.db import transaction
from cm_bot.storage.models import ConsentRecord, Response
from tests.support import records
from tests.support.people import Person, make_client
from tests.support.records import answers_to, responses

CLOSED = "That question has closed."


def _consent(person: Person) -> None:
    person.say("hello")
    person.tap("Yes")
    person.tap("Yes")
    person.tap("No")


def _press(person: Person, payload: str) -> list[Any]:
    return person.deliver(person.inbound(InboundKind.BUTTON, payload=payload))


def _payload(person: Person, label: str) -> str:
    return next(b.payload for b in person.buttons if b.label.lstrip("✓ ") == label)


# -- stale buttons ---------------------------------------------------------------------------------


def test_a_button_from_an_earlier_question_is_refused_and_the_current_question_re_asked(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    good = _payload(person, "Good")
    person.tap("Okay")
    assert person.step() == "intake.worry"

    replies = _press(person, good)

    assert replies[0].text == CLOSED
    assert "How worried are you?" in replies[1].text
    assert len(replies) == 2
    assert person.step() == "intake.worry"
    assert responses(db) == [("intake.mood", "okay")]


def test_a_consent_button_tapped_after_intake_began_is_refused(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    person.say("hello")
    consent_no = _payload(person, "No")
    person.tap("Yes")
    person.tap("Yes")
    person.tap("Yes")
    assert person.step() == "intake.mood"

    replies = _press(person, consent_no)

    assert replies[0].text == CLOSED
    assert "How are you today?" in replies[-1].text
    assert person.step() == "intake.mood"
    assert responses(db) == []


def test_a_button_of_the_last_question_after_the_flow_finished_stores_nothing(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    for answer in ("Good", "2", "1", "yes", "2", "2020-01-01"):
        person.say(answer)
    skip = _payload(person, "Skip this question")
    person.say("All fine")
    stored = responses(db)

    replies = _press(person, skip)

    assert replies[0].text == CLOSED
    assert responses(db) == stored
    assert records.count(db, Response) == len(stored)


# -- forged payloads -------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", ["not-a-real-token", "", "x" * 500, "' OR 1=1 --", "{}"])
def test_a_forged_payload_is_refused_and_audited(
    engine: ConversationEngine, db: Engine, payload: str
) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.tap("Good")

    replies = _press(person, payload)

    assert replies[0].text == CLOSED
    assert "How worried are you?" in replies[1].text
    assert person.step() == "intake.worry"
    assert responses(db) == [("intake.mood", "good")]
    audits = records.audits(db, "unknown_button")
    assert len(audits) == 1
    assert audits[0].actor == f"client:{records.ids(db, 'alice')[0]}"
    assert audits[0].detail == {"foreign": False}


def test_another_clients_real_button_is_refused_for_both_and_audited(
    engine: ConversationEngine, db: Engine
) -> None:
    alice = make_client(engine, db, "alice")
    bob = make_client(engine, db, "bob")
    _consent(alice)
    _consent(bob)
    alice.tap("Good")
    bobs_bad = _payload(bob, "Bad")

    replies = _press(alice, bobs_bad)

    assert replies[0].text == CLOSED
    assert "How worried are you?" in replies[1].text
    assert alice.step() == "intake.worry"
    assert bob.step() == "intake.mood"
    assert alice.answers() == [("intake.mood", "good")]
    assert bob.answers() == []
    audits = records.audits(db, "unknown_button")
    assert len(audits) == 1
    assert audits[0].actor == f"client:{records.ids(db, 'alice')[0]}"
    assert audits[0].detail == {"foreign": True}
    assert bob.read() == []  # nothing was said to Bob

    # Bob's own button still works for Bob.
    bob.tap("Bad")
    assert bob.answers() == [("intake.mood", "bad")]


# -- confirmations that were already answered -----------------------------------------------------


def test_yes_withdraw_from_an_answered_confirmation_is_refused(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.tap("Good")
    person.say("/withdraw")
    yes_withdraw = _payload(person, "Yes, withdraw")
    person.tap("No, keep going")
    person.tap("5")
    assert person.step() == "intake.housing"

    replies = _press(person, yes_withdraw)

    assert replies[0].text == CLOSED
    assert person.step() == "intake.housing"
    with transaction(db) as session:
        actions = list(session.execute(select(ConsentRecord.action)).scalars())
    assert actions == ["granted"]


def test_a_double_tap_of_yes_withdraw_withdraws_once(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.say("/withdraw")
    yes_withdraw = _payload(person, "Yes, withdraw")

    _press(person, yes_withdraw)
    _press(person, yes_withdraw)

    with transaction(db) as session:
        actions = list(session.execute(select(ConsentRecord.action)).scalars())
    assert actions == ["granted", "withdrawn"]
    assert records.count(db, Response) == 0


# -- taps that count once --------------------------------------------------------------------------


def test_a_double_tap_stores_one_answer(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    _consent(person)
    good = _payload(person, "Good")

    first = _press(person, good)
    second = _press(person, good)

    assert "How worried are you?" in first[-1].text
    assert second[0].text == CLOSED
    assert person.step() == "intake.worry"
    assert responses(db) == [("intake.mood", "good")]
    assert records.count(db, Response) == 1


def test_a_double_tap_of_done_stores_one_selection(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.tap("Good")
    person.tap("4")
    person.tap("Mold")
    done = _payload(person, "Done")

    _press(person, done)
    second = _press(person, done)

    assert second[0].text == CLOSED
    assert person.step() == "intake.safe"
    assert records.count(db, Response) == 3
    assert answers_to(db, "intake.housing") == [["mold"]]


# -- re-prompts and restarts -----------------------------------------------------------------------


def test_buttons_of_a_re_prompt_after_a_bad_answer_still_work(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    first_prompt = [b.payload for b in person.buttons]

    replies = person.say("great!!")

    assert "Please choose one of the options" in replies[0].text
    assert not replies[0].buttons  # a short reply: the question's buttons stay above
    assert [b.payload for b in person.buttons] == first_prompt  # the same prompt
    person.tap("Bad")
    assert responses(db) == [("intake.mood", "bad")]
    assert person.step() == "intake.worry"


def test_buttons_of_the_first_asking_still_work_after_several_re_prompts(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    okay = _payload(person, "Okay")
    for bad in ("great!!", "7", "/help"):
        person.say(bad)

    _press(person, okay)

    assert responses(db) == [("intake.mood", "okay")]


def test_buttons_still_work_after_a_process_restart(
    engine: ConversationEngine,
    db: Engine,
    database_url: str,
    translator: Translator,
    test_flows_dir: Path,
) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.tap("Okay")
    shown = list(person.buttons)
    db.dispose()

    # A new process: new database connections, new engine, nothing kept in memory.
    db2 = create_db_engine(database_url)
    try:
        engine2 = ConversationEngine(
            SqlStore(db2),
            load_flows(test_flows_dir),
            translator,
            config=EngineConfig(intake_flows=("intake",)),
        )
        again = Person(engine2, db2, "alice", buttons=shown)

        replies = again.tap("8")

        assert "Any problems at home?" in replies[-1].text
        assert responses(db2) == [("intake.mood", "okay"), ("intake.worry", 8)]
        again.tap("Pests")
        again.tap("Done")
        assert answers_to(db2, "intake.housing") == [["pests"]]
    finally:
        db2.dispose()
