"""The inbox: updates recorded before the ack, claimed and finished; senders no case knows."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cm_bot.domain import Inbound, InboundKind, InboxStatus
from cm_bot.storage.models import InboundMessage
from cm_bot.storage.repos.base import FLAG, INBOX, OUTBOX, SETTING, STAFF, Repo, per_dialect


def _staff_id(user: Any) -> Any:
    """The id of the active staff member bound to Telegram user ``user`` (else NULL).

    Asked with the update's inbox row, so that the turn's first question, "is this staff?"
    (``staff_for``), is usually answered without a statement of its own.
    """
    return (
        select(STAFF.c.id)
        .where(STAFF.c.telegram_user_id == user, STAFF.c.active.is_(True))
        .limit(1)
        .scalar_subquery()
    )


_RECORD_INBOUND = per_dialect(INBOX, ["channel", "external_id"], INBOX.c.id)
# For an update handled in the same transaction (``handle``): the sender's staff id comes back
# with the insert. ``accept`` alone does not ask: the claim that handles it later does.
_RECORD_INBOUND_FOR_HANDLING = per_dialect(
    INBOX, ["channel", "external_id"], INBOX.c.id, _staff_id(bindparam("staff_user"))
)
_PENDING_INBOUND = (
    select(INBOX.c.id)
    .where(
        INBOX.c.channel == bindparam("channel"),
        INBOX.c.chat_id == bindparam("chat_id"),
        INBOX.c.status == InboxStatus.PENDING.value,
    )
    .order_by(INBOX.c.id)
)
_INBOUND_COLUMNS = (
    INBOX.c.channel,
    INBOX.c.external_id,
    INBOX.c.external_user_id,
    INBOX.c.chat_id,
    INBOX.c.kind,
    INBOX.c.text,
    INBOX.c.payload,
    INBOX.c.language,
    INBOX.c.chat_type,
    INBOX.c.is_bot,
    INBOX.c.received_at,
)
_CLAIM_INBOUND = (
    select(*_INBOUND_COLUMNS, _staff_id(INBOX.c.external_user_id))
    .where(INBOX.c.id == bindparam("inbound_id"), INBOX.c.status == InboxStatus.PENDING.value)
    .with_for_update()
)
_PENDING_CHATS = (
    select(INBOX.c.channel, INBOX.c.chat_id)
    .where(INBOX.c.status == InboxStatus.PENDING.value)
    .distinct()
)
_FINISH_INBOUND = (
    update(INBOX)
    .where(INBOX.c.id == bindparam("b_id"))
    .values(
        status=InboxStatus.DONE.value,
        text=None,
        payload=None,
        client_id=bindparam("b_client"),
        handled_at=bindparam("b_now"),
    )
)


# Senders no case knows: a salted hash stands in for their Telegram id (unknown_sender).
SENDER_SALT = "sender_salt"  # the ProgramSetting key of the salt
_READ_SETTING = select(SETTING.c.value).where(SETTING.c.key == bindparam("key"))
_ADD_SETTING = {
    name: dialect.insert(SETTING).on_conflict_do_nothing(index_elements=["key"])
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}

_LOCK_SENDER = select(func.pg_advisory_xact_lock(cast(bindparam("key"), BigInteger)))
_SENDER_SEEN = select(
    exists().where(
        INBOX.c.channel == bindparam("channel"),
        INBOX.c.chat_id == bindparam("sender"),  # ix_inbound_chat_status
        INBOX.c.received_at >= bindparam("since"),
    )
)
# An unlinked crisis flag raised for this sender since a time (their updates' flags are
# keyed "crisis:<sender>:<inbound id>"); rare, so the flag table's own indexes do.
_SENDER_CRISIS_FLAGGED = select(
    exists().where(
        FLAG.c.rule_id == "crisis_words_unlinked",
        FLAG.c.dedupe_key.startswith(bindparam("prefix")),  # hex: no wildcard in it
        FLAG.c.created_at >= bindparam("since"),
    )
)
_NAME_SENDER = (
    update(INBOX)
    .where(INBOX.c.id == bindparam("b_id"))
    .values(
        external_user_id=bindparam("b_sender"),
        chat_id=bindparam("b_sender"),
        text=None,
        payload=None,
        message_id=None,
    )
)
_DROP_INBOUND = delete(INBOX).where(INBOX.c.id == bindparam("b_id"))
_UNLINK_REPLIES = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(inbound_id=None)
)


class SqlInbox(Repo):
    """Implements :class:`cm_bot.engine.ports.InboxRepo`."""

    def record_inbound(self, inbound: Inbound, *, handling: bool = False) -> int | None:
        """Insert the update unless (channel, external id) was seen; the unique key is the guard.

        ``handling``: this transaction handles the update too, so look up its sender among
        staff with the insert.
        """
        statement = _RECORD_INBOUND_FOR_HANDLING if handling else _RECORD_INBOUND
        row = self._sql(
            statement[self._tx.dialect],
            {
                "channel": inbound.channel,
                "external_id": inbound.external_id,
                "external_user_id": inbound.user_id,
                "chat_id": inbound.chat_id,
                "chat_type": inbound.chat_type,
                "kind": inbound.kind.value,
                "text": inbound.text,
                "payload": inbound.payload,
                "language": inbound.language,
                "is_bot": inbound.is_bot,
                "status": InboxStatus.PENDING.value,
                "attempts": 0,
                "received_at": inbound.received_at,
                "message_id": inbound.message_id,
                "staff_user": inbound.user_id,
            },
        ).first()
        if row is None:
            return None
        if handling:
            self._not_staff(inbound, row[1])
        return int(row[0])

    def pending_inbound(self, channel: str, chat_id: str) -> list[int]:
        """The chat's pending updates, in arrival order."""
        rows = self._sql(_PENDING_INBOUND, {"channel": channel, "chat_id": chat_id})
        return [int(i) for i in rows.scalars()]

    def claim_inbound(self, inbound_id: int) -> Inbound | None:
        """Lock the row; a row another worker already handled comes back ``None``."""
        row = self._sql(_CLAIM_INBOUND, {"inbound_id": inbound_id}).first()
        if row is None:
            return None
        *fields, staff_id = row
        channel, external_id, user, chat, kind, text, payload, language, chat_type, bot, at = fields
        inbound = Inbound(
            channel=channel,
            external_id=external_id,
            user_id=user,
            chat_id=chat,
            kind=InboundKind(kind),
            text=text,
            payload=payload,
            language=language,
            chat_type=chat_type,
            is_bot=bot,
            received_at=at,
        )
        self._not_staff(inbound, staff_id)
        return inbound

    def _not_staff(self, inbound: Inbound, staff_id: int | None) -> None:
        """Remember, for this transaction, that the update's sender is not staff.

        The inbox statement also looked the sender up among staff (``_staff_id``), in this
        transaction: ``staff_for`` then needs no statement of its own. A sender who is
        staff is still read by ``staff_for`` (their name, role and locale).
        """
        if staff_id is None and inbound.channel == "telegram":
            self._fresh()
            self._tx.staff.setdefault((inbound.channel, inbound.user_id), None)

    def fail_inbound(self, inbound_id: int, max_attempts: int) -> Inbound | None:
        """Count the failure; dead-letter the row (and drop its text) after the last attempt."""
        row = self.session.get(InboundMessage, inbound_id, with_for_update=True)
        if row is None or row.status != InboxStatus.PENDING:
            return None
        row.attempts += 1
        if row.attempts < max_attempts:
            return None
        inbound = _inbound(row)
        row.status = InboxStatus.DEAD.value
        row.text = None
        row.payload = None
        row.handled_at = self.now
        return inbound

    def pending_chats(self) -> list[tuple[str, str]]:
        """Every chat with pending updates."""
        return [(str(channel), str(chat)) for channel, chat in self._sql(_PENDING_CHATS)]

    def finish_inbound(self, inbound_id: int, client_id: int | None) -> None:
        """Mark handled; the raw text is dropped because the answer now lives in a response."""
        self._change(
            _FINISH_INBOUND,
            {"b_id": inbound_id, "b_client": client_id, "b_now": self.now},
            InboundMessage,
        )

    def unknown_sender(self, channel: str, user_id: str) -> str:
        """The name a sender no case knows goes by: a salted hash of their account.

        HMAC-SHA256(salt, "channel:user id"), hex, cut to 32 characters: one sender always
        gets the same name, so their refused attempts can be told apart and counted, while
        their Telegram id is not kept. The salt is a random secret in ProgramSetting
        ("sender_salt"), made on first need; it is not derived from a CM_BOT_* secret
        because the terminal has none, and a rotated bot token or webhook secret would
        rename every sender. Whoever holds the database holds the salt too, so a hash is a
        pseudonym (a given Telegram id can be checked against it), not anonymity; but the
        database no longer lists who wrote.

        On PostgreSQL this also takes a transaction-level advisory lock on the name: two
        workers handling one sender's updates take turns, so both cannot find "nothing from
        them yet" (SQLite has one writer at a time anyway).
        """
        salt = self._sender_salt()
        name = hmac.new(salt, f"{channel}:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]
        if self._tx.dialect == "postgresql":
            self._sql(_LOCK_SENDER, {"key": int(name[:15], 16)})
        return name

    def _sender_salt(self) -> bytes:
        """The salt, made once; two workers making it at once both end up reading the winner's."""
        row = self._sql(_READ_SETTING, {"key": SENDER_SALT}).first()
        if row is None:
            self._sql(
                _ADD_SETTING[self._tx.dialect],
                {"key": SENDER_SALT, "value": secrets.token_hex(32), "updated_at": self.now},
            )
            row = self._sql(_READ_SETTING, {"key": SENDER_SALT}).one()
        return str(row[0]).encode()

    def sender_seen_since(self, channel: str, sender: str, since: datetime) -> bool:
        """Whether an update of this sender (named by :meth:`unknown_sender`) arrived since."""
        row = self._sql(_SENDER_SEEN, {"channel": channel, "sender": sender, "since": since})
        return bool(row.scalar())

    def sender_crisis_flagged_since(self, sender: str, since: datetime) -> bool:
        """Whether words of crisis from this unknown sender already raised a flag since."""
        row = self._sql(_SENDER_CRISIS_FLAGGED, {"prefix": f"crisis:{sender}:", "since": since})
        return bool(row.scalar())

    def name_sender(
        self, inbound_id: int, sender: str, *, keep: bool, replies: Sequence[int] = ()
    ) -> None:
        """Put the sender's name in place of their user and chat ids, text dropped; or delete.

        ``keep=False`` deletes the inbox row; the ``replies`` written for it (outbox ids) no
        longer point at it (the link is only a trace). A re-delivery of a deleted update is
        recorded and handled again, and comes to the same end.
        """
        if keep:
            self._change(_NAME_SENDER, {"b_id": inbound_id, "b_sender": sender}, InboundMessage)
        else:
            if replies:
                self._sql(_UNLINK_REPLIES, {"b_ids": list(replies)})
            self._change(_DROP_INBOUND, {"b_id": inbound_id}, InboundMessage)


def _inbound(row: InboundMessage) -> Inbound:
    return Inbound(
        channel=row.channel,
        external_id=row.external_id,
        user_id=row.external_user_id,
        chat_id=row.chat_id,
        kind=InboundKind(row.kind),
        text=row.text,
        payload=row.payload,
        language=row.language,
        chat_type=row.chat_type,
        is_bot=row.is_bot,
        received_at=row.received_at,
    )


__all__ = ["SENDER_SALT", "SqlInbox"]
