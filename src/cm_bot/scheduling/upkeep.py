"""Outbox upkeep each dispatch pass does first: late messages re-timed, unknown sends flagged.

Both work on rows already in the outbox, each in one transaction of its own, and
both are safe to repeat: a crash before the commit leaves the rows as they were
for the next pass, and a crash after it leaves them done. A re-timed message is
no longer overdue, and a flagged send is never flagged again (the flag's dedupe
key names the message).

They live here, not in :mod:`cm_bot.notify`: re-timing needs the client's contact
hours (:mod:`~cm_bot.scheduling.planner`), and the flag is raised the way settling
raises its own (:func:`~cm_bot.scheduling.settle.flag_client`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import String, cast, exists, literal, select
from sqlmodel import col

from cm_bot.domain import OutboxKind, OutboxStatus
from cm_bot.engine import ConversationEngine
from cm_bot.engine.clearing import auto_clear
from cm_bot.i18n.translator import N_
from cm_bot.scheduling.plan import window_end
from cm_bot.scheduling.planner import SchedulePolicy, client_zone, when_allowed
from cm_bot.scheduling.settle import flag_client
from cm_bot.storage import outbox
from cm_bot.storage.models import Case, Client, Flag, Outbox
from cm_bot.storage.repository import SqlStore

log = logging.getLogger(__name__)

UNKNOWN_SEND_REASON = N_(
    "A message to the client may not have arrived (the connection broke while it was being "
    "sent), so it was not sent again. Please check with the client."
)


def flag_unknown_sends(
    engine: ConversationEngine[SqlStore], limit: int = 100, *, now: datetime | None = None
) -> int:
    """Tell the case manager about each message to a client whose delivery is unknown.

    Such a message is never resent blindly (the person may have it already), so a human
    has to find out; one flag per message (its dedupe key), however often this runs.

    Returns:
        How many flags were raised.
    """
    key = literal("unknown_send:") + cast(col(Outbox.id), String)
    flagged = exists().where(col(Flag.dedupe_key) == key)
    raised = 0
    with engine.store.unit(now) as uow:
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
                col(Outbox.status) == OutboxStatus.UNKNOWN,
                col(Outbox.client_id).is_not(None),
                col(Outbox.staff_id).is_(None),  # to the client, not a notice to staff
                col(Outbox.kind) == OutboxKind.MESSAGE,  # a delete is asked again, never flagged
                ~flagged,
            )
            .order_by(col(Outbox.id))
            .limit(limit)
        ).all()
        for outbox_id, client_id, case_id in rows:
            with session.begin_nested():
                flag_client(
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


def retime_overdue(
    engine: ConversationEngine[SqlStore], now: datetime, policy: SchedulePolicy
) -> int:
    """Move scheduled messages that missed their contact window to the person's next one.

    An outage or a long backlog can hold a follow-up past 20:00; it must then wait for
    the morning rather than reach someone in the night. A chat's messages move together
    (one spread key per chat), so a flow's introduction and question stay in order.

    Returns:
        How many messages were moved.
    """
    with engine.store.unit(now) as uow:
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


def clear_old_messages(engine: ConversationEngine[SqlStore], now: datetime) -> int:
    """Delete messages of the chats whose client asked for it (``/clear N``) once N hours old.

    One transaction: the delete rows and the ids forgotten commit together, so a crash
    asks for nothing twice and loses nothing; messages past 48 hours are only forgotten.

    Returns:
        How many message ids were asked for.
    """
    with engine.store.unit(now) as uow:
        asked = auto_clear(uow)
    if asked:
        log.info("automatic clear: %d messages to delete", asked)
    return asked


__all__ = ["UNKNOWN_SEND_REASON", "clear_old_messages", "flag_unknown_sends", "retime_overdue"]
