"""One claimed contact: what it needs now, decided and done inside the claiming transaction.

:func:`handle` runs in the dispatcher's batch transaction (see
:mod:`~cm_bot.scheduling.dispatcher` for what a crash leaves), in a savepoint of its
own, and walks the contact's states in order:

1. **May the person be contacted at all?** A contact with no client or no chat, or
   for a withdrawn, declined, unreachable or erased client, is closed; one for a
   client paused by an urgent flag is deferred.
2. **Is it still wanted?** A check-in for a closed goal, a follow-up for a re-opened
   case are cancelled.
3. **Sent, and waiting?** Answered, or waited out (after a follow-up's one reminder),
   it is closed; a client still answering defers it.
4. **A message is due:** the first one, or a follow-up's reminder.

The client's row is locked with ``SKIP LOCKED`` (:class:`Batch`), so a contact never
waits on (or deadlocks with) a message the client is sending at that moment; it is
deferred and looked at again shortly.

Messages are never sent outside the client's contact hours: the check is made
here, at sending time, in the client's current zone, so a zone changed after
planning still counts.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlmodel import Session, col

from cm_bot.domain import CaseStatus, ClientStatus, ContactStatus, RunStatus
from cm_bot.engine import ConversationEngine
from cm_bot.engine.config import CONTACT, GOAL, REFERRAL_ASK, REFERRAL_ID
from cm_bot.engine.ports import ClientView
from cm_bot.scheduling.plan import aware, next_allowed, spread, window_end
from cm_bot.scheduling.planner import (
    CHECKIN,
    FOLLOWUP,
    REFERRAL,
    RESCREEN,
    SchedulePolicy,
    checkin_still_wanted,
    client_zone,
)
from cm_bot.scheduling.referrals import ask_number, referral_still_wanted
from cm_bot.scheduling.rescreens import rescreen_still_wanted
from cm_bot.scheduling.settle import close
from cm_bot.scheduling.staff_tasks import staff_task
from cm_bot.storage.models import (
    Case,
    ChannelIdentity,
    Client,
    FlowRun,
    Goal,
    Referral,
    Response,
    ScheduledContact,
)
from cm_bot.storage.repository import SqlStore, SqlUnitOfWork

log = logging.getLogger(__name__)
# A contact for a client paused by an urgent flag is looked at again this often.
PAUSED_RETRY = timedelta(minutes=30)
# Contacts that get one reminder and then end as ``no_response`` (a check-in is ``missed``).
REMINDED = (FOLLOWUP, REFERRAL, RESCREEN)

# A client who may not be contacted: why, as the contact's (and the case's) outcome.
STATUS_OUTCOME = {
    ClientStatus.WITHDRAWN.value: "opted_out",
    ClientStatus.DECLINED.value: "declined",
    ClientStatus.UNREACHABLE.value: "unreachable",
    ClientStatus.ERASED.value: "erased",
}


def client_of(row: ScheduledContact, case: Case | None) -> int | None:
    """The contact's client: its own, or its case's."""
    return row.client_id if row.client_id is not None else (case.client_id if case else None)


@dataclasses.dataclass(slots=True)
class Batch:
    """What a batch reads once for all its rows: the clients it could lock, and their runs.

    The client rows stay locked until the batch commits, so nobody else can start or
    move a run of these clients meanwhile; the batch itself records whom it started.
    """

    clients: dict[int, tuple[Client, ChannelIdentity | None]]
    runs: dict[int, FlowRun]
    started: set[int] = dataclasses.field(default_factory=set)

    @classmethod
    def load(cls, session: Session, client_ids: list[int | None]) -> Batch:
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


def handle(
    engine: ConversationEngine[SqlStore],
    uow: SqlUnitOfWork,
    batch: Batch,
    row: ScheduledContact,
    case: Case | None,
    now: datetime,
    policy: SchedulePolicy,
    worker: str,
) -> str:
    """Decide and do what one claimed row needs; returns the action taken."""
    client_id = client_of(row, case)
    if case is None or client_id is None:
        return close(engine, uow, row, now, ContactStatus.CANCELLED, "unreachable")
    row.client_id = client_id
    locked = batch.clients.get(client_id)
    if locked is None:
        return _defer(row, now + policy.busy_retry, now)  # their message is being handled
    client, identity = locked
    barred = STATUS_OUTCOME.get(client.status)
    if barred is not None:
        return close(engine, uow, row, now, ContactStatus.CANCELLED, barred)
    if identity is None:
        return close(engine, uow, row, now, ContactStatus.CANCELLED, "unreachable")
    if uow.flags.open_urgent_flag(client_id) is not None:
        # Paused for an urgent flag: no automated contact until staff resolve it; the
        # contact goes out after, in the person's hours.
        return _defer(row, now + PAUSED_RETRY, now)
    unwanted = _unwanted(uow.session, row, case, policy)
    if unwanted is not None:
        return close(engine, uow, row, now, ContactStatus.CANCELLED, unwanted)
    if row.status == ContactStatus.SENT:
        done = _after_sent(engine, uow, batch, row, client_id, now, policy)
        if done is not None:
            return done
    return _due(engine, uow, batch, row, case, (client, identity), now, policy, worker)


def _unwanted(
    session: Session, row: ScheduledContact, case: Case, policy: SchedulePolicy
) -> str | None:
    """Why a contact not yet sent is no longer wanted, or ``None``."""
    if row.status != ContactStatus.PENDING:
        return None
    if row.kind == CHECKIN:
        return checkin_still_wanted(session, row)
    if row.kind == REFERRAL:
        return referral_still_wanted(session, row)
    if row.kind == RESCREEN:
        return rescreen_still_wanted(session, row, policy)
    if row.kind == FOLLOWUP and case.status in (CaseStatus.INTAKE, CaseStatus.ACTIVE):
        # Re-opened by some path other than reopen_case(): a follow-up after exit no more.
        return "reopened"
    return None


def _after_sent(
    engine: ConversationEngine[SqlStore],
    uow: SqlUnitOfWork,
    batch: Batch,
    row: ScheduledContact,
    client_id: int,
    now: datetime,
    policy: SchedulePolicy,
) -> str | None:
    """Close a sent contact that was answered or waited out; ``None`` if a reminder is due."""
    replied = _replied(uow.session, row)
    if not replied and row.kind in REMINDED and row.attempts < 2:
        return None  # a follow-up (a referral check-in, a re-screen) gets one reminder
    if replied and _own_run_active(batch, client_id, row, now, policy):
        return _defer(row, now + policy.busy_retry, now)  # still answering
    if replied:
        return close(engine, uow, row, now, ContactStatus.ANSWERED, "partial")
    if row.kind in REMINDED:
        return close(engine, uow, row, now, ContactStatus.NO_RESPONSE, ContactStatus.NO_RESPONSE)
    return close(engine, uow, row, now, ContactStatus.MISSED, ContactStatus.MISSED)


def _due(
    engine: ConversationEngine[SqlStore],
    uow: SqlUnitOfWork,
    batch: Batch,
    row: ScheduledContact,
    case: Case,
    locked: tuple[Client, ChannelIdentity],
    now: datetime,
    policy: SchedulePolicy,
    worker: str,
) -> str:
    """A message is due: send it now, in the person's hours and between their flows, or defer."""
    client, identity = locked
    assert client.id is not None
    if client.message_first is False:
        # Not safe to message them first: the case manager calls or sees them instead.
        return staff_task(engine, uow, row, case, now)
    tz, hours = client_zone(client, policy)
    allowed = next_allowed(now, tz, hours)
    if allowed > now:
        key = row.dedupe_key or f"contact:{row.id}"
        return _defer(row, spread(allowed, key, tz, hours, policy.spread), now)
    if _busy(batch, client.id, row, now, policy):
        return _defer(row, now + policy.busy_retry, now)
    action = "reminded" if row.status == ContactStatus.SENT else ContactStatus.SENT
    # The row's new state is written before the flow starts: a flow with no question
    # ends at once, and the engine then marks the row answered on top of it.
    _mark(row, action, now, policy, worker)
    uow.session.flush()
    view = ClientView(
        client_id=client.id,
        status=client.status,
        locale=client.locale,
        channel=identity.channel,
        chat_id=identity.chat_id,
        case_id=case.id,
        case_ref=case.ref,
        manager_id=case.manager_id,
    )
    batch.started.add(client.id)
    # Held up past the person's hours (an outage, a backlog), the messages wait for the
    # next window instead of arriving at night.
    closes = window_end(now, tz, hours)
    if not engine.start_flow(
        uow,
        view,
        row.flow_id,
        _context(uow.session, row, case, now, policy),
        state=_state(row),
        deliver_by=closes,
    ):
        # The engine refused (no current consent; other reasons were caught above):
        # nothing was queued, so the row is closed instead.
        row.attempts -= 1
        row.sent_at = row.sent_at if action == "reminded" else None
        row.reminded_at = None
        return close(engine, uow, row, now, ContactStatus.CANCELLED, "no_consent")
    return action


