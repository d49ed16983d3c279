"""The ``cm-bot`` command line: thin wrappers that build the app and call into it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cm_bot.flows import FlowDefinitionError, load_flows
from cm_bot.flows.loader import PROGRAM_FILE_NAMES
from cm_bot.scheduling.cli import schedule_app

if TYPE_CHECKING:
    from cm_bot.bootstrap import App
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
crisis_app = typer.Typer(help="Crisis-word detection.", no_args_is_help=True)
app.add_typer(flows_app, name="flows")
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(case_app, name="case")
app.add_typer(i18n_app, name="i18n")
app.add_typer(crisis_app, name="crisis")
app.add_typer(schedule_app, name="schedule")
_ROOT = Path(__file__).resolve().parents[2]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def chat(
    language: Annotated[str | None, typer.Option(help="Your language, e.g. es or uk.")] = None,
) -> None:
    """Talk to the flows in this terminal, on the configured database (SQLite by default)."""
    import logging

    from cm_bot import logsetup
    from cm_bot.bootstrap import build_app
    from cm_bot.channels.console import ConsoleChannel, ensure_demo_case

    logsetup.configure(level=logging.ERROR)  # errors only (not mid-chat), never a client's words
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
    import os
    import signal
    from datetime import datetime
    from urllib.parse import urlparse

    from cm_bot import logsetup
    from cm_bot.bootstrap import build_app, build_telegram

    # PTB 22 warns on every rate-limit error while it moves retry_after to timedelta.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
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
    _safety_warnings(application)

    async def main() -> None:
        from cm_bot.scheduling import Ticker, housekeeping, policy_from_settings

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runtime.stopping.set)
        # Scheduled contacts and escalations: APScheduler only wakes the dispatcher.
        work = housekeeping(application.engine, policy_from_settings(settings))

        def tick(now: datetime) -> object:
            report = work(now)
            loop.call_soon_threadsafe(runtime.sender.wake)  # new contacts go out now
            return report

        ticker = Ticker(tick, seconds=settings.tick_seconds)
        ticker.start()
        try:
            if settings.webhook_url:
                path = urlparse(settings.webhook_url).path or "/telegram"
                await runtime.run_webhook(
                    settings.webhook_url, settings.webhook_listen, settings.webhook_port, path
                )
            else:
                await runtime.run_polling()
        finally:
            ticker.shutdown()

    try:
        asyncio.run(main())
    finally:
        application.close()


def _safety_warnings(application: App) -> None:
    """Say at start-up what would leave a person in crisis unheard (the README's 'Safety')."""
    import logging

    from cm_bot.program import SHIPPED
    from cm_bot.storage.admin import escalation_reachable

    log = logging.getLogger("cm_bot.run")
    if not escalation_reachable(application.db):
        log.warning(
            "no supervisor or admin is linked to Telegram and no team chat is registered: "
            "an urgent flag whose case manager cannot be reached will reach nobody "
            "(cm-bot staff add --role supervisor, then /register_team_chat)"
        )
    program = application.engine.program
    if program.example:
        log.warning(
            "the program file %s is an example: verify every resource, then remove 'example: true'",
            application.settings.program_file,
        )
    elif application.settings.program_file.resolve() == SHIPPED:
        log.warning(
            "using the shipped program file (a United States program): set "
            "CM_BOT_PROGRAM_FILE to your own before going live"
        )


@flows_app.command("check")
def flows_check(
    path: Annotated[Path | None, typer.Argument(help="A flow file or a folder of them.")] = None,
) -> None:
    """Validate flow files and the program file; ``path:line: message`` per problem.

    PATH may be a flow file, a program file, or a folder (its flows and its program.yaml).
    Without PATH: the configured flows folder and program file. Exits non-zero on any problem.
    """
    import yaml

    from cm_bot.program import load_program, looks_like_program, program_files

    settings = Settings()
    problems: list[str] = []
    targets = [path] if path is not None else [settings.flows_dir]
    programs = program_files(targets if path is not None else [settings.program_file])
    if path is not None and path.is_file():
        try:
            is_program = looks_like_program(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            is_program = path.name in PROGRAM_FILE_NAMES
        targets = [] if is_program else targets
        programs = [path] if is_program else []
    flows: list[str] = []
    for target in targets:
        try:
            flows.extend(f.id for f in load_flows(target))
        except FlowDefinitionError as exc:
            problems.extend(str(p) for p in exc.problems)
    for program in programs:
        try:
            load_program(program)
        except FlowDefinitionError as exc:
            problems.extend(str(p) for p in exc.problems)
    if problems:
        for problem in problems:
            typer.echo(problem)
        raise typer.Exit(1)
    if flows:
        typer.echo(f"{len(flows)} flow(s) OK: {', '.join(flows)}")
    for program in programs:
        typer.echo(f"program file OK: {program}")


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


goal_app = typer.Typer(help="Goals in a case plan.", no_args_is_help=True)
app.add_typer(goal_app, name="goal")


def _admin_app() -> App:
    from cm_bot.bootstrap import build_app

    try:
        return build_app()
    except FlowDefinitionError as exc:
        raise _fail(str(exc)) from None


def _bot_username(settings: Settings) -> str:
    """The bot's username for links: configured, or asked from the Bot API (getMe)."""
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if settings.telegram_token is None:
        typer.echo("note: set CM_BOT_BOT_USERNAME to put your bot's name in links", err=True)
        return "your_bot"
    import asyncio

    from cm_bot.channels.aiogram_adapter import AiogramBackend

    async def ask() -> str:
        assert settings.telegram_token is not None
        backend = AiogramBackend(
            settings.telegram_token.get_secret_value(), settings.telegram_api_url
        )
        try:
            return await backend.username()
        finally:
            await backend.stop()

    return asyncio.run(ask())


def _invite(kind: str, *, case_id: int | None, staff_id: int | None) -> str:
    from datetime import UTC, datetime

    from cm_bot.engine.staff import INVITE_TTL, invite_link

    application = _admin_app()
    try:
        with application.store.unit() as uow:
            token = uow.create_invite(
                kind, case_id=case_id, staff_id=staff_id, expires_at=datetime.now(UTC) + INVITE_TTL
            )
            uow.audit("cli", f"{kind}_invite_created", case_id)
    finally:
        application.close()
    return invite_link(_bot_username(Settings()), token)


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Option(help="The staff member's name (unique).")],
    role: Annotated[str, typer.Option(help="case_manager, supervisor or admin")] = "case_manager",
) -> None:
    """Add a staff member and print their single-use invite link (valid 14 days)."""
    from cm_bot.storage.admin import AdminError, add_staff

    application = _admin_app()
    try:
        staff = add_staff(application.db, name, role)
    except AdminError as exc:
        raise _fail(str(exc)) from None
    finally:
        application.close()
    typer.echo(f"staff #{staff.id} {staff.name} ({staff.role}) added; open this link in Telegram:")
    typer.echo(_invite("staff", case_id=None, staff_id=staff.id))


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


