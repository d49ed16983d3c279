"""Check-ins are planned as goals are added and as check-ins settle; the sweep is a safety net.

Benchmark 3 found the sweep over every goal on every tick quadratic on SQLite. Now each
goal's next check-in is planned in the transaction that makes it needed, the ticker sweeps
only at start-up and then hourly, and the indexes of migration 0005 serve the lookups.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, event, select, text, update
from sqlmodel import col

from cm_bot.domain.events import GoalAdded
from cm_bot.engine import ConversationEngine
from cm_bot.scheduling import SchedulePolicy, event_handlers, housekeeping, run_due
from cm_bot.scheduling.planner import goals_needing_checkin
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Goal, ScheduledContact, metadata
from tests.scheduling.support import (
    add_goal,
    base_now,
    consented_client,
    contacts,
    scheduling_flows,
)


def checkins(db: Engine, goal_id: int) -> list[ScheduledContact]:
    return [c for c in contacts(db) if c.goal_id == goal_id]


def checkins_in(uow: object, goal_id: int) -> int | None:
    """The goal's check-in as the goal's own (uncommitted) transaction sees it."""
    session = uow.session  # type: ignore[attr-defined]
    return session.execute(
        select(col(ScheduledContact.id)).where(col(ScheduledContact.goal_id) == goal_id)
    ).scalar()


def test_goal_added_by_the_case_manager_has_its_first_checkin_in_the_same_transaction(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    store = SqlStore(db, handlers=event_handlers(scheduling_flows(), SchedulePolicy()))
    with store.unit() as uow:
        goal_id = uow.cases.add_goal(who.case_id, "Open a bank account", "weekly", None, None)
        assert uow.events == [GoalAdded(goal_id)]  # recorded; planned as the block ends
        assert checkins_in(uow, goal_id) is None
    (row,) = checkins(db, goal_id)
    assert row.status == "pending" and row.kind == "checkin"
    assert row.due_at > uow.now + timedelta(days=5)  # a week after the goal


def test_goal_of_a_program_without_the_checkin_flow_gets_no_checkin(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    policy = SchedulePolicy(checkin_flow="no_such_flow")
    store = SqlStore(db, handlers=event_handlers(scheduling_flows(), policy))
    with store.unit() as uow:
        goal_id = uow.cases.add_goal(who.case_id, "Open a bank account", "weekly", None, None)
    assert checkins(db, goal_id) == []


def test_checkin_missed_is_followed_by_the_next_one_without_any_sweep(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    created = base_now() - timedelta(days=8)
    goal_id = add_goal(db, who.case_id, created, cadence="weekly")
    assert run_due(sched, created).planned == 1  # the sweep, as at start-up
    (first,) = checkins(db, goal_id)

    sent = run_due(sched, first.due_at, sweep=False)
    assert sent.sent == 1
    (first,) = checkins(db, goal_id)
    window_over = first.due_at  # nobody answers within the check-in window
    report = run_due(sched, window_over, sweep=False)
    assert report.closed == 1 and report.planned == 1
    closed, second = checkins(db, goal_id)
    assert closed.status == "missed" and closed.closed_at is not None
    assert second.status == "pending"
    assert first.planned_for is not None and second.planned_for is not None
    assert second.planned_for > first.planned_for


def test_goal_closed_while_its_checkin_waits_gets_no_successor(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    created = base_now() - timedelta(days=8)
    goal_id = add_goal(db, who.case_id, created, cadence="weekly")
    run_due(sched, created)
    (first,) = checkins(db, goal_id)
    with transaction(db) as session:
        session.execute(update(Goal).where(col(Goal.id) == goal_id).values(status="achieved"))
    report = run_due(sched, first.due_at, sweep=False)
    assert report.cancelled == 1 and report.planned == 0
    (only,) = checkins(db, goal_id)
    assert only.outcome == "goal_closed"


def test_ticker_sweeps_at_start_up_then_hourly_not_every_tick(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    now = base_now()
    tick = housekeeping(sched, SchedulePolicy())
    early = add_goal(db, who.case_id, now)  # written by a path without the planner
    first = tick(now)
    assert first.dispatch is not None and first.dispatch.planned == 1
    assert len(checkins(db, early)) == 1

    late = add_goal(db, who.case_id, now)
    assert tick(now + timedelta(minutes=1)).dispatch.planned == 0  # type: ignore[union-attr]
    assert tick(now + timedelta(minutes=59)).dispatch.planned == 0  # type: ignore[union-attr]
    assert checkins(db, late) == []
    assert tick(now + timedelta(minutes=61)).dispatch.planned == 1  # type: ignore[union-attr]
    assert len(checkins(db, late)) == 1


# -- the indexes of migration 0005 ---------------------------------------------------------

PARTIAL = {
    "ix_contact_goal": "goal_id IS NOT NULL",
    "ix_contact_unsettled": "closed_at IS NULL",
    "ix_response_goal_key": "goal_id IS NOT NULL",
    "ix_flowrun_contact": "scheduled_contact_id IS NOT NULL",
    "ix_outbox_deliver_by": "deliver_by IS NOT NULL",
}


def test_migrated_indexes_are_partial_as_the_models_declare(db: Engine) -> None:
    with db.connect() as conn:
        if db.dialect.name == "sqlite":
            rows = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            ).all()
        else:
            rows = conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                )
            ).all()
    created = {name: sql for name, sql in rows}
    for name, where in PARTIAL.items():
        assert name in created, name
        assert " WHERE " in created[name].upper() and where.split()[0] in created[name], name
        table = next(t for t in metadata.tables.values() for i in t.indexes if i.name == name)
        declared = next(i for i in table.indexes if i.name == name)
        assert str(declared.dialect_options[db.dialect.name]["where"]).startswith(where)
    assert "ix_flag_status_severity" in created


def test_checkin_sweep_looks_goals_up_by_index_on_sqlite(db: Engine) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans the sweep as a hash anti-join; SQLite needs the index")
    with transaction(db) as session:
        captured: list[str] = []
        connection = session.connection()

        def explain(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("SELECT") and "goal" in statement:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                captured.extend(str(row[-1]) for row in cursor.fetchall())

        event.listen(connection, "before_cursor_execute", explain)
        try:
            goals_needing_checkin(session)
        finally:
            event.remove(connection, "before_cursor_execute", explain)
    plan = "\n".join(captured)
    assert "ix_contact_goal" in plan, plan
