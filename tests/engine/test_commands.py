"""Global commands work in every state, and the conversation stays where it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import load_flows
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    Client,
    ConsentRecord,
    Flag,
    FlowRun,
    Response,
    ScheduledContact,
)
from tests.support import records
from tests.support.people import Person, make_client, texts
from tests.support.records import answers_to, responses

HELP_LINE = "/stop — pause"
WORRY = "How worried are you?"


# -- reading the record ----------------------------------------------------------------------------


def _labels(person: Person) -> list[str]:
    return [b.label for b in person.buttons]


def _snapshot(db: Engine, user_id: str) -> dict[str, Any]:
    """Everything a command must leave alone."""
    run = records.open_run(db, user_id)
    return {
        "run": None
        if run is None
        else (run.id, run.flow_id, run.status, run.step_id, run.prompt_seq, run.answers),
        "client_status": records.client(db, user_id).status,
        "runs": len(records.rows(db, FlowRun)),
        "responses": records.count(db, Response),
        "consents": records.count(db, ConsentRecord),
    }


# -- getting a person into a state -----------------------------------------------------------------


def _consent(person: Person) -> None:
    person.say("hello")
    person.tap("Yes")
    person.tap("Yes")
    person.tap("No")


def _at_worry(person: Person) -> None:
    _consent(person)
    person.tap("Good")
    assert person.step() == "intake.worry"


def _in_consent(person: Person) -> None:
    person.say("hello")
    assert person.step() == "consent.contact"


def _paused(person: Person) -> None:
    _at_worry(person)
    person.say("/stop")


def _all_done(person: Person) -> None:
    _consent(person)
    for answer in ("Good", "2", "1", "yes", "2", "2020-01-01", "fine"):
        person.say(answer)
    assert person.step() is None


def _withdrawn(person: Person) -> None:
    _at_worry(person)
    person.say("/withdraw")
    person.tap("Yes, withdraw")


def _declined(person: Person) -> None:
    person.say("hello")
    person.tap("No")


STATES: dict[str, Callable[[Person], None]] = {
    "in consent": _in_consent,
    "mid-intake": _at_worry,
    "paused": _paused,
    "all done": _all_done,
    "withdrawn": _withdrawn,
    "declined": _declined,
}


def _add_pending_contact(db: Engine, user_id: str) -> int:
    client_id, case_id = records.ids(db, user_id)
    with transaction(db) as session:
        contact = ScheduledContact(
            case_id=case_id,
            client_id=client_id,
            flow_id="intake",
            kind="checkin",
            due_at=datetime.now(UTC) + timedelta(days=7),
        )
        session.add(contact)
        session.flush()
        assert contact.id is not None
        return contact.id


def _contact(db: Engine, contact_id: int) -> ScheduledContact:
    with transaction(db) as session:
        contact = session.get(ScheduledContact, contact_id)
        assert contact is not None
        return contact


# -- /help and unknown commands --------------------------------------------------------------------


def test_help_mid_question_shows_help_then_asks_the_same_question_again(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    before = _snapshot(db, "alice")
    buttons_before = [b.payload for b in person.buttons]

    replies = person.say("/help")

    assert len(replies) == 2
    assert HELP_LINE in replies[0].text and "/withdraw" in replies[0].text
    assert WORRY in replies[1].text
    assert [b.payload for row in replies[1].buttons for b in row] == buttons_before
    assert _snapshot(db, "alice") == before
    person.tap("4")
    assert responses(db) == [("intake.mood", "good"), ("intake.worry", 4)]


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("command", ["/help", "/foo", "/HELP", " /help "])
def test_help_and_unknown_commands_answer_in_every_state_and_change_nothing(
    engine: ConversationEngine, db: Engine, state: str, command: str
) -> None:
    person = make_client(engine, db)
    STATES[state](person)
    person.read()
    before = _snapshot(db, "alice")

    replies = person.say(command)

    assert replies, f"{command} in state {state!r} got no reply"
    assert HELP_LINE in replies[0].text
    if command == "/foo":
        assert "don't know that command" in replies[0].text
    assert _snapshot(db, "alice") == before


def test_unknown_command_mid_question_re_asks_the_question(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    before = _snapshot(db, "alice")

    replies = person.say("/foo")

    assert "don't know that command" in replies[0].text
    assert WORRY in replies[-1].text
    assert person.step() == "intake.worry"
    assert _snapshot(db, "alice") == before


def test_start_addressed_to_another_bot_gets_a_reply_and_keeps_the_conversation(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    before = _snapshot(db, "alice")

    replies = person.say("/start@OtherBot")

    assert replies
    assert _snapshot(db, "alice") == before
    assert responses(db) == [("intake.mood", "good")]


# -- /stop and coming back -------------------------------------------------------------------------


def test_stop_pauses_and_the_next_message_offers_to_continue(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)

    replies = person.say("/stop")

    assert "Paused" in texts(replies)
    run = records.open_run(db, "alice")
    assert run is not None and run.status == "paused" and run.step_id == "worry"

    # A valid answer typed while paused is not taken: they are asked whether to carry on.
    replies = person.say("5")
    assert len(replies) == 1
    assert "continue where you left off" in replies[0].text
    assert _labels(person) == ["Continue", "Start again"]
    assert responses(db) == [("intake.mood", "good")]
    run = records.open_run(db, "alice")
    assert run is not None and run.status == "paused"


def test_continue_after_stop_asks_the_same_question_with_answers_kept(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    paused_run = records.open_run(db, "alice")
    assert paused_run is not None
    person.say("/stop")
    person.say("hi again")

    replies = person.tap("Continue")

    assert len(replies) == 1 and WORRY in replies[0].text
    run = records.open_run(db, "alice")
    assert run is not None
    assert (run.id, run.status, run.step_id) == (paused_run.id, "active", "worry")
    assert run.answers == {"intake.mood": "good"}
    person.tap("6")
    assert responses(db) == [("intake.mood", "good"), ("intake.worry", 6)]
    assert person.step() == "intake.housing"


def test_start_again_after_stop_starts_the_flow_over(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    old = records.open_run(db, "alice")
    assert old is not None
    person.say("/stop")
    person.say("hi again")

    replies = person.tap("Start again")

    assert "A few questions." in texts(replies)
    assert "How are you today?" in replies[-1].text
    run = records.open_run(db, "alice")
    assert run is not None
    assert run.id != old.id
    assert (run.flow_id, run.step_id, run.status, run.answers) == ("intake", "mood", "active", {})
    assert {r.id: r.status for r in records.rows(db, FlowRun)}[old.id] == "abandoned"


def test_stop_when_nothing_is_running_says_so(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    _all_done(person)
    before = _snapshot(db, "alice")

    replies = person.say("/stop")

    assert "nothing to pause" in texts(replies)
    assert _snapshot(db, "alice") == before


# -- /start mid-flow -------------------------------------------------------------------------------


def test_start_mid_flow_asks_to_resume_or_restart_and_does_not_reset(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    before = _snapshot(db, "alice")

    replies = person.say("/start")

    assert len(replies) == 1
    assert "continue where you left off, or start it again" in replies[0].text
    assert _labels(person) == ["Continue", "Start again"]
    assert _snapshot(db, "alice") == before

    replies = person.tap("Continue")
    assert WORRY in replies[-1].text
    assert _snapshot(db, "alice") == before


def test_start_mid_flow_then_start_again_restarts_that_flow(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    person.say("/start")

    person.tap("Start again")

    run = records.open_run(db, "alice")
    assert run is not None
    assert (run.flow_id, run.step_id, run.answers) == ("intake", "mood", {})


# -- /language -------------------------------------------------------------------------------------


def test_language_with_an_unsupported_code_shows_the_picker_and_changes_nothing(
    engine: ConversationEngine, db: Engine, translator: Translator
) -> None:
    assert translator.negotiate("tlh") is None  # Klingon: not shipped
    person = make_client(engine, db)
    _at_worry(person)
    before = _snapshot(db, "alice")

    replies = person.say("/language tlh")

    assert replies[0].text == "Which language would you like?"
    assert _labels(person) == [translator.language_name(c) for c in translator.locales]
    assert records.client(db, "alice").locale == "en"
    run = records.open_run(db, "alice")
    assert run is not None and run.locale == "en"
    assert _snapshot(db, "alice") == before


def test_language_es_switches_to_the_shipped_spanish_and_re_asks_in_it(
    engine: ConversationEngine, db: Engine, translator: Translator
) -> None:
    assert "es" in translator.locales  # locales/es ships with the bot
    person = make_client(engine, db)
    _at_worry(person)

    replies = person.say("/language es")

    run = records.open_run(db, "alice")
    assert run is not None and run.step_id == "worry"
    assert records.client(db, "alice").locale == "es"
    assert run.locale == "es"
    assert replies[-1].text.startswith(translator.gettext("es", WORRY))


_SPANISH_PO = r"""
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Language: es\n"

