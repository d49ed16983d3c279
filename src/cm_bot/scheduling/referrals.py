"""Referral check-ins (issue 17): "did you get help from NAME?", some days after a referral.

A referral the client asked for (``requested``) or will follow up themselves
(``self_referred``) records :class:`~cm_bot.domain.events.ReferralMade` on the unit of
work; :func:`plan_referral_checkin` runs before that transaction commits and plans a
contact of kind ``referral`` ``referral_checkin_days`` later, moved into the client's
contact hours. "Still waiting" plans the second ask the same way, once only
(``ask`` 2). The contact is dispatched like every other: quiet hours, the urgent pause,
one reminder and then ``no_response`` (:mod:`~cm_bot.scheduling.contact`); it is
cancelled if the referral has ended meanwhile (staff marked it completed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from cm_bot.domain import CaseStatus, ReferralStatus
from cm_bot.scheduling.plan import aware
from cm_bot.scheduling.policy import REFERRAL, SchedulePolicy, client_zone, when_allowed
from cm_bot.scheduling.queries import add_contact, session_of
from cm_bot.storage.models import Case, Client, Referral, ScheduledContact
from cm_bot.storage.repository import SqlUnitOfWork

# A referral in one of these is over: its check-in is no longer wanted.
ENDED = (
    ReferralStatus.COMPLETED,
    ReferralStatus.CANCELLED,
    ReferralStatus.FAILED,
    ReferralStatus.REJECTED,
)
MAX_ASKS = 2  # the first ask, and once more after "still waiting"


def plan_referral_checkin(
    target: Session | SqlUnitOfWork,
    referral_id: int,
    ask: int,
    now: datetime,
    policy: SchedulePolicy,
) -> int | None:
    """Plan check-in number ``ask`` of a referral; the new contact's id (``None``: not planned).

    Nothing is planned beyond :data:`MAX_ASKS`, for an ended referral, a case that is
    closed, or a referral with no client; planning twice is harmless (``dedupe_key``).
    """
    session = session_of(target)
    referral = session.get(Referral, referral_id)
    if referral is None or ask > MAX_ASKS or referral.status in ENDED:
        return None
    case = session.get(Case, referral.case_id)
    if case is None or case.status == CaseStatus.CLOSED or referral.client_id is None:
        return None
    tz, hours = client_zone(session.get(Client, referral.client_id), policy)
    key = f"referral:{referral_id}:{ask}"
    moment = aware(now) + timedelta(days=policy.referral_checkin_days)
    return add_contact(
        session,
        {
            "case_id": referral.case_id,
            "client_id": referral.client_id,
            "flow_id": policy.referral_flow,
            "kind": REFERRAL,
            "referral_id": referral_id,
            "planned_for": moment.astimezone(tz).date(),
            "due_at": when_allowed(moment, key, tz, hours, policy.spread),
            "dedupe_key": key,
        },
        aware(now),
    )


def referral_still_wanted(session: Session, row: ScheduledContact) -> str | None:
    """Why a referral check-in is no longer wanted (the referral ended), or ``None``."""
    referral = session.get(Referral, row.referral_id) if row.referral_id is not None else None
    if referral is None:
        return "referral_gone"
    if referral.status in ENDED:
        return "referral_ended"
    return None


def ask_number(row: ScheduledContact) -> int:
    """Which ask of its referral a contact is (1, or 2 after "still waiting")."""
    key = row.dedupe_key or ""
    tail = key.rsplit(":", 1)[-1]
    return int(tail) if key.startswith("referral:") and tail.isdigit() else 1


__all__ = ["ENDED", "MAX_ASKS", "ask_number", "plan_referral_checkin", "referral_still_wanted"]
