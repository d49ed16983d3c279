"""The aiogram 3 backend: aiogram does HTTP, types and callback answers; the engine the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    CallbackQuery,
    InlineKeyboardMarkup,
    Update,
)
from aiohttp import ClientConnectorError, ServerDisconnectedError
from aiohttp import ConnectionTimeoutError as ConnectTimeout
from pydantic import ValidationError

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


def build_router() -> Router:
    """The only handler aiogram needs: answer a button tap at once (the engine does the rest)."""
    router = Router(name="cm_bot")

    @router.callback_query()
    async def answer_tap(query: CallbackQuery) -> None:
        await query.answer()

    return router


def _undecodable(exc: ClientDecodeError) -> DeliveryError:
    """A Bot API answer that did not parse was still an answer; a gateway's page was not."""
    if isinstance(exc.original, ValidationError):
        return OutcomeUnknown("accepted, but the answer was unreadable")
    return RetryLater("not a Bot API answer (a gateway error page)")


# What a failed aiogram call means for the outbox, first match wins. Only failures that
# certainly happened before Telegram saw the request are retried; a time-out waiting for
# the answer may hide a delivered message.
ERRORS: ErrorTable = (
    on(
        TelegramRetryAfter, then=lambda exc: RetryLater("429 flood control", float(exc.retry_after))
    ),
    on(TelegramForbiddenError, then=always(Unreachable, "403 forbidden")),
    on(
        TelegramMigrateToChat,
        then=always(PermanentFailure, "the group became a supergroup (new chat id)"),
    ),
    on(
        TelegramBadRequest,
        TelegramEntityTooLarge,
        then=lambda exc: PermanentFailure(f"bad request: {exc.message[:80]}"),
    ),
    on(TelegramServerError, then=always(RetryLater, "server error")),
    on(
        TelegramUnauthorizedError,
        TelegramNotFound,
        then=lambda _exc: RetryLater("the Bot API refused the token", TOKEN_REFUSED_BACKOFF),
    ),
    on(
        TelegramNetworkError,
        then=by_cause(
            (
                on(
                    ClientConnectorError,
                    ConnectTimeout,
                    then=always(RetryLater, "could not connect"),
                ),
                on(
                    ServerDisconnectedError,
                    then=always(RetryLater, "connection closed before an answer"),
                ),
                on(TimeoutError, then=always(OutcomeUnknown, "read time-out")),
            ),
            otherwise=always(OutcomeUnknown, "connection broke while waiting for the answer"),
        ),
    ),
    on(ClientDecodeError, then=_undecodable),
    on(TelegramAPIError, then=always(RetryLater, "unexpected Bot API error")),
)


def _delivery_error(exc: Exception) -> DeliveryError | None:
    """What a failed aiogram call means for the outbox (``None``: not a Bot API failure)."""
    return classify(ERRORS, exc)


class AiogramBackend(BotAPIMessages[Bot]):
    """:class:`~cm_bot.channels.telegram_runtime.TelegramBackend` on aiogram."""

    name = "aiogram"
    errors = ERRORS

    def __init__(self, token: str, api_url: str, *, request_timeout: float = 60.0) -> None:
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(api_url.rstrip("/")), timeout=request_timeout
        )
        self.bot = Bot(token, session=session)
        # Conversation state lives in our database, not in aiogram's FSM.
        self.dispatcher = Dispatcher(disable_fsm=True)
        self.dispatcher.include_router(build_router())

    async def start(self) -> None:
        """Nothing to open: aiogram's session opens on the first request."""

    async def stop(self) -> None:
        """Close the HTTP session."""
        await self.bot.session.close()

    async def get_updates(
        self, offset: int | None, poll_seconds: int
    ) -> list[tuple[dict[str, Any], Any]]:
        """One long poll."""
        updates = await self.bot.get_updates(
            offset=offset,
            timeout=poll_seconds,
            allowed_updates=list(ALLOWED_UPDATES),
            request_timeout=poll_seconds + 10,
        )
        return [(self._json(u), u) for u in updates]

    @staticmethod
    def _json(update: Update) -> dict[str, Any]:
        return update.model_dump(mode="json", exclude_none=True, by_alias=True)

    def parse(self, data: Mapping[str, Any]) -> Any:
        """A webhook body as an aiogram ``Update``."""
        return Update.model_validate(dict(data), context={"bot": self.bot})

    async def dispatch(self, update: Any) -> None:
        """Feed the update through aiogram's dispatcher."""
        await self.dispatcher.feed_update(self.bot, update)

    def _keyboard(self, markup: dict[str, Any]) -> InlineKeyboardMarkup:
        """The keyboard as aiogram's model."""
        return InlineKeyboardMarkup.model_validate(markup)

    async def set_commands(
        self,
        commands: Sequence[tuple[str, str]],
        *,
        language_code: str | None,
        chat_id: str | None = None,
    ) -> None:
        """``setMyCommands`` for one language (default scope) or one private chat."""
        scope = (
            BotCommandScopeChat(chat_id=int(chat_id))
            if chat_id is not None
            else BotCommandScopeDefault()
        )
        await self.bot.set_my_commands(
            [BotCommand(command=name, description=text) for name, text in commands],
            scope=scope,
            language_code=language_code,
        )


__all__ = ["AiogramBackend", "build_router"]
