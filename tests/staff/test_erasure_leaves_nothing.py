"""Erasure leaves nothing behind: a marker put everywhere a client's words can go is gone.

The client writes a unique marker into a free-text answer, a photo caption, an edited
message, words of crisis and a message kept during the pause; their case manager writes it
into a note and a goal and reads the case back (``/case``, ``/flags``), and one more staff
message naming the case still waits in the inbox. After ``erase_case`` no byte of the
SQLite file, its write-ahead log or its shared-memory index holds the marker, nor any row
of any PostgreSQL table; the client's Telegram id is gone too. The tombstone keeps ids,
dates, severities and statuses.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlmodel import col

from cm_bot.domain import Inbound, InboundKind
from cm_bot.engine import ConversationEngine
from cm_bot.engine.referrals import REFERRAL_REQUESTED
from cm_bot.storage.admin import add_staff, new_case
from cm_bot.storage.data_rights import ERASED_TABLES, erase_case
from cm_bot.storage.db import is_sqlite, transaction
from cm_bot.storage.models import (
    AuditLog,
    Case,
    Client,
    Flag,
    Invite,
    Referral,
    ReferralEvent,
    ReferralOffer,
)
from tests.staff.test_case_managers import invite, telegram_person
from tests.support.people import Person

MARK = "zq7erasemarker"
CLIENT_USER = "7770001"  # the client's Telegram id: must not survive either
STAFF_USER = "7770900"


def _client_with_marker_everywhere(engine: ConversationEngine, db: Engine) -> tuple[Person, str]:
    staff = add_staff(db, "Maria", "case_manager")
    maria = telegram_person(engine, db, STAFF_USER)
    maria.say(f"/start {invite(engine, 'staff', staff_id=staff.id)}")
    case = new_case(db, "Maria")
    client = telegram_person(engine, db, CLIENT_USER)
    client.say(f"/start {invite(engine, 'client', case_id=case.id)}")
    for label in ("Yes", "Yes", "No"):
        client.tap(label)
    client.tap("Good")
    client.tap("2")
    client.tap("Mold")
    client.tap("Done")
    client.tap("Yes")
    client.say("3")
    client.say("2020-01-01")
    client.say(f"my notes {MARK}")  # the free-text answer
    client.deliver(client.inbound(InboundKind.MEDIA, text=f"photo of {MARK}"))  # a caption
    client.deliver(client.inbound(InboundKind.EDITED, text=f"edited {MARK}"))
    client.say(f"honestly I want to die {MARK}")  # words of crisis: urgent flag, pause
    client.say(f"still here {MARK}")  # kept during the pause
    maria.say(f"/note {case.ref} she said {MARK}")
    maria.say(f"/goal {case.ref} find work {MARK}")
    case_reply = " ".join(m.text for m in maria.say(f"/case {case.ref}"))
    assert MARK in case_reply  # the reply quoted the client's words
    maria.say("/flags")
    # A referral to a service whose name and id carry the marker, and the offer of it.
    with transaction(db) as session:
        linked = session.get(Case, case.id)
        assert linked is not None
        client_id = linked.client_id
        referral = Referral(
            case_id=case.id or 0,
            client_id=client_id,
            need="food",
            service_id=f"svc-{MARK}",
            service_name=f"Pantry {MARK}",
            made_by="client",
            status="requested",
        )
        session.add(referral)
        session.flush()
        session.add(ReferralEvent(referral_id=referral.id or 0, status="requested", actor="client"))
        # Its flag: the service's name is in the reason and in the reason's params.
        session.add(
            Flag(
                case_id=case.id,
                client_id=client_id,
                severity="routine",
                reason=f"Referral requested: food — Pantry {MARK}",
                reason_msgid=REFERRAL_REQUESTED,
                reason_params={"need": "food", "service": f"Pantry {MARK}"},
                rule_id="referral_requested",
                dedupe_key=f"referral:{referral.id}",
            )
        )
        session.add(
            ReferralOffer(
                case_id=case.id,
                client_id=client_id or 0,
                need="food",
                service_id=f"svc-{MARK}",
                choice="refer",
                referral_id=referral.id,
            )
        )
    # A staff message about the case still waiting in the inbox when the erase runs.
    engine.accept(
        Inbound(
            channel="telegram",
            external_id="pending-note",
            user_id=STAFF_USER,
            chat_id=STAFF_USER,
            kind=InboundKind.TEXT,
            text=f"/note {case.ref} later {MARK}",
        )
    )
    return client, case.ref


def _sqlite_files(db: Engine) -> list[Path]:
    path = Path(str(db.url.database))
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def _hits_in_files(db: Engine, needle: str) -> dict[str, int]:
    hits = {p.name: p.read_bytes().count(needle.encode()) for p in _sqlite_files(db)}
    return {name: count for name, count in hits.items() if count}


def _hits_in_tables(db: Engine, needle: str) -> dict[str, int]:
    """Rows of every table whose text holds ``needle`` (every column, as the database shows it)."""
    hits: dict[str, int] = {}
    inspector = inspect(db)
    columns = {
        t: [c["name"] for c in inspector.get_columns(t)] for t in inspector.get_table_names()
    }
    with transaction(db) as session:
        for table, names in columns.items():
            if is_sqlite(db):
                joined = " || '|' || ".join(f"COALESCE(CAST(\"{c}\" AS TEXT), '')" for c in names)
                query = f'SELECT count(*) FROM "{table}" WHERE ({joined}) LIKE :needle'
            else:
                query = f'SELECT count(*) FROM "{table}" AS r WHERE r::text LIKE :needle'
            count = session.execute(text(query), {"needle": f"%{needle}%"}).scalar_one()
            if count:
                hits[table] = int(count)
    return hits


def test_after_erasure_no_table_or_file_byte_holds_the_clients_words_or_telegram_id(
    engine: ConversationEngine, db: Engine
) -> None:
    _client, ref = _client_with_marker_everywhere(engine, db)
    before = _hits_in_tables(db, MARK)
    # The marker really went everywhere the test says (else the scan below proves nothing).
    for table in (
        "response",
        "heldmessage",
        "casenote",
        "goal",
        "outbox",
        "inboundmessage",
        "referral",
        "referral_offer",
        "flag",
    ):
        assert table in before, (table, before)
    assert _hits_in_tables(db, CLIENT_USER)
    if is_sqlite(db):
        assert _hits_in_files(db, MARK)

    erase_case(db, ref)

    assert _hits_in_tables(db, MARK) == {}
    assert _hits_in_tables(db, CLIENT_USER) == {}
    if is_sqlite(db):
        assert _hits_in_files(db, MARK) == {}
        assert _hits_in_files(db, CLIENT_USER) == {}
    else:  # the dead rows are gone too: every table the erasure touched was vacuumed
        with db.connect() as connection:
            vacuumed = set(
                connection.execute(
                    text(
                        "SELECT relname FROM pg_stat_user_tables "
                        "WHERE schemaname = current_schema() AND last_vacuum IS NOT NULL"
                    )
                ).scalars()
            )
        assert set(ERASED_TABLES) <= vacuumed


def test_the_tombstone_keeps_ids_dates_severities_and_statuses_only(
    engine: ConversationEngine, db: Engine
) -> None:
    _client, ref = _client_with_marker_everywhere(engine, db)
    erase_case(db, ref)
    with transaction(db) as session:
        case = session.execute(select(Case).where(col(Case.ref) == ref)).scalars().one()
        flags = session.execute(select(Flag)).scalars().all()
        client = session.get(Client, case.client_id)
        audit = session.execute(select(AuditLog).where(AuditLog.action == "case_erased")).scalars()
        erased = audit.one()
    assert case.status == "closed" and client is not None and client.status == "erased"
    assert flags and all(f.status == "resolved" and f.reason == "" for f in flags)
    assert all(f.severity and f.created_at and f.source_value is None for f in flags)
    assert all(f.reason_msgid is None and f.reason_params is None for f in flags)
    assert erased.detail and erased.detail["responses"] > 0


def test_an_erased_cases_flag_is_no_longer_listed_or_escalated(
    engine: ConversationEngine, db: Engine
) -> None:
    _client, ref = _client_with_marker_everywhere(engine, db)
    erase_case(db, ref)
    maria = telegram_person(engine, db, STAFF_USER)
    assert [m.text for m in maria.say("/flags")] == ["No open flags."]
    with transaction(db) as session:
        raised = session.execute(select(Flag.created_at)).scalars().first()
    assert raised is not None
    assert engine.escalate(raised + timedelta(days=2)) == 0


def test_an_invite_for_an_erased_case_binds_nobody(engine: ConversationEngine, db: Engine) -> None:
    _client, ref = _client_with_marker_everywhere(engine, db)
    with transaction(db) as session:
        case_id = session.execute(select(Case.id).where(col(Case.ref) == ref)).scalar_one()
    token = invite(engine, "client", case_id=case_id)  # made before the erasure
    erase_case(db, ref)
    fresh = invite(engine, "client", case_id=case_id)  # made after it
    newcomer = telegram_person(engine, db, "7770002")
    assert "already been used" in newcomer.say(f"/start {token}")[0].text
    assert "case that has ended" in newcomer.say(f"/start {fresh}")[0].text
    with engine.store.unit() as uow:
        assert uow.runs.client_for("telegram", "7770002", lock=False) is None
    with transaction(db) as session:
        unused = session.execute(select(Invite).where(col(Invite.used_at).is_(None))).all()
    assert len(unused) == 1  # only the one refused after the erasure, still unused


def test_the_sqlite_log_is_emptied_after_an_erasure(engine: ConversationEngine, db: Engine) -> None:
    if not is_sqlite(db):
        pytest.skip("SQLite's write-ahead log")
    _client, ref = _client_with_marker_everywhere(engine, db)
    erase_case(db, ref)
    wal = Path(f"{db.url.database}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
