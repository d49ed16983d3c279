"""Goal check-ins by cadence: preferred day and time, the next after each, two missed -> flag."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.scheduling import run_due
from cm_bot.storage.db import transaction
from cm_bot.storage.models import FlowRun, Goal, Outbox, ScheduledContact
from tests.scheduling.support import (
    add_goal,
    base_now,
    consented_client,
    contacts,
    flags,
    sent_to,
    staff_notices,
)

KYIV = ZoneInfo("Europe/Kyiv")


def checkins(db: Engine, goal_id: int) -> list[ScheduledContact]:
    return [c for c in contacts(db) if c.goal_id == goal_id]


def answer_checkin(who_person: object, progress: str) -> None:
    person = who_person
    person.read()  # type: ignore[attr-defined]
    person.tap(progress)  # type: ignore[attr-defined]
    person.tap("Skip this question")  # type: ignore[attr-defined]
    person.tap("Skip this question")  # type: ignore[attr-defined]
    person.tap("Skip this question")  # type: ignore[attr-defined]  # the next small step
    person.tap("No")  # type: ignore[attr-defined]


def test_first_checkin_one_week_after_the_goal_on_the_preferred_day_and_time(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db, tz="Europe/Kyiv")
    created = base_now()
    goal_id = add_goal(
        db, who.case_id, created, checkin_weekday=2, checkin_time=time(18, 30)
    )  # Wednesdays 18:30
    report = run_due(sched, created + timedelta(minutes=1))
    assert report.planned == 1 and report.sent == 0
    (row,) = checkins(db, goal_id)
    local = row.due_at.astimezone(KYIV)
    assert row.planned_for is not None and row.planned_for.weekday() == 2
    assert abs((row.planned_for - (created.date() + timedelta(days=7))).days) <= 3
    assert local.date() == row.planned_for
    assert time(18, 30) <= local.time() < time(18, 45)
    assert run_due(sched, created + timedelta(minutes=2)).planned == 0  # one at a time


def test_checkin_cadence_next_after_answer_and_two_missed_raise_a_flag(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db, hours=(time(0), time(0)))  # any hour, to keep it short
    created = base_now() - timedelta(days=7, minutes=30)
    goal_id = add_goal(db, who.case_id, created, cadence="weekly")
    with transaction(db) as session:  # first check-in, due now
        session.add(
            ScheduledContact(
                case_id=who.case_id,
                client_id=who.client_id,
                flow_id="goal_checkin",
                kind="checkin",
                goal_id=goal_id,
                planned_for=(created + timedelta(days=7)).date(),
                due_at=created + timedelta(days=7),
                dedupe_key=f"checkin:{goal_id}:first",
            )
        )
    now = base_now()
    assert run_due(sched, now).sent == 1
    with transaction(db) as session:
        intro = session.execute(select(Outbox).order_by(col(Outbox.id))).scalars().first()
        assert intro is not None and "Find a part-time job" in intro.text
    answer_checkin(who.person, "7")
    first, *_ = checkins(db, goal_id)
    assert first.status == "answered"

    report = run_due(sched, now + timedelta(minutes=1))
    assert report.settled == 1 and report.planned == 1
    _first, second = checkins(db, goal_id)
    assert second.status == "pending"
    assert second.planned_for == (created + timedelta(days=14)).date()

    # The second is sent a week later; nobody answers; after 3 days it is missed.
    due = second.due_at
    assert run_due(sched, due).sent == 1
    with transaction(db) as session:
        run = session.execute(select(FlowRun).order_by(col(FlowRun.id).desc())).scalars().first()
        assert run is not None and run.context is not None
        assert run.context["last_progress"] == 7 and run.context["previous_progress_zero"] is False
    report = run_due(sched, due + timedelta(days=3, minutes=1))
    assert report.closed == 1 and report.planned == 1
    assert flags(db, "checkin_missed_twice") == []  # one missed is not a pattern

    third = checkins(db, goal_id)[2]
    assert third.planned_for == (created + timedelta(days=21)).date()
    assert run_due(sched, third.due_at).sent == 1
    run_due(sched, third.due_at + timedelta(days=3, minutes=1))
    statuses = [c.status for c in checkins(db, goal_id)]
    assert statuses[:3] == ["answered", "missed", "missed"]
    (flag,) = flags(db, "checkin_missed_twice")
    assert flag.case_id == who.case_id and flag.severity == "routine"
    assert len(staff_notices(db)) == 1
    assert len(checkins(db, goal_id)) == 4  # and the check-ins go on


def test_no_checkins_for_closed_goals_exited_cases_or_withdrawn_clients(
    sched: ConversationEngine, db: Engine
) -> None:
    now = base_now()
    closed_goal = consented_client(sched, db)
    add_goal(db, closed_goal.case_id, now, status="achieved")
    withdrawn = consented_client(sched, db)
    add_goal(db, withdrawn.case_id, now)
    exited = consented_client(sched, db)
    add_goal(db, exited.case_id, now)
    with transaction(db) as session:
        from cm_bot.storage.models import Case, Client

        session.execute(
            update(Client).where(col(Client.id) == withdrawn.client_id).values(status="withdrawn")
        )
        session.execute(update(Case).where(col(Case.id) == exited.case_id).values(status="exited"))
    assert run_due(sched, now).planned == 0


def test_a_pending_checkin_of_a_goal_closed_meanwhile_is_cancelled(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    now = base_now()
    goal_id = add_goal(db, who.case_id, now - timedelta(days=8))
    run_due(sched, now - timedelta(hours=1))  # planned, due in the past week's cadence
    with transaction(db) as session:
        session.execute(update(Goal).where(col(Goal.id) == goal_id).values(status="achieved"))
    (row,) = checkins(db, goal_id)
    run_due(sched, row.due_at + timedelta(days=1))
    (row,) = checkins(db, goal_id)
    assert (row.status, row.outcome) == ("cancelled", "goal_closed")
    assert sent_to(db, who.client_id) == 0


def test_exit_cancels_pending_checkins(sched: ConversationEngine, db: Engine) -> None:
    from cm_bot.scheduling import plan_followups

    who = consented_client(sched, db)
    now = base_now()
    goal_id = add_goal(db, who.case_id, now)
    run_due(sched, now)
    with transaction(db) as session:
        plan_followups(session, who.case_id, now.date(), [30], "UTC", now)
    (row,) = checkins(db, goal_id)
    assert (row.status, row.outcome) == ("cancelled", "case_exited")
