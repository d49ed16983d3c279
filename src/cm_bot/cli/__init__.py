"""The ``cm-bot`` command line: thin wrappers that build the app and call into it.

Help is plain text (``rich_markup_mode=None``): flags show no ``<bool>`` type, nothing
needs a wide terminal, and docstrings are the help, so they are written for the
person at the terminal (no reST markup). Each command's first sentence is its line in
``cm-bot --help``; keep it short enough not to be cut at 80 columns.

One module per command group. At import time they load typer and the standard library
only: settings, storage, the engine, Telegram frameworks and the scheduler are imported
inside the commands that use them, so ``cm-bot --help`` and the admin commands start
fast and never load aiogram, python-telegram-bot or APScheduler
(tests/cli/test_startup_imports.py, bench/startup.py).
"""

from __future__ import annotations

import typer

from cm_bot.cli.case import case_app
from cm_bot.cli.chat import chat
from cm_bot.cli.console import console_app
from cm_bot.cli.crisis import crisis_app
from cm_bot.cli.data_rights import erase, export, goal_app
from cm_bot.cli.db import db_app
from cm_bot.cli.flags import flags_app
from cm_bot.cli.flows import flows_app
from cm_bot.cli.i18n import i18n_app
from cm_bot.cli.resources import resources_app
from cm_bot.cli.run import RUN_SUMMARY, RunCommand, _safety_warnings, run
from cm_bot.cli.schedule import schedule_app
from cm_bot.cli.score import score
from cm_bot.cli.staff import staff_app

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
# The order here is the order of `cm-bot --help`: commands first, then groups.
app.command()(chat)
app.command(cls=RunCommand, help=RUN_SUMMARY)(run)
app.command()(score)
app.command()(export)
app.command()(erase)
app.add_typer(flows_app, name="flows")
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(case_app, name="case")
app.add_typer(i18n_app, name="i18n")
app.add_typer(crisis_app, name="crisis")
app.add_typer(schedule_app, name="schedule")
app.add_typer(goal_app, name="goal")
app.add_typer(flags_app, name="flags")
app.add_typer(console_app, name="console")
app.add_typer(resources_app, name="resources")


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["_safety_warnings", "app", "main"]
