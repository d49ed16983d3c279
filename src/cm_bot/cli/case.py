"""``cm-bot case``: opening cases, invites, listing, reassigning, unlinking, exit, re-screens."""

from __future__ import annotations

from typing import Annotated

import typer

from cm_bot.cli._common import admin, admin_app, command_group, fail, link, table, utc

case_app = command_group("Client cases.")


@case_app.command("new")
def case_new(
    manager: Annotated[str, typer.Option(metavar="NAME", help="The case manager's name.")],
    ref: Annotated[
        str | None, typer.Option(metavar="REF", help="A ref such as C-0042 (default: the next).")
    ] = None,
) -> None:
    """Open a case and print its reference."""
    from cm_bot.storage.admin import cli_actor, new_case

    with admin() as application:
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

    with admin() as application:
        made = client_invite(application.db, ref, cli_actor(), relink=relink)
    if made.unlinked:
        typer.echo(f"{made.ref}: the old account was unlinked; the new link:", err=True)
    typer.echo(link(made.token))


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

    with admin() as application:
        rows = list_cases(application.db, cli_actor(), manager=manager, status=status)
    if not rows:
        typer.echo("no cases")
        return
    table(
        ("REF", "STATUS", "MANAGER", "LINKED", "OPENED", "OPEN FLAGS"),
        [
            (
                row.ref,
                row.status,
                "—"
                if row.manager is None
                else row.manager + ("" if row.manager_active else " (deactivated)"),
                ", ".join(row.channels) or "—",
                utc(row.opened_at)[:10],
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

    with admin() as application:
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

    with admin() as application:
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

    from cm_bot.engine.staff import StaffDesk
    from cm_bot.storage.admin import cli_actor

    try:
        day = date_.fromisoformat(date) if date else datetime.now(UTC).date()
    except ValueError:
        raise fail("--date must be YYYY-MM-DD", 2) from None
    application = admin_app()
    try:
        with application.store.unit() as uow:
            case = uow.cases.case_by_ref(ref)
            if case is None:
                raise fail(f"no case {ref}")
            desk = StaffDesk(
                uow,
                application.translator,
                [],
                flows=application.flows,
                start_flow=application.engine.start_flow,
            )
            desk.exit_case(case, day, cli_actor())
    finally:
        application.close()
    typer.echo(f"{ref} exited on {day.isoformat()}")


@case_app.command("rescreen")
def case_rescreen(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The case, e.g. C-0001.")],
    instrument: Annotated[str, typer.Argument(metavar="phq9|gad7", help="What to repeat.")],
    every: Annotated[
        str, typer.Argument(metavar="EVERY|off", help="How often (4w, 2w, 30d), or off.")
    ],
) -> None:
    """Repeat the PHQ-9 or GAD-7 on a case, or stop it.

    The re-screens are scheduled contacts (contact hours, the urgent pause, one reminder);
    each result is compared with the case's first score of the instrument. Audited as
    cli:<login>, like /rescreen in the bot.
    """
    from cm_bot.domain import CaseStatus
    from cm_bot.domain.rescreen import RESCREEN_INSTRUMENTS, STOP, every_text, parse_every
    from cm_bot.storage.admin import cli_actor

    instrument, every = instrument.lower(), every.lower()
    days = parse_every(every)
    if instrument not in RESCREEN_INSTRUMENTS or (days is None and every != STOP):
        raise fail(
            "usage: cm-bot case rescreen REF phq9|gad7 EVERY|off "
            "(EVERY from 1w to 26w, or days such as 30d)",
            2,
        )
    application = admin_app()
    try:
        with application.store.unit() as uow:
            case = uow.cases.case_by_ref(ref)
            if case is None:
                raise fail(f"no case {ref}")
            if days is not None and case.status not in (CaseStatus.INTAKE, CaseStatus.ACTIVE):
                raise fail(f"{case.ref} has ended: no re-screen can be planned")
            changed = uow.cases.set_rescreen(case.case_id, instrument, days, actor=cli_actor())
    finally:
        application.close()
    if days is None:
        typer.echo(
            f"{case.ref}: {instrument} re-screen stopped"
            if changed
            else f"{case.ref}: no {instrument} re-screen was running"
        )
    else:
        typer.echo(f"{case.ref}: {instrument} every {every_text(days)} ({days} days)")
