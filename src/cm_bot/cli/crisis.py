"""``cm-bot crisis``: trying a message against the crisis words the bot uses."""

from __future__ import annotations

from typing import Annotated

import typer

from cm_bot.cli._common import command_group, fail

crisis_app = command_group("Crisis-word detection.")


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
    from cm_bot.flows import FlowDefinitionError
    from cm_bot.program import load_program
    from cm_bot.settings import Settings

    settings = Settings()
    try:
        program = load_program(settings.program_file)
    except FlowDefinitionError as exc:
        raise fail(str(exc), 2) from None
    try:
        words = CrisisWords(
            program.crisis_words,
            program.violence_words,
            locales=None if locale is None else [locale],
        )
    except PhraseError as exc:
        raise fail(str(exc), 2) from None
    match = words.find(text)
    if match is None:
        typer.echo("no crisis words matched")
        raise typer.Exit(1)
    for phrase in match.phrases:
        kinds = ", ".join(sorted(words.kinds_of(phrase)))
        typer.echo(f"{phrase}  ({kinds})")
