"""The engine's ports over SQLModel: one :class:`SqlUnitOfWork` is one database transaction."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from cm_bot.domain import Inbound, InboundKind, Outbound, RunStatus, Severity
from cm_bot.engine.ports import ClientView, RunState, StaffTarget, Token
from cm_bot.storage.casework import CaseworkMixin
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    Case,
    ChannelIdentity,
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
    Staff,
    utcnow,
)

OPEN_RUN = (RunStatus.ACTIVE.value, RunStatus.PAUSED.value)
OnExit = Callable[[Any, int, date, datetime], Any]


def _insert(session: Session, table: type[Any]) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING on both databases."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class SqlUnitOfWork(CaseworkMixin):
    """Implements :class:`cm_bot.engine.ports.UnitOfWork` on one session (one transaction)."""

    def __init__(self, session: Session, *, on_exit: OnExit | None = None) -> None:
        self.session = session
        self.on_exit = on_exit

    # -- inbox -----------------------------------------------------------------

    def record_inbound(self, inbound: Inbound) -> int | None:
        """Insert the update unless (channel, external id) was seen; the unique key is the guard."""
        statement = (
            _insert(self.session, InboundMessage)
            .values(
                channel=inbound.channel,
                external_id=inbound.external_id,
                external_user_id=inbound.user_id,
                chat_id=inbound.chat_id,
                chat_type=inbound.chat_type,
                kind=inbound.kind.value,
                text=inbound.text,
                payload=inbound.payload,
                language=inbound.language,
                is_bot=inbound.is_bot,
                status="pending",
                attempts=0,
                received_at=inbound.received_at,
            )
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(col(InboundMessage.id))
        )
        row = self.session.execute(statement).first()
        return None if row is None else int(row[0])

    def pending_inbound(self, channel: str, chat_id: str) -> list[int]:
        """The chat's pending updates, in arrival order."""
        return [
            int(i)
            for i in self.session.execute(
                select(col(InboundMessage.id))
                .where(
                    col(InboundMessage.channel) == channel,
                    col(InboundMessage.chat_id) == chat_id,
                    col(InboundMessage.status) == "pending",
                )
                .order_by(col(InboundMessage.id))
            ).scalars()
        ]

    def claim_inbound(self, inbound_id: int) -> Inbound | None:
        """Lock the row; a row another worker already handled comes back ``None``."""
        row: InboundMessage | None = (
            self.session.execute(
                select(InboundMessage)
                .where(
                    col(InboundMessage.id) == inbound_id, col(InboundMessage.status) == "pending"
                )
                .with_for_update()
            )
            .scalars()
            .first()
        )
        return None if row is None else _inbound(row)

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
        row.handled_at = utcnow()
        return inbound

    def pending_chats(self) -> list[tuple[str, str]]:
        """Every chat with pending updates."""
        rows = self.session.execute(
            select(col(InboundMessage.channel), col(InboundMessage.chat_id))
            .where(col(InboundMessage.status) == "pending")
            .distinct()
        ).all()
        return [(str(channel), str(chat)) for channel, chat in rows]

    def finish_inbound(self, inbound_id: int, client_id: int | None) -> None:
        """Mark handled; the raw text is dropped because the answer now lives in a response."""
        self.session.execute(
            update(InboundMessage)
            .where(col(InboundMessage.id) == inbound_id)
            .values(
                status="done", text=None, payload=None, client_id=client_id, handled_at=utcnow()
            )
        )

    # -- clients and runs ------------------------------------------------------------

    def client_for(self, channel: str, external_user_id: str, *, lock: bool) -> ClientView | None:
        """The bound client with their open case; ``lock`` takes the client's row lock."""
        statement = (
            select(Client, ChannelIdentity)
            .join(ChannelIdentity, col(ChannelIdentity.client_id) == col(Client.id))
            .where(
                col(ChannelIdentity.channel) == channel,
                col(ChannelIdentity.external_user_id) == external_user_id,
            )
        )
        if lock:
            statement = statement.with_for_update(of=Client)
        row = self.session.execute(statement).first()
        if row is None:
            return None
        client, identity = row
        assert client.id is not None
        return self._view(client, identity)

    def client_by_id(self, client_id: int) -> ClientView | None:
        """The client with their first channel identity (for scheduled contacts)."""
        row = self.session.execute(
            select(Client, ChannelIdentity)
            .join(ChannelIdentity, col(ChannelIdentity.client_id) == col(Client.id))
            .where(col(Client.id) == client_id)
            .order_by(col(ChannelIdentity.id))
        ).first()
        return None if row is None else self._view(row[0], row[1])

    def _view(self, client: Client, identity: ChannelIdentity) -> ClientView:
        case = (
            self.session.execute(
                select(Case).where(col(Case.client_id) == client.id).order_by(col(Case.id).desc())
            )
            .scalars()
            .first()
        )
        assert client.id is not None
        return ClientView(
            client_id=client.id,
            status=client.status,
            locale=client.locale,
            channel=identity.channel,
            chat_id=identity.chat_id,
            case_id=case.id if case else None,
            case_ref=case.ref if case else None,
            manager_id=case.manager_id if case else None,
        )

    def set_client(
        self,
        client_id: int,
        *,
        locale: str | None = None,
        status: str | None = None,
        timezone: str | None = None,
    ) -> None:
        """Change a client's language, status or time zone."""
        values: dict[str, Any] = {}
        if locale is not None:
            values["locale"] = locale
        if status is not None:
            values["status"] = str(status)
        if timezone is not None:
            values["timezone"] = timezone
        if values:
            self.session.execute(update(Client).where(col(Client.id) == client_id).values(**values))

    def current_run(self, client_id: int) -> RunState | None:
        """The client's open (active or paused) run."""
        row = (
            self.session.execute(
                select(FlowRun)
                .where(col(FlowRun.client_id) == client_id, col(FlowRun.status).in_(OPEN_RUN))
                .order_by(col(FlowRun.id).desc())
            )
            .scalars()
            .first()
        )
        return None if row is None else _state(row)

    def start_run(
        self,
        client: ClientView,
        flow_id: str,
        flow_version: int,
        locale: str,
        context: Mapping[str, Any],
    ) -> RunState:
        """Abandon any open run and start a new one."""
        now = utcnow()
        self.session.execute(
            update(FlowRun)
            .where(col(FlowRun.client_id) == client.client_id, col(FlowRun.status).in_(OPEN_RUN))
            .values(status=RunStatus.ABANDONED.value, ended_at=now, updated_at=now)
        )
        row = FlowRun(
            client_id=client.client_id,
            case_id=client.case_id,
            flow_id=flow_id,
            flow_version=flow_version,
            locale=locale,
            answers={},
            context=dict(context),
            fired_flags=[],
            scheduled_contact_id=context.get("scheduled_contact_id"),
        )
        self.session.add(row)
        self.session.flush()
        return _state(row)

    def save_run(self, run: RunState, *, ended: bool = False) -> None:
        """Persist the run's state (copies, so later mutation cannot leak in)."""
        now = utcnow()
        values: dict[str, Any] = {
            "status": str(run.status),
            "step_id": run.step_id,
            "prompt_seq": run.prompt_seq,
            "bad_attempts": run.bad_attempts,
            "locale": run.locale,
            "answers": dict(run.answers),
            "context": dict(run.context),
            "fired_flags": list(run.fired_flags),
            "updated_at": now,
        }
        if ended:
            values["ended_at"] = now
        self.session.execute(update(FlowRun).where(col(FlowRun.id) == run.run_id).values(**values))

    def finished_flows(self, client_id: int) -> set[str]:
        """Flows this client completed, or that a rule ended (a crisis stop is not re-offered)."""
        rows = self.session.execute(
            select(col(FlowRun.flow_id))
            .where(
                col(FlowRun.client_id) == client_id,
                col(FlowRun.status).in_((RunStatus.COMPLETED.value, RunStatus.ENDED.value)),
            )
            .distinct()
        ).scalars()
        return set(rows)

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
    ) -> None:
        """Store one answer with the question as shown and the locale it was asked in."""
        goal_id = run.context.get("goal_id")
        self.session.add(
            Response(
                case_id=client.case_id,
                client_id=client.client_id,
                run_id=run.run_id,
                flow_id=run.flow_id,
                flow_version=run.flow_version,
                step_id=step_id,
                key=key,
                value=value,
                question=question,
                locale=run.locale,
                goal_id=goal_id if isinstance(goal_id, int) else None,
                inbound_id=inbound_id,
            )
        )

    def save_score(
        self,
        client: ClientView,
        run: RunState,
        score_id: str,
        instrument: str | None,
        result: Mapping[str, Any],
    ) -> None:
        """Store a run's score once (a re-computation replaces it)."""
        self.session.execute(
            delete(ScoreResult).where(
                col(ScoreResult.run_id) == run.run_id, col(ScoreResult.score_id) == score_id
            )
        )
        value = result.get("score")
        self.session.add(
            ScoreResult(
                case_id=client.case_id,
                client_id=client.client_id,
                run_id=run.run_id,
                flow_id=run.flow_id,
                score_id=score_id,
                instrument=instrument,
                value=float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else None,
                band=result.get("band") if isinstance(result.get("band"), str) else None,
                result=dict(result),
            )
        )

    def raise_flag(
        self,
        client: ClientView,
        *,
        severity: Severity,
        reason: str,
        rule_id: str,
        dedupe_key: str,
        source_key: str | None = None,
        source_value: Any = None,
    ) -> int | None:
        """Insert the flag unless its dedupe key exists."""
        statement = (
            _insert(self.session, Flag)
            .values(
                case_id=client.case_id,
                client_id=client.client_id,
                severity=severity.value,
                reason=reason,
                rule_id=rule_id,
                dedupe_key=dedupe_key,
                source_key=source_key,
                source_value=source_value,
                status="open",
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(col(Flag.id))
        )
        row = self.session.execute(statement).first()
        return None if row is None else int(row[0])

    def open_flag_exists(self, client_id: int, rule_id: str) -> bool:
        """Whether an unresolved flag of this rule exists for the client."""
        return bool(
            self.session.execute(
                select(
                    exists().where(
                        col(Flag.client_id) == client_id,
                        col(Flag.rule_id) == rule_id,
                        col(Flag.status) != "resolved",
                    )
                )
            ).scalar()
        )

    def staff_targets(self, client: ClientView) -> list[StaffTarget]:
        """The client's case manager, if bound to Telegram."""
        if client.manager_id is None:
            return []
        staff = self.session.get(Staff, client.manager_id)
        if staff is None or not staff.active or staff.telegram_user_id is None:
            return []
        assert staff.id is not None
        return [StaffTarget(staff.id, "telegram", staff.telegram_user_id, None)]

    # -- outbox, buttons --------------------------------------------------------------

    def enqueue(
        self,
        message: Outbound,
        *,
        client_id: int | None = None,
        staff_id: int | None = None,
        flag_id: int | None = None,
        inbound_id: int | None = None,
    ) -> int:
        """Write a message to the outbox."""
        row = Outbox(
            channel=message.channel,
            chat_id=message.chat_id,
            client_id=client_id,
            staff_id=staff_id,
            flag_id=flag_id,
            inbound_id=inbound_id,
            text=message.text,
            buttons=[
                [{"label": b.label, "payload": b.payload} for b in r] for r in message.buttons
            ],
            priority=int(message.priority),
            edit_of=message.edit_of,
        )
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        return row.id

    def token(self, client_id: int, run_id: int | None, prompt_seq: int, value: Any) -> str:
        """A random payload bound to this client and prompt; stable while the prompt stands."""
        key = _value_key({"r": run_id, "s": prompt_seq, "v": value})
        existing = self.session.execute(
            select(col(PromptToken.token)).where(
                col(PromptToken.client_id) == client_id, col(PromptToken.value_key) == key
            )
        ).scalar()
        if existing is not None:
            return str(existing)
        if run_id is not None:
            # Buttons of earlier prompts (and of answered confirmations) stop working:
            # "that question has closed".
            self.session.execute(
                delete(PromptToken).where(
                    col(PromptToken.client_id) == client_id,
                    or_(
                        col(PromptToken.run_id).is_(None),
                        col(PromptToken.run_id) != run_id,
                        col(PromptToken.prompt_seq) < prompt_seq,
                    ),
                )
            )
        token = secrets.token_urlsafe(12)
        self.session.add(
            PromptToken(
                token=token,
                client_id=client_id,
                run_id=run_id,
                prompt_seq=prompt_seq,
                value=value,
                value_key=key,
            )
        )
        return token

    def forget_buttons(self, client_id: int) -> None:
        """Delete the client's question-less buttons."""
        self.session.execute(
            delete(PromptToken).where(
                col(PromptToken.client_id) == client_id, col(PromptToken.run_id).is_(None)
            )
        )

    def resolve_token(self, payload: str) -> Token | None:
        """What a payload means, if we issued it."""
        if not payload or len(payload) > 64:
            return None
        row = (
            self.session.execute(select(PromptToken).where(col(PromptToken.token) == payload))
            .scalars()
            .first()
        )
        if row is None:
            return None
        return Token(row.client_id, row.run_id, row.prompt_seq, row.value, row.staff_id)

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
        self.session.add(
            ConsentRecord(
                client_id=client.client_id,
                case_id=client.case_id,
                action=action,
                flow_id=flow_id,
                version=version,
                text_sha256=text_sha256,
                locale=locale,
                decisions=dict(decisions),
                inbound_id=inbound_id,
            )
        )
        self.session.flush()

    def consent_version(self, client_id: int, flow_id: str) -> int | None:
        """The version of the standing grant, if the latest record is a grant."""
        row: ConsentRecord | None = (
            self.session.execute(
                select(ConsentRecord)
                .where(col(ConsentRecord.client_id) == client_id)
                .order_by(col(ConsentRecord.id).desc())
            )
            .scalars()
            .first()
        )
        if row is None or row.action != "granted" or row.flow_id != flow_id:
            return None
        return row.version

    def contact_finished(self, contact_id: int, outcome: str) -> None:
        """Record that the client answered (or a rule ended) the contact's flow."""
        self.session.execute(
            update(ScheduledContact)
            .where(
                col(ScheduledContact.id) == contact_id,
                col(ScheduledContact.status).in_(("pending", "sent")),
            )
            .values(status="answered", outcome=outcome, updated_at=utcnow())
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
        case_ids = select(col(Case.id)).where(col(Case.client_id) == client_id)
        result = self.session.execute(
            update(ScheduledContact)
            .where(
                col(ScheduledContact.status) == "pending",
                or_(
                    col(ScheduledContact.client_id) == client_id,
                    col(ScheduledContact.case_id).in_(case_ids),
                ),
            )
            .values(status="cancelled", outcome=outcome, updated_at=utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def audit(self, actor: str, action: str, case_id: int | None = None, **detail: Any) -> None:
        """Append an audit row."""
        self.session.add(
            AuditLog(actor=actor, action=action, case_id=case_id, detail=detail or None)
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


def _state(row: FlowRun) -> RunState:
    assert row.id is not None
    return RunState(
        run_id=row.id,
        flow_id=row.flow_id,
        flow_version=row.flow_version,
        status=row.status,
        step_id=row.step_id,
        prompt_seq=row.prompt_seq,
        bad_attempts=row.bad_attempts,
        locale=row.locale,
        answers=dict(row.answers or {}),
        context=dict(row.context or {}),
        fired_flags=list(row.fired_flags or []),
        case_id=row.case_id,
        updated_at=row.updated_at,
    )


class SqlStore:
    """Opens units of work on one SQLAlchemy engine."""

    def __init__(self, engine: Engine, *, on_exit: OnExit | None = None) -> None:
        self.engine = engine
        self.on_exit = on_exit  # plans post-exit follow-ups in the exit's own transaction

    @contextmanager
    def unit(self) -> Iterator[SqlUnitOfWork]:
        """One transaction."""
        with transaction(self.engine) as session:
            yield SqlUnitOfWork(session, on_exit=self.on_exit)

    def count(self, table: type[Any]) -> int:
        """Rows in a table (tests and reports)."""
        with transaction(self.engine) as session:
            return int(session.execute(select(func.count()).select_from(table)).scalar_one())


__all__ = ["SqlStore", "SqlUnitOfWork"]
