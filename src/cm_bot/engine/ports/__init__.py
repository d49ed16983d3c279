"""What the engine needs from the outside world, as Protocols.

The engine holds no SQL: :mod:`cm_bot.storage` implements these over SQLModel.
One :class:`UnitOfWork` is one database transaction, so everything the engine
writes for one inbound event commits together or not at all. Its parts are one
protocol per concern (``uow.inbox``, ``uow.runs``, ``uow.flags`` …), all on that
one transaction.

The views live in :mod:`.views`, the parts in :mod:`.repos`; every name is importable
from here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from cm_bot.domain.time import Clock
from cm_bot.engine.ports.repos import (
    AuditRepo,
    ButtonsRepo,
    CasesRepo,
    ContactsRepo,
    DirectoryRepo,
    FlagsRepo,
    InboxRepo,
    OutboxRepo,
    ReferralsRepo,
    RunsRepo,
)
from cm_bot.engine.ports.views import (
    CaseView,
    ClientView,
    ContactPreferences,
    FlagView,
    InviteOutcome,
    NoticeRef,
    ReferralView,
    RunState,
    ScoreView,
    ServiceCard,
    StaffTarget,
    StaffView,
    Token,
)


class UnitOfWork(Protocol):
    """Reads and writes of one transaction, by concern (``uow.inbox.record_inbound(…)``)."""

    @property
    def now(self) -> datetime:
        """This transaction's moment (aware UTC): every time it writes or compares is this one.

        It comes from the store's injected clock, or from the caller that opened the
        transaction (a dispatch pass runs at its own ``now``), so a flow started by the
        scheduler is stamped with the scheduler's time, and tests choose time outright.
        """

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: what it wrote is rolled back alone if the block raises."""

    @property
    def inbox(self) -> InboxRepo:
        """The transaction's inbox part."""

    @property
    def runs(self) -> RunsRepo:
        """The transaction's runs part."""

    @property
    def buttons(self) -> ButtonsRepo:
        """The transaction's buttons part."""

    @property
    def flags(self) -> FlagsRepo:
        """The transaction's flags part."""

    @property
    def cases(self) -> CasesRepo:
        """The transaction's cases part."""

    @property
    def outbox(self) -> OutboxRepo:
        """The transaction's outbox part."""

    @property
    def contacts(self) -> ContactsRepo:
        """The transaction's contacts part."""

    @property
    def audit(self) -> AuditRepo:
        """The transaction's audit part."""

    @property
    def referrals(self) -> ReferralsRepo:
        """The transaction's referrals part."""

    @property
    def directory(self) -> DirectoryRepo:
        """The program's resource directory, read in this transaction (empty if none is wired)."""


class Store(Protocol):
    """Opens units of work."""

    def unit(self, now: datetime | None = None) -> AbstractContextManager[UnitOfWork]:
        """A transaction at ``now`` (default: the store's clock as it opens).

        It commits when the block ends and rolls back if it raises.
        """


__all__ = [
    "AuditRepo",
    "ButtonsRepo",
    "CaseView",
    "CasesRepo",
    "ClientView",
    "Clock",
    "ContactPreferences",
    "ContactsRepo",
    "DirectoryRepo",
    "FlagView",
    "FlagsRepo",
    "InboxRepo",
    "InviteOutcome",
    "NoticeRef",
    "OutboxRepo",
    "ReferralView",
    "ReferralsRepo",
    "RunState",
    "RunsRepo",
    "ScoreView",
    "ServiceCard",
    "StaffTarget",
    "StaffView",
    "Store",
    "Token",
    "UnitOfWork",
]
