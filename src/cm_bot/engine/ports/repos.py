"""The unit of work's parts as Protocols: one per concern (``uow.inbox``, ``uow.runs`` …).

Each part runs on its unit of work's transaction; :mod:`cm_bot.storage.repos` implements
them over SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time
from typing import Any, Protocol

from cm_bot.domain import Inbound, Outbound, Severity
from cm_bot.engine.ports.views import (
    CaseView,
    ClientView,
    ContactPreferences,
    FlagView,
    InviteOutcome,
    NoticeRef,
    ReferralView,
    RunState,
    ServiceCard,
    StaffTarget,
    StaffView,
    Token,
)


class InboxRepo(Protocol):
    """Inbound updates: recorded before the ack, claimed, finished; senders no case knows."""

    def record_inbound(self, inbound: Inbound, *, handling: bool = False) -> int | None:
        """Insert the inbound update; ``None`` if this (channel, external id) was seen before.

        ``handling``: the same transaction goes on to handle it (a hint for lookups).
        """

    def pending_inbound(self, channel: str, chat_id: str) -> list[int]:
        """Ids of the chat's accepted, unhandled updates, oldest first."""

    def claim_inbound(self, inbound_id: int) -> Inbound | None:
        """Lock a pending update for handling; ``None`` if it is no longer pending."""

    def fail_inbound(self, inbound_id: int, max_attempts: int) -> Inbound | None:
        """Count a failed attempt; returns the update if it is now dead-lettered."""

    def pending_chats(self) -> list[tuple[str, str]]:
        """(channel, chat id) of every chat with pending updates."""

    def finish_inbound(self, inbound_id: int, client_id: int | None) -> None:
        """Mark the update handled and drop its text (the answer, if any, is in a response)."""

    def unknown_sender(self, channel: str, user_id: str) -> str:
        """A salted hash naming a sender no case knows (stable; their id is not kept).

        Held for the rest of the transaction: one sender's updates take turns across workers.
        """

    def sender_seen_since(self, channel: str, sender: str, since: datetime) -> bool:
        """Whether an update of this sender (by :meth:`unknown_sender` name) arrived since."""

    def sender_crisis_flagged_since(self, sender: str, since: datetime) -> bool:
        """Whether words of crisis from this unknown sender already raised a flag since."""

    def name_sender(
        self, inbound_id: int, sender: str, *, keep: bool, replies: Sequence[int] = ()
    ) -> None:
        """Keep the update's inbox row under the sender's name only, text dropped; or delete it.

        ``replies``: the outbox rows written for the update, unlinked from a deleted row.
        """


