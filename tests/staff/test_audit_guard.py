"""The audit log stays append-only whoever connects, and `cm-bot run` needs no more than rows.

Issue 14 ("Audit log"): on SQLite an INSERT OR REPLACE over an audit row is refused
both on the app's connections (recursive_triggers on) and in an operator's sqlite3
shell (recursive_triggers off); on PostgreSQL TRUNCATE is refused; and `cm-bot db roles`
makes a role that can do the bot's work but cannot touch audit rows or any table's shape.
"""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, exc, select, text
from sqlalchemy.engine import make_url
from sqlmodel import col
from typer.testing import CliRunner, Result

from cm_bot.cli import app
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import load_flows
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore, create_db_engine, ensure_schema
from cm_bot.storage.data_rights import erase_case
from cm_bot.storage.db import downgrade, transaction
from cm_bot.storage.models import AuditLog, Case, Staff
from cm_bot.storage.roles import read_schema, role_problems, scram_verifier
from tests.support.people import make_client

AT = "2026-12-08 10:00:00.000000"
REPLACE = "INSERT OR REPLACE INTO auditlog (id, at, actor, action) VALUES (?, ?, 'x', 'forged')"
INSERT = "INSERT INTO auditlog (id, at, actor, action) VALUES (?, ?, 'x', 'forged')"
UPSERT = INSERT + " ON CONFLICT (id) DO UPDATE SET action = 'forged'"
OVERWRITES = pytest.mark.parametrize(
    "sql", [REPLACE, INSERT, UPSERT], ids=["insert-or-replace", "insert", "upsert"]
)


# --- SQLite: a file of its own, so these run whichever database the suite is given ---


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[Path]:
    """A migrated SQLite database holding one audit row (id 1)."""
    path = tmp_path / "audit.db"
    db = create_db_engine(f"sqlite:///{path}")
    ensure_schema(db)
    with transaction(db) as session:
        session.add(AuditLog(id=1, actor="cli", action="case.opened"))
    db.dispose()
    yield path


@contextmanager
def _shell(path: Path) -> Iterator[sqlite3.Connection]:
    """Python's sqlite3 with its defaults, as an operator's sqlite3 shell would open the file."""
    with closing(sqlite3.connect(path)) as shell, shell:
        yield shell


def _audit_rows(path: Path) -> list[tuple[int, str]]:
    with _shell(path) as shell:
        return list(shell.execute("SELECT id, action FROM auditlog ORDER BY id"))


@OVERWRITES
def test_app_connection_cannot_overwrite_an_audit_row(sqlite_file: Path, sql: str) -> None:
    db = create_db_engine(f"sqlite:///{sqlite_file}")
    try:
        with db.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA recursive_triggers").scalar() == 1
        with pytest.raises(exc.IntegrityError, match="append-only"), transaction(db) as session:
            session.connection().exec_driver_sql(sql, (1, AT))
        with transaction(db) as session:
            session.add(AuditLog(actor="cli", action="case.exited"))
    finally:
        db.dispose()
    assert _audit_rows(sqlite_file) == [(1, "case.opened"), (2, "case.exited")]


@OVERWRITES
def test_an_operators_sqlite3_shell_cannot_overwrite_an_audit_row(
    sqlite_file: Path, sql: str
) -> None:
    with _shell(sqlite_file) as shell:
        assert shell.execute("PRAGMA recursive_triggers").fetchone() == (0,)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            shell.execute(sql, (1, AT))
        shell.execute(INSERT, (2, AT))  # a new id is an ordinary insert
        shell.execute("INSERT INTO auditlog (at, actor, action) VALUES (?, 'x', 'noted')", (AT,))
    assert _audit_rows(sqlite_file) == [(1, "case.opened"), (2, "forged"), (3, "noted")]


def test_before_the_guard_an_operators_shell_could_replace_an_audit_row(
    sqlite_file: Path,
) -> None:
    # Why 0009 exists: with recursive_triggers off, REPLACE's delete fires no trigger.
    db = create_db_engine(f"sqlite:///{sqlite_file}")
    downgrade(db, "0008")
    db.dispose()
    with _shell(sqlite_file) as shell:
        shell.execute(REPLACE, (1, AT))
    assert _audit_rows(sqlite_file) == [(1, "forged")]


