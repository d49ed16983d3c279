"""A client walks the intake flow, trying a bad answer at every step type first."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cm_bot.domain import InboundKind
from cm_bot.engine import ConversationEngine
from tests.support.people import Person, make_client, texts
from tests.support.records import answers_to, responses

BAD_FOR_EVERY_STEP = {
    # step -> bad things a real person sends there
    "intake.mood": ["", "   ", "great!!", "0", "4", "٣", "1e309", "nan"],
    "intake.worry": [
        "11",
        "-1",
        "1e309",
        "nan",
        "inf",
        "٣",
        "7.5",
        "seven",
        "1_000",
        "0x10",
        "10/10",
    ],
    "intake.housing": ["", "mold, banana", "3, 1"],
    "intake.safe": ["maybe", "", "2e0", "x" * 5000],
    "intake.people": ["21", "-1", "٣", "1e309", "nan", "about 5", "5 people", "x" * 5000],
    "intake.moved": ["yesterday", "2025-13-45", "31.02.2024", "2999-01-01", "nan"],
    "intake.notes": ["x" * 5000, "😀" * 150, "   ", "\u200b\u200b"],
}


def _consent(person: Person) -> None:
    person.say("hello")
    person.tap("Yes")
    person.tap("Yes")
    person.tap("No")


def _bad_inputs_leave_the_step_where_it_was(person: Person, key: str) -> None:
    before = person.step()
    stored_before = responses(person.db)
    for bad in BAD_FOR_EVERY_STEP[key]:
        replies = person.say(bad)
        assert len(replies) == 1, f"{bad[:20]!r} got {len(replies)} replies"
        assert "Please" in replies[0].text, f"{bad[:20]!r} got no re-prompt: {replies[0].text}"
        assert person.step() == before
    for media in (InboundKind.MEDIA, InboundKind.FORWARDED):
        replies = person.deliver(person.inbound(media))
        assert person.step() == before
        assert replies, "a sticker or forward must get an answer"
    assert responses(person.db) == stored_before


def test_every_step_type_reprompts_bad_answers_and_stores_only_the_valid_ones(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    assert person.step() == "intake.mood"

    _bad_inputs_leave_the_step_where_it_was(person, "intake.mood")
    person.tap("Okay")
    _bad_inputs_leave_the_step_where_it_was(person, "intake.worry")
    person.say(" ７ ")  # full-width digit: NFKC makes it an ASCII 7
    _bad_inputs_leave_the_step_where_it_was(person, "intake.housing")
    person.tap("Pests")
    person.tap("Mold")
    person.tap("Done")
    _bad_inputs_leave_the_step_where_it_was(person, "intake.safe")
    person.tap("Yes")
    _bad_inputs_leave_the_step_where_it_was(person, "intake.people")
    person.say("3")
    _bad_inputs_leave_the_step_where_it_was(person, "intake.moved")
    person.say("01.02.2020")
    _bad_inputs_leave_the_step_where_it_was(person, "intake.notes")
    replies = person.say("  The landlord is fixing the heating.  ")

    assert person.step() is None
    assert "nothing for you to answer" in texts(replies)
    assert responses(db) == [
        ("intake.mood", "okay"),
        ("intake.worry", 7),
        ("intake.housing", ["mold", "pests"]),
        ("intake.safe", True),
        ("intake.people", 3),
        ("intake.moved", "2020-02-01"),
        ("intake.notes", "The landlord is fixing the heating."),
    ]


def test_a_wrong_answer_gets_a_short_reply_saying_what_is_accepted(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.tap("Good")
    (reply,) = person.say("11")
    assert reply.text == "Please type a whole number from 0 to 10."  # not the question again
    assert [b.label for b in person.buttons][:3] == ["0", "1", "2"]  # still the scale's
    person.tap("3")
    assert answers_to(db, "intake.worry") == [3]


def test_exclusive_option_cannot_be_combined(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.tap("Good")
    person.say("5")
    person.tap("Mold")
    person.tap("None of these")
    reply = person.tap("Done")[0]
    assert "cannot be combined" in reply.text
    assert person.step() == "intake.housing"


@pytest.mark.parametrize("typed", ["2", "okay", "OKAY", " Okay "])
def test_typed_answer_to_a_choice_matches_label_or_number(
    engine: ConversationEngine, db: Engine, typed: str
) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.say(typed)
    assert answers_to(db, "intake.mood") == ["okay"]


def test_after_three_bad_answers_the_way_to_a_person_is_said_and_skip_still_works(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    for answer in ("Good", "5", "1", "yes", "2", "2020-01-01"):
        person.say(answer)
    assert person.step() == "intake.notes"
    labels = [b.label for b in person.buttons]
    for _ in range(2):
        assert "/human" not in person.say("x" * 300)[0].text
    assert "/human" in person.say("x" * 300)[0].text
    assert [b.label for b in person.buttons] == labels  # no button added, none renumbered
    person.say("/human")
    person.say("skip")  # typed, at a question that may be skipped
    assert person.step() is None
    assert answers_to(db, "intake.notes") == [None]
