"""The ``cm-bot`` command line: thin wrappers that build the app and call into it.

Help is plain text (``rich_markup_mode=None``): flags show no ``<bool>`` type, nothing
needs a wide terminal, and docstrings are the help, so they are written for the
person at the terminal (no reST markup). Each command's first sentence is its line in
``cm-bot --help``; keep it short enough not to be cut at 80 columns.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cm_bot.flows import FlowDefinitionError, load_flows
from cm_bot.flows.loader import PROGRAM_FILE_NAMES
from cm_bot.scheduling.cli import schedule_app

if TYPE_CHECKING:
    from sqlalchemy import Engine

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
flags_app = command_group("Flags raised for staff.")
app.add_typer(flows_app, name="flows")
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(case_app, name="case")
app.add_typer(i18n_app, name="i18n")
app.add_typer(crisis_app, name="crisis")
app.add_typer(schedule_app, name="schedule")
app.add_typer(goal_app, name="goal")
app.add_typer(flags_app, name="flags")
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
    from cm_bot.storage.db import current_revision, upgrade

    with _database() as engine:
        upgrade(engine, revision)
        typer.echo(f"database at revision {current_revision(engine)}")


@contextmanager
def _database() -> Iterator[Engine]:
    """The engine of a db command; whatever fails ends as one line on stderr and exit 1."""
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
        raise _fail(f"error: {lines[0] if lines else type(cause).__name__}") from None


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
                raise _fail(
                    f"refused: base removes every table and the database holds "
                    f"{plan.cases} case(s); add --yes if that is what you want"
                )
            try:
                agreed = typer.confirm("Go ahead?")
            except typer.Abort:  # no answer: stdin closed or not a terminal
                raise _fail("no answer, nothing changed (--yes does not ask)") from None
            if not agreed:
                raise _fail("nothing changed")
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

    from cm_bot.storage.db import is_sqlite
    from cm_bot.storage.roles import apply_role, read_schema, role_statements, scram_verifier

    with _database() as engine:
        if is_sqlite(engine):
            raise _fail(
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


def _link(token: str) -> str:
    """The Telegram deep link that opens the bot with an invite token."""
    from cm_bot.engine.staff import invite_link

    return invite_link(_bot_username(Settings()), token)


@contextmanager
def _admin() -> Iterator[App]:
    """The app for one staff-side command; a refused request is its message and exit 1."""
    from cm_bot.storage.admin import AdminError

    application = _admin_app()
    try:
        yield application
    except AdminError as exc:
        raise _fail(str(exc)) from None
    finally:
        application.close()


def _table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Rows under column headings, each column as wide as its widest cell."""
    widths = [max(len(cells[i]) for cells in (headings, *rows)) for i in range(len(headings))]
    for cells in (headings, *rows):
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        )


def _utc(moment: Any) -> str:
    """A stored time as the listings show it: UTC, to the minute; "—" for none."""
    from datetime import UTC

    if moment is None:
        return "—"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}"


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
    from cm_bot.storage.admin import add_staff, cli_actor, staff_invite

    with _admin() as application:
        staff = add_staff(application.db, name, role, cli_actor())
        token = staff_invite(application.db, staff.name, cli_actor())
    typer.echo(f"staff #{staff.id} {staff.name} ({staff.role}) added; open this link in Telegram:")
    typer.echo(_link(token))


_NAME = Annotated[str, typer.Argument(metavar="NAME", help="The staff member's name.")]


@staff_app.command("list")
def staff_list() -> None:
    """List staff members, with their access.

    One row per staff member under column headings: role, whether a Telegram account is
    bound to them, whether they are active or deactivated, the time zone they read times
    in, and how many cases name them as case manager. The listing is audited.
    """
    from cm_bot.storage.admin import cli_actor, list_staff

    with _admin() as application:
        rows = list_staff(application.db, cli_actor())
    if not rows:
        typer.echo("no staff yet (cm-bot staff add --name NAME)")
        return
    _table(
        ("ID", "NAME", "ROLE", "TELEGRAM", "ACCESS", "TIME ZONE", "CASES"),
        [
            (
                f"#{row.staff_id}",
                row.name,
                row.role,
                "bound" if row.bound else "—",
                "active" if row.active else "deactivated",
                row.timezone or "UTC",
                str(row.cases),
            )
            for row in rows
        ],
    )


@staff_app.command("invite")
def staff_invite_link(name: _NAME) -> None:
    """Print a new invite link for a staff member.

    The Telegram account that opens it becomes theirs: the account bound before loses
    staff access, and their earlier unused links stop working. Single-use, valid 14
    days. A deactivated member gets none: cm-bot staff activate NAME first.
    """
    from cm_bot.storage.admin import cli_actor, staff_invite

    with _admin() as application:
        token = staff_invite(application.db, name, cli_actor())
    typer.echo(f"new invite link for {name}; open it in Telegram:")
    typer.echo(_link(token))


