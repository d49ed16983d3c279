"""Outbox reads and writes for senders: claim due messages, record what the channel said."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlmodel import col

from cm_bot.domain import Button, Outbound, Priority
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Outbox, utcnow


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed outbox row, ready to send."""

    id: int
    message: Outbound
    attempts: int


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
    )


def claim(
    engine: Engine,
    channel: str,
    *,
    limit: int = 100,
    chat_id: str | None = None,
    now: datetime | None = None,
) -> list[OutboxItem]:
    """Take due pending messages, most urgent first, marking them ``claimed``.

    On PostgreSQL the claim skips rows another worker holds (``SKIP LOCKED``), so
    no message is taken twice; on SQLite the write lock does the same.
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
        return [OutboxItem(row.id, _message(row), row.attempts) for row in rows if row.id]


def mark_sending(engine: Engine, outbox_id: int) -> None:
    """About to call the channel: from here on a crash means "outcome unknown"."""
    with transaction(engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.id) == outbox_id)
            .values(status="sending", attempts=col(Outbox.attempts) + 1)
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


def recover(engine: Engine, channel: str) -> tuple[int, int]:
    """After a crash, requeue claimed-but-untried rows; rows being sent become ``unknown``.

    Telegram may have delivered a message whose send was interrupted, so it is
    never resent blindly: a person decides.

    Returns (requeued, unknown).
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
    "OutboxItem",
    "claim",
    "mark_final",
    "mark_retry",
    "mark_sending",
    "mark_sent",
    "recover",
]
