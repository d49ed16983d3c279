"""A case's exit and a goal's addition are events on the unit of work, handled before commit.

Storage records ``CaseExited`` / ``GoalAdded`` on ``uow.events``; the store runs the handlers
bootstrap registered (scheduling's planners) after the block and before the commit, so the
event and what it plans commit together or not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from cm_bot.domain.events import CaseExited, GoalAdded
from cm_bot.engine import ConversationEngine
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case
from cm_bot.storage.uow import SqlUnitOfWork
from tests.scheduling.support import consented_client, contacts

EXIT = datetime(2027, 1, 4, tzinfo=UTC)


class PlannerDown(Exception):
    """A handler's failure."""


def case_status(db: Engine, case_id: int) -> str:
    with transaction(db) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.status


def test_handler_that_fails_rolls_the_exit_back_with_it(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)

    def fail(uow: SqlUnitOfWork, event: CaseExited) -> None:
        raise PlannerDown

    store = SqlStore(db, handlers={CaseExited: fail})
    with pytest.raises(PlannerDown), store.unit() as uow:
        uow.cases.exit_case(who.case_id, EXIT)
    assert case_status(db, who.case_id) != "exited"


def test_events_a_handler_records_are_handled_in_turn_in_the_same_transaction(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    seen: list[object] = []

    def exited(uow: SqlUnitOfWork, event: CaseExited) -> None:
        seen.append(event)
        uow.cases.add_goal(event.case_id, "Keep in touch", "monthly", None, None)

    def goal(uow: SqlUnitOfWork, event: GoalAdded) -> None:
        seen.append(event)
        assert case_status_in(uow, event) == "exited"  # not yet committed, same transaction

    store = SqlStore(db, handlers={CaseExited: exited, GoalAdded: goal})
    with store.unit() as uow:
        uow.cases.exit_case(who.case_id, EXIT)
    assert [type(event) for event in seen] == [CaseExited, GoalAdded]
    assert seen[0] == CaseExited(who.case_id, EXIT.date())


def case_status_in(uow: SqlUnitOfWork, event: GoalAdded) -> str:
    from cm_bot.storage.models import Goal

    goal = uow.session.get(Goal, event.goal_id)
    assert goal is not None
    case = uow.session.get(Case, goal.case_id)
    assert case is not None
    return case.status


def test_exit_inside_a_rolled_back_savepoint_plans_nothing(
    sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    handled: list[object] = []
    store = SqlStore(db, handlers={CaseExited: lambda uow, event: handled.append(event)})
    with store.unit() as uow:
        with pytest.raises(PlannerDown), uow.savepoint():
            uow.cases.exit_case(who.case_id, EXIT)
            raise PlannerDown
        assert uow.events == []
    assert handled == [] and contacts(db, who.case_id) == []
    assert case_status(db, who.case_id) != "exited"


def test_store_without_handlers_drops_the_events(sched: ConversationEngine, db: Engine) -> None:
    who = consented_client(sched, db)
    with SqlStore(db).unit() as uow:
        uow.cases.exit_case(who.case_id, EXIT)
    assert case_status(db, who.case_id) == "exited" and contacts(db, who.case_id) == []