@staff_app.command("deactivate")
def staff_deactivate(name: _NAME) -> None:
    """End a staff member's access at once.

    Their next command or button press in Telegram is treated as a stranger's, and their
    unused invite links stop working. Every unresolved flag on their cases is sent to
    the supervisors and admins linked to Telegram (urgent ones also to the team chat);
    a warning says when nobody could receive them. Their cases keep them as case
    manager until moved with cm-bot case reassign. The last active admin cannot be
    deactivated.
    """
    from cm_bot.storage.admin import cli_actor, deactivate_staff

    with _admin() as application:
        done = deactivate_staff(
            application.db,
            name,
            cli_actor(),
            translator=application.translator,
            flows=application.flows,
        )
    typer.echo(f"{done.name} deactivated: staff access ended")
    if done.cancelled:
        typer.echo(f"{done.cancelled} notice(s) not yet sent to {done.name} cancelled")
    handed = len(done.flags) - len(done.unreached)
    if not done.flags:
        typer.echo(f"no open flags on {done.name}'s cases")
    elif handed:
        whom = ", ".join(done.recipients)
        if done.team_chat:
            whom = f"{whom} (urgent ones also the team chat)" if whom else "the team chat"
        typer.echo(f"{handed} open flag(s) handed to {whom}")
    if done.unreached:
        ids = ", ".join(f"#{flag_id}" for flag_id in done.unreached)
        typer.echo(
            f"warning: {len(done.unreached)} open flag(s) reached nobody ({ids}): no "
            "supervisor or admin is linked to Telegram and no team chat is registered "
            "(cm-bot staff add --name NAME --role supervisor)",
            err=True,
        )
    if done.cases:
        typer.echo(
            f"{len(done.cases)} case(s) still name {done.name} as manager: "
            "cm-bot case reassign REF --manager OTHER"
        )
        typer.echo(f"  {', '.join(done.cases)}")


@staff_app.command("activate")
def staff_activate(name: _NAME) -> None:
    """Let a deactivated staff member back in.

    Access returns through the Telegram account still bound to them; to bind another,
    follow with cm-bot staff invite NAME.
    """
    from cm_bot.storage.admin import activate_staff, cli_actor

    with _admin() as application:
        staff = activate_staff(application.db, name, cli_actor())
    bound = "their bound Telegram account" if staff.telegram_user_id else "no account yet"
    typer.echo(f"{staff.name} active again ({bound}; cm-bot staff invite for a new one)")


@staff_app.command("role")
def staff_role(
    name: _NAME,
    role: Annotated[str, typer.Argument(metavar="ROLE", help="case_manager, supervisor or admin")],
) -> None:
    """Change a staff member's role.

    A case manager sees their own cases; supervisors and admins see all and receive
    escalations. It takes effect at their next message. The last active admin keeps
    the role.
    """
    from cm_bot.storage.admin import cli_actor, set_staff_role

    with _admin() as application:
        old = set_staff_role(application.db, name, role, cli_actor())
    typer.echo(f"{name}: {old} -> {role}")


@case_app.command("new")
def case_new(
    manager: Annotated[str, typer.Option(metavar="NAME", help="The case manager's name.")],
    ref: Annotated[
        str | None, typer.Option(metavar="REF", help="A ref such as C-0042 (default: the next).")
    ] = None,
) -> None:
    """Open a case and print its reference."""
    from cm_bot.storage.admin import cli_actor, new_case

    with _admin() as application:
        typer.echo(new_case(application.db, manager, ref, cli_actor()).ref)


_REF = Annotated[str, typer.Argument(metavar="REF", help="The case, e.g. C-0001.")]


@case_app.command("invite")
def case_invite(
    ref: _REF,
    relink: Annotated[
        bool, typer.Option("--relink", help="Unlink the client's current account first.")
    ] = False,
) -> None:
    """Print a client invite link for the case.

    The link is single-use and valid for 14 days; the client opens it in Telegram. A
    client already linked gets none unless --relink, which first unlinks the old account
    (as cm-bot case unlink). An exited, closed or erased case gets none.
    """
    from cm_bot.storage.admin import cli_actor, client_invite

    with _admin() as application:
        made = client_invite(application.db, ref, cli_actor(), relink=relink)
    if made.unlinked:
        typer.echo(f"{made.ref}: the old account was unlinked; the new link:", err=True)
    typer.echo(_link(made.token))


