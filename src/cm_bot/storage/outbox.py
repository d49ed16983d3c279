"""Outbox reads and writes for senders: claim due messages, record what the channel said.

A sender takes only the *head* of each chat's queue (:func:`claim_heads`): the most
urgent, then oldest, message not yet finished. A message waiting to be retried
therefore holds back the chat's later messages of the same or lower urgency, so a
person never reads question 2 before question 1, while an urgent message still
goes first.

Several senders may serve one channel (``cm-bot run`` on more than one host, on
PostgreSQL). Each claim records its sender and a lease; :func:`recover` takes back only
rows whose sender is known to be dead or whose lease ran out, never a live sender's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from cm_bot.domain import Button, Outbound, OutboxKind, OutboxStatus, Priority
from cm_bot.domain.time import SYSTEM_CLOCK, aware
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Outbox
from cm_bot.storage.workers import is_gone, worker_name

LEASE = timedelta(minutes=5)
"""How long a claim or a send holds a row before another sender may take it back.

Longer than any one send may take (the request time-out, 60 s by default, plus rate-limit
waits), so a live sender never loses a row it is still working on.
"""
ACTIVE = (OutboxStatus.PENDING, OutboxStatus.CLAIMED, OutboxStatus.SENDING)
"""Statuses of a message that is not finished: it holds its chat's later messages back."""

