"""Post-exit follow-ups: planning, downtime, the reminder ladder, outcomes, cancellation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.i18n import Translator
from cm_bot.scheduling import SchedulePolicy, reopen_case, run_due
from cm_bot.scheduling.planner import followup_days
from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, Client, FlowRun
from cm_bot.storage.repository import SqlUnitOfWork
from tests.scheduling.support import (
    MANAGER_CHAT,
    base_now,
    case_row,
    consented_client,
    contacts,
    exit_case,
    exited_client,
    flags,
    make_engine,
    scheduling_flows,
    sent_to,
    staff_notices,
)

POLICY = SchedulePolicy()


def test_followup_days_come_from_the_flow_file() -> None:
    assert followup_days(scheduling_flows()) == [30, 90, 180]
    assert followup_days(scheduling_flows(), "no_such_flow") == [30, 90, 180]


def test_exit_plans_three_followups_at_ten_local_spread_and_in_hours(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db, tz="Europe/Kyiv")
    now = datetime(2027, 1, 4, 12, tzinfo=UTC)
    ids = exit_case(db, who, date(2027, 1, 4), now)
    assert len(ids) == 3
    rows = contacts(db, who.case_id)
    assert [r.planned_for for r in rows] == [
        date(2027, 2, 3),
        date(2027, 4, 4),
        date(2027, 7, 3),
    ]
    for row in rows:
        local = row.due_at.astimezone(ZoneInfo("Europe/Kyiv"))
        assert local.date() == row.planned_for
        assert time(10) <= local.time() < time(10, 15)  # spread over a quarter of an hour
        assert row.status == "pending" and row.kind == "followup"
    # Planning again (a retried command) creates nothing new.
    assert exit_case(db, who, date(2027, 1, 4), now) == []
    assert len(contacts(db, who.case_id)) == 3


def test_followup_due_during_downtime_is_sent_once_after_restart(
    db: Engine, translator: Translator
) -> None:
    first = make_engine(db, translator)
    who = consented_client(first, db, tz="America/Los_Angeles")
    exited = base_now()
    exit_case(db, who, exited.date(), exited)
    run_due(first, exited + timedelta(days=20))  # the process ran for a while: nothing due
    assert sent_to(db, who.client_id) == 0
    # ... then was down from day 25 to day 40. The 30-day follow-up fell due meanwhile.
    restarted = make_engine(db, translator)
    back = datetime.combine(exited.date() + timedelta(days=40), time(18), UTC)  # 10:00/11:00 LA
    report = run_due(restarted, back)
    assert report.sent == 1
    sent = sent_to(db, who.client_id)
    assert sent >= 1
    for minutes in (0, 1, 10, 60):  # later passes, and a second worker, send nothing more
        run_due(make_engine(db, translator), back + timedelta(minutes=minutes))
    assert sent_to(db, who.client_id) == sent
    first_row, *later = contacts(db, who.case_id)
    assert first_row.status == "sent" and first_row.attempts == 1
    assert first_row.sent_at == back
    assert [r.status for r in later] == ["pending", "pending"]


def test_reminder_after_three_days_then_no_response_and_a_flag(
    sched: ConversationEngine, db: Engine
) -> None:
    now = base_now()
    who = exited_client(sched, db, now, days_ago=30)  # the 30-day follow-up has gone out
    first = sent_to(db, who.client_id)
    assert first >= 1
    (row, *_) = contacts(db, who.case_id)
    assert row.status == "sent"

    run_due(sched, now + timedelta(days=2))  # still waiting
    assert sent_to(db, who.client_id) == first

    report = run_due(sched, now + timedelta(days=3, hours=1))
    assert report.reminded == 1
    assert sent_to(db, who.client_id) == 2 * first  # the same opening, once more
    (row, *_) = contacts(db, who.case_id)
    assert row.attempts == 2 and row.reminded_at is not None

    run_due(sched, now + timedelta(days=5))
    assert case_row(db, who.case_id).followup_outcome is None

    report = run_due(sched, now + timedelta(days=6, hours=2))
    assert report.closed == 1
    (row, *_) = contacts(db, who.case_id)
    assert (row.status, row.outcome) == ("no_response", "no_response")
    assert row.closed_at is not None
    assert case_row(db, who.case_id).followup_outcome == "no_response"
    (flag,) = flags(db, "followup_no_response")
    assert flag.case_id == who.case_id and flag.severity == "routine"
    notices = staff_notices(db)
    assert len(notices) == 1 and who.ref in notices[0].text
    assert notices[0].chat_id == MANAGER_CHAT

    run_due(sched, now + timedelta(days=7))  # nothing more: no second flag, no message
    assert len(flags(db)) == 1
    assert sent_to(db, who.client_id) == 2 * first


def test_answered_followup_is_written_back_and_not_reminded(
    sched: ConversationEngine, db: Engine
) -> None:
    now = base_now()
    who = exited_client(sched, db, now, days_ago=30)
    person = who.person
    person.read()
    person.tap("Yes")  # exit_followup v3: "Do you have 2 minutes?"
    person.tap("Good")
    person.tap("1")  # AHC item 1 (long options, numbered): a steady place to live
    person.tap("Not hard at all")
    person.tap("Working part-time")
    person.tap("None of these")
    person.tap("Done")
    person.tap("No")
    (row, *_) = contacts(db, who.case_id)
    assert row.status == "answered"
    before = sent_to(db, who.client_id)
    run_due(sched, now + timedelta(days=4))
    assert sent_to(db, who.client_id) == before  # no reminder
    assert case_row(db, who.case_id).followup_outcome == "answered"
    assert flags(db, "followup_no_response") == []


def test_a_partial_reply_is_an_answer_not_a_no_response(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    now = base_now()
    with transaction(db) as session:
        session.get(Client, who.client_id).contact_start = time(0)  # type: ignore[union-attr]
        session.get(Client, who.client_id).contact_end = time(0)  # type: ignore[union-attr]
    exit_case(db, who, (now - timedelta(days=31)).date(), now)  # the 30-day one is overdue
    run_due(sched, now + timedelta(minutes=20))
    who.person.read()
    who.person.tap("Yes")
    who.person.tap("Okay")  # then silence
    run_due(sched, now + timedelta(hours=3))  # at reminder time they were still answering...
    (row, *_) = contacts(db, who.case_id)
    assert row.status == "sent"
    run_due(sched, now + timedelta(days=3, hours=1))  # ...days later: answered, in part
    (row, *_) = contacts(db, who.case_id)
    assert (row.status, row.outcome, row.attempts) == ("answered", "partial", 1)
    assert case_row(db, who.case_id).followup_outcome == "answered"


def test_exit_dated_in_the_past_sends_one_overdue_followup_and_keeps_the_future(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db, tz="Europe/Kyiv")
    now = base_now()
    exit_case(db, who, (now - timedelta(days=100)).date(), now)
    rows = contacts(db, who.case_id)
    assert [r.planned_for for r in rows] == [
        (now - timedelta(days=10)).date(),  # the 90-day one, due now
        (now + timedelta(days=80)).date(),  # the 180-day one, ahead
    ]
    assert rows[0].due_at - now < timedelta(minutes=15)
    report = run_due(sched, now + timedelta(minutes=15))
    assert report.sent == 1
    run_due(sched, now + timedelta(hours=1))
    statuses = [r.status for r in contacts(db, who.case_id)]
    assert statuses == ["sent", "pending"]
    with transaction(db) as session:
        audit = session.execute(
            select(AuditLog).where(col(AuditLog.action) == "followups_planned")
        ).scalar_one()
        assert audit.detail is not None and audit.detail["skipped_past"] == [30]


def test_exit_long_ago_sends_just_one(sched: ConversationEngine, db: Engine) -> None:
    who = consented_client(sched, db)
    now = base_now()
    exit_case(db, who, (now - timedelta(days=700)).date(), now)
    (row,) = contacts(db, who.case_id)
    assert row.planned_for == (now - timedelta(days=520)).date()  # the 180-day one
    assert run_due(sched, now + timedelta(minutes=15)).sent == 1


def test_withdrawal_cancels_pending_contacts_and_nothing_is_sent(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    now = base_now()
    exit_case(db, who, now.date(), now)
    who.person.say("/withdraw")
    who.person.tap("Yes, withdraw")
    rows = contacts(db, who.case_id)
    assert {(r.status, r.outcome) for r in rows} == {("cancelled", "opted_out")}
    before = sent_to(db, who.client_id)
    for days in (31, 91, 181):
        run_due(sched, now + timedelta(days=days))
    assert sent_to(db, who.client_id) == before
    assert case_row(db, who.case_id).followup_outcome == "opted_out"


def test_withdrawal_while_waiting_for_a_reply_stops_the_reminder(
    sched: ConversationEngine, db: Engine
) -> None:
    now = base_now()
    who = exited_client(sched, db, now, days_ago=30)
    with transaction(db) as session:
        client = session.get(Client, who.client_id)
        assert client is not None
        client.status = "withdrawn"
    before = sent_to(db, who.client_id)
    run_due(sched, now + timedelta(days=3, hours=1))
    assert sent_to(db, who.client_id) == before
    (row, *_) = contacts(db, who.case_id)
    assert (row.status, row.outcome) == ("cancelled", "opted_out")
    assert case_row(db, who.case_id).followup_outcome == "opted_out"


def test_blocked_bot_cancels_and_records_unreachable(sched: ConversationEngine, db: Engine) -> None:
    from cm_bot.domain import InboundKind

    who = consented_client(sched, db)
    now = base_now()
    exit_case(db, who, now.date(), now)
    who.person.deliver(who.person.inbound(InboundKind.BLOCKED))
    assert {r.outcome for r in contacts(db, who.case_id)} == {"unreachable"}
    run_due(sched, now + timedelta(days=31))
    assert case_row(db, who.case_id).followup_outcome == "unreachable"


def test_reopening_cancels_followups_and_a_new_exit_plans_again(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    now = base_now()
    day = now.date()
    exit_case(db, who, day, now)
    with transaction(db) as session:
        assert reopen_case(session, who.case_id, now) == 3
    case = case_row(db, who.case_id)
    assert (case.status, case.exited_at, case.followup_outcome) == ("active", None, None)
    assert {r.outcome for r in contacts(db, who.case_id)} == {"reopened"}
    assert run_due(sched, now + timedelta(days=31)).sent == 0
    assert case_row(db, who.case_id).followup_outcome is None
    # Exited again on the same day: the same three follow-ups come back.
    assert len(exit_case(db, who, day, now + timedelta(days=1))) == 3
    assert {r.status for r in contacts(db, who.case_id)} == {"pending"}


def test_a_client_who_has_not_consented_is_not_contacted(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    with transaction(db) as session:
        from cm_bot.storage.models import ConsentRecord

        for record in session.execute(select(ConsentRecord)).scalars():
            session.delete(record)
    now = base_now()
    exit_case(db, who, (now - timedelta(days=30)).date(), now)
    run_due(sched, now + timedelta(minutes=20))
    assert sent_to(db, who.client_id) == 0
    (row, *_) = contacts(db, who.case_id)
    assert (row.status, row.outcome) == ("cancelled", "no_consent")
    assert case_row(db, who.case_id).followup_outcome == "no_consent"


def test_context_tells_the_flow_how_long_ago_the_exit_was(
    sched: ConversationEngine, db: Engine
) -> None:
    now = base_now()
    who = exited_client(sched, db, now, days_ago=30)
    first = contacts(db, who.case_id)[0]
    with transaction(db) as session:
        run = session.execute(select(FlowRun)).scalars().one()
    assert run.context is not None
    assert run.context["days_since_exit"] == 30
    assert run.state["scheduled_contact_id"] == first.id == run.scheduled_contact_id
    assert "scheduled_contact_id" not in (run.context or {})  # flows never see it


def test_a_followup_of_a_case_reopened_elsewhere_is_not_sent(
    sched: ConversationEngine, db: Engine
) -> None:
    from sqlalchemy import update

    from cm_bot.storage.models import Case

    who = consented_client(sched, db)
    now = base_now()
    exit_case(db, who, (now - timedelta(days=31)).date(), now)
    with transaction(db) as session:
        session.execute(update(Case).where(col(Case.id) == who.case_id).values(status="active"))
    run_due(sched, now + timedelta(minutes=20))
    assert sent_to(db, who.client_id) == 0
    (row,) = contacts(db, who.case_id)[:1]
    assert (row.status, row.outcome) == ("cancelled", "reopened")
    assert case_row(db, who.case_id).followup_outcome is None


def test_exit_planner_binds_the_flow_files_days_and_the_policy(
    sched: ConversationEngine, db: Engine
) -> None:
    from cm_bot.scheduling import exit_planner

    who = consented_client(sched, db)
    now = base_now()
    planner = exit_planner(sched.flows, SchedulePolicy(default_timezone="Europe/Kyiv"))
    with transaction(db) as session:
        uow = SqlUnitOfWork(session)
        uow.cases.exit_case(who.case_id, now)
        assert len(planner(uow, who.case_id, now.date(), now)) == 3
    days = [(r.planned_for - now.date()).days for r in contacts(db, who.case_id)]  # type: ignore[operator]
    assert days == [30, 90, 180]
