"""Two similar clients on two caseloads: each case manager sees and acts on only their own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text

from cm_bot.domain import Inbound, InboundKind
from cm_bot.engine import ConversationEngine
from cm_bot.storage.admin import add_staff, new_case
from cm_bot.storage.data_rights import erase_case, export_case, to_csv
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    Flag,
    Outbox,
    Response,
    ScheduledContact,
    Staff,
)
from tests.support.people import Person

NOW = datetime.now(UTC)


def invite(
    engine: ConversationEngine,
    kind: str,
    *,
    case_id: int | None = None,
    staff_id: int | None = None,
    expires: datetime | None = None,
) -> str:
    with engine.store.unit() as uow:
        return uow.cases.create_invite(
            kind, case_id=case_id, staff_id=staff_id, expires_at=expires or NOW + timedelta(days=14)
        )


def telegram_person(engine: ConversationEngine, db: Engine, user_id: str) -> Person:
    return Person(engine, db, user_id, channel="telegram")


@pytest.fixture
def world(engine: ConversationEngine, db: Engine) -> dict[str, Person]:
    """Maria manages Ann's case, Omar manages Ben's; both staff linked by invite links."""
    people: dict[str, Person] = {}
    for name, staff_user, client_user in (("Maria", "1001", "2001"), ("Omar", "1002", "2002")):
        staff = add_staff(db, name, "case_manager")
        staff_person = telegram_person(engine, db, staff_user)
        replies = staff_person.say(f"/start {invite(engine, 'staff', staff_id=staff.id)}")
        assert f"Welcome, {name}" in replies[0].text
        case = new_case(db, name)
        client = telegram_person(engine, db, client_user)
        client.say(f"/start {invite(engine, 'client', case_id=case.id)}")
        for label in ("Yes", "Yes", "No"):
            client.tap(label)
        people[name] = staff_person
        people[f"client_of_{name}"] = client
    return people


def _unsafe(client: Person) -> None:
    """Walk the intake flow to 'Do you feel safe at home?' and answer No (urgent flag)."""
    client.tap("Good")
    client.tap("2")
    client.tap("Mold")
    client.tap("Done")
    client.tap("No")


def test_each_case_manager_receives_only_their_own_flags(world: dict[str, Person]) -> None:
    _unsafe(world["client_of_Maria"])
    maria = world["Maria"].read()
    omar = world["Omar"].read()
    assert len(maria) == 1 and not omar
    notice = maria[0]
    assert "Urgent flag — case C-0001" in notice.text
    assert "Client does not feel safe at home" in notice.text
    assert [b.label for row in notice.buttons for b in row] == [
        "Acknowledge",
        "Resolve",
        "Open case",
    ]

    world["Omar"].say("/flags")
    assert world["Omar"].seen[-1].text == "No open flags."


def test_acknowledge_then_resolve_records_who_and_when_and_edits_the_notice(
    world: dict[str, Person], db: Engine
) -> None:
    _unsafe(world["client_of_Maria"])
    maria = world["Maria"]
    maria.read()
    edits = maria.tap("Acknowledge")
    with transaction(db) as session:
        flag = session.execute(select(Flag).where(Flag.severity == "urgent")).scalars().one()
        notice = (
            session.execute(
                select(Outbox).where(Outbox.flag_id == flag.id, Outbox.edit_of.is_(None))  # type: ignore[union-attr]
            )
            .scalars()
            .one()
        )
    assert flag.status == "acknowledged" and flag.acknowledged_by is not None
    assert len(edits) == 1 and edits[0].edit_of == notice.id
    assert "Acknowledged by Maria" in edits[0].text
    assert [b.label for row in edits[0].buttons for b in row] == ["Resolve", "Open case"]

    edits = maria.tap("Resolve")
    with transaction(db) as session:
        flag = session.get(Flag, flag.id)
        assert flag is not None and flag.status == "resolved" and flag.resolved_at is not None
        actions = [a.action for a in session.execute(select(AuditLog)).scalars()]
    assert "Resolved by Maria" in edits[0].text
    assert "flag_acknowledged" in actions and "flag_resolved" in actions


def test_another_case_manager_cannot_act_on_a_flag_or_read_the_case(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    _unsafe(world["client_of_Maria"])
    notice = world["Maria"].read()[0]
    acknowledge = notice.buttons[0][0]
    omar = world["Omar"]
    reply = omar.deliver(omar.inbound(InboundKind.BUTTON, payload=acknowledge.payload))
    assert "no longer valid" in reply[0].text or "don't have access" in reply[0].text
    reply = omar.say("/case C-0001")
    assert "No case C-0001 in your caseload" in reply[0].text
    with transaction(db) as session:
        flag = session.execute(select(Flag).where(Flag.severity == "urgent")).scalars().one()
        refused = (
            session.execute(select(AuditLog).where(AuditLog.action == "access_refused"))
            .scalars()
            .all()
        )
    assert flag.status == "open"
    assert refused


def test_a_client_sending_staff_commands_gets_the_ordinary_reply_and_is_audited(
    world: dict[str, Person], db: Engine
) -> None:
    client = world["client_of_Omar"]
    reply = client.say("/case C-0001")
    assert "don't know that command" in reply[0].text
    assert "C-0001" not in "".join(m.text for m in reply)


def test_unacknowledged_urgent_flag_escalates_to_supervisors_after_15_minutes(
    world: dict[str, Person], engine: ConversationEngine, db: Engine
) -> None:
    boss = add_staff(db, "Sam", "supervisor")
    sam = telegram_person(engine, db, "1009")
    sam.say(f"/start {invite(engine, 'staff', staff_id=boss.id)}")
    sam.read()
    _unsafe(world["client_of_Maria"])
    with transaction(db) as session:
        raised = session.execute(select(Flag.created_at)).scalars().first()
    assert raised is not None
    assert engine.escalate(raised + timedelta(minutes=14)) == 0
    assert not sam.read()
    assert engine.escalate(raised + timedelta(minutes=15, seconds=1)) == 1
    escalated = sam.read()
    assert len(escalated) == 1 and "C-0001" in escalated[0].text
    assert escalated[0].text.startswith("Escalated to you: nobody acknowledged this flag in time.")
    assert engine.escalate(raised + timedelta(hours=2)) == 0  # once


def test_used_expired_and_forwarded_links_bind_nothing(
    engine: ConversationEngine, db: Engine
) -> None:
    add_staff(db, "Maria", "case_manager")
    case = new_case(db, "Maria")
    token = invite(engine, "client", case_id=case.id)
    owner = telegram_person(engine, db, "3001")
    owner.say(f"/start {token}")
    stranger = telegram_person(engine, db, "3002")
    reply = stranger.say(f"/start {token}")  # the link forwarded to someone else
    assert "This link has already been used" in reply[0].text
    expired = invite(engine, "client", case_id=case.id, expires=NOW - timedelta(minutes=1))
    reply = stranger.say(f"/start {expired}")
    assert "This link has expired" in reply[0].text
    with engine.store.unit() as uow:
        assert uow.runs.client_for("telegram", "3002", lock=False) is None
        assert uow.runs.client_for("telegram", "3001", lock=False) is not None


def test_unknown_person_start_without_token_is_told_to_ask_for_a_link(
    engine: ConversationEngine, db: Engine
) -> None:
    person = telegram_person(engine, db, "4001")
    reply = person.say("/start")
    assert "ask your case manager for your personal link" in reply[0].text
    with transaction(db) as session:
        assert session.execute(select(Response)).first() is None


def test_export_of_one_case_contains_none_of_the_other(
    world: dict[str, Person], db: Engine
) -> None:
    world["client_of_Maria"].tap("Good")
    world["client_of_Omar"].tap("Bad")
    data = export_case(db, "C-0001")
    dumped = json.dumps(data, default=str)
    assert data["responses"] == [{**data["responses"][0], "key": "intake.mood", "value": "good"}]
    assert '"bad"' not in dumped and "C-0002" not in dumped
    with transaction(db) as session:
        assert session.execute(select(AuditLog).where(AuditLog.action == "case_exported")).first()


def test_csv_export_quotes_cells_that_would_run_as_formulas(
    world: dict[str, Person], db: Engine
) -> None:
    client = world["client_of_Maria"]
    for label in ("Good", "2", "Mold", "Done", "Yes"):
        client.tap(label)
    client.say("3")
    client.say("2020-01-01")
    client.say('=HYPERLINK("http://x","click")')
    csv_text = to_csv(export_case(db, "C-0001"))
    assert "'=HYPERLINK" in csv_text
    assert "\n=HYPERLINK" not in csv_text and ",=HYPERLINK" not in csv_text


def test_after_erasure_no_table_holds_the_answers_and_contacts_are_cancelled(
    world: dict[str, Person], db: Engine
) -> None:
    client = world["client_of_Maria"]
    client.tap("Good")
    client.tap("7")
    world["client_of_Omar"].tap("Bad")
    with transaction(db) as session:
        session.add(
            ScheduledContact(
                case_id=1,
                client_id=None,
                flow_id="intake",
                kind="followup",
                due_at=NOW + timedelta(days=30),
            )
        )
    erase_case(db, "C-0001")
    with transaction(db) as session:
        assert session.execute(select(Response).where(Response.case_id == 1)).first() is None
        contacts = session.execute(select(ScheduledContact)).scalars().all()
        assert {c.status for c in contacts} == {"cancelled"}
        for table in (
            "response",
            "flowrun",
            "inboundmessage",
            "channelidentity",
            "prompttoken",
            "consentrecord",
        ):
            rows = session.execute(text(f"SELECT * FROM {table}")).all()
            assert all("2001" not in str(row) for row in rows), table
        other = session.execute(select(Response).where(Response.case_id == 2)).scalars().all()
        assert other, "the other client's answers are untouched"
        assert session.execute(select(AuditLog).where(AuditLog.action == "case_erased")).first()
    # An erased client writing again is an unknown person; nothing is collected.
    reply = client.say("hello")
    assert "personal link" in reply[0].text


def test_the_audit_log_cannot_be_updated_or_deleted(db: Engine) -> None:
    with transaction(db) as session:
        session.add(AuditLog(actor="cli", action="test"))
    with pytest.raises(Exception, match="append-only"), transaction(db) as session:
        session.execute(text("UPDATE auditlog SET action = 'x'"))
    with pytest.raises(Exception, match="append-only"), transaction(db) as session:
        session.execute(text("DELETE FROM auditlog"))


def test_staff_are_an_allow_list_a_staff_name_means_nothing(
    engine: ConversationEngine, db: Engine
) -> None:
    add_staff(db, "Maria", "case_manager")
    impostor = Person(engine, db, "5001", channel="telegram")
    impostor.deliver(
        Inbound(channel="telegram", external_id="x1", user_id="5001", chat_id="5001", text="/flags")
    )
    with transaction(db) as session:
        staff = session.execute(select(Staff)).scalars().one()
    assert staff.telegram_user_id is None
