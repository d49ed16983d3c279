"""Database engine, transactions and migrations.

SQLite (the default) runs in WAL mode with foreign keys on, synchronous=FULL and
``BEGIN IMMEDIATE`` transactions, so one writer at a time and no lost update;
PostgreSQL is the store for more than one process.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
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
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: two handlers never interleave read-then-write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_SQLITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_SQLITE_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock | None:
    """SQLite has one writer: queue threads here, in order, rather than in busy-wait retries."""
    if engine.dialect.name != "sqlite":
        return None
    with _SQLITE_LOCKS_GUARD:
        lock = _SQLITE_LOCKS.get(engine)
        if lock is None:
            lock = _SQLITE_LOCKS[engine] = threading.RLock()
        return lock


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    lock = _writer_lock(engine)
    with (
        lock if lock is not None else nullcontext(),
        Session(engine, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


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