_HELD = (OutboxStatus.CLAIMED, OutboxStatus.SENDING)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed outbox row, ready to send.

    Attributes:
        id: The outbox row.
        message: What to send.
        attempts: Earlier attempts.
        progress: Channel ids of the parts of a long message already sent; a retry
            sends only the rest.
        edit_target: For an edit (``message.edit_of``), the channel's id of the message
            to change; ``None`` means send it as a new message (the original never
            went out).
    """

    id: int
    message: Outbound
    attempts: int
    progress: tuple[str, ...] = ()
    edit_target: str | None = None


def _progress(row: Outbox) -> tuple[str, ...]:
    return tuple(row.external_message_id.split(",")) if row.external_message_id else ()


def _message(row: Outbox) -> Outbound:
    rows: list[Any] = row.buttons or []
    assert row.id is not None
    return Outbound(
        channel=row.channel,
        chat_id=row.chat_id,
        text=row.text,
        buttons=tuple(tuple(Button(b["label"], b["payload"]) for b in r) for r in rows),
        priority=Priority(row.priority) if row.priority in set(Priority) else Priority.NORMAL,
        outbox_id=row.id,
        edit_of=row.edit_of,
        kind=OutboxKind(row.kind) if row.kind in set(OutboxKind) else OutboxKind.MESSAGE,
        delete_ids=tuple(int(i) for i in row.delete_ids or ()),
    )


def _item(row: Outbox, edit_target: str | None = None) -> OutboxItem:
    assert row.id is not None
    return OutboxItem(row.id, _message(row), row.attempts, _progress(row), edit_target)


def claim(
    engine: Engine,
    channel: str,
    *,
    limit: int = 100,
    chat_id: str | None = None,
    now: datetime | None = None,
    worker: str | None = None,
    lease: timedelta = LEASE,
) -> list[OutboxItem]:
    """Take due pending messages, most urgent first, marking them ``claimed``.

    For readers that deliver in-process (the terminal, tests). On PostgreSQL the
    claim skips rows another worker holds (``SKIP LOCKED``), so no message is taken
    twice; on SQLite the write lock does the same.
    """
    now = now or SYSTEM_CLOCK.now()
    with transaction(engine) as session:
        statement = (
            select(Outbox)
            .where(
                col(Outbox.channel) == channel,
                col(Outbox.status) == OutboxStatus.PENDING,
                (col(Outbox.next_attempt_at).is_(None)) | (col(Outbox.next_attempt_at) <= now),
                (col(Outbox.deliver_by).is_(None)) | (col(Outbox.deliver_by) > now),
            )
            .order_by(col(Outbox.priority), col(Outbox.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if chat_id is not None:
            statement = statement.where(col(Outbox.chat_id) == chat_id)
        rows = list(session.execute(statement).scalars())
        holder = worker or worker_name()
        for row in rows:
            _take(row, holder, now + lease)
        session.flush()
        return [_item(row) for row in rows if row.id]


def claim_heads(
    engine: Engine,
    channel: str,
    *,
    limit: int,
    skip_chats: Collection[str] = (),
    now: datetime | None = None,
    worker: str | None = None,
    lease: timedelta = LEASE,
) -> tuple[list[OutboxItem], bool]:
    """Claim the due head of up to ``limit`` chats' queues, most urgent first.

    A chat's head is its unfinished message first in (priority, id) order; it is
    taken only when it is pending, due, and not past its ``deliver_by`` (a scheduled
    contact held up beyond the person's contact hours waits for the scheduler to move
    it to their next window, see :func:`overdue`), so at most one message per chat is out
    at once and a chat's messages go in order. Chats in ``skip_chats`` (the sender's
    rate limiter says wait) are left alone. Each row taken records ``worker`` (this
    process by default) and holds for ``lease``.

    An edit (``edit_of``) whose original has not gone out yet is folded into the
    original, which then goes out already up to date.

    Returns:
        The claimed items, and whether due heads were left behind (a skipped chat,
        an edit waiting for its original to finish, or rows another sender locked
        first), so the caller knows to look again soon.
    """
    now = now or SYSTEM_CLOCK.now()
    rank = (
        func.row_number()
        .over(partition_by=col(Outbox.chat_id), order_by=(col(Outbox.priority), col(Outbox.id)))
        .label("rank")
    )
    active = (
        select(
            col(Outbox.id).label("id"),
            col(Outbox.chat_id).label("chat_id"),
            col(Outbox.status).label("status"),
            col(Outbox.next_attempt_at).label("next_attempt_at"),
            col(Outbox.deliver_by).label("deliver_by"),
            col(Outbox.priority).label("priority"),
            rank,
        )
        .where(col(Outbox.channel) == channel, col(Outbox.status).in_(ACTIVE))
        .subquery()
    )
    heads = (
        select(active.c.id, active.c.chat_id)
        .where(
            active.c.rank == 1,
            active.c.status == OutboxStatus.PENDING,
            active.c.next_attempt_at.is_(None) | (active.c.next_attempt_at <= now),
            active.c.deliver_by.is_(None) | (active.c.deliver_by > now),
        )
        .order_by(active.c.priority, active.c.id)
    )
    skip = set(skip_chats)
    holder = worker or worker_name()
    until = now + lease
    with transaction(engine) as session:
        chosen: list[int] = []
        left = False
        for outbox_id, chat_id in session.execute(heads):
            if chat_id in skip:
                left = True
                continue
            chosen.append(int(outbox_id))
            if len(chosen) >= limit:
                break
        if not chosen:
            return [], left
        # Re-checked under the row lock: another worker may have taken one meanwhile.
        rows = list(
            session.execute(
                select(Outbox)
                .where(col(Outbox.id).in_(chosen), col(Outbox.status) == OutboxStatus.PENDING)
                .order_by(col(Outbox.priority), col(Outbox.id))
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if len(rows) < len(chosen):
            left = True  # another sender took some first: there may be more to take
        items: list[OutboxItem] = []
        for row in rows:
            if row.edit_of is None:
                _take(row, holder, until)
                items.append(_item(row))
                continue
            outcome, original = _edit(session, row)
            if outcome == "wait":
                left = True
            elif outcome == "merged":
                assert original is not None
                due = original.next_attempt_at
                if due is None or aware(due) <= now:
                    _take(original, holder, until)  # it is the chat's head now: send it
                    items.append(_item(original))
                else:
                    left = True
            else:
                _take(row, holder, until)
                items.append(_item(row, edit_target=outcome or None))
        session.flush()
        return items, left


def _take(row: Outbox, worker: str, until: datetime) -> None:
    row.status = OutboxStatus.CLAIMED
    row.claimed_by = worker
    row.lease_until = until


def _edit(session: Session, row: Outbox) -> tuple[str, Outbox | None]:
    """Decide what an edit row becomes.

    Returns:
        ``"wait"`` (its original is being sent), ``"merged"`` (folded into the
        unsent original, returned too), the id of the message to edit, or ``""``
        (send it as a new message: the original failed or its fate is unknown).
    """
    original = session.get(Outbox, row.edit_of, with_for_update=True)
    if original is None or original.status in (
        OutboxStatus.FAILED,
        OutboxStatus.CANCELLED,
        OutboxStatus.UNKNOWN,
    ):
        return "", None
    if original.status in (OutboxStatus.CLAIMED, OutboxStatus.SENDING):
        return "wait", None
    if original.status == OutboxStatus.PENDING:
        original.text = row.text
        original.buttons = row.buttons
        row.status = OutboxStatus.CANCELLED
        row.error = f"merged into unsent message {original.id}"
        return "merged", original
    sent = _progress(original)
    return (sent[-1] if sent else ""), None


def mark_sending(
    engine: Engine,
    outbox_id: int,
    *,
    worker: str | None = None,
    lease: timedelta = LEASE,
    now: datetime | None = None,
) -> bool:
    """About to call the channel: from here on a crash means "outcome unknown".

    Returns:
        False when the row is no longer this worker's claim (its lease ran out and
        another sender took it back): then it must not be sent from here.
    """
    with transaction(engine) as session:
        result = session.execute(
            update(Outbox)
            .where(
                col(Outbox.id) == outbox_id,
                col(Outbox.status) == OutboxStatus.CLAIMED,
                col(Outbox.claimed_by) == (worker or worker_name()),
            )
            .values(
                status=OutboxStatus.SENDING,
                attempts=col(Outbox.attempts) + 1,
                lease_until=(now or SYSTEM_CLOCK.now()) + lease,
            )
        )
        return bool(getattr(result, "rowcount", 0))


def release(engine: Engine, outbox_id: int) -> None:
    """A claimed message that was not tried after all: back in the queue."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id, col(Outbox.status) == OutboxStatus.CLAIMED)
            .values(status=OutboxStatus.PENDING, claimed_by=None, lease_until=None)
        )


