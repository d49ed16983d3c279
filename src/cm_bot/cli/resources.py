"""``cm-bot resources``: the community-resource directory (Open Referral HSDS 3.0).

Staff-facing, in English like the other admin commands. Every command is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cm_bot.cli._common import admin, command_group, fail, table

if TYPE_CHECKING:
    from cm_bot.bootstrap import App
    from cm_bot.program import Program
    from cm_bot.resources.match import ServiceOffer

resources_app = command_group("The community-resource directory and what each need matches.")


def _program(application: App) -> Program:
    from cm_bot.program import load_program

    return load_program(application.settings.program_file, flows=application.flows)


def _need(program: Program, need: str) -> None:
    if need not in program.needs:
        mapped = ", ".join(sorted(program.needs)) or "none"
        raise fail(f"need {need!r} is not in the program file's needs mapping (mapped: {mapped})")


@resources_app.command("import")
def resources_import(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="A folder of CSVs with datapackage.json, the same zipped, or HSDS JSON.",
        ),
    ],
    partial: Annotated[
        bool,
        typer.Option(
            "--partial", help="Only part of the directory: update it, inactivate nothing."
        ),
    ] = False,
) -> None:
    """Import an Open Referral HSDS 3.0 package into the directory.

    PATH is a folder of CSV files with its datapackage.json, the same as a .zip, or JSON
    as an HSDS API's /services returns it (a list, a page, a list of pages, or one
    service). Everything is checked first: on any problem, each is printed as
    file:row: field: problem, nothing is stored, and the exit code is 1. Records are
    updated by id. A service the package no longer lists becomes inactive (never
    deleted); one service, some pages of many, or --partial (say, one of several
    providers' directories) inactivate nothing.
    """
    from cm_bot.resources.hsds import PackageError, read_package
    from cm_bot.resources.store import import_package
    from cm_bot.storage.admin import cli_actor

    try:
        package = read_package(path)
    except PackageError as exc:
        for problem in exc.problems:
            typer.echo(str(problem))
        if exc.more:
            typer.echo(f"... and {exc.more} more problem(s)")
        raise fail(f"{path}: nothing was imported") from None
    if partial:
        package.complete = False
    with admin() as application:
        counts = import_package(application.db, package, cli_actor(), application.clock.now())
    typer.echo(f"imported {path}" + (f" ({package.note})" if package.note else ""))
    for line in counts.lines():
        typer.echo(f"  {line}")


def _assured(offer: ServiceOffer) -> str:
    when = offer.assured_date.isoformat() if offer.assured_date else "never"
    return f"{when} (possibly stale)" if offer.stale else when


@resources_app.command("list")
def resources_list(
    need: Annotated[
        str | None, typer.Option(metavar="NEED", help="Only the services this need maps to.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Inactive, defunct and closed services too.")
    ] = False,
) -> None:
    """List the directory's services, by name.

    Active services only unless --all. A service whose information was last assured more
    than 12 months ago (or never) is marked "possibly stale": check it before offering it.
    With --need, only the services the program file maps that need to. Audited.
    """
    from cm_bot.resources.match import directory
    from cm_bot.resources.store import record_read
    from cm_bot.storage.admin import cli_actor

    with admin() as application:
        mapping = None
        if need is not None:
            program = _program(application)
            _need(program, need)
            mapping = program.needs[need]
        today = application.clock.now().date()
        offers = directory(application.db, today=today, need=mapping, include_inactive=show_all)
        record_read(
            application.db, cli_actor(), "resources_list", need=need, all=show_all, rows=len(offers)
        )
    if not offers:
        typer.echo("no services" + (f" for {need}" if need else ""))
        return
    table(
        ("NAME", "STATUS", "ASSURED", "PHONE", "ID"),
        [
            (offer.name, offer.status, _assured(offer), offer.phone or "—", offer.id)
            for offer in offers
        ],
    )


@resources_app.command("match")
def resources_match(
    need: Annotated[str, typer.Argument(metavar="NEED", help="A need in the program file.")],
    language: Annotated[
        str | None,
        typer.Option(metavar="L", help="The client's language (uk, es ...): served first."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=50, help="How many (3, as offered).")] = 3,
) -> None:
    """Show what a client with NEED would be offered, in order.

    Active services the program file maps NEED to: those serving the client's language
    first, then the most recently assured, then by name. Audited.
    """
    from cm_bot.resources.match import match
    from cm_bot.resources.store import record_read
    from cm_bot.storage.admin import cli_actor

    with admin() as application:
        program = _program(application)
        _need(program, need)
        today = application.clock.now().date()
        offers = match(application.db, need, program.needs, language, limit, today=today)
        record_read(
            application.db,
            cli_actor(),
            "resources_match",
            need=need,
            language=language,
            offered=[o.id for o in offers],
        )
    if not offers:
        typer.echo(f"no active service matches {need}: the case manager would be asked to help")
        return
    for number, offer in enumerate(offers, start=1):
        speaks = f"  [speaks {language}]" if offer.speaks_language else ""
        typer.echo(f"{number}. {offer.name}{speaks}")
        for label, value in (
            ("offers", offer.description),
            ("phone", offer.phone),
            ("address", offer.address),
            ("hours", offer.opening_hours),
            ("languages", ", ".join(offer.languages)),
            ("assured", _assured(offer)),
            ("id", offer.id),
        ):
            if value:
                typer.echo(f"   {label}: {value}")


@resources_app.command("report")
def resources_report() -> None:
    """Referrals by need and status, and how many got help.

    Also the median days to completed. Counts only (no client, no case). Audited.
    """
    from cm_bot.resources.report import referral_report
    from cm_bot.resources.store import record_read
    from cm_bot.storage.admin import cli_actor

    with admin() as application:
        report = referral_report(application.db)
        record_read(application.db, cli_actor(), "resources_report", referrals=report.total)
    if not report.total:
        typer.echo("no referrals yet")
        return
    typer.echo("referrals by need and status:")
    for (need, status), count in report.by_need_status.items():
        typer.echo(f"  {need:<26} {status:<14} {count}")
    share = report.got_help_share or 0.0
    typer.echo(f"total: {report.total}")
    typer.echo(f"reached got_help: {report.got_help} ({share:.0%})")
    days = report.median_days_to_completed
    typer.echo("median days to completed: " + ("—" if days is None else f"{days:.1f}"))
