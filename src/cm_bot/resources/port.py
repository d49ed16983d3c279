"""The directory as the engine's port (``uow.directory``): :func:`match` on the transaction.

The engine never imports this package; it asks ``uow.directory`` (the
:class:`cm_bot.engine.ports.DirectoryRepo` protocol). Storage cannot import it either (it is
a floor below), so the composition root hands the store a factory (:func:`directory_part`)
with the program's needs mapping, as it hands it scheduling's event handlers: each unit of
work then reads the directory on its own session, at its own moment (what is stale, today).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

from sqlmodel import Session

from cm_bot.engine.ports import DirectoryRepo, ServiceCard
from cm_bot.resources.match import NeedTerms, ServiceOffer, match, offers_by_id


class SqlDirectory:
    """Implements :class:`cm_bot.engine.ports.DirectoryRepo` on one session."""

    def __init__(self, session: Session, needs: Mapping[str, NeedTerms], today: date) -> None:
        self.session = session
        self.needs = needs
        self.today = today

    def match(
        self, need: str, language: str | None, limit: int = 3, exclude: Sequence[str] = ()
    ) -> list[ServiceCard]:
        """Up to ``limit`` active services for the need, in the order a client is offered them."""
        found = match(
            self.session, need, self.needs, language, limit, today=self.today, exclude=exclude
        )
        return [card(offer) for offer in found]

    def services(self, ids: Sequence[str], language: str | None) -> list[ServiceCard]:
        """These services, whatever their status (a referral's, for its check-in)."""
        return [
            card(o) for o in offers_by_id(self.session, ids, today=self.today, language=language)
        ]


def card(offer: ServiceOffer) -> ServiceCard:
    """What the engine shows of an offer."""
    return ServiceCard(
        service_id=offer.id,
        name=offer.name,
        description=offer.description,
        phone=offer.phone,
        address=offer.address,
        opening_hours=offer.opening_hours,
        languages=offer.languages,
    )


def directory_part(needs: Mapping[str, NeedTerms]) -> Callable[[Session, datetime], DirectoryRepo]:
    """``SqlStore(directory=…)``: the directory with the program's needs, per unit of work."""

    def part(session: Session, now: datetime) -> DirectoryRepo:
        return SqlDirectory(session, needs, now.date())

    return part


__all__ = ["SqlDirectory", "card", "directory_part"]
