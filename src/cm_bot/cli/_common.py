"""What several command groups share.

Plain-text groups, the one-line failure, the app of an admin command, invite links and
the listings' tables.

Only typer and the standard library are imported here at import time; everything else
inside the function that needs it, so that ``cm-bot --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from cm_bot.bootstrap import App
    from cm_bot.settings import Settings


def command_group(help: str) -> typer.Typer:
    """A group of subcommands with plain-text help (see the package docstring)."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Say ``message`` on stderr; return the exit to raise with ``code``."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def admin_app() -> App:
    """The app of an admin command; invalid flow files are their message and exit 1."""
    from cm_bot.bootstrap import build_app
    from cm_bot.domain.errors import RefusedError

    try:
        return build_app()
    except RefusedError as exc:
        raise fail(str(exc)) from None


@contextmanager
def admin() -> Iterator[App]:
    """The app for one command; a refused request (a ``RefusedError``) is its message, exit 1."""
    from cm_bot.domain.errors import RefusedError

    application = admin_app()
    try:
        yield application
    except RefusedError as exc:
        raise fail(str(exc)) from None
    finally:
        application.close()


def bot_username(settings: Settings) -> str:
    """The bot's username for links: configured, or asked from the Bot API (getMe)."""
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if settings.telegram_token is None:
        typer.echo("note: set CM_BOT_BOT_USERNAME to put your bot's name in links", err=True)
        return "your_bot"
    import asyncio

    from cm_bot.channels.aiogram_adapter import AiogramBackend

    async def ask() -> str:
        assert settings.telegram_token is not None
        backend = AiogramBackend(
            settings.telegram_token.get_secret_value(), settings.telegram_api_url
        )
        try:
            return await backend.username()
        finally:
            await backend.stop()

    return asyncio.run(ask())


def link(token: str) -> str:
    """The Telegram deep link that opens the bot with an invite token."""
    from cm_bot.engine.staff import invite_link
    from cm_bot.settings import Settings

    return invite_link(bot_username(Settings()), token)


def table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Rows under column headings, each column as wide as its widest cell."""
    widths = [max(len(cells[i]) for cells in (headings, *rows)) for i in range(len(headings))]
    for cells in (headings, *rows):
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        )


def utc(moment: Any) -> str:
    """A stored time as the listings show it: UTC, to the minute; "—" for none."""
    from datetime import UTC

    if moment is None:
        return "—"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}"
