"""Outbox reads and writes for senders: claim due messages, record what the channel said.

A sender takes only the *head* of each chat's queue (:func:`claim_heads`): the most
urgent, then oldest, message not yet finished. A message waiting to be retried
therefore holds back the chat's later messages of the same or lower urgency, so a
person never reads question 2 before question 1, while an urgent message still
goes first.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from cm_bot.domain import Button, Outbound, Priority
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Outbox, utcnow

ACTIVE = ("pending", "claimed", "sending")
"""Statuses of a message that is not finished: it holds its chat's later messages back."""


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
) -> list[OutboxItem]:
    """Take due pending messages, most urgent first, marking them ``claimed``.

    For readers that deliver in-process (the terminal, tests). On PostgreSQL the
    claim skips rows another worker holds (``SKIP LOCKED``), so no message is taken
    twice; on SQLite the write lock does the same.
    """
    now = now or utcnow()
    with transaction(engine) as session:
        statement = (
            select(Outbox)
            .where(
                col(Outbox.channel) == channel,
                col(Outbox.status) == "pending",
                (col(Outbox.next_attempt_at).is_(None)) | (col(Outbox.next_attempt_at) <= now),
            )
            .order_by(col(Outbox.priority), col(Outbox.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if chat_id is not None:
            statement = statement.where(col(Outbox.chat_id) == chat_id)
        rows = list(session.execute(statement).scalars())
        for row in rows:
            row.status = "claimed"
        session.flush()
        return [_item(row) for row in rows if row.id]


def claim_heads(
    engine: Engine,
    channel: str,
    *,
    limit: int,
    skip_chats: Collection[str] = (),
    now: datetime | None = None,
) -> tuple[list[OutboxItem], bool]:
    """Claim the due head of up to ``limit`` chats' queues, most urgent first.

    A chat's head is its unfinished message first in (priority, id) order; it is
    taken only when it is pending and due, so at most one message per chat is out
    at once and a chat's messages go in order. Chats in ``skip_chats`` (the sender's
    rate limiter says wait) are left alone.

    An edit (``edit_of``) whose original has not gone out yet is folded into the
    original, which then goes out already up to date.

    Returns:
        The claimed items, and whether due heads were left behind (a skipped chat,
        or an edit waiting for its original to finish), so the caller knows to look
        again soon.
    """
    now = now or utcnow()
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
            active.c.status == "pending",
            active.c.next_attempt_at.is_(None) | (active.c.next_attempt_at <= now),
        )
        .order_by(active.c.priority, active.c.id)
    )
    skip = set(skip_chats)
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
                .where(col(Outbox.id).in_(chosen), col(Outbox.status) == "pending")
                .order_by(col(Outbox.priority), col(Outbox.id))
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        items: list[OutboxItem] = []
        for row in rows:
            if row.edit_of is None:
                row.status = "claimed"
                items.append(_item(row))
                continue
            outcome, original = _edit(session, row)
            if outcome == "wait":
                left = True
            elif outcome == "merged":
                assert original is not None
                due = original.next_attempt_at
                if due is None or _aware(due) <= now:
                    original.status = "claimed"  # it is the chat's head now: send it
                    items.append(_item(original))
                else:
                    left = True
            else:
                row.status = "claimed"
                items.append(_item(row, edit_target=outcome or None))
        session.flush()
        return items, left


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _edit(session: Session, row: Outbox) -> tuple[str, Outbox | None]:
    """Decide what an edit row becomes.

    Returns:
        ``"wait"`` (its original is being sent), ``"merged"`` (folded into the
        unsent original, returned too), the id of the message to edit, or ``""``
        (send it as a new message: the original failed or its fate is unknown).
    """
    original = session.get(Outbox, row.edit_of, with_for_update=True)
    if original is None or original.status in ("failed", "cancelled", "unknown"):
        return "", None
    if original.status in ("claimed", "sending"):
        return "wait", None
    if original.status == "pending":
        original.text = row.text
        original.buttons = row.buttons
        row.status = "cancelled"
        row.error = f"merged into unsent message {original.id}"
        return "merged", original
    sent = _progress(original)
    return (sent[-1] if sent else ""), None


def mark_sending(engine: Engine, outbox_id: int) -> None:
    """About to call the channel: from here on a crash means "outcome unknown"."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(status="sending", attempts=col(Outbox.attempts) + 1)
        )


def release(engine: Engine, outbox_id: int) -> None:
    """A claimed message that was not tried after all: back in the queue."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id, col(Outbox.status) == "claimed")
            .values(status="pending")
        )


def mark_progress(engine: Engine, outbox_id: int, external_message_ids: str) -> None:
    """Some parts of a long message went out: a retry resumes after them, never repeats them."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(external_message_id=external_message_ids)
        )


def mark_sent(engine: Engine, outbox_id: int, external_message_id: str | None) -> None:
    """The channel accepted the message."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(
                status="sent",
                sent_at=utcnow(),
                external_message_id=external_message_id,
                error=None,
            )
        )


def mark_retry(engine: Engine, outbox_id: int, at: datetime, error: str) -> None:
    """Not sent, safe to try again at ``at`` (429, connection refused, 5xx)."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(status="pending", next_attempt_at=at, error=error[:200])
        )


def mark_final(engine: Engine, outbox_id: int, status: str, error: str) -> None:
    """Stop trying: ``failed`` (permanent) or ``unknown`` (may have been delivered)."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(status=status, error=error[:200])
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
                col(Outbox.status) == "pending",
            )
            .values(status="failed", error=error[:200])
        )
        return int(getattr(result, "rowcount", 0) or 0)


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


def recover(engine: Engine, channel: str) -> tuple[int, int]:
    """After a crash, requeue claimed-but-untried rows; rows being sent become ``unknown``.

    Telegram may have delivered a message whose send was interrupted, so it is
    never resent blindly: a person decides. Only for a sender that is the channel's
    one sender (see the deployment notes): another live sender's rows would be
    taken from under it.

    Returns:
        (requeued, unknown).
    """
    with transaction(engine) as session:
        requeued = session.execute(
            update(Outbox)
            .where(col(Outbox.channel) == channel, col(Outbox.status) == "claimed")
            .values(status="pending")
        )
        unknown = session.execute(
            update(Outbox)
            .where(col(Outbox.channel) == channel, col(Outbox.status) == "sending")
            .values(status="unknown", error="interrupted while sending")
        )
        return (
            int(getattr(requeued, "rowcount", 0) or 0),
            int(getattr(unknown, "rowcount", 0) or 0),
        )


__all__ = [
    "ACTIVE",
    "OutboxItem",
    "claim",
    "claim_heads",
    "fail_chat",
    "mark_final",
    "mark_progress",
    "mark_retry",
    "mark_sending",
    "mark_sent",
    "recover",
    "release",
    "unfinished",
]
