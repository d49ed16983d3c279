"""The dispatcher: claims due contacts and starts their flows through the engine, exactly once.

One pass (:func:`run_due`) settles contacts the engine finished, plans goals'
next check-ins, then claims due rows in batches until none is left. A batch is
one transaction::

    SELECT ... FROM scheduledcontact
     WHERE status IN ('pending', 'sent') AND due_at <= :now
     ORDER BY due_at, id LIMIT :batch
       FOR UPDATE SKIP LOCKED

and, inside that same transaction, each claimed row's flow is started (its
messages written to the outbox) and the row moves on (``sent``, deferred,
reminded, closed). The row's new state and its outbox rows therefore commit
together: a crash before the commit leaves the row due and nothing queued, a
crash after it leaves the row done. Nothing can be sent twice, and a contact
that fell due while no process was running is simply found due on the next pass.

On PostgreSQL any number of processes may run passes at once: ``SKIP LOCKED``
gives each a disjoint set of rows, and the client's row is taken with ``SKIP
LOCKED`` too, so a contact never waits on (or deadlocks with) a message the
client is sending at that moment; it is looked at again shortly. On SQLite the
locking clause does not exist and writers queue behind each other's ``BEGIN
IMMEDIATE``; that is still correct, but **one process is the supported shape**
on SQLite.

Messages are never sent outside the client's contact hours: the check is made
here, at sending time, in the client's current zone, so a zone changed after
planning still counts.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, exists, literal, select, update
from sqlmodel import Session, col

from cm_bot.domain import ClientStatus, RunStatus, Severity
from cm_bot.engine import ConversationEngine
from cm_bot.engine.ports import ClientView
from cm_bot.engine.staff import StaffDesk
from cm_bot.i18n.translator import N_
from cm_bot.scheduling.plan import aware, next_allowed, spread, window_end
from cm_bot.scheduling.planner import (
    CHECKIN,
    FOLLOWUP,
    SchedulePolicy,
    checkin_still_wanted,
    client_zone,
    due_condition,
    ensure_checkins,
    plan_checkins,
    when_allowed,
)
from cm_bot.storage import outbox
from cm_bot.storage.models import (
    Case,
    ChannelIdentity,
    Client,
    Flag,
    FlowRun,
    Goal,
    Outbox,
    Response,
    ScheduledContact,
)
from cm_bot.storage.repository import SqlStore, SqlUnitOfWork
from cm_bot.storage.workers import worker_name

log = logging.getLogger(__name__)
# A contact for a client paused by an urgent flag is looked at again this often.
PAUSED_RETRY = timedelta(minutes=30)

TERMINAL = ("answered", "no_response", "missed", "cancelled")
# A client who may not be contacted: why, as the contact's (and the case's) outcome.
STATUS_OUTCOME = {
    ClientStatus.WITHDRAWN.value: "opted_out",
    ClientStatus.DECLINED.value: "declined",
    ClientStatus.UNREACHABLE.value: "unreachable",
    ClientStatus.ERASED.value: "erased",
}
# Cancellations that are the client's answer to a follow-up, written back to the case.
CASE_OUTCOMES = ("declined", "unreachable", "opted_out", "no_consent")

NO_RESPONSE_REASON = N_("No reply to the post-exit follow-up, also after a reminder")
MISSED_TWICE_REASON = N_("Two goal check-ins in a row went unanswered")
GAVE_UP_REASON = N_("A scheduled contact could not be sent and was given up")
UNKNOWN_SEND_REASON = N_(
    "A message to the client may not have arrived (the connection broke while it was being "
    "sent), so it was not sent again. Please check with the client."
)


@dataclasses.dataclass(slots=True)
class DispatchReport:
    """What one pass (or batch) did; the counts are for logs, tests and ``run-due``."""

    claimed: int = 0
    sent: int = 0
    reminded: int = 0
    deferred: int = 0
    closed: int = 0
    cancelled: int = 0
    failed: int = 0
    settled: int = 0
    planned: int = 0
    retimed: int = 0
    unknown: int = 0

    def add(self, other: DispatchReport) -> None:
        """Add another report's counts to this one."""
        for name in (f.name for f in dataclasses.fields(self)):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def count(self, action: str) -> None:
        """Count one contact's action (``sent``, ``deferred`` ...)."""
        setattr(self, action, getattr(self, action) + 1)

    def __str__(self) -> str:
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in dataclasses.fields(self))