def test_db_roles_on_sqlite_says_roles_do_not_apply_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, sqlite_file: Path
) -> None:
    monkeypatch.setenv("CM_BOT_DATABASE_URL", f"sqlite:///{sqlite_file}")
    result = _cli("db", "roles", "--apply")
    assert result.exit_code == 2
    assert "roles do not apply to SQLite" in result.stderr


# --- PostgreSQL ---


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Engine:
    """The test's PostgreSQL schema, migrated, with one audit row; skips on SQLite."""
    if request.config.getoption("--db") != "postgres":
        pytest.skip("PostgreSQL only (run with --db postgres)")
    db: Engine = request.getfixturevalue("db")
    with transaction(db) as session:
        session.add(AuditLog(actor="cli", action="case.opened"))
    return db


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="cm-bot")


def _audit_actions(db: Engine) -> list[str]:
    with transaction(db) as session:
        return list(
            session.execute(select(col(AuditLog.action)).order_by(col(AuditLog.id))).scalars()
        )


@pytest.mark.parametrize(
    "sql",
    [
        "TRUNCATE auditlog",
        "UPDATE auditlog SET action = 'forged'",
        "DELETE FROM auditlog",
        "INSERT INTO auditlog (id, at, actor, action) SELECT id, at, actor, 'forged' "
        "FROM auditlog ON CONFLICT (id) DO UPDATE SET action = 'forged'",
    ],
    ids=["truncate", "update", "delete", "upsert"],
)
def test_postgres_refuses_to_rewrite_the_audit_log_even_to_its_owner(pg: Engine, sql: str) -> None:
    with pytest.raises(exc.DatabaseError, match="append-only"), pg.begin() as connection:
        connection.exec_driver_sql(sql)
    assert _audit_actions(pg) == ["case.opened"]


@pytest.fixture
def app_role(
    pg: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Engine]]:
    """`cm-bot db roles --apply` run as the owner; yields the role and an engine logged in as it.

    Roles belong to the whole cluster, so each test makes its own and drops it after.
    """
    role = f"cm_bot_app_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    try:
        result = _cli("db", "roles", "--apply", "--role", role)
        assert result.exit_code == 0, result.output
        assert f"role {role} ready on schema" in result.stdout
        as_role = create_db_engine(
            make_url(database_url).set(username=role).render_as_string(hide_password=False)
        )
        yield role, as_role
        as_role.dispose()
    finally:
        with pg.begin() as connection:
            if connection.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
            ).first():
                connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
                connection.exec_driver_sql(f'DROP ROLE "{role}"')


def test_the_bot_does_its_work_as_the_application_role(
    app_role: tuple[str, Engine], pg: Engine, translator: Translator, test_flows_dir: Path
) -> None:
    role, as_role = app_role
    with as_role.connect() as connection:
        assert connection.exec_driver_sql("SELECT current_user").scalar() == role
    ensure_schema(as_role)  # cm-bot run's start-up: reads the revision, migrates nothing
    engine = ConversationEngine(
        SqlStore(as_role),
        load_flows(test_flows_dir),
        translator,
        config=EngineConfig(intake_flows=("intake",)),
    )
    person = make_client(engine, as_role)  # staff, case, link: inserts and audit rows
    person.say("hi")
    for label in ("Yes", "Yes", "No"):
        person.tap(label)  # runs, answers, outbox claims (SELECT ... FOR UPDATE), updates
    with transaction(as_role) as session:
        (maria,) = session.execute(select(Staff)).scalars()
        maria.locale = "uk"
        session.add(AuditLog(actor="staff:1", action="case.viewed"))
        ref = session.execute(select(col(Case.ref))).scalar_one()
    erase_case(as_role, ref)  # deletes rows; its VACUUM is the owner's to run
    actions = _audit_actions(pg)
    assert "case.viewed" in actions and actions[0] == "case.opened"


REFUSED_TO_THE_ROLE = [
    "UPDATE auditlog SET action = 'forged'",
    "DELETE FROM auditlog",
    "TRUNCATE auditlog",
    "ALTER TABLE auditlog DISABLE TRIGGER auditlog_append_only",
    "DROP TRIGGER auditlog_append_only ON auditlog",
    "ALTER TABLE staff ADD COLUMN nickname text",
    "ALTER TABLE auditlog RENAME TO old_auditlog",
    "DROP TABLE casenote",
    "CREATE TABLE notes_of_my_own (id int)",
    "TRUNCATE outbox",
    "SELECT setval('auditlog_id_seq', 1)",
    "UPDATE alembic_version SET version_num = '0001'",
]


