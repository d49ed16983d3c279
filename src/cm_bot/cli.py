"""The ``cm-bot`` command line: thin wrappers that build the app and call into it.

Help is plain text (``rich_markup_mode=None``): flags show no ``<bool>`` type, nothing
needs a wide terminal, and docstrings are the help, so they are written for the
person at the terminal (no reST markup). Each command's first sentence is its line in
``cm-bot --help``; keep it short enough not to be cut at 80 columns.
"""

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


def command_group(help: str) -> typer.Typer:
    """A group of subcommands with plain-text help (see the module docstring)."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


app = typer.Typer(
    help=(
        "cm-bot: scripted case-management conversations with a human in the loop.\n\n"
        "Settings come from CM_BOT_* environment variables or a .env file in the working "
        "directory (cm-bot run --help lists them). Every command has --help."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
flows_app = command_group("Check conversation flow files.")
db_app = command_group("Database schema migrations.")
staff_app = command_group("Program staff.")
case_app = command_group("Client cases.")
i18n_app = command_group("Translation catalogues.")
crisis_app = command_group("Crisis-word detection.")
goal_app = command_group("Goals in a case plan.")
app.add_typer(flows_app, name="flows")
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(case_app, name="case")
app.add_typer(i18n_app, name="i18n")
app.add_typer(crisis_app, name="crisis")
app.add_typer(schedule_app, name="schedule")
app.add_typer(goal_app, name="goal")
_ROOT = Path(__file__).resolve().parents[2]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def chat(
    language: Annotated[
        str | None, typer.Option(metavar="LANG", help="Your language, e.g. es or uk.")
    ] = None,
    flow: Annotated[
        str | None,
        typer.Option(metavar="ID", help="Start this flow at once (for flow authors)."),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            metavar="JSON",
            help='With --flow: values the flow reads, e.g. {"goal": "Find a job"}.',
        ),
    ] = None,
) -> None:
    """Talk to the flows in this terminal, as the demo client.

    The database is CM_BOT_DATABASE_URL; by default the SQLite file cm-bot.db in the
    working directory. On first use (a database with no case yet) it creates a demo
    case and links this terminal to it as the client. Buttons are numbered: type the
    number or the label. /help lists the commands; Ctrl-D or /quit leaves, and the
    next chat resumes where you stopped.

    Flow authors: --flow ID starts flow ID at once. Consent is recorded for the demo
    client so the flow can start (the consent flow itself is shown as a new client
    sees it). The flows are checked first, as at every start; an unknown ID exits 1
    and lists the flow ids.
    """
    import logging

    from cm_bot import logsetup
    from cm_bot.bootstrap import build_app
    from cm_bot.channels.console import ConsoleChannel, DemoError, ensure_demo_case

    flow_context: dict[str, Any] = {}
    if context is not None:
        if flow is None:
            raise _fail("--context needs --flow", 2)
        try:
            parsed: Any = json.loads(context)
        except json.JSONDecodeError as exc:
            raise _fail(f"--context is not valid JSON: {exc}", 2) from None
        if not isinstance(parsed, dict):
            raise _fail("--context must be a JSON object", 2)
        flow_context = parsed
    logsetup.configure(level=logging.ERROR)  # errors only (not mid-chat), never a client's words
    try:
        application = build_app()
    except FlowDefinitionError as exc:
        raise _fail(str(exc)) from None
    try:
        if flow is not None and flow not in application.flows:
            known = ", ".join(sorted(f.id for f in application.flows))
            raise _fail(f"no flow {flow!r}; the flows are: {known}")
        ref = ensure_demo_case(application.db)
        if ref:
            typer.echo(f"Created demo case {ref}. Type /help for commands, Ctrl-D to leave.")
        channel = ConsoleChannel(
            application.engine,
            application.db,
            stdin=sys.stdin,
            stdout=sys.stdout,
            language=language,
        )
        if flow is not None:
            typer.echo(f"Starting flow {flow} for the demo client.")
        try:
            channel.run(flow_id=flow, context=flow_context)
        except DemoError as exc:
            raise _fail(f"cannot start {flow}: {exc}") from None
    finally:
        application.close()


# What `cm-bot run --help` says about each setting. Defaults come from Settings itself;
# a setting missing here is still listed (see _run_help), so the help never leaves one out.
_SETTING_NOTES: dict[str, str] = {
    "database_url": "database URL",
    "telegram_token": "the bot token from @BotFather (required)",
    "telegram_api_url": "Bot API server",
    "bot_username": "the bot's name in links [asked with getMe]",
    "backend": "aiogram or ptb",
    "default_locale": "language when a client's is unknown",
    "webhook_url": "webhook mode at this URL [unset: polling]",
    "webhook_secret": "required in webhook mode",
    "webhook_listen": "the webhook server's address",
    "webhook_port": "the webhook server's port",
    "poll_timeout": "long-polling wait, seconds",
    "telegram_request_timeout": "Bot API request time-out, seconds",
    "flows_dir": "flow files [./conversations, else shipped]",
    "locales_dir": "translations [./locales, else shipped]",
    "program_file": "program file [conversations/program.yaml]",
    "intake_flows": "flows after consent, a JSON list",
    "max_bad_answers": "bad answers before /human is offered",
    "timezone": "clients' default time zone",
    "contact_hours": "clients' default contact hours",
    "tick_seconds": "how often the scheduler wakes, seconds",
}


def _run_help() -> str:
    """The help of `cm-bot run`: what it does, then every CM_BOT_* setting it reads."""
    lines = []
    for name, field in Settings.model_fields.items():
        note = _SETTING_NOTES.get(name, "")
        default = field.default
        if field.default_factory is None and default is not None and "[" not in note:
            note = f"{note} [{default}]".strip()
        lines.append(f"{'CM_BOT_' + name.upper():<33}{note}".rstrip())
    return (
        "Run the Telegram bot (long polling, or a webhook).\n\n"
        "It needs CM_BOT_TELEGRAM_TOKEN. Settings are read from the environment or a .env "
        "file in the working directory; defaults in brackets:\n\n\b\n" + "\n".join(lines)
    )


@app.command(help=_run_help())
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
    path: Annotated[
        Path | None,
        typer.Argument(metavar="PATH", help="A flow file, a program file, or a folder."),
    ] = None,
) -> None:
    """Validate flow files and the program file.

    Prints one line per problem, as path:line: message, and exits 1 on any problem.
    PATH may be a flow file, a program file, or a folder (its flows and its
    program.yaml). Without PATH: the configured flows folder (CM_BOT_FLOWS_DIR) and
    program file (CM_BOT_PROGRAM_FILE).
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
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(metavar="REVISION", help="Migrate up to this revision.")
    ] = "head",
) -> None:
    """Apply migrations to the database at CM_BOT_DATABASE_URL."""
    from cm_bot.storage.db import create_db_engine, current_revision, upgrade

    engine = create_db_engine(Settings().database_url)
    try:
        upgrade(engine, revision)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(metavar="REVISION", help="A revision id, or base for none.")
    ],
) -> None:
    """Roll migrations back to REVISION.

    The revision base removes every table: all data in CM_BOT_DATABASE_URL is lost.
    """
    from cm_bot.storage.db import create_db_engine, current_revision, downgrade

    engine = create_db_engine(Settings().database_url)
    try:
        downgrade(engine, revision)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@app.command()
