"""What a channel hands the engine: one inbound event per platform update."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

_SURROGATE = re.compile("[\ud800-\udfff]")


class InboundKind(StrEnum):
    """The shape of what the person sent, decided by the channel codec."""

    TEXT = "text"
    BUTTON = "button"
    MEDIA = "media"  # sticker, photo, voice, document, location ... never downloaded
    EDITED = "edited"  # an edit of an earlier message: never re-runs a step
    FORWARDED = "forwarded"  # someone else's words: never taken as the client's answer
    BLOCKED = "blocked"  # the person blocked the bot (my_chat_member kicked)
    UNBLOCKED = "unblocked"
    OTHER = "other"  # an update type we do not handle: acknowledged and ignored


@dataclass(frozen=True, slots=True)
class Inbound:
    """One update from a person, already stripped of the framework's types.

    ``external_id`` is the channel's own id for the update (Telegram's
    ``update_id``); together with ``channel`` it is the de-duplication key, so a
    re-delivered update is recognised however much later it arrives.
    """

    channel: str
    external_id: str
    user_id: str
    chat_id: str
    kind: InboundKind = InboundKind.TEXT
    text: str | None = None
    payload: str | None = None  # opaque button data
    language: str | None = None  # the platform's language hint (IETF tag)
    chat_type: str = "private"
    is_bot: bool = False
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The channel's id of the person's message in its chat (Telegram's ``message_id``),
    # kept so the chat can be cleared (``/clear``); ``None`` for taps and status changes.
    message_id: str | None = None

    def __post_init__(self) -> None:
        # Only valid UTF-8 is stored: lone surrogates (a terminal's undecodable bytes) become
        # U+FFFD and NUL is dropped, so no text can crash the store or the length check.
        for name in ("text", "payload"):
            value = getattr(self, name)
            if value is not None:
                clean = _SURROGATE.sub("\ufffd", value).replace("\x00", "")
                if clean != value:
                    object.__setattr__(self, name, clean)

    @property
    def dedupe_key(self) -> tuple[str, str]:
        """The unique key of this update across re-deliveries."""
        return (self.channel, self.external_id)


# -- what the unit of work records for the layers above storage ---------------------------------
# Collected on ``uow.events`` as they happen and handed, before the transaction commits, to the
# handlers the composition root registered (scheduling plans follow-ups and check-ins): the
# storage layer never calls up into scheduling itself.


@dataclass(frozen=True, slots=True)
class CaseExited:
    """A case was exited on ``exit_date``: its post-exit follow-ups are due to be planned."""

    case_id: int
    exit_date: date


@dataclass(frozen=True, slots=True)
class GoalAdded:
    """A goal joined a case plan: its first check-in is due to be planned."""

    goal_id: int


@dataclass(frozen=True, slots=True)
class ReferralMade:
    """A referral was made (``ask`` 1) or is still waiting (2): its check-in is to be planned."""

    referral_id: int
    ask: int = 1


@dataclass(frozen=True, slots=True)
class RescreenChanged:
    """A case's repeat PHQ-9 / GAD-7 was set or stopped: its next re-screen is to be (re)planned."""

    case_id: int
    instrument: str


CaseEvent = CaseExited | GoalAdded | ReferralMade | RescreenChanged