def _case_id(ref: str) -> int:
    application = _admin_app()
    try:
        with application.store.unit() as uow:
            case = uow.case_by_ref(ref)
    finally:
        application.close()
    if case is None:
        raise _fail(f"no case {ref}")
    return case.case_id


@case_app.command("invite")
def case_invite(ref: Annotated[str, typer.Argument(help="The case, e.g. C-0001.")]) -> None:
    """Print a single-use client invite link (valid 14 days) for the case."""
    typer.echo(_invite("client", case_id=_case_id(ref), staff_id=None))


@case_app.command("exit")
def case_exit(
    ref: Annotated[str, typer.Argument(help="The case, e.g. C-0001.")],
    date: Annotated[str | None, typer.Option(help="Exit date YYYY-MM-DD (default today).")] = None,
) -> None:
    """Exit a case; post-exit follow-ups are scheduled from the exit date."""
    from datetime import UTC, datetime
    from datetime import date as date_

    try:
        day = date_.fromisoformat(date) if date else datetime.now(UTC).date()
    except ValueError:
        raise _fail("--date must be YYYY-MM-DD", 2) from None
    application = _admin_app()
    try:
        with application.store.unit() as uow:
            case = uow.case_by_ref(ref)
            if case is None:
                raise _fail(f"no case {ref}")
            uow.exit_case(case.case_id, datetime.combine(day, datetime.min.time(), UTC))
            uow.audit("cli", "case_exited", case.case_id)
    finally:
        application.close()
    typer.echo(f"{ref} exited on {day.isoformat()}")