def score(
    instrument: Annotated[
        str, typer.Argument(metavar="INSTRUMENT", help="phq2, phq9, gad2, gad7, hvs or ahc")
    ],
    answers: Annotated[str, typer.Option(metavar="JSON", help='Item answers, e.g. {"phq9.q1": 2}')],
    age: Annotated[
        int | None, typer.Option(metavar="N", help="Age in years (AHC physical activity).")
    ] = None,
) -> None:
    """Score a screening instrument; print the result as JSON.

    The result is one JSON object on stdout. When the answers cannot be scored
    (an item missing or out of range) it says "valid": false with the reason, and
    the exit status is 2, as for bad JSON or an unknown instrument.
    """
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
    if result.get("valid") is False:
        raise typer.Exit(2)


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
    name: Annotated[str, typer.Option(metavar="NAME", help="The staff member's name (unique).")],
    role: Annotated[
        str, typer.Option(metavar="ROLE", help="case_manager, supervisor or admin")
    ] = "case_manager",
) -> None:
    """Add a staff member; print their invite link.

    The link is single-use and valid for 14 days; it binds their Telegram account.
    """
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
    manager: Annotated[str, typer.Option(metavar="NAME", help="The case manager's name.")],
    ref: Annotated[
        str | None, typer.Option(metavar="REF", help="A ref such as C-0042 (default: the next).")
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
def case_invite(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The case, e.g. C-0001.")],
) -> None:
    """Print a client invite link for the case.

    The link is single-use and valid for 14 days; the client opens it in Telegram.
    """
    typer.echo(_invite("client", case_id=_case_id(ref), staff_id=None))


@case_app.command("exit")
def case_exit(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The case, e.g. C-0001.")],
    date: Annotated[
        str | None, typer.Option(metavar="YYYY-MM-DD", help="Exit date (default: today).")
    ] = None,
) -> None:
    """Exit a case and schedule its follow-ups.

    Post-exit follow-ups are planned 30, 90 and 180 days after the exit date.
    """
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
    ref: Annotated[str, typer.Argument(metavar="REF", help="The case, e.g. C-0001.")],
    text: Annotated[
        str, typer.Option(metavar="TEXT", help="The goal, in the client's words where possible.")
    ],
    cadence: Annotated[
        str, typer.Option(metavar="CADENCE", help="weekly, fortnightly or monthly")
    ] = "weekly",
    target_date: Annotated[
        str | None, typer.Option(metavar="YYYY-MM-DD", help="When the goal should be met.")
    ] = None,
) -> None:
    """Add a goal to a case plan.

    Goal check-ins are then sent to the client at the goal's cadence.
    """
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
    ref: Annotated[str, typer.Argument(metavar="REF", help="The case, e.g. C-0001.")],
    format: Annotated[
        str, typer.Option("--format", metavar="json|csv", help="json or csv")
    ] = "json",
    output: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export everything held about one case.

    Nothing about anyone else is included, and the export is recorded in the audit log.
    """
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
    ref: Annotated[str, typer.Argument(metavar="REF", help="The case, e.g. C-0001.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a client's personal data.

    Asks first unless --yes is given. Scheduled contacts are cancelled; a tombstone
    and the audit trail remain.
    """
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
    """Rewrite locales/messages.pot; merge it into catalogues.

    The template is extracted from the flow files and the Python sources, then merged
    into every locales/<lang>/LC_MESSAGES/messages.po.
    """
    from cm_bot.i18n.catalog import update

    update(_ROOT)
    typer.echo("locales/messages.pot and catalogues updated")


@i18n_app.command("check")
def i18n_check() -> None:
    """Check that every catalogue is complete.

    Exits 1 if the template is stale or any catalogue has untranslated or fuzzy entries.
    """
    from cm_bot.i18n.catalog import check

    problems = check(_ROOT)
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo("catalogues complete")


@crisis_app.command("check")
def crisis_check(
    text: Annotated[
        str, typer.Argument(metavar="TEXT", help="A message, as a client might type it.")
    ],
    locale: Annotated[
        str | None,
        typer.Option(metavar="LANG", help="Only this language's list (en, es, uk, ru)."),
    ] = None,
) -> None:
    """Show which crisis words TEXT matches.

    Prints each phrase matched and its kind; exits 1 if none matches (like grep).

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
