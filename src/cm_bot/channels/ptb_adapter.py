"""The python-telegram-bot backend: PTB does HTTP, types and callback answers; the engine the rest.

PTB's ``Updater`` confirms updates before they are handled, so polling is driven
by :class:`~cm_bot.channels.telegram_runtime.TelegramRuntime` through
``Bot.get_updates`` and each recorded update goes through ``Application.process_update``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, CallbackQueryHandler, ContextTypes
from telegram.request import HTTPXRequest

from cm_bot.channels.telegram_codec import ALLOWED_UPDATES, keyboard, split_text
from cm_bot.domain import Outbound
from cm_bot.notify.sender import OutcomeUnknown, PermanentFailure, RetryLater, Unreachable


async def _answer_tap(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a button tap at once (the engine decides what it means)."""
    if update.callback_query is not None:
        await update.callback_query.answer()


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns while moving this from int to timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class PTBBackend:
    """:class:`~cm_bot.channels.telegram_runtime.TelegramBackend` on python-telegram-bot."""

    name = "ptb"

    def __init__(self, token: str, api_url: str, *, request_timeout: float = 60.0) -> None:
        base = api_url.rstrip("/")
        self.application = (
            Application.builder()
            .token(token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .request(HTTPXRequest(read_timeout=request_timeout, connect_timeout=10.0))
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

    async def username(self) -> str:
        """The bot's username from getMe."""
        me = await self.bot.get_me()
        return me.username or ""

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

    async def send(self, message: Outbound) -> str:
        """Send (in parts if over 4096 UTF-16 units; buttons go on the last part)."""
        markup = keyboard(message.buttons)
        parts = split_text(message.text)
        last_id = ""
        for index, part in enumerate(parts):
            reply_markup = (
                InlineKeyboardMarkup.de_json(markup, self.bot)
                if markup and index == len(parts) - 1
                else None
            )
            try:
                sent = await self.bot.send_message(
                    chat_id=int(message.chat_id), text=part, reply_markup=reply_markup
                )
            except RetryAfter as exc:
                raise RetryLater("429 flood control", _retry_after(exc)) from None
            except Forbidden:
                raise Unreachable("403 forbidden") from None
            except TimedOut:
                raise OutcomeUnknown("time-out") from None
            except BadRequest as exc:
                raise PermanentFailure(f"bad request: {exc.message[:80]}") from None
            except NetworkError:
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


__all__ = ["PTBBackend"]
