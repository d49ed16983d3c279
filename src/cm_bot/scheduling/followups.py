"""Post-exit follow-ups: planned in the exit's transaction, cancelled by a re-opening.

Rows are unique on ``dedupe_key``: planning twice (a retried command, two workers) creates
nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from cm_bot.domain import CaseStatus, ContactStatus
from cm_bot.flows import FlowRegistry
from cm_bot.scheduling.plan import at_local, aware
from cm_bot.scheduling.policy import (
    CHECKIN,
    DEFAULT_FOLLOWUP_DAYS,
    FOLLOWUP,
    FOLLOWUP_FLOW,
    SchedulePolicy,
    client_zone,
    when_allowed,
)
from cm_bot.scheduling.queries import add_contact, cancel_open, session_of
from cm_bot.storage.models import AuditLog, Case, Client, ScheduledContact
from cm_bot.storage.repository import SqlUnitOfWork

log = logging.getLogger(__name__)


def followup_days(flows: FlowRegistry, flow_id: str = FOLLOWUP_FLOW) -> list[int]:
    """The program's follow-up days: the flow file's ``followup_days``, else 30, 90 and 180."""
    if flow_id in flows:
        days = flows.get(flow_id).followup_days
        if days:
            return sorted(set(days))
    return list(DEFAULT_FOLLOWUP_DAYS)


def plan_followups(
    target: Session | SqlUnitOfWork,
    case_id: int,
    exit_date: date,
    days: Sequence[int],
    tz: str,
    now: datetime,
    *,
    policy: SchedulePolicy | None = None,
    flow_id: str | None = None,
) -> list[int]:
    """Schedule the post-exit follow-ups of an exited case; call it in the exit's transaction.

    Each follow-up is due ``exit_date + d`` days at the program's follow-up time in
    the client's zone (``tz`` when the client has none), moved into contact hours
    and spread within a cohort. Follow-ups still ahead are kept; of those already
    past (an exit dated back), only the latest is planned, due now: one overdue
    contact, not a backlog. Pending check-ins of the case are cancelled. Planning
    again is harmless; after :func:`reopen_case`, an exit re-plans the cancelled rows.

    Args:
        target: The caller's session or unit of work.
        case_id: The exited case.
        exit_date: The exit date (the client's local calendar day).
        days: Days after the exit, e.g. :func:`followup_days` of the flow file.
        tz: The program's default zone, used when the client has none.
        now: The current time (UTC).
        policy: Times, contact hours and spreading; defaults if omitted.
        flow_id: The follow-up flow (default: the policy's).

    Returns:
        Ids of the contacts planned (new or re-planned).
    """
    policy = replace(policy or SchedulePolicy(), default_timezone=tz)
    flow_id = flow_id or policy.followup_flow
    session = session_of(target)
    now = aware(now)
    case = session.get(Case, case_id)
    if case is None:
        raise ValueError(f"no case {case_id}")
    cancelled = cancel_open(
        session, now, "case_exited", ScheduledContact.case_id == case_id, kind=CHECKIN
    )
    if case.client_id is None:
        log.info("case %s has no client; no follow-ups planned", case.ref)
        return []
    client_tz, hours = client_zone(session.get(Client, case.client_id), policy)
    ahead: list[tuple[int, datetime]] = []
    past: list[int] = []
    for d in sorted(set(days)):
        intended = at_local(exit_date + timedelta(days=d), policy.followup_at, client_tz)
        if intended >= now:
            ahead.append((d, intended))
        else:
            past.append(d)
    # Of the follow-ups already past, only the latest is sent (now): one, not a backlog.
    planned = ([(past[-1], now)] if past else []) + ahead
    ids: list[int] = []
    for d, moment in planned:
        key = f"followup:{case_id}:{exit_date.isoformat()}:{d}"
        due = when_allowed(moment, key, client_tz, hours, policy.spread)
        values = {
            "case_id": case_id,
            "client_id": case.client_id,
            "flow_id": flow_id,
            "kind": FOLLOWUP,
            "planned_for": exit_date + timedelta(days=d),
            "due_at": due,
            "dedupe_key": key,
        }
        new_id = add_contact(session, values, now)
        if new_id is None:
            new_id = _replan(session, key, due, now)
        if new_id is not None:
            ids.append(new_id)
    session.add(
        AuditLog(
            at=now,
            actor="system",
            action="followups_planned",
            case_id=case_id,
            detail={
                "exit_date": exit_date.isoformat(),
                "planned": len(ids),
                "skipped_past": past[:-1],
                "checkins_cancelled": cancelled,
            },
        )
    )
    return ids


ExitPlanner = Callable[[Session | SqlUnitOfWork, int, date, datetime], list[int]]


def exit_planner(flows: FlowRegistry, policy: SchedulePolicy) -> ExitPlanner:
    """What to call when a case is exited: ``planner(uow, case_id, exit_date, now)``.

    Binds the program's follow-up days (from the follow-up flow file) and policy, so
    the exit paths (``cm-bot case exit``, ``/exit``) need only the case and the date.
    """
    days = followup_days(flows, policy.followup_flow)

    def plan(
        target: Session | SqlUnitOfWork, case_id: int, exit_date: date, now: datetime
    ) -> list[int]:
        return plan_followups(
            target, case_id, exit_date, days, policy.default_timezone, now, policy=policy
        )

    return plan


def _replan(session: Session, key: str, due: datetime, now: datetime) -> int | None:
    """A follow-up cancelled by a re-opening comes back when the case is exited again."""
    row: ScheduledContact | None = (
        session.execute(
            select(ScheduledContact)
            .where(col(ScheduledContact.dedupe_key) == key)
            .with_for_update()
        )
        .scalars()
        .first()
    )
    if row is None or not (row.status == ContactStatus.CANCELLED and row.outcome == "reopened"):
        return None  # already planned (or already done): planning twice changes nothing
    row.status, row.outcome, row.due_at = ContactStatus.PENDING.value, None, due
    row.attempts = row.failures = 0
    row.sent_at = row.reminded_at = row.closed_at = None
    row.claimed_by = None
    row.updated_at = now
    return row.id


def reopen_case(target: Session | SqlUnitOfWork, case_id: int, now: datetime) -> int:
    """Re-open an exited case: its open follow-ups are cancelled and the exit is undone.

    The cancelled follow-ups are not "the client's" outcome, so nothing is written
    to ``followup_outcome`` (which is cleared); check-ins resume by goal cadence.

    Returns:
        How many contacts were cancelled.
    """
    session = session_of(target)
    now = aware(now)
    # Contacts first, then the case row: the same lock order as the dispatcher's settling.
    cancelled = cancel_open(
        session, now, "reopened", ScheduledContact.case_id == case_id, kind=FOLLOWUP
    )
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise ValueError(f"no case {case_id}")
    previous = case.exited_at
    case.status, case.exited_at, case.followup_outcome = CaseStatus.ACTIVE, None, None
    session.add(
        AuditLog(
            at=now,
            actor="system",
            action="case_reopened",
            case_id=case_id,
            detail={
                "previous_exit": previous.isoformat() if previous else None,
                "followups_cancelled": cancelled,
            },
        )
    )
    return cancelled


__all__ = ["ExitPlanner", "exit_planner", "followup_days", "plan_followups", "reopen_case"]
