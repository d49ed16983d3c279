"""The engine's settings and results: what a program chooses, what one event produced."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from cm_bot.domain import Inbound
from cm_bot.engine.crisis import CrisisWords
from cm_bot.program import Program

BUTTONS_PER_ROW = 6
LONG_LABEL = 40  # longer option labels are listed in the message; buttons carry their numbers

# Keys of a run's engine state (RunState.state, never shown to a flow). A safety pause: the
# run stopped at an urgent flag, and (for a rule that fired on an answer) the step to walk
# on from when it resumes; a multi-select's picks so far; the scheduled contact and goal the
# run answers, which a restart keeps (CARRIED).
SAFETY_PAUSE = "safety_pause"
RESUME_AT = "resume_at"
SELECTION = "selection"
CONTACT = "scheduled_contact_id"
GOAL = "goal_id"
# Referrals (engine/referrals.py): the offer a run shows (with the services still to show),
# the referral a check-in asks about, and which ask it is (1, or 2 after "still waiting").
OFFER = "referral_offer"
REFERRAL_ID = "referral_id"
REFERRAL_ASK = "referral_ask"
CARRIED = (CONTACT, GOAL, OFFER, REFERRAL_ID, REFERRAL_ASK)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Program choices the engine needs: which flows make up intake, and patience limits."""

    intake_flows: tuple[str, ...] = ()
    max_bad_answers: int = 3
    unknown_user_reply_every: timedelta = timedelta(hours=24)
    # Someone who comes back after this long is asked before their message is taken as an
    # answer: "hi" days later is a greeting, not a reply to the question left open.
    resume_after: timedelta = timedelta(hours=6)
    max_attempts: int = 3  # an update that fails this often is dead-lettered
    escalate_urgent_after: timedelta = timedelta(minutes=15)
    escalate_high_after: timedelta = timedelta(hours=24)
    # The program file (resources, staff hours ...); None: the shipped default program.
    program: Program | None = None
    # Crisis words; None: the built-in lists plus the program's own words.
    crisis_words: CrisisWords | None = None
    # While paused for an urgent flag, the client gets at most one short reply this often.
    paused_reply_every: timedelta = timedelta(minutes=10)
    # The web console's public URL, for /console sign-in links; None: no console.
    console_url: str | None = None
    # The test seam for faults: called with the update after its turn did its work, inside
    # its transaction, before it is marked handled. Raising here is a handler bug at the
    # worst moment (everything written, nothing committed). Never set in production.
    after_turn: Callable[[Inbound], None] | None = None


@dataclass(slots=True)
class Handled:
    """What one event produced: whether it was a duplicate, and the outbox rows it wrote."""

    duplicate: bool
    outbox_ids: list[int] = field(default_factory=list)
    # The turn raised after its crisis reply and flag were written: those were kept (and
    # committed), the rest rolled back; the caller counts the failure.
    failure: Exception | None = None


__all__ = [
    "BUTTONS_PER_ROW",
    "CARRIED",
    "CONTACT",
    "GOAL",
    "LONG_LABEL",
    "RESUME_AT",
    "SAFETY_PAUSE",
    "SELECTION",
    "EngineConfig",
    "Handled",
]
