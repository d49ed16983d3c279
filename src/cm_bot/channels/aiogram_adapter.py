"""The aiogram 3 backend: aiogram does HTTP, types and callback answers; the engine the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Update

from cm_bot.channels.telegram_codec import ALLOWED_UPDATES, keyboard, split_text
from cm_bot.domain import Outbound
from cm_bot.notify.sender import OutcomeUnknown, PermanentFailure, RetryLater, Unreachable


def build_router() -> Router:
    """The only handler aiogram needs: answer a button tap at once (the engine does the rest)."""
    router = Router(name="cm_bot")

    @router.callback_query()
    async def answer_tap(query: CallbackQuery) -> None:
        await query.answer()

    return router


class AiogramBackend:
    """:class:`~cm_bot.channels.telegram_runtime.TelegramBackend` on aiogram."""

    name = "aiogram"

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

    async def send(self, message: Outbound) -> str:
        """Send (in parts if over 4096 UTF-16 units; buttons go on the last part)."""
        markup = keyboard(message.buttons)
        parts = split_text(message.text)
        last_id = ""
        for index, part in enumerate(parts):
            reply_markup = (
                InlineKeyboardMarkup.model_validate(markup)
                if markup and index == len(parts) - 1
                else None
            )
            try:
                sent = await self.bot.send_message(
                    chat_id=int(message.chat_id),
                    text=part,
                    reply_markup=reply_markup,
                    parse_mode=None,  # client text is never parsed as markup
                )
            except TelegramRetryAfter as exc:
                raise RetryLater("429 flood control", float(exc.retry_after)) from None
            except TelegramForbiddenError:
                raise Unreachable("403 forbidden") from None
            except TelegramServerError as exc:
                raise RetryLater(f"server error {type(exc).__name__}") from None
            except TelegramBadRequest as exc:
                raise PermanentFailure(f"bad request: {exc.message[:80]}") from None
            except TelegramNetworkError as exc:
                if "timeout" in exc.message.lower():
                    raise OutcomeUnknown("read time-out") from None
                raise RetryLater("network error") from None
            last_id = str(sent.message_id)
        return last_id

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


__all__ = ["AiogramBackend", "build_router"]
