"""The program's scheduling choices and the contact-hours arithmetic every planner shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cm_bot.domain import ContactStatus
from cm_bot.scheduling.plan import ContactHours, next_allowed, spread, zone
from cm_bot.storage.models import Client

OPEN = (ContactStatus.PENDING.value, ContactStatus.SENT.value)
CHECKIN, FOLLOWUP = "checkin", "followup"
REFERRAL = "referral"  # "did you get help from ...?" (issue 17)
REFERRAL_FLOW = "referral_checkin"
RESCREEN = "rescreen"  # a repeat PHQ-9 / GAD-7 (issue 18)
RESCREEN_FLOWS = {"phq9": "rescreen_phq9", "gad7": "rescreen_gad7"}
DEFAULT_REFERRAL_DAYS = 14
DEFAULT_FOLLOWUP_DAYS = (30, 90, 180)
FOLLOWUP_FLOW = "exit_followup"
CHECKIN_FLOW = "goal_checkin"


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    """The program's scheduling choices; every field has a safe default.

    Attributes:
        default_timezone: Zone of clients who have none set (an IANA name).
        contact_hours: Local hours in which clients may be messaged.
        checkin_at: Local time of a check-in when the goal names none.
        followup_at: Local time of a post-exit follow-up.
        spread: Contacts due at the same minute are spread over this long.
        reminder_after: A follow-up without a reply is sent once more after this long.
        no_response_after: After the reminder, the wait before ``no_response``.
        checkin_window: A check-in without a reply is ``missed`` after this long.
        checkin_min_gap: The next check-in is at least this far from when the last closed.
        busy_retry: How soon to look again when the client is mid-flow or mid-message.
        stale_run_after: An open run untouched this long no longer holds contacts back.
        batch_size: Rows claimed per transaction.
        checkin_sweep_every: How often the ticker sweeps every goal for a missing check-in.
        max_failures: Dispatch errors after which a contact is given up (and flagged).
        checkin_flow: The flow a check-in runs.
        followup_flow: The flow a post-exit follow-up runs.
        referral_checkin_days: Days after a referral (or "still waiting") its check-in is due
            (the program file's ``referral_checkin_days``).
        referral_flow: The flow a referral check-in runs.
        rescreen_flows: The flow a re-screen of each instrument runs (issue 18).
    """

    default_timezone: str = "UTC"
    contact_hours: ContactHours = field(default_factory=ContactHours)
    checkin_at: time = time(10, 0)
    followup_at: time = time(10, 0)
    spread: timedelta = timedelta(minutes=15)
    reminder_after: timedelta = timedelta(days=3)
    no_response_after: timedelta = timedelta(days=3)
    checkin_window: timedelta = timedelta(days=3)
    checkin_min_gap: timedelta = timedelta(days=1)
    busy_retry: timedelta = timedelta(minutes=15)
    stale_run_after: timedelta = timedelta(hours=24)
    batch_size: int = 50
    checkin_sweep_every: timedelta = timedelta(hours=1)
    max_failures: int = 5
    checkin_flow: str = CHECKIN_FLOW
    followup_flow: str = FOLLOWUP_FLOW
    referral_checkin_days: int = DEFAULT_REFERRAL_DAYS
    referral_flow: str = REFERRAL_FLOW
    rescreen_flows: dict[str, str] = field(default_factory=lambda: dict(RESCREEN_FLOWS))


def policy_from_settings(settings: Any) -> SchedulePolicy:
    """Build the policy from :class:`cm_bot.settings.Settings`, using defaults for unset fields.

    Reads ``timezone`` and ``contact_hours`` (``"09:00-20:00"``); an object without them
    (a test's stand-in for settings) gets UTC and the default contact hours.
    """
    hours = getattr(settings, "contact_hours", None)
    return SchedulePolicy(
        default_timezone=str(getattr(settings, "timezone", None) or "UTC"),
        contact_hours=ContactHours.parse(hours) if isinstance(hours, str) else ContactHours(),
    )


def client_zone(client: Client | None, policy: SchedulePolicy) -> tuple[ZoneInfo, ContactHours]:
    """The client's zone and contact hours (the program's defaults where the client has none)."""
    if client is None:
        return zone(None, policy.default_timezone), policy.contact_hours
    hours = policy.contact_hours
    if client.contact_start is not None or client.contact_end is not None:
        hours = within(
            ContactHours(client.contact_start or hours.start, client.contact_end or hours.end),
            hours,
        )
    return zone(client.timezone, policy.default_timezone), hours


def within(chosen: ContactHours, program: ContactHours) -> ContactHours:
    """The client's hours inside the program's: never wider (issue 18's preferences).

    Only same-day windows are intersected (a part of the day always is one); a window
    across midnight or "any hour" set for the client stays as stored. One the program's
    does not overlap leaves the program's hours (the client chose a part of the day the
    program does not work: it still reaches them at its own times).
    """
    if program.start == program.end or chosen.start == chosen.end:
        return chosen  # no limit on one side (a client set to any hour stays so)
    if chosen.start > chosen.end or program.start > program.end:
        return chosen  # across midnight: as stored
    start, end = max(chosen.start, program.start), min(chosen.end, program.end)
    return ContactHours(start, end) if start < end else program


def when_allowed(
    moment: datetime, key: str, tz: ZoneInfo, hours: ContactHours, width: timedelta
) -> datetime:
    """The first allowed time at or after ``moment``, spread by ``key`` within the window."""
    return spread(next_allowed(moment, tz, hours), key, tz, hours, width)


__all__ = [
    "CHECKIN",
    "CHECKIN_FLOW",
    "DEFAULT_FOLLOWUP_DAYS",
    "FOLLOWUP",
    "FOLLOWUP_FLOW",
    "OPEN",
    "REFERRAL",
    "REFERRAL_FLOW",
    "RESCREEN",
    "RESCREEN_FLOWS",
    "SchedulePolicy",
    "client_zone",
    "policy_from_settings",
    "when_allowed",
    "within",
]