def _sql_store(engine: ConversationEngine) -> SqlStore:
    store = engine.store
    if not isinstance(store, SqlStore):
        raise TypeError("the dispatcher needs the SQL store (it claims rows with SQL)")
    return store


class _JoinedStore:
    """A store whose unit of work is the dispatcher's open transaction."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    @contextmanager
    def unit(self) -> Iterator[SqlUnitOfWork]:
        yield self._uow


def _joined(engine: ConversationEngine, uow: SqlUnitOfWork) -> ConversationEngine:
    """The engine, writing into ``uow``: the flow starts in the claiming transaction."""
    joined = copy.copy(engine)
    joined.store = _JoinedStore(uow)
    return joined


# -- one pass ----------------------------------------------------------------------------------


def run_due(
    engine: ConversationEngine,
    now: datetime,
    policy: SchedulePolicy | None = None,
    *,
    worker: str | None = None,
    max_batches: int | None = None,
    sweep: bool = True,
) -> DispatchReport:
    """One dispatch pass: settle finished contacts, send what is due, plan next check-ins.

    Args:
        engine: The conversation engine (on the SQL store).
        now: The current time (UTC); tests pass a controlled clock.
        policy: Scheduling choices; defaults if omitted.
        worker: Recorded on sent contacts (default ``host:pid``).
        max_batches: Stop after this many batches (default: until nothing is due).
        sweep: Also look at every goal for a missing check-in (:func:`ensure_checkins`).
            Check-ins are planned as goals are added and as check-ins settle, so the
            ticker sweeps only now and then.

    Returns:
        The counts of what was done.
    """
    policy = policy or SchedulePolicy()
    now = aware(now)
    worker = worker or worker_name()
    report = DispatchReport()
    report.add(settle_finished(engine, now, policy))
    report.retimed += retime_overdue(engine, now, policy)
    report.unknown += flag_unknown_sends(engine)
    batches = 0
    while max_batches is None or batches < max_batches:
        batch = dispatch_batch(engine, now, policy, worker=worker)
        report.add(batch)
        batches += 1
        if batch.claimed == 0:
            break
    report.add(settle_finished(engine, now, policy))
    if sweep and policy.checkin_flow in engine.flows:
        with _sql_store(engine).unit() as uow:
            report.planned += ensure_checkins(uow, now, policy)
    if report.claimed or report.settled or report.planned:
        log.info("scheduled contacts: %s", report)
    return report


def dispatch_batch(
    engine: ConversationEngine,
    now: datetime,
    policy: SchedulePolicy,
    *,
    worker: str,
) -> DispatchReport:
    """Claim up to ``batch_size`` due rows and handle each, all in one transaction.

    Each row is handled in a savepoint: one row's error is rolled back alone, counted
    on the row, and the row is looked at again later (given up after a few tries).
    """
    report = DispatchReport()
    with _sql_store(engine).unit() as uow:
        session = uow.session
        rows = list(
            session.execute(
                select(ScheduledContact)
                .where(due_condition(now))
                .order_by(col(ScheduledContact.due_at), col(ScheduledContact.id))
                .limit(policy.batch_size)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        # The cases are read apart from the claim: joined into it, PostgreSQL hashes the
        # whole case table for the 50 rows that need one.
        cases = (
            {
                case.id: case
                for case in session.execute(
                    select(Case).where(col(Case.id).in_({row.case_id for row in rows}))
                ).scalars()
            }
            if rows
            else {}
        )
        claimed = [(row, cases.get(row.case_id)) for row in rows]
        report.claimed = len(claimed)
        joined = _joined(engine, uow)
        batch = _Batch.load(session, [_client_of(row, case) for row, case in claimed])
        for row, case in claimed:
            contact_id = row.id
            assert contact_id is not None
            try:
                with session.begin_nested():
                    action = _handle(joined, uow, batch, row, case, now, policy, worker)
            except Exception:
                log.exception("scheduled contact %s failed", contact_id)
                action = _failed(engine, uow, contact_id, now, policy)
            report.count(action)
        report.planned += _next_checkins(engine, uow, [row for row, _ in claimed], now, policy)
    return report


def _client_of(row: ScheduledContact, case: Case | None) -> int | None:
    return row.client_id if row.client_id is not None else (case.client_id if case else None)


@dataclasses.dataclass(slots=True)
class _Batch:
    """What a batch reads once for all its rows: the clients it could lock, and their runs.

    The client rows stay locked until the batch commits, so nobody else can start or
    move a run of these clients meanwhile; the batch itself records whom it started.
    """

    clients: dict[int, tuple[Client, ChannelIdentity | None]]
    runs: dict[int, FlowRun]
    started: set[int] = dataclasses.field(default_factory=set)

    @classmethod
    def load(cls, session: Session, client_ids: list[int | None]) -> _Batch:
        """Lock the clients (skipping any another transaction holds) and read their open runs."""
        wanted = sorted({i for i in client_ids if i is not None})
        if not wanted:
            return cls({}, {})
        clients: dict[int, tuple[Client, ChannelIdentity | None]] = {}
        for client, identity in session.execute(
            select(Client, ChannelIdentity)
            .outerjoin(ChannelIdentity, col(ChannelIdentity.client_id) == col(Client.id))
            .where(col(Client.id).in_(wanted))
            .order_by(col(Client.id), col(ChannelIdentity.id))
            .with_for_update(of=Client, skip_locked=True)
        ).all():
            assert client.id is not None
            clients.setdefault(client.id, (client, identity))  # the first channel identity
        runs: dict[int, FlowRun] = {}
        if clients:
            for run in session.execute(
                select(FlowRun)
                .where(
                    col(FlowRun.client_id).in_(list(clients)),
                    col(FlowRun.status).in_((RunStatus.ACTIVE.value, RunStatus.PAUSED.value)),
                )
                .order_by(col(FlowRun.id))
            ).scalars():
                runs[run.client_id] = run  # the latest open run
        return cls(clients, runs)


def _handle(
    engine: ConversationEngine,
    uow: SqlUnitOfWork,
    batch: _Batch,
    row: ScheduledContact,
    case: Case | None,
    now: datetime,
    policy: SchedulePolicy,
    worker: str,
) -> str:
    """Decide and do what one claimed row needs; returns the action taken."""
    session = uow.session
    client_id = _client_of(row, case)
    if case is None or client_id is None:
        return _close(engine, uow, row, now, "cancelled", "unreachable")
    row.client_id = client_id
    locked = batch.clients.get(client_id)
    if locked is None:
        return _defer(row, now + policy.busy_retry, now)  # their message is being handled
    client, identity = locked
    barred = STATUS_OUTCOME.get(client.status)
    if barred is not None:
        return _close(engine, uow, row, now, "cancelled", barred)
    if identity is None:
        return _close(engine, uow, row, now, "cancelled", "unreachable")
    if uow.open_urgent_flag(client_id) is not None:
        # Paused for an urgent flag: no automated contact until staff resolve it; the
        # contact goes out after, in the person's hours.
        return _defer(row, now + PAUSED_RETRY, now)
    if row.kind == CHECKIN and row.status == "pending":
        unwanted = checkin_still_wanted(session, row)
        if unwanted is not None:
            return _close(engine, uow, row, now, "cancelled", unwanted)
    if row.kind == FOLLOWUP and row.status == "pending" and case.status in ("intake", "active"):
        # Re-opened by some path other than reopen_case(): a follow-up after exit no more.
        return _close(engine, uow, row, now, "cancelled", "reopened")
    if row.status == "sent":
        replied = _replied(session, row)
        if replied or row.kind != FOLLOWUP or row.attempts >= 2:
            if replied and _own_run_active(batch, client_id, row, now, policy):
                return _defer(row, now + policy.busy_retry, now)  # still answering
            if replied:
                return _close(engine, uow, row, now, "answered", "partial")
            if row.kind == FOLLOWUP:
                return _close(engine, uow, row, now, "no_response", "no_response")
            return _close(engine, uow, row, now, "missed", "missed")
    # A message is due: the first one, or a follow-up's reminder.
    tz, hours = client_zone(client, policy)
    allowed = next_allowed(now, tz, hours)
    if allowed > now:
        key = row.dedupe_key or f"contact:{row.id}"
        return _defer(row, spread(allowed, key, tz, hours, policy.spread), now)
    if _busy(batch, client_id, row, now, policy):
        return _defer(row, now + policy.busy_retry, now)
    action = "reminded" if row.status == "sent" else "sent"
    # The row's new state is written before the flow starts: a flow with no question
    # ends at once, and the engine then marks the row answered on top of it.
    row.attempts += 1
    row.claimed_by = worker
    row.updated_at = now
    if action == "reminded":
        row.reminded_at = now
        row.due_at = now + policy.no_response_after
    else:
        row.status = "sent"
        row.sent_at = now
        wait = policy.reminder_after if row.kind == FOLLOWUP else policy.checkin_window
        row.due_at = now + wait
    session.flush()
    view = ClientView(
        client_id=client_id,
        status=client.status,
        locale=client.locale,
        channel=identity.channel,
        chat_id=identity.chat_id,
        case_id=case.id,
        case_ref=case.ref,
        manager_id=case.manager_id,
    )
    batch.started.add(client_id)
    # Held up past the person's hours (an outage, a backlog), the messages wait for the
    # next window instead of arriving at night.
    closes = window_end(now, tz, hours)
    if not engine.start_flow(
        view, row.flow_id, _context(session, row, case, now), deliver_by=closes
    ):
        # The engine refused (no current consent; other reasons were caught above):
        # nothing was queued, so the row is closed instead.
        row.attempts -= 1
        row.sent_at = row.sent_at if action == "reminded" else None
        row.reminded_at = None
        return _close(engine, uow, row, now, "cancelled", "no_consent")
    return action


def flag_unknown_sends(engine: ConversationEngine, limit: int = 100) -> int:
    """Tell the case manager about each message to a client whose delivery is unknown.

    Such a message is never resent blindly (the person may have it already), so a human
    has to find out; one flag per message (its dedupe key), however often this runs.

    Returns:
        How many flags were raised.
    """
    key = literal("unknown_send:") + cast(col(Outbox.id), String)
    flagged = exists().where(col(Flag.dedupe_key) == key)
    raised = 0
    with _sql_store(engine).unit() as uow:
        session = uow.session
        newest_case = (
            select(col(Case.id))
            .where(col(Case.client_id) == col(Outbox.client_id))
            .order_by(col(Case.id).desc())
            .limit(1)
            .scalar_subquery()
        )
        rows = session.execute(
            select(col(Outbox.id), col(Outbox.client_id), newest_case)
            .where(
                col(Outbox.status) == "unknown",
                col(Outbox.client_id).is_not(None),
                col(Outbox.staff_id).is_(None),  # to the client, not a notice to staff
                ~flagged,
            )
            .order_by(col(Outbox.id))
            .limit(limit)
        ).all()
        for outbox_id, client_id, case_id in rows:
            with session.begin_nested():
                _flag_client(
                    engine,
                    uow,
                    client_id,
                    case_id,
                    UNKNOWN_SEND_REASON,
                    "send_unknown",
                    f"unknown_send:{outbox_id}",
                )
            raised += 1
    return raised


def retime_overdue(engine: ConversationEngine, now: datetime, policy: SchedulePolicy) -> int:
    """Move scheduled messages that missed their contact window to the person's next one.

    An outage or a long backlog can hold a follow-up past 20:00; it must then wait for
    the morning rather than reach someone in the night. A chat's messages move together
    (one spread key per chat), so a flow's introduction and question stay in order.

    Returns:
        How many messages were moved.
    """
    with _sql_store(engine).unit() as uow:
        session = uow.session
        rows = outbox.overdue(session, now)
        if not rows:
            return 0
        ids = {row.client_id for row in rows if row.client_id is not None}
        found = session.execute(select(Client).where(col(Client.id).in_(ids))).scalars()
        clients = {c.id: c for c in found}
        for row in rows:
            tz, hours = client_zone(clients.get(row.client_id or -1), policy)
            opens = when_allowed(now, f"chat:{row.chat_id}", tz, hours, policy.spread)
            row.next_attempt_at = opens
            row.deliver_by = window_end(opens, tz, hours)
        log.info("scheduled messages past contact hours moved to the next window: %d", len(rows))
        return len(rows)


def _defer(row: ScheduledContact, until: datetime, now: datetime) -> str:
    row.due_at = until
    row.updated_at = now
    return "deferred"


def _busy(
    batch: _Batch,
    client_id: int,
    row: ScheduledContact,
    now: datetime,
    policy: SchedulePolicy,
) -> bool:
    """Whether the client is in the middle of another flow (one touched recently)."""
    if client_id in batch.started:
        return True  # this batch just started something for them
    run = batch.runs.get(client_id)
    if run is None or (run.context or {}).get("scheduled_contact_id") == row.id:
        return False  # a reminder replaces the contact's own unanswered run
    return _recent(run.updated_at, now, policy)


def _own_run_active(
    batch: _Batch,
    client_id: int,
    row: ScheduledContact,
    now: datetime,
    policy: SchedulePolicy,
) -> bool:
    run = batch.runs.get(client_id)
    if run is None or (run.context or {}).get("scheduled_contact_id") != row.id:
        return False
    return _recent(run.updated_at, now, policy)


def _recent(updated_at: datetime | None, now: datetime, policy: SchedulePolicy) -> bool:
    """Touched within ``stale_run_after`` of ``now``, either way (clocks of two hosts differ)."""
    if updated_at is None:
        return True
    return abs(now - aware(updated_at)) < policy.stale_run_after


def _replied(session: Session, row: ScheduledContact) -> bool:
    """Whether the client answered anything in a run this contact started."""
    runs = select(col(FlowRun.id)).where(col(FlowRun.scheduled_contact_id) == row.id)
    return bool(session.execute(select(exists().where(col(Response.run_id).in_(runs)))).scalar())


def _context(session: Session, row: ScheduledContact, case: Case, now: datetime) -> dict[str, Any]:
    """What the flow may show and test: the goal and last progress, or days since exit."""
    context: dict[str, Any] = {"scheduled_contact_id": row.id}
    if row.kind == CHECKIN and row.goal_id is not None:
        goal = session.get(Goal, row.goal_id)
        context["goal_id"] = row.goal_id
        context["goal"] = goal.text if goal else ""
        last = session.execute(
            select(col(Response.value))
            .where(col(Response.goal_id) == row.goal_id, col(Response.key) == "checkin.progress")
            .order_by(col(Response.id).desc())
            .limit(1)
        ).scalar()
        if isinstance(last, int) and not isinstance(last, bool):
            context["last_progress"] = last
            context["previous_progress_zero"] = last == 0
    if row.kind == FOLLOWUP and case.exited_at is not None:
        context["days_since_exit"] = (now - aware(case.exited_at)).days
    return context


# -- closing and settling ------------------------------------------------------------------


def _close(
    engine: ConversationEngine,
    uow: SqlUnitOfWork,
    row: ScheduledContact,
    now: datetime,
    status: str,
    outcome: str,
) -> str:
    row.status, row.outcome, row.updated_at = status, outcome, now
    _settle(engine, uow, row, now)
    return "cancelled" if status == "cancelled" else "closed"


def _failed(
    engine: ConversationEngine,
    uow: SqlUnitOfWork,
    contact_id: int,
    now: datetime,
    policy: SchedulePolicy,
) -> str:
    """Count a dispatch error on the row; retry later with backoff, give up after a few."""
    row = uow.session.get(ScheduledContact, contact_id, populate_existing=True)
    assert row is not None
    row.failures += 1
    row.updated_at = now
    if row.failures >= policy.max_failures:
        try:
            with uow.session.begin_nested():
                _close(engine, uow, row, now, "cancelled", "error")
        except Exception:
            log.exception("could not give up scheduled contact %s", contact_id)
            row.due_at = now + policy.busy_retry * 2**row.failures
        return "failed"
    row.due_at = now + policy.busy_retry * 2**row.failures
    return "failed"


def settle_finished(
    engine: ConversationEngine, now: datetime, policy: SchedulePolicy | None = None
) -> DispatchReport:
    """Settle contacts that ended elsewhere (answered in the engine, cancelled on withdrawal).

    Settling writes a follow-up's outcome to the case, raises the flags a finished
    contact calls for and plans a goal's next check-in. Rows are claimed with ``SKIP
    LOCKED``, so several workers may settle at once; each row is settled once
    (``closed_at``).

    Returns:
        How many contacts were settled and how many check-ins planned.
    """
    policy = policy or SchedulePolicy()
    report = DispatchReport()
    while True:
        with _sql_store(engine).unit() as uow:
            rows = list(
                uow.session.execute(
                    select(ScheduledContact)
                    .where(
                        col(ScheduledContact.closed_at).is_(None),
                        col(ScheduledContact.status).in_(TERMINAL),
                    )
                    .order_by(col(ScheduledContact.id))
                    .limit(policy.batch_size)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            for row in rows:
                _settle(engine, uow, row, aware(now))
            report.planned += _next_checkins(engine, uow, rows, now, policy)
        report.settled += len(rows)
        if len(rows) < policy.batch_size:
            return report


def _settle(
    engine: ConversationEngine, uow: SqlUnitOfWork, row: ScheduledContact, now: datetime
) -> None:
    """Write back a finished contact: the case's follow-up outcome, and any flag it raises."""
    session = uow.session
    row.closed_at = now
    assert row.id is not None
    if row.kind == FOLLOWUP:
        outcome = (
            row.status
            if row.status in ("answered", "no_response")
            else row.outcome
            if row.outcome in CASE_OUTCOMES
            else None
        )
        if outcome is not None:
            session.execute(
                update(Case).where(col(Case.id) == row.case_id).values(followup_outcome=outcome)
            )
        if row.status == "no_response":
            _flag(engine, uow, row, NO_RESPONSE_REASON, "followup_no_response", f"noreply:{row.id}")
    elif row.kind == CHECKIN and row.status == "missed" and _previous_missed(session, row):
        _flag(engine, uow, row, MISSED_TWICE_REASON, "checkin_missed_twice", f"missed2:{row.id}")
    if row.outcome == "error":
        _flag(engine, uow, row, GAVE_UP_REASON, "contact_failed", f"gaveup:{row.id}")
    session.flush()


