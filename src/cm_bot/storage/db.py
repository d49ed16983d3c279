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
import textwrap
import threading
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
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


def scrub(engine: Engine, tables: Sequence[str]) -> None:
    """Wipe what deleted rows leave behind, after the deleting transaction committed.

    SQLite zeroes freed space itself (``secure_delete``, set on every connection), but
    the write-ahead log still holds the pages as they were: a ``TRUNCATE`` checkpoint
    copies the new pages into the database file and empties the log. PostgreSQL keeps
    deleted and updated rows until ``VACUUM`` reclaims them. Backups are not touched
    (the README says what remains in them, and for how long).
    """
    if is_sqlite(engine):
        writer = _writer(engine)
        assert writer is not None
        with writer.lock, engine.connect() as connection:
            raw: Any = connection.connection.driver_connection
            busy, _log, _done = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("the SQLite log could not be emptied after an erasure (a reader held it)")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # Only a table's owner may VACUUM it: the least-privilege application role
        # (`cm-bot db roles`) may not, and PostgreSQL would skip the table with a notice.
        owned = set(
            connection.exec_driver_sql(
                "SELECT c.relname FROM pg_class c "
                "WHERE c.relnamespace = current_schema()::regnamespace "
                "AND c.relkind = 'r' AND pg_has_role(c.relowner, 'USAGE')"
            ).scalars()
        )
        for table in tables:
            if table in owned:
                connection.exec_driver_sql(f'VACUUM "{table}"')
        skipped = sorted(set(tables) - owned)
        if skipped:
            log.warning(
                "VACUUM skipped on %s: this role does not own them; run VACUUM as the "
                "owner (or leave it to autovacuum) so no dead row keeps the erased text",
                ", ".join(skipped),
            )


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
    """Apply migrations up to ``revision`` (a SQLite table rebuild keeps its references).

    Raises:
        RuntimeError: On SQLite, rows would be left pointing at rows that no longer
            exist; nothing is changed.
    """
    _migrate(engine, command.upgrade, revision)


def _migrate(engine: Engine, step: Any, revision: str) -> None:
    """Run an Alembic command in one transaction; on SQLite, check the references before commit."""
    config = _alembic_config()
    with _migration_connection(engine) as connection, connection.begin():
        config.attributes["connection"] = connection
        step(config, revision)
        if is_sqlite(engine):
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                tables = sorted({str(row[0]) for row in broken})
                raise RuntimeError(f"the migration would break references in {', '.join(tables)}")


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to migrate on; on SQLite with foreign keys off meanwhile.

    Batch mode rebuilds a SQLite table by copying it and dropping the original, and
    SQLite refuses to drop a table that rows of another one still reference. The
    pragma only takes effect outside a transaction, so it is set before ``BEGIN``;
    :func:`downgrade` checks the keys itself before it commits.
    """
    with engine.connect() as connection:
        raw: Any = connection.connection.driver_connection if is_sqlite(engine) else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            yield connection
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def downgrade(engine: Engine, revision: str) -> None:
    """Roll migrations back to ``revision`` (``base`` removes every table).

    Raises:
        RuntimeError: On SQLite, rows would be left pointing at rows that no longer
            exist; nothing is changed.
    """
    _migrate(engine, command.downgrade, revision)


@dataclass(frozen=True)
class DowngradePlan:
    """What a downgrade would undo and drop, found by running it and rolling it back."""

    current: str | None
    target: str | None  # None: base, no table left
    undone: tuple[tuple[str, str], ...]  # (revision, its summary line), newest first
    dropped_tables: dict[str, int]  # table -> rows it holds
    dropped_columns: dict[str, int]  # "table.column" -> rows with a value in it
    cases: int  # rows in the case table now

    def describe(self) -> list[str]:
        """The plan as lines for the person about to confirm it."""
        lines = [f"database at revision {self.current}; going down to {self.target or 'base'}"]
        lines += [f"  undoes {revision}: {summary}" for revision, summary in self.undone]
        lines += [
            f"  drops column {name} ({_rows(count, 'value')})"
            for name, count in self.dropped_columns.items()
        ]
        lines += [
            f"  drops table {name} ({_rows(count, 'row')})"
            for name, count in self.dropped_tables.items()
            if count
        ]
        if empty := [name for name, count in self.dropped_tables.items() if not count]:
            lines += textwrap.wrap(
                "drops empty tables: " + ", ".join(empty),
                width=80,
                initial_indent="  ",
                subsequent_indent="    ",
            )
        if not self.dropped_tables and not self.dropped_columns:
            lines.append("  drops no table and no column")
        return lines


def _rows(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def plan_downgrade(engine: Engine, revision: str) -> DowngradePlan:
    """Run the downgrade inside a transaction, compare the schema, and roll it back.

    Both SQLite and PostgreSQL roll DDL back, so the plan is what the migrations really
    do (batch copies included), not what their code seems to say. On PostgreSQL the
    tables stay locked while it runs: a matter of milliseconds on a stopped bot.
    """
    config = _alembic_config()
    script = ScriptDirectory.from_config(config)
    with _migration_connection(engine) as connection:
        outer = connection.begin()
        try:
            current = MigrationContext.configure(connection).get_current_revision()
            before = _columns(connection)
            cases = _count(connection, "case") if "case" in before else 0
            trial = connection.begin_nested()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
            target = MigrationContext.configure(connection).get_current_revision()
            after = _columns(connection)
            trial.rollback()
            dropped_tables = {
                table: _count(connection, table) for table in sorted(before.keys() - after.keys())
            }
            dropped_columns = {
                f"{table}.{column}": _count(connection, table, column)
                for table in sorted(before.keys() & after.keys())
                for column in sorted(before[table] - after[table])
            }
        finally:
            outer.rollback()
    undone: list[tuple[str, str]] = []
    step = script.get_revision(current) if current else None
    while step is not None and step.revision != target:
        undone.append((step.revision, step.doc))
        down = step.down_revision
        step = script.get_revision(down) if isinstance(down, str) else None
    return DowngradePlan(current, target, tuple(undone), dropped_tables, dropped_columns, cases)


def _columns(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {
        table: {column["name"] for column in inspector.get_columns(table)}
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def _count(connection: Connection, table: str, column: str | None = None) -> int:
    quote = connection.dialect.identifier_preparer.quote
    sql = f"SELECT count(*) FROM {quote(table)}"  # noqa: S608 - names from the inspector
    if column is not None:
        sql += f" WHERE {quote(column)} IS NOT NULL"
    return int(connection.exec_driver_sql(sql).scalar_one())


def ensure_schema(engine: Engine) -> None:
    """Bring the database to the newest schema; the SQLite default upgrades itself on first use."""
    if current_revision(engine) != head_revision(engine):
        log.info("migrating database schema")
        upgrade(engine)


def dispose(engine: Engine) -> None:
    """Close pooled connections (tests and CLI commands end cleanly)."""
    engine.dispose()


__all__ = [
    "DowngradePlan",
    "FairLock",
    "GroupCommit",
    "create_db_engine",
    "current_revision",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "is_sqlite",
    "normalise_url",
    "plan_downgrade",
    "scrub",
    "transaction",
    "upgrade",
]
