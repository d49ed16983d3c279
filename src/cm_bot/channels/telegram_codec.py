"""Telegram updates (as Bot API JSON) to :class:`~cm_bot.domain.Inbound`, and keyboards back.

Both adapters hand this module the update as the plain JSON dict Telegram sent
(aiogram's ``model_dump``, PTB's ``to_dict``), so aiogram and python-telegram-bot
turn the same update into the same event by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from cm_bot.domain import Button, Inbound, InboundKind, Outbound
from cm_bot.domain.text import utf16_length

CHANNEL = "telegram"
MAX_CALLBACK_DATA = 64  # bytes, Telegram's limit
MEDIA_FIELDS = (
    "sticker",
    "photo",
    "voice",
    "video",
    "video_note",
    "animation",
    "audio",
    "document",
    "dice",
    "poll",
    "location",
    "venue",
    "contact",
    "game",
    "story",
    "invoice",
)
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
MAX_TEXT_UNITS = 4096  # sendMessage's limit, counted here in UTF-16 units (valid either way)
TOKEN_REFUSED_BACKOFF = 60.0  # 401/404: a deployment problem, not the message's; keep it queued


def not_modified(error: str) -> bool:
    """Telegram's answer to an edit that changes nothing: the message already says it."""
    return "not modified" in error.casefold()


