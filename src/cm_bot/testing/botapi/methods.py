"""The Bot API methods the emulator implements, each checked the way Telegram checks it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from cm_bot.testing.botapi.errors import (
    ERR_EDIT_NOT_FOUND,
    ERR_NOT_MODIFIED,
    ERR_OTHER_POLLER,
    ERR_QUERY_INVALID,
    ERR_SET_WEBHOOK,
    ERR_WEBHOOK_ACTIVE,
    ApiError,
    Result,
)
from cm_bot.testing.botapi.faults import FaultPlan
from cm_bot.testing.botapi.limits import RateLimiter
from cm_bot.testing.botapi.markup import check_markup, check_text, inline_only
from cm_bot.testing.botapi.params import param_bool, param_float, param_int, param_str
from cm_bot.testing.botapi.records import (
    MAX_COMMAND_DESCRIPTION,
    Deletion,
    JSONDict,
    Records,
    SentMessage,
)
from cm_bot.testing.botapi.signals import Signals
from cm_bot.testing.botapi.state import UpdateQueue, World
from cm_bot.testing.botapi.webhook import Webhook, WebhookDelivery

Handler = Callable[[JSONDict], Awaitable[Any]]

# Methods that address a chat and therefore fail with 403 once the chat blocked the bot.
_CHAT_METHODS: Final = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "sendChatAction",
        "deleteMessages",
    }
)
DELETABLE_FOR: Final = 48 * 3600  # seconds a bot may delete a message after it was sent
MAX_DELETE_IDS: Final = 100

_CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_BOT_COMMAND_RE: Final = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class BotMethods:
    """Runs Bot API requests against the emulator's state: blocks, flood limits, then the method."""

    def __init__(
        self,
        *,
        world: World,
        queue: UpdateQueue,
        webhook: WebhookDelivery,
        faults: FaultPlan,
        limiter: RateLimiter,
        records: Records,
        signals: Signals,
    ) -> None:
        self._world = world
        self._queue = queue
        self._webhook = webhook
        self._faults = faults
        self._limiter = limiter
        self._records = records
        self._signals = signals
        self._table: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessages": self._delete_messages,
                "answerCallbackQuery": self._answer_callback_query,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "getMyCommands": self._get_my_commands,
                "sendChatAction": self._send_chat_action,
                "leaveChat": self._leave_chat,
                "close": self._close,
                "logOut": self._log_out,
            }.items()
        }

    def name_of(self, method: str) -> str | None:
        """The canonical name of a method, matched case-insensitively as Telegram does."""
        entry = self._table.get(method.lower())
        return entry[0] if entry else None

    def canonical(self, method: str) -> str:
        """The canonical name of a method a test names, or ``"*"`` for any.

        Raises:
            ValueError: The emulator does not implement such a method.
        """
        if method == "*":
            return method
        name = self.name_of(method)
        if name is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        return name

    async def run(self, name: str, params: JSONDict) -> tuple[int, JSONDict]:
        """Process one request fully; returns the HTTP status and Telegram's answer."""
        try:
            if name in _CHAT_METHODS:
                chat_id = param_int(params, "chat_id")
                if chat_id is not None and chat_id in self._faults.blocked:
                    raise ApiError(403, self._faults.blocked[chat_id])
                if chat_id is not None:
                    self._limiter.check(name, chat_id)
            result = await self._table[name.lower()][1](params)
            if name in _CHAT_METHODS:
                self._limiter.count(name, param_int(params, "chat_id"))
        except ApiError as exc:
            status, payload = exc.status, exc.payload()
        else:
            status = 200
            if isinstance(result, Result):
                payload = {"ok": True, "result": result.value, "description": result.description}
            else:
                payload = {"ok": True, "result": result}
        self._records.log_call(name, params, status)
        return status, payload

    async def run_reply(self, method: str, params: JSONDict) -> None:
        """Run a method a webhook response returned; unknown methods are ignored."""
        name = self.name_of(method)
        if name is not None:
            self._records.calls[name] += 1
            await self.run(name, params)

    # ------------------------------------------------------------------ polling and webhooks

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self._world.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        queue = self._queue
        if self._webhook.hook is not None:
            raise ApiError(409, ERR_WEBHOOK_ACTIVE)
        offset = param_int(params, "offset")
        limit = min(max(param_int(params, "limit") or 100, 1), 100)
        timeout = max(param_float(params, "timeout") or 0.0, 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            queue.allowed_updates = [str(kind) for kind in allowed]
        queue.confirm(offset)
        # A newer getUpdates terminates an older one still waiting, as on Telegram.
        queue.poll_generation += 1
        generation = queue.poll_generation
        self._signals.updates_changed()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = queue.entries[:limit]
            if batch or self._signals.closing.is_set():
                for entry in batch:
                    entry.delivered = True
                return [entry.update for entry in batch]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = self._signals.updates
            queue.polls_waiting += 1
            self._signals.state_changed()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=remaining)
            finally:
                queue.polls_waiting -= 1
                self._signals.state_changed()
            if generation != queue.poll_generation:
                raise ApiError(409, ERR_OTHER_POLLER)
            if self._webhook.hook is not None:
                raise ApiError(409, ERR_SET_WEBHOOK)

    async def _set_webhook(self, params: JSONDict) -> Result:
        url = param_str(params, "url") or ""
        if not url:
            return await self._delete_webhook(params)
        if not url.startswith(("http://", "https://")):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = param_str(params, "secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._queue.allowed_updates = [str(kind) for kind in allowed]
        if param_bool(params, "drop_pending_updates"):
            self._queue.clear()
        max_connections = param_int(params, "max_connections") or 40
        old = self._webhook.hook
        if old is not None and old.url == url and old.secret_token == secret:
            return Result(True, "Webhook is already set")
        await self._webhook.replace(
            Webhook(url=url, secret_token=secret, max_connections=max_connections)
        )
        self._signals.updates_changed()
        return Result(True, "Webhook was set")

    async def _delete_webhook(self, params: JSONDict) -> Result:
        if param_bool(params, "drop_pending_updates"):
            self._queue.clear()
            self._signals.state_changed()
        if self._webhook.hook is None:
            return Result(True, "Webhook is already deleted")
        await self._webhook.remove()
        return Result(True, "Webhook was deleted")

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return self._webhook.info

    # ------------------------------------------------------------------ messages

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._require_chat_id(params)
        chat = self._world.chat(chat_id)
        parse_mode = param_str(params, "parse_mode")
        plain = check_text(params, parse_mode)
        markup = check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        message: JSONDict = {
            "message_id": self._world.take_message_id(chat_id),
            "from": dict(self._world.bot_user),
            "chat": chat,
            "date": int(time.time()),
        }
        thread = param_int(params, "message_thread_id")
        if thread is not None:
            message["message_thread_id"] = thread
        if reply_to is not None:
            message["reply_to_message"] = {
                k: v for k, v in reply_to.items() if k != "reply_to_message"
            }
        message["text"] = plain
        if isinstance(params.get("entities"), list):
            message["entities"] = params["entities"]
        if isinstance(params.get("link_preview_options"), dict):
            message["link_preview_options"] = params["link_preview_options"]
        if param_bool(params, "protect_content"):
            message["has_protected_content"] = True
        inline = inline_only(markup)
        if inline is not None:
            message["reply_markup"] = inline
        self._world.messages[(chat_id, int(message["message_id"]))] = message
        self._records.sent.append(self._record("sendMessage", message, params, markup, parse_mode))
        return message

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        parse_mode = param_str(params, "parse_mode")
        plain = check_text(params, parse_mode)
        markup = check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        chat_id, message = self._editable(params)
        if message.get("text") is None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        inline = inline_only(markup)
        if plain == message.get("text") and inline == message.get("reply_markup"):
            raise ApiError(400, ERR_NOT_MODIFIED)
        edited = {k: v for k, v in message.items() if k not in ("reply_markup", "entities")}
        edited |= {"text": plain, "edit_date": int(time.time())}
        if isinstance(params.get("entities"), list):
            edited["entities"] = params["entities"]
        if inline is not None:
            edited["reply_markup"] = inline
        self._world.messages[(chat_id, int(edited["message_id"]))] = edited
        self._records.edits.append(
            self._record("editMessageText", edited, params, markup, parse_mode)
        )
        return edited

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        markup = check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        chat_id, message = self._editable(params)
        inline = inline_only(markup)
        if inline == message.get("reply_markup"):
            raise ApiError(400, ERR_NOT_MODIFIED)
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        edited["edit_date"] = int(time.time())
        if inline is not None:
            edited["reply_markup"] = inline
        self._world.messages[(chat_id, int(edited["message_id"]))] = edited
        self._records.edits.append(
            self._record("editMessageReplyMarkup", edited, params, markup, None)
        )
        return edited

    async def _delete_messages(self, params: JSONDict) -> bool:
        """Telegram's contract: 1-100 ids; those not found (or over 48 h old) are skipped."""
        chat_id = self._require_chat_id(params)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise ApiError(400, "Bad Request: message identifiers are not specified")
        if len(ids) > MAX_DELETE_IDS:
            raise ApiError(400, "Bad Request: too many message identifiers specified")
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ApiError(400, "Bad Request: message identifiers are invalid")
        oldest = time.time() - DELETABLE_FOR
        deleted: list[int] = []
        for message_id in ids:
            message = self._world.messages.get((chat_id, message_id))
            if message is None or float(message.get("date", 0)) < oldest:
                continue
            del self._world.messages[(chat_id, message_id)]
            deleted.append(message_id)
        self._records.deletions.append(
            Deletion(chat_id, tuple(ids), tuple(deleted), self._records.now())
        )
        self._signals.state_changed()
        return True

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = param_str(params, "callback_query_id") or ""
        answers = self._records.callback_answers
        if query_id not in self._world.callback_queries or query_id in answers:
            raise ApiError(400, ERR_QUERY_INVALID)
        answers[query_id] = {
            "text": param_str(params, "text"),
            "show_alert": param_bool(params, "show_alert"),
            "url": param_str(params, "url"),
            "cache_time": param_int(params, "cache_time"),
            "params": dict(params),
        }
        self._signals.state_changed()
        return True

    # ------------------------------------------------------------------ commands and chats

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, 'Bad Request: parameter "commands" is required')
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            if not isinstance(name, str) or not _BOT_COMMAND_RE.match(name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not description.strip():
                raise ApiError(400, "Bad Request: command description must be non-empty")
            if len(description) > MAX_COMMAND_DESCRIPTION:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._world.menu_key(params.get("scope"), params.get("language_code"))
        self._world.menus[key] = [dict(command) for command in commands]
        return True

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self._world.menus.pop(
            self._world.menu_key(params.get("scope"), params.get("language_code")), None
        )
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self._world.menu(params.get("scope"), param_str(params, "language_code") or "")

    async def _send_chat_action(self, params: JSONDict) -> bool:
        chat_id = self._require_chat_id(params)
        self._world.chat(chat_id)
        action = param_str(params, "action")
        if action not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self._records.chat_actions.append((chat_id, action))
        return True

    async def _leave_chat(self, params: JSONDict) -> bool:
        self._require_chat_id(params)
        return True

    async def _close(self, params: JSONDict) -> bool:
        return True

    async def _log_out(self, params: JSONDict) -> bool:
        return True

    # ------------------------------------------------------------------ helpers

    def _require_chat_id(self, params: JSONDict) -> int:
        chat_id = param_int(params, "chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        return chat_id

    def _reply_target(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        allow_missing = param_bool(params, "allow_sending_without_reply")
        if isinstance(reply, dict):
            target = param_int(reply, "message_id")
            target_chat = param_int(reply, "chat_id") or chat_id
            allow_missing = allow_missing or param_bool(reply, "allow_sending_without_reply")
        else:
            target = param_int(params, "reply_to_message_id")
            target_chat = chat_id
        if target is None:
            return None
        message = self._world.messages.get((target_chat, target))
        if message is None and not allow_missing:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return message

    def _editable(self, params: JSONDict) -> tuple[int, JSONDict]:
        chat_id = self._require_chat_id(params)
        message_id = param_int(params, "message_id")
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = self._world.messages.get((chat_id, message_id))
        if message is None:
            raise ApiError(400, ERR_EDIT_NOT_FOUND)
        if message.get("from", {}).get("id") != self._world.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat_id, message

    def _record(
        self,
        method: str,
        message: JSONDict,
        params: JSONDict,
        markup: JSONDict | None,
        parse_mode: str | None,
    ) -> SentMessage:
        self._signals.state_changed()
        return SentMessage(
            method=method,
            chat_id=int(message["chat"]["id"]),
            message_id=int(message["message_id"]),
            text=param_str(params, "text"),
            reply_markup=markup,
            parse_mode=parse_mode,
            time=self._records.now(),
            params=dict(params),
        )
