"""Checks on what the bot sends: text length, Telegram's HTML subset, ``reply_markup``."""

from __future__ import annotations

import html
import re
from typing import Any, Final

from cm_bot.domain.text import utf16_length
from cm_bot.testing.botapi.errors import ERR_BUTTON_DATA, ERR_TEXT_EMPTY, ERR_TOO_LONG, ApiError
from cm_bot.testing.botapi.params import param_str
from cm_bot.testing.botapi.records import MAX_CALLBACK_DATA_BYTES, MAX_TEXT_LENGTH, JSONDict

_BUTTON_ACTIONS: Final = frozenset(
    {
        "callback_data",
        "url",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)

_HTML_TAGS: Final = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
        "tg-time",
    }
)
_TAG_RE: Final = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")


def plain_text(text: str, parse_mode: str | None) -> str:
    """Return the visible text, rejecting HTML that Telegram's parser rejects."""
    if (parse_mode or "").lower() != "html":
        return text
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:lt])
        offset = len(text[:lt].encode())
        match = _TAG_RE.match(text, lt)
        if match is None:
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: Unclosed start tag at byte offset {offset}",
            )
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in _HTML_TAGS:
            raise ApiError(
                400,
                f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" '
                f"at byte offset {offset}",
            )
        if not closing:
            stack.append(name)
        elif not stack:
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: Unexpected end tag at byte offset {offset}",
            )
        elif stack[-1] != name:
            raise ApiError(
                400,
                f"Bad Request: can't parse entities: Unmatched end tag at byte offset {offset}, "
                f'expected "</{stack[-1]}>", found "</{name}>"',
            )
        else:
            stack.pop()
        pos = match.end()
    if stack:
        raise ApiError(
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1]}"',
        )
    return html.unescape("".join(out))


def check_text(params: JSONDict, parse_mode: str | None) -> str:
    """The visible text of a send or edit, as Telegram stores it (trimmed), once it passes."""
    text = param_str(params, "text")
    if text is None or not text.strip():
        raise ApiError(400, ERR_TEXT_EMPTY)
    # Telegram trims the text it stores and echoes back.
    plain = plain_text(text, parse_mode).strip()
    if not plain:
        raise ApiError(400, ERR_TEXT_EMPTY)
    if utf16_length(plain) > MAX_TEXT_LENGTH:
        raise ApiError(400, ERR_TOO_LONG)
    return plain


def check_markup(markup: Any) -> JSONDict | None:
    """Validate ``reply_markup`` like Telegram does where it is cheap to."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError(400, "Bad Request: can't parse inline keyboard markup JSON object")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: "
                        'Field "text" must be of type String',
                    )
                if not _BUTTON_ACTIONS & button.keys():
                    raise ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard",
                    )
                data = button.get("callback_data")
                if data is not None:
                    size = len(str(data).encode())
                    if size == 0 or size > MAX_CALLBACK_DATA_BYTES:
                        raise ApiError(400, ERR_BUTTON_DATA)
        return markup
    if not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    return markup


def inline_only(markup: JSONDict | None) -> JSONDict | None:
    """Telegram echoes ``reply_markup`` in a Message only for inline keyboards."""
    if markup is not None and "inline_keyboard" in markup:
        return markup
    return None
