"""The engine's ports over SQLModel: one :class:`SqlUnitOfWork` is one database transaction.

The statements of the conversation's hot path (every update runs a dozen of them) are
SQLAlchemy Core, built once at import: running one through the ORM, or building it anew
each time, costs six to eight times more (bench/README.md §1). Rarer paths keep the ORM.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Engine,
    Update,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from cm_bot.domain import Inbound, InboundKind, Outbound, RunStatus, Severity
from cm_bot.domain.time import SYSTEM_CLOCK, Clock, aware
from cm_bot.engine.ports import ClientView, FlagView, RunState, StaffTarget, Token
from cm_bot.storage import outbox
from cm_bot.storage.casework import CaseworkMixin
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    Client,
    ConsentRecord,
    Flag,
    FlowRun,
    InboundMessage,
    Outbox,
    PromptToken,
    Response,
    ScheduledContact,
    ScoreResult,
    metadata,
)

OPEN_RUN = (RunStatus.ACTIVE.value, RunStatus.PAUSED.value)
OnExit = Callable[[Any, int, date, datetime], Any]
OnGoal = Callable[[Any, int, datetime], Any]

# -- statements built once ------------------------------------------------------------------------

_INBOX = metadata.tables["inboundmessage"]
_CLIENT = metadata.tables["client"]
_IDENTITY = metadata.tables["channelidentity"]
_CASE = metadata.tables["case"]
_RUN = metadata.tables["flowrun"]
_RESPONSE = metadata.tables["response"]
_SCORE = metadata.tables["scoreresult"]
_FLAG = metadata.tables["flag"]
_STAFF = metadata.tables["staff"]
_OUTBOX = metadata.tables["outbox"]
_TOKEN = metadata.tables["prompttoken"]
_CONSENT = metadata.tables["consentrecord"]
_CONTACT = metadata.tables["scheduledcontact"]


def _per_dialect(table: Any, unique: list[str], *returning: Any) -> dict[str, Any]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING, for both databases."""
    return {
        name: dialect.insert(table)
        .on_conflict_do_nothing(index_elements=unique)
        .returning(*returning)
        for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
    }


def _one_of(column: Any, values: Sequence[str]) -> Any:
    """``column IN (?, ?)``: one plain bound parameter per constant.

    ``column.in_(values)`` would make an "expanding" parameter, which SQLAlchemy renders
    into the SQL string again on every execution: 30-40 µs for the client lookup.
    """
    return column.in_([literal(value) for value in values])


def _staff_id(user: Any) -> Any:
    """The id of the active staff member bound to Telegram user ``user`` (else NULL).

    Asked with the update's inbox row, so that the turn's first question, "is this staff?"
    (``staff_for``), is usually answered without a statement of its own.
    """
    return (
        select(_STAFF.c.id)
        .where(_STAFF.c.telegram_user_id == user, _STAFF.c.active.is_(True))
        .limit(1)
        .scalar_subquery()
    )


_RECORD_INBOUND = _per_dialect(_INBOX, ["channel", "external_id"], _INBOX.c.id)
# For an update handled in the same transaction (``handle``): the sender's staff id comes back
# with the insert. ``accept`` alone does not ask: the claim that handles it later does.
_RECORD_INBOUND_FOR_HANDLING = _per_dialect(
    _INBOX, ["channel", "external_id"], _INBOX.c.id, _staff_id(bindparam("staff_user"))
)
_PENDING_INBOUND = (
    select(_INBOX.c.id)
    .where(
        _INBOX.c.channel == bindparam("channel"),
        _INBOX.c.chat_id == bindparam("chat_id"),
        _INBOX.c.status == "pending",
    )
    .order_by(_INBOX.c.id)
)
_INBOUND_COLUMNS = (
    _INBOX.c.channel,
    _INBOX.c.external_id,
    _INBOX.c.external_user_id,
    _INBOX.c.chat_id,
    _INBOX.c.kind,
    _INBOX.c.text,
    _INBOX.c.payload,
    _INBOX.c.language,
    _INBOX.c.chat_type,
    _INBOX.c.is_bot,
    _INBOX.c.received_at,
)
_CLAIM_INBOUND = (
    select(*_INBOUND_COLUMNS, _staff_id(_INBOX.c.external_user_id))
    .where(_INBOX.c.id == bindparam("inbound_id"), _INBOX.c.status == "pending")
    .with_for_update()
)
_PENDING_CHATS = (
    select(_INBOX.c.channel, _INBOX.c.chat_id).where(_INBOX.c.status == "pending").distinct()
)
_FINISH_INBOUND = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("b_id"))
    .values(
        status="done",
        text=None,
        payload=None,
        client_id=bindparam("b_client"),
        handled_at=bindparam("b_now"),
    )
)

