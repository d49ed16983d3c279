"""The claim: a crash mid-batch sends nothing twice; a busy client is skipped, not waited for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select, text, update
from sqlmodel import col

from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import FlowRegistry
from cm_bot.flows.schema import Flow
from cm_bot.i18n import Translator
from cm_bot.scheduling import run_due
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag, FlowRun, Outbox
from tests.scheduling.support import (
    add_contact,
    base_now,
    consented_client,
    contacts,
    scheduling_flows,
    sent_to,
)


class Crash(BaseException):
    """The process dying mid-batch (not an error the dispatcher may catch)."""


def outbox_count(db: Engine) -> int:
    with transaction(db) as session:
        return int(session.execute(select(func.count()).select_from(Outbox)).scalar_one())


def test_a_crash_mid_batch_rolls_the_whole_batch_back_and_a_restart_sends_each_once(
    sched: ConversationEngine, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = base_now()
    people = [consented_client(sched, db) for _ in range(3)]
    for who in people:
        add_contact(db, who, now - timedelta(minutes=1))
    real = ConversationEngine.start_flow
    calls = {"n": 0}

    def dying(self: ConversationEngine, *args: Any, **kwargs: Any) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ConversationEngine, "start_flow", dying)
    with pytest.raises(Crash):
        run_due(sched, now)
    # Two flows had been started in the claiming transaction; none of it was committed.
    assert outbox_count(db) == 0
    assert {c.status for c in contacts(db)} == {"pending"}
    with transaction(db) as session:
        assert session.execute(select(func.count()).select_from(FlowRun)).scalar_one() == 0

    monkeypatch.setattr(ConversationEngine, "start_flow", real)
    assert run_due(sched, now + timedelta(minutes=1)).sent == 3
    assert run_due(sched, now + timedelta(minutes=2)).sent == 0
    counts = [sent_to(db, who.client_id) for who in people]
    assert counts[0] >= 1 and len(set(counts)) == 1


def test_a_flow_that_ends_at_once_is_answered_and_never_reminded(
    db: Engine, translator: Translator
) -> None:
    notice = Flow.model_validate(
        yaml.safe_load(
            "id: notice\nversion: 1\nkind: followup\ntitle: Notice\n"
            "steps:\n  - {id: hi, type: message, text: Thinking of you.}\n"
        )
    )
    engine = ConversationEngine(
        SqlStore(db),
        FlowRegistry([*scheduling_flows(), notice]),
        translator,
        config=EngineConfig(intake_flows=()),
    )
    who = consented_client(engine, db)
    now = base_now()
    add_contact(db, who, now, flow_id="notice")
    assert run_due(engine, now).sent == 1
    (row,) = contacts(db)
    assert (row.status, row.attempts, row.sent_at) == ("answered", 1, now)
    before = sent_to(db, who.client_id)
    run_due(engine, now + timedelta(days=4))
    assert sent_to(db, who.client_id) == before


def test_a_client_whose_message_is_being_handled_is_skipped_not_waited_for(
    request: pytest.FixtureRequest, sched: ConversationEngine, db: Engine
) -> None:
    if request.config.getoption("--db") != "postgres":
        pytest.skip("row locks held by another connection need PostgreSQL")
    now = base_now()
    busy = consented_client(sched, db)
    free = consented_client(sched, db)
    add_contact(db, busy, now - timedelta(minutes=1))
    add_contact(db, free, now - timedelta(minutes=1))
    with db.connect() as other:
        other.execute(text("BEGIN"))
        other.execute(
            text("SELECT id FROM client WHERE id = :id FOR UPDATE"), {"id": busy.client_id}
        )
        report = run_due(sched, now)  # does not block on the held lock
        other.execute(text("ROLLBACK"))
    assert (report.sent, report.deferred) == (1, 1)
    assert sent_to(db, busy.client_id) == 0 and sent_to(db, free.client_id) >= 1
    row = next(c for c in contacts(db) if c.client_id == busy.client_id)
    assert row.status == "pending" and row.due_at > now
    assert run_due(sched, row.due_at).sent == 1


def test_sent_rows_record_the_worker(sched: ConversationEngine, db: Engine) -> None:
    who = consented_client(sched, db)
    now = base_now()
    add_contact(db, who, now)
    run_due(sched, now, worker="worker-a")
    (row,) = contacts(db)
    assert row.claimed_by == "worker-a"
    with transaction(db) as session:
        run = session.execute(select(FlowRun)).scalars().one()
        ids = set(session.execute(select(col(Outbox.client_id))).scalars())
    assert run.scheduled_contact_id == row.id
    assert ids == {who.client_id}


def test_a_message_whose_delivery_is_unknown_is_flagged_to_the_case_manager_once(
    sched: ConversationEngine, db: Engine
) -> None:
    """F-09: a send that timed out is never resent blindly, so a person must be told."""
    from cm_bot.domain import Outbound
    from cm_bot.storage import outbox
    from tests.scheduling.support import MANAGER_CHAT, flags, staff_notices

    who = consented_client(sched, db)
    with SqlStore(db).unit() as uow:
        lost = uow.outbox.enqueue(
            Outbound(channel="console", chat_id="c1", text="How are you?"),
            client_id=who.client_id,
        )
        fine = uow.outbox.enqueue(
            Outbound(channel="console", chat_id="c1", text="Thanks"), client_id=who.client_id
        )
    outbox.mark_final(db, lost, "unknown", "read time-out")
    outbox.mark_final(db, fine, "failed", "bad request")  # failed for sure: not "unknown"
    before = len(staff_notices(db))

    assert run_due(sched, base_now()).unknown == 1
    (flag,) = flags(db, "send_unknown")
    assert (flag.client_id, flag.severity, flag.status) == (who.client_id, "routine", "open")
    assert "may not have arrived" in flag.reason
    notices = staff_notices(db)[before:]
    assert len(notices) == 1 and notices[0].chat_id == MANAGER_CHAT
    assert "How are you?" not in notices[0].text  # the notice carries no message content

    # Every later pass (every minute) leaves it at one flag, also once it is resolved.
    with transaction(db) as session:
        session.execute(text("UPDATE flag SET status = 'resolved'"))
    assert run_due(sched, base_now()).unknown == 0
    assert len(flags(db, "send_unknown")) == 1


def test_a_client_paused_by_an_urgent_flag_gets_no_scheduled_contact_until_it_is_resolved(
    sched: ConversationEngine, db: Engine
) -> None:
    """The pause: the contact waits (deferred, not cancelled) and goes once staff resolve."""
    who = consented_client(sched, db)
    now = base_now()
    add_contact(db, who, now)
    who.person.say("I want to kill myself")  # an urgent flag: paused
    before = sent_to(db, who.client_id)

    report = run_due(sched, now)

    assert (report.sent, report.deferred) == (0, 1)
    assert sent_to(db, who.client_id) == before
    (row,) = contacts(db)
    assert row.status == "pending" and row.due_at > now
    with transaction(db) as session:
        session.execute(update(Flag).values(status="resolved"))
    assert run_due(sched, row.due_at).sent == 1