def _next_checkins(
    engine: ConversationEngine,
    uow: SqlUnitOfWork,
    rows: list[ScheduledContact],
    now: datetime,
    policy: SchedulePolicy,
) -> int:
    """Plan the next check-in of each goal whose check-in was settled here, if it wants one.

    In the settling transaction, so a goal is never left without its next check-in
    (the sweep would only find it later).
    """
    if policy.checkin_flow not in engine.flows:
        return 0
    goals = {
        row.goal_id
        for row in rows
        if row.kind == CHECKIN and row.goal_id is not None and row.closed_at is not None
    }
    return plan_checkins(uow, aware(now), policy, goals)


def _previous_missed(session: Session, row: ScheduledContact) -> bool:
    """Whether the goal's previous check-in (not counting cancelled ones) was missed too."""
    previous = session.execute(
        select(col(ScheduledContact.status))
        .where(
            col(ScheduledContact.goal_id) == row.goal_id,
            col(ScheduledContact.kind) == CHECKIN,
            col(ScheduledContact.id) != row.id,
            col(ScheduledContact.status) != "cancelled",
            col(ScheduledContact.planned_for) <= row.planned_for,
        )
        .order_by(col(ScheduledContact.planned_for).desc(), col(ScheduledContact.id).desc())
        .limit(1)
    ).scalar()
    return previous == "missed"


