"""An in-process emulator of the Telegram Bot API, served over real HTTP.

Tests and benchmarks point the *real* aiogram and python-telegram-bot clients at it
(``TelegramAPIServer.from_base(api.base_url)`` / ``base_url=f"{api.base_url}/bot"``), so
request encoding, response parsing, error mapping and polling loops of both frameworks are
exercised instead of mocked. The test side queues updates (``post_message``,
``press_button``), inspects what the bot sent (``sent``, ``edits``, ``callback_answers``)
and injects the failures that production sees (429 with ``retry_after``, 5xx, 403 blocked,
slow answers, dropped connections, outages, Telegram's own flood limits).

Everything the test side can do is also exposed as JSON under ``/_test/...`` so a bot
running in a subprocess can be driven the same way; ``python -m cm_bot.testing.fake_bot_api``
runs the emulator standalone and prints its URLs as one JSON line.

The emulator validates what is cheap to validate the way Telegram does (empty or too long
text, ``callback_data`` over 64 bytes, malformed HTML, editing a missing or unmodified
message, answering an unknown callback query) because those are the mistakes a bot makes in
production and a permissive fake would hide.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import html
import inspect
import json
import math
import random
import re
import signal
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Literal, Self

import aiohttp
from aiohttp import web

JSONDict = dict[str, Any]
"""A decoded JSON object, as Telegram sends and receives them."""

OutageMode = Literal["json", "html", "refuse"]
"""How an outage looks to the client: JSON 502, nginx's HTML 502 page, or refused sockets."""

DEFAULT_TOKEN: Final = "123456:TEST-token"  # noqa: S105 - a fake token, by design
DEFAULT_USERNAME: Final = "cm_test_bot"
SECRET_TOKEN_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name

FORBIDDEN_BLOCKED: Final = "Forbidden: bot was blocked by the user"
FORBIDDEN_DEACTIVATED: Final = "Forbidden: user is deactivated"
FORBIDDEN_KICKED: Final = "Forbidden: bot was kicked from the group chat"

MAX_TEXT_LENGTH: Final = 4096
MAX_CALLBACK_DATA_BYTES: Final = 64

_ERR_TEXT_EMPTY: Final = "Bad Request: message text is empty"
_ERR_TOO_LONG: Final = "Bad Request: message is too long"
_ERR_BUTTON_DATA: Final = "Bad Request: BUTTON_DATA_INVALID"
_ERR_EDIT_NOT_FOUND: Final = "Bad Request: message to edit not found"
_ERR_NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a content and reply markup of the current message"
)
_ERR_QUERY_INVALID: Final = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_ERR_WEBHOOK_ACTIVE: Final = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_ERR_OTHER_POLLER: Final = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_ERR_SET_WEBHOOK: Final = "Conflict: terminated by setWebhook request"

_NGINX_502: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)

# Parameters Telegram expects as JSON-serialised objects when the request is form-encoded.
# Both frameworks send them that way (PTB: RequestParameter.json_value; aiogram:
# BaseSession.prepare_value), so they are decoded before the method sees them.
_JSON_FIELDS: Final = frozenset(
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

# Update types Telegram leaves out unless they are asked for explicitly.
_OPT_IN_UPDATES: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Methods that address a chat and therefore fail with 403 once the chat blocked the bot.
_CHAT_METHODS: Final = frozenset(
    {"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendChatAction"}
)

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
_COMMAND_RE: Final = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
_BOT_COMMAND_RE: Final = re.compile(r"^[a-z0-9_]{1,32}$")
MAX_COMMAND_DESCRIPTION: Final = 256
_SECRET_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN_RE: Final = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


_CONTENT_KEYS: Final = frozenset(
    {
        "text",
        "entities",
        "caption",
        "caption_entities",
        "sticker",
        "photo",
        "voice",
        "document",
        "location",
        "contact",
        "forward_origin",
    }
)


@dataclass(frozen=True)
class RateLimits:
    """Telegram's documented flood limits, enforced when ``enforce_limits=True``.

    Every limit is a sliding window over the injected clock. A private chat may receive
    ``private_burst`` messages within any ``private_burst / private_per_second`` seconds
    (defaults: 3 messages per 3 s), i.e. a short burst is tolerated but the long-run rate is
    about one message per second, which is what Telegram's FAQ promises. Groups (negative
    chat ids) get ``group_per_minute`` per 60 s and all chats together
    ``global_per_second`` per second. Rejected requests do not count against the windows.

    Attributes:
        global_per_second: Messages per second across all chats.
        private_per_second: Long-run messages per second to one private chat.
        private_burst: Messages a private chat may receive back to back.
        group_per_minute: Messages per minute to one group chat.
        methods: API methods the limits apply to.
    """

    global_per_second: int = 30
    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: int = 20
    methods: frozenset[str] = frozenset({"sendMessage"})


@dataclass(frozen=True)
class SentMessage:
    """A message (or edit) the emulator accepted from the bot.

    Attributes:
        method: API method that produced it (``sendMessage``, ``editMessageText``...).
        chat_id: Chat the message lives in.
        message_id: Telegram's id of the message within the chat.
        text: Text exactly as the bot sent it (HTML tags included).
        reply_markup: Decoded ``reply_markup`` or None.
        parse_mode: ``parse_mode`` as sent, or None.
        time: Emulator clock when it was accepted.
        params: Every decoded request parameter.
    """

    method: str
    chat_id: int
    message_id: int
    text: str | None
    reply_markup: JSONDict | None
    parse_mode: str | None
    time: float
    params: JSONDict


@dataclass(frozen=True)
class FaultRecord:
    """An injected fault that fired, so tests can tell what the bot really experienced.

    Attributes:
        kind: ``error`` (immediate error answer), ``timeout`` (slow answer), ``drop``
            (socket closed without answer) or ``outage``.
        method: API method the fault hit.
        chat_id: Chat the request addressed, if any.
        status: HTTP status answered (None for dropped connections).
        accepted: True when Telegram processed the request although the client saw a
            failure (slow or dropped answer after the message was sent) - the case that
            makes naive retries send duplicates.
        message_id: Id of the message that was nevertheless sent, when accepted.
        time: Emulator clock when the fault fired.
    """

    kind: Literal["error", "timeout", "drop", "outage"]
    method: str
    chat_id: int | None
    status: int | None
    accepted: bool
    message_id: int | None
    time: float


@dataclass(frozen=True)
class WebhookAttempt:
    """One attempt to deliver an update to the webhook.

    Attributes:
        update_id: Update that was posted.
        attempt: 1 for the first try, 2 for the first retry, ...
        status: HTTP status the receiver answered, None on connection errors.
        error: Connection error text, None when the receiver answered.
        time: Emulator clock at the attempt.
    """

    update_id: int
    attempt: int
    status: int | None
    error: str | None
    time: float


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request as the emulator answered it.

    Attributes:
        method: Canonical method name (or the raw name when unknown).
        params: Decoded request parameters.
        status: HTTP status answered.
        time: Emulator clock when it was answered.
    """

    method: str
    params: JSONDict
    status: int
    time: float


class _ApiError(Exception):
    """A Telegram-shaped error answer."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSONDict:
        body: JSONDict = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(frozen=True)
class _Result:
    """A successful result that carries Telegram's optional ``description``."""

    value: Any
    description: str


@dataclass
class _Fault:
    kind: Literal["error", "timeout", "drop"]
    method: str
    chat_id: int | None
    remaining: int | None
    status: int = 500
    description: str | None = None
    retry_after: int | None = None
    seconds: float = 0.0
    accepted: bool = False
    ratio: float | None = None
    statuses: tuple[int, ...] = ()
    rng: random.Random | None = None


@dataclass
class _Queued:
    update: JSONDict
    delivered: bool = False


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


class _SlidingWindow:
    """At most ``limit`` hits within any ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.hits: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        while self.hits and self.hits[0] <= now - self.window:
            self.hits.popleft()
        if len(self.hits) < self.limit:
            return 0.0
        return self.hits[0] + self.window - now

    def hit(self, now: float) -> None:
        self.hits.append(now)


def _default_description(status: int, retry_after: int | None) -> str:
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return f"Too Many Requests: retry after {retry_after}"
    if status == HTTPStatus.FORBIDDEN:
        return FORBIDDEN_BLOCKED
    known = {
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        409: "Conflict",
    }
    if status in known:
        return known[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _is_allowed(kind: str, allowed: Sequence[str] | None) -> bool:
    if not allowed:
        return kind not in _OPT_IN_UPDATES
    return kind in allowed


def _param_int(params: Mapping[str, Any], key: str) -> int | None:
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
        raise _ApiError(400, "Bad Request: chat not found")
    raise _ApiError(400, f"Bad Request: invalid {key} specified")


def _param_float(params: Mapping[str, Any], key: str) -> float | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value.strip())
    raise _ApiError(400, f"Bad Request: invalid {key} specified")


def _param_bool(params: Mapping[str, Any], key: str) -> bool:
    value = params.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1"}
    return False


def _param_str(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _chat_id_of(params: Mapping[str, Any]) -> int | None:
    try:
        return _param_int(params, "chat_id")
    except _ApiError:
        return None


def _plain_text(text: str, parse_mode: str | None) -> str:
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
            raise _ApiError(
                400,
                f"Bad Request: can't parse entities: Unclosed start tag at byte offset {offset}",
            )
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in _HTML_TAGS:
            raise _ApiError(
                400,
                f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" '
                f"at byte offset {offset}",
            )
        if not closing:
            stack.append(name)
        elif not stack:
            raise _ApiError(
                400,
                f"Bad Request: can't parse entities: Unexpected end tag at byte offset {offset}",
            )
        elif stack[-1] != name:
            raise _ApiError(
                400,
                f"Bad Request: can't parse entities: Unmatched end tag at byte offset {offset}, "
                f'expected "</{stack[-1]}>", found "</{name}>"',
            )
        else:
            stack.pop()
        pos = match.end()
    if stack:
        raise _ApiError(
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1]}"',
        )
    return html.unescape("".join(out))


def _check_markup(markup: Any) -> JSONDict | None:
    """Validate ``reply_markup`` like Telegram does where it is cheap to."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _ApiError(400, "Bad Request: can't parse inline keyboard markup JSON object")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: "
                        'Field "text" must be of type String',
                    )
                if not _BUTTON_ACTIONS & button.keys():
                    raise _ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard",
                    )
                data = button.get("callback_data")
                if data is not None:
                    size = len(str(data).encode())
                    if size == 0 or size > MAX_CALLBACK_DATA_BYTES:
                        raise _ApiError(400, _ERR_BUTTON_DATA)
        return markup
    if not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    return markup


