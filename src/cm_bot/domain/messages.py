"""What the engine asks a channel to say: transport-neutral messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from cm_bot.domain.values import OutboxKind


class Priority(IntEnum):
    """Send order in the outbox: lower goes first, so urgent alerts never queue behind nudges."""

    URGENT = 0
    HIGH = 10
    NORMAL = 50
    LOW = 90


@dataclass(frozen=True, slots=True)
class Button:
    """One tappable option; ``payload`` is opaque to the person and checked by the engine."""

    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to one chat, as it sits in the outbox."""

    channel: str
    chat_id: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    priority: Priority = Priority.NORMAL
    outbox_id: int | None = None
    edit_of: int | None = None  # the outbox row whose sent message this one replaces
    # Not after this (UTC): the end of the person's contact hours, for a scheduled contact.
    deliver_by: datetime | None = None
    # A delete (``OutboxKind.DELETE``): the chat's earlier messages to delete, up to 100.
    kind: OutboxKind = OutboxKind.MESSAGE
    delete_ids: tuple[int, ...] = ()
