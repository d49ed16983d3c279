"""Contacts the bot may not make: a task for the case manager instead (issue 18).

A client who said it is not safe for us to message them first (``/preferences``) gets no
scheduled message at all. When one of their contacts comes due, the dispatcher marks it
``staff_task`` (settled at once, so it is never claimed again) and raises one routine flag
through the one flag path: "call or see the client", naming the contact. The flag's dedupe
key is the contact's, so a second pass never makes a second task. ``schedule list`` shows
the task until its flag is resolved (:func:`cm_bot.scheduling.queries.upcoming`).
"""

from __future__ import annotations

from datetime import datetime

from cm_bot.domain import ContactStatus
from cm_bot.engine import ConversationEngine
from cm_bot.i18n.translator import N_
from cm_bot.scheduling.plan import aware
from cm_bot.scheduling.policy import CHECKIN, FOLLOWUP, REFERRAL, RESCREEN
from cm_bot.scheduling.settle import flag_client
from cm_bot.storage.models import Case, ScheduledContact
from cm_bot.storage.repository import SqlStore, SqlUnitOfWork

STAFF_TASK_RULE = "staff_task"
NOT_SAFE_OUTCOME = "not_safe_to_message_first"

_REASONS = {
    CHECKIN: N_("Not safe to message the client first: call or see them for their goal check-in"),
    RESCREEN: N_("Not safe to message the client first: call or see them for their re-screen"),
    REFERRAL: N_(
        "Not safe to message the client first: call or see them for their referral check-in"
    ),
}
_FOLLOWUPS = {
    30: N_("Not safe to message the client first: call or see them for the follow-up at 30 days"),
    90: N_("Not safe to message the client first: call or see them for the follow-up at 90 days"),
    180: N_("Not safe to message the client first: call or see them for the follow-up at 180 days"),
}
_FOLLOWUP_OTHER = N_(
    "Not safe to message the client first: call or see them for their post-exit follow-up"
)
_OTHER = N_("Not safe to message the client first: call or see them for a scheduled contact")


def task_key(contact_id: int) -> str:
    """The dedupe key of a contact's staff-task flag."""
    return f"stafftask:{contact_id}"


def task_reason(row: ScheduledContact, case: Case | None) -> str:
    """What the case manager is asked to do, naming the contact (a msgid)."""
    if row.kind == FOLLOWUP:
        if case is not None and case.exited_at is not None and row.planned_for is not None:
            days = (row.planned_for - aware(case.exited_at).date()).days
            return _FOLLOWUPS.get(days, _FOLLOWUP_OTHER)
        return _FOLLOWUP_OTHER
    return _REASONS.get(row.kind, _OTHER)


def staff_task(
    engine: ConversationEngine[SqlStore],
    uow: SqlUnitOfWork,
    row: ScheduledContact,
    case: Case | None,
    now: datetime,
) -> str:
    """Turn a due contact into a task for the case manager; nothing goes to the client."""
    assert row.id is not None and row.client_id is not None
    row.status = ContactStatus.STAFF_TASK
    row.outcome = NOT_SAFE_OUTCOME
    row.updated_at = now
    row.closed_at = now  # settled: the flag is the whole of it
    flag_client(
        engine,
        uow,
        row.client_id,
        row.case_id,
        task_reason(row, case),
        STAFF_TASK_RULE,
        task_key(row.id),
    )
    uow.session.flush()
    return "staff_task"


__all__ = ["NOT_SAFE_OUTCOME", "STAFF_TASK_RULE", "staff_task", "task_key", "task_reason"]
