"""Data rights and the case plan: ``cm-bot export``, ``cm-bot erase`` and ``cm-bot goal``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cm_bot.cli._common import admin, command_group, fail

goal_app = command_group("Goals in a case plan.")


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

    from cm_bot.domain.values import CADENCES

    if cadence not in CADENCES:
        raise fail(f"--cadence must be one of {', '.join(CADENCES)}", 2)
    try:
        target = date.fromisoformat(target_date) if target_date else None
    except ValueError:
        raise fail("--target-date must be YYYY-MM-DD", 2) from None
    from cm_bot.storage.admin import add_goal, cli_actor

    with admin() as application:
        goal_id = add_goal(application.store, ref, text, cadence, target, cli_actor())
    typer.echo(f"goal #{goal_id} added to {ref.upper()} ({cadence})")


@goal_app.command("status")
def goal_status(
    goal_id: Annotated[int, typer.Argument(metavar="ID", help="The goal's number (/case).")],
    status: Annotated[str, typer.Argument(metavar="STATUS", help="active, met, changed, dropped")],
) -> None:
    """Set a goal's status (audited). A goal that is not active gets no more check-ins."""
    from cm_bot.domain import GoalStatus
    from cm_bot.storage.admin import cli_actor
    from cm_bot.storage.case_admin import set_goal_status

    wanted = status.lower()
    if wanted not in set(GoalStatus):
        raise fail(f"STATUS must be one of {', '.join(GoalStatus)}", 2)
    with admin() as application:
        if not set_goal_status(application.store, goal_id, wanted, cli_actor()):
            raise fail(f"no goal #{goal_id}", 1)
    typer.echo(f"goal #{goal_id} is now {wanted}")


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
    from cm_bot.storage.data_rights import export_case, to_csv

    if format not in ("json", "csv"):
        raise fail("--format must be json or csv", 2)
    with admin() as application:
        data = export_case(application.db, ref.upper(), cli_actor())
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


def erase(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The case, e.g. C-0001.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a client's personal data.

    Asks first unless --yes is given. Scheduled contacts are cancelled; a tombstone
    and the audit trail remain.
    """
    from cm_bot.storage.admin import cli_actor
    from cm_bot.storage.data_rights import erase_case

    if not yes and not typer.confirm(f"Erase all personal data of {ref}? This cannot be undone"):
        raise typer.Exit(1)
    with admin() as application:
        counts = erase_case(application.db, ref.upper(), actor=cli_actor())
    removed = ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "nothing"
    typer.echo(f"{ref} erased ({removed})")
