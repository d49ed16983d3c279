"""Sending and editing as both Telegram backends do it, written once.

aiogram and python-telegram-bot make the same ``sendMessage`` and
``editMessageText`` calls; they differ only in their exceptions and their keyboard
type, which each backend supplies. Neither framework is imported here, so the
rules (plain text, "not modified" is done) cannot drift apart between the two.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import Any, Generic, Protocol, TypeVar

from cm_bot.channels.telegram_codec import keyboard, not_modified
from cm_bot.domain import Outbound
from cm_bot.notify.sender import DeliveryError, PermanentFailure

T = TypeVar("T")


class SentMessage(Protocol):
    """The one thing read from a framework's ``Message``."""

    @property
    def message_id(self) -> int:
        """Telegram's id for the message in its chat."""


class MessageBot(Protocol):
    """The two calls of a framework's ``Bot`` that deliver the outbox."""

    def send_message(
        self, *, chat_id: int, text: str, reply_markup: Any, parse_mode: None
    ) -> Awaitable[SentMessage]:
        """Bot API ``sendMessage``."""

    def edit_message_text(
        self, *, text: str, chat_id: int, message_id: int, reply_markup: Any, parse_mode: None
    ) -> Awaitable[SentMessage | bool]:
        """Bot API ``editMessageText`` (``True`` instead of a message for inline messages)."""


B = TypeVar("B", bound=MessageBot)


class BotAPIMessages(ABC, Generic[B]):
    """``send`` and ``edit`` of a backend whose ``bot`` is a framework's ``Bot``.

    A backend supplies what differs: :meth:`delivery_error` (its exceptions as
    outbox outcomes) and :meth:`_keyboard` (its ``InlineKeyboardMarkup``).
    """

    bot: B

    @staticmethod
    @abstractmethod
    def delivery_error(exc: Exception) -> DeliveryError | None:
        """What a failed call means for the outbox (``None``: not a Bot API failure)."""

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
        try:
            return await request
        except Exception as exc:
            error = self.delivery_error(exc)
            if error is None:
                raise
            raise error from None

    async def send(self, message: Outbound) -> str:
        """Send one part as plain text: client text is never parsed as markup."""
        sent = await self._call(
            self.bot.send_message(
                chat_id=int(message.chat_id),
                text=message.text,
                reply_markup=self._markup(message),
                parse_mode=None,
            )
        )
        return str(sent.message_id)

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


__all__ = ["BotAPIMessages", "MessageBot", "SentMessage"]
