"""Clearing a client's chat from a shared phone: ``deleteMessages`` rows in the outbox.

Telegram lets a bot delete messages of a private chat, its own and the person's, for 48
hours after they were sent, up to 100 ids a request. The ids are taken from what the
store kept (the bot's sent messages, the person's inbox rows) and forgotten as they are
taken, so a second clear never asks for them again. The delete requests are outbox rows
(``OutboxKind.DELETE``) written in the caller's transaction: exactly once, and a crash
before they are sent loses nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cm_bot.domain import Outbound, OutboxKind
from cm_bot.engine.ports import UnitOfWork

DELETABLE_FOR = timedelta(hours=48)
"""How long Telegram lets a bot delete a message after it was sent."""
BATCH = 100
"""Most ids one ``deleteMessages`` request takes."""
AUTO_CLEAR_HOURS = range(1, 48)
"""What ``/clear N`` accepts: a clear after 48 hours would be too late to delete anything."""
CLEAR_PAYLOAD = "clear"
"""The callback data of the "Clear this chat" button (the same for everyone, no token)."""
SAFE_WORD_RULE = "safe_word"
"""The rule id of the urgent flag a safe word raises: while it is open, replies stay neutral
(someone else may be holding the phone), with no crisis line named."""


def clear_chat(
    uow: UnitOfWork,
    *,
    channel: str,
    chat_id: str,
    client_id: int | None,
    before: datetime | None = None,
) -> list[int]:
    """Queue deletes for the chat's messages of the last 48 hours (sent before ``before``).

    Returns:
        The message ids asked for, in order; nothing is queued when there are none.
    """
    ids = uow.outbox.take_message_ids(
        channel, chat_id, since=uow.now - DELETABLE_FOR, before=before
    )
    for start in range(0, len(ids), BATCH):
        uow.outbox.enqueue(
            Outbound(
                channel=channel,
                chat_id=chat_id,
                text="",
                kind=OutboxKind.DELETE,
                delete_ids=tuple(ids[start : start + BATCH]),
            ),
            client_id=client_id,
        )
    return ids


def auto_clear(uow: UnitOfWork) -> int:
    """Clear each chat whose client asked for it of messages older than their hours.

    Returns:
        How many message ids were asked for.
    """
    asked = 0
    for client_id, channel, chat_id, hours in uow.outbox.auto_clear_chats():
        asked += len(
            clear_chat(
                uow,
                channel=channel,
                chat_id=chat_id,
                client_id=client_id,
                before=uow.now - timedelta(hours=hours),
            )
        )
    return asked


__all__ = [
    "AUTO_CLEAR_HOURS",
    "BATCH",
    "CLEAR_PAYLOAD",
    "DELETABLE_FOR",
    "auto_clear",
    "clear_chat",
]