def mark_progress(
    engine: Engine,
    outbox_id: int,
    external_message_ids: str,
    *,
    lease: timedelta = LEASE,
    now: datetime | None = None,
) -> None:
    """Some parts of a long message went out: a retry resumes after them, never repeats them.

    The lease is renewed with each part, so a long message does not outlive its claim.
    """
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(
                external_message_id=external_message_ids,
                lease_until=(now or SYSTEM_CLOCK.now()) + lease,
            )
        )


def mark_sent(
    engine: Engine, outbox_id: int, external_message_id: str | None, now: datetime | None = None
) -> None:
    """The channel accepted the message."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(
                status=OutboxStatus.SENT,
                sent_at=now or SYSTEM_CLOCK.now(),
                external_message_id=external_message_id,
                error=None,
                lease_until=None,
            )
        )


def mark_retry(engine: Engine, outbox_id: int, at: datetime, error: str) -> None:
    """Not sent, safe to try again at ``at`` (429, connection refused, 5xx)."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(
                status=OutboxStatus.PENDING,
                next_attempt_at=at,
                error=error[:200],
                claimed_by=None,
                lease_until=None,
            )
        )


def bring_forward(engine: Engine, outbox_ids: Collection[int]) -> None:
    """Make messages waiting out a blind back-off due now: the channel is answering again."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id).in_(list(outbox_ids)), col(Outbox.status) == OutboxStatus.PENDING)
            .values(next_attempt_at=None)
        )


def mark_final(engine: Engine, outbox_id: int, status: str, error: str) -> None:
    """Stop trying: ``failed`` (permanent) or ``unknown`` (may have been delivered)."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(status=status, error=error[:200], lease_until=None)
        )


