"""The engine's ports over SQLModel: one :class:`SqlUnitOfWork` is one database transaction.

It is made of one sub-repository per concern (``uow.inbox``, ``uow.runs``, ``uow.buttons``,
``uow.flags``, ``uow.cases``, ``uow.outbox``, ``uow.contacts``, ``uow.audit``; see
:mod:`cm_bot.storage.repos`), all on one session and sharing one memo of reads
(:class:`~cm_bot.storage.repos.base.Tx`).
"""

# ruff: noqa: D102  (the transitional flat delegates are documented on the sub-repositories)

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlmodel import Session

from cm_bot.domain import Inbound, Outbound, Severity
from cm_bot.domain.time import SYSTEM_CLOCK, aware
from cm_bot.engine.ports import (
    CaseView,
    ClientView,
    FlagView,
    InviteOutcome,
    NoticeRef,
    RunState,
    StaffTarget,
    StaffView,
    Token,
)
from cm_bot.storage.repos.audit import SqlAudit
from cm_bot.storage.repos.base import OnExit, OnGoal, Tx
from cm_bot.storage.repos.buttons import SqlButtons
from cm_bot.storage.repos.cases import SqlCases
from cm_bot.storage.repos.contacts import SqlContacts
from cm_bot.storage.repos.flags import SqlFlags
from cm_bot.storage.repos.inbox import SqlInbox
from cm_bot.storage.repos.runs import SqlRuns
from cm_bot.storage.repos.sends import SqlSends


