"""Flag rules: an "I am not safe" is raised once, told to the client first, and reaches staff."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import col

from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import load_flows
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case, Flag, InboundMessage, Outbox, Staff
from tests.support import records
from tests.support.people import Person, make_client, texts

EMERGENCY = "Thank you for telling me. You deserve to be safe."  # then the program's resources
PEOPLE = "How many people live with you?"
STAFF_CHAT = "900100"


def _consent(person: Person) -> None:
    person.say("hello")
    person.tap("Yes")
    person.tap("Yes")
    person.tap("No")


def _to_safe(person: Person, worry: str = "2") -> None:
    """Consent and answer up to "Do you feel safe at home?"."""
    _consent(person)
    person.tap("Okay")
    person.tap(worry)
    person.tap("Mold")
    person.tap("Done")
    assert person.step() == "intake.safe"


def _bind_manager(db: Engine, name: str = "Maria", chat: str = STAFF_CHAT) -> int:
    with transaction(db) as session:
        session.execute(update(Staff).where(col(Staff.name) == name).values(telegram_user_id=chat))
        staff_id = session.execute(select(Staff.id).where(col(Staff.name) == name)).scalar_one()
        return int(staff_id)


def _case_ref(db: Engine) -> str:
    with transaction(db) as session:
        return str(session.execute(select(Case.ref)).scalar_one())


def _flags(db: Engine, rule_id: str | None = None) -> list[Flag]:
    return [f for f in records.rows(db, Flag) if rule_id is None or f.rule_id == rule_id]


def _staff_notices(db: Engine) -> list[Outbox]:
    return [row for row in records.rows(db, Outbox) if row.staff_id is not None]


def _staff_resolve_all(db: Engine) -> None:
    """Staff resolve every flag (the pause an urgent flag started ends)."""
    with transaction(db) as session:
        session.execute(update(Flag).values(status="resolved"))


def _last_inbound_id(db: Engine) -> int:
    return int(records.rows(db, InboundMessage)[-1].id)


# -- the urgent flag -------------------------------------------------------------------------------


def test_not_feeling_safe_raises_one_urgent_flag(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    _to_safe(person)

    person.tap("No")

    flags = _flags(db)
    assert len(flags) == 1
    flag = flags[0]
    assert (flag.severity, flag.rule_id, flag.status) == ("urgent", "intake.unsafe", "open")
    assert (flag.source_key, flag.source_value) == ("intake.safe", False)
    assert flag.reason == "Client does not feel safe at home"
    with transaction(db) as session:
        case = session.execute(select(Case)).scalars().one()
    assert (flag.case_id, flag.client_id) == (case.id, case.client_id)


def test_the_emergency_message_is_sent_and_the_next_question_waits_for_staff(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _to_safe(person)

    replies = person.tap("No")

    assert len(replies) == 1
    assert replies[0].text.startswith(EMERGENCY)
    assert "911" in replies[0].text
    assert PEOPLE not in texts(replies)
    inbound_id = _last_inbound_id(db)
    rows = [
        r for r in records.rows(db, Outbox) if r.inbound_id == inbound_id and r.chat_id == "alice"
    ]
    assert len(rows) == 1 and rows[0].priority == 0  # urgent: first out of the outbox
    _staff_resolve_all(db)
    assert PEOPLE in texts(person.say("ok"))


def test_typing_no_raises_the_same_urgent_flag_as_tapping_it(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _to_safe(person)

    replies = person.say(" no ")

    assert replies[0].text.startswith(EMERGENCY)
    assert [(f.severity, f.source_key) for f in _flags(db)] == [("urgent", "intake.safe")]


def test_feeling_safe_raises_no_flag_and_sends_no_emergency_message(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _to_safe(person)

    replies = person.tap("Yes")

    assert _flags(db) == []
    assert EMERGENCY not in texts(replies)


def test_the_urgent_flag_never_fires_twice_in_one_run(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _to_safe(person)
    person.tap("No")
    _staff_resolve_all(db)
    assert PEOPLE in texts(person.say("back"))  # the pause is over: the next question

    # Every later answer keeps "safe == No" true; bad answers, /help, a pause in between.
    person.say("lots")
    person.say("2")
    person.say("/help")
    person.say("/stop")
    person.say("back")
    person.tap("Continue")
    person.say("2020-01-01")
    person.say("It is getting worse.")

    assert person.step() is None
    assert len(_flags(db, "intake.unsafe")) == 1
    client_messages = [r.text for r in records.rows(db, Outbox) if r.chat_id == "alice"]
    assert sum(m.startswith(EMERGENCY) for m in client_messages) == 1


# -- the high flag ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("worry", "flagged"), [("0", False), ("7", False), ("8", True), ("10", True)]
)
def test_very_worried_raises_a_high_flag_from_eight(
    engine: ConversationEngine, db: Engine, worry: str, flagged: bool
) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.tap("Good")

    person.tap(worry)
    # Later answers keep the band high; it is still raised once.
    person.tap("Pests")
    person.tap("Done")
    person.tap("Yes")

    high = _flags(db, "intake.very_worried")
    if flagged:
        assert len(high) == 1
        assert (high[0].severity, high[0].source_key, high[0].source_value) == (
            "high",
            "intake.worry",
            int(worry),
        )
    else:
        assert high == []
    assert _flags(db, "intake.unsafe") == []


# -- telling the case manager ----------------------------------------------------------------------


def test_an_urgent_flag_writes_an_urgent_notice_to_the_bound_case_manager(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    staff_id = _bind_manager(db)
    _to_safe(person)

    person.tap("No")

    (flag,) = _flags(db)
    notices = _staff_notices(db)
    assert len(notices) == 1
    notice = notices[0]
    assert (notice.channel, notice.chat_id, notice.staff_id) == ("telegram", STAFF_CHAT, staff_id)
    assert notice.priority == 0
    assert notice.flag_id == flag.id
    assert notice.client_id is None
    # Same transaction as the answer that raised it: the same inbound update wrote both.
    assert notice.inbound_id == _last_inbound_id(db)
    client_rows = [r for r in records.rows(db, Outbox) if r.inbound_id == notice.inbound_id]
    assert any(r.text.startswith(EMERGENCY) for r in client_rows)
    assert _case_ref(db) in notice.text
    assert "Client does not feel safe at home" in notice.text
    assert "Urgent" in notice.text


def test_the_high_flag_notice_is_high_priority(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    _bind_manager(db)
    _consent(person)
    person.tap("Good")

    person.tap("9")

    (notice,) = _staff_notices(db)
    assert notice.priority == 10
    assert "High worry" in notice.text


def test_a_flag_with_no_bound_case_manager_is_still_recorded(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)  # Maria has no Telegram account bound
    _to_safe(person)

    replies = person.tap("No")

    assert replies[0].text.startswith(EMERGENCY)
    assert [(f.severity, f.status) for f in _flags(db)] == [("urgent", "open")]
    assert _staff_notices(db) == []
    assert [r for r in records.rows(db, Outbox) if r.channel == "telegram"] == []


def test_an_inactive_case_manager_gets_no_notice_but_the_flag_stays(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _bind_manager(db)
    with transaction(db) as session:
        session.execute(update(Staff).values(active=False))
    _to_safe(person)

    person.tap("No")

    assert len(_flags(db)) == 1
    assert _staff_notices(db) == []


# -- free text never reaches a staff notice --------------------------------------------------------


NOTE = "My neighbour Jane Doe at 12 Elm Street keeps my spare key"


@pytest.fixture
def notes_flag_engine(
    db: Engine, tmp_path: Path, test_flows_dir: Path, translator: Translator
) -> ConversationEngine:
    """The test flows plus a rule raised by the free-text notes answer itself."""
    flows = tmp_path / "flows-notes"
    shutil.copytree(test_flows_dir, flows)
    intake = flows / "intake.yaml"
    intake.write_text(
        intake.read_text(encoding="utf-8")
        + "  - id: left_a_note\n"
        + "    when: \"answers['intake.notes'] != None\"\n"
        + "    severity: high\n"
        + "    reason: Client left a note\n",
        encoding="utf-8",
    )
    registry = load_flows(flows)
    assert [r.id for r in registry.get("intake").flags][-1] == "left_a_note"
    return ConversationEngine(
        SqlStore(db), registry, translator, config=EngineConfig(intake_flows=("intake",))
    )


def test_staff_notices_never_contain_a_free_text_answer(
    notes_flag_engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(notes_flag_engine, db)
    _bind_manager(db)
    _to_safe(person)
    person.tap("No")
    _staff_resolve_all(db)
    person.say("ok")  # resumes: "How many people live with you?"
    person.say("2")
    person.say("2020-01-01")

    person.say(NOTE)

    notes_flags = _flags(db, "intake.left_a_note")
    assert len(notes_flags) == 1
    assert notes_flags[0].source_key == "intake.notes"
    assert notes_flags[0].source_value is None  # minimum necessary: not the text
    notices = _staff_notices(db)
    assert len(notices) == 2  # the urgent one and the note one
    for notice in notices:
        assert "Jane" not in notice.text
        assert "Elm Street" not in notice.text
        assert NOTE not in notice.text
    assert "Client left a note" in notices[-1].text
