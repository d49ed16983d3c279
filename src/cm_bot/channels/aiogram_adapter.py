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
from cm_bot.channels.telegram_codec import ALLOWED_UPDATES, TOKEN_REFUSED_BACKOFF, split_message
from cm_bot.domain import Outbound
from cm_bot.notify.sender import (
    DeliveryError,
    OutcomeUnknown,
    PermanentFailure,
    RetryLater,
    Unreachable,
)


def build_router() -> Router:
    """The only handler aiogram needs: answer a button tap at once (the engine does the rest)."""
    router = Router(name="cm_bot")

    @router.callback_query()
    async def answer_tap(query: CallbackQuery) -> None:
        await query.answer()

    return router


def _delivery_error(exc: Exception) -> DeliveryError | None:
    """What a failed aiogram call means for the outbox (``None``: not a Bot API failure).

    Only failures that certainly happened before Telegram saw the request are
    retried; a time-out waiting for the answer may hide a delivered message.
    """
    if isinstance(exc, TelegramRetryAfter):
        return RetryLater("429 flood control", float(exc.retry_after))
    if isinstance(exc, TelegramForbiddenError):
        return Unreachable("403 forbidden")
    if isinstance(exc, TelegramMigrateToChat):
        return PermanentFailure("the group became a supergroup (new chat id)")
    if isinstance(exc, TelegramBadRequest | TelegramEntityTooLarge):
        return PermanentFailure(f"bad request: {exc.message[:80]}")
    if isinstance(exc, TelegramServerError):
        return RetryLater("server error")
    if isinstance(exc, TelegramUnauthorizedError | TelegramNotFound):
        return RetryLater("the Bot API refused the token", TOKEN_REFUSED_BACKOFF)
    if isinstance(exc, TelegramNetworkError):
        cause = exc.__cause__
        if isinstance(cause, ClientConnectorError | ConnectTimeout):
            return RetryLater("could not connect")
        if isinstance(cause, ServerDisconnectedError):
            return RetryLater("connection closed before an answer")
        if isinstance(cause, TimeoutError):
            return OutcomeUnknown("read time-out")
        return OutcomeUnknown("connection broke while waiting for the answer")
    if isinstance(exc, ClientDecodeError):
        if isinstance(exc.original, ValidationError):
            return OutcomeUnknown("accepted, but the answer was unreadable")
        return RetryLater("not a Bot API answer (a gateway error page)")
    if isinstance(exc, TelegramAPIError):
        return RetryLater("unexpected Bot API error")
    return None


class AiogramBackend(BotAPIMessages[Bot]):
    """:class:`~cm_bot.channels.telegram_runtime.TelegramBackend` on aiogram."""

    name = "aiogram"
    delivery_error = staticmethod(_delivery_error)

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

    async def username(self) -> str:
        """The bot's username from getMe."""
        me = await self.bot.get_me()
        return me.username or ""

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

    def parts(self, message: Outbound) -> list[Outbound]:
        """The message split to fit ``sendMessage`` (buttons on the last part)."""
        return split_message(message)

    def _keyboard(self, markup: dict[str, Any]) -> InlineKeyboardMarkup:
        """The keyboard as aiogram's model."""
        return InlineKeyboardMarkup.model_validate(markup)

    async def set_webhook(self, url: str, secret: str | None) -> None:
        """Register the webhook; pending updates are kept."""
        await self.bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=False,
        )

    async def delete_webhook(self) -> None:
        """Switch to polling; pending updates are kept."""
        await self.bot.delete_webhook(drop_pending_updates=False)

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
