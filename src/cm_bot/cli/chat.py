"""``cm-bot chat``: the flows in this terminal, as the demo client."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from cm_bot.cli._common import fail


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
    from cm_bot.channels.console import CHANNEL, DEMO_MANAGER, DEMO_USER, ConsoleChannel, DemoError
    from cm_bot.domain import StaffRole
    from cm_bot.flows import FlowDefinitionError
    from cm_bot.storage.admin import add_staff, has_any_case, link_client, new_case

    flow_context: dict[str, Any] = {}
    if context is not None:
        if flow is None:
            raise fail("--context needs --flow", 2)
        try:
            parsed: Any = json.loads(context)
        except json.JSONDecodeError as exc:
            raise fail(f"--context is not valid JSON: {exc}", 2) from None
        if not isinstance(parsed, dict):
            raise fail("--context must be a JSON object", 2)
        flow_context = parsed
    logsetup.configure(level=logging.ERROR)  # errors only (not mid-chat), never a client's words
    try:
        application = build_app()
    except FlowDefinitionError as exc:
        raise fail(str(exc)) from None
    try:
        if flow is not None and flow not in application.flows:
            known = ", ".join(sorted(f.id for f in application.flows))
            raise fail(f"no flow {flow!r}; the flows are: {known}")
        ref = None
        if not has_any_case(application.db):  # an empty database: a demo case to talk in
            add_staff(application.db, DEMO_MANAGER, StaffRole.CASE_MANAGER)
            ref = new_case(application.db, DEMO_MANAGER).ref
            link_client(application.db, ref, CHANNEL, DEMO_USER, DEMO_USER)
        if ref:
            typer.echo(f"Created demo case {ref}. Type /help for commands, Ctrl-D to leave.")
        channel = ConsoleChannel(
            application.engine,
            stdin=sys.stdin,
            stdout=sys.stdout,
            language=language,
        )
        if flow is not None:
            typer.echo(f"Starting flow {flow} for the demo client.")
        try:
            channel.run(flow_id=flow, context=flow_context)
        except DemoError as exc:
            raise fail(f"cannot start {flow}: {exc}") from None
    finally:
        application.close()