# Senders no case knows: a salted hash stands in for their Telegram id (unknown_sender).
SENDER_SALT = "sender_salt"  # the ProgramSetting key of the salt
_SETTING = metadata.tables["programsetting"]
_READ_SETTING = select(_SETTING.c.value).where(_SETTING.c.key == bindparam("key"))
_ADD_SETTING = {
    name: dialect.insert(_SETTING).on_conflict_do_nothing(index_elements=["key"])
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
_LOCK_SENDER = select(func.pg_advisory_xact_lock(cast(bindparam("key"), BigInteger)))
_SENDER_SEEN = select(
    exists().where(
        _INBOX.c.channel == bindparam("channel"),
        _INBOX.c.chat_id == bindparam("sender"),  # ix_inbound_chat_status
        _INBOX.c.received_at >= bindparam("since"),
    )
)
# An unlinked crisis flag raised for this sender since a time (their updates' flags are
# keyed "crisis:<sender>:<inbound id>"); rare, so the flag table's own indexes do.
_SENDER_CRISIS_FLAGGED = select(
    exists().where(
        _FLAG.c.rule_id == "crisis_words_unlinked",
        _FLAG.c.dedupe_key.startswith(bindparam("prefix")),  # hex: no wildcard in it
        _FLAG.c.created_at >= bindparam("since"),
    )
)
_NAME_SENDER = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("b_id"))
    .values(
        external_user_id=bindparam("b_sender"),
        chat_id=bindparam("b_sender"),
        text=None,
        payload=None,
    )
)
_DROP_INBOUND = delete(_INBOX).where(_INBOX.c.id == bindparam("b_id"))
_UNLINK_REPLIES = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(inbound_id=None)
)

_RUN_COLUMNS = (
    _RUN.c.id,
    _RUN.c.flow_id,
    _RUN.c.flow_version,
    _RUN.c.status,
    _RUN.c.step_id,
    _RUN.c.prompt_seq,
    _RUN.c.bad_attempts,
    _RUN.c.locale,
    _RUN.c.answers,
    _RUN.c.context,
    _RUN.c.fired_flags,
    _RUN.c.case_id,
    _RUN.c.updated_at,
)


def _newest(table: Any, where: Callable[[Any], Any] | None = None) -> Any:
    """The id of the client's newest row of ``table`` (a subquery of the client lookup)."""
    newest = table.alias(f"newest_{table.name}")
    conditions = [newest.c.client_id == _CLIENT.c.id]
    if where is not None:
        conditions.append(where(newest))
    return select(func.max(newest.c.id)).where(*conditions).correlate(_CLIENT).scalar_subquery()


# One statement finds the client, their channel identity and newest case, and also reads
# what nearly every turn asks next: the open run and the latest consent record.
_CLIENT_VIEW = select(
    _CLIENT.c.id,
    _CLIENT.c.status,
    _CLIENT.c.locale,
    _IDENTITY.c.channel,
    _IDENTITY.c.chat_id,
    _CASE.c.id,
    _CASE.c.ref,
    _CASE.c.manager_id,
    # The open urgent flag that pauses the client (ix_flag_client_urgent_open).
    select(func.max(_FLAG.c.id))
    .where(
        _FLAG.c.client_id == _CLIENT.c.id,
        _FLAG.c.severity == "urgent",
        _FLAG.c.status != "resolved",
    )
    .correlate(_CLIENT)
    .scalar_subquery(),
    *_RUN_COLUMNS,
    _CONSENT.c.action,
    _CONSENT.c.flow_id,
    _CONSENT.c.version,
).select_from(
    _IDENTITY.join(_CLIENT, _CLIENT.c.id == _IDENTITY.c.client_id)
    .outerjoin(_CASE, _CASE.c.id == _newest(_CASE))
    .outerjoin(_RUN, _RUN.c.id == _newest(_RUN, lambda run: _one_of(run.c.status, OPEN_RUN)))
    .outerjoin(_CONSENT, _CONSENT.c.id == _newest(_CONSENT))
)
_VIEW, _OPEN_RUN, _CONSENT_ROW = slice(0, 9), slice(9, 9 + len(_RUN_COLUMNS)), slice(-3, None)
_CLIENT_FOR = _CLIENT_VIEW.where(
    _IDENTITY.c.channel == bindparam("channel"),
    _IDENTITY.c.external_user_id == bindparam("user"),
)
_CLIENT_FOR_LOCKED = _CLIENT_FOR.with_for_update(of=_CLIENT)
_CLIENT_BY_ID = (
    _CLIENT_VIEW.where(_CLIENT.c.id == bindparam("client_id")).order_by(_IDENTITY.c.id).limit(1)
)
_SET_CLIENT: dict[tuple[str, ...], Update] = {
    keys: update(_CLIENT)
    .where(_CLIENT.c.id == bindparam("b_id"))
    .values({key: bindparam(f"b_{key}") for key in keys})
    for keys in (
        ("locale",),
        ("status",),
        ("timezone",),
        ("locale", "status"),
        ("locale", "timezone"),
        ("status", "timezone"),
        ("locale", "status", "timezone"),
    )
}