@goal_app.command("add")
def goal_add(
    ref: Annotated[str, typer.Argument(help="The case, e.g. C-0001.")],
    text: Annotated[str, typer.Option(help="The goal, in the client's words where possible.")],
    cadence: Annotated[str, typer.Option(help="weekly, fortnightly or monthly")] = "weekly",
    target_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    """Add a SMART goal to a case plan; check-ins follow its cadence."""
    from datetime import date

    from cm_bot.engine.staff import CADENCES

    if cadence not in CADENCES:
        raise _fail(f"--cadence must be one of {', '.join(CADENCES)}", 2)
    try:
        target = date.fromisoformat(target_date) if target_date else None
    except ValueError:
        raise _fail("--target-date must be YYYY-MM-DD", 2) from None
    case_id = _case_id(ref)
    application = _admin_app()
    try:
        with application.store.unit() as uow:
            goal_id = uow.add_goal(case_id, text, cadence, target, None)
    finally:
        application.close()
    typer.echo(f"goal #{goal_id} added to {ref} ({cadence})")


@app.command()
def export(
    ref: Annotated[str, typer.Argument(help="The case, e.g. C-0001.")],
    format: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Everything held about one case (and nothing about anyone else); the export is audited."""
    from cm_bot.storage.data_rights import DataRightsError, export_case, to_csv

    if format not in ("json", "csv"):
        raise _fail("--format must be json or csv", 2)
    application = _admin_app()
    try:
        data = export_case(application.db, ref.upper())
    except DataRightsError as exc:
        raise _fail(str(exc)) from None
    finally:
        application.close()
    text = (
        json.dumps(data, ensure_ascii=False, indent=2, default=str)
        if format == "json"
        else to_csv(data)
    )
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"written to {output}", err=True)


@app.command()
def erase(
    ref: Annotated[str, typer.Argument(help="The case, e.g. C-0001.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a client's personal data; a tombstone and the audit trail remain."""
    from cm_bot.storage.data_rights import DataRightsError, erase_case

    if not yes and not typer.confirm(f"Erase all personal data of {ref}? This cannot be undone"):
        raise typer.Exit(1)
    application = _admin_app()
    try:
        counts = erase_case(application.db, ref.upper())
    except DataRightsError as exc:
        raise _fail(str(exc)) from None
    finally:
        application.close()
    removed = ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "nothing"
    typer.echo(f"{ref} erased ({removed})")


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


@crisis_app.command("check")
def crisis_check(
    text: Annotated[str, typer.Argument(help="A message, as a client might type it.")],
    locale: Annotated[
        str | None, typer.Option(help="Only this language's list (en, es, uk, ru).")
    ] = None,
) -> None:
    """Print the crisis phrases TEXT matches and their kind; exit 1 if none (like grep).

    Uses the built-in lists plus the program file's crisis_words and violence_words, the
    same the bot uses, so an admin can try a new word before clients do.
    """
    from cm_bot.engine.crisis import CrisisWords, PhraseError
    from cm_bot.program import load_program

    settings = Settings()
    try:
        program = load_program(settings.program_file)
    except FlowDefinitionError as exc:
        raise _fail(str(exc), 2) from None
    try:
        words = CrisisWords(
            program.crisis_words,
            program.violence_words,
            locales=None if locale is None else [locale],
        )
    except PhraseError as exc:
        raise _fail(str(exc), 2) from None
    match = words.find(text)
    if match is None:
        typer.echo("no crisis words matched")
        raise typer.Exit(1)
    for phrase in match.phrases:
        kinds = ", ".join(sorted(words.kinds_of(phrase)))
        typer.echo(f"{phrase}  ({kinds})")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
