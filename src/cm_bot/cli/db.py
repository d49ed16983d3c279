"""``cm-bot db``: migrations up and down, and the least-privilege PostgreSQL role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from cm_bot.cli._common import command_group, fail

if TYPE_CHECKING:
    from sqlalchemy import Engine

db_app = command_group("Database schema migrations.")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(metavar="REVISION", help="Migrate up to this revision.")
    ] = "head",
) -> None:
    """Apply migrations to the database at CM_BOT_DATABASE_URL."""
    from cm_bot.storage.db import current_revision, upgrade

    with _database() as engine:
        upgrade(engine, revision)
        typer.echo(f"database at revision {current_revision(engine)}")


@contextmanager
def _database() -> Iterator[Engine]:
    """The engine of a db command; whatever fails ends as one line on stderr and exit 1."""
    from cm_bot.settings import Settings
    from cm_bot.storage.db import create_db_engine

    try:
        engine = create_db_engine(Settings().database_url)
        try:
            yield engine
        finally:
            engine.dispose()
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # an operator's command: one line, not a traceback
        cause = getattr(exc, "orig", None) or exc  # the driver's words, without the SQL
        lines = str(cause).strip().splitlines()
        raise fail(f"error: {lines[0] if lines else type(cause).__name__}") from None


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(metavar="REVISION", help="A revision id, or base for none.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Roll migrations back; shows what would be lost, then asks.

    Lists the migrations undone and the tables and columns they drop, with the
    rows these hold, then asks (--yes does not ask). The revision base removes
    every table: on a database that holds cases it is refused without --yes.
    Stop cm-bot run first.
    """
    from cm_bot.storage.db import current_revision, downgrade, plan_downgrade

    with _database() as engine:
        plan = plan_downgrade(engine, revision)
        if not plan.undone:
            typer.echo(f"database at revision {plan.current or 'base'}: nothing to undo")
            return
        for line in plan.describe():
            typer.echo(line)
        if not yes:
            if plan.target is None and plan.cases:
                raise fail(
                    f"refused: base removes every table and the database holds "
                    f"{plan.cases} case(s); add --yes if that is what you want"
                )
            try:
                agreed = typer.confirm("Go ahead?")
            except typer.Abort:  # no answer: stdin closed or not a terminal
                raise fail("no answer, nothing changed (--yes does not ask)") from None
            if not agreed:
                raise fail("nothing changed")
        downgrade(engine, plan.target or "base")  # what was shown, even for "-1"
        typer.echo(f"database at revision {current_revision(engine) or 'base'}")


@db_app.command("roles")
def db_roles(
    apply: Annotated[
        bool, typer.Option("--apply", help="Create or update the role now (as the owner).")
    ] = False,
    role: Annotated[
        str, typer.Option("--role", metavar="NAME", help="The role cm-bot run connects as.")
    ] = "cm_bot_app",
    schema: Annotated[
        str | None,
        typer.Option("--schema", metavar="NAME", help="Default: the current schema (search_path)."),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            metavar="TEXT",
            envvar="CM_BOT_APP_PASSWORD",
            show_envvar=True,
            help="The role's password; sent and printed only as a SCRAM hash.",
        ),
    ] = None,
) -> None:
    """Print or create the least-privilege role cm-bot run uses.

    A PostgreSQL role that may read and write the rows of the working tables, may
    only add to and read the audit log, and may not create, alter, drop or
    truncate a table.
    Migrations (db upgrade) keep running as the owner of the tables; the tables
    later migrations add get the same rights (ALTER DEFAULT PRIVILEGES).
    """
    from sqlalchemy.engine import make_url

    from cm_bot.settings import Settings
    from cm_bot.storage.db import is_sqlite
    from cm_bot.storage.roles import apply_role, read_schema, role_statements, scram_verifier

    with _database() as engine:
        if is_sqlite(engine):
            raise fail(
                "roles do not apply to SQLite (it has no users): let only the bot's "
                "system user read and write the database file",
                2,
            )
        if not apply:
            verifier = None if password is None else scram_verifier(password)
            with engine.connect() as connection:
                found = read_schema(connection, schema)
            typer.echo(
                f"-- the role cm-bot run connects as, on schema {found.name} "
                f"(its tables belong to {found.owner}, who runs db upgrade)"
            )
            for statement in role_statements(role, found, verifier=verifier):
                typer.echo(f"{statement};")
            if password is None:
                typer.echo(
                    f"-- no password given: add --password (or CM_BOT_APP_PASSWORD), "
                    f"or run \\password {role} in psql"
                )
            return
        found = apply_role(engine, role, schema=schema, password=password)
        url = make_url(Settings().database_url).set(
            username=role, password="PASSWORD" if password else None
        )
        typer.echo(
            f"role {role} ready on schema {found.name}: rows of {len(found.tables)} tables, "
            "the audit log insert-only, no DDL"
        )
        typer.echo(f"run the bot as it: CM_BOT_DATABASE_URL={url.render_as_string(False)}")
