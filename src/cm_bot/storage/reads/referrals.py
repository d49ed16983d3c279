"""A case's referrals with their history, for the console's case page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from cm_bot.domain.time import aware
from cm_bot.storage.models import Referral, ReferralEvent, Staff


@dataclass(frozen=True, slots=True)
class ReferralStep:
    """One status change: to what, why, by whom (a staff name, "client" or "system"), when."""

    status: str
    reason: str | None
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """One referral as the case page lists it, newest change last in ``history``."""

    referral_id: int
    need: str
    service_name: str
    made_by: str
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
    history: tuple[ReferralStep, ...]


def _staff_id(actor: str) -> int | None:
    """The staff id of an actor written ``staff:<id>``; ``None`` for "client", "system", ..."""
    return int(actor[6:]) if actor.startswith("staff:") and actor[6:].isdigit() else None


def case_referrals(session: Session, case_id: int) -> list[ReferralRow]:
    """The case's referrals, oldest first, each with its status history (two queries)."""
    referrals = list(
        session.exec(
            select(Referral).where(col(Referral.case_id) == case_id).order_by(col(Referral.id))
        )
    )
    ids = [r.id for r in referrals if r.id is not None]
    events: dict[int, list[ReferralEvent]] = {i: [] for i in ids}
    if ids:
        for event in session.exec(
            select(ReferralEvent)
            .where(col(ReferralEvent.referral_id).in_(ids))
            .order_by(col(ReferralEvent.id))
        ):
            events[event.referral_id].append(event)
    actors = {r.made_by for r in referrals} | {e.actor for found in events.values() for e in found}
    staff_ids = {_staff_id(actor) for actor in actors} - {None}
    names = (
        {s.id: s.name for s in session.exec(select(Staff).where(col(Staff.id).in_(staff_ids)))}
        if staff_ids
        else {}
    )

    def who(actor: str) -> str:
        staff_id = _staff_id(actor)
        return actor if staff_id is None else names.get(staff_id, actor)

    return [
        ReferralRow(
            referral_id=r.id,
            need=r.need,
            service_name=r.service_name or r.service_id,
            made_by=who(r.made_by),
            status=r.status,
            reason=r.reason,
            created_at=aware(r.created_at),
            updated_at=aware(r.updated_at),
            history=tuple(
                ReferralStep(e.status, e.reason, who(e.actor), aware(e.at)) for e in events[r.id]
            ),
        )
        for r in referrals
        if r.id is not None
    ]


__all__ = ["ReferralRow", "ReferralStep", "case_referrals"]
