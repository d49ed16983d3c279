"""``cm-bot i18n``: the translation template and catalogues of a source checkout."""

from __future__ import annotations

from pathlib import Path

import typer

from cm_bot.cli._common import command_group

i18n_app = command_group("Translation catalogues.")
# The checkout: src/cm_bot/cli/i18n.py -> the folder holding locales/ and src/.
_ROOT = Path(__file__).resolve().parents[3]


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
