"""A client in crisis hears the program's real resources, and never the next question.

Scenarios from the safety issue: words of crisis anywhere (before consent, mid-question,
unlinked, in a command, in a caption) give the resources and one urgent flag; the bot
then pauses (no question, no buttons, at most one short reply per ten minutes, every
message kept for the case manager) until staff resolve the flag, and the conversation
carries on where it stopped.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import col

from cm_bot.domain import InboundKind, Outbound
from cm_bot.engine import ConversationEngine
from cm_bot.engine.clearing import CLEAR_PAYLOAD
from cm_bot.logsetup import RedactingFormatter
from cm_bot.storage.admin import add_staff
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case, Flag, HeldMessage, InboundMessage, Outbox, Staff
from tests.support import records
from tests.support.people import Person, make_client, texts

MANAGER_CHAT = "900100"
SUPERVISOR_CHAT = "900200"
CRISIS = "honestly I want to die"


def _urgent(db: Engine) -> list[Flag]:
    return [f for f in records.rows(db, Flag) if f.severity == "urgent"]


def _bind(db: Engine, name: str, chat: str) -> int:
    with transaction(db) as session:
        session.execute(update(Staff).where(col(Staff.name) == name).values(telegram_user_id=chat))
        return int(session.execute(select(Staff.id).where(col(Staff.name) == name)).scalar_one())


def _staff_person(engine: ConversationEngine, db: Engine, chat: str) -> Person:
    return Person(engine, db, chat, channel="telegram")


def _consented(engine: ConversationEngine, db: Engine) -> Person:
    person = make_client(engine, db)
    person.say("hello")
    for label in ("Yes", "Yes", "No"):
        person.tap(label)
    person.tap("Good")
    assert person.step() == "intake.worry"
    return person


def _no_question(messages: list[Outbound]) -> None:
    # No buttons but "Clear this chat" (/help's): clearing the chat works while paused too.
    buttons = [b.payload for m in messages for row in m.buttons for b in row]
    assert set(buttons) <= {CLEAR_PAYLOAD}, [m.text for m in messages]
    assert "How worried are you?" not in texts(messages)


def _assert_resources(said: str) -> None:
    assert "911" in said and "988" in said  # the shipped program's real resources
    assert "not watched all the time" in said
    assert "within one working day" in said
    assert "local emergency number" not in said


@pytest.fixture
def manager(db: Engine) -> Iterator[None]:
    add_staff(db, "Maria", "case_manager")
    yield


# -- the crisis reply and the pause ---------------------------------------------------------------


def test_crisis_words_mid_question_give_real_resources_one_flag_and_no_next_question(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _consented(engine, db)

    said = person.say(CRISIS)

    _assert_resources(texts(said))
    _no_question(said)
    assert len(_urgent(db)) == 1
    for message in ("ok", "5", "are you there?"):
        _no_question(person.say(message))
    assert len(_urgent(db)) == 1
    held = records.rows(db, HeldMessage)
    assert [h.text for h in held] == [CRISIS, "ok", "5", "are you there?"]
    assert [h.opened for h in held] == [True, False, False, False]


def test_while_paused_the_client_gets_at_most_one_short_reply_per_ten_minutes(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _consented(engine, db)
    person.say(CRISIS)
    start = person.inbound().received_at

    def at(minutes: int, text: str) -> list[Outbound]:
        return person.deliver(
            person.inbound(text=text, received_at=start + timedelta(minutes=minutes))
        )

    assert at(1, "ok") == []  # the crisis reply itself was the reply of this window
    assert "988" in texts(at(11, "still here"))
    assert at(12, "hello?") == []
    assert "988" in texts(at(22, "hello"))


def test_crisis_words_while_paused_are_added_to_the_open_flag_not_a_second_one(
    engine: ConversationEngine, db: Engine, manager: None
) -> None:
    person = _consented(engine, db)
    _bind(db, "Maria", MANAGER_CHAT)
    person.say(CRISIS)

    person.say("I want to kill myself tonight")

    (flag,) = _urgent(db)
    assert sum(h.crisis for h in records.rows(db, HeldMessage)) == 2
    edits = [r for r in records.rows(db, Outbox) if r.edit_of is not None and r.flag_id == flag.id]
    assert edits, "the notice is edited to show the new message"
    assert "New messages from the client: 1 (with words of crisis: 1)" in edits[-1].text


def test_resolving_the_flag_tells_the_client_once_and_resumes_at_the_same_step(
    engine: ConversationEngine, db: Engine, manager: None
) -> None:
    person = _consented(engine, db)
    _bind(db, "Maria", MANAGER_CHAT)
    staff = _staff_person(engine, db, MANAGER_CHAT)
    person.say(CRISIS)
    staff.read()  # the notice, with its buttons

    staff.tap("Resolve")

    told = person.read()
    assert len(told) == 1 and "Thank you for waiting" in told[0].text
    resumed = person.say("ok")
    assert "How worried are you?" in texts(resumed)
    assert person.step() == "intake.worry"
    person.tap("2")
    assert person.step() == "intake.housing"


def test_an_urgent_rule_that_does_not_end_the_flow_pauses_before_the_next_question(
    engine: ConversationEngine, db: Engine, manager: None
) -> None:
    person = _consented(engine, db)
    _bind(db, "Maria", MANAGER_CHAT)
    staff = _staff_person(engine, db, MANAGER_CHAT)
    person.tap("2")
    person.tap("Mold")
    person.tap("Done")
    assert person.step() == "intake.safe"

    said = person.tap("No")  # do you feel safe at home? no -> urgent rule

    _assert_resources(texts(said))
    _no_question(said)
    _no_question(person.say("hello"))
    staff.read()
    staff.tap("Resolve")
    person.read()
    assert "How many people live with you?" in texts(person.say("ok"))


def test_commands_that_ask_nothing_still_work_while_paused(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _consented(engine, db)
    person.say(CRISIS)

    helped = person.say("/help")
    assert "/human" in texts(helped)
    _no_question(helped)
    human = person.say("/human")
    assert "within one working day" in texts(human)
    assert [f.severity for f in records.rows(db, Flag)] == ["urgent", "high"]
    _no_question(person.say("/start"))


# -- crisis anywhere -------------------------------------------------------------------------------


def test_crisis_words_before_consent_give_resources_and_no_consent_question(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)

    said = person.say("i want to kill myself")

    _assert_resources(texts(said))
    _no_question(said)
    assert len(_urgent(db)) == 1
    _no_question(person.say("hello?"))


def test_a_person_linked_to_no_case_gets_resources_and_supervisors_hear_at_once(
    engine: ConversationEngine, db: Engine
) -> None:
    add_staff(db, "Sam", "supervisor")
    _bind(db, "Sam", SUPERVISOR_CHAT)
    stranger = Person(engine, db, "555")

    said = stranger.say("nobody would care if I killed myself")

    _assert_unlinked(texts(said))
    (flag,) = _urgent(db)
    assert flag.case_id is None and flag.client_id is None
    notices = [r for r in records.rows(db, Outbox) if r.chat_id == SUPERVISOR_CHAT]
    assert len(notices) == 1 and "linked to no case" in notices[0].text


def _assert_unlinked(said: str) -> None:
    assert "911" in said and "988" in said
    assert "not watched all the time" in said


def test_crisis_words_inside_a_long_command_argument_get_a_kind_reply(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _consented(engine, db)

    said = texts(person.say("/timezone I want to kill myself " + "x" * 300))

    _assert_resources(said)
    assert "Please send your time zone like this" in said
    assert len(_urgent(db)) == 1


def test_crisis_words_in_a_photo_caption_raise_one_flag(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _consented(engine, db)

    said = person.deliver(person.inbound(InboundKind.MEDIA, text="he hits me every night"))

    assert "1-800-799-7233" in texts(said)  # violence: the domestic violence hotline too
    assert len(_urgent(db)) == 1


# -- a crisis is never lost ------------------------------------------------------------------------


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Everything logged, formatted as ``cm-bot run`` formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def test_a_turn_that_raises_still_delivers_the_crisis_reply_and_the_flag(
    engine: ConversationEngine, db: Engine, monkeypatch: pytest.MonkeyPatch, log_text: io.StringIO
) -> None:
    """F1: a turn failing after words of crisis (a time zone 'name' too long for the disk)."""
    person = _consented(engine, db)
    person.channel = "telegram"
    with transaction(db) as session:  # the same person, on Telegram
        from cm_bot.storage.models import ChannelIdentity

        session.execute(update(ChannelIdentity).values(channel="telegram"))
    marker = "I will end my life tonight zq" + "y" * 260

    def too_long(argument: str) -> None:
        raise OSError(36, f"File name too long: '{argument}'")

    monkeypatch.setattr("cm_bot.engine.commands.zone_named", too_long)
    update_ = person.inbound(text=f"/timezone {marker}")
    assert engine.accept(update_) is not None
    for _attempt in range(engine.config.max_attempts):
        engine.process("telegram", person.user_id)

    said = person.read()
    assert sum("988" in m.text for m in said) == 1  # the crisis reply, once
    assert "something went wrong" in texts(said)
    assert len(_urgent(db)) == 1
    assert [r.status for r in records.rows(db, InboundMessage)][-1] == "dead"
    logged = log_text.getvalue()
    assert "OSError" in logged and "failed" in logged
    assert "zq" not in logged and "end my life" not in logged


# -- nobody left unreachable ----------------------------------------------------------------------


def test_an_urgent_flag_for_an_unreachable_case_manager_goes_to_supervisors_at_once(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _consented(engine, db)  # Maria has no Telegram
    add_staff(db, "Sam", "supervisor")
    _bind(db, "Sam", SUPERVISOR_CHAT)

    person.say(CRISIS)

    notices = [r for r in records.rows(db, Outbox) if r.staff_id is not None]
    assert [n.chat_id for n in notices] == [SUPERVISOR_CHAT]


def test_a_case_manager_who_blocked_the_bot_is_passed_over(
    engine: ConversationEngine, db: Engine, manager: None
) -> None:
    person = _consented(engine, db)
    _bind(db, "Maria", MANAGER_CHAT)
    add_staff(db, "Sam", "supervisor")
    _bind(db, "Sam", SUPERVISOR_CHAT)
    maria = _staff_person(engine, db, MANAGER_CHAT)
    maria.deliver(maria.inbound(InboundKind.BLOCKED))

    person.say(CRISIS)

    assert [r.chat_id for r in records.rows(db, Outbox) if r.staff_id is not None] == [
        SUPERVISOR_CHAT
    ]


def test_a_flag_that_reaches_nobody_is_a_warning_in_the_log(
    engine: ConversationEngine, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    person = _consented(engine, db)

    with caplog.at_level(logging.WARNING):
        person.say(CRISIS)

    assert any("reaches nobody" in r.getMessage() for r in caplog.records)
    assert not any(CRISIS in r.getMessage() for r in caplog.records)


# -- a person, always ------------------------------------------------------------------------------


def test_human_raises_a_high_flag_and_says_when_to_expect_an_answer(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _consented(engine, db)

    said = texts(person.say("/human"))

    assert "within one working day" in said
    assert [f.severity for f in records.rows(db, Flag)] == ["high"]
    assert "How worried are you?" in said  # not paused: the question comes back


def test_timezone_takes_any_case_and_refuses_anything_else_kindly(
    engine: ConversationEngine, db: Engine
) -> None:
    person = _consented(engine, db)
    assert "Europe/Kyiv" in texts(person.say("/timezone europe/kyiv"))
    for bad in ("../../etc/passwd", "x" * 300, "Mars/Olympus"):
        assert "Please send your time zone like this" in texts(person.say(f"/timezone {bad}"))


def test_exit_accepts_only_dates_from_the_opening_to_a_year_ahead(
    engine: ConversationEngine, db: Engine, manager: None
) -> None:
    make_client(engine, db)
    _bind(db, "Maria", MANAGER_CHAT)
    staff = _staff_person(engine, db, MANAGER_CHAT)
    with transaction(db) as session:
        ref = str(session.execute(select(Case.ref)).scalar_one())
    for day in ("9999-12-31", "1900-01-01"):
        assert "must be between" in texts(staff.say(f"/exit {ref} {day}"))
    with transaction(db) as session:
        assert session.execute(select(Case.status)).scalar_one() != "exited"


# -- what the case manager reads, and erasure ---------------------------------------------------


def test_messages_kept_during_the_pause_are_in_case_and_export_and_go_with_erasure(
    engine: ConversationEngine, db: Engine, manager: None
) -> None:
    from cm_bot.storage.data_rights import erase_case, export_case

    person = _consented(engine, db)
    _bind(db, "Maria", MANAGER_CHAT)
    staff = _staff_person(engine, db, MANAGER_CHAT)
    with transaction(db) as session:
        ref = str(session.execute(select(Case.ref)).scalar_one())
    person.say(CRISIS)
    person.say("my sister knows zqmarker")

    case = texts(staff.say(f"/case {ref}"))
    assert "Messages kept while the bot was paused (2 of 2)" in case
    assert "zqmarker" in case and CRISIS in case
    exported = export_case(db, ref)["messages_while_paused"]
    assert [m["text"] for m in exported] == [CRISIS, "my sister knows zqmarker"]

    erase_case(db, ref)

    assert records.rows(db, HeldMessage) == []
