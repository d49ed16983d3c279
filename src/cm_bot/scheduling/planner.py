"""Creating and cancelling scheduled contacts: post-exit follow-ups, goal check-ins, re-opening.

Every function works inside the caller's transaction (a ``Session`` or a
:class:`~cm_bot.storage.repository.SqlUnitOfWork`), so an exit and its follow-ups,
or a re-opening and its cancellations, commit together or not at all. Rows are
unique on ``dedupe_key``: planning twice (a retried command, two workers) creates
nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from cm_bot.flows import FlowRegistry
from cm_bot.scheduling.plan import (
    ContactHours,
    at_local,
    aware,
    local_day,
    next_allowed,
    next_checkin,
    spread,
    zone,
)
from cm_bot.storage.models import AuditLog, Case, Client, Goal, ScheduledContact
from cm_bot.storage.repository import SqlUnitOfWork

log = logging.getLogger(__name__)

OPEN = ("pending", "sent")
CHECKIN, FOLLOWUP = "checkin", "followup"
DEFAULT_FOLLOWUP_DAYS = (30, 90, 180)
FOLLOWUP_FLOW = "exit_followup"
CHECKIN_FLOW = "goal_checkin"


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    """The program's scheduling choices; every field has a safe default.

    Attributes:
        default_timezone: Zone of clients who have none set (an IANA name).
        contact_hours: Local hours in which clients may be messaged.
        checkin_at: Local time of a check-in when the goal names none.
        followup_at: Local time of a post-exit follow-up.
        spread: Contacts due at the same minute are spread over this long.
        reminder_after: A follow-up without a reply is sent once more after this long.
        no_response_after: After the reminder, the wait before ``no_response``.
        checkin_window: A check-in without a reply is ``missed`` after this long.
        checkin_min_gap: The next check-in is at least this far from when the last closed.
        busy_retry: How soon to look again when the client is mid-flow or mid-message.
        stale_run_after: An open run untouched this long no longer holds contacts back.
        batch_size: Rows claimed per transaction.
        checkin_sweep_every: How often the ticker sweeps every goal for a missing check-in.
        max_failures: Dispatch errors after which a contact is given up (and flagged).
        checkin_flow: The flow a check-in runs.
        followup_flow: The flow a post-exit follow-up runs.
    """

    default_timezone: str = "UTC"
    contact_hours: ContactHours = field(default_factory=ContactHours)
    checkin_at: time = time(10, 0)
    followup_at: time = time(10, 0)
    spread: timedelta = timedelta(minutes=15)
    reminder_after: timedelta = timedelta(days=3)
    no_response_after: timedelta = timedelta(days=3)
    checkin_window: timedelta = timedelta(days=3)
    checkin_min_gap: timedelta = timedelta(days=1)
    busy_retry: timedelta = timedelta(minutes=15)
    stale_run_after: timedelta = timedelta(hours=24)
    batch_size: int = 50
    checkin_sweep_every: timedelta = timedelta(hours=1)
    max_failures: int = 5
    checkin_flow: str = CHECKIN_FLOW
    followup_flow: str = FOLLOWUP_FLOW


def policy_from_settings(settings: Any) -> SchedulePolicy:
    """Build the policy from :class:`cm_bot.settings.Settings`, using defaults for unset fields.

    Reads ``timezone`` and ``contact_hours`` (``"09:00-20:00"``); an object without them
    (a test's stand-in for settings) gets UTC and the default contact hours.
    """
    hours = getattr(settings, "contact_hours", None)
    return SchedulePolicy(
        default_timezone=str(getattr(settings, "timezone", None) or "UTC"),
        contact_hours=ContactHours.parse(hours) if isinstance(hours, str) else ContactHours(),
    )


def session_of(target: Session | SqlUnitOfWork) -> Session:
    """The session behind a unit of work (or the session itself)."""
    return target.session if isinstance(target, SqlUnitOfWork) else target


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ScheduledContact)


def client_zone(client: Client | None, policy: SchedulePolicy) -> tuple[ZoneInfo, ContactHours]:
    """The client's zone and contact hours (the program's defaults where the client has none)."""
    if client is None:
        return zone(None, policy.default_timezone), policy.contact_hours
    hours = policy.contact_hours
    if client.contact_start is not None or client.contact_end is not None:
        hours = ContactHours(client.contact_start or hours.start, client.contact_end or hours.end)
    return zone(client.timezone, policy.default_timezone), hours


def when_allowed(
    moment: datetime, key: str, tz: ZoneInfo, hours: ContactHours, width: timedelta
) -> datetime:
    """The first allowed time at or after ``moment``, spread by ``key`` within the window."""
    return spread(next_allowed(moment, tz, hours), key, tz, hours, width)


def _add_contact(session: Session, values: dict[str, Any], now: datetime) -> int | None:
    """Insert unless the dedupe key exists; returns the new id or ``None``."""
    statement = (
        _insert(session)
        .values(
            status="pending",
            attempts=0,
            failures=0,
            created_at=now,
            updated_at=now,
            **values,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(col(ScheduledContact.id))
    )
    row = session.execute(statement).first()
    return None if row is None else int(row[0])


# -- post-exit follow-ups -------------------------------------------------------------------


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
    cancelled = _cancel_open(
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
        new_id = _add_contact(session, values, now)
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
    if row is None or not (row.status == "cancelled" and row.outcome == "reopened"):
        return None  # already planned (or already done): planning twice changes nothing
    row.status, row.outcome, row.due_at = "pending", None, due
    row.attempts = row.failures = 0
    row.sent_at = row.reminded_at = row.closed_at = None
    row.claimed_by = None
    row.updated_at = now
    return row.id


def _cancel_open(
    session: Session, now: datetime, outcome: str, *where: Any, kind: str | None = None
) -> int:
    """Cancel open contacts matching ``where``; settled at once (nothing to write back)."""
    conditions = [col(ScheduledContact.status).in_(OPEN), *where]
    if kind is not None:
        conditions.append(col(ScheduledContact.kind) == kind)
    result = session.execute(
        update(ScheduledContact)
        .where(*conditions)
        .values(status="cancelled", outcome=outcome, updated_at=now, closed_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


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
    cancelled = _cancel_open(
        session, now, "reopened", ScheduledContact.case_id == case_id, kind=FOLLOWUP
    )
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise ValueError(f"no case {case_id}")
    previous = case.exited_at
    case.status, case.exited_at, case.followup_outcome = "active", None, None
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


# -- goal check-ins --------------------------------------------------------------------------


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
    return _add_contact(
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
            col(Goal.status) == "active",
            col(Case.status).in_(("intake", "active")),
            col(Client.status) == "active",
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
    if goal is None or goal.status != "active":
        return "goal_closed"
    case = session.get(Case, contact.case_id)
    if case is None or case.status not in ("intake", "active"):
        return "case_exited"
    return None


# -- listing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upcoming:
    """One open contact as ``schedule list`` shows it."""

    contact_id: int
    case_ref: str
    kind: str
    flow_id: str
    status: str
    due_at: datetime
    local_due: datetime
    timezone: str
    attempts: int

    @property
    def next_action(self) -> str:
        """What happens at ``due_at``."""
        if self.status == "pending":
            return "send"
        if self.kind == FOLLOWUP and self.attempts < 2:
            return "remind if no reply"
        return "close if no reply"


def upcoming(
    target: Session | SqlUnitOfWork,
    ref: str | None = None,
    *,
    default_timezone: str = "UTC",
    limit: int = 100,
) -> list[Upcoming]:
    """Open contacts (pending, or sent and waiting for a reply), soonest first."""
    session = session_of(target)
    query = (
        select(ScheduledContact, Case, Client)
        .join(Case, col(Case.id) == col(ScheduledContact.case_id))
        .outerjoin(Client, col(Client.id) == col(Case.client_id))
        .where(col(ScheduledContact.status).in_(OPEN))
        .order_by(col(ScheduledContact.due_at), col(ScheduledContact.id))
        .limit(limit)
    )
    if ref is not None:
        query = query.where(col(Case.ref) == ref.strip().upper())
    result: list[Upcoming] = []
    for contact, case, client in session.execute(query).all():
        assert contact.id is not None
        tz = zone(client.timezone if client else None, default_timezone)
        due = aware(contact.due_at)
        result.append(
            Upcoming(
                contact_id=contact.id,
                case_ref=case.ref,
                kind=contact.kind,
                flow_id=contact.flow_id,
                status=contact.status,
                due_at=due,
                local_due=due.astimezone(tz),
                timezone=str(tz.key),
                attempts=contact.attempts,
            )
        )
    return result


def due_condition(now: datetime) -> Any:
    """Rows the dispatcher must look at now."""
    return and_(col(ScheduledContact.status).in_(OPEN), col(ScheduledContact.due_at) <= now)


__all__ = [
    "CHECKIN",
    "FOLLOWUP",
    "OPEN",
    "SchedulePolicy",
    "Upcoming",
    "checkin_still_wanted",
    "client_zone",
    "due_condition",
    "ensure_checkins",
    "exit_planner",
    "followup_days",
    "goal_planner",
    "goals_needing_checkin",
    "plan_checkins",
    "plan_followups",
    "plan_next_checkin",
    "policy_from_settings",
    "reopen_case",
    "session_of",
    "upcoming",
    "when_allowed",
]
