"""The store: opens units of work (:class:`~cm_bot.storage.uow.SqlUnitOfWork`) on one engine.

The unit of work itself lives in :mod:`cm_bot.storage.uow`, its parts in
:mod:`cm_bot.storage.repos`; both names are still importable from here.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from cm_bot.storage.repos.base import OnExit, OnGoal
from cm_bot.storage.repos.inbox import SENDER_SALT
from cm_bot.storage.uow import SqlUnitOfWork


class SqlStore:
    """Opens units of work on one SQLAlchemy engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock | None = None,
        on_exit: OnExit | None = None,
        on_goal: OnGoal | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock or SYSTEM_CLOCK  # every unit of work's ``now`` comes from it
        # The scheduling layer's planners, run in the exit's (the goal's) own transaction:
        # post-exit follow-ups, a new goal's first check-in.
        self.on_exit = on_exit
        self.on_goal = on_goal

    @contextmanager
    def unit(self, now: datetime | None = None) -> Iterator[SqlUnitOfWork]:
        """One transaction, at ``now`` (default: the clock's time as it opens)."""
        with transaction(self.engine) as session:
            yield SqlUnitOfWork(
                session,
                now=now if now is not None else self.clock.now(),
                on_exit=self.on_exit,
                on_goal=self.on_goal,
            )

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
            return [view for found in ids if (view := uow.flag_view(found)) is not None]


__all__ = ["SENDER_SALT", "OnExit", "OnGoal", "SqlStore", "SqlUnitOfWork"]