class SqlUnitOfWork:
    """Implements :class:`cm_bot.engine.ports.UnitOfWork` on one session (one transaction)."""

    def __init__(
        self,
        session: Session,
        *,
        now: datetime | None = None,
        on_exit: OnExit | None = None,
        on_goal: OnGoal | None = None,
    ) -> None:
        self.session = session
        # The transaction's moment (UnitOfWork.now); outside the app (tests, the CLI) the
        # wall clock.
        self._tx = Tx(session, aware(now) if now is not None else SYSTEM_CLOCK.now())
        # The scheduling layer's planners (SqlStore's), handed this unit of work when a case
        # is exited or a goal added: they plan in the same transaction.
        self.on_exit = on_exit
        self.on_goal = on_goal
        self.inbox = SqlInbox(self._tx)
        self.runs = SqlRuns(self._tx)
        self.buttons = SqlButtons(self._tx)
        self.flags = SqlFlags(self._tx)
        self.cases = SqlCases(self._tx, self)
        self.outbox = SqlSends(self._tx)
        self.contacts = SqlContacts(self._tx)
        self.audit = SqlAudit(self._tx)  # callable: ``uow.audit(actor, action, …)``

    @property
    def now(self) -> datetime:
        """This transaction's moment (aware UTC)."""
        return self._tx.now

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction (SAVEPOINT): rolled back alone when the block raises.

        The reads the parts remember are scoped to it (``Tx.fresh``): what was read inside
        is forgotten when it ends, so a rolled-back contact leaves nothing behind.
        """
        with self.session.begin_nested():
            yield

    # Transitional: the flat names the engine, scheduling, the CLI and tests still call,
    # one delegate each to the part that now holds the method. The next step moves the
    # callers to ``uow.<part>.<method>`` and removes these.

    # -- uow.inbox -------------------------------------------------------------------------------

    def record_inbound(self, inbound: Inbound, *, handling: bool = False) -> int | None:
        return self.inbox.record_inbound(inbound, handling=handling)

    def pending_inbound(self, channel: str, chat_id: str) -> list[int]:
        return self.inbox.pending_inbound(channel, chat_id)

    def claim_inbound(self, inbound_id: int) -> Inbound | None:
        return self.inbox.claim_inbound(inbound_id)

    def fail_inbound(self, inbound_id: int, max_attempts: int) -> Inbound | None:
        return self.inbox.fail_inbound(inbound_id, max_attempts)

    def pending_chats(self) -> list[tuple[str, str]]:
        return self.inbox.pending_chats()

    def finish_inbound(self, inbound_id: int, client_id: int | None) -> None:
        self.inbox.finish_inbound(inbound_id, client_id)

    def unknown_sender(self, channel: str, user_id: str) -> str:
        return self.inbox.unknown_sender(channel, user_id)

    def sender_seen_since(self, channel: str, sender: str, since: datetime) -> bool:
        return self.inbox.sender_seen_since(channel, sender, since)

    def sender_crisis_flagged_since(self, sender: str, since: datetime) -> bool:
        return self.inbox.sender_crisis_flagged_since(sender, since)

    def name_sender(
        self, inbound_id: int, sender: str, *, keep: bool, replies: Sequence[int] = ()
    ) -> None:
        self.inbox.name_sender(inbound_id, sender, keep=keep, replies=replies)

    # -- uow.runs --------------------------------------------------------------------------------

    def client_for(self, channel: str, external_user_id: str, *, lock: bool) -> ClientView | None:
        return self.runs.client_for(channel, external_user_id, lock=lock)

    def client_by_id(self, client_id: int) -> ClientView | None:
        return self.runs.client_by_id(client_id)

    def set_client(
        self,
        client_id: int,
        *,
        locale: str | None = None,
        status: str | None = None,
        timezone: str | None = None,
    ) -> None:
        self.runs.set_client(client_id, locale=locale, status=status, timezone=timezone)

    def current_run(self, client_id: int) -> RunState | None:
        return self.runs.current_run(client_id)

    def start_run(
        self,
        client: ClientView,
        flow_id: str,
        flow_version: int,
        locale: str,
        context: Mapping[str, Any],
    ) -> RunState:
        return self.runs.start_run(client, flow_id, flow_version, locale, context)

    def save_run(self, run: RunState, *, ended: bool = False) -> None:
        self.runs.save_run(run, ended=ended)

    def finished_flows(self, client_id: int) -> set[str]:
        return self.runs.finished_flows(client_id)

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
        self.runs.add_response(client, run, step_id, key, value, question, inbound_id, provenance)

    def earlier_answer(self, client_id: int, flow_id: str, key: str) -> tuple[Any, datetime] | None:
        return self.runs.earlier_answer(client_id, flow_id, key)

    def save_score(
        self,
        client: ClientView,
        run: RunState,
        score_id: str,
        instrument: str | None,
        result: Mapping[str, Any],
    ) -> None:
        self.runs.save_score(client, run, score_id, instrument, result)

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
        self.runs.record_consent(
            client,
            action=action,
            flow_id=flow_id,
            version=version,
            text_sha256=text_sha256,
            locale=locale,
            decisions=decisions,
            inbound_id=inbound_id,
        )

    def consent_version(self, client_id: int, flow_id: str) -> int | None:
        return self.runs.consent_version(client_id, flow_id)

    def data_summary(self, client_id: int) -> dict[str, Any]:
        return self.runs.data_summary(client_id)

    def run_answers(self, run_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.runs.run_answers(run_id)

    # -- uow.buttons -----------------------------------------------------------------------------

    def tokens(
        self,
        client_id: int,
        run_id: int | None,
        prompt_seq: int,
        values: Sequence[Any],
        *,
        new_prompt: bool = False,
    ) -> list[str]:
        return self.buttons.tokens(client_id, run_id, prompt_seq, values, new_prompt=new_prompt)

    def menu_values(self, client_id: int) -> list[dict[str, Any]]:
        return self.buttons.menu_values(client_id)

    def forget_buttons(self, client_id: int) -> None:
        self.buttons.forget_buttons(client_id)

    def resolve_token(self, payload: str) -> Token | None:
        return self.buttons.resolve_token(payload)

    def staff_token(self, staff_id: int | None, value: Any) -> str:
        return self.buttons.staff_token(staff_id, value)

    # -- uow.flags -------------------------------------------------------------------------------

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
        return self.flags.raise_flag(
            client,
            severity=severity,
            reason=reason,
            rule_id=rule_id,
            dedupe_key=dedupe_key,
            source_key=source_key,
            source_value=source_value,
        )

    def open_flag_exists(self, client_id: int, rule_id: str) -> bool:
        return self.flags.open_flag_exists(client_id, rule_id)

    def flag_view(self, flag_id: int) -> FlagView | None:
        return self.flags.flag_view(flag_id)

    def open_flags(self, staff: StaffView, limit: int) -> list[FlagView]:
        return self.flags.open_flags(staff, limit)

    def act_on_flag(self, flag_id: int, status: str, staff_id: int, now: datetime) -> bool:
        return self.flags.act_on_flag(flag_id, status, staff_id, now)

    def notices_of(self, flag_id: int) -> list[NoticeRef]:
        return self.flags.notices_of(flag_id)

    def due_escalations(self, severity: str, older_than: datetime) -> list[FlagView]:
        return self.flags.due_escalations(severity, older_than)

    def mark_escalated(self, flag_id: int, now: datetime) -> None:
        self.flags.mark_escalated(flag_id, now)

    def open_urgent_flag(self, client_id: int) -> int | None:
        return self.flags.open_urgent_flag(client_id)

    def hold_message(
        self,
        client_id: int,
        case_id: int | None,
        flag_id: int,
        *,
        inbound_id: int | None,
        kind: str,
        text: str | None,
        crisis: bool,
        replied: bool,
        received_at: datetime,
        opened: bool = False,
    ) -> None:
        self.flags.hold_message(
            client_id,
            case_id,
            flag_id,
            inbound_id=inbound_id,
            kind=kind,
            text=text,
            crisis=crisis,
            replied=replied,
            received_at=received_at,
            opened=opened,
        )

    def replied_while_paused(self, client_id: int, since: datetime) -> bool:
        return self.flags.replied_while_paused(client_id, since)

    # -- uow.cases -------------------------------------------------------------------------------

    def staff_for(self, channel: str, external_user_id: str) -> StaffView | None:
        return self.cases.staff_for(channel, external_user_id)

    def staff_targets(self, client: ClientView) -> list[StaffTarget]:
        return self.cases.staff_targets(client)

    def set_staff_timezone(self, staff_id: int, timezone: str | None) -> None:
        self.cases.set_staff_timezone(staff_id, timezone)

    def escalation_targets(self) -> list[StaffTarget]:
        return self.cases.escalation_targets()

    def set_staff_blocked(self, staff_id: int, blocked_at: datetime | None) -> None:
        self.cases.set_staff_blocked(staff_id, blocked_at)

    def team_chat(self) -> str | None:
        return self.cases.team_chat()

    def set_team_chat(self, chat_id: str) -> None:
        self.cases.set_team_chat(chat_id)

    def create_invite(
        self, kind: str, *, case_id: int | None, staff_id: int | None, expires_at: datetime
    ) -> str:
        return self.cases.create_invite(
            kind, case_id=case_id, staff_id=staff_id, expires_at=expires_at
        )

    def redeem_invite(
        self,
        token: str,
        channel: str,
        external_user_id: str,
        chat_id: str,
        now: datetime,
        *,
        as_staff: bool = False,
    ) -> InviteOutcome:
        return self.cases.redeem_invite(
            token, channel, external_user_id, chat_id, now, as_staff=as_staff
        )

    def case_by_ref(self, ref: str) -> CaseView | None:
        return self.cases.case_by_ref(ref)

    def client_linked(self, client_id: int) -> bool:
        return self.cases.client_linked(client_id)

    def case_summary(self, case_id: int) -> dict[str, Any]:
        return self.cases.case_summary(case_id)

    def add_goal(
        self,
        case_id: int,
        text: str,
        cadence: str,
        target_date: Any,
        staff_id: int | None,
        *,
        actor: str | None = None,
    ) -> int:
        return self.cases.add_goal(case_id, text, cadence, target_date, staff_id, actor=actor)

    def add_note(self, case_id: int, staff_id: int | None, text: str) -> None:
        self.cases.add_note(case_id, staff_id, text)

    def exit_case(self, case_id: int, exited_at: datetime) -> None:
        self.cases.exit_case(case_id, exited_at)

    # -- uow.outbox ------------------------------------------------------------------------------

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
        return self.outbox.enqueue(
            message,
            client_id=client_id,
            staff_id=staff_id,
            flag_id=flag_id,
            inbound_id=inbound_id,
            case_id=case_id,
        )

    def already_told_chat(self, channel: str, chat_id: str, since: datetime | None = None) -> bool:
        return self.outbox.already_told_chat(channel, chat_id, since)

    # -- uow.contacts ----------------------------------------------------------------------------

    def contact_finished(self, contact_id: int, outcome: str) -> None:
        self.contacts.contact_finished(contact_id, outcome)

    def cancel_contacts(self, client_id: int, outcome: str) -> int:
        return self.contacts.cancel_contacts(client_id, outcome)


__all__ = ["SqlUnitOfWork"]