def _mark(
    row: ScheduledContact, action: str, now: datetime, policy: SchedulePolicy, worker: str
) -> None:
    """The row's state once its message is out: sent (or reminded), and when to look again."""
    row.attempts += 1
    row.claimed_by = worker
    row.updated_at = now
    if action == "reminded":
        row.reminded_at = now
        row.due_at = now + policy.no_response_after
    else:
        row.status = ContactStatus.SENT
        row.sent_at = now
        followed_up = row.kind in (FOLLOWUP, REFERRAL)  # one reminder, then no_response
        wait = policy.reminder_after if followed_up else policy.checkin_window
        row.due_at = now + wait


def failed(
    engine: ConversationEngine[SqlStore],
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
                close(engine, uow, row, now, ContactStatus.CANCELLED, "error")
        except Exception:
            log.exception("could not give up scheduled contact %s", contact_id)
            row.due_at = now + policy.busy_retry * 2**row.failures
        return "failed"
    row.due_at = now + policy.busy_retry * 2**row.failures
    return "failed"


def _defer(row: ScheduledContact, until: datetime, now: datetime) -> str:
    row.due_at = until
    row.updated_at = now
    return "deferred"


def _busy(
    batch: Batch,
    client_id: int,
    row: ScheduledContact,
    now: datetime,
    policy: SchedulePolicy,
) -> bool:
    """Whether the client is in the middle of another flow (one touched recently)."""
    if client_id in batch.started:
        return True  # this batch just started something for them
    run = batch.runs.get(client_id)
    if run is None or run.scheduled_contact_id == row.id:
        return False  # a reminder replaces the contact's own unanswered run
    return _recent(run.updated_at, now, policy)


def _own_run_active(
    batch: Batch,
    client_id: int,
    row: ScheduledContact,
    now: datetime,
    policy: SchedulePolicy,
) -> bool:
    run = batch.runs.get(client_id)
    if run is None or run.scheduled_contact_id != row.id:
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


def _state(row: ScheduledContact) -> dict[str, Any]:
    """The engine's keys of the run: which contact (and goal) its answers belong to."""
    state: dict[str, Any] = {CONTACT: row.id}
    if row.kind == CHECKIN and row.goal_id is not None:
        state[GOAL] = row.goal_id
    if row.kind == REFERRAL and row.referral_id is not None:
        state[REFERRAL_ID] = row.referral_id
        state[REFERRAL_ASK] = ask_number(row)
    return state


def _context(
    session: Session,
    row: ScheduledContact,
    case: Case,
    now: datetime,
    policy: SchedulePolicy | None = None,
) -> dict[str, Any]:
    """What the flow may show and test: the goal and last progress, or days since exit."""
    context: dict[str, Any] = {}
    if row.kind == CHECKIN and row.goal_id is not None:
        goal = session.get(Goal, row.goal_id)
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
        answered = session.execute(
            select(func.count())
            .select_from(Response)
            .where(col(Response.goal_id) == row.goal_id, col(Response.key) == "checkin.progress")
        ).scalar_one()
        context["checkin_number"] = int(answered) + 1  # "still right for you?" every third
    if row.kind == FOLLOWUP and case.exited_at is not None:
        context["days_since_exit"] = (now - aware(case.exited_at)).days
    if row.kind == REFERRAL and row.referral_id is not None:
        referral = session.get(Referral, row.referral_id)
        context["service"] = referral.service_name if referral else ""
        context["asked_before"] = ask_number(row) > 1
        context["days"] = (policy or SchedulePolicy()).referral_checkin_days
    return context


__all__ = ["PAUSED_RETRY", "STATUS_OUTCOME", "Batch", "client_of", "failed", "handle"]
