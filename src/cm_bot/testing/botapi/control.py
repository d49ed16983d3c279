"""The ``/_test/...`` endpoints: the test side's API as JSON, for bots in other processes."""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from cm_bot.testing.botapi.records import JSONDict

if TYPE_CHECKING:
    from cm_bot.testing.botapi.api import FakeBotAPI

CONTROL_HELP: Final = """\
/_test/... endpoints (on either port; JSON in, {"ok": ..., "result": ...} out):
  POST message     {"user_id": 2001, "text": "/start TOKEN"}   a user writes to the bot
  POST callback    {"user_id", "message_id", "data"}           a user taps an inline button
                   ("data" is its callback_data, as GET sent shows it), or
                   {"user_id": 1001, "button": "Acknowledge"}  the newest button with that label
  GET  sent        [?chat_id=N]                    messages the bot sent, oldest first
  GET  wait_sent   ?chat_id=N&count=K&timeout=S    ... once there are at least K (else 408)
  GET  edits       [?chat_id=N]                    messages the bot edited, oldest first
  GET  wait_edits  ?chat_id=N&count=K&timeout=S    ... once there are at least K (else 408)
  GET  callback_answers, calls, updates, faults, webhook;  POST update, my_chat_member,
  faults, reset;  DELETE faults  (see FakeBotAPI)
"""


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return value


def _test_answer(payload: JSONDict, status: int = 200) -> web.Response:
    """A ``/_test`` answer: JSON ending in a newline, so ``curl`` output ends its line."""
    return web.json_response(
        payload, status=status, dumps=lambda data: json.dumps(data, ensure_ascii=False) + "\n"
    )


class ControlEndpoint:
    """Maps ``/_test/<action>`` requests onto the emulator's public methods."""

    def __init__(self, api: FakeBotAPI) -> None:
        self._api = api

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one ``/_test`` request (404 unknown, 408 timed out, 400 bad arguments)."""
        action = request.match_info["action"]
        try:
            body: Any = {}
            if request.body_exists:
                raw = await request.read()
                body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            result = await self._action(request.method, action, body, request.query)
        except LookupError as exc:
            return _test_answer({"ok": False, "description": str(exc)}, 404)
        except TimeoutError as exc:
            return _test_answer({"ok": False, "description": str(exc)}, 408)
        except (TypeError, ValueError) as exc:
            return _test_answer({"ok": False, "description": str(exc)}, 400)
        return _test_answer({"ok": True, "result": _jsonable(result)})

    async def _action(
        self, verb: str, action: str, body: JSONDict, query: Mapping[str, str]
    ) -> Any:
        api = self._api
        chat_id = int(query["chat_id"]) if "chat_id" in query else None
        route = (verb, action)
        if route == ("POST", "message"):
            return await api.post_message(**body)
        if route == ("POST", "update"):
            return await api.post_update(body["update"], force=bool(body.get("force", False)))
        if route == ("POST", "callback"):
            if "button" in body:
                return await api.press_button_labelled(**body)
            return await api.press_button(**body)
        if route == ("POST", "my_chat_member"):
            return await api.post_my_chat_member(**body)
        if route == ("POST", "next_update_id"):
            api.set_next_update_id(int(body["update_id"]))
            return True
        if route == ("GET", "sent"):
            return api.sent if chat_id is None else api.sent_to(chat_id)
        if route == ("GET", "wait_sent"):
            timeout = float(query.get("timeout", "5"))
            return await api.wait_for_sent(
                int(query.get("count", "1")), chat_id=chat_id, timeout=timeout
            )
        if route == ("GET", "edits"):
            return [e for e in api.edits if chat_id is None or e.chat_id == chat_id]
        if route == ("GET", "wait_edits"):
            timeout = float(query.get("timeout", "5"))
            return await api.wait_for_edits(
                int(query.get("count", "1")), chat_id=chat_id, timeout=timeout
            )
        if route == ("GET", "calls"):
            return {
                "calls": dict(api.calls),
                "responses": {str(k): v for k, v in api.responses.items()},
                "rejected_429": api.rejected_429,
            }
        if route == ("GET", "callback_answers"):
            return api.callback_answers
        if route == ("GET", "webhook"):
            return {"info": api.webhook_info, "attempts": api.webhook_attempts}
        if route == ("GET", "updates"):
            return api.pending_updates
        if route == ("GET", "faults"):
            return api.faults_fired
        if route == ("POST", "faults"):
            return await self._fault(body)
        if route == ("DELETE", "faults"):
            api.clear_faults()
            return True
        if route == ("POST", "reset"):
            api.clear_records()
            return True
        raise LookupError(f"no test endpoint {verb} /_test/{action}")

    async def _fault(self, body: JSONDict) -> Any:
        api = self._api
        actions: dict[str, Callable[..., Any]] = {
            "fail_next": api.fail_next,
            "timeout_next": api.timeout_next,
            "drop_connection_next": api.drop_connection_next,
            "fail_ratio": api.fail_ratio,
            "block_chat": api.block_chat,
            "unblock_chat": api.unblock_chat,
            "clear_faults": api.clear_faults,
            "outage": api.outage,
        }
        kwargs = dict(body)
        name = kwargs.pop("action", None)
        if name not in actions:
            raise ValueError(f"action must be one of {sorted(actions)}")
        result = actions[name](**kwargs)
        if inspect.isawaitable(result):
            await result
        return True