_CURRENT_RUN = (
    select(*_RUN_COLUMNS)
    .where(_RUN.c.client_id == bindparam("client_id"), _one_of(_RUN.c.status, OPEN_RUN))
    .order_by(_RUN.c.id.desc())
    .limit(1)
)
_ABANDON_RUNS = (
    update(_RUN)
    .where(_RUN.c.client_id == bindparam("b_client"), _one_of(_RUN.c.status, OPEN_RUN))
    .values(
        status=RunStatus.ABANDONED.value,
        ended_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
)
_START_RUN = insert(_RUN).returning(_RUN.c.id)
_RUN_VALUES = {
    "status": bindparam("b_status"),
    "step_id": bindparam("b_step"),
    "prompt_seq": bindparam("b_seq"),
    "bad_attempts": bindparam("b_bad"),
    "locale": bindparam("b_locale"),
    "answers": bindparam("b_answers", type_=_RUN.c.answers.type),
    "context": bindparam("b_context", type_=_RUN.c.context.type),
    "fired_flags": bindparam("b_fired", type_=_RUN.c.fired_flags.type),
    "updated_at": bindparam("b_now"),
}
_SAVE_RUN = update(_RUN).where(_RUN.c.id == bindparam("b_id")).values(_RUN_VALUES)
_END_RUN = (
    update(_RUN)
    .where(_RUN.c.id == bindparam("b_id"))
    .values({**_RUN_VALUES, "ended_at": bindparam("b_now")})
)
_FINISHED_FLOWS = (
    select(_RUN.c.flow_id)
    .where(
        _RUN.c.client_id == bindparam("client_id"),
        _one_of(_RUN.c.status, (RunStatus.COMPLETED.value, RunStatus.ENDED.value)),
    )
    .distinct()
)

_ADD_RESPONSE = insert(_RESPONSE)
_EARLIER_ANSWER = (
    select(_RESPONSE.c.value, _RESPONSE.c.answered_at)
    .select_from(_RESPONSE.join(_RUN, _RUN.c.id == _RESPONSE.c.run_id))
    .where(
        _RESPONSE.c.client_id == bindparam("client_id"),
        _RESPONSE.c.flow_id == bindparam("flow_id"),
        _RESPONSE.c.key == bindparam("key"),
        _one_of(_RUN.c.status, (RunStatus.COMPLETED.value, RunStatus.ENDED.value)),
    )
    .order_by(_RESPONSE.c.id.desc())
    .limit(1)
)
_DELETE_SCORE = delete(_SCORE).where(
    _SCORE.c.run_id == bindparam("run_id"), _SCORE.c.score_id == bindparam("score_id")
)
_ADD_SCORE = insert(_SCORE)
_RAISE_FLAG = _per_dialect(_FLAG, ["dedupe_key"], _FLAG.c.id)
_OPEN_FLAG_EXISTS = select(
    exists().where(
        _FLAG.c.client_id == bindparam("client_id"),
        _FLAG.c.rule_id == bindparam("rule_id"),
        _FLAG.c.status != "resolved",
    )
)
_STAFF_BY_ID = select(
    _STAFF.c.id,
    _STAFF.c.active,
    _STAFF.c.telegram_user_id,
    _STAFF.c.blocked_at,
    _STAFF.c.locale,
    _STAFF.c.timezone,
).where(_STAFF.c.id == bindparam("staff_id"))

_ENQUEUE = insert(_OUTBOX).returning(_OUTBOX.c.id)
_CLIENT_TOKENS = select(
    _TOKEN.c.id, _TOKEN.c.token, _TOKEN.c.run_id, _TOKEN.c.prompt_seq, _TOKEN.c.value_key
).where(_TOKEN.c.client_id == bindparam("client_id"))
_DELETE_TOKENS = delete(_TOKEN).where(_TOKEN.c.id.in_(bindparam("ids", expanding=True)))
_DELETE_STALE_TOKENS = delete(_TOKEN).where(
    _TOKEN.c.client_id == bindparam("client_id"),
    or_(
        _TOKEN.c.run_id.is_(None),
        _TOKEN.c.run_id != bindparam("run_id"),
        _TOKEN.c.prompt_seq < bindparam("prompt_seq"),
    ),
)
_ADD_TOKENS = insert(_TOKEN)
_MENU_VALUES = (
    select(_TOKEN.c.value)
    .where(
        _TOKEN.c.client_id == bindparam("client_id"),
        _TOKEN.c.run_id.is_(None),
        _TOKEN.c.staff_id.is_(None),
    )
    .order_by(_TOKEN.c.id)
)
_FORGET_BUTTONS = delete(_TOKEN).where(
    _TOKEN.c.client_id == bindparam("client_id"), _TOKEN.c.run_id.is_(None)
)
_RESOLVE_TOKEN = (
    select(
        _TOKEN.c.client_id,
        _TOKEN.c.run_id,
        _TOKEN.c.prompt_seq,
        _TOKEN.c.value,
        _TOKEN.c.staff_id,
    )
    .where(_TOKEN.c.token == bindparam("token"))
    .limit(1)
)

_ADD_CONSENT = insert(_CONSENT)
_LATEST_CONSENT = (
    select(_CONSENT.c.action, _CONSENT.c.flow_id, _CONSENT.c.version)
    .where(_CONSENT.c.client_id == bindparam("client_id"))
    .order_by(_CONSENT.c.id.desc())
    .limit(1)
)
_CONTACT_FINISHED = (
    update(_CONTACT)
    .where(_CONTACT.c.id == bindparam("b_id"), _one_of(_CONTACT.c.status, ("pending", "sent")))
    .values(status="answered", outcome=bindparam("b_outcome"), updated_at=bindparam("b_now"))
)
_CANCEL_CONTACTS = (
    update(_CONTACT)
    .where(
        _CONTACT.c.status == "pending",
        or_(
            _CONTACT.c.client_id == bindparam("b_client"),
            _CONTACT.c.case_id.in_(
                select(_CASE.c.id).where(_CASE.c.client_id == bindparam("b_client"))
            ),
        ),
    )
    .values(status="cancelled", outcome=bindparam("b_outcome"), updated_at=bindparam("b_now"))
)


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class SqlUnitOfWork(CaseworkMixin):
    """Implements :class:`cm_bot.engine.ports.UnitOfWork` on one session (one transaction)."""

    def __init__(
        self,
        session: Session,
        *,
        now: datetime | None = None,
        on_exit: OnExit | None = None,
        on_goal: OnGoal | None = None,
    ) -> None:
        # The transaction's moment (UnitOfWork.now); outside the app (tests, the CLI) the
        # wall clock.
        super().__init__(session, aware(now) if now is not None else SYSTEM_CLOCK.now())
        self.on_exit = on_exit
        self.on_goal = on_goal
        self._dialect = session.get_bind().dialect.name
        # Read with the client (see _CLIENT_VIEW) and kept for this transaction: the open
        # run until a run is written, the latest consent record until one is recorded.
        self._runs: dict[int, Sequence[Any] | None] = {}
        self._consent: dict[int, Sequence[Any] | None] = {}

    def _forget(self) -> None:
        super()._forget()
        self._runs.clear()
        self._consent.clear()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction (SAVEPOINT): rolled back alone when the block raises."""
        with self.session.begin_nested():
            yield

    # -- inbox -----------------------------------------------------------------

    def record_inbound(self, inbound: Inbound, *, handling: bool = False) -> int | None:
        """Insert the update unless (channel, external id) was seen; the unique key is the guard.

        ``handling``: this transaction handles the update too, so look up its sender among
        staff with the insert.
        """
        statement = _RECORD_INBOUND_FOR_HANDLING if handling else _RECORD_INBOUND
        row = self._sql(
            statement[self._dialect],
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
                "status": "pending",
                "attempts": 0,
                "received_at": inbound.received_at,
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
            self._staff.setdefault((inbound.channel, inbound.user_id), None)

    def fail_inbound(self, inbound_id: int, max_attempts: int) -> Inbound | None:
        """Count the failure; dead-letter the row (and drop its text) after the last attempt."""
        row = self.session.get(InboundMessage, inbound_id, with_for_update=True)
        if row is None or row.status != "pending":
            return None
        row.attempts += 1
        if row.attempts < max_attempts:
            return None
        inbound = _inbound(row)
        row.status = "dead"
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

    # -- senders no case knows --------------------------------------------------------

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
        if self._dialect == "postgresql":
            self._sql(_LOCK_SENDER, {"key": int(name[:15], 16)})
        return name

    def _sender_salt(self) -> bytes:
        """The salt, made once; two workers making it at once both end up reading the winner's."""
        row = self._sql(_READ_SETTING, {"key": SENDER_SALT}).first()
        if row is None:
            self._sql(
                _ADD_SETTING[self._dialect],
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

    # -- clients and runs ------------------------------------------------------------

    def client_for(self, channel: str, external_user_id: str, *, lock: bool) -> ClientView | None:
        """The bound client with their newest case; ``lock`` takes the client's row lock."""
        row = self._sql(
            _CLIENT_FOR_LOCKED if lock else _CLIENT_FOR,
            {"channel": channel, "user": external_user_id},
        ).first()
        return None if row is None else self._view(row)

    def client_by_id(self, client_id: int) -> ClientView | None:
        """The client with their first channel identity (for scheduled contacts)."""
        row = self._sql(_CLIENT_BY_ID, {"client_id": client_id}).first()
        return None if row is None else self._view(row)

    def _view(self, row: Sequence[Any]) -> ClientView:
        self._fresh()
        view = ClientView(*row[_VIEW])
        run, consent = row[_OPEN_RUN], row[_CONSENT_ROW]
        self._runs[view.client_id] = run if run[0] is not None else None
        self._consent[view.client_id] = consent if consent[0] is not None else None
        return view

    def set_client(
        self,
        client_id: int,
        *,
        locale: str | None = None,
        status: str | None = None,
        timezone: str | None = None,
    ) -> None:
        """Change a client's language, status or time zone."""
        values = {
            key: value
            for key, value in (("locale", locale), ("status", status), ("timezone", timezone))
            if value is not None
        }
        if values:
            params: dict[str, Any] = {f"b_{key}": str(value) for key, value in values.items()}
            params["b_id"] = client_id
            self._change(_SET_CLIENT[tuple(values)], params, Client)

    def current_run(self, client_id: int) -> RunState | None:
        """The client's open (active or paused) run."""
        self._fresh()
        if client_id in self._runs:
            row = self._runs[client_id]
        else:
            row = self._runs[client_id] = self._sql(_CURRENT_RUN, {"client_id": client_id}).first()
        if row is None:
            return None
        return RunState(
            run_id=row[0],
            flow_id=row[1],
            flow_version=row[2],
            status=row[3],
            step_id=row[4],
            prompt_seq=row[5],
            bad_attempts=row[6],
            locale=row[7],
            answers=dict(row[8] or {}),
            context=dict(row[9] or {}),
            fired_flags=list(row[10] or []),
            case_id=row[11],
            updated_at=row[12],
        )

    def start_run(
        self,
        client: ClientView,
        flow_id: str,
        flow_version: int,
        locale: str,
        context: Mapping[str, Any],
    ) -> RunState:
        """Abandon any open run and start a new one."""
        now = self.now
        self._runs.clear()
        self._change(_ABANDON_RUNS, {"b_client": client.client_id, "b_now": now}, FlowRun)
        run_id = self._sql(
            _START_RUN,
            {
                "client_id": client.client_id,
                "case_id": client.case_id,
                "flow_id": flow_id,
                "flow_version": flow_version,
                "status": RunStatus.ACTIVE.value,
                "step_id": None,
                "prompt_seq": 0,
                "bad_attempts": 0,
                "locale": locale,
                "answers": {},
                "context": dict(context),
                "fired_flags": [],
                "scheduled_contact_id": context.get("scheduled_contact_id"),
                "started_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        return RunState(
            run_id=int(run_id),
            flow_id=flow_id,
            flow_version=flow_version,
            status=RunStatus.ACTIVE.value,
            step_id=None,
            prompt_seq=0,
            bad_attempts=0,
            locale=locale,
            context=dict(context),
            case_id=client.case_id,
            updated_at=now,
        )

    def save_run(self, run: RunState, *, ended: bool = False) -> None:
        """Persist the run's state (copies, so later mutation cannot leak in)."""
        self._runs.clear()
        self._change(
            _END_RUN if ended else _SAVE_RUN,
            {
                "b_id": run.run_id,
                "b_status": str(run.status),
                "b_step": run.step_id,
                "b_seq": run.prompt_seq,
                "b_bad": run.bad_attempts,
                "b_locale": run.locale,
                "b_answers": dict(run.answers),
                "b_context": dict(run.context),
                "b_fired": list(run.fired_flags),
                "b_now": self.now,
            },
            FlowRun,
        )

    def finished_flows(self, client_id: int) -> set[str]:
        """Flows this client completed, or that a rule ended (a crisis stop is not re-offered)."""
        return set(self._sql(_FINISHED_FLOWS, {"client_id": client_id}).scalars())

    # -- answers, scores, flags -----------------------------------------------------

    def add_response(
        self,
        client: ClientView,
        run: RunState,
        step_id: str,
        key: str,
        value: Any,
        question: str,
        inbound_id: int | None,
        provenance: str | None = None,
    ) -> None:
        """Store one answer with the question as shown and the locale it was asked in."""
        goal_id = run.context.get("goal_id")
        self._sql(
            _ADD_RESPONSE,
            {
                "case_id": client.case_id,
                "client_id": client.client_id,
                "run_id": run.run_id,
                "flow_id": run.flow_id,
                "flow_version": run.flow_version,
                "step_id": step_id,
                "key": key,
                "value": value,
                "question": question,
                "locale": run.locale,
                "goal_id": goal_id if isinstance(goal_id, int) else None,
                "inbound_id": inbound_id,
                "provenance": provenance,
                "answered_at": self.now,
            },
        )

    def earlier_answer(self, client_id: int, flow_id: str, key: str) -> tuple[Any, datetime] | None:
        """The client's latest answer to ``key`` in a finished run of ``flow_id``."""
        row = self._sql(
            _EARLIER_ANSWER, {"client_id": client_id, "flow_id": flow_id, "key": key}
        ).first()
        return None if row is None else (row[0], row[1])

    def save_score(
        self,
        client: ClientView,
        run: RunState,
        score_id: str,
        instrument: str | None,
        result: Mapping[str, Any],
    ) -> None:
        """Store a run's score once (a re-computation replaces it)."""
        self._change(_DELETE_SCORE, {"run_id": run.run_id, "score_id": score_id}, ScoreResult)
        value = result.get("score")
        band = result.get("band")
        self._sql(
            _ADD_SCORE,
            {
                "case_id": client.case_id,
                "client_id": client.client_id,
                "run_id": run.run_id,
                "flow_id": run.flow_id,
                "score_id": score_id,
                "instrument": instrument,
                "value": float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else None,
                "band": band if isinstance(band, str) else None,
                "result": dict(result),
                "computed_at": self.now,
            },
        )

    def raise_flag(
        self,
        client: ClientView | None,
        *,
        severity: Severity,
        reason: str,
        rule_id: str,
        dedupe_key: str,
        source_key: str | None = None,
        source_value: Any = None,
    ) -> int | None:
        """Insert the flag unless its dedupe key exists."""
        row = self._sql(
            _RAISE_FLAG[self._dialect],
            {
                "case_id": client.case_id if client else None,
                "client_id": client.client_id if client else None,
                "severity": severity.value,
                "reason": reason,
                "rule_id": rule_id,
                "dedupe_key": dedupe_key,
                "source_key": source_key,
                "source_value": source_value,
                "status": "open",
                "created_at": self.now,
            },
        ).first()
        return None if row is None else int(row[0])

    def open_flag_exists(self, client_id: int, rule_id: str) -> bool:
        """Whether an unresolved flag of this rule exists for the client."""
        return bool(
            self._sql(_OPEN_FLAG_EXISTS, {"client_id": client_id, "rule_id": rule_id}).scalar()
        )

    def staff_targets(self, client: ClientView) -> list[StaffTarget]:
        """The client's case manager, if bound to Telegram."""
        if client.manager_id is None:
            return []
        row = self._sql(_STAFF_BY_ID, {"staff_id": client.manager_id}).first()
        if (
            row is None
            or not row.active
            or row.telegram_user_id is None
            or row.blocked_at is not None
        ):
            return []
        return [StaffTarget(row.id, "telegram", row.telegram_user_id, row.locale, row.timezone)]

    # -- outbox, buttons --------------------------------------------------------------

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

    def tokens(
        self,
        client_id: int,
        run_id: int | None,
        prompt_seq: int,
        values: Sequence[Any],
        *,
        new_prompt: bool = False,
    ) -> list[str]:
        """Random payloads bound to this client and prompt; stable while the prompt stands.

        At most one read of the client's buttons, one delete of the stale ones and one
        batched insert, however many buttons the prompt has; a new prompt skips the read.
        """
        if not values:
            return []
        keys = [_value_key({"r": run_id, "s": prompt_seq, "v": value}) for value in values]
        issued: dict[str, str] = {}
        if new_prompt and run_id is not None:
            retire: tuple[Any, dict[str, Any]] | None = (
                _DELETE_STALE_TOKENS,
                {"client_id": client_id, "run_id": run_id, "prompt_seq": prompt_seq},
            )
        else:
            stale: list[int] = []
            for row in self._sql(_CLIENT_TOKENS, {"client_id": client_id}):
                issued[row.value_key] = row.token
                if row.run_id is None or row.run_id != run_id or row.prompt_seq < prompt_seq:
                    stale.append(row.id)
            retire = (_DELETE_TOKENS, {"ids": stale}) if run_id is not None and stale else None
        new: dict[str, Any] = {}
        for key, value in zip(keys, values, strict=True):
            if key not in issued and key not in new:
                new[key] = value
        if not new:
            return [issued[key] for key in keys]
        if retire is not None:
            # Buttons of earlier prompts (and of answered confirmations) stop working:
            # "that question has closed".
            self._change(*retire, PromptToken)
        rows = [
            {
                "token": secrets.token_urlsafe(12),
                "client_id": client_id,
                "staff_id": None,
                "run_id": run_id,
                "prompt_seq": prompt_seq,
                "value": value,
                "value_key": key,
            }
            for key, value in new.items()
        ]
        self._sql(_ADD_TOKENS, rows)
        issued.update((row["value_key"], row["token"]) for row in rows)
        return [issued[key] for key in keys]

    def menu_values(self, client_id: int) -> list[dict[str, Any]]:
        """The values of the client's buttons that belong to no question: the open menu."""
        rows = self._sql(_MENU_VALUES, {"client_id": client_id}).scalars()
        return [dict(value) for value in rows if isinstance(value, dict)]

    def forget_buttons(self, client_id: int) -> None:
        """Delete the client's question-less buttons."""
        self._change(_FORGET_BUTTONS, {"client_id": client_id}, PromptToken)

    def resolve_token(self, payload: str) -> Token | None:
        """What a payload means, if we issued it."""
        if not payload or len(payload) > 64:
            return None
        row = self._sql(_RESOLVE_TOKEN, {"token": payload}).first()
        return None if row is None else Token(*row)

    # -- consent, contacts, audit ---------------------------------------------------------

    def record_consent(
        self,
        client: ClientView,
        *,
        action: str,
        flow_id: str,
        version: int,
        text_sha256: str,
        locale: str,
        decisions: Mapping[str, Any],
        inbound_id: int | None,
    ) -> None:
        """Append a consent record."""
        self._consent.pop(client.client_id, None)
        self._sql(
            _ADD_CONSENT,
            {
                "client_id": client.client_id,
                "case_id": client.case_id,
                "action": action,
                "flow_id": flow_id,
                "version": version,
                "text_sha256": text_sha256,
                "locale": locale,
                "decisions": dict(decisions),
                "inbound_id": inbound_id,
                "recorded_at": self.now,
            },
        )

    def consent_version(self, client_id: int, flow_id: str) -> int | None:
        """The version of the standing grant, if the latest record is a grant."""
        self._fresh()
        if client_id not in self._consent:
            self._consent[client_id] = self._sql(_LATEST_CONSENT, {"client_id": client_id}).first()
        latest = self._consent[client_id]
        if latest is None or latest[0] != "granted" or latest[1] != flow_id:
            return None
        return int(latest[2])

    def contact_finished(self, contact_id: int, outcome: str) -> None:
        """Record that the client answered (or a rule ended) the contact's flow."""
        self._change(
            _CONTACT_FINISHED,
            {"b_id": contact_id, "b_outcome": outcome, "b_now": self.now},
            ScheduledContact,
        )

    def data_summary(self, client_id: int) -> dict[str, Any]:
        """What ``/mydata`` tells a client: counts, never contents."""

        def count(table: Any, column: Any) -> int:
            return int(
                self.session.execute(
                    select(func.count()).select_from(table).where(column == client_id)
                ).scalar_one()
            )

        consent: ConsentRecord | None = (
            self.session.execute(
                select(ConsentRecord)
                .where(col(ConsentRecord.client_id) == client_id)
                .order_by(col(ConsentRecord.id).desc())
            )
            .scalars()
            .first()
        )
        return {
            "answers": count(Response, col(Response.client_id)),
            "scores": count(ScoreResult, col(ScoreResult.client_id)),
            "flags": count(Flag, col(Flag.client_id)),
            "consent_action": consent.action if consent else None,
            "consent_at": consent.recorded_at if consent else None,
        }

    def cancel_contacts(self, client_id: int, outcome: str) -> int:
        """Cancel pending contacts of the client's cases."""
        result = self._change(
            _CANCEL_CONTACTS,
            {"b_client": client_id, "b_outcome": outcome, "b_now": self.now},
            ScheduledContact,
        )
        return int(result.rowcount or 0)

    def audit(self, actor: str, action: str, case_id: int | None = None, **detail: Any) -> None:
        """Append an audit row."""
        self.session.add(
            AuditLog(
                at=self.now, actor=actor, action=action, case_id=case_id, detail=detail or None
            )
        )

    def already_told_chat(self, channel: str, chat_id: str, since: datetime | None = None) -> bool:
        """Whether we wrote to this chat (since a time)."""
        conditions = [col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id]
        if since is not None:
            conditions.append(col(Outbox.created_at) >= since)
        return bool(self.session.execute(select(exists().where(*conditions))).scalar())


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


class SqlStore:
    """Opens units of work on one SQLAlchemy engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock | None = None,
        on_exit: OnExit | None = None,
        on_goal: OnGoal | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock or SYSTEM_CLOCK  # every unit of work's ``now`` comes from it
        # The scheduling layer's planners, run in the exit's (the goal's) own transaction:
        # post-exit follow-ups, a new goal's first check-in.
        self.on_exit = on_exit
        self.on_goal = on_goal

    @contextmanager
    def unit(self, now: datetime | None = None) -> Iterator[SqlUnitOfWork]:
        """One transaction, at ``now`` (default: the clock's time as it opens)."""
        with transaction(self.engine) as session:
            yield SqlUnitOfWork(
                session,
                now=now if now is not None else self.clock.now(),
                on_exit=self.on_exit,
                on_goal=self.on_goal,
            )

    def count(self, table: type[Any]) -> int:
        """Rows in a table (tests and reports)."""
        with transaction(self.engine) as session:
            return int(session.execute(select(func.count()).select_from(table)).scalar_one())

    # -- for a channel that delivers in-process (the terminal) --------------------------

    def claim_chat(self, channel: str, chat_id: str) -> list[tuple[int, Outbound]]:
        """Take one chat's due messages, most urgent first (:func:`outbox.claim`).

        The reader shows each one, then calls :meth:`mark_shown`.
        """
        return [
            (item.id, item.message) for item in outbox.claim(self.engine, channel, chat_id=chat_id)
        ]

    def mark_shown(self, outbox_id: int) -> None:
        """A message taken by :meth:`claim_chat` was shown: it is sent."""
        outbox.mark_sent(self.engine, outbox_id, None)

    def newest_flag_id(self) -> int:
        """The id of the latest flag (0: none yet), to show only flags raised after it."""
        with transaction(self.engine) as session:
            return int(session.execute(select(func.max(col(Flag.id)))).scalar() or 0)

    def flags_after(self, flag_id: int) -> list[FlagView]:
        """Flags raised after ``flag_id``, oldest first."""
        with self.unit() as uow:
            ids = list(
                uow.session.execute(
                    select(col(Flag.id)).where(col(Flag.id) > flag_id).order_by(col(Flag.id))
                ).scalars()
            )
            return [view for found in ids if (view := uow.flag_view(found)) is not None]


__all__ = ["SqlStore", "SqlUnitOfWork"]
