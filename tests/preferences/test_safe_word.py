"""The safe word, sent at any time: one neutral line, an urgent flag, the chat cleared.

Mid-questionnaire the word is not an answer: the run stays on its step, and nothing of
the message is kept anywhere. The chat is cleared exactly as ``/clear`` clears it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from cm_bot.domain import Severity
from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine
from cm_bot.i18n.translator import Translator
from cm_bot.storage import SqlStore
from cm_bot.storage.admin import add_staff, link_client, new_case
from tests.engine.test_clear import USER, Phone
from tests.preferences.support import every_stored_text, make_engine
from tests.scheduling.support import flags
from tests.support.records import client_id_of, open_run_of, responses

START = datetime(2099, 3, 2, 9, tzinfo=UTC)


def at_the_safe_word_question(db: Engine, translator: Translator, ref: str) -> Phone:
    """A new client on Telegram, consented, safe to message first, any time: asked for a word."""
    clock = ManualClock(START)
    engine: ConversationEngine[SqlStore] = make_engine(db, translator, clock)
    add_staff(db, "Maria", "case_manager")
    case = new_case(db, "Maria", ref=ref)
    link_client(db, case.ref, "telegram", USER, USER)
    phone = Phone(engine, db, clock)
    phone.say("hello")
    for _ in range(3):
        phone.tap("Yes")
    phone.tap("Yes")  # safe to message first
    phone.tap("Any time")
    return phone


@pytest.fixture
def phone(db: Engine, translator: Translator) -> Phone:
    phone = at_the_safe_word_question(db, translator, "C-0441")
    phone.say("Blue Bird")  # the safe word
    phone.tap("Good")  # intake: now at "How worried are you?"
    return phone


def test_the_safe_word_mid_questionnaire_clears_flags_and_keeps_the_step(
    phone: Phone, db: Engine
) -> None:
    client_id = client_id_of(db, USER)
    assert client_id is not None
    on_screen = phone.ids_now()
    before = responses(db, client_id)

    word = phone.say("  blue   BIRD ")

    assert phone.asked() == sorted(on_screen | {word})  # deleteMessages, as /clear
    assert list(phone.screen.values()) == ["OK."]  # one neutral line, nothing else
    (flag,) = flags(db, "safe_word")
    assert flag.severity == Severity.URGENT and flag.reason == "Safe word used"
    run = open_run_of(db, client_id)
    assert run is not None and (run.flow_id, run.step_id) == ("intake", "worry")
    assert responses(db, client_id) == before  # not an answer
    assert "blue" not in every_stored_text(db)  # not in the inbox, answers, runs, flags


def test_the_safe_word_works_while_paused_and_a_near_miss_does_not(
    phone: Phone, db: Engine
) -> None:
    phone.say("blue bird")
    phone.say("blue birds")  # not the word: kept for the case manager as paused messages are
    assert len(flags(db, "safe_word")) == 1

    phone.say("Blue bird")  # again, while paused by the first flag

    assert len(flags(db, "safe_word")) == 2
    assert list(phone.screen.values())[-1] == "OK."


@pytest.mark.parametrize("word", ["yes", "No", "5", "ok", "sí", "hi", "Thank you"])
def test_a_word_the_client_sends_anyway_is_refused_as_safe_word(
    db: Engine, translator: Translator, word: str
) -> None:
    phone = at_the_safe_word_question(db, translator, "C-0442")

    phone.say(word)

    assert "could clear the chat by mistake" in list(phone.screen.values())[-1]
    client_id = client_id_of(db, USER)
    assert client_id is not None
    run = open_run_of(db, client_id)
    assert run is not None and run.step_id == "safe_word"  # asked again, nothing kept
    phone.say("Blue Bird")
    run = open_run_of(db, client_id)
    assert run is not None and run.flow_id == "intake"


def test_after_the_safe_word_the_replies_stay_neutral(phone: Phone, db: Engine) -> None:
    phone.say("blue bird")

    phone.say("hi, who is this?")  # perhaps not the client holding the phone

    last = list(phone.screen.values())[-1]
    assert last == "OK."
    assert "danger" not in " ".join(phone.screen.values())
