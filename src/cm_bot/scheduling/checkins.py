"""Goal check-ins: each goal's next one, planned in the transaction that makes it needed.

A goal added, a check-in settled; the sweep (:func:`ensure_checkins`) is the safety net.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlmodel import Session, col

from cm_bot.domain import CaseStatus, ClientStatus, GoalStatus
from cm_bot.flows import FlowRegistry
from cm_bot.scheduling.plan import aware, local_day, next_checkin
from cm_bot.scheduling.policy import CHECKIN, OPEN, SchedulePolicy, client_zone, when_allowed
from cm_bot.scheduling.queries import add_contact, session_of
from cm_bot.storage.models import Case, Client, Goal, ScheduledContact
from cm_bot.storage.repository import SqlUnitOfWork

log = logging.getLogger(__name__)


def plan_next_checkin(
    target: Session | SqlUnitOfWork,
    goal: Goal,
    client: Client,
    now: datetime,
    policy: SchedulePolicy,
) -> int | None:
    """Plan the goal's next check-in after its last one (the first: one period after creation).

    Returns:
        The new contact's id, or ``None`` if it already existed.
    """
    session = session_of(target)
    assert goal.id is not None
    now = aware(now)
    tz, hours = client_zone(client, policy)
    last: ScheduledContact | None = (
        session.execute(
            select(ScheduledContact)
            .where(
                col(ScheduledContact.goal_id) == goal.id,
                col(ScheduledContact.kind) == CHECKIN,
            )
            .order_by(col(ScheduledContact.planned_for).desc(), col(ScheduledContact.id).desc())
        )
        .scalars()
        .first()
    )
    after = last.planned_for if last is not None else None
    day, intended = next_checkin(
        local_day(goal.created_at, tz),
        goal.cadence,
        after=after,
        not_before=now + policy.checkin_min_gap if last is not None else now,
        at=goal.checkin_time or policy.checkin_at,
        tz=tz,
        weekday=goal.checkin_weekday,
    )
    key = f"checkin:{goal.id}:{day.isoformat()}"
    return add_contact(
        session,
        {
            "case_id": goal.case_id,
            "client_id": client.id,
            "flow_id": policy.checkin_flow,
            "kind": CHECKIN,
            "goal_id": goal.id,
            "planned_for": day,
            "due_at": when_allowed(intended, key, tz, hours, policy.spread),
            "dedupe_key": key,
        },
        now,
    )


def goals_needing_checkin(
    session: Session, limit: int = 500, *, goal_ids: Collection[int] | None = None
) -> list[tuple[Goal, Client]]:
    """Active goals of open cases of active clients with no check-in open or unsettled.

    ``goal_ids`` narrows the question to those goals (one that just settled a check-in,
    one just added); without it this is the sweep over every goal.
    """
    open_checkin = exists().where(
        col(ScheduledContact.goal_id) == col(Goal.id),
        col(ScheduledContact.kind) == CHECKIN,
        or_(
            col(ScheduledContact.status).in_(OPEN),
            col(ScheduledContact.closed_at).is_(None),
        ),
    )
    query = (
        select(Goal, Client)
        .join(Case, col(Case.id) == col(Goal.case_id))
        .join(Client, col(Client.id) == col(Case.client_id))
        .where(
            col(Goal.status) == GoalStatus.ACTIVE,
            col(Case.status).in_((CaseStatus.INTAKE, CaseStatus.ACTIVE)),
            col(Client.status) == ClientStatus.ACTIVE,
            ~open_checkin,
        )
        .order_by(col(Goal.id))
        .limit(limit)
    )
    if goal_ids is not None:
        query = query.where(col(Goal.id).in_(sorted(set(goal_ids))))
    return [(goal, client) for goal, client in session.execute(query).all()]


def plan_checkins(
    target: Session | SqlUnitOfWork,
    now: datetime,
    policy: SchedulePolicy,
    goal_ids: Collection[int] | None = None,
) -> int:
    """Give the goals that need one (of ``goal_ids``, or all) their next check-in.

    Called when a goal is added and when one of its check-ins settles, in that
    transaction, so the next check-in exists as soon as the last one is over. Each goal
    is planned in a savepoint: a goal with a cadence this version does not know is
    logged and skipped, never fatal to the caller's transaction.

    Returns:
        How many check-ins were planned.
    """
    session = session_of(target)
    if goal_ids is not None and not goal_ids:
        return 0
    planned = 0
    for goal, client in goals_needing_checkin(session, goal_ids=goal_ids):
        try:
            with session.begin_nested():
                if plan_next_checkin(session, goal, client, now, policy) is not None:
                    planned += 1
        except ValueError:
            log.warning("goal %s has an unknown cadence %r", goal.id, goal.cadence)
    return planned


def ensure_checkins(target: Session | SqlUnitOfWork, now: datetime, policy: SchedulePolicy) -> int:
    """The sweep: give every goal that needs one its next check-in; returns how many.

    Check-ins are planned as goals are added and as check-ins settle
    (:func:`plan_checkins`); the sweep catches what those miss: a client who consents
    again after a withdrawal picks up where the cadence is, a case re-opened, a goal
    added by a path without the planner. The ticker runs it at start-up and then every
    ``policy.checkin_sweep_every``.
    """
    return plan_checkins(target, now, policy)


GoalPlanner = Callable[[Session | SqlUnitOfWork, int, datetime], int]


def goal_planner(flows: FlowRegistry, policy: SchedulePolicy) -> GoalPlanner:
    """What to call when a goal is added: ``planner(uow, goal_id, now)`` plans its first check-in.

    A program without the check-in flow plans none (as the dispatcher's sweep does).
    """
    wanted = policy.checkin_flow in flows

    def plan(target: Session | SqlUnitOfWork, goal_id: int, now: datetime) -> int:
        return plan_checkins(target, now, policy, [goal_id]) if wanted else 0

    return plan


def checkin_still_wanted(session: Session, contact: ScheduledContact) -> str | None:
    """Why a check-in should no longer be sent (goal closed, case exited), or ``None``."""
    goal = session.get(Goal, contact.goal_id) if contact.goal_id is not None else None
    if goal is None or goal.status != GoalStatus.ACTIVE:
        return "goal_closed"
    case = session.get(Case, contact.case_id)
    if case is None or case.status not in (CaseStatus.INTAKE, CaseStatus.ACTIVE):
        return "case_exited"
    return None


__all__ = [
    "GoalPlanner",
    "checkin_still_wanted",
    "ensure_checkins",
    "goal_planner",
    "goals_needing_checkin",
    "plan_checkins",
    "plan_next_checkin",
]