msgid "How worried are you?"
msgstr "¿Cuánto le preocupa?"

msgid "Okay, I will write in English from now on."
msgstr "De acuerdo, desde ahora le escribiré en español."

msgid "Which language would you like?"
msgstr "¿Qué idioma prefiere?"
"""


@pytest.fixture
def spanish_engine(db: Engine, tmp_path: Path, test_flows_dir: Path) -> ConversationEngine:
    """An engine whose translator supports English and (a little) Spanish."""
    po = tmp_path / "locales" / "es" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(_SPANISH_PO, encoding="utf-8")
    translator = Translator(tmp_path / "locales")
    assert translator.locales == ("en", "es")
    return ConversationEngine(
        SqlStore(db),
        load_flows(test_flows_dir),
        translator,
        config=EngineConfig(intake_flows=("intake",)),
    )


def test_language_with_a_supported_code_switches_client_and_run_and_re_asks(
    spanish_engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(spanish_engine, db)
    _at_worry(person)
    before = _snapshot(db, "alice")

    replies = person.say("/language es")

    assert "español" in replies[0].text
    assert "¿Cuánto le preocupa?" in replies[-1].text
    assert records.client(db, "alice").locale == "es"
    run = records.open_run(db, "alice")
    assert run is not None and run.locale == "es" and run.step_id == "worry"
    after = _snapshot(db, "alice")
    assert after["run"][:5] == before["run"][:5]
    assert after["responses"] == before["responses"]


def test_language_picker_buttons_switch_the_language(
    spanish_engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(spanish_engine, db)
    _at_worry(person)

    person.say("/language")
    assert _labels(person) == ["English", "Español"]
    person.tap("Español")
    assert records.client(db, "alice").locale == "es"

    person.say("/language")
    person.tap("English")
    assert records.client(db, "alice").locale == "en"
    run = records.open_run(db, "alice")
    assert run is not None and run.locale == "en" and run.step_id == "worry"


# -- /human ----------------------------------------------------------------------------------------


def _contact_flags(db: Engine) -> list[Flag]:
    return [f for f in records.rows(db, Flag) if f.rule_id == "client_asked_for_contact"]


def test_human_raises_one_high_flag_says_when_to_expect_an_answer_and_re_asks(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    client_id, case_id = records.ids(db, "alice")

    replies = person.say("/human")

    assert "asked a person from the program to contact you" in replies[0].text
    assert "within one working day" in replies[0].text  # the program's response time
    assert WORRY in replies[-1].text
    flags = records.rows(db, Flag)
    assert len(flags) == 1
    flag = flags[0]
    assert (flag.rule_id, flag.severity, flag.status) == (
        "client_asked_for_contact",
        "high",
        "open",
    )
    assert (flag.client_id, flag.case_id) == (client_id, case_id)
    assert person.step() == "intake.worry"


def test_second_human_while_the_first_is_open_raises_nothing_and_says_they_know(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    person.say("/human")

    replies = person.say("/human")

    assert "already knows" in replies[0].text
    assert WORRY in replies[-1].text
    assert len(_contact_flags(db)) == 1
    assert person.step() == "intake.worry"


def test_human_after_the_first_request_was_resolved_raises_a_new_flag(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    person.say("/human")
    with transaction(db) as session:
        flag = session.execute(select(Flag)).scalars().one()
        flag.status = "resolved"

    replies = person.say("/human")

    assert "asked a person from the program" in replies[0].text
    assert [f.status for f in _contact_flags(db)] == ["resolved", "open"]


# -- /withdraw -------------------------------------------------------------------------------------


def test_withdraw_asks_for_confirmation_before_doing_anything(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    contact_id = _add_pending_contact(db, "alice")
    before = _snapshot(db, "alice")

    replies = person.say("/withdraw")

    assert "withdraw your consent" in replies[0].text
    assert _labels(person) == ["Yes, withdraw", "No, keep going"]
    assert _snapshot(db, "alice") == before
    assert _contact(db, contact_id).status == "pending"
    assert records.count(db, Flag) == 0


def test_withdraw_then_no_keep_going_keeps_everything_and_re_asks(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    contact_id = _add_pending_contact(db, "alice")
    before = _snapshot(db, "alice")
    person.say("/withdraw")

    replies = person.tap("No, keep going")

    assert "Nothing has changed" in replies[0].text
    assert WORRY in replies[-1].text
    assert _snapshot(db, "alice") == before
    assert records.client(db, "alice").status == "active"
    assert [r.action for r in records.rows(db, ConsentRecord)] == ["granted"]
    assert _contact(db, contact_id).status == "pending"
    assert records.count(db, Flag) == 0
    person.tap("3")
    assert answers_to(db, "intake.worry") == [3]


def test_withdraw_confirmed_records_it_stops_everything_and_tells_staff(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    client_id, case_id = records.ids(db, "alice")
    contact_id = _add_pending_contact(db, "alice")
    run = records.open_run(db, "alice")
    assert run is not None
    person.say("/withdraw")

    replies = person.tap("Yes, withdraw")

    assert "consent is withdrawn" in texts(replies) and "/start" in texts(replies)
    consents = records.rows(db, ConsentRecord)
    assert [r.action for r in consents] == ["granted", "withdrawn"]
    assert (consents[-1].client_id, consents[-1].case_id) == (client_id, case_id)
    assert records.client(db, "alice").status == "withdrawn"
    ended = {r.id: r for r in records.rows(db, FlowRun)}[run.id]
    assert ended.status in ("ended", "abandoned") and ended.ended_at is not None
    assert records.open_run(db, "alice") is None
    flags = records.rows(db, Flag)
    assert [(f.rule_id, f.severity, f.case_id) for f in flags] == [
        ("consent_withdrawn", "routine", case_id)
    ]
    contact = _contact(db, contact_id)
    assert contact.status == "cancelled"


def test_after_withdrawal_any_text_stores_nothing_and_points_to_start(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    old_buttons = list(person.buttons)
    person.say("/withdraw")
    person.tap("Yes, withdraw")
    stored = records.count(db, Response)
    runs = len(records.rows(db, FlowRun))

    for text in ("5", "hello", "my phone number changed", "Good"):
        replies = person.say(text)
        assert len(replies) == 1, text
        assert "/start" in replies[0].text
        assert "not keeping anything" in replies[0].text

    # An old question button does not sneak an answer in either.
    person.buttons = old_buttons
    person.tap("5")

    assert records.count(db, Response) == stored
    assert len(records.rows(db, FlowRun)) == runs
    assert records.client(db, "alice").status == "withdrawn"


def test_start_after_withdrawal_asks_for_consent_again(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _withdrawn(person)
    stored = records.count(db, Response)

    replies = person.say("/start")

    assert "We keep your answers for your case manager." in texts(replies)
    assert "May I message you here?" in replies[-1].text
    assert person.step() == "consent.contact"
    assert records.count(db, Response) == stored

    person.tap("Yes")
    person.tap("Yes")
    replies = person.tap("No")

    assert [r.action for r in records.rows(db, ConsentRecord)] == [
        "granted",
        "withdrawn",
        "granted",
    ]
    assert records.client(db, "alice").status == "active"
    assert "How are you today?" in replies[-1].text
    assert person.step() == "intake.mood"
    assert records.count(db, Response) == stored


def test_timezone_command_stores_a_valid_zone_and_refuses_nonsense(
    engine: ConversationEngine, db: Engine
) -> None:

    person = make_client(engine, db)
    reply = person.say("/timezone Mars/Olympus")
    assert "/timezone Europe/Kyiv" in reply[0].text
    reply = person.say("/timezone America/Los_Angeles")
    assert "America/Los_Angeles" in reply[0].text
    with transaction(db) as session:
        client = session.execute(select(Client)).scalars().one()
    assert client.timezone == "America/Los_Angeles"


def test_timezone_suggests_the_closest_names_when_it_does_not_know_one(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)

    said = texts(person.say("/timezone Mexico City"))

    assert "Did you mean" in said and "/timezone America/Mexico_City" in said
    assert "Europe/Kyiv" in texts(person.say("/timezone EUROPE/KYIV"))
