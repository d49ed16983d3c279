"""Sending, editing and the webhook as both Telegram backends do it, written once.

aiogram and python-telegram-bot make the same ``sendMessage`` (always with
``protect_content``), ``editMessageText``, ``deleteMessages``, ``getMe`` and ``setWebhook``
calls; they differ only in their exceptions and their
keyboard type, which each backend supplies. Neither framework is imported here, so
the rules (plain text, "not modified" is done, pending updates kept) cannot drift
apart between the two.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from cm_bot.channels.telegram_codec import ALLOWED_UPDATES, keyboard, not_modified, split_message
from cm_bot.domain import Outbound
from cm_bot.notify.errors import ErrorTable, PermanentFailure, map_exceptions

T = TypeVar("T")


class SentMessage(Protocol):
    """The one thing read from a framework's ``Message``."""

    @property
    def message_id(self) -> int:
        """Telegram's id for the message in its chat."""


class BotUser(Protocol):
    """The one thing read from a framework's ``User`` (``getMe``)."""

    @property
    def username(self) -> str | None:
        """The bot's @name, without the @."""


class MessageBot(Protocol):
    """The calls of a framework's ``Bot`` that deliver the outbox and set up updates."""

    def get_me(self) -> Awaitable[BotUser]:
        """Bot API ``getMe``."""

    def set_webhook(
        self,
        url: str,
        *,
        secret_token: str | None,
        allowed_updates: list[str],
        drop_pending_updates: bool,
    ) -> Awaitable[bool]:
        """Bot API ``setWebhook``."""

    def delete_webhook(self, *, drop_pending_updates: bool) -> Awaitable[bool]:
        """Bot API ``deleteWebhook``."""

    def send_message(
        self,
        *,
        chat_id: int,
        text: str,
        reply_markup: Any,
        parse_mode: None,
        protect_content: bool,
    ) -> Awaitable[SentMessage]:
        """Bot API ``sendMessage``."""

    def delete_messages(self, *, chat_id: int, message_ids: list[int]) -> Awaitable[bool]:
        """Bot API ``deleteMessages`` (1-100 ids; those it cannot find are skipped)."""

    def edit_message_text(
        self, *, text: str, chat_id: int, message_id: int, reply_markup: Any, parse_mode: None
    ) -> Awaitable[SentMessage | bool]:
        """Bot API ``editMessageText`` (``True`` instead of a message for inline messages)."""


B = TypeVar("B", bound=MessageBot)


class BotAPIMessages(ABC, Generic[B]):
    """``send``, ``edit`` and the webhook of a backend whose ``bot`` is a framework's ``Bot``.

    A backend supplies what differs: :attr:`errors` (its exceptions as outbox
    outcomes, a table for :func:`~cm_bot.notify.errors.classify`) and
    :meth:`_keyboard` (its ``InlineKeyboardMarkup``).
    """

    bot: B
    errors: ClassVar[ErrorTable]

    @abstractmethod
    def _keyboard(self, markup: dict[str, Any]) -> Any:
        """A Bot API ``InlineKeyboardMarkup`` dict as the framework's object."""

    def _markup(self, message: Outbound) -> Any:
        try:
            markup = keyboard(message.buttons)
        except ValueError as exc:
            raise PermanentFailure(str(exc)) from None
        return self._keyboard(markup) if markup else None

    async def _call(self, request: Awaitable[T]) -> T:
        with map_exceptions(self.errors):
            return await request

    async def username(self) -> str:
        """The bot's username from getMe."""
        me = await self.bot.get_me()
        return me.username or ""

    def parts(self, message: Outbound) -> list[Outbound]:
        """The message split to fit ``sendMessage`` (buttons on the last part)."""
        return split_message(message)

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

    async def send(self, message: Outbound) -> str:
        """Send one part as plain text: client text is never parsed as markup.

        Every message is protected (``protect_content``): it cannot be forwarded or saved,
        so it does not travel from a phone someone else may hold.
        """
        sent = await self._call(
            self.bot.send_message(
                chat_id=int(message.chat_id),
                text=message.text,
                reply_markup=self._markup(message),
                parse_mode=None,
                protect_content=True,
            )
        )
        return str(sent.message_id)

    async def delete(self, message: Outbound) -> None:
        """``deleteMessages`` for the row's ids (up to 100); ids it cannot find are skipped."""
        if message.delete_ids:
            await self._call(
                self.bot.delete_messages(
                    chat_id=int(message.chat_id), message_ids=list(message.delete_ids)
                )
            )

    async def edit(self, message: Outbound, external_id: str) -> str:
        """Replace an earlier message's text and buttons ("not modified" counts as done)."""
        try:
            edited = await self._call(
                self.bot.edit_message_text(
                    text=message.text,
                    chat_id=int(message.chat_id),
                    message_id=int(external_id),
                    reply_markup=self._markup(message),
                    parse_mode=None,
                )
            )
        except PermanentFailure as exc:
            if not_modified(str(exc)):
                return external_id
            raise
        return external_id if isinstance(edited, bool) else str(edited.message_id)


__all__ = ["BotAPIMessages", "BotUser", "MessageBot", "SentMessage"]
