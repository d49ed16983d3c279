"""The case record: staff, clients, cases, runs, answers, flags, contacts, the outbox, audit."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from cm_bot.domain import (
    CaseStatus,
    ClientStatus,
    ContactStatus,
    FlagStatus,
    GoalStatus,
    InboxStatus,
    OutboxKind,
    OutboxStatus,
    RunStatus,
)
from cm_bot.storage.models.base import json_column, partial_index, utcnow


class Staff(SQLModel, table=True):
    """A person on the program's staff; only bound staff may use staff commands."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    role: str  # StaffRole
    telegram_user_id: str | None = Field(default=None, unique=True)
    locale: str | None = None
    # IANA name ("Europe/Kyiv") times are shown in; None: UTC. Set with /timezone.
    timezone: str | None = None
    active: bool = True
    # Telegram refused a message to them (they blocked the bot): flags go to others.
    blocked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Client(SQLModel, table=True):
    """A person the bot talks to; holds no name, only what the conversation needs."""

    id: int | None = Field(default=None, primary_key=True)
    locale: str | None = None
    timezone: str | None = None  # IANA name, e.g. "Europe/Kyiv"; None: the program's default
    # The client's contact hours in their own zone; None: the program's default (09:00-20:00).
    contact_start: time | None = None
    contact_end: time | None = None
    status: str = ClientStatus.ACTIVE
    # Delete the chat's messages once they are this many hours old (1-47); None: never.
    auto_clear_hours: int | None = None
    # Safe-contact preferences (asked after consent): may the bot write first? None: not
    # asked (yes, as consent said). The safe word only as "salt$sha256"; None: none set.
    message_first: bool | None = None
    safe_word_hash: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ChannelIdentity(SQLModel, table=True):
    """A channel account bound to a client (Telegram user id, never the username)."""

    __table_args__ = (UniqueConstraint("channel", "external_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    channel: str
    external_user_id: str
    chat_id: str
    created_at: datetime = Field(default_factory=utcnow)


class Case(SQLModel, table=True):
    """A client's case: the unit staff work with, referred to as ``C-0001``."""

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    manager_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    status: str = CaseStatus.INTAKE
    opened_at: datetime = Field(default_factory=utcnow)
    exited_at: datetime | None = None
    followup_outcome: str | None = None


class FlowRun(SQLModel, table=True):
    """One walk through one flow; the active run *is* the client's conversation state."""

    __table_args__ = (
        Index("ix_flowrun_client_status", "client_id", "status"),
        # Did the client answer the contact? (the dispatcher, before a reminder)
        partial_index(
            "ix_flowrun_contact", "scheduled_contact_id", where="scheduled_contact_id IS NOT NULL"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id")
    case_id: int | None = Field(default=None, foreign_key="case.id")
    flow_id: str
    flow_version: int
    status: str = RunStatus.ACTIVE
    step_id: str | None = None
    prompt_seq: int = 0  # bumped whenever a question is asked; binds buttons to this prompt
    bad_attempts: int = 0
    locale: str = "en"
    answers: dict[str, Any] | None = json_column()
    context: dict[str, Any] | None = json_column()  # what the flow's text and conditions may read
    state: dict[str, Any] | None = json_column()  # the engine's own bookkeeping; flows never see it
    fired_flags: list[str] | None = json_column()
    scheduled_contact_id: int | None = Field(default=None, foreign_key="scheduledcontact.id")
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None


class InboundMessage(SQLModel, table=True):
    """The inbox: every update, unique on (channel, external id), so a re-delivery is a no-op."""

    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_inbound_chat_status", "channel", "chat_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    external_id: str
    external_user_id: str
    chat_id: str
    chat_type: str = "private"
    kind: str
    text: str | None = None  # cleared once handled: the answer lives in Response
    payload: str | None = None
    language: str | None = None
    is_bot: bool = False
    client_id: int | None = Field(default=None, foreign_key="client.id")
    status: str = InboxStatus.PENDING
    attempts: int = 0
    received_at: datetime = Field(default_factory=utcnow)
    handled_at: datetime | None = None
    # Telegram's id of the person's message, for /clear; set to NULL once cleared.
    message_id: str | None = None


class Response(SQLModel, table=True):
    """One stored answer, with the question exactly as the client saw it."""

    # A goal's last check-in progress, shown in its next check-in.
    __table_args__ = (
        partial_index("ix_response_goal_key", "goal_id", "key", where="goal_id IS NOT NULL"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    run_id: int = Field(foreign_key="flowrun.id", index=True)
    flow_id: str
    flow_version: int
    step_id: str
    key: str = Field(index=True)
    value: Any = json_column()
    question: str
    locale: str
    goal_id: int | None = Field(default=None, foreign_key="goal.id")
    inbound_id: int | None = Field(default=None, foreign_key="inboundmessage.id")
    answered_at: datetime = Field(default_factory=utcnow)
    # Where an answer not asked here came from (another flow's answer to the same question).
    provenance: str | None = None


class ScoreResult(SQLModel, table=True):
    """A computed score (sum, band, positive domains ...) for a run."""

    __table_args__ = (UniqueConstraint("run_id", "score_id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    client_id: int = Field(foreign_key="client.id")
    run_id: int = Field(foreign_key="flowrun.id")
    flow_id: str
    score_id: str
    instrument: str | None = None
    value: float | None = None
    band: str | None = None
    result: dict[str, Any] | None = json_column()
    computed_at: datetime = Field(default_factory=utcnow)


class Flag(SQLModel, table=True):
    """Something a human must look at; unique per (run, rule) so it is raised once."""

    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        # Escalation looks for open flags of a severity on every tick.
        Index("ix_flag_status_severity", "status", "severity"),
        # Is this client paused? An open urgent flag, asked on every message.
        partial_index(
            "ix_flag_client_urgent_open",
            "client_id",
            where="severity = 'urgent' AND status != 'resolved'",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="case.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    severity: str  # Severity
    reason: str  # in English, formatted: what the CLI and the export show
    # With placeholders: the msgid and its values, so a reader translates before formatting
    # (cm_bot.engine.flag_reasons); both NULL for a reason that is its own msgid.
    reason_msgid: str | None = None
    reason_params: Any = json_column()
    rule_id: str
    dedupe_key: str
    source_key: str | None = None  # the answer key that raised it (minimum necessary)
    source_value: Any = json_column()
    status: str = FlagStatus.OPEN
    created_at: datetime = Field(default_factory=utcnow)
    acknowledged_at: datetime | None = None
    acknowledged_by: int | None = Field(default=None, foreign_key="staff.id")
    resolved_at: datetime | None = None
    resolved_by: int | None = Field(default=None, foreign_key="staff.id")
    escalated_at: datetime | None = None


class HeldMessage(SQLModel, table=True):
    """A client's message while automated contact is paused for an urgent flag.

    Kept so the case manager reads every word said while the bot stayed quiet (``/case``,
    the export); ``replied`` marks the one short reply the bot allows itself per window.
    Erased with the client.
    """

    __table_args__ = (Index("ix_heldmessage_client", "client_id", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id")
    case_id: int | None = Field(default=None, foreign_key="case.id")
    flag_id: int = Field(foreign_key="flag.id", index=True)
    inbound_id: int | None = Field(default=None, foreign_key="inboundmessage.id")
    kind: str  # InboundKind
    text: str | None = None
    crisis: bool = False  # it used words of crisis (added to the open flag, not a new one)
    opened: bool = False  # the message whose words of crisis raised the flag
    replied: bool = False
    received_at: datetime = Field(default_factory=utcnow)


class Goal(SQLModel, table=True):
    """A goal in the case plan, set by the case manager."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    text: str
    cadence: str = "weekly"  # weekly | fortnightly | monthly
    checkin_weekday: int | None = None  # preferred day, 0 = Monday; None: any day
    checkin_time: time | None = None  # preferred local time; None: the program's default
    target_date: date | None = None
    status: str = GoalStatus.ACTIVE
    created_at: datetime = Field(default_factory=utcnow)
    next_step: str | None = None  # the client's "one small step" at the last check-in
    next_step_at: datetime | None = None


class ConsentRecord(SQLModel, table=True):
    """Append-only: what consent text (version, hash, locale) was shown and what was decided."""

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="case.id")
    action: str  # granted | declined | withdrawn
    flow_id: str
    version: int
    text_sha256: str
    locale: str
    decisions: dict[str, Any] | None = json_column()
    inbound_id: int | None = Field(default=None, foreign_key="inboundmessage.id")
    recorded_at: datetime = Field(default_factory=utcnow)


class ScheduledContact(SQLModel, table=True):
    """A contact the bot owes a client at a time: the schedule itself, not APScheduler's.

    ``due_at`` (UTC) is when the row next needs the dispatcher: the first message
    while ``pending``; the reminder or the end of the wait for a reply once
    ``sent``. ``closed_at`` is set once the scheduling layer has settled a
    finished contact (outcome written to the case, flags raised).
    """

    __table_args__ = (
        Index("ix_contact_status_due", "status", "due_at"),
        Index("ix_contact_closed_status", "closed_at", "status"),
        # A goal's check-ins: is one open, which was the last (without it the check-in
        # sweep is quadratic on SQLite).
        partial_index("ix_contact_goal", "goal_id", "planned_for", where="goal_id IS NOT NULL"),
        # Finished but not yet settled: almost always no row. PostgreSQL would otherwise
        # walk the primary key over the whole table to find none.
        partial_index(
            "ix_contact_unsettled",
            "id",
            where="closed_at IS NULL"
            " AND status IN ('answered', 'no_response', 'missed', 'cancelled')",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    flow_id: str
    kind: str  # checkin | followup | referral
    goal_id: int | None = Field(default=None, foreign_key="goal.id")
    referral_id: int | None = None  # kind referral: "did you get help?" (issue 17)
    planned_for: date | None = None  # the local day it was planned for (cadence anchor)
    due_at: datetime
    status: str = ContactStatus.PENDING
    attempts: int = 0  # messages sent in this episode: the first, then at most one reminder
    failures: int = 0  # dispatch errors; the contact is given up after a few
    outcome: str | None = None
    dedupe_key: str | None = Field(default=None, unique=True)
    claimed_by: str | None = None  # the worker that sent it
    sent_at: datetime | None = None
    reminded_at: datetime | None = None
    closed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Outbox(SQLModel, table=True):
    """Every message the bot will send; marked sent only after the channel accepted it."""

    __table_args__ = (
        Index("ix_outbox_status_priority", "status", "priority", "id"),
        # claim_heads ranks each chat's unfinished rows of one channel.
        Index("ix_outbox_channel_status_chat", "channel", "status", "chat_id", "priority", "id"),
        # Scheduled messages held up past the person's contact hours (checked every tick).
        partial_index(
            "ix_outbox_deliver_by", "status", "deliver_by", where="deliver_by IS NOT NULL"
        ),
        # A staff reply that quoted a case (erased with it).
        partial_index("ix_outbox_case", "case_id", where="case_id IS NOT NULL"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    chat_id: str
    client_id: int | None = Field(default=None, foreign_key="client.id")
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    flag_id: int | None = Field(default=None, foreign_key="flag.id")
    # The case a staff reply quoted (/case, /flags): erasing the case erases the reply.
    case_id: int | None = Field(default=None, foreign_key="case.id")
    inbound_id: int | None = Field(default=None, foreign_key="inboundmessage.id")
    text: str
    buttons: list[Any] | None = json_column()
    priority: int = 50
    status: str = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    external_message_id: str | None = None
    error: str | None = None
    edit_of: int | None = Field(default=None, foreign_key="outbox.id")  # edit that message
    # The sender holding a claimed/sending row ("host:pid") and until when; an expired
    # lease lets another sender take the row back (see storage.outbox.recover).
    claimed_by: str | None = None
    lease_until: datetime | None = None
    # A scheduled contact must not reach the person after their contact hours close:
    # past this it waits, and the scheduler moves it to their next window.
    deliver_by: datetime | None = None
    # A message, or a delete of earlier messages (their Telegram ids in ``delete_ids``).
    kind: str = OutboxKind.MESSAGE
    delete_ids: list[Any] | None = json_column()
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Invite(SQLModel, table=True):
    """A single-use, expiring deep-link token; only its SHA-256 is stored."""

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, index=True)
    kind: str  # client | staff
    case_id: int | None = Field(default=None, foreign_key="case.id")
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class CaseNote(SQLModel, table=True):
    """A case manager's note on a case."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    text: str
    created_at: datetime = Field(default_factory=utcnow)


class ProgramSetting(SQLModel, table=True):
    """Program-wide values set at run time (e.g. the team chat for urgent alerts)."""

    key: str = Field(primary_key=True)
    value: str
    updated_at: datetime = Field(default_factory=utcnow)


class PromptToken(SQLModel, table=True):
    """Opaque button payloads bound server-side to one chat and prompt; stale or forged: refused."""

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True, index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    run_id: int | None = Field(default=None, foreign_key="flowrun.id")
    prompt_seq: int
    value: Any = json_column()
    value_key: str = Field(index=True)  # canonical JSON of (run, prompt, value): get-or-create


class AuditLog(SQLModel, table=True):
    """Append-only record of access and of acts on a case; never updated or deleted."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str  # "staff:3", "client:7", "system", "cli"
    action: str
    case_id: int | None = None
    detail: dict[str, Any] | None = json_column()


class RescreenPlan(SQLModel, table=True):
    """A case's repeat PHQ-9 or GAD-7 (issue 18): every ``every_days``, until stopped.

    One row per case and instrument; ``/rescreen REF phq9 off`` sets ``stopped_at``, a
    new interval clears it and bumps ``revision`` (the contacts' dedupe keys carry it, so a
    changed plan never collides with a cancelled contact of the old one).
    """

    __tablename__ = "rescreen_plan"
    __table_args__ = (UniqueConstraint("case_id", "instrument"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    instrument: str  # phq9 | gad7
    every_days: int
    revision: int = 1
    set_by: str  # "staff:<id>" | "cli:<login>"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    stopped_at: datetime | None = None