def _inline_only(markup: JSONDict | None) -> JSONDict | None:
    """Telegram echoes ``reply_markup`` in a Message only for inline keyboards."""
    if markup is not None and "inline_keyboard" in markup:
        return markup
    return None


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


_Handler = Callable[[JSONDict], Awaitable[Any]]


class FakeBotAPI:
    """A Telegram Bot API server for one bot, running in the test's event loop.

    Methods that touch the network or wait (``start``, ``stop``, ``post_*``,
    ``press_button``, ``wait_*``, ``outage``) are coroutines; pure configuration and
    inspection (``fail_next``, ``block_chat``, ``sent_to``...) is synchronous.

    Example:
        >>> async with FakeBotAPI() as api:  # doctest: +SKIP
        ...     bot = Bot(api.token, session=AiohttpSession(
        ...         api=TelegramAPIServer.from_base(api.base_url)))
        ...     await api.post_message(42, "/start")

    Attributes:
        sent: Every message the bot sent successfully, oldest first.
        edits: Every successful edit, oldest first.
        calls: Requests per canonical method name, counted before any fault or check.
        responses: Answers per HTTP status.
        rejected_429: Requests answered with 429, injected or by the rate limiter.
        callback_answers: ``answerCallbackQuery`` calls keyed by callback query id, as
            ``{"text", "show_alert" (bool), "url", "cache_time", "params" (raw)}``.
        chat_actions: ``(chat_id, action)`` for each accepted ``sendChatAction``.
        faults_fired: Injected faults in the order they fired.
        webhook_attempts: Every webhook delivery attempt.
        filtered_updates: Updates dropped because of ``allowed_updates``.
        api_calls: Every answered Bot API request.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        username: str = DEFAULT_USERNAME,
        first_name: str = "CM Test Bot",
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int = 0,
        enforce_limits: bool = False,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        webhook_retry_delay: float = 0.05,
        webhook_max_attempts: int = 5,
        webhook_timeout: float = 5.0,
        strict_chats: bool = False,
        first_update_id: int = 1,
    ) -> None:
        """Configure the emulator; nothing is bound until :meth:`start`.

        Args:
            token: Bot token the clients must use; the part before ``:`` is the bot id.
            username: Username ``getMe`` reports.
            first_name: First name ``getMe`` reports.
            host: Interface to bind.
            port: Port for the Bot API (0 picks a free one).
            control_port: Port of the second ``/_test`` endpoint (0 picks a free one).
            enforce_limits: Answer 429 when Telegram's flood limits are exceeded.
            limits: The limits to enforce (defaults to :class:`RateLimits`).
            clock: Monotonic clock for rate limits and records; inject one for determinism.
            webhook_retry_delay: First back-off between webhook attempts; doubles each retry.
            webhook_max_attempts: Attempts per update before it is given up.
            webhook_timeout: Seconds to wait for the webhook receiver per attempt.
            strict_chats: Answer "chat not found" for chats no update introduced.
            first_update_id: Id of the first queued update.

        Raises:
            ValueError: The token does not look like a Telegram token.
        """
        if not _TOKEN_RE.match(token):
            raise ValueError(f"not a Telegram-shaped token: {token!r}")
        self._token = token
        self._bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self._host = host
        self._requested_port = port
        self._requested_control_port = control_port
        self._port: int | None = None
        self._control_port: int | None = None
        self._clock = clock
        self._limits = limits or RateLimits()
        self._enforce_limits = enforce_limits
        self._webhook_retry_delay = webhook_retry_delay
        self._webhook_max_attempts = max(1, webhook_max_attempts)
        self._webhook_timeout = webhook_timeout
        self._strict_chats = strict_chats

        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.calls: Counter[str] = Counter()
        self.responses: Counter[int] = Counter()
        self.rejected_429 = 0
        self.callback_answers: dict[str, JSONDict] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.faults_fired: list[FaultRecord] = []
        self.webhook_attempts: list[WebhookAttempt] = []
        self.filtered_updates: list[JSONDict] = []
        self.api_calls: list[ApiCall] = []

        self._queue: list[_Queued] = []
        self._next_update_id = first_update_id
        self._allowed_updates: list[str] | None = None
        self._webhook: _Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._poll_generation = 0
        self._polls_waiting = 0

        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int, JSONDict] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._last_message_id: dict[int, int] = {}
        self._callback_queries: dict[str, JSONDict] = {}
        self._next_callback_id = 1
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}

        self._faults: list[_Fault] = []
        self._blocked: dict[int, str] = {}
        self._outage: OutageMode | None = None
        self._global_window = _SlidingWindow(self._limits.global_per_second, 1.0)
        self._chat_windows: dict[int, _SlidingWindow] = {}

        self._updates_event = asyncio.Event()
        self._state_event = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._control_site: web.TCPSite | None = None
        self._http: aiohttp.ClientSession | None = None

        self._methods: dict[str, tuple[str, _Handler]] = {
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

    # ------------------------------------------------------------------ lifecycle

    @property
    def token(self) -> str:
        """The bot token clients must put in the URL."""
        return self._token

    @property
    def bot_id(self) -> int:
        """The bot's user id (the token's numeric prefix)."""
        return int(self._bot_user["id"])

    @property
    def bot_user(self) -> JSONDict:
        """The bot as a Telegram ``User`` object (``from`` of every sent message)."""
        return dict(self._bot_user)

    @property
    def port(self) -> int:
        """Port of the Bot API endpoint.

        Raises:
            RuntimeError: The emulator is not started.
        """
        if self._port is None:
            raise RuntimeError("FakeBotAPI is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port``; aiogram takes it as is, PTB wants ``base_url + "/bot"``."""
        return f"http://{self._host}:{self.port}"

    @property
    def control_url(self) -> str:
        """A second endpoint serving ``/_test/...`` that stays up during refused-connection outages.

        Raises:
            RuntimeError: The emulator is not started.
        """
        if self._control_port is None:
            raise RuntimeError("FakeBotAPI is not started")
        return f"http://{self._host}:{self._control_port}"

    async def start(self) -> None:
        """Bind the Bot API and control endpoints (on free ports unless given)."""
        if self._runner is not None:
            return
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/_test/{action}", self._handle_test)
        # handler_cancellation: a client that gives up (timeout, stop_polling) cancels the
        # handler, like Telegram forgetting an abandoned long poll.
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner
        self._site = web.TCPSite(runner, self._host, self._requested_port)
        await self._site.start()
        self._port = self._site.port
        self._control_site = web.TCPSite(runner, self._host, self._requested_control_port)
        await self._control_site.start()
        self._control_port = self._control_site.port
        self._http = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Answer pending long polls, stop webhook delivery and close every socket."""
        self._closing.set()
        self._notify_updates()
        self._notify_state()
        await self._stop_webhook_worker()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._site = self._control_site = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ incoming updates

    def set_next_update_id(self, update_id: int) -> None:
        """Make the next queued update use ``update_id`` (lower ids emulate Telegram's reset)."""
        self._next_update_id = update_id

    @property
    def polls_waiting(self) -> int:
        """Number of getUpdates requests long-polling right now (the bot is idle, listening)."""
        return self._polls_waiting

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed, in delivery order."""
        return [entry.update for entry in self._queue]

    async def post_update(self, update: Mapping[str, Any], *, force: bool = False) -> JSONDict:
        """Queue an arbitrary update, e.g. a type neither framework knows.

        Args:
            update: The update body; an explicit ``update_id`` is kept, otherwise the next
                id is assigned.
            force: Queue even if the current ``allowed_updates`` exclude its type.

        Returns:
            The update as queued.
        """
        body = dict(update)
        if "update_id" not in body:
            body = {"update_id": self._take_update_id(), **body}
        return self._enqueue(body, force=force)

    async def post_message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        chat_type: Literal["private", "group", "supergroup", "channel"] = "private",
        language_code: str | None = "en",
        username: str | None = None,
        first_name: str = "Test",
        sticker: bool = False,
        photo: bool = False,
        caption: str | None = None,
        voice: bool = False,
        document: bool = False,
        location: bool | tuple[float, float] = False,
        contact: str | Mapping[str, Any] | None = None,
        forward_from: int | Mapping[str, Any] | None = None,
        edited_of: int | None = None,
    ) -> JSONDict:
        """Queue a message from a user, as Telegram would deliver it to the bot.

        A leading ``/command`` gets its ``bot_command`` entity, as Telegram adds it.

        Args:
            user_id: Sender's user id (also the chat id of a private chat).
            text: Message text.
            chat_id: Chat id; defaults to ``user_id`` for private chats, ``-user_id`` for
                groups and ``-100<user_id>`` for supergroups and channels.
            chat_type: Telegram chat type.
            language_code: Sender's client language (None to omit it).
            username: Sender's username.
            first_name: Sender's first name.
            sticker: Attach a sticker.
            photo: Attach a photo.
            caption: Caption for media.
            voice: Attach a voice note.
            document: Attach a document.
            location: Attach a location (True for a default point, or ``(lat, lon)``).
            contact: Share a contact (a phone number, or a Contact object).
            forward_from: Mark as forwarded (original sender's user id, or a MessageOrigin).
            edited_of: Send an ``edited_message`` for this earlier message id instead.

        Returns:
            The update as queued.

        Raises:
            ValueError: No content was given.
            LookupError: ``edited_of`` names an unknown message.
        """
        user = self._remember_user(
            user_id, first_name=first_name, username=username, language_code=language_code
        )
        chat = self._chat_for(user, chat_id, chat_type)
        content: JSONDict = {}
        if text is not None:
            content["text"] = text
            command = _COMMAND_RE.match(text)
            if command:
                content["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": _utf16_len(command.group())}
                ]
        n = self._next_update_id
        if sticker:
            content["sticker"] = {
                "file_id": f"CAACAgIAAxkBAAI{n}",
                "file_unique_id": f"AgAD{n}st",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "👍",
            }
        if photo:
            content["photo"] = [
                {
                    "file_id": f"AgACAgIAAxkBAAI{n}{size}",
                    "file_unique_id": f"AQAD{n}{size}",
                    "width": size,
                    "height": size,
                    "file_size": size * 40,
                }
                for size in (90, 320, 800)
            ]
        if voice:
            content["voice"] = {
                "file_id": f"AwACAgIAAxkBAAI{n}",
                "file_unique_id": f"AgAD{n}vo",
                "duration": 2,
                "mime_type": "audio/ogg",
                "file_size": 8000,
            }
        if document:
            content["document"] = {
                "file_id": f"BQACAgIAAxkBAAI{n}",
                "file_unique_id": f"AgAD{n}do",
                "file_name": "document.pdf",
                "mime_type": "application/pdf",
                "file_size": 20000,
            }
        if location is not False:
            lat, lon = (50.4501, 30.5234) if location is True else location
            content["location"] = {"latitude": lat, "longitude": lon}
        if contact is not None:
            if isinstance(contact, str):
                content["contact"] = {
                    "phone_number": contact,
                    "first_name": first_name,
                    "user_id": user_id,
                }
            else:
                content["contact"] = dict(contact)
        if caption is not None:
            content["caption"] = caption
        if not content:
            raise ValueError("post_message needs text or some media")
        if forward_from is not None:
            content["forward_origin"] = (
                dict(forward_from)
                if isinstance(forward_from, Mapping)
                else {
                    "type": "user",
                    "date": int(time.time()) - 60,
                    "sender_user": {"id": forward_from, "is_bot": False, "first_name": "Other"},
                }
            )

        chat_id_ = int(chat["id"])
        key = "channel_post" if chat_type == "channel" else "message"
        if edited_of is not None:
            original = self._messages.get((chat_id_, edited_of))
            if original is None:
                raise LookupError(f"no message {edited_of} in chat {chat_id_} to edit")
            message: JSONDict = {
                **{k: v for k, v in original.items() if k not in _CONTENT_KEYS},
                **content,
                "edit_date": int(time.time()),
            }
            key = "edited_channel_post" if chat_type == "channel" else "edited_message"
        else:
            message = {"message_id": self._take_message_id(chat_id_)}
            if chat_type == "channel":
                message["sender_chat"] = chat
            else:
                message["from"] = user
            message |= {"chat": chat, "date": int(time.time()), **content}
        self._messages[(chat_id_, int(message["message_id"]))] = message
        return self._enqueue({"update_id": self._take_update_id(), key: message})

    async def post_my_chat_member(
        self, user_id: int, *, blocked: bool = True, chat_id: int | None = None
    ) -> JSONDict:
        """Queue the ``my_chat_member`` update a user blocking (or unblocking) the bot causes.

        Blocking also makes every later send to the chat fail with 403, as on Telegram.

        Args:
            user_id: The user who (un)blocked the bot.
            blocked: True for block, False for unblock.
            chat_id: Chat id; defaults to the private chat with the user.

        Returns:
            The update as queued.
        """
        user = self._users.get(user_id) or self._remember_user(
            user_id, first_name="Test", username=None, language_code="en"
        )
        chat = self._chat_for(user, chat_id, "private" if chat_id is None else None)
        member: JSONDict = {"user": self.bot_user, "status": "member"}
        kicked: JSONDict = {"user": self.bot_user, "status": "kicked", "until_date": 0}
        if blocked:
            self.block_chat(int(chat["id"]))
        else:
            self.unblock_chat(int(chat["id"]))
        body = {
            "chat": chat,
            "from": user,
            "date": int(time.time()),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        }
        return self._enqueue({"update_id": self._take_update_id(), "my_chat_member": body})

    async def press_button(
        self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None
    ) -> JSONDict:
        """Queue the ``callback_query`` a user pressing an inline button produces.

        Args:
            user_id: The user pressing.
            message_id: Message carrying the keyboard; an unknown id is sent as Telegram's
                inaccessible message (``date`` 0).
            data: The button's ``callback_data``.
            chat_id: Chat of the message; defaults to the private chat with the user.

        Returns:
            The update as queued; its ``callback_query.id`` keys :attr:`callback_answers`.
        """
        user = self._users.get(user_id) or self._remember_user(
            user_id, first_name="Test", username=None, language_code="en"
        )
        chat_id_ = user_id if chat_id is None else chat_id
        message = self._messages.get((chat_id_, message_id)) or {
            "chat": self._chats.get(chat_id_) or self._synth_chat(chat_id_),
            "message_id": message_id,
            "date": 0,
        }
        query_id = str(4_000_000_000_000_000_000 + self._next_callback_id)
        self._next_callback_id += 1
        query: JSONDict = {
            "id": query_id,
            "from": user,
            "message": message,
            "chat_instance": str(7_000_000_000_000_000_000 + abs(chat_id_)),
            "data": data,
        }
        self._callback_queries[query_id] = query
        return self._enqueue({"update_id": self._take_update_id(), "callback_query": query})

    async def press_button_labelled(
        self, user_id: int, button: str, *, chat_id: int | None = None
    ) -> JSONDict:
        """Press the button labelled ``button`` on the newest message in the chat carrying one.

        What a person does when they tap a button they can see: the message is taken in
        its current state (after edits), so a button an edit removed cannot be pressed.

        Args:
            user_id: The user pressing.
            button: The button's text, exactly as shown.
            chat_id: Chat of the message; defaults to the private chat with the user.

        Returns:
            The update as queued (see :meth:`press_button`).

        Raises:
            LookupError: No message in the chat has a callback button with that label.
        """
        chat_id_ = user_id if chat_id is None else chat_id
        for (chat, message_id), message in sorted(self._messages.items(), reverse=True):
            if chat != chat_id_:
                continue
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            for row in rows:
                for key in row:
                    if key.get("text") == button and "callback_data" in key:
                        return await self.press_button(
                            user_id, message_id, str(key["callback_data"]), chat_id=chat_id
                        )
        raise LookupError(f"no button {button!r} in chat {chat_id_}")

    # ------------------------------------------------------------------ inspection

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        """Messages sent to one chat, oldest first."""
        return [message for message in self.sent if message.chat_id == chat_id]

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """The current state of a message (after edits), or None."""
        return self._messages.get((chat_id, message_id))

    def commands(
        self, *, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """Commands ``setMyCommands`` stored for a scope and language."""
        return list(self._commands.get(self._commands_key(scope, language_code), []))

    @property
    def command_menus(self) -> list[tuple[JSONDict, str, list[JSONDict]]]:
        """Every stored menu as (scope, language code or ``""``, commands), oldest first."""
        return [
            (json.loads(scope), language, [dict(c) for c in commands])
            for (scope, language), commands in self._commands.items()
        ]

    @property
    def webhook_info(self) -> JSONDict:
        """What ``getWebhookInfo`` would answer now."""
        info: JSONDict = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        hook = self._webhook
        if hook is not None:
            info |= {"url": hook.url, "max_connections": hook.max_connections}
            info["ip_address"] = "127.0.0.1"
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    def clear_records(self) -> None:
        """Forget what was sent and counted (queued updates and faults stay)."""
        self.sent.clear()
        self.edits.clear()
        self.calls.clear()
        self.responses.clear()
        self.rejected_429 = 0
        self.callback_answers.clear()
        self.chat_actions.clear()
        self.faults_fired.clear()
        self.webhook_attempts.clear()
        self.filtered_updates.clear()
        self.api_calls.clear()

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline is the point of a test wait
        what: str = "condition",
    ) -> None:
        """Wait, event-driven, until ``predicate()`` holds; it is re-checked on every change.

        Args:
            predicate: Checked after every request, record or queued update.
            timeout: Seconds before giving up.
            what: Described in the timeout error.

        Raises:
            TimeoutError: The predicate did not hold in time.
        """
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._state_event.wait()
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}") from None

    async def wait_for_sent(
        self,
        count: int,
        *,
        chat_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline is the point of a test wait
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages were sent (to ``chat_id``, if given).

        Returns:
            The messages sent so far (to that chat).

        Raises:
            TimeoutError: Fewer arrived in time; the error lists what did arrive.
        """
        return await self._wait_for_messages(
            lambda: self.sent if chat_id is None else self.sent_to(chat_id),
            count,
            f"messages{'' if chat_id is None else f' to chat {chat_id}'}",
            timeout,
        )

    async def _wait_for_messages(
        self,
        matching: Callable[[], list[SentMessage]],
        count: int,
        what: str,
        timeout: float,  # noqa: ASYNC109 - a deadline is the point of a test wait
    ) -> list[SentMessage]:
        """Wait until ``matching()`` holds ``count``; the error lists what did arrive."""
        try:
            await self.wait_until(lambda: len(matching()) >= count, timeout=timeout)
        except TimeoutError:
            texts = [message.text for message in matching()]
            raise TimeoutError(
                f"expected {count} {what} within {timeout}s, got {len(texts)}: {texts}"
            ) from None
        return list(matching())

    async def wait_for_edits(
        self,
        count: int,
        *,
        chat_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline is the point of a test wait
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages were edited (in ``chat_id``, if given).

        Returns:
            The edits so far (in that chat).

        Raises:
            TimeoutError: Fewer arrived in time; the error lists what did arrive.
        """
        return await self._wait_for_messages(
            lambda: [e for e in self.edits if chat_id is None or e.chat_id == chat_id],
            count,
            f"edits{'' if chat_id is None else f' in chat {chat_id}'}",
            timeout,
        )

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline is the point of a test wait
    ) -> None:
        """Wait until ``method`` was requested ``count`` times (e.g. polling has begun).

        Raises:
            TimeoutError: It was not requested often enough in time.
        """
        name = self._canonical(method)
        await self.wait_until(
            lambda: self.calls[name] >= count, timeout=timeout, what=f"{count}x {name}"
        )

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error, without processing them.

        Args:
            method: API method name, or ``"*"`` for any.
            status: HTTP status / ``error_code``.
            retry_after: ``parameters.retry_after``; defaults to 1 for 429.
            description: Error text; defaults to Telegram's text for the status
                (403 defaults to :data:`FORBIDDEN_BLOCKED`).
            times: How many calls fail.
            chat_id: Only calls addressing this chat.
        """
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 1
        self._faults.append(
            _Fault(
                kind="error",
                method=self._canonical(method),
                chat_id=chat_id,
                remaining=times,
                status=status,
                description=description,
                retry_after=retry_after,
            )
        )

    def timeout_next(
        self,
        method: str,
        seconds: float,
        *,
        accepted: bool = True,
        status: int = 502,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Hang before answering the next ``times`` calls of ``method``.

        Args:
            method: API method name, or ``"*"`` for any.
            seconds: How long to hang.
            accepted: True: process the request first, then hang ("accepted then slow" - the
                message exists even if the client timed out). False: hang, then answer
                ``status`` without processing ("slow then rejected").
            status: Error answered after the hang when not accepted.
            times: How many calls hang.
            chat_id: Only calls addressing this chat.
        """
        self._faults.append(
            _Fault(
                kind="timeout",
                method=self._canonical(method),
                chat_id=chat_id,
                remaining=times,
                status=status,
                seconds=seconds,
                accepted=accepted,
            )
        )

    def drop_connection_next(
        self,
        method: str,
        *,
        accepted: bool = False,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Close the socket without answering the next ``times`` calls of ``method``.

        Args:
            method: API method name, or ``"*"`` for any.
            accepted: Process the request before dropping the connection.
            times: How many calls are dropped.
            chat_id: Only calls addressing this chat.
        """
        self._faults.append(
            _Fault(
                kind="drop",
                method=self._canonical(method),
                chat_id=chat_id,
                remaining=times,
                accepted=accepted,
            )
        )

    def fail_ratio(
        self,
        method: str,
        ratio: float,
        *,
        statuses: Sequence[int] = (429, 500, 502),
        seed: int = 0,
        retry_after: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Fail a seeded-random ``ratio`` of calls of ``method`` until :meth:`clear_faults`.

        The same seed and the same sequence of calls give the same failures.

        Args:
            method: API method name, or ``"*"`` for any.
            ratio: Probability in [0, 1] that a call fails.
            statuses: Statuses to pick from (uniformly, with the same generator).
            seed: Seed of the fault's own random generator.
            retry_after: ``retry_after`` used for 429s.
            chat_id: Only calls addressing this chat.

        Raises:
            ValueError: ``ratio`` is outside [0, 1] or ``statuses`` is empty.
        """
        if not 0.0 <= ratio <= 1.0 or not statuses:
            raise ValueError("ratio must be within [0, 1] and statuses non-empty")
        self._faults.append(
            _Fault(
                kind="error",
                method=self._canonical(method),
                chat_id=chat_id,
                remaining=None,
                retry_after=retry_after,
                ratio=ratio,
                statuses=tuple(statuses),
                rng=random.Random(seed),  # noqa: S311 - reproducible faults, not crypto
            )
        )

    def block_chat(self, chat_id: int, *, description: str | None = None) -> None:
        """Make every send to ``chat_id`` fail with 403 until :meth:`unblock_chat`.

        Args:
            chat_id: The chat.
            description: Error text; defaults to :data:`FORBIDDEN_BLOCKED` for users and
                :data:`FORBIDDEN_KICKED` for groups. Use :data:`FORBIDDEN_DEACTIVATED` for
                deleted accounts.
        """
        if chat_id > 0:
            default = FORBIDDEN_BLOCKED
        elif str(chat_id).startswith("-100"):
            default = FORBIDDEN_KICKED.replace("group chat", "supergroup chat")
        else:
            default = FORBIDDEN_KICKED
        self._blocked[chat_id] = description or default

    def unblock_chat(self, chat_id: int) -> None:
        """Let sends to ``chat_id`` through again."""
        self._blocked.pop(chat_id, None)

    def clear_faults(self) -> None:
        """Remove every pending fault and block (an outage is ended by ``outage(False)``)."""
        self._faults.clear()
        self._blocked.clear()

    async def outage(self, on: bool = True, *, mode: OutageMode = "json") -> None:
        """Start or end a Telegram outage affecting every Bot API method.

        Args:
            on: True starts, False ends it.
            mode: ``json``: 502 with Telegram's JSON error; ``html``: 502 with nginx's HTML
                page (what Telegram's edge really returns, and what JSON-only parsers choke
                on); ``refuse``: the Bot API port stops listening (open keep-alive
                connections are reset), so clients see connection errors. ``/_test`` stays
                reachable on :attr:`control_url`.
        """
        self._outage = mode if on else None
        if on and mode == "refuse":
            if self._site is not None:
                await self._site.stop()
                self._site = None
            await self._reset_connections()
        elif self._site is None and self._runner is not None:
            self._site = web.TCPSite(self._runner, self._host, self.port)
            await self._site.start()

    async def _reset_connections(self) -> None:
        """Close every open connection to the Bot API port, as a port going away does.

        Closed here, each transport is closed properly; left to linger after the port
        stopped listening, a keep-alive connection (the bot's start-up calls, say) could
        outlive the outage and be found unclosed by the garbage collector later.
        """
        server = self._runner.server if self._runner is not None else None
        if server is None:
            return
        await asyncio.sleep(0)  # a connection accepted as the port closed registers first
        for handler in server.connections:
            handler.force_close()

    # ------------------------------------------------------------------ internals: state

    def _canonical(self, method: str) -> str:
        if method == "*":
            return method
        entry = self._methods.get(method.lower())
        if entry is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        return entry[0]

    def _now(self) -> float:
        return self._clock()

    def _notify_updates(self) -> None:
        event, self._updates_event = self._updates_event, asyncio.Event()
        event.set()
        self._notify_state()

    def _notify_state(self) -> None:
        event, self._state_event = self._state_event, asyncio.Event()
        event.set()

    def _take_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _take_message_id(self, chat_id: int) -> int:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def _enqueue(self, update: JSONDict, *, force: bool = False) -> JSONDict:
        if not force and not _is_allowed(_update_type(update), self._allowed_updates):
            self.filtered_updates.append(update)
            self._notify_state()
            return update
        self._queue.append(_Queued(update))
        self._notify_updates()
        return update

    def _remember_user(
        self, user_id: int, *, first_name: str, username: str | None, language_code: str | None
    ) -> JSONDict:
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self._users[user_id] = user
        return user

    def _chat_for(self, user: JSONDict, chat_id: int | None, chat_type: str | None) -> JSONDict:
        user_id = int(user["id"])
        if chat_type is None:
            assert chat_id is not None
            return self._chats.get(chat_id) or self._synth_chat(chat_id)
        if chat_type == "private":
            chat: JSONDict = {"id": user_id if chat_id is None else chat_id, "type": "private"}
            chat["first_name"] = user["first_name"]
            if "username" in user:
                chat["username"] = user["username"]
        else:
            if chat_id is None:
                chat_id = -user_id if chat_type == "group" else int(f"-100{user_id}")
            chat = {"id": chat_id, "type": chat_type, "title": f"Test {chat_type}"}
        self._chats[int(chat["id"])] = chat
        return chat

    def _synth_chat(self, chat_id: int) -> JSONDict:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        if str(chat_id).startswith("-100"):
            return {"id": chat_id, "type": "supergroup", "title": "Supergroup"}
        return {"id": chat_id, "type": "group", "title": "Group"}

    def _chat(self, chat_id: int) -> JSONDict:
        chat = self._chats.get(chat_id)
        if chat is None:
            if self._strict_chats:
                raise _ApiError(400, "Bad Request: chat not found")
            chat = self._chats[chat_id] = self._synth_chat(chat_id)
        return chat

    def _commands_key(self, scope: Any, language_code: Any) -> tuple[str, str]:
        scope_ = dict(scope) if isinstance(scope, Mapping) else {"type": "default"}
        chat_id = scope_.get("chat_id")
        if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
            scope_["chat_id"] = int(chat_id)  # "42" and 42 name the same chat, as in Telegram
        return json.dumps(scope_, sort_keys=True), str(language_code or "")

    def _take_fault(self, method: str, chat_id: int | None) -> _Fault | None:
        for fault in self._faults:
            if fault.method not in ("*", method):
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            if fault.ratio is not None:
                assert fault.rng is not None
                if fault.rng.random() >= fault.ratio:
                    continue
                status = fault.rng.choice(fault.statuses)
                retry = fault.retry_after if status == HTTPStatus.TOO_MANY_REQUESTS else None
                return dataclasses.replace(fault, status=status, retry_after=retry)
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _check_rate(self, method: str, chat_id: int) -> None:
        if not self._enforce_limits or method not in self._limits.methods:
            return
        now = self._now()
        window = self._chat_windows.get(chat_id)
        if window is None:
            if chat_id < 0:
                window = _SlidingWindow(self._limits.group_per_minute, 60.0)
            else:
                span = self._limits.private_burst / self._limits.private_per_second
                window = _SlidingWindow(self._limits.private_burst, span)
            self._chat_windows[chat_id] = window
        wait = max(window.wait_time(now), self._global_window.wait_time(now))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise _ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )

    def _count_rate(self, method: str, chat_id: int | None) -> None:
        """Charge an accepted request to the windows; rejected ones are free."""
        if not self._enforce_limits or method not in self._limits.methods or chat_id is None:
            return
        now = self._now()
        self._chat_windows[chat_id].hit(now)
        self._global_window.hit(now)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the emulator stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    # ------------------------------------------------------------------ internals: HTTP

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        raw_method = request.match_info["method"]
        if request.match_info["token"] != self._token:
            return self._answer(raw_method, {}, 401, _ApiError(401, "Unauthorized").payload())
        entry = self._methods.get(raw_method.lower())
        name = entry[0] if entry else raw_method
        self.calls[name] += 1
        if self._outage is not None:
            return await self._outage_answer(request, name)
        if entry is None:
            error = _ApiError(404, "Not Found: method not found")
            return self._answer(name, {}, error.status, error.payload())
        try:
            params = await self._read_params(request)
        except _ApiError as exc:
            return self._answer(name, {}, exc.status, exc.payload())
        chat_id = _chat_id_of(params)
        fault = self._take_fault(name, chat_id)
        if fault is None:
            status, payload = await self._run(name, params)
            return web.json_response(payload, status=status)
        return await self._faulty_answer(request, fault, name, params, chat_id)

    async def _outage_answer(self, request: web.Request, name: str) -> web.StreamResponse:
        mode = self._outage
        status = None if mode == "refuse" else 502
        self._record_fault("outage", name, None, status, accepted=False, result=None)
        if mode == "refuse":
            return await self._drop(request)
        self._log_call(name, {}, 502)
        if mode == "html":
            return web.Response(status=502, text=_NGINX_502, content_type="text/html")
        return web.json_response(_ApiError(502, "Bad Gateway").payload(), status=502)

    async def _faulty_answer(
        self, request: web.Request, fault: _Fault, name: str, params: JSONDict, chat_id: int | None
    ) -> web.StreamResponse:
        if fault.kind == "error":
            error = _ApiError(
                fault.status,
                fault.description or _default_description(fault.status, fault.retry_after),
                retry_after=fault.retry_after,
            )
            self._record_fault("error", name, chat_id, fault.status, accepted=False, result=None)
            return self._answer(name, params, error.status, error.payload())
        if fault.accepted:
            status, payload = await self._run(name, params)
            accepted = status == HTTPStatus.OK
            answer_status: int | None = status if fault.kind == "timeout" else None
            self._record_fault(
                fault.kind, name, chat_id, answer_status, accepted, payload.get("result")
            )
        else:
            description = _default_description(fault.status, None)
            status, payload = fault.status, _ApiError(fault.status, description).payload()
            answer_status = status if fault.kind == "timeout" else None
            self._record_fault(fault.kind, name, chat_id, answer_status, False, None)
        if fault.kind == "drop":
            return await self._drop(request)
        await self._sleep(fault.seconds)
        if not fault.accepted:
            self._log_call(name, params, status)
        return web.json_response(payload, status=status)

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        """Reset the connection; aiohttp then cancels this handler (handler_cancellation)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        await self._sleep(30.0)
        raise ConnectionResetError("connection dropped by FakeBotAPI")

    def _answer(self, name: str, params: JSONDict, status: int, payload: JSONDict) -> web.Response:
        self._log_call(name, params, status)
        return web.json_response(payload, status=status)

    def _log_call(self, name: str, params: JSONDict, status: int) -> None:
        self.responses[status] += 1
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            self.rejected_429 += 1
        self.api_calls.append(ApiCall(name, params, status, self._now()))
        self._notify_state()

    def _record_fault(
        self,
        kind: Literal["error", "timeout", "drop", "outage"],
        method: str,
        chat_id: int | None,
        status: int | None,
        accepted: bool,
        result: Any,
    ) -> None:
        message_id = result.get("message_id") if isinstance(result, dict) else None
        self.faults_fired.append(
            FaultRecord(kind, method, chat_id, status, accepted, message_id, self._now())
        )
        self._notify_state()

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = dict(request.query)
        if request.body_exists:
            ctype = request.content_type
            if ctype == "application/json":
                raw = await request.read()
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise _ApiError(400, "Bad Request: can't parse JSON object") from None
                    if not isinstance(body, dict):
                        raise _ApiError(400, "Bad Request: can't parse JSON object")
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
        for key in _JSON_FIELDS & params.keys():
            value = params[key]
            if isinstance(value, str) and value:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    what = "reply keyboard markup" if key == "reply_markup" else key
                    raise _ApiError(400, f"Bad Request: can't parse {what} JSON object") from None
        return params

    async def _run(self, name: str, params: JSONDict) -> tuple[int, JSONDict]:
        """Process one request fully; returns the HTTP status and Telegram's answer."""
        try:
            if name in _CHAT_METHODS:
                chat_id = _param_int(params, "chat_id")
                if chat_id is not None and chat_id in self._blocked:
                    raise _ApiError(403, self._blocked[chat_id])
                if chat_id is not None:
                    self._check_rate(name, chat_id)
            result = await self._methods[name.lower()][1](params)
            if name in _CHAT_METHODS:
                self._count_rate(name, _param_int(params, "chat_id"))
        except _ApiError as exc:
            status, payload = exc.status, exc.payload()
        else:
            status = 200
            if isinstance(result, _Result):
                payload = {"ok": True, "result": result.value, "description": result.description}
            else:
                payload = {"ok": True, "result": result}
        self._log_call(name, params, status)
        return status, payload

    # ------------------------------------------------------------------ internals: /_test

    async def _handle_test(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        try:
            body: Any = {}
            if request.body_exists:
                raw = await request.read()
                body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            result = await self._test_action(request.method, action, body, request.query)
        except LookupError as exc:
            return _test_answer({"ok": False, "description": str(exc)}, 404)
        except TimeoutError as exc:
            return _test_answer({"ok": False, "description": str(exc)}, 408)
        except (TypeError, ValueError) as exc:
            return _test_answer({"ok": False, "description": str(exc)}, 400)
        return _test_answer({"ok": True, "result": _jsonable(result)})

    async def _test_action(
        self, verb: str, action: str, body: JSONDict, query: Mapping[str, str]
    ) -> Any:
        chat_id = int(query["chat_id"]) if "chat_id" in query else None
        route = (verb, action)
        if route == ("POST", "message"):
            return await self.post_message(**body)
        if route == ("POST", "update"):
            return await self.post_update(body["update"], force=bool(body.get("force", False)))
        if route == ("POST", "callback"):
            if "button" in body:
                return await self.press_button_labelled(**body)
            return await self.press_button(**body)
        if route == ("POST", "my_chat_member"):
            return await self.post_my_chat_member(**body)
        if route == ("POST", "next_update_id"):
            self.set_next_update_id(int(body["update_id"]))
            return True
        if route == ("GET", "sent"):
            return self.sent if chat_id is None else self.sent_to(chat_id)
        if route == ("GET", "wait_sent"):
            timeout = float(query.get("timeout", "5"))
            return await self.wait_for_sent(
                int(query.get("count", "1")), chat_id=chat_id, timeout=timeout
            )
        if route == ("GET", "edits"):
            return [e for e in self.edits if chat_id is None or e.chat_id == chat_id]
        if route == ("GET", "wait_edits"):
            timeout = float(query.get("timeout", "5"))
            return await self.wait_for_edits(
                int(query.get("count", "1")), chat_id=chat_id, timeout=timeout
            )
        if route == ("GET", "calls"):
            return {
                "calls": dict(self.calls),
                "responses": {str(k): v for k, v in self.responses.items()},
                "rejected_429": self.rejected_429,
            }
        if route == ("GET", "callback_answers"):
            return self.callback_answers
        if route == ("GET", "webhook"):
            return {"info": self.webhook_info, "attempts": self.webhook_attempts}
        if route == ("GET", "updates"):
            return self.pending_updates
        if route == ("GET", "faults"):
            return self.faults_fired
        if route == ("POST", "faults"):
            return await self._test_fault(body)
        if route == ("DELETE", "faults"):
            self.clear_faults()
            return True
        if route == ("POST", "reset"):
            self.clear_records()
            return True
        raise LookupError(f"no test endpoint {verb} /_test/{action}")

    async def _test_fault(self, body: JSONDict) -> Any:
        actions: dict[str, Callable[..., Any]] = {
            "fail_next": self.fail_next,
            "timeout_next": self.timeout_next,
            "drop_connection_next": self.drop_connection_next,
            "fail_ratio": self.fail_ratio,
            "block_chat": self.block_chat,
            "unblock_chat": self.unblock_chat,
            "clear_faults": self.clear_faults,
            "outage": self.outage,
        }
        kwargs = dict(body)
        name = kwargs.pop("action", None)
        if name not in actions:
            raise ValueError(f"action must be one of {sorted(actions)}")
        result = actions[name](**kwargs)
        if inspect.isawaitable(result):
            await result
        return True

    # ------------------------------------------------------------------ Bot API methods

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self._bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self._webhook is not None:
            raise _ApiError(409, _ERR_WEBHOOK_ACTIVE)
        offset = _param_int(params, "offset")
        limit = min(max(_param_int(params, "limit") or 100, 1), 100)
        timeout = max(_param_float(params, "timeout") or 0.0, 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed]
        self._confirm(offset)
        # A newer getUpdates terminates an older one still waiting, as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_updates()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._queue[:limit]
            if batch or self._closing.is_set():
                for entry in batch:
                    entry.delivered = True
                return [entry.update for entry in batch]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = self._updates_event
            self._polls_waiting += 1
            self._notify_state()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=remaining)
            finally:
                self._polls_waiting -= 1
                self._notify_state()
            if generation != self._poll_generation:
                raise _ApiError(409, _ERR_OTHER_POLLER)
            if self._webhook is not None:
                raise _ApiError(409, _ERR_SET_WEBHOOK)

    def _confirm(self, offset: int | None) -> None:
        """Apply getUpdates' ``offset``.

        A positive offset confirms the *delivered* updates with a lower id. Confirming by
        delivery rather than by comparing numbers is what keeps updates coming when Telegram
        restarts the id sequence lower (ids going backwards): the new, smaller ids were never
        delivered, so the client's old, larger offset does not swallow them.
        """
        if offset is None or offset == 0:
            return
        before = len(self._queue)
        if offset < 0:
            self._queue = self._queue[offset:]
        else:
            self._queue = [
                entry
                for entry in self._queue
                if not (entry.delivered and int(entry.update["update_id"]) < offset)
            ]
        if len(self._queue) != before:
            self._notify_state()

    async def _set_webhook(self, params: JSONDict) -> _Result:
        url = _param_str(params, "url") or ""
        if not url:
            return await self._delete_webhook(params)
        if not url.startswith(("http://", "https://")):
            raise _ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = _param_str(params, "secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed]
        if _param_bool(params, "drop_pending_updates"):
            self._queue.clear()
        max_connections = _param_int(params, "max_connections") or 40
        old = self._webhook
        if old is not None and old.url == url and old.secret_token == secret:
            return _Result(True, "Webhook is already set")
        await self._stop_webhook_worker()
        hook = _Webhook(url=url, secret_token=secret, max_connections=max_connections)
        self._webhook = hook
        self._webhook_task = asyncio.create_task(self._webhook_loop(hook))
        self._notify_updates()
        return _Result(True, "Webhook was set")

    async def _delete_webhook(self, params: JSONDict) -> _Result:
        if _param_bool(params, "drop_pending_updates"):
            self._queue.clear()
            self._notify_state()
        if self._webhook is None:
            return _Result(True, "Webhook is already deleted")
        self._webhook = None
        await self._stop_webhook_worker()
        return _Result(True, "Webhook was deleted")

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return self.webhook_info

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._require_chat_id(params)
        chat = self._chat(chat_id)
        parse_mode = _param_str(params, "parse_mode")
        plain = self._check_text(params, parse_mode)
        markup = _check_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        message: JSONDict = {
            "message_id": self._take_message_id(chat_id),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
        }
        thread = _param_int(params, "message_thread_id")
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
        if _param_bool(params, "protect_content"):
            message["has_protected_content"] = True
        inline = _inline_only(markup)
        if inline is not None:
            message["reply_markup"] = inline
        self._messages[(chat_id, int(message["message_id"]))] = message
        self.sent.append(self._record("sendMessage", message, params, markup, parse_mode))
        return message

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        parse_mode = _param_str(params, "parse_mode")
        plain = self._check_text(params, parse_mode)
        markup = _check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        chat_id, message = self._editable(params)
        if message.get("text") is None:
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        inline = _inline_only(markup)
        if plain == message.get("text") and inline == message.get("reply_markup"):
            raise _ApiError(400, _ERR_NOT_MODIFIED)
        edited = {k: v for k, v in message.items() if k not in ("reply_markup", "entities")}
        edited |= {"text": plain, "edit_date": int(time.time())}
        if isinstance(params.get("entities"), list):
            edited["entities"] = params["entities"]
        if inline is not None:
            edited["reply_markup"] = inline
        self._messages[(chat_id, int(edited["message_id"]))] = edited
        self.edits.append(self._record("editMessageText", edited, params, markup, parse_mode))
        return edited

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        markup = _check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        chat_id, message = self._editable(params)
        inline = _inline_only(markup)
        if inline == message.get("reply_markup"):
            raise _ApiError(400, _ERR_NOT_MODIFIED)
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        edited["edit_date"] = int(time.time())
        if inline is not None:
            edited["reply_markup"] = inline
        self._messages[(chat_id, int(edited["message_id"]))] = edited
        self.edits.append(self._record("editMessageReplyMarkup", edited, params, markup, None))
        return edited

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = _param_str(params, "callback_query_id") or ""
        if query_id not in self._callback_queries or query_id in self.callback_answers:
            raise _ApiError(400, _ERR_QUERY_INVALID)
        self.callback_answers[query_id] = {
            "text": _param_str(params, "text"),
            "show_alert": _param_bool(params, "show_alert"),
            "url": _param_str(params, "url"),
            "cache_time": _param_int(params, "cache_time"),
            "params": dict(params),
        }
        self._notify_state()
        return True

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, 'Bad Request: parameter "commands" is required')
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            if not isinstance(name, str) or not _BOT_COMMAND_RE.match(name):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not description.strip():
                raise _ApiError(400, "Bad Request: command description must be non-empty")
            if len(description) > MAX_COMMAND_DESCRIPTION:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [dict(command) for command in commands]
        return True

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self._commands.pop(
            self._commands_key(params.get("scope"), params.get("language_code")), None
        )
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands(
            scope=params.get("scope"), language_code=_param_str(params, "language_code") or ""
        )

    async def _send_chat_action(self, params: JSONDict) -> bool:
        chat_id = self._require_chat_id(params)
        self._chat(chat_id)
        action = _param_str(params, "action")
        if action not in _CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append((chat_id, action))
        return True

    async def _leave_chat(self, params: JSONDict) -> bool:
        self._require_chat_id(params)
        return True

    async def _close(self, params: JSONDict) -> bool:
        return True

    async def _log_out(self, params: JSONDict) -> bool:
        return True

    # ------------------------------------------------------------------ method helpers

    def _require_chat_id(self, params: JSONDict) -> int:
        chat_id = _param_int(params, "chat_id")
        if chat_id is None:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        return chat_id

    def _check_text(self, params: JSONDict, parse_mode: str | None) -> str:
        text = _param_str(params, "text")
        if text is None or not text.strip():
            raise _ApiError(400, _ERR_TEXT_EMPTY)
        # Telegram trims the text it stores and echoes back.
        plain = _plain_text(text, parse_mode).strip()
        if not plain:
            raise _ApiError(400, _ERR_TEXT_EMPTY)
        if _utf16_len(plain) > MAX_TEXT_LENGTH:
            raise _ApiError(400, _ERR_TOO_LONG)
        return plain

    def _reply_target(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        allow_missing = _param_bool(params, "allow_sending_without_reply")
        if isinstance(reply, dict):
            target = _param_int(reply, "message_id")
            target_chat = _param_int(reply, "chat_id") or chat_id
            allow_missing = allow_missing or _param_bool(reply, "allow_sending_without_reply")
        else:
            target = _param_int(params, "reply_to_message_id")
            target_chat = chat_id
        if target is None:
            return None
        message = self._messages.get((target_chat, target))
        if message is None and not allow_missing:
            raise _ApiError(400, "Bad Request: message to be replied not found")
        return message

    def _editable(self, params: JSONDict) -> tuple[int, JSONDict]:
        chat_id = self._require_chat_id(params)
        message_id = _param_int(params, "message_id")
        if message_id is None:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise _ApiError(400, _ERR_EDIT_NOT_FOUND)
        if message.get("from", {}).get("id") != self.bot_id:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return chat_id, message

    def _record(
        self,
        method: str,
        message: JSONDict,
        params: JSONDict,
        markup: JSONDict | None,
        parse_mode: str | None,
    ) -> SentMessage:
        self._notify_state()
        return SentMessage(
            method=method,
            chat_id=int(message["chat"]["id"]),
            message_id=int(message["message_id"]),
            text=_param_str(params, "text"),
            reply_markup=markup,
            parse_mode=parse_mode,
            time=self._now(),
            params=dict(params),
        )

    # ------------------------------------------------------------------ webhook delivery

    async def _stop_webhook_worker(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _webhook_loop(self, hook: _Webhook) -> None:
        """Deliver queued updates to ``hook`` one at a time, in order."""
        while not self._closing.is_set() and self._webhook is hook:
            event = self._updates_event
            if not self._queue:
                await event.wait()
                continue
            entry = self._queue[0]
            await self._deliver(hook, entry.update)
            if self._queue and self._queue[0] is entry:
                self._queue.pop(0)
                self._notify_state()

    async def _deliver(self, hook: _Webhook, update: JSONDict) -> bool:
        assert self._http is not None
        headers = {SECRET_TOKEN_HEADER: hook.secret_token} if hook.secret_token else {}
        timeout = aiohttp.ClientTimeout(total=self._webhook_timeout)
        for attempt in range(1, self._webhook_max_attempts + 1):
            status: int | None = None
            error: str | None = None
            body = b""
            content_type = ""
            try:
                async with self._http.post(
                    hook.url, json=update, headers=headers, timeout=timeout
                ) as response:
                    status = response.status
                    content_type = response.content_type
                    body = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.webhook_attempts.append(
                WebhookAttempt(int(update["update_id"]), attempt, status, error, self._now())
            )
            self._notify_state()
            if status is not None and 200 <= status < 300:
                await self._run_webhook_reply(content_type, body)
                return True
            hook.last_error_date = int(time.time())
            hook.last_error_message = error or (
                f"Wrong response from the webhook: {status} {_default_description(status or 0, 0)}"
            )
            if attempt < self._webhook_max_attempts:
                await self._sleep(self._webhook_retry_delay * 2 ** (attempt - 1))
                if self._closing.is_set():
                    return False
        return False

    async def _run_webhook_reply(self, content_type: str, body: bytes) -> None:
        """Execute a method returned in the webhook response, as Telegram allows."""
        if content_type != "application/json" or not body.strip():
            return
        with contextlib.suppress(ValueError):
            reply = json.loads(body)
            if isinstance(reply, dict) and isinstance(reply.get("method"), str):
                entry = self._methods.get(reply["method"].lower())
                if entry is not None:
                    params = {k: v for k, v in reply.items() if k != "method"}
                    self.calls[entry[0]] += 1
                    await self._run(entry[0], params)


_CONTROL_HELP: Final = """\
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


async def _serve(api: FakeBotAPI) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with api:
        urls = {"base_url": api.base_url, "control_url": api.control_url, "token": api.token}
        print(json.dumps(urls), flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the emulator until SIGINT/SIGTERM, for bots and tests in other processes.

    Prints ``{"base_url": ..., "control_url": ..., "token": ...}`` as the first stdout line.

    Args:
        argv: Command-line arguments (defaults to ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m cm_bot.testing.fake_bot_api",
        description=(
            "Local Telegram Bot API emulator: point CM_BOT_TELEGRAM_API_URL at\n"
            "http://HOST:PORT and play the users through its /_test/... endpoints.\n"
            "Prints its URLs as one JSON line, then runs until SIGINT or SIGTERM."
        ),
        epilog=_CONTROL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="Bot API port (0 picks a free one)")
    parser.add_argument(
        "--control-port",
        type=int,
        default=0,
        help="a second port for /_test/... that stays up during a refused-connection "
        "outage (0 picks a free one)",
    )
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--enforce-limits", action="store_true", help="answer 429 like Telegram")
    args = parser.parse_args(argv)
    api = FakeBotAPI(
        token=args.token,
        username=args.username,
        host=args.host,
        port=args.port,
        control_port=args.control_port,
        enforce_limits=args.enforce_limits,
    )
    asyncio.run(_serve(api))


if __name__ == "__main__":
    main()