def test_the_application_role_cannot_touch_audit_rows_or_any_tables_shape(
    app_role: tuple[str, Engine], pg: Engine
) -> None:
    _role, as_role = app_role
    outcome: dict[str, str | None] = {}
    for sql in REFUSED_TO_THE_ROLE:
        try:
            with as_role.begin() as connection:
                connection.exec_driver_sql(sql)
            outcome[sql] = "allowed"
        except exc.DBAPIError as refused:
            outcome[sql] = getattr(refused.orig, "sqlstate", None)
    assert outcome == dict.fromkeys(REFUSED_TO_THE_ROLE, "42501")  # insufficient_privilege
    assert _audit_actions(pg) == ["case.opened"]


def test_tables_a_later_migration_creates_are_covered_without_running_roles_again(
    app_role: tuple[str, Engine], pg: Engine
) -> None:
    _role, as_role = app_role
    with pg.begin() as connection:  # what `cm-bot db upgrade` as the owner would do
        connection.exec_driver_sql("CREATE TABLE later (id serial PRIMARY KEY, note text)")
    with as_role.begin() as connection:
        connection.exec_driver_sql("INSERT INTO later (note) VALUES ('a'), ('b')")
        connection.exec_driver_sql("UPDATE later SET note = 'c' WHERE id = 1")
        connection.exec_driver_sql("DELETE FROM later WHERE id = 2")
    with pytest.raises(exc.ProgrammingError), as_role.begin() as connection:
        connection.exec_driver_sql("DROP TABLE later")


def test_applying_again_is_harmless_and_checks_itself(
    app_role: tuple[str, Engine], pg: Engine
) -> None:
    role, _as_role = app_role
    with pg.begin() as connection:
        connection.exec_driver_sql(f'GRANT UPDATE, TRUNCATE ON auditlog TO "{role}"')
        assert role_problems(connection, role, read_schema(connection)) == [
            f"role {role} may UPDATE auditlog",
            f"role {role} may TRUNCATE auditlog",
        ]
    assert _cli("db", "roles", "--apply", "--role", role).exit_code == 0  # takes them back
    with pg.connect() as connection:
        assert role_problems(connection, role, read_schema(connection)) == []
    with pg.begin() as connection:
        connection.exec_driver_sql(f'ALTER ROLE "{role}" CREATEDB')
    result = _cli("db", "roles", "--apply", "--role", role)
    assert result.exit_code == 1
    assert result.stderr == f"error: role {role} has CREATEDB\n"


def test_db_roles_prints_the_sql_and_never_the_password(
    pg: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CM_BOT_APP_PASSWORD", "correct horse battery")
    result = _cli("db", "roles", "--role", "cm_bot_printed")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert 'GRANT SELECT, INSERT ON TABLE "' in next(line for line in lines if 'auditlog"' in line)
    assert any(line.startswith("ALTER DEFAULT PRIVILEGES FOR ROLE") for line in lines)
    assert "SCRAM-SHA-256$4096:" in result.stdout
    assert "correct horse" not in result.stdout
    with pg.connect() as connection:  # printing creates nothing
        assert not connection.exec_driver_sql(
            "SELECT 1 FROM pg_roles WHERE rolname = 'cm_bot_printed'"
        ).first()


def test_the_password_is_sent_as_the_verifier_postgres_itself_would_store(
    app_role: tuple[str, Engine], pg: Engine
) -> None:
    role, _as_role = app_role
    with pg.begin() as connection:
        connection.exec_driver_sql("SET LOCAL password_encryption = 'scram-sha-256'")
        connection.exec_driver_sql(f"ALTER ROLE \"{role}\" PASSWORD 'correct horse battery'")
        stored = connection.execute(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": role}
        ).scalar_one()
    iterations, salt = stored.split("$")[1].split(":")
    assert stored == scram_verifier(
        "correct horse battery", salt=base64.b64decode(salt), iterations=int(iterations)
    )
