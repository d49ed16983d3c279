"""The dispatcher: claims due contacts and starts their flows through the engine, exactly once.

One pass (:func:`run_due`) settles contacts the engine finished, plans goals'
next check-ins, tidies the outbox, then claims due rows in batches until none is
left. A batch is one transaction::

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
LOCKED`` too (:mod:`~cm_bot.scheduling.contact`). On SQLite the locking clause
does not exist and writers queue behind each other's ``BEGIN IMMEDIATE``; that is
still correct, but **one process is the supported shape** on SQLite.

The parts of a pass live beside this module, each with what a crash there leaves:
:mod:`~cm_bot.scheduling.upkeep` (outbox rows past contact hours or of unknown
delivery), :mod:`~cm_bot.scheduling.contact` (one claimed row: its states, contact
hours, the flow started), :mod:`~cm_bot.scheduling.settle` (finished contacts
written back to the case, flags, next check-ins).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.scheduling.contact import Batch, client_of, failed, handle
from cm_bot.scheduling.plan import aware
from cm_bot.scheduling.planner import SchedulePolicy, due_condition, ensure_checkins
from cm_bot.scheduling.report import DispatchReport
from cm_bot.scheduling.settle import next_checkins, settle_finished
from cm_bot.scheduling.upkeep import clear_old_messages, flag_unknown_sends, retime_overdue
from cm_bot.storage.models import Case, ScheduledContact
from cm_bot.storage.repository import SqlStore
from cm_bot.storage.workers import worker_name

log = logging.getLogger(__name__)


def run_due(
    engine: ConversationEngine[SqlStore],
    now: datetime | None = None,
    policy: SchedulePolicy | None = None,
    *,
    worker: str | None = None,
    max_batches: int | None = None,
    sweep: bool = True,
) -> DispatchReport:
    """One dispatch pass: settle finished contacts, send what is due, plan next check-ins.

    Args:
        engine: The conversation engine, on the SQL store: rows are claimed with SQL,
            and each flow is started in the claiming transaction
            (:meth:`ConversationEngine.start_flow` takes it).
        now: The pass's time (UTC), which every transaction of the pass runs at (the
            ticker's clock; default: the store's clock).
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
    now = aware(now) if now is not None else engine.store.clock.now()
    worker = worker or worker_name()
    report = DispatchReport()
    report.add(settle_finished(engine, now, policy))
    report.retimed += retime_overdue(engine, now, policy)
    report.unknown += flag_unknown_sends(engine, now=now)
    clear_old_messages(engine, now)  # the clients' automatic clear (/clear N)
    batches = 0
    while max_batches is None or batches < max_batches:
        batch = dispatch_batch(engine, now, policy, worker=worker)
        report.add(batch)
        batches += 1
        if batch.claimed == 0:
            break
    report.add(settle_finished(engine, now, policy))
    if sweep and policy.checkin_flow in engine.flows:
        with engine.store.unit(now) as uow:
            report.planned += ensure_checkins(uow, now, policy)
    if report.claimed or report.settled or report.planned:
        log.info("scheduled contacts: %s", report)
    return report


def dispatch_batch(
    engine: ConversationEngine[SqlStore],
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
    with engine.store.unit(now) as uow:
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
        batch = Batch.load(session, [client_of(row, case) for row, case in claimed])
        for row, case in claimed:
            contact_id = row.id
            assert contact_id is not None
            try:
                with session.begin_nested():
                    action = handle(engine, uow, batch, row, case, now, policy, worker)
            except Exception:
                log.exception("scheduled contact %s failed", contact_id)
                action = failed(engine, uow, contact_id, now, policy)
            report.count(action)
        report.planned += next_checkins(engine, uow, [row for row, _ in claimed], now, policy)
    return report


__all__ = [
    "DispatchReport",
    "dispatch_batch",
    "flag_unknown_sends",
    "retime_overdue",
    "run_due",
    "settle_finished",
    "worker_name",
]
