"""Shared fixtures: a real database per test, the test flows, the translator, the engine.

The database is a SQLite file, or with ``--db postgres`` a schema of its own on the test
PostgreSQL (``CM_BOT_TEST_PG_URL``), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import load_flows
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore, create_db_engine, ensure_schema
from tests.support.paths import DATA, ROOT

__all__ = ["ROOT"]  # still read by tests/testing (tests import it from tests.support.paths)

PG_URL = os.environ.get("CM_BOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgres"],
        default=os.environ.get("CM_BOT_TEST_DB", "sqlite"),
        help="database the suite runs against (also CM_BOT_TEST_DB)",
    )


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test: a SQLite file, or a PostgreSQL schema."""
    if request.config.getoption("--db") == "postgres":
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_db_engine(PG_URL)
        try:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        except Exception as exc:
            admin.dispose()
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}")
        sep = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path / 'cm-bot.db'}"


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def translator() -> Translator:
    return Translator(ROOT / "locales")


@pytest.fixture
def test_flows_dir() -> Path:
    return DATA / "flows"


@pytest.fixture
def engine(db: Engine, translator: Translator, test_flows_dir: Path) -> ConversationEngine:
    return ConversationEngine(
        SqlStore(db),
        load_flows(test_flows_dir),
        translator,
        config=EngineConfig(intake_flows=("intake",)),
    )
