"""Scheduled contact: goal check-ins and post-exit follow-ups as durable rows.

* :mod:`~cm_bot.scheduling.plan` — pure due-time arithmetic (zones, DST, contact hours).
* :mod:`~cm_bot.scheduling.planner` — creating and cancelling contacts in the caller's
  transaction (:func:`plan_followups`, :func:`reopen_case`, :func:`plan_checkins`).
* :mod:`~cm_bot.scheduling.dispatcher` — claiming due rows and starting their flows,
  exactly once across workers (:func:`run_due`); one pass's parts beside it:
  :mod:`~cm_bot.scheduling.contact` (one claimed row), :mod:`~cm_bot.scheduling.settle`
  (finished contacts), :mod:`~cm_bot.scheduling.upkeep` (the outbox) and
  :mod:`~cm_bot.scheduling.report` (the counts).
* :mod:`~cm_bot.scheduling.ticker` — the APScheduler tick that only wakes the dispatcher.
"""

from cm_bot.scheduling.dispatcher import DispatchReport, run_due, settle_finished
from cm_bot.scheduling.plan import ContactHours, parse_timezone
from cm_bot.scheduling.planner import (
    SchedulePolicy,
    ensure_checkins,
    event_handlers,
    exit_planner,
    followup_days,
    goal_planner,
    plan_checkins,
    plan_followups,
    policy_from_settings,
    reopen_case,
    upcoming,
)
from cm_bot.scheduling.ticker import Ticker, housekeeping

__all__ = [
    "ContactHours",
    "DispatchReport",
    "SchedulePolicy",
    "Ticker",
    "ensure_checkins",
    "event_handlers",
    "exit_planner",
    "followup_days",
    "goal_planner",
    "housekeeping",
    "parse_timezone",
    "plan_checkins",
    "plan_followups",
    "policy_from_settings",
    "reopen_case",
    "run_due",
    "settle_finished",
    "upcoming",
]
