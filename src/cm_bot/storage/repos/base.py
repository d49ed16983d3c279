"""What a unit of work's sub-repositories share: one transaction and its remembered reads.

Each sub-repository (:mod:`.inbox`, :mod:`.runs`, :mod:`.buttons`, :mod:`.flags`,
:mod:`.cases`, :mod:`.sends`, :mod:`.audit`, :mod:`.contacts`) holds its own statements,
built once at import, and runs them through one :class:`Tx`: the session, the moment and
the per-transaction memo are that object's, so every part sees what the others wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import CursorResult, Executable, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from cm_bot.domain import RunStatus
from cm_bot.engine.ports import StaffView
from cm_bot.storage.models import metadata

Rows: TypeAlias = CursorResult[*tuple[Any, ...]]
OPEN_RUN = (RunStatus.ACTIVE.value, RunStatus.PAUSED.value)

INBOX = metadata.tables["inboundmessage"]
CLIENT = metadata.tables["client"]
IDENTITY = metadata.tables["channelidentity"]
CASE = metadata.tables["case"]
RUN = metadata.tables["flowrun"]
RESPONSE = metadata.tables["response"]
SCORE = metadata.tables["scoreresult"]
FLAG = metadata.tables["flag"]
STAFF = metadata.tables["staff"]
OUTBOX = metadata.tables["outbox"]
TOKEN = metadata.tables["prompttoken"]
CONSENT = metadata.tables["consentrecord"]
CONTACT = metadata.tables["scheduledcontact"]
SETTING = metadata.tables["programsetting"]


def per_dialect(table: Any, unique: list[str], *returning: Any) -> dict[str, Any]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING, for both databases."""
    return {
        name: dialect.insert(table)
        .on_conflict_do_nothing(index_elements=unique)
        .returning(*returning)
        for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
    }


def one_of(column: Any, values: Sequence[str]) -> Any:
    """``column IN (?, ?)``: one plain bound parameter per constant.

    ``column.in_(values)`` would make an "expanding" parameter, which SQLAlchemy renders
    into the SQL string again on every execution: 30-40 µs for the client lookup.
    """
    return column.in_([literal(value) for value in values])


class Tx:
    """One transaction: its session, its moment, and the reads remembered while it lasts.

    Remembered: who is staff (a staff invite redeemed here drops it); read with the client
    (see ``runs._CLIENT_VIEW``), the open run until a run is written and the latest
    consent record until one is recorded. All of it is forgotten when the (sub)transaction
    it was read in has ended (:meth:`fresh`).
    """

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now  # the transaction's moment (see UnitOfWork.now)
        self.dialect = session.get_bind().dialect.name
        self.staff: dict[tuple[str, str], StaffView | None] = {}
        self.runs: dict[int, Sequence[Any] | None] = {}
        self.consent: dict[int, Sequence[Any] | None] = {}
        self._scope: object = None  # the (sub)transaction the remembered reads were made in

    def fresh(self) -> None:
        """Forget remembered reads once the savepoint they were made in has ended.

        The scheduler runs several contacts in one transaction, a savepoint each: what
        one of them read must not outlive its savepoint being rolled back.
        """
        scope = self.session.get_nested_transaction() or self.session.get_transaction()
        if scope is not self._scope:
            self._scope = scope
            self.forget()

    def forget(self) -> None:
        """Drop every remembered read."""
        self.staff.clear()
        self.runs.clear()
        self.consent.clear()

    def sql(self, statement: Executable, params: Any = None) -> Rows:
        """Run a statement built once, on this transaction's connection.

        The session's pending ORM changes go first (as the ORM's autoflush would do). The
        connection is asked of the session each time: inside ``begin_nested`` that is what
        makes the session emit its SAVEPOINT.
        """
        self.session.flush()
        return self.session.connection().execute(statement, params)

    def change(self, statement: Executable, params: Any, model: type[Any]) -> Rows:
        """An UPDATE or DELETE: ORM objects of ``model`` loaded earlier are read again after."""
        result = self.sql(statement, params)
        identity_map = self.session.identity_map
        if len(identity_map):  # the staff side and the scheduler hold ORM objects
            for instance in list(identity_map.values()):
                if isinstance(instance, model):
                    self.session.expire(instance)
        return result


class Repo:
    """A sub-repository: its methods run on the shared :class:`Tx`."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.session = tx.session
        # Bound once: the hot path runs a dozen statements per update.
        self._sql = tx.sql
        self._change = tx.change
        self._fresh = tx.fresh

    @property
    def now(self) -> datetime:
        """The transaction's moment."""
        return self._tx.now


__all__ = ["OPEN_RUN", "Repo", "Rows", "Tx", "one_of", "per_dialect"]
