"""Reading request parameters the way Telegram does: query, JSON body or form, loosely typed."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from cm_bot.testing.botapi.errors import ApiError
from cm_bot.testing.botapi.records import JSONDict

# Parameters Telegram expects as JSON-serialised objects when the request is form-encoded.
# Both frameworks send them that way (PTB: RequestParameter.json_value; aiogram:
# BaseSession.prepare_value), so they are decoded before the method sees them.
JSON_FIELDS: Final = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "media",
        "results",
        "permissions",
        "options",
        "message_ids",
        "menu_button",
        "rights",
        "input_message_content",
        "suggested_post_parameters",
    }
)


def param_int(params: Mapping[str, Any], key: str) -> int | None:
    """An integer parameter, accepting what Telegram accepts (``"42"``, ``42.0``, ``true``)."""
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value.strip())
    if key == "chat_id":
        raise ApiError(400, "Bad Request: chat not found")
    raise ApiError(400, f"Bad Request: invalid {key} specified")


def param_float(params: Mapping[str, Any], key: str) -> float | None:
    """A number parameter, from JSON or form text."""
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value.strip())
    raise ApiError(400, f"Bad Request: invalid {key} specified")


def param_bool(params: Mapping[str, Any], key: str) -> bool:
    """A flag parameter; anything unrecognised is false, as on Telegram."""
    value = params.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1"}
    return False


def param_str(params: Mapping[str, Any], key: str) -> str | None:
    """A text parameter (other JSON values as their ``str``)."""
    value = params.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def chat_id_of(params: Mapping[str, Any]) -> int | None:
    """The chat a request addresses, or None (also when ``chat_id`` is malformed)."""
    try:
        return param_int(params, "chat_id")
    except ApiError:
        return None


async def read_params(request: web.Request) -> JSONDict:
    """Every parameter of a Bot API request, with the JSON-encoded ones decoded.

    Raises:
        ApiError: The body or a JSON-encoded parameter does not parse.
    """
    params: JSONDict = dict(request.query)
    if request.body_exists:
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON object") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: can't parse JSON object")
                params.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    content = value.file.read()
                    params[key] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": len(content),
                    }
                elif isinstance(value, bytes):
                    params[key] = value.decode()
                else:
                    params[key] = value
    for key in JSON_FIELDS & params.keys():
        value = params[key]
        if isinstance(value, str) and value:
            try:
                params[key] = json.loads(value)
            except ValueError:
                what = "reply keyboard markup" if key == "reply_markup" else key
                raise ApiError(400, f"Bad Request: can't parse {what} JSON object") from None
    return params
