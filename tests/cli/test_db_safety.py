"""`cm-bot db downgrade` shows what it would drop and asks before it drops anything.

Issue 14 ("Safe operations"): the plan is found by running the downgrade in a
transaction and rolling it back, so it names exactly the tables and columns lost and the
rows they hold; without --yes nothing changes unless someone answers yes at a terminal;
base on a database holding cases is refused without --yes; on SQLite a downgrade with
data finishes (batch copies used to trip over foreign keys: a 315-line traceback), and
any failure is one line on stderr.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, select, update
from sqlmodel import col
from typer.testing import CliRunner, Result

from cm_bot.cli import app
from cm_bot.storage.admin import add_staff, new_case
from cm_bot.storage.db import current_revision, head_revision, transaction
from cm_bot.storage.models import Case, Staff


@pytest.fixture
def cli_db(monkeypatch: pytest.MonkeyPatch, database_url: str, db: Engine) -> Engine:
    """The migrated test database, which the commands below reach through the environment."""
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    return db


def _db(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, ["db", *args], input=input, prog_name="cm-bot")


def _open_a_case(db: Engine) -> str:
    add_staff(db, "Maria", "case_manager")
    return new_case(db, "Maria").ref


def _tables(db: Engine) -> set[str]:
    return set(inspect(db).get_table_names()) - {"alembic_version"}


def _columns(db: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(db).get_columns(table)}


@pytest.mark.parametrize(("answer", "said"), [("n\n", "nothing changed"), (None, "no answer")])
def test_downgrade_without_yes_changes_nothing_unless_someone_says_yes(
    cli_db: Engine, answer: str | None, said: str
) -> None:
    _open_a_case(cli_db)
    result = _db("downgrade", "0008", input=answer)
    assert result.exit_code == 1
    assert "undoes 0009: audit guard" in result.stdout
    assert "Go ahead?" in result.stdout
    assert said in result.stderr and len(result.stderr.splitlines()) == 1
    assert current_revision(cli_db) == head_revision(cli_db)
    assert "case_id" in _columns(cli_db, "outbox")


def test_answering_yes_at_the_prompt_goes_down_to_the_revision_shown(cli_db: Engine) -> None:
    result = _db("downgrade", "0008", input="y\n")
    assert result.exit_code == 0, result.output
    assert "drops column outbox.case_id (0 values)" in result.stdout
    assert current_revision(cli_db) == "0008"
    assert "case_id" not in _columns(cli_db, "outbox")
    assert _db("upgrade").exit_code == 0
    assert current_revision(cli_db) == head_revision(cli_db)


def test_yes_goes_down_with_data_through_a_rebuilt_table(cli_db: Engine) -> None:
    # 0007's downgrade rebuilds staff on SQLite (a batch copy) while a case points at it.
    ref = _open_a_case(cli_db)
    with transaction(cli_db) as session:
        session.execute(update(Staff).values(timezone="Europe/Kyiv"))
    result = _db("downgrade", "0006", "--yes")
    assert result.exit_code == 0, result.output
    assert "Go ahead?" not in result.stdout
    assert "drops column staff.timezone (1 value)" in result.stdout
    assert "drops column response.provenance (0 values)" in result.stdout
    assert result.stdout.rstrip().endswith("database at revision 0006")
    assert "timezone" not in _columns(cli_db, "staff")
    assert _db("upgrade").exit_code == 0
    with transaction(cli_db) as session:
        case = session.execute(select(Case).where(col(Case.ref) == ref)).scalar_one()
        manager = session.get(Staff, case.manager_id)
        assert manager is not None and manager.name == "Maria" and manager.timezone is None


def test_base_on_a_database_with_a_case_is_refused_without_yes_even_if_answered_yes(
    cli_db: Engine,
) -> None:
    _open_a_case(cli_db)
    result = _db("downgrade", "base", input="y\n")
    assert result.exit_code == 1
    assert "drops table case (1 row)" in result.stdout
    assert "drops table staff (1 row)" in result.stdout
    assert "refused" in result.stderr and "1 case(s)" in result.stderr
    assert "Go ahead?" not in result.stdout
    assert "case" in _tables(cli_db)
    assert current_revision(cli_db) == head_revision(cli_db)


def test_base_with_yes_removes_every_table_holding_data_without_a_traceback(
    cli_db: Engine,
) -> None:
    _open_a_case(cli_db)
    result = _db("downgrade", "base", "--yes")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and not result.stderr
    assert "drops table auditlog (" in result.stdout
    assert result.stdout.rstrip().endswith("database at revision base")
    assert current_revision(cli_db) is None
    assert _tables(cli_db) == set()


def test_base_on_an_empty_database_still_asks(cli_db: Engine) -> None:
    result = _db("downgrade", "base", input="n\n")
    assert result.exit_code == 1 and "Go ahead?" in result.stdout
    assert current_revision(cli_db) == head_revision(cli_db)


def test_nothing_to_undo_says_so_and_asks_nothing(cli_db: Engine) -> None:
    result = _db("downgrade", str(head_revision(cli_db)))
    assert result.exit_code == 0, result.output
    assert "nothing to undo" in result.stdout


@pytest.mark.parametrize("revision", ["zzz", "0099"], ids=["unknown", "above-head"])
def test_a_revision_that_cannot_be_reached_is_one_line_on_stderr(
    cli_db: Engine, revision: str
) -> None:
    result = _db("downgrade", revision, "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output
    assert current_revision(cli_db) == head_revision(cli_db)
