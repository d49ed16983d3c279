"""The engine's views of stored things: plain dataclasses the ports return and take.

Copied out of the transaction (no ORM rows cross into the engine), so a view stays valid
after its unit of work has committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from cm_bot.domain import StaffRole


@dataclass(slots=True)
class ClientView:
    """The client as the engine sees it: ids, language and whether we may collect."""

    client_id: int
    status: str
    locale: str | None
    channel: str
    chat_id: str
    case_id: int | None
    case_ref: str | None
    manager_id: int | None
    # The open urgent flag that pauses all automated contact, if any (see ``_Turn.paused``).
    paused_flag: int | None = None


@dataclass(frozen=True, slots=True)
class ContactPreferences:
    """The client's safe-contact preferences (asked after consent, ``/preferences``).

    ``message_first``: None when never asked (behaves as yes, as consent said).
    ``safe_word_hash``: ``salt$sha256`` of the normalised safe word, never the word.
    """

    message_first: bool | None
    contact_start: time | None
    contact_end: time | None
    safe_word_hash: str | None

    @property
    def may_message_first(self) -> bool:
        """Whether the bot may start a conversation (not asked: yes)."""
        return self.message_first is not False


@dataclass(slots=True)
class RunState:
    """The client's place in one flow; saved in the same transaction as each answer."""

    run_id: int
    flow_id: str
    flow_version: int
    status: str
    step_id: str | None
    prompt_seq: int
    bad_attempts: int
    locale: str
    answers: dict[str, Any] = field(default_factory=dict)
    # What the flow's text and conditions may read: values it was started with (a goal's
    # text, the last progress, days since exit) and ``earlier`` answers.
    context: dict[str, Any] = field(default_factory=dict)
    # The engine's own bookkeeping, never shown to a flow: the scheduled contact and goal
    # this run answers, a multi-select's picks, the urgent pause and where to resume.
    state: dict[str, Any] = field(default_factory=dict)
    fired_flags: list[str] = field(default_factory=list)
    case_id: int | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """A button payload resolved server-side: which prompt it belongs to and what it means."""

    client_id: int | None
    run_id: int | None
    prompt_seq: int
    value: Any
    staff_id: int | None = None


@dataclass(frozen=True, slots=True)
class StaffView:
    """A bound staff member."""

    staff_id: int
    name: str
    role: str  # case_manager | supervisor | admin
    chat_id: str
    locale: str | None
    timezone: str | None = None  # IANA name times are shown in; None: UTC

    @property
    def sees_all(self) -> bool:
        """Supervisors and admins see every case; case managers their own caseload."""
        return self.role in (StaffRole.SUPERVISOR, StaffRole.ADMIN)


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case as staff commands see it."""

    case_id: int
    ref: str
    status: str
    manager_id: int | None
    client_id: int | None
    opened_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ScoreView:
    """A stored score of the run that raised a flag (what a score rule's notice shows)."""

    score_id: str
    instrument: str | None
    value: float | None
    band: str | None
    positive_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FlagView:
    """A flag with what a notice about it shows."""

    flag_id: int
    case_id: int | None
    case_ref: str | None
    manager_id: int | None
    severity: str
    reason: str  # English, formatted; show it with cm_bot.engine.flag_reasons.flag_reason
    source_key: str | None
    source_value: Any
    status: str
    created_at: datetime
    acted_by: str | None = None
    acted_at: datetime | None = None
    client_id: int | None = None
    held: int = 0  # messages the client sent while paused by this (urgent) flag
    held_crisis: int = 0  # of which with words of crisis
    rule_id: str | None = None  # "<flow id>.<rule id>" for a flow's rule
    run_id: int | None = None  # the run whose rule raised it (from ``run:<id>:<rule>``)
    # The question of ``source_key`` exactly as the client saw it, and in which language.
    question: str | None = None
    answer_locale: str | None = None
    scores: tuple[ScoreView, ...] = ()  # the run's stored scores (after the run ended)
    # A reason with placeholders: its msgid and values, to show it translated.
    reason_msgid: str | None = None
    reason_params: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InviteOutcome:
    """What redeeming a deep-link token did."""

    # bound_client | bound_staff | used | expired | unknown | already_bound | case_ended
    # | staff_not_client
    result: str
    case_id: int | None = None
    staff_name: str | None = None


@dataclass(frozen=True, slots=True)
class StaffTarget:
    """Where a staff notice goes: a bound staff member's chat and language."""

    staff_id: int
    channel: str
    chat_id: str
    locale: str | None
    timezone: str | None = None  # IANA name times are shown in; None: UTC


@dataclass(frozen=True, slots=True)
class NoticeRef:
    """A notice already sent about a flag, and whose language and zone its edits use."""

    outbox_id: int
    channel: str
    chat_id: str
    staff_id: int | None = None  # None: the team chat
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceCard:
    """A directory service as a client is offered it (``uow.directory``)."""

    service_id: str
    name: str
    description: str  # one line
    phone: str | None = None
    address: str | None = None
    opening_hours: str | None = None
    languages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReferralView:
    """A referral with what staff commands and the check-in need."""

    referral_id: int
    case_id: int
    case_ref: str | None
    manager_id: int | None
    client_id: int | None
    need: str
    service_id: str
    service_name: str
    made_by: str
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
