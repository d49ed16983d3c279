"""The python-telegram-bot backend: PTB does HTTP, types and callback answers; the engine the rest.

PTB's ``Updater`` confirms updates before they are handled, so polling is driven
by :class:`~cm_bot.channels.telegram_runtime.TelegramRuntime` through
``Bot.get_updates`` and each recorded update goes through ``Application.process_update``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, ExtBot
from telegram.request import HTTPXRequest

from cm_bot.channels.bot_api import BotAPIMessages
from cm_bot.channels.telegram_codec import ALLOWED_UPDATES, TOKEN_REFUSED_BACKOFF
from cm_bot.notify.errors import (
    DeliveryError,
    ErrorTable,
    OutcomeUnknown,
    PermanentFailure,
    RetryLater,
    Unreachable,
    always,
    by_cause,
    classify,
    on,
)
from cm_bot.notify.sender import Limits


async def _answer_tap(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a button tap at once (the engine decides what it means)."""
    if update.callback_query is not None:
        await update.callback_query.answer()


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns while moving this from int to timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


# What a failed PTB call means for the outbox, first match wins. Only failures that
# certainly happened before Telegram saw the request are retried; a time-out waiting for
# the answer may hide a delivered message.
ERRORS: ErrorTable = (
    on(RetryAfter, then=lambda exc: RetryLater("429 flood control", _retry_after(exc))),
    on(Forbidden, then=always(Unreachable, "403 forbidden")),
    on(ChatMigrated, then=always(PermanentFailure, "the group became a supergroup (new chat id)")),
    on(BadRequest, then=lambda exc: PermanentFailure(f"bad request: {exc.message[:80]}")),
    on(
        TimedOut,
        then=by_cause(
            (
                on(
                    httpx.ConnectTimeout,
                    httpx.PoolTimeout,
                    then=always(RetryLater, "could not connect"),
                ),
            ),
            otherwise=always(OutcomeUnknown, "read time-out"),
        ),
    ),
    on(
        InvalidToken,
        then=lambda _exc: RetryLater("the Bot API refused the token", TOKEN_REFUSED_BACKOFF),
    ),
    on(
        NetworkError,
        then=by_cause(
            (
                on(httpx.ConnectError, then=always(RetryLater, "could not connect")),
                on(
                    httpx.RemoteProtocolError,
                    then=always(RetryLater, "connection closed before an answer"),
                ),
                on(
                    httpx.HTTPError,
                    then=always(OutcomeUnknown, "connection broke while waiting for the answer"),
                ),
            ),
            # No HTTP error underneath: Telegram answered 5xx (or its gateway did).
            otherwise=always(RetryLater, "server error"),
        ),
    ),
    on(TelegramError, then=always(RetryLater, "unexpected Bot API error")),
)


def _delivery_error(exc: Exception) -> DeliveryError | None:
    """What a failed PTB call means for the outbox (``None``: not a Bot API failure)."""
    return classify(ERRORS, exc)


class PTBBackend(BotAPIMessages[ExtBot[None]]):
    """:class:`~cm_bot.channels.telegram_runtime.TelegramBackend` on python-telegram-bot."""

    name = "ptb"
    errors = ERRORS

    def __init__(self, token: str, api_url: str, *, request_timeout: float = 60.0) -> None:
        base = api_url.rstrip("/")
        # The sender sends to several chats at once; PTB's default pool holds one connection.
        request = HTTPXRequest(
            connection_pool_size=Limits().concurrency + 4,
            read_timeout=request_timeout,
            connect_timeout=min(10.0, request_timeout),
            pool_timeout=5.0,
        )
        self.application = (
            Application.builder()
            .token(token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .request(request)
            .get_updates_request(HTTPXRequest(read_timeout=90.0, connect_timeout=10.0))
            .updater(None)  # our loop polls: the inbox must commit before Telegram is told
            .build()
        )
        self.application.add_handler(CallbackQueryHandler(_answer_tap))
        self.bot = self.application.bot

    async def start(self) -> None:
        """Initialise the application (getMe) and start it."""
        await self.application.initialize()
        await self.application.start()

    async def stop(self) -> None:
        """Stop and shut down the application."""
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def get_updates(
        self, offset: int | None, poll_seconds: int
    ) -> list[tuple[dict[str, Any], Any]]:
        """One long poll."""
        updates = await self.bot.get_updates(
            offset=offset, timeout=poll_seconds, allowed_updates=list(ALLOWED_UPDATES)
        )
        return [(u.to_dict(), u) for u in updates]

    def parse(self, data: Mapping[str, Any]) -> Any:
        """A webhook body as a PTB ``Update``."""
        return Update.de_json(dict(data), self.bot)

    async def dispatch(self, update: Any) -> None:
        """Run PTB's handlers for the update."""
        await self.application.process_update(update)

    def _keyboard(self, markup: dict[str, Any]) -> InlineKeyboardMarkup:
        """The keyboard as PTB's model."""
        return InlineKeyboardMarkup.de_json(markup, self.bot)

    async def set_commands(
        self,
        commands: Sequence[tuple[str, str]],
        *,
        language_code: str | None,
        chat_id: str | None = None,
    ) -> None:
        """``setMyCommands`` for one language (default scope) or one private chat."""
        scope = (
            BotCommandScopeChat(int(chat_id)) if chat_id is not None else BotCommandScopeDefault()
        )
        await self.bot.set_my_commands(
            [BotCommand(name, text) for name, text in commands],
            scope=scope,
            language_code=language_code,
        )


__all__ = ["PTBBackend"]
