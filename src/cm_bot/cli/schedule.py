"""``cm-bot schedule``: see upcoming contacts, or run one dispatch pass (cron-style deployments)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from cm_bot.cli._common import command_group, fail, table

schedule_app = command_group("Scheduled goal check-ins and post-exit follow-ups.")
# The column headings of `schedule list`, in the order of the cells of each row.
_COLUMNS = ("ID", "CASE", "KIND", "FLOW", "STATUS", "DUE (UTC)", "DUE (CLIENT'S TIME)", "NEXT")


@schedule_app.command("list")
def list_contacts(
    ref: Annotated[
        str | None, typer.Argument(metavar="REF", help="Only this case, e.g. C-0001.")
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="Show at most this many.")] = 100,
) -> None:
    """Show upcoming contacts, soonest first.

    One row per contact under column headings: when it is due in UTC and in the
    client's own time zone, and what the dispatcher will do next. The listing is audited.
    """
    from cm_bot.scheduling.planner import policy_from_settings, upcoming
    from cm_bot.settings import Settings
    from cm_bot.storage import create_db_engine, ensure_schema
    from cm_bot.storage.admin import cli_actor
    from cm_bot.storage.db import transaction
    from cm_bot.storage.models import AuditLog

    settings = Settings()
    policy = policy_from_settings(settings)
    db = create_db_engine(settings.database_url)
    try:
        ensure_schema(db)
        with transaction(db) as session:
            case_id: int | None = None
            if ref is not None:
                from cm_bot.storage.repository import SqlUnitOfWork

                case = SqlUnitOfWork(session).cases.case_by_ref(ref)
                if case is None:
                    raise fail(f"no case {ref}")
                case_id = case.case_id
            rows = upcoming(session, ref, default_timezone=policy.default_timezone, limit=limit)
            # A read of case data from the command line is on record, as the bot's are.
            session.add(
                AuditLog(
                    actor=cli_actor(),
                    action="schedule_listed",
                    case_id=case_id,
                    detail={"count": len(rows)},
                )
            )
    finally:
        db.dispose()
    if not rows:
        typer.echo("no upcoming contacts")
        return
    table(
        _COLUMNS,
        [
            (
                f"#{row.contact_id}",
                row.case_ref,
                row.kind,
                row.flow_id,
                row.status,
                f"{row.due_at:%Y-%m-%d %H:%M} UTC",
                f"{row.local_due:%Y-%m-%d %H:%M} {row.timezone}",
                str(row.next_action),
            )
            for row in rows
        ],
    )


@schedule_app.command("run-due")
def run_due_command(
    now: Annotated[
        str | None,
        typer.Option(
            metavar="TIME", help="Act as if it were this UTC time (ISO 8601); for testing."
        ),
    ] = None,
) -> None:
    """Send what is due now, then exit (for cron).

    One dispatch pass over the scheduled contacts, then the escalation of flags nobody
    has acknowledged in time.
    """
    from cm_bot.bootstrap import build_app
    from cm_bot.flows import FlowDefinitionError
    from cm_bot.scheduling.planner import policy_from_settings
    from cm_bot.scheduling.ticker import housekeeping

    try:
        moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    except ValueError:
        raise fail("--now must be an ISO 8601 time, e.g. 2026-03-08T17:00", 2) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    try:
        application = build_app()
    except FlowDefinitionError as exc:
        raise fail(str(exc)) from None
    try:
        report = housekeeping(application.engine, policy_from_settings(application.settings))(
            moment
        )
    finally:
        application.close()
    typer.echo(f"{report.dispatch or 'dispatch failed'}; escalated {report.escalated}")
    if report.dispatch is None:
        raise typer.Exit(1)
