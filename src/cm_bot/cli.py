"""The ``cm-bot`` command line: thin wrappers that build the app and call into it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cm_bot.flows import FlowDefinitionError, load_flows
from cm_bot.settings import Settings

app = typer.Typer(
    help="cm-bot: scripted case-management conversations with a human in the loop.",
    no_args_is_help=True,
    add_completion=False,
)
flows_app = typer.Typer(help="Check conversation flow files.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
staff_app = typer.Typer(help="Program staff.", no_args_is_help=True)
case_app = typer.Typer(help="Client cases.", no_args_is_help=True)
i18n_app = typer.Typer(help="Translation catalogues.", no_args_is_help=True)
app.add_typer(flows_app, name="flows")
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(case_app, name="case")
app.add_typer(i18n_app, name="i18n")
_ROOT = Path(__file__).resolve().parents[2]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def chat(
    language: Annotated[str | None, typer.Option(help="Your language, e.g. es or uk.")] = None,
) -> None:
    """Talk to the flows in this terminal, on the configured database (SQLite by default)."""
    from cm_bot.bootstrap import build_app
    from cm_bot.channels.console import ConsoleChannel, ensure_demo_case

    try:
        application = build_app()
    except FlowDefinitionError as exc:
        raise _fail(str(exc)) from None
    try:
        ref = ensure_demo_case(application.db)
        if ref:
            typer.echo(f"Created demo case {ref}. Type /help for commands, Ctrl-D to leave.")
        ConsoleChannel(
            application.engine,
            application.db,
            stdin=sys.stdin,
            stdout=sys.stdout,
            language=language,
        ).run()
    finally:
        application.close()


@app.command()
def run() -> None:
    """Run the Telegram bot: long polling, or a webhook when CM_BOT_WEBHOOK_URL is set."""
    import asyncio
    import signal
    from urllib.parse import urlparse

    from cm_bot import logsetup
    from cm_bot.bootstrap import build_app, build_telegram

    settings = Settings()
    if settings.telegram_token is None:
        raise _fail("CM_BOT_TELEGRAM_TOKEN is not set (try `cm-bot chat` to use the terminal)")
    secrets = [
        s.get_secret_value() for s in (settings.telegram_token, settings.webhook_secret) if s
    ]
    logsetup.configure(secrets=secrets)
    if settings.webhook_url and not settings.webhook_secret:
        raise _fail("CM_BOT_WEBHOOK_SECRET must be set in webhook mode")
    try:
        application = build_app(settings)
    except FlowDefinitionError as exc:
        raise _fail(str(exc)) from None
    runtime = build_telegram(application)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runtime.stopping.set)
        if settings.webhook_url:
            path = urlparse(settings.webhook_url).path or "/telegram"
            await runtime.run_webhook(
                settings.webhook_url, settings.webhook_listen, settings.webhook_port, path
            )
        else:
            await runtime.run_polling()

    try:
        asyncio.run(main())
    finally:
        application.close()


@flows_app.command("check")
def flows_check(
    path: Annotated[Path | None, typer.Argument(help="A flow file or a folder of them.")] = None,
) -> None:
    """Validate flow files; prints ``path:line: message`` per problem and exits non-zero on any."""
    target = path or Settings().flows_dir
    try:
        registry = load_flows(target)
    except FlowDefinitionError as exc:
        for problem in exc.problems:
            typer.echo(str(problem))
        raise typer.Exit(1) from None
    flows = list(registry)
    typer.echo(f"{len(flows)} flow(s) OK: {', '.join(f.id for f in flows)}")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations (SQLite or PostgreSQL, from CM_BOT_DATABASE_URL)."""
    from cm_bot.storage.db import create_db_engine, current_revision, upgrade

    engine = create_db_engine(Settings().database_url)
    try:
        upgrade(engine, revision)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Roll migrations back to REVISION (``base`` empties the database)."""
    from cm_bot.storage.db import create_db_engine, current_revision, downgrade

    engine = create_db_engine(Settings().database_url)
    try:
        downgrade(engine, revision)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@app.command()
def score(
    instrument: Annotated[str, typer.Argument(help="phq2, phq9, gad2, gad7, hvs or ahc")],
    answers: Annotated[str, typer.Option(help='Item answers as JSON, e.g. {"phq9.q1": 2}')],
    age: Annotated[int | None, typer.Option(help="Age in years (AHC physical activity).")] = None,
) -> None:
    """Score a screening instrument and print the result as one JSON object."""
    from cm_bot.scoring import UnknownInstrumentError
    from cm_bot.scoring import score as score_instrument

    try:
        parsed: Any = json.loads(answers)
    except json.JSONDecodeError as exc:
        raise _fail(f"--answers is not valid JSON: {exc}", 2) from None
    if not isinstance(parsed, dict):
        raise _fail("--answers must be a JSON object keyed by item id", 2)
    try:
        result = score_instrument(instrument, parsed, age=age)
    except UnknownInstrumentError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(json.dumps(result, ensure_ascii=False))


def _admin_app() -> Any:
    from cm_bot.bootstrap import build_app

    return build_app()


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Option(help="The staff member's name (unique).")],
    role: Annotated[str, typer.Option(help="case_manager, supervisor or admin")] = "case_manager",
) -> None:
    """Add a staff member."""
    from cm_bot.storage.admin import AdminError, add_staff

    application = _admin_app()
    try:
        staff = add_staff(application.db, name, role)
        typer.echo(f"staff #{staff.id} {staff.name} ({staff.role}) added")
    except AdminError as exc:
        raise _fail(str(exc)) from None
    finally:
        application.close()


@case_app.command("new")
def case_new(
    manager: Annotated[str, typer.Option(help="The case manager's name.")],
    ref: Annotated[
        str | None, typer.Option(help="A ref such as C-0042 (default: the next).")
    ] = None,
) -> None:
    """Open a case and print its reference."""
    from cm_bot.storage.admin import AdminError, new_case

    application = _admin_app()
    try:
        typer.echo(new_case(application.db, manager, ref).ref)
    except AdminError as exc:
        raise _fail(str(exc)) from None
    finally:
        application.close()


@i18n_app.command("extract")
def i18n_extract() -> None:
    """Rewrite locales/messages.pot from the sources and merge it into every catalogue."""
    from cm_bot.i18n.catalog import update

    update(_ROOT)
    typer.echo("locales/messages.pot and catalogues updated")


@i18n_app.command("check")
def i18n_check() -> None:
    """Fail if the template is stale or any catalogue has untranslated or fuzzy entries."""
    from cm_bot.i18n.catalog import check

    problems = check(_ROOT)
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo("catalogues complete")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
