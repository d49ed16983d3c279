"""Messages the transaction sends: outbox rows written here, sent after the commit.

The sender's side of the outbox (claims, leases, marking sent) is :mod:`cm_bot.storage.outbox`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, insert, select, update
from sqlmodel import col

from cm_bot.domain import Outbound, OutboxKind
from cm_bot.domain.time import aware
from cm_bot.storage.models import ChannelIdentity, Client, InboundMessage, Outbox
from cm_bot.storage.outbox import ACTIVE
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
                    "kind": message.kind.value,
                    "delete_ids": list(message.delete_ids) or None,
                },
            ).scalar_one()
        )

    def already_told_chat(self, channel: str, chat_id: str, since: datetime | None = None) -> bool:
        """Whether we wrote to this chat (since a time)."""
        conditions = [col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id]
        if since is not None:
            conditions.append(col(Outbox.created_at) >= since)
        return bool(self.session.execute(select(exists().where(*conditions))).scalar())

    def take_message_ids(
        self, channel: str, chat_id: str, *, since: datetime, before: datetime | None = None
    ) -> list[int]:
        """The chat's message ids, both sides, sent or received from ``since`` (until ``before``).

        Every id taken (also those older than ``since``, which can no longer be deleted) is
        forgotten: the bot's sent rows lose their ``external_message_id``, the person's inbox
        rows their ``message_id``, so no clear asks for them again. Messages still being
        sent are left for the next clear.
        """
        taken: set[int] = set()

        def keep(ids: str, moment: datetime) -> None:
            if aware(moment) >= since:
                taken.update(int(i) for i in ids.split(",") if i.strip().isdigit())

        sent = self.session.execute(
            select(
                col(Outbox.id),
                col(Outbox.external_message_id),
                func.coalesce(col(Outbox.sent_at), col(Outbox.created_at)),
            ).where(
                col(Outbox.channel) == channel,
                col(Outbox.chat_id) == chat_id,
                col(Outbox.kind) == OutboxKind.MESSAGE,
                col(Outbox.external_message_id).is_not(None),
                col(Outbox.status).not_in(ACTIVE),
            )
        ).all()
        forget_sent = []
        for row_id, ids, moment in sent:
            if before is None or aware(moment) < before:
                keep(ids, moment)
                forget_sent.append(row_id)
        received = self.session.execute(
            select(
                col(InboundMessage.id),
                col(InboundMessage.message_id),
                col(InboundMessage.received_at),
            ).where(
                col(InboundMessage.channel) == channel,
                col(InboundMessage.chat_id) == chat_id,
                col(InboundMessage.message_id).is_not(None),
            )
        ).all()
        forget_received = []
        for row_id, ids, moment in received:
            if before is None or aware(moment) < before:
                keep(ids, moment)
                forget_received.append(row_id)
        if forget_sent:
            self._change(
                update(Outbox)
                .where(col(Outbox.id).in_(forget_sent))
                .values(external_message_id=None),
                None,
                Outbox,
            )
        if forget_received:
            self._change(
                update(InboundMessage)
                .where(col(InboundMessage.id).in_(forget_received))
                .values(message_id=None),
                None,
                InboundMessage,
            )
        return sorted(taken)

    def set_auto_clear(self, client_id: int, hours: int | None) -> None:
        """Clear the client's chat of messages older than ``hours`` (1-47); ``None``: never."""
        self._change(
            update(Client).where(col(Client.id) == client_id).values(auto_clear_hours=hours),
            None,
            Client,
        )

    def auto_clear_chats(self) -> list[tuple[int, str, str, int]]:
        """(client id, channel, chat id, hours) of every chat cleared automatically."""
        rows = self.session.execute(
            select(
                col(Client.id),
                col(ChannelIdentity.channel),
                col(ChannelIdentity.chat_id),
                col(Client.auto_clear_hours),
            )
            .join(ChannelIdentity, col(ChannelIdentity.client_id) == col(Client.id))
            .where(col(Client.auto_clear_hours).is_not(None))
            .order_by(col(Client.id))
        ).all()
        return [(int(c), str(ch), str(chat), int(h)) for c, ch, chat, h in rows]


__all__ = ["SqlSends"]
