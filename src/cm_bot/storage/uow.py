"""The engine's ports over SQLModel: one :class:`SqlUnitOfWork` is one database transaction.

It is made of one sub-repository per concern (``uow.inbox``, ``uow.runs``, ``uow.buttons``,
``uow.flags``, ``uow.cases``, ``uow.outbox``, ``uow.contacts``, ``uow.audit``,
``uow.referrals``, and ``uow.directory`` when the composition root wires one; see
:mod:`cm_bot.storage.repos`), all on one session and sharing one memo of reads
(:class:`~cm_bot.storage.repos.base.Tx`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlmodel import Session

from cm_bot.domain.events import CaseEvent
from cm_bot.domain.time import SYSTEM_CLOCK, aware
from cm_bot.engine.ports import DirectoryRepo
from cm_bot.storage.repos.audit import SqlAudit
from cm_bot.storage.repos.base import Tx
from cm_bot.storage.repos.buttons import SqlButtons
from cm_bot.storage.repos.cases import SqlCases
from cm_bot.storage.repos.contacts import SqlContacts
from cm_bot.storage.repos.flags import SqlFlags
from cm_bot.storage.repos.inbox import SqlInbox
from cm_bot.storage.repos.referrals import NoDirectory, SqlReferrals
from cm_bot.storage.repos.runs import SqlRuns
from cm_bot.storage.repos.sends import SqlSends

# What the composition root registers per event type: handed this unit of work and the event,
# run before the transaction commits (scheduling's planners; see ``SqlStore(handlers=…)``).
EventHandler = Callable[["SqlUnitOfWork", Any], object]
# What the composition root registers for ``uow.directory``: the resource directory read on
# this session at this moment (cm_bot.resources.port; storage never imports resources/).
DirectoryFactory = Callable[[Session, datetime], DirectoryRepo]


class SqlUnitOfWork:
    """Implements :class:`cm_bot.engine.ports.UnitOfWork` on one session (one transaction)."""

    def __init__(
        self,
        session: Session,
        *,
        now: datetime | None = None,
        directory: DirectoryFactory | None = None,
    ) -> None:
        self.session = session
        # The transaction's moment (UnitOfWork.now); outside the app (tests, the CLI) the
        # wall clock.
        self._tx = Tx(session, aware(now) if now is not None else SYSTEM_CLOCK.now())
        # What happened in this transaction that other layers act on (a case exited, a goal
        # added), in order; :meth:`handle_events` runs their handlers before the commit.
        self.events: list[CaseEvent] = []
        self.inbox = SqlInbox(self._tx)
        self.runs = SqlRuns(self._tx)
        self.buttons = SqlButtons(self._tx)
        self.flags = SqlFlags(self._tx)
        self.cases = SqlCases(self._tx, self.events)
        self.outbox = SqlSends(self._tx)
        self.contacts = SqlContacts(self._tx)
        self.audit = SqlAudit(self._tx)
        self.referrals = SqlReferrals(self._tx, self.events)
        self._directory_factory = directory
        self._directory: DirectoryRepo | None = None

    @property
    def now(self) -> datetime:
        """This transaction's moment (aware UTC)."""
        return self._tx.now

    @property
    def directory(self) -> DirectoryRepo:
        """The resource directory on this transaction (matches nothing when none is wired)."""
        if self._directory is None:
            factory = self._directory_factory
            self._directory = (
                NoDirectory() if factory is None else factory(self.session, self._tx.now)
            )
        return self._directory

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction (SAVEPOINT): rolled back alone when the block raises.

        The reads the parts remember are scoped to it (``Tx.fresh``): what was read inside
        is forgotten when it ends, so a rolled-back contact leaves nothing behind; so are the
        events recorded inside a block that raises.
        """
        recorded = len(self.events)
        try:
            with self.session.begin_nested():
                yield
        except BaseException:
            del self.events[recorded:]
            raise

    def handle_events(self, handlers: Mapping[type[Any], EventHandler]) -> None:
        """Run each recorded event's handler in this transaction, oldest first, until none is left.

        A handler may record more events (they are handled in turn); an event no handler is
        registered for is dropped (a store without scheduling plans nothing).
        """
        while self.events:
            event = self.events.pop(0)
            handler = handlers.get(type(event))
            if handler is not None:
                handler(self, event)


__all__ = ["DirectoryFactory", "EventHandler", "SqlUnitOfWork"]
