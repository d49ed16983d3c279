"""Creating and cancelling scheduled contacts: post-exit follow-ups, goal check-ins, re-opening.

Every function works inside the caller's transaction (a ``Session`` or a
:class:`~cm_bot.storage.repository.SqlUnitOfWork`), so an exit and its follow-ups,
or a re-opening and its cancellations, commit together or not at all. Rows are
unique on ``dedupe_key``: planning twice (a retried command, two workers) creates
nothing new.

The parts: :mod:`~cm_bot.scheduling.policy` (the choices, contact hours),
:mod:`~cm_bot.scheduling.followups`, :mod:`~cm_bot.scheduling.checkins` and
:mod:`~cm_bot.scheduling.queries` (the rows, the listing); every name is importable from
here. This module wires them to the unit of work's events (:func:`event_handlers`).
"""

from __future__ import annotations

from typing import Any

from cm_bot.domain.events import CaseExited, GoalAdded, ReferralMade, RescreenChanged
from cm_bot.flows import FlowRegistry
from cm_bot.scheduling.checkins import (
    GoalPlanner,
    checkin_still_wanted,
    ensure_checkins,
    goal_planner,
    goals_needing_checkin,
    plan_checkins,
    plan_next_checkin,
)
from cm_bot.scheduling.followups import (
    ExitPlanner,
    exit_planner,
    followup_days,
    plan_followups,
    reopen_case,
)
from cm_bot.scheduling.policy import (
    CHECKIN,
    CHECKIN_FLOW,
    DEFAULT_FOLLOWUP_DAYS,
    FOLLOWUP,
    FOLLOWUP_FLOW,
    OPEN,
    REFERRAL,
    REFERRAL_FLOW,
    RESCREEN,
    SchedulePolicy,
    client_zone,
    policy_from_settings,
    when_allowed,
)
from cm_bot.scheduling.queries import Upcoming, due_condition, session_of, upcoming
from cm_bot.scheduling.referrals import plan_referral_checkin
from cm_bot.scheduling.rescreens import plan_rescreen
from cm_bot.storage.repository import EventHandler, SqlUnitOfWork


def event_handlers(flows: FlowRegistry, policy: SchedulePolicy) -> dict[type[Any], EventHandler]:
    """What ``SqlStore(handlers=…)`` runs before an exit's (a goal's) transaction commits.

    :class:`CaseExited` plans the post-exit follow-ups, :class:`GoalAdded` the goal's first
    check-in, :class:`ReferralMade` the referral's "did you get help?" contact,
    :class:`RescreenChanged` the next re-screen (or none, when stopped), each in the unit of
    work that recorded the event.
    """
    on_exit = exit_planner(flows, policy)
    on_goal = goal_planner(flows, policy)

    def plan_exit_followups(uow: SqlUnitOfWork, event: CaseExited) -> None:
        on_exit(uow, event.case_id, event.exit_date, uow.now)

    def plan_first_checkin(uow: SqlUnitOfWork, event: GoalAdded) -> None:
        on_goal(uow, event.goal_id, uow.now)

    def plan_referral(uow: SqlUnitOfWork, event: ReferralMade) -> None:
        if policy.referral_flow in flows:
            plan_referral_checkin(uow, event.referral_id, event.ask, uow.now, policy)

    def plan_rescreens(uow: SqlUnitOfWork, event: RescreenChanged) -> None:
        if policy.rescreen_flows.get(event.instrument) in flows:
            plan_rescreen(uow, event.case_id, event.instrument, uow.now, policy)

    return {
        CaseExited: plan_exit_followups,
        GoalAdded: plan_first_checkin,
        ReferralMade: plan_referral,
        RescreenChanged: plan_rescreens,
    }


__all__ = [
    "CHECKIN",
    "CHECKIN_FLOW",
    "DEFAULT_FOLLOWUP_DAYS",
    "FOLLOWUP",
    "FOLLOWUP_FLOW",
    "OPEN",
    "REFERRAL",
    "REFERRAL_FLOW",
    "RESCREEN",
    "ExitPlanner",
    "GoalPlanner",
    "SchedulePolicy",
    "Upcoming",
    "checkin_still_wanted",
    "client_zone",
    "due_condition",
    "ensure_checkins",
    "event_handlers",
    "exit_planner",
    "followup_days",
    "goal_planner",
    "goals_needing_checkin",
    "plan_checkins",
    "plan_followups",
    "plan_next_checkin",
    "plan_referral_checkin",
    "policy_from_settings",
    "reopen_case",
    "session_of",
    "upcoming",
    "when_allowed",
]
