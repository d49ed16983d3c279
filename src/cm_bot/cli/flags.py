"""``cm-bot flags``: the flags raised for staff, and who acted on them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cm_bot.cli._common import admin, command_group, table, utc

flags_app = command_group("Flags raised for staff.")


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

    with admin() as application:
        rows = list_flags(application.db, cli_actor(), open_only=open_only, ref=case)
    if not rows:
        typer.echo("no flags")
        return

    def acted(name: str | None, moment: Any) -> str:
        return "—" if moment is None else f"{name or '?'} {utc(moment)}"

    def escalation(moment: Any, unreached: bool) -> str:
        if not unreached:
            return utc(moment)
        return "reached nobody" if moment is None else f"{utc(moment)} reached nobody"

    table(
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
                utc(row.created_at),
                acted(row.acknowledged_by, row.acknowledged_at),
                acted(row.resolved_by, row.resolved_at),
                escalation(row.escalated_at, row.unreached),
                row.reason,
            )
            for row in rows
        ],
    )
