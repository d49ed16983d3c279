"""Settling finished contacts: the case's follow-up outcome, the flags, the next check-in.

A contact finishes in one of two places. The dispatcher closes it itself (no reply
after the reminder, a client who may not be contacted) and settles it at once, in
the claiming transaction (:func:`close`). Or it ends elsewhere, answered in the
engine or cancelled on withdrawal, and :func:`settle_finished` finds it later by
its terminal status and empty ``closed_at``.

Settling a row sets ``closed_at`` in the same transaction as everything it writes
(the case's outcome, its flags, the goal's next check-in), so a crash before the
commit leaves the row as it was (still due, or finished but unsettled) and a later
pass settles it whole; a crash after it leaves the row settled, and it is never
looked at again. Each flag also carries a dedupe key, so no flag is raised twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session, col

from cm_bot.domain import ContactStatus, Severity
from cm_bot.engine import ConversationEngine
from cm_bot.engine.ports import ClientView
from cm_bot.engine.staff import StaffDesk
from cm_bot.i18n.translator import N_
from cm_bot.scheduling.plan import aware
from cm_bot.scheduling.planner import CHECKIN, FOLLOWUP, RESCREEN, SchedulePolicy, plan_checkins
from cm_bot.scheduling.report import DispatchReport
from cm_bot.scheduling.rescreens import flag_not_improving, plan_next_rescreens
from cm_bot.storage.models import Case, Client, ScheduledContact
from cm_bot.storage.repository import SqlStore, SqlUnitOfWork

log = logging.getLogger(__name__)

TERMINAL = (
    ContactStatus.ANSWERED,
    ContactStatus.NO_RESPONSE,
    ContactStatus.MISSED,
    ContactStatus.CANCELLED,
)
# Cancellations that are the client's answer to a follow-up, written back to the case.
CASE_OUTCOMES = ("declined", "unreachable", "opted_out", "no_consent")

NO_RESPONSE_REASON = N_("No reply to the post-exit follow-up, also after a reminder")
MISSED_TWICE_REASON = N_("Two goal check-ins in a row went unanswered")
GAVE_UP_REASON = N_("A scheduled contact could not be sent and was given up")


def close(
    engine: ConversationEngine[SqlStore],
    uow: SqlUnitOfWork,
    row: ScheduledContact,
    now: datetime,
    status: str,
    outcome: str,
) -> str:
    """Finish a claimed row here and settle it in the same transaction; returns the action."""
    row.status, row.outcome, row.updated_at = status, outcome, now
    settle(engine, uow, row, now)
    return "cancelled" if status == ContactStatus.CANCELLED else "closed"  # a Batch action


def settle_finished(
    engine: ConversationEngine[SqlStore], now: datetime, policy: SchedulePolicy | None = None
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
        with engine.store.unit(now) as uow:
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
                settle(engine, uow, row, aware(now))
            report.planned += next_checkins(engine, uow, rows, now, policy)
        report.settled += len(rows)
        if len(rows) < policy.batch_size:
            return report


def settle(
    engine: ConversationEngine[SqlStore], uow: SqlUnitOfWork, row: ScheduledContact, now: datetime
) -> None:
    """Write back a finished contact: the case's follow-up outcome, and any flag it raises."""
    session = uow.session
    row.closed_at = now
    assert row.id is not None
    if row.kind == FOLLOWUP:
        outcome = (
            row.status
            if row.status in (ContactStatus.ANSWERED, ContactStatus.NO_RESPONSE)
            else row.outcome
            if row.outcome in CASE_OUTCOMES
            else None
        )
        if outcome is not None:
            session.execute(
                update(Case).where(col(Case.id) == row.case_id).values(followup_outcome=outcome)
            )
        if row.status == ContactStatus.NO_RESPONSE:
            _flag(engine, uow, row, NO_RESPONSE_REASON, "followup_no_response", f"noreply:{row.id}")
    elif (
        row.kind == CHECKIN
        and row.status == ContactStatus.MISSED
        and _previous_missed(session, row)
    ):
        _flag(engine, uow, row, MISSED_TWICE_REASON, "checkin_missed_twice", f"missed2:{row.id}")
    elif row.kind == RESCREEN and row.status == ContactStatus.ANSWERED:
        flag_not_improving(engine, uow, row)  # high, once per case and instrument
    if row.outcome == "error":
        _flag(engine, uow, row, GAVE_UP_REASON, "contact_failed", f"gaveup:{row.id}")
    session.flush()


def next_checkins(
    engine: ConversationEngine[SqlStore],
    uow: SqlUnitOfWork,
    rows: list[ScheduledContact],
    now: datetime,
    policy: SchedulePolicy,
) -> int:
    """Plan the next check-in of each goal (the next re-screen) settled here, if it wants one.

    In the settling transaction, so a goal is never left without its next check-in
    (the sweep would only find it later).
    """
    rescreens = plan_next_rescreens(uow, rows, aware(now), policy)
    if policy.checkin_flow not in engine.flows:
        return rescreens
    goals = {
        row.goal_id
        for row in rows
        if row.kind == CHECKIN and row.goal_id is not None and row.closed_at is not None
    }
    return rescreens + plan_checkins(uow, aware(now), policy, goals)


def _previous_missed(session: Session, row: ScheduledContact) -> bool:
    """Whether the goal's previous check-in (not counting cancelled ones) was missed too."""
    previous = session.execute(
        select(col(ScheduledContact.status))
        .where(
            col(ScheduledContact.goal_id) == row.goal_id,
            col(ScheduledContact.kind) == CHECKIN,
            col(ScheduledContact.id) != row.id,
            col(ScheduledContact.status) != ContactStatus.CANCELLED,
            col(ScheduledContact.planned_for) <= row.planned_for,
        )
        .order_by(col(ScheduledContact.planned_for).desc(), col(ScheduledContact.id).desc())
        .limit(1)
    ).scalar()
    return previous == ContactStatus.MISSED


def _flag(
    engine: ConversationEngine[SqlStore],
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
    flag_client(engine, uow, row.client_id, row.case_id, reason, rule_id, dedupe_key)


def flag_client(
    engine: ConversationEngine[SqlStore],
    uow: SqlUnitOfWork,
    client_id: int,
    case_id: int | None,
    reason: str,
    rule_id: str,
    dedupe_key: str,
) -> None:
    """A routine flag on a client (and case), with a notice to the case manager who holds it.

    Raised outside any conversation, so the client has no channel here: the view is only
    what the flag and the staff targets need.
    """
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
    desk = StaffDesk(
        uow, engine.translator, [], bot_username=engine.bot_username, flows=engine.flows
    )
    desk.raise_flag(view, Severity.ROUTINE, reason, rule_id=rule_id, dedupe_key=dedupe_key)


__all__ = [
    "CASE_OUTCOMES",
    "TERMINAL",
    "close",
    "flag_client",
    "next_checkins",
    "settle",
    "settle_finished",
]
