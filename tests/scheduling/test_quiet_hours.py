"""Nothing is sent outside contact hours in the client's zone, across DST changes both ways."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.scheduling import SchedulePolicy, run_due
from cm_bot.scheduling.plan import at_local
from cm_bot.storage import outbox
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client, FlowRun, Outbox, ScheduledContact
from tests.scheduling.support import (
    add_contact,
    base_now,
    consented_client,
    contacts,
    sent_to,
)

STEP = timedelta(minutes=20)


def _walk(engine: ConversationEngine, start: datetime, hours: int) -> None:
    """A controlled clock: one dispatch pass every STEP for ``hours`` hours."""
    moment = start
    while moment <= start + timedelta(hours=hours):
        run_due(engine, moment)
        moment += STEP


@pytest.mark.parametrize(
    ("tz", "change"),
    [
        ("America/Los_Angeles", date(2027, 3, 14)),  # spring forward, 02:00 -> 03:00
        ("America/Los_Angeles", date(2027, 11, 7)),  # fall back, 02:00 -> 01:00
        ("Europe/Kyiv", date(2027, 3, 28)),  # spring forward, 03:00 -> 04:00
        ("Europe/Kyiv", date(2026, 10, 25)),  # fall back, 04:00 -> 03:00
    ],
)
def test_contacts_due_around_the_clock_wait_for_local_contact_hours_across_dst(
    sched: ConversationEngine, db: Engine, tz: str, change: date
) -> None:
    zone = ZoneInfo(tz)
    start = datetime.combine(change - timedelta(days=1), time(0), UTC)
    planned: dict[int, datetime] = {}
    for hour in range(0, 48, 3):  # one contact due every 3 hours over two days
        who = consented_client(sched, db, tz=tz)
        due = start + timedelta(hours=hour, minutes=10)
        planned[add_contact(db, who, due)] = due
    _walk(sched, start, 60)

    rows = {r.id: r for r in contacts(db)}
    assert len(rows) == len(planned)
    for contact_id, due in planned.items():
        row = rows[contact_id]
        assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
        local = row.sent_at.astimezone(zone)
        assert time(9) <= local.time() < time(20), (due.astimezone(zone), local)
        assert row.sent_at >= due
        if time(9) <= due.astimezone(zone).time() < time(20):
            assert row.sent_at - due <= STEP  # in hours: at once
        else:  # out of hours: at the next 09:00 (plus spread), local
            assert local.time() < time(9, 35)  # 09:00 + spread + one step
    with transaction(db) as session:  # each client got exactly one conversation
        runs = list(session.execute(select(col(FlowRun.client_id))).scalars())
    assert len(runs) == len(planned) == len(set(runs))


@pytest.mark.parametrize(
    ("tz", "day", "local", "fired_local"),
    [
        ("America/Los_Angeles", date(2027, 3, 14), time(2, 30), time(3, 30)),  # gap
        ("America/Los_Angeles", date(2027, 11, 7), time(1, 30), time(1, 30)),  # repeat
        ("Europe/Kyiv", date(2027, 3, 28), time(3, 30), time(4, 30)),  # gap
        ("Europe/Kyiv", date(2026, 10, 25), time(3, 30), time(3, 30)),  # repeat
    ],
)
def test_dst_gap_and_repeat_fire_once_at_the_intended_local_time(
    sched: ConversationEngine, db: Engine, tz: str, day: date, local: time, fired_local: time
) -> None:
    zone = ZoneInfo(tz)
    who = consented_client(sched, db, tz=tz, hours=(time(0), time(0)))  # any hour
    due = at_local(day, local, zone)
    add_contact(db, who, due)
    _walk(sched, datetime.combine(day - timedelta(days=1), time(12), UTC), 36)
    (row,) = contacts(db)
    assert row.status == "sent" and row.attempts == 1
    assert row.sent_at is not None and row.sent_at - due < STEP
    fired = due.astimezone(zone)
    assert fired.time() == fired_local and fired.fold == 0


def test_zone_changed_after_planning_counts_at_sending_time(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db, tz="UTC")
    now = base_now()  # 12:00 UTC: fine in London, 01:00 next day in Auckland
    add_contact(db, who, now - timedelta(minutes=5))
    with transaction(db) as session:
        session.execute(
            update(Client)
            .where(col(Client.id) == who.client_id)
            .values(timezone="Pacific/Auckland")
        )
    report = run_due(sched, now)
    assert report.deferred == 1 and sent_to(db, who.client_id) == 0
    (row,) = contacts(db)
    local = row.due_at.astimezone(ZoneInfo("Pacific/Auckland"))
    assert time(9) <= local.time() < time(9, 15)


def test_program_contact_hours_and_default_zone_are_configurable(
    sched: ConversationEngine, db: Engine
) -> None:
    from cm_bot.scheduling import ContactHours

    who = consented_client(sched, db)  # no zone of their own
    now = base_now()  # 12:00 UTC = 14:00 in Kyiv in winter, 15:00 in summer
    add_contact(db, who, now)
    policy = SchedulePolicy(
        default_timezone="Europe/Kyiv", contact_hours=ContactHours(time(16), time(18))
    )
    assert run_due(sched, now, policy).deferred == 1
    (row,) = contacts(db)
    assert time(16) <= row.due_at.astimezone(ZoneInfo("Europe/Kyiv")).time() < time(16, 15)
    assert run_due(sched, row.due_at, policy).sent == 1


def test_a_cohort_due_at_the_same_minute_is_spread_out(
    sched: ConversationEngine, db: Engine
) -> None:
    from cm_bot.scheduling import plan_followups

    now = base_now()
    exit_day = now.date()
    for _ in range(40):
        who = consented_client(sched, db, tz="Europe/Kyiv")
        with transaction(db) as session:
            plan_followups(session, who.case_id, exit_day, [30], "UTC", now)
    dues = sorted(r.due_at for r in contacts(db))
    assert len(set(dues)) >= 35  # not a wall
    assert dues[-1] - dues[0] < timedelta(minutes=15)
    assert dues[-1] - dues[0] > timedelta(minutes=10)


def test_a_contact_waits_while_the_client_is_in_another_flow(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db, hours=(time(0), time(0)))
    now = base_now()
    with sched.store.unit(now) as uow:
        view = uow.runs.client_by_id(who.client_id)
        assert view is not None
        assert sched.start_flow(uow, view, "intake")  # mid-intake, right now
    add_contact(db, who, now - timedelta(minutes=1))
    before = sent_to(db, who.client_id)
    report = run_due(sched, now)
    assert report.deferred == 1 and sent_to(db, who.client_id) == before
    (row,) = contacts(db)
    assert row.status == "pending" and row.due_at > now
    with transaction(db) as session:  # the intake ends
        session.execute(update(FlowRun).values(status="completed"))
    assert run_due(sched, row.due_at).sent == 1


def test_an_abandoned_flow_does_not_hold_contacts_back_forever(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db, hours=(time(0), time(0)))
    now = base_now()
    with sched.store.unit(now) as uow:
        view = uow.runs.client_by_id(who.client_id)
        assert view is not None
        sched.start_flow(uow, view, "intake")
    later = now + timedelta(days=2)  # untouched for two days
    add_contact(db, who, later)
    assert run_due(sched, later).sent == 1


def test_an_error_is_retried_then_given_up_with_a_flag(
    sched: ConversationEngine, db: Engine
) -> None:
    from tests.scheduling.support import flags

    who = consented_client(sched, db)
    now = base_now()
    good = consented_client(sched, db)
    add_contact(db, who, now, flow_id="no_such_flow")
    add_contact(db, good, now)
    report = run_due(sched, now)
    assert report.failed == 1 and report.sent == 1  # one bad row does not stop the batch
    moment = now
    for _ in range(SchedulePolicy().max_failures):
        with transaction(db) as session:
            row = session.get(ScheduledContact, 1)
            assert row is not None
            moment = max(moment, row.due_at)
        run_due(sched, moment)
    bad = next(r for r in contacts(db) if r.flow_id == "no_such_flow")
    assert (bad.status, bad.outcome, bad.failures) == ("cancelled", "error", 5)
    (flag,) = flags(db, "contact_failed")
    assert flag.case_id == who.case_id


def test_a_follow_up_held_up_past_contact_hours_waits_for_the_next_morning(
    sched: ConversationEngine, db: Engine
) -> None:
    """Sent to the outbox at 19:50, but Telegram was down until 20:30: not in the night."""
    kyiv = ZoneInfo("Europe/Kyiv")
    who = consented_client(sched, db, tz="Europe/Kyiv")
    evening = at_local(base_now().date(), time(19, 50), kyiv)
    add_contact(db, who, evening)
    assert run_due(sched, evening).sent == 1
    queued = sent_to(db, who.client_id)
    assert queued > 0
    assert outbox.claim_heads(db, "console", limit=10, now=evening + timedelta(minutes=5))[0]
    with transaction(db) as session:  # the sender never got to it: back in the queue
        session.execute(update(Outbox).values(status="pending", claimed_by=None))

    late = at_local(evening.date(), time(20, 30), kyiv)
    assert outbox.claim_heads(db, "console", limit=10, now=late) == ([], False)
    assert run_due(sched, late).retimed == queued

    with transaction(db) as session:
        rows = list(
            session.execute(select(Outbox).where(col(Outbox.status) == "pending")).scalars()
        )
    assert len(rows) == queued
    for row in rows:
        assert row.next_attempt_at is not None and row.deliver_by is not None
        opens = row.next_attempt_at.astimezone(kyiv)
        assert opens.date() == evening.date() + timedelta(days=1)
        assert time(9) <= opens.time() < time(9, 15)
        assert row.deliver_by.astimezone(kyiv).time() == time(20)
    morning = at_local(evening.date() + timedelta(days=1), time(9, 20), kyiv)
    assert outbox.claim_heads(db, "console", limit=10, now=late + timedelta(hours=3))[0] == []
    taken, _ = outbox.claim_heads(db, "console", limit=10, now=morning)
    assert len(taken) == 1  # the chat's first message; the rest follow it in order


def test_a_contact_failing_after_its_flow_started_leaves_nothing_half_written(
    sched: ConversationEngine, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row's savepoint takes back the engine's writes too (run, messages), not just the row."""
    who = consented_client(sched, db)
    good = consented_client(sched, db)
    now = base_now()
    add_contact(db, who, now)
    add_contact(db, good, now)
    real = ConversationEngine.start_flow

    def start_then_fail(
        self: ConversationEngine, uow: Any, view: Any, *args: Any, **kwargs: Any
    ) -> list[int]:
        started = real(self, uow, view, *args, **kwargs)
        if view.client_id == who.client_id:
            raise RuntimeError("failed after the flow had written its first message")
        return started

    monkeypatch.setattr(ConversationEngine, "start_flow", start_then_fail)
    report = run_due(sched, now)

    assert report.failed == 1 and report.sent == 1
    assert sent_to(db, who.client_id) == 0  # no message left behind for the failed one
    assert sent_to(db, good.client_id) > 0
    with transaction(db) as session:
        runs = session.execute(
            select(FlowRun).where(col(FlowRun.client_id) == who.client_id)
        ).scalars()
        assert list(runs) == []
