"""``cm-bot staff``: adding staff, their invite links, access and roles."""

from __future__ import annotations

from typing import Annotated

import typer

from cm_bot.cli._common import admin, command_group, link, table
from cm_bot.domain import StaffRole

staff_app = command_group("Program staff.")


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Option(metavar="NAME", help="The staff member's name (unique).")],
    role: Annotated[
        str, typer.Option(metavar="ROLE", help="case_manager, supervisor or admin")
    ] = StaffRole.CASE_MANAGER,
) -> None:
    """Add a staff member; print their invite link.

    The link is single-use and valid for 14 days; it binds their Telegram account.
    """
    from cm_bot.storage.admin import add_staff, cli_actor, staff_invite

    with admin() as application:
        staff = add_staff(application.db, name, role, cli_actor())
        token = staff_invite(application.db, staff.name, cli_actor())
    typer.echo(f"staff #{staff.id} {staff.name} ({staff.role}) added; open this link in Telegram:")
    typer.echo(link(token))


_NAME = Annotated[str, typer.Argument(metavar="NAME", help="The staff member's name.")]


@staff_app.command("list")
def staff_list() -> None:
    """List staff members, with their access.

    One row per staff member under column headings: role, whether a Telegram account is
    bound to them, whether they are active or deactivated, the time zone they read times
    in, and how many cases name them as case manager. The listing is audited.
    """
    from cm_bot.storage.admin import cli_actor, list_staff

    with admin() as application:
        rows = list_staff(application.db, cli_actor())
    if not rows:
        typer.echo("no staff yet (cm-bot staff add --name NAME)")
        return
    table(
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

    with admin() as application:
        token = staff_invite(application.db, name, cli_actor())
    typer.echo(f"new invite link for {name}; open it in Telegram:")
    typer.echo(link(token))


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

    with admin() as application:
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

    with admin() as application:
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

    with admin() as application:
        old = set_staff_role(application.db, name, role, cli_actor())
    typer.echo(f"{name}: {old} -> {role}")