def fail_chat(engine: Engine, channel: str, chat_id: str, error: str) -> int:
    """Give up on every waiting message to a chat that cannot be reached (blocked, deleted).

    Returns:
        How many messages were given up.
    """
    with transaction(engine) as session:
        result = session.execute(
            update(Outbox)
            .where(
                col(Outbox.channel) == channel,
                col(Outbox.chat_id) == chat_id,
                col(Outbox.status) == OutboxStatus.PENDING,
            )
            .values(status=OutboxStatus.FAILED, error=error[:200])
        )
        return int(getattr(result, "rowcount", 0) or 0)


def overdue(session: Session, now: datetime) -> list[Outbox]:
    """Pending messages whose ``deliver_by`` has passed: the scheduler re-times them."""
    return list(
        session.execute(
            select(Outbox)
            .where(
                col(Outbox.status) == OutboxStatus.PENDING,
                col(Outbox.deliver_by).is_not(None),
                col(Outbox.deliver_by) <= now,
            )
            .order_by(col(Outbox.id))
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def unfinished(engine: Engine, channel: str) -> int:
    """How many messages of the channel are still to go (pending, claimed or being sent)."""
    with transaction(engine) as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(Outbox)
                .where(col(Outbox.channel) == channel, col(Outbox.status).in_(ACTIVE))
            ).scalar_one()
        )


def recover(
    engine: Engine,
    channel: str,
    *,
    worker: str | None = None,
    now: datetime | None = None,
    starting: bool = True,
) -> tuple[int, int]:
    """Take back rows whose sender died: claimed rows are requeued, sending rows become ``unknown``.

    A sender is known dead when its lease ran out, when it was a process on this host
    that no longer exists, or, while ``starting``, when it has this very name (a
    restarted process given the same pid, as in a container). A live sender's rows, on
    this host or another, are left alone. Telegram may have delivered a message whose
    send was interrupted, so it is never resent blindly: a person decides. A delete
    (``OutboxKind.DELETE``) is requeued instead: asking again is harmless.

    Call at start-up, and now and then while running with ``starting=False`` (an
    expired lease of a worker on another host is noticed only then).

    Returns:
        (requeued, unknown).
    """
    now = now or SYSTEM_CLOCK.now()
    me = worker or worker_name()
    with transaction(engine) as session:
        holders = set(
            session.execute(
                select(col(Outbox.claimed_by))
                .where(col(Outbox.channel) == channel, col(Outbox.status).in_(_HELD))
                .distinct()
            ).scalars()
        )
        dead = [h for h in holders if h is not None and ((starting and h == me) or is_gone(h))]
        orphaned = (
            col(Outbox.lease_until).is_(None)
            | (col(Outbox.lease_until) < now)
            | col(Outbox.claimed_by).in_(dead)
        )
        requeued = session.execute(
            update(Outbox)
            .where(
                col(Outbox.channel) == channel,
                (col(Outbox.status) == OutboxStatus.CLAIMED)
                | (
                    (col(Outbox.status) == OutboxStatus.SENDING)
                    & (col(Outbox.kind) == OutboxKind.DELETE)
                ),
                orphaned,
            )
            .values(status=OutboxStatus.PENDING, claimed_by=None, lease_until=None)
        )
        unknown = session.execute(
            update(Outbox)
            .where(
                col(Outbox.channel) == channel, col(Outbox.status) == OutboxStatus.SENDING, orphaned
            )
            .values(
                status=OutboxStatus.UNKNOWN, error="interrupted while sending", lease_until=None
            )
        )
        return (
            int(getattr(requeued, "rowcount", 0) or 0),
            int(getattr(unknown, "rowcount", 0) or 0),
        )


__all__ = [
    "ACTIVE",
    "LEASE",
    "OutboxItem",
    "bring_forward",
    "claim",
    "claim_heads",
    "fail_chat",
    "mark_final",
    "mark_progress",
    "mark_retry",
    "mark_sending",
    "mark_sent",
    "overdue",
    "recover",
    "release",
    "unfinished",
]
