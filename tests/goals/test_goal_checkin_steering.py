"""Goals the client steers (issue 18): the next small step, "still right?", "I reached it"."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

from sqlalchemy import Engine, update
from sqlmodel import col

from cm_bot.domain import ContactStatus, GoalStatus
from cm_bot.engine import ConversationEngine
from cm_bot.scheduling import run_due
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Goal, ScheduledContact
from tests.scheduling.support import (
    MANAGER_CHAT,
    add_goal,
    base_now,
    consented_client,
    contacts,
    flags,
)
from tests.support.people import Person, texts
from tests.support.records import audits

SKIP = "Skip this question"
_KEYS = itertools.count()


def send_checkin(
    sched: ConversationEngine, db: Engine, who: object, goal_id: int, at: datetime
) -> int:
    """Queue a check-in of the goal due at ``at`` and run the scheduler then; how many went out."""
    with transaction(db) as session:
        session.add(
            ScheduledContact(
                case_id=who.case_id,  # type: ignore[attr-defined]
                client_id=who.client_id,  # type: ignore[attr-defined]
                flow_id="goal_checkin",
                kind="checkin",
                goal_id=goal_id,
                planned_for=at.date(),
                due_at=at,
                dedupe_key=f"checkin:{goal_id}:test{next(_KEYS)}",
            )
        )
    return run_due(sched, at).sent


def setup(sched: ConversationEngine, db: Engine) -> tuple[object, int, datetime]:
    who = consented_client(sched, db, hours=(time(0), time(0)))  # any hour
    now = base_now()
    goal_id = add_goal(db, who.case_id, now - timedelta(days=8))
    return who, goal_id, now


def goal(db: Engine, goal_id: int) -> Goal:
    with transaction(db) as session:
        row = session.get(Goal, goal_id)
        assert row is not None
        return row


def ordinary(
    person: Person, progress: str, step: str | None, *, still_right: str | None = None
) -> str:
    """Answer one check-in with a middling rating; the text the client saw."""
    seen = person.read()
    seen += person.tap(progress)
    seen += person.tap(SKIP)  # helped
    seen += person.tap(SKIP)  # barriers
    if still_right is not None:
        seen += person.tap(still_right)
    seen += person.say(step) if step is not None else person.tap(SKIP)
    seen += person.tap("No")  # no contact wanted
    return texts(seen)


def at_the_third_checkin(
    sched: ConversationEngine, db: Engine, who: object, goal_id: int, now: datetime
) -> Person:
    """Two ordinary check-ins answered (no "still right?" yet); the third one sent."""
    person: Person = who.person  # type: ignore[attr-defined]
    for n in range(2):
        assert send_checkin(sched, db, who, goal_id, now + timedelta(days=7 * n)) == 1
        assert "still right" not in ordinary(person, "4", None)
    assert send_checkin(sched, db, who, goal_id, now + timedelta(days=14)) == 1
    return person


def test_the_next_small_step_is_stored_on_the_goal(sched: ConversationEngine, db: Engine) -> None:
    who, goal_id, now = setup(sched, db)
    assert send_checkin(sched, db, who, goal_id, now) == 1
    shown = ordinary(who.person, "5", "Call the job centre on Monday")  # type: ignore[attr-defined]
    assert "What is one small step you'll take next?" in shown
    assert "still right for you" not in shown  # only every third check-in
    row = goal(db, goal_id)
    assert row.next_step == "Call the job centre on Monday"
    assert row.next_step_at is not None
    assert flags(db, "goal_checkin.goal_may_be_met") == []


def test_the_third_checkin_asks_still_right_and_no_flags(
    sched: ConversationEngine, db: Engine
) -> None:
    who, goal_id, now = setup(sched, db)
    person = at_the_third_checkin(sched, db, who, goal_id, now)
    shown = ordinary(person, "4", "Ask about other goals", still_right="No")
    assert "Is this goal still right for you?" in shown
    (flag,) = flags(db, "goal_checkin.goal_not_right")
    assert flag.severity == "routine" and flag.case_id == who.case_id  # type: ignore[attr-defined]
    assert "no longer be right" in flag.reason


def test_a_ten_congratulates_skips_barriers_and_flags_may_be_met(
    sched: ConversationEngine, db: Engine
) -> None:
    who, goal_id, now = setup(sched, db)
    person = who.person  # type: ignore[attr-defined]
    assert send_checkin(sched, db, who, goal_id, now) == 1
    seen = person.read() + person.tap("10")
    assert "Congratulations" in texts(seen)
    seen += person.tap(SKIP)  # helped
    assert "What is one small step" in texts(seen[-1:])  # barriers skipped
    seen += person.say("Tell my family") + person.tap("No")
    assert "What got in the way" not in texts(seen)
    (flag,) = flags(db, "goal_checkin.goal_may_be_met")
    assert flag.severity == "routine"


def test_a_ten_on_the_third_checkin_is_not_asked_whether_still_right(
    sched: ConversationEngine, db: Engine
) -> None:
    who, goal_id, now = setup(sched, db)
    person = at_the_third_checkin(sched, db, who, goal_id, now)
    seen = person.read() + person.tap("10") + person.tap(SKIP)  # helped
    seen += person.say("Celebrate") + person.tap("No")
    assert "Congratulations" in texts(seen) and "still right" not in texts(seen)
    assert flags(db, "goal_checkin.goal_not_right") == []


def test_i_reached_it_at_eight_congratulates(sched: ConversationEngine, db: Engine) -> None:
    who, goal_id, now = setup(sched, db)
    person = who.person  # type: ignore[attr-defined]
    assert send_checkin(sched, db, who, goal_id, now) == 1
    person.read()
    assert "reached this goal" in texts(person.tap("8"))
    assert "Congratulations" in texts(person.tap("I reached it"))
    assert len(flags(db, "goal_checkin.goal_may_be_met")) == 1


def test_a_goal_that_is_not_active_gets_no_checkins(sched: ConversationEngine, db: Engine) -> None:
    who, goal_id, now = setup(sched, db)
    with transaction(db) as session:
        session.execute(update(Goal).where(col(Goal.id) == goal_id).values(status=GoalStatus.MET))
    assert send_checkin(sched, db, who, goal_id, now) == 0


def test_staff_mark_a_goal_met_its_pending_checkin_is_cancelled_and_case_shows_it(
    sched: ConversationEngine, db: Engine
) -> None:
    who, goal_id, now = setup(sched, db)
    assert send_checkin(sched, db, who, goal_id, now) == 1
    ordinary(who.person, "6", "Send two applications")  # type: ignore[attr-defined]
    run_due(sched, now + timedelta(minutes=1))  # settles it and plans the next one
    assert [c.status for c in checkins(db, goal_id)] == ["answered", "pending"]
    maria = Person(sched, db, MANAGER_CHAT, channel="telegram")
    maria.read()
    ref = who.ref  # type: ignore[attr-defined]

    assert "no goal #999" in texts(maria.say(f"/goalstatus {ref} 999 met"))
    assert "/goalstatus REF ID" in texts(maria.say(f"/goalstatus {ref} {goal_id} finished"))
    assert f"Goal #{goal_id} of {ref} is now met." in texts(
        maria.say(f"/goalstatus {ref} {goal_id} met")
    )
    assert goal(db, goal_id).status == GoalStatus.MET
    assert [c.status for c in checkins(db, goal_id)] == ["answered", ContactStatus.CANCELLED]
    (audit,) = audits(db, "goal_status")
    assert audit.detail == {"goal_id": goal_id, "from": "active", "to": "met"}
    summary = texts(maria.say(f"/case {ref}"))
    assert f"Goal #{goal_id} status: met" in summary
    assert "Next step: Send two applications" in summary
    assert run_due(sched, now + timedelta(days=30)).sent == 0  # no more check-ins


def checkins(db: Engine, goal_id: int) -> list[ScheduledContact]:
    return [c for c in contacts(db) if c.goal_id == goal_id]
