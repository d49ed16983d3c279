"""The store: opens units of work (:class:`~cm_bot.storage.uow.SqlUnitOfWork`) on one engine.

The unit of work itself lives in :mod:`cm_bot.storage.uow`, its parts in
:mod:`cm_bot.storage.repos`; both names are still importable from here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import col

from cm_bot.domain import Outbound
from cm_bot.domain.time import SYSTEM_CLOCK, Clock
from cm_bot.engine.ports import FlagView
from cm_bot.storage import outbox
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag
from cm_bot.storage.repos.inbox import SENDER_SALT
from cm_bot.storage.uow import DirectoryFactory, EventHandler, SqlUnitOfWork


class SqlStore:
    """Opens units of work on one SQLAlchemy engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock | None = None,
        handlers: Mapping[type[Any], EventHandler] | None = None,
        directory: DirectoryFactory | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock or SYSTEM_CLOCK  # every unit of work's ``now`` comes from it
        # Per event type (``CaseExited``, ``GoalAdded``), what runs in the event's own
        # transaction before it commits: the scheduling layer's planners, wired by bootstrap.
        self.handlers: dict[type[Any], EventHandler] = dict(handlers or {})
        # ``uow.directory``: the resource directory (cm_bot.resources.port), wired by bootstrap.
        self.directory = directory

    @contextmanager
    def unit(self, now: datetime | None = None) -> Iterator[SqlUnitOfWork]:
        """One transaction, at ``now`` (default: the clock's time as it opens).

        When the block ends without raising, the events it recorded are handled (and theirs
        in turn) before the commit: a case's exit and its follow-ups commit together.
        """
        with transaction(self.engine) as session:
            uow = SqlUnitOfWork(
                session,
                now=now if now is not None else self.clock.now(),
                directory=self.directory,
            )
            yield uow
            uow.handle_events(self.handlers)

    def count(self, table: type[Any]) -> int:
        """Rows in a table (tests and reports)."""
        with transaction(self.engine) as session:
            return int(session.execute(select(func.count()).select_from(table)).scalar_one())

    # -- for a channel that delivers in-process (the terminal) --------------------------

    def claim_chat(self, channel: str, chat_id: str) -> list[tuple[int, Outbound]]:
        """Take one chat's due messages, most urgent first (:func:`outbox.claim`).

        The reader shows each one, then calls :meth:`mark_shown`.
        """
        return [
            (item.id, item.message) for item in outbox.claim(self.engine, channel, chat_id=chat_id)
        ]

    def mark_shown(self, outbox_id: int) -> None:
        """A message taken by :meth:`claim_chat` was shown: it is sent."""
        outbox.mark_sent(self.engine, outbox_id, None)

    def newest_flag_id(self) -> int:
        """The id of the latest flag (0: none yet), to show only flags raised after it."""
        with transaction(self.engine) as session:
            return int(session.execute(select(func.max(col(Flag.id)))).scalar() or 0)

    def flags_after(self, flag_id: int) -> list[FlagView]:
        """Flags raised after ``flag_id``, oldest first."""
        with self.unit() as uow:
            ids = list(
                uow.session.execute(
                    select(col(Flag.id)).where(col(Flag.id) > flag_id).order_by(col(Flag.id))
                ).scalars()
            )
            return [view for found in ids if (view := uow.flags.flag_view(found)) is not None]


__all__ = ["SENDER_SALT", "EventHandler", "SqlStore", "SqlUnitOfWork"]
