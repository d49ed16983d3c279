"""Database engine, transactions and migrations.

SQLite (the default) runs in WAL mode with foreign keys on and ``BEGIN IMMEDIATE``
transactions, so one writer at a time and no lost update; the threads of a process take
turns in arrival order, and a transaction returns only once its commit is on disk (as with
``synchronous=FULL``, with one fsync shared by the commits made meanwhile: see
:class:`GroupCommit`). PostgreSQL is the store for more than one process.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

MIGRATIONS = Path(__file__).with_name("migrations")

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    """Pick the driver we ship for a plain ``postgresql://`` URL (psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    """True when the store is SQLite (one process is the supported shape)."""
    return engine.dialect.name == "sqlite"


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """Create the engine with the connection settings the case record needs."""
    url = normalise_url(url)
    # Bound values are clients' words: keep them out of error messages and tracebacks.
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if ":memory:" in url or url.rstrip("/") == "sqlite:":
            raise ValueError(
                "use a SQLite file, not :memory: (each connection would see its own database)"
            )
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    writer = _writer(engine)
    assert writer is not None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=FULL")
        # Erased text must not linger in free pages (erasure also checkpoints the WAL).
        cursor.execute("PRAGMA secure_delete=ON")
        # INSERT OR REPLACE deletes the row it replaces: let that fire the audit log's
        # append-only DELETE trigger (the BEFORE INSERT trigger refuses it as well).
        cursor.execute("PRAGMA recursive_triggers=ON")
        files = {row[1]: row[2] for row in cursor.execute("PRAGMA database_list")}
        cursor.close()
        record.info[_SYNCHRONOUS] = "FULL"
        if mode and str(mode[0]).lower() == "wal" and files.get("main"):
            writer.durability.wal = f"{files['main']}-wal"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Inside transaction() the commit's fsync is shared (GroupCommit); anywhere else
        # (migrations, scripts) SQLite syncs every commit itself. Set before BEGIN: SQLite
        # refuses to change it inside a transaction.
        wanted = "NORMAL" if _GROUPED.get() is writer and writer.durability.wal else "FULL"
        if connection.info.get(_SYNCHRONOUS) != wanted:
            connection.exec_driver_sql(f"PRAGMA synchronous={wanted}")
            connection.info[_SYNCHRONOUS] = wanted
        # Take the write lock up front: two handlers never interleave read-then-write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class FairLock:
    """A reentrant lock handed to waiting threads strictly in arrival order.

    ``threading.Lock`` lets whichever thread the OS wakes first win, so under load some
    waiters lose again and again; here each waiter has its own gate and the holder
    opens the next one on release, so a thread's wait is bounded by the queue ahead.
    """

    _HANDING_OVER = -1  # the owner while the next waiter wakes up: nobody can cut in

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        """Wait for our turn (at once if free or already ours)."""
        me = threading.get_ident()
        with self._guard:
            if self._owner == me:
                self._depth += 1
                return
            if self._owner is None:
                self._owner, self._depth = me, 1
                return
            gate = threading.Lock()
            gate.acquire()
            self._queue.append(gate)
        try:
            gate.acquire()
        except BaseException:  # interrupted while queued: leave the queue, or pass it on
            with self._guard:
                if gate in self._queue:
                    self._queue.remove(gate)
                else:
                    self._depth = 0
                    self._hand_over()
            raise
        with self._guard:
            self._owner, self._depth = me, 1

    def release(self) -> None:
        """Give the lock to the longest waiter, if any."""
        with self._guard:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a lock held by another thread")
            self._depth -= 1
            if self._depth == 0:
                self._hand_over()

    def _hand_over(self) -> None:
        if self._queue:
            self._owner = self._HANDING_OVER
            self._queue.popleft().release()
        else:
            self._owner = None

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class GroupCommit:
    """One fsync of SQLite's write-ahead log for every commit made while the last one ran.

    ``synchronous=FULL`` makes SQLite fsync the WAL inside each commit, with the write
    lock held: at a few milliseconds per fsync that alone caps a process at a few
    hundred transactions a second, whatever the work. Inside :func:`transaction` the
    commit runs with ``synchronous=NORMAL`` (the WAL is appended, not synced; SQLite
    documents WAL + NORMAL as always consistent), the write lock is released, and then
    :meth:`wait` fsyncs the WAL file before ``transaction`` returns. One thread syncs
    for all commits made so far while the others wait on it, as in PostgreSQL. So a
    transaction still returns only once it is on disk, as with FULL; what moves is that
    the next transaction can run during the fsync, and one fsync covers many commits.

    Commits are visible to other connections before they are synced, so a caller must
    not act on data (send it, acknowledge it) before its own ``transaction`` returned:
    every transaction, also a read-only one, waits for every commit it could have seen.
    That covers this process's engine, the supported shape on SQLite; another process
    (a CLI command) reading in the moment between a commit and its fsync is not covered.
    """

    def __init__(self) -> None:
        self.wal: str | None = None  # the WAL file, once a connection found WAL mode on
        self._changed = threading.Condition()
        self._committed = 0  # writing commits made in this process
        self._synced = 0  # of those, how many are known to be on disk
        self._syncing = False
        self._failed: OSError | None = None
        self._directory_synced: tuple[int, int] | None = None

    def committed(self, wrote: bool) -> int:
        """Count a commit (made under the writer lock); returns what the caller waits for."""
        with self._changed:
            if wrote:
                self._committed += 1
            return self._committed

    def wait(self, target: int) -> None:
        """Return once the first ``target`` commits are on disk, syncing them if nobody is.

        Raises:
            OSError: An fsync failed; nothing written since counts as stored.
        """
        if self.wal is None:
            return
        with self._changed:
            while True:
                if self._failed is not None:
                    raise OSError(f"an earlier fsync failed: {self._failed!r}")
                if self._synced >= target:
                    return
                if not self._syncing:
                    break
                self._changed.wait()
            self._syncing = True
            upto = self._committed
        try:
            self._sync(self.wal)
        except OSError as exc:
            log.critical("fsync of the SQLite log failed (%s): restart the bot", type(exc).__name__)
            with self._changed:
                self._failed = exc
            raise
        finally:
            with self._changed:
                self._syncing = False
                if self._failed is None:
                    self._synced = max(self._synced, upto)
                self._changed.notify_all()

    def _sync(self, wal: str) -> None:
        try:
            fd = os.open(wal, os.O_RDONLY)
        except FileNotFoundError:
            return  # checkpointed into the database file and removed: SQLite synced that
        try:
            os.fsync(fd)
            stat = os.fstat(fd)
        finally:
            os.close(fd)
        # A new WAL file is durable only once its directory entry is (SQLite's FULL does
        # this on the first sync of a new log too).
        if self._directory_synced != (stat.st_dev, stat.st_ino):
            directory = os.open(os.path.dirname(wal) or ".", os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            self._directory_synced = (stat.st_dev, stat.st_ino)


@dataclass(eq=False)
class _Writer:
    """What SQLite's single writer needs in this process: a fair queue and group commit."""

    lock: FairLock = field(default_factory=FairLock)
    durability: GroupCommit = field(default_factory=GroupCommit)


_WRITERS: weakref.WeakKeyDictionary[Engine, _Writer] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()
_GROUPED: ContextVar[_Writer | None] = ContextVar("cm_bot_grouped_commit", default=None)
_SYNCHRONOUS = "cm_bot_synchronous"


def _writer(engine: Engine) -> _Writer | None:
    """SQLite has one writer: queue threads here, in order, rather than in busy-wait retries."""
    if engine.dialect.name != "sqlite":
        return None
    with _WRITERS_GUARD:
        writer = _WRITERS.get(engine)
        if writer is None:
            writer = _WRITERS[engine] = _Writer()
        return writer


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception.

    On SQLite the transaction holds the process's writer lock (granted in arrival
    order) from ``BEGIN IMMEDIATE`` to ``COMMIT``, and returns only once the commit is
    on disk (see :class:`GroupCommit`).
    """
    writer = _writer(engine)
    if writer is None:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
        return
    with writer.lock:
        grouped = _GROUPED.set(writer)
        try:
            with Session(engine, expire_on_commit=False) as session:
                with session.begin():
                    raw: Any = session.connection().connection.driver_connection
                    before = getattr(raw, "total_changes", None)
                    yield session
                wrote = before is None or raw.total_changes != before
        finally:
            _GROUPED.reset(grouped)
        target = writer.durability.committed(wrote)
    writer.durability.wait(target)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # The URL is not set here: migrations run on the connection we hand Alembic (and a
    # URL with '%' in it would trip configparser interpolation).
    return config


def current_revision(engine: Engine) -> str | None:
    """The migration revision the database is at (``None`` for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """The newest migration shipped with this code."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Roll migrations back to ``revision`` (``base`` for an empty database)."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def ensure_schema(engine: Engine) -> None:
    """Bring the database to the newest schema; the SQLite default upgrades itself on first use."""
    if current_revision(engine) != head_revision(engine):
        log.info("migrating database schema")
        upgrade(engine)


def dispose(engine: Engine) -> None:
    """Close pooled connections (tests and CLI commands end cleanly)."""
    engine.dispose()


__all__ = [
    "FairLock",
    "GroupCommit",
    "create_db_engine",
    "current_revision",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "is_sqlite",
    "normalise_url",
    "transaction",
    "upgrade",
]