class RunsRepo(Protocol):
    """Clients and their runs: the client lookup, runs, answers, scores and consent."""

    def client_for(self, channel: str, external_user_id: str, *, lock: bool) -> ClientView | None:
        """The client bound to this channel account; ``lock`` serialises one client's updates."""

    def set_client(
        self,
        client_id: int,
        *,
        locale: str | None = None,
        status: str | None = None,
        timezone: str | None = None,
    ) -> None:
        """Change a client's language, status or time zone (``None``: leave it as it is)."""

    def current_run(self, client_id: int) -> RunState | None:
        """The client's active or paused run, if any."""

    def start_run(
        self,
        client: ClientView,
        flow_id: str,
        flow_version: int,
        locale: str,
        context: Mapping[str, Any],
        state: Mapping[str, Any] | None = None,
    ) -> RunState:
        """Create a new active run (any other open run is abandoned).

        ``context``: what the flow may read; ``state``: the engine's own keys (see
        :class:`RunState`).
        """

    def save_run(self, run: RunState, *, ended: bool = False) -> None:
        """Persist the run's state."""

    def finished_flows(self, client_id: int) -> set[str]:
        """Ids of flows this client completed or a rule ended (not offered again)."""

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
        """Store one answer against the case (``provenance``: taken from another flow)."""

    def earlier_answer(self, client_id: int, flow_id: str, key: str) -> tuple[Any, datetime] | None:
        """The client's latest answer to ``key`` in a finished run of ``flow_id`` (and when)."""

    def save_score(
        self,
        client: ClientView,
        run: RunState,
        score_id: str,
        instrument: str | None,
        result: Mapping[str, Any],
    ) -> None:
        """Store (or replace) a computed score of this run."""

    def client_by_id(self, client_id: int) -> ClientView | None:
        """The client with their first channel identity."""

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
        """Append a consent record (granted, declined or withdrawn)."""

    def consent_version(self, client_id: int, flow_id: str) -> int | None:
        """The version of the client's current consent grant, ``None`` if none stands."""

    def data_summary(self, client_id: int) -> dict[str, Any]:
        """Counts and dates of what is held about a client, for ``/mydata``."""

    def run_answers(self, run_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """A run's answers so far (including this transaction's) and its context.

        For scores a notice shows before the run ends; never shown themselves.
        """


class ButtonsRepo(Protocol):
    """Button payloads: bound to a client's prompt, or to a staff member."""

    def tokens(
        self,
        client_id: int,
        run_id: int | None,
        prompt_seq: int,
        values: Sequence[Any],
        *,
        new_prompt: bool = False,
    ) -> list[str]:
        """Opaque payloads for the buttons of the current prompt (stable while the prompt is).

        Issuing a prompt's buttons retires the client's buttons of earlier prompts (and
        question-less ones). ``new_prompt`` says the prompt was never shown before, so
        there is nothing to reuse and nothing needs to be looked up.
        """

    def menu_values(self, client_id: int) -> list[dict[str, Any]]:
        """The values of the client's live buttons that belong to no question (an open menu)."""

    def forget_buttons(self, client_id: int) -> None:
        """Retire the client's buttons that belong to no question (confirmations, pickers)."""

    def resolve_token(self, payload: str) -> Token | None:
        """What a button payload means, or ``None`` if unknown (forged or long expired)."""

    def staff_token(self, staff_id: int | None, value: Any) -> str:
        """An opaque payload for a staff button."""


class FlagsRepo(Protocol):
    """Flags: raised once, acted on by staff, escalated; the urgent pause they cause."""

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
        params: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Create a flag; ``None`` if one with this dedupe key exists (raised once, ever).

        ``client`` is ``None`` for a person linked to no case (words of crisis from them).
        ``reason`` is a msgid; with ``params`` it has placeholders they fill
        (:mod:`cm_bot.engine.flag_reasons`).
        """

    def open_flag_exists(self, client_id: int, rule_id: str) -> bool:
        """Whether an unresolved flag of this rule exists for the client."""

    def open_urgent_flag(self, client_id: int) -> int | None:
        """The client's newest unresolved urgent flag (the bot is paused while there is one)."""

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
        """Keep a message the client sent while paused, for their case manager."""

    def replied_while_paused(self, client_id: int, since: datetime) -> bool:
        """Whether the bot answered one of the client's held messages since a time."""

    def open_flags(self, staff: StaffView, limit: int) -> list[FlagView]:
        """Open or acknowledged flags this staff member may see, most severe first."""

    def flag_view(self, flag_id: int) -> FlagView | None:
        """One flag."""

    def act_on_flag(self, flag_id: int, status: str, staff_id: int, now: datetime) -> bool:
        """Acknowledge or resolve; False when the flag is already at or past that status."""

    def notices_of(self, flag_id: int) -> list[NoticeRef]:
        """The notices sent about a flag (with their reader's language and zone), for editing."""

    def due_escalations(self, severity: str, older_than: datetime) -> list[FlagView]:
        """Open, unacknowledged, not yet escalated flags of a severity raised before a time."""

    def mark_escalated(self, flag_id: int, now: datetime) -> None:
        """Record that a flag was escalated (once)."""


class CasesRepo(Protocol):
    """Casework: staff and their settings, invitations, cases, goals and notes."""

    def staff_for(self, channel: str, external_user_id: str) -> StaffView | None:
        """The bound, active staff member behind this account, if any."""

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
        """Use a deep-link token: bind the account to the case's client or the staff record.

        ``as_staff``: the account is staff's; a client invite then binds nothing.
        """

    def create_invite(
        self, kind: str, *, case_id: int | None, staff_id: int | None, expires_at: datetime
    ) -> str:
        """A new single-use token (only its hash is stored)."""

    def issue_console_link(self, staff_id: int, now: datetime) -> str:
        """A web console sign-in token for this staff member: single use, valid 10 minutes."""

    def case_by_ref(self, ref: str) -> CaseView | None:
        """The case with this reference."""

    def client_linked(self, client_id: int) -> bool:
        """Whether the client has a channel account bound (a new invite would bind nobody)."""

    def case_summary(self, case_id: int) -> dict[str, Any]:
        """What ``/case`` shows: status, consent, scores, goals, open flags, next contact."""

    def set_staff_timezone(self, staff_id: int, timezone: str | None) -> None:
        """The IANA time zone a staff member reads times in (``None``: UTC)."""

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
        """Add a goal to the case plan (audited as the staff member, or ``actor``)."""

    def add_note(self, case_id: int, staff_id: int | None, text: str) -> None:
        """Add a case note."""

    def exit_case(self, case_id: int, exited_at: datetime) -> None:
        """Mark the case exited (follow-ups are scheduled by the scheduling layer)."""

    def set_goal_status(self, case_id: int, goal_id: int, status: str, *, actor: str) -> bool:
        """Mark a goal of the case active/met/changed/dropped, audited.

        A non-active goal's pending check-ins are cancelled. False: the case has no such goal.
        """

    def met_goals(self, case_id: int) -> list[str]:
        """The texts of the case's goals with status ``met``, oldest first."""

    def set_rescreen(
        self, case_id: int, instrument: str, every_days: int | None, *, actor: str
    ) -> bool:
        """Set (``every_days``) or stop (``None``) a case's repeat PHQ-9 / GAD-7, audited.

        The re-screens are planned by the scheduling layer in the same transaction. False:
        there was no running plan to stop.
        """

    def team_chat(self) -> str | None:
        """The registered team chat for urgent alerts."""

    def set_team_chat(self, chat_id: str) -> None:
        """Register the team chat."""

    def escalation_targets(self) -> list[StaffTarget]:
        """Bound supervisors and admins Telegram can reach."""

    def set_staff_blocked(self, staff_id: int, blocked_at: datetime | None) -> None:
        """Record that Telegram refused messages to a staff member (``None``: reachable again)."""

    def staff_targets(self, client: ClientView) -> list[StaffTarget]:
        """The bound staff who must hear about this client's flags (their case manager)."""


class OutboxRepo(Protocol):
    """Messages this transaction sends (rows; the sender delivers them after the commit)."""

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

    def already_told_chat(self, channel: str, chat_id: str, since: datetime | None = None) -> bool:
        """Whether the outbox held a message to this chat (since a time): one hint, not many."""

    def take_message_ids(
        self, channel: str, chat_id: str, *, since: datetime, before: datetime | None = None
    ) -> list[int]:
        """The chat's message ids (the bot's and the person's) from ``since`` until ``before``.

        Every id taken, older than ``since`` too, is forgotten: no clear asks for it again.
        """

    def set_auto_clear(self, client_id: int, hours: int | None) -> None:
        """Clear the client's chat of messages older than ``hours`` (1-47); ``None``: never."""

    def auto_clear_chats(self) -> list[tuple[int, str, str, int]]:
        """(client id, channel, chat id, hours) of every chat cleared automatically."""


class ContactsRepo(Protocol):
    """Scheduled contacts as a turn ends them."""

    def contact_finished(self, contact_id: int, outcome: str) -> None:
        """The flow a scheduled contact started has ended: record the outcome on the contact."""

    def cancel_contacts(self, client_id: int, outcome: str) -> int:
        """Cancel the client's pending scheduled contacts; return how many."""

    def cancel_followups(self, case_id: int, outcome: str) -> int:
        """Cancel the case's pending post-exit follow-ups; return how many."""

    def narrow_hours(self, client_id: int, start: time, end: time) -> bool:
        """Narrow the client's contact hours to ``start``-``end`` (never widen); True if changed."""

    def preferences(self, client_id: int) -> ContactPreferences | None:
        """The client's safe-contact preferences (``None``: no such client)."""

    def set_preferences(
        self,
        client_id: int,
        *,
        message_first: bool | None,
        hours: tuple[time, time] | None,
        safe_word_hash: str | None,
    ) -> None:
        """Store the client's answers; ``hours`` None: the program's hours (no narrowing)."""

    def clear_preferences(self, client_id: int) -> None:
        """Forget the preferences (withdrawal): not asked, the program's hours, no safe word."""


class AuditRepo(Protocol):
    """The audit trail (``uow.audit.record(actor, action, …)``); append-only."""

    def record(self, actor: str, action: str, case_id: int | None = None, **detail: Any) -> None:
        """Append an audit row (no message text, ever)."""


class ReferralsRepo(Protocol):
    """Offers from the directory, referrals and their status history (issue 17)."""

    def positive_needs(self, client_id: int) -> set[str]:
        """Needs the client's latest stored scores show: positive AHC domains, ``hunger`` (HVS)."""

    def offered(self, client_id: int) -> bool:
        """Whether the client was ever offered services (or told that none matched)."""

    def record_offer(
        self, client: ClientView, need: str, service_id: str | None, *, choice: str | None = None
    ) -> int:
        """Keep an offer (``service_id`` ``None``: nothing matched); returns its id."""

    def answer_offer(self, offer_id: int, choice: str, referral_id: int | None) -> None:
        """The client's choice on an offer (refer, self, not_now) and the referral it made."""

    def tried(self, case_id: int, need: str) -> set[str]:
        """Service ids a case was already referred to for a need (tried: not offered again)."""

    def create(
        self,
        client: ClientView,
        need: str,
        service_id: str,
        service_name: str,
        status: str,
        *,
        made_by: str,
    ) -> int:
        """A new referral and its first event; returns its id.

        A ``requested`` or ``self_referred`` one has its "did you get help?" contact planned
        before the commit.
        """

    def referral(self, referral_id: int) -> ReferralView | None:
        """One referral."""

    def of_case(self, case_id: int) -> list[ReferralView]:
        """A case's referrals, oldest first."""

    def set_status(
        self, referral_id: int, status: str, reason: str | None, *, actor: str
    ) -> ReferralView | None:
        """Change the status (an event row with it); the referral as it was before, or ``None``."""

    def ask_again(self, referral_id: int, ask: int) -> None:
        """Plan the referral's check-in number ``ask`` (the client is still waiting)."""


class DirectoryRepo(Protocol):
    """The program's community-resource directory, read in this transaction."""

    def match(
        self, need: str, language: str | None, limit: int = 3, exclude: Sequence[str] = ()
    ) -> list[ServiceCard]:
        """Up to ``limit`` active services for a need, best first (``exclude``: ids tried)."""

    def services(self, ids: Sequence[str], language: str | None) -> list[ServiceCard]:
        """These services, whatever their status, in the order given."""