def _flag(
    engine: ConversationEngine,
    uow: SqlUnitOfWork,
    row: ScheduledContact,
    reason: str,
    rule_id: str,
    dedupe_key: str,
) -> None:
    """A routine flag on the contact's case, with a notice to the case manager who holds it."""
    if row.client_id is None:
        log.warning("scheduled contact %s (%s) has no client to flag", row.id, rule_id)
        return
    _flag_client(engine, uow, row.client_id, row.case_id, reason, rule_id, dedupe_key)


def _flag_client(
    engine: ConversationEngine,
    uow: SqlUnitOfWork,
    client_id: int,
    case_id: int | None,
    reason: str,
    rule_id: str,
    dedupe_key: str,
) -> None:
    session = uow.session
    case = session.get(Case, case_id) if case_id is not None else None
    client = session.get(Client, client_id)
    view = ClientView(
        client_id=client_id,
        status=client.status if client else "",
        locale=client.locale if client else None,
        channel="",
        chat_id="",
        case_id=case_id,
        case_ref=case.ref if case else None,
        manager_id=case.manager_id if case else None,
    )
    flag_id = uow.raise_flag(
        view, severity=Severity.ROUTINE, reason=reason, rule_id=rule_id, dedupe_key=dedupe_key
    )
    if flag_id is None:
        return
    desk = StaffDesk(
        uow, engine.translator, [], bot_username=engine.bot_username, flows=engine.flows
    )
    desk.notify(flag_id, uow.staff_targets(view), team=False)


__all__ = [
    "DispatchReport",
    "dispatch_batch",
    "flag_unknown_sends",
    "retime_overdue",
    "run_due",
    "settle_finished",
    "worker_name",
]
