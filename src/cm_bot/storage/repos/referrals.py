"""Referrals (issue 17): what a client was offered, the referrals made, every status change.

Each status change writes its ``referral_event`` row in the same transaction as the change.
A referral the client asked for (``requested``) or will follow up themselves
(``self_referred``) records :class:`~cm_bot.domain.events.ReferralMade`: the scheduling
layer plans its "did you get help?" contact before the transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from cm_bot.domain import ReferralStatus
from cm_bot.domain.events import CaseEvent, ReferralMade
from cm_bot.domain.time import aware
from cm_bot.engine.ports import ClientView, ReferralView, ServiceCard
from cm_bot.program import HUNGER_NEED
from cm_bot.storage.models import (
    Case,
    Referral,
    ReferralEvent,
    ReferralOffer,
    ScoreResult,
)
from cm_bot.storage.repos.base import Repo, Tx

# The statuses after which the client is asked whether they got help.
FOLLOWED_UP = (ReferralStatus.REQUESTED, ReferralStatus.SELF_REFERRED)


class SqlReferrals(Repo):
    """Implements :class:`cm_bot.engine.ports.ReferralsRepo`."""

    def __init__(self, tx: Tx, events: list[CaseEvent]) -> None:
        super().__init__(tx)
        self._events = events

    def positive_needs(self, client_id: int) -> set[str]:
        """Positive AHC domains and ``hunger`` (HVS) of each screening's latest stored score."""
        latest: dict[tuple[str, str], tuple[str | None, dict[str, Any]]] = {}
        rows = self.session.execute(
            select(ScoreResult)
            .where(
                col(ScoreResult.client_id) == client_id,
                col(ScoreResult.instrument).in_(("ahc", "hvs")),
            )
            .order_by(col(ScoreResult.id))
        ).scalars()
        for row in rows:  # a later score of the same screening replaces the earlier one
            latest[(row.flow_id, row.score_id)] = (row.instrument, dict(row.result or {}))
        needs: set[str] = set()
        for instrument, result in latest.values():
            if instrument == "ahc":
                needs.update(str(d) for d in result.get("positive_domains") or ())
            elif instrument == "hvs" and result.get("positive") is True:
                needs.add(HUNGER_NEED)
        return needs

    def offered(self, client_id: int) -> bool:
        """Whether any offer was recorded for the client."""
        found = self.session.execute(
            select(col(ReferralOffer.id)).where(col(ReferralOffer.client_id) == client_id).limit(1)
        ).first()
        return found is not None

    def record_offer(
        self, client: ClientView, need: str, service_id: str | None, *, choice: str | None = None
    ) -> int:
        """Keep one offer."""
        offer = ReferralOffer(
            case_id=client.case_id,
            client_id=client.client_id,
            need=need,
            service_id=service_id,
            choice=choice,
            offered_at=self.now,
            answered_at=self.now if choice is not None else None,
        )
        self.session.add(offer)
        self.session.flush()
        assert offer.id is not None
        return offer.id

    def answer_offer(self, offer_id: int, choice: str, referral_id: int | None) -> None:
        """The client's choice on an offer."""
        offer = self.session.get(ReferralOffer, offer_id)
        if offer is not None:
            offer.choice, offer.referral_id, offer.answered_at = choice, referral_id, self.now

    def tried(self, case_id: int, need: str) -> set[str]:
        """Services this case was referred to (or went to itself) for a need."""
        referred = self.session.execute(
            select(col(Referral.service_id)).where(
                col(Referral.case_id) == case_id, col(Referral.need) == need
            )
        ).scalars()
        return {str(s) for s in referred}

    def create(
        self,
        client: ClientView,
        need: str,
        service_id: str,
        service_name: str,
        status: str,
        *,
        made_by: str,
    ) -> int:
        """A new referral, its first event, and (requested, self_referred) its check-in."""
        assert client.case_id is not None
        status = ReferralStatus(status)
        referral = Referral(
            case_id=client.case_id,
            client_id=client.client_id,
            need=need,
            service_id=service_id,
            service_name=service_name,
            made_by=made_by,
            status=status,
            created_at=self.now,
            updated_at=self.now,
        )
        self.session.add(referral)
        self.session.flush()
        assert referral.id is not None
        self.session.add(
            ReferralEvent(referral_id=referral.id, status=status, actor=made_by, at=self.now)
        )
        if status in FOLLOWED_UP:
            self._events.append(ReferralMade(referral.id, 1))
        return referral.id

    def referral(self, referral_id: int) -> ReferralView | None:
        """One referral, with its case's ref and manager."""
        row = self.session.execute(
            select(Referral, Case)
            .join(Case, col(Case.id) == col(Referral.case_id))
            .where(col(Referral.id) == referral_id)
        ).first()
        return None if row is None else _view(row[0], row[1])

    def of_case(self, case_id: int) -> list[ReferralView]:
        """The case's referrals, oldest first."""
        rows = self.session.execute(
            select(Referral, Case)
            .join(Case, col(Case.id) == col(Referral.case_id))
            .where(col(Referral.case_id) == case_id)
            .order_by(col(Referral.id))
        ).all()
        return [_view(r, c) for r, c in rows]

    def set_status(
        self, referral_id: int, status: str, reason: str | None, *, actor: str
    ) -> ReferralView | None:
        """Change a referral's status and reason; an event row records it."""
        before = self.referral(referral_id)
        referral = self.session.get(Referral, referral_id)
        if before is None or referral is None:
            return None
        referral.status = ReferralStatus(status)
        referral.reason = reason
        referral.updated_at = self.now
        self.session.add(
            ReferralEvent(
                referral_id=referral_id,
                status=referral.status,
                reason=reason,
                actor=actor,
                at=self.now,
            )
        )
        self.session.flush()
        return before

    def ask_again(self, referral_id: int, ask: int) -> None:
        """Plan check-in number ``ask`` (before the commit, by the scheduling layer)."""
        self._events.append(ReferralMade(referral_id, ask))


class NoDirectory:
    """The directory of a store nothing wired one into: it matches nothing."""

    def match(
        self, need: str, language: str | None, limit: int = 3, exclude: Sequence[str] = ()
    ) -> list[ServiceCard]:
        """No service."""
        return []

    def services(self, ids: Sequence[str], language: str | None) -> list[ServiceCard]:
        """No service."""
        return []


def _view(referral: Referral, case: Case) -> ReferralView:
    assert referral.id is not None and case.id is not None
    return ReferralView(
        referral_id=referral.id,
        case_id=case.id,
        case_ref=case.ref,
        manager_id=case.manager_id,
        client_id=referral.client_id,
        need=referral.need,
        service_id=referral.service_id,
        service_name=referral.service_name,
        made_by=referral.made_by,
        status=referral.status,
        reason=referral.reason,
        created_at=aware(referral.created_at),
        updated_at=aware(referral.updated_at),
    )


__all__ = ["FOLLOWED_UP", "NoDirectory", "SqlReferrals"]
