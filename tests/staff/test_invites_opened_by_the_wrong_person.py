"""Invite links opened by the wrong person bind nothing, and each is told exactly why.

A staff member who opens a client's link never becomes that client (the link stays usable
for the client); a link for a case that has ended binds nobody; a spent, an expired and a
made-up link each get their own plain answer. Staff reads of a case that does not exist get
the same answer as a case on another caseload, so case refs cannot be probed, and both are
audited; ``/flags`` records which cases it showed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.storage.admin import add_staff, new_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case, ChannelIdentity, Invite
from tests.staff.test_case_managers import _unsafe, invite, telegram_person, world
from tests.support import records

__all__ = ["world"]  # the fixture, shared with the case-manager tests


def test_staff_member_opening_a_clients_link_binds_nothing_and_the_client_can_still_use_it(
    engine: ConversationEngine, db: Engine
) -> None:
    staff = add_staff(db, "Maria", "case_manager")
    maria = telegram_person(engine, db, "5001")
    maria.say(f"/start {invite(engine, 'staff', staff_id=staff.id)}")
    case = new_case(db, "Maria")
    token = invite(engine, "client", case_id=case.id)

    reply = maria.say(f"/start {token}")

    assert "signed in as staff, so it changes nothing" in reply[0].text
    with transaction(db) as session:
        assert session.execute(select(ChannelIdentity)).first() is None
        assert (
            session.execute(select(Invite.used_at).where(Invite.kind == "client")).scalar() is None
        )
    refused = records.audits(db, "invite_staff_not_client")
    assert [(a.actor, a.case_id) for a in refused] == [(f"staff:{staff.id}", case.id)]
    # Maria is still staff, and the client's link still works for the client.
    assert "Staff commands" in maria.say("/help")[0].text
    client = telegram_person(engine, db, "5002")
    client.say(f"/start {token}")
    with engine.store.unit() as uow:
        assert uow.runs.client_for("telegram", "5002", lock=False) is not None
        assert uow.runs.client_for("telegram", "5001", lock=False) is None


def test_a_link_for_an_exited_case_binds_nobody(engine: ConversationEngine, db: Engine) -> None:
    add_staff(db, "Maria", "case_manager")
    case = new_case(db, "Maria")
    token = invite(engine, "client", case_id=case.id)
    with engine.store.unit() as uow:
        assert case.id is not None
        uow.cases.exit_case(case.id, datetime.now(UTC))
    person = telegram_person(engine, db, "5003")

    reply = person.say(f"/start {token}")

    assert "case that has ended" in reply[0].text
    with engine.store.unit() as uow:
        assert uow.runs.client_for("telegram", "5003", lock=False) is None


def test_spent_expired_and_made_up_links_each_get_their_own_answer(
    engine: ConversationEngine, db: Engine
) -> None:
    add_staff(db, "Maria", "case_manager")
    case = new_case(db, "Maria")
    spent = invite(engine, "client", case_id=case.id)
    telegram_person(engine, db, "5004").say(f"/start {spent}")
    expired = invite(
        engine, "client", case_id=case.id, expires=datetime.now(UTC) - timedelta(minutes=1)
    )
    newcomer = telegram_person(engine, db, "5005")

    assert "already been used" in newcomer.say(f"/start {spent}")[0].text
    assert "has expired" in newcomer.say(f"/start {expired}")[0].text
    assert "not valid" in newcomer.say("/start AAAAAAAAAAAAAAAAAAAAAA")[0].text


def test_a_ref_that_does_not_exist_gets_the_same_answer_as_another_caseloads_and_both_are_audited(
    world: dict[str, object], engine: ConversationEngine, db: Engine
) -> None:
    omar = telegram_person(engine, db, "1002")
    with transaction(db) as session:
        maria_case = session.execute(select(Case).where(col(Case.ref) == "C-0001")).scalars().one()

    other = omar.say("/case C-0001")[0].text
    missing = omar.say("/case C-0999")[0].text

    assert "No case C-0001 in your caseload" in other
    assert missing == other.replace("C-0001 in", "C-0999 in")
    refused = records.audits(db, "access_refused")
    assert [(a.case_id, (a.detail or {}).get("ref")) for a in refused] == [
        (maria_case.id, None),
        (None, "C-0999"),
    ]


def test_flags_records_which_cases_it_showed(
    world: dict[str, object], engine: ConversationEngine, db: Engine
) -> None:
    client = world["client_of_Maria"]
    _unsafe(client)  # type: ignore[arg-type]
    maria = telegram_person(engine, db, "1001")
    maria.say("/flags")
    with transaction(db) as session:
        case_id = session.execute(select(Case.id).where(col(Case.ref) == "C-0001")).scalar_one()
    (read,) = records.audits(db, "read_flags")
    assert read.actor.startswith("staff:")
    assert read.detail is not None and read.detail["cases"] == [case_id]
    assert len(read.detail["flags"]) == 1


def test_invite_over_telegram_for_a_linked_or_ended_case_says_why_and_makes_no_link(
    world: dict[str, object], engine: ConversationEngine, db: Engine
) -> None:
    maria = telegram_person(engine, db, "1001")
    with transaction(db) as session:
        before = len(session.execute(select(Invite)).all())

    linked = maria.say("/invite C-0001")[0].text
    with engine.store.unit() as uow:
        case = uow.cases.case_by_ref("C-0001")
        assert case is not None
        uow.cases.exit_case(case.case_id, datetime.now(UTC))
    ended = maria.say("/invite C-0001")[0].text

    assert "already linked to Telegram" in linked and "cm-bot case unlink C-0001" in linked
    assert "has ended" in ended
    with transaction(db) as session:
        assert len(session.execute(select(Invite)).all()) == before