@case_app.command("list")
def case_list(
    manager: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only this case manager's cases.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(metavar="S", help="Only intake, active, exited or closed.")
    ] = None,
) -> None:
    """List cases, with manager and open flags.

    One row per case under column headings, in the order opened: status, case manager,
    the channel the client is linked on (— when not linked), the day it was opened and
    how many flags are not yet resolved. No client's personal data. The listing is
    audited.
    """
    from cm_bot.storage.admin import cli_actor, list_cases

    with _admin() as application:
        rows = list_cases(application.db, cli_actor(), manager=manager, status=status)
    if not rows:
        typer.echo("no cases")
        return
    _table(
        ("REF", "STATUS", "MANAGER", "LINKED", "OPENED", "OPEN FLAGS"),
        [
            (
                row.ref,
                row.status,
                "—"
                if row.manager is None
                else row.manager + ("" if row.manager_active else " (deactivated)"),
                ", ".join(row.channels) or "—",
                _utc(row.opened_at)[:10],
                str(row.open_flags),
            )
            for row in rows
        ],
    )


@case_app.command("reassign")
def case_reassign(
    ref: _REF,
    manager: Annotated[str, typer.Option(metavar="NAME", help="The new case manager.")],
) -> None:
    """Give a case another case manager.

    The new case manager must be active; new flags on the case go to them, and /flags
    shows them the open ones. Audited with the old and new staff.
    """
    from cm_bot.storage.admin import cli_actor, reassign_case

    with _admin() as application:
        old, open_flags = reassign_case(application.db, ref, manager, cli_actor())
    typer.echo(f"{ref.upper()}: case manager {old or '—'} -> {manager}")
    if open_flags:
        typer.echo(f"{open_flags} open flag(s) on {ref.upper()}: {manager} sees them with /flags")


@case_app.command("unlink")
def case_unlink(ref: _REF) -> None:
    """Unlink a case's client from their account.

    From its next message the account is a stranger to the bot; the client record and
    answers stay. Messages not yet sent to it are cancelled and the case's unused invite
    links stop working: make a new one with cm-bot case invite REF.
    """
    from cm_bot.storage.admin import cli_actor, unlink_client

    with _admin() as application:
        removed = unlink_client(application.db, ref, cli_actor())
    typer.echo(
        f"{ref.upper()}: {removed} account(s) unlinked; earlier invite links no longer work "
        f"(new link: cm-bot case invite {ref.upper()})"
    )


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

    from cm_bot.storage.admin import cli_actor

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
            uow.audit(cli_actor(), "case_exited", case.case_id)
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
    from cm_bot.storage.admin import add_goal, cli_actor

    with _admin() as application:
        goal_id = add_goal(application.store, ref, text, cadence, target, cli_actor())
    typer.echo(f"goal #{goal_id} added to {ref.upper()} ({cadence})")


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
    from cm_bot.storage.admin import cli_actor
    from cm_bot.storage.data_rights import DataRightsError, export_case, to_csv

    if format not in ("json", "csv"):
        raise _fail("--format must be json or csv", 2)
    application = _admin_app()
    try:
        data = export_case(application.db, ref.upper(), cli_actor())
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
    from cm_bot.storage.admin import cli_actor
    from cm_bot.storage.data_rights import DataRightsError, erase_case

    if not yes and not typer.confirm(f"Erase all personal data of {ref}? This cannot be undone"):
        raise typer.Exit(1)
    application = _admin_app()
    try:
        counts = erase_case(application.db, ref.upper(), actor=cli_actor())
    except DataRightsError as exc:
        raise _fail(str(exc)) from None
    finally:
        application.close()
    removed = ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "nothing"
    typer.echo(f"{ref} erased ({removed})")


@flags_app.command("list")
def flags_list(
    open_only: Annotated[bool, typer.Option("--open", help="Only flags not yet resolved.")] = False,
    case: Annotated[str | None, typer.Option(metavar="REF", help="Only this case's flags.")] = None,
) -> None:
    """List flags, with who acted and escalation.

    One row per flag under column headings, oldest first, times in UTC: severity,
    status, who acknowledged and resolved it, when it was escalated, and "reached
    nobody" when no supervisor, admin or team chat could be told. The reason is
    shown, never the client's answer. The listing is audited.
    """
    from cm_bot.storage.admin import cli_actor, list_flags

    with _admin() as application:
        rows = list_flags(application.db, cli_actor(), open_only=open_only, ref=case)
    if not rows:
        typer.echo("no flags")
        return

    def acted(name: str | None, moment: Any) -> str:
        return "—" if moment is None else f"{name or '?'} {_utc(moment)}"

    def escalation(moment: Any, unreached: bool) -> str:
        if not unreached:
            return _utc(moment)
        return "reached nobody" if moment is None else f"{_utc(moment)} reached nobody"

    _table(
        (
            "ID",
            "CASE",
            "SEVERITY",
            "STATUS",
            "RAISED (UTC)",
            "ACKNOWLEDGED",
            "RESOLVED",
            "ESCALATED",
            "REASON",
        ),
        [
            (
                f"#{row.flag_id}",
                row.case_ref or "—",
                row.severity,
                row.status,
                _utc(row.created_at),
                acted(row.acknowledged_by, row.acknowledged_at),
                acted(row.resolved_by, row.resolved_at),
                escalation(row.escalated_at, row.unreached),
                row.reason,
            )
            for row in rows
        ],
    )


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
