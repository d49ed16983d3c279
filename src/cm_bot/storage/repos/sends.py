"""Messages the transaction sends: outbox rows written here, sent after the commit.

The sender's side of the outbox (claims, leases, marking sent) is :mod:`cm_bot.storage.outbox`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, insert, select
from sqlmodel import col

from cm_bot.domain import Outbound
from cm_bot.storage.models import Outbox
from cm_bot.storage.repos.base import OUTBOX, Repo

_ENQUEUE = insert(OUTBOX).returning(OUTBOX.c.id)


class SqlSends(Repo):
    """Implements :class:`cm_bot.engine.ports.OutboxRepo`."""

    def enqueue(
        self,
        message: Outbound,
        *,
        client_id: int | None = None,
        staff_id: int | None = None,
        flag_id: int | None = None,
        inbound_id: int | None = None,
        case_id: int | None = None,
    ) -> int:
        """Write a message to the outbox; ``case_id``: a staff reply that quotes this case."""
        return int(
            self._sql(
                _ENQUEUE,
                {
                    "channel": message.channel,
                    "chat_id": message.chat_id,
                    "client_id": client_id,
                    "staff_id": staff_id,
                    "flag_id": flag_id,
                    "case_id": case_id,
                    "inbound_id": inbound_id,
                    "text": message.text,
                    "buttons": [
                        [{"label": b.label, "payload": b.payload} for b in r]
                        for r in message.buttons
                    ],
                    "priority": int(message.priority),
                    "edit_of": message.edit_of,
                    "deliver_by": message.deliver_by,
                },
            ).scalar_one()
        )

    def already_told_chat(self, channel: str, chat_id: str, since: datetime | None = None) -> bool:
        """Whether we wrote to this chat (since a time)."""
        conditions = [col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id]
        if since is not None:
            conditions.append(col(Outbox.created_at) >= since)
        return bool(self.session.execute(select(exists().where(*conditions))).scalar())


__all__ = ["SqlSends"]