def _when(value: object) -> datetime:
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):  # a forged date beyond any calendar
            return datetime.now(UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _person(sender: Mapping[str, Any] | None) -> tuple[str, bool, str | None]:
    sender = sender or {}
    return str(sender.get("id", "")), bool(sender.get("is_bot", False)), sender.get("language_code")


def ignorable(inbound: Inbound) -> bool:
    """An update nobody needs to see (unknown type, a group that removed us): just confirm it."""
    return inbound.kind is InboundKind.OTHER and not inbound.chat_id


def decode(update: Mapping[str, Any]) -> Inbound:
    """Turn one Bot API update into an :class:`Inbound`; unknown shapes become ``OTHER``.

    Never raises: an update this bot cannot read becomes an ignorable ``OTHER``
    rather than an error that would make Telegram send it again and again.

    The external id combines ``update_id`` with the inner message or callback id:
    Telegram may restart ``update_id`` at a random value after a quiet week, and a
    bare id could then collide with one seen long ago.
    """
    try:
        return _decode(update)
    except (AttributeError, TypeError, ValueError):
        return _other(update.get("update_id", "") if isinstance(update, Mapping) else "")


def _other(update_id: object) -> Inbound:
    return Inbound(
        channel=CHANNEL,
        external_id=f"{update_id}:o",
        user_id="",
        chat_id="",
        chat_type="unknown",
        kind=InboundKind.OTHER,
    )


def _decode(update: Mapping[str, Any]) -> Inbound:
    update_id = update.get("update_id", "")
    if message := update.get("message"):
        return _message(update_id, message, InboundKind.TEXT)
    if message := update.get("edited_message"):
        return _message(update_id, message, InboundKind.EDITED)
    if query := update.get("callback_query"):
        user, is_bot, language = _person(query.get("from"))
        chat = (query.get("message") or {}).get("chat") or {}
        return Inbound(
            channel=CHANNEL,
            external_id=f"{update_id}:c{query.get('id', '')}",
            user_id=user,
            chat_id=str(chat.get("id", user)),
            chat_type=str(chat.get("type", "private")),
            kind=InboundKind.BUTTON,
            payload=str(query.get("data") or "")[:MAX_CALLBACK_DATA],
            language=language,
            is_bot=is_bot,
        )
    if member := update.get("my_chat_member"):
        user, is_bot, language = _person(member.get("from"))
        chat = member.get("chat") or {}
        status = str((member.get("new_chat_member") or {}).get("status"))
        private = chat.get("type", "private") == "private"
        if not private and status in ("kicked", "left"):
            return _other(update_id)  # removed from a group: nobody there to answer
        kind = {"kicked": InboundKind.BLOCKED, "member": InboundKind.UNBLOCKED}.get(
            status, InboundKind.OTHER
        )
        return Inbound(
            channel=CHANNEL,
            external_id=f"{update_id}:s{member.get('date', '')}",
            user_id=user,
            chat_id=str(chat.get("id", user)),
            chat_type=str(chat.get("type", "private")),
            kind=kind if private else InboundKind.OTHER,
            is_bot=is_bot,
            received_at=_when(member.get("date")),
        )
    return _other(update_id)


def _message(update_id: object, message: Mapping[str, Any], kind: InboundKind) -> Inbound:
    user, is_bot, language = _person(message.get("from"))
    chat = message.get("chat") or {}
    text = message.get("text")
    caption = message.get("caption")
    if kind is InboundKind.TEXT:
        if (
            message.get("forward_origin")
            or message.get("forward_from")
            or message.get("forward_date")
        ):
            kind = InboundKind.FORWARDED
        elif text is None:
            # Photos with captions too: a caption is not taken as an answer (B-02).
            kind = (
                InboundKind.MEDIA
                if any(f in message for f in MEDIA_FIELDS) or message.get("caption") is not None
                else InboundKind.OTHER
            )
    if message.get("sender_chat") and not user:
        is_bot = True  # anonymous group admins and channels speak as a chat, not a person
    return Inbound(
        channel=CHANNEL,
        external_id=f"{update_id}:m{message.get('message_id', '')}",
        user_id=user or str((message.get("sender_chat") or {}).get("id", "")),
        chat_id=str(chat.get("id", user)),
        chat_type=str(chat.get("type", "private")),
        kind=kind,
        # A caption is never an answer (B-02), but it is read for words of crisis (B-23).
        text=text if kind in (InboundKind.TEXT, InboundKind.EDITED) else _caption(kind, caption),
        language=language,
        is_bot=is_bot,
        received_at=_when(message.get("edit_date") or message.get("date")),
        message_id=_message_id(message),
    )


def _message_id(message: Mapping[str, Any]) -> str | None:
    """The person's message id in its chat, kept so ``/clear`` can delete it."""
    value = message.get("message_id")
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _caption(kind: InboundKind, caption: object) -> str | None:
    return caption if kind is InboundKind.MEDIA and isinstance(caption, str) else None


def keyboard(buttons: tuple[tuple[Button, ...], ...]) -> dict[str, Any] | None:
    """Buttons as a Bot API ``InlineKeyboardMarkup`` dict (``None`` when there are none)."""
    if not buttons:
        return None
    for row in buttons:
        for button in row:
            if len(button.payload.encode()) > MAX_CALLBACK_DATA:
                raise ValueError("callback data longer than Telegram's 64 bytes")
    return {
        "inline_keyboard": [
            [{"text": b.label, "callback_data": b.payload} for b in row] for row in buttons
        ]
    }


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Split text into parts of at most ``limit`` UTF-16 units, on line or word boundaries.

    Telegram counts UTF-16 units, so an emoji is two; a cut never splits one.
    Whitespace at a cut is dropped (Telegram would trim it anyway), and no part is
    empty unless the whole text is.
    """
    parts: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        cut = _fit(rest, limit)
        window = rest[:cut]
        boundary = max(window.rfind("\n"), window.rfind(" "))
        if boundary > cut // 2:
            cut = boundary
        part = rest[:cut].rstrip()
        if part:
            parts.append(part)
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def split_message(message: Outbound) -> list[Outbound]:
    """The message as ``sendMessage`` calls: text split to fit, buttons on the last part."""
    texts = split_text(message.text)
    if len(texts) == 1:
        return [message]
    last = len(texts) - 1
    return [
        replace(message, text=text, buttons=message.buttons if index == last else ())
        for index, text in enumerate(texts)
    ]


def _fit(text: str, limit: int) -> int:
    """The longest prefix (in code points) whose UTF-16 length is within ``limit``."""
    total = 0
    for index, char in enumerate(text):
        total += 2 if ord(char) > 0xFFFF else 1
        if total > limit:
            return index
    return len(text)


__all__ = [
    "ALLOWED_UPDATES",
    "CHANNEL",
    "MAX_TEXT_UNITS",
    "TOKEN_REFUSED_BACKOFF",
    "decode",
    "ignorable",
    "keyboard",
    "not_modified",
    "split_message",
    "split_text",
]
