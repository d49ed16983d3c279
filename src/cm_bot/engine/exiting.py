"""The exit conversation: started with a case's exit, acted on when the client finishes it.

A case manager's exit (``/exit``, ``cm-bot case exit``, the console) starts the flow
``exit_conversation`` in the exit's own unit of work, so the exit and the conversation's
first messages commit together (not started without a current consent, or while paused:
the engine's ``start_flow`` decides). When the run finishes, the client's follow-up choice
acts: ``no`` cancels the case's pending follow-ups; a time of day narrows the client's
contact hours (never widens them); no answer keeps the follow-ups as consent said.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from enum import StrEnum
from typing import Any

from cm_bot.engine.ports import UnitOfWork

EXIT_FLOW = "exit_conversation"
FOLLOWUP_KEY = "exit.followups"


class FollowupChoice(StrEnum):
    """The client's answer to "may we check in at 1, 3 and 6 months, and when?"."""

    ANY = "any"
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"
    NO = "no"


# The part of the day each answer means, in the client's own zone.
DAYPARTS: dict[FollowupChoice, tuple[time, time]] = {
    FollowupChoice.MORNING: (time(9, 0), time(12, 0)),
    FollowupChoice.AFTERNOON: (time(12, 0), time(17, 0)),
    FollowupChoice.EVENING: (time(17, 0), time(20, 0)),
}


def exit_context(goals_met: list[str]) -> dict[str, Any]:
    """What the flow may read: the goals met, one per line."""
    return {
        "goals_met": "\n".join(f"• {goal}" for goal in goals_met),
        "has_goals_met": bool(goals_met),
    }


def stop_followups(
    uow: UnitOfWork, client_id: int, case_id: int | None, action: str, **details: Any
) -> int:
    """Cancel the case's pending follow-ups at the client's word, with an audit row.

    One path for "no" in the exit conversation and "Stop these messages" in a follow-up
    (engine/followup_needs.py), so both cancel the same rows the same way.
    """
    if case_id is None:
        return 0
    cancelled = uow.contacts.cancel_followups(case_id, "client_declined")
    uow.audit.record(f"client:{client_id}", action, case_id, cancelled=cancelled, **details)
    return cancelled


def act_on_answers(
    uow: UnitOfWork, client_id: int, case_id: int | None, answers: Mapping[str, Any]
) -> None:
    """Do what the client chose about the follow-ups (nothing, when they did not answer)."""
    raw = answers.get(FOLLOWUP_KEY)
    try:
        choice = FollowupChoice(raw) if raw is not None else None
    except ValueError:
        choice = None
    if choice is None:
        return
    if choice is FollowupChoice.NO:
        stop_followups(uow, client_id, case_id, "followups_declined")
        return
    hours = DAYPARTS.get(choice)
    if hours is not None and uow.contacts.narrow_hours(client_id, *hours):
        uow.audit.record(
            f"client:{client_id}",
            "contact_hours_narrowed",
            case_id,
            start=hours[0].isoformat(),
            end=hours[1].isoformat(),
        )


__all__ = [
    "DAYPARTS",
    "EXIT_FLOW",
    "FOLLOWUP_KEY",
    "FollowupChoice",
    "act_on_answers",
    "exit_context",
    "stop_followups",
]
