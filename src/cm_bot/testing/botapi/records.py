"""The emulator's public vocabulary: constants, the records the test side inspects, the log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, Literal

from cm_bot.testing.botapi.signals import Signals

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
MAX_COMMAND_DESCRIPTION: Final = 256


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
class Deletion:
    """One ``deleteMessages`` the emulator accepted.

    Attributes:
        chat_id: Chat the messages were in.
        message_ids: The ids asked for, in the order given.
        deleted: Those actually deleted; the rest were not found or were more than 48
            hours old (a bot cannot delete those), and were skipped.
        time: Emulator clock when it was accepted.
    """

    chat_id: int
    message_ids: tuple[int, ...]
    deleted: tuple[int, ...]
    time: float


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


class Records:
    """What the bot did, as the test side reads it; every entry wakes the waits.

    :class:`~cm_bot.testing.botapi.FakeBotAPI` exposes these same objects as its
    attributes (see there); the other parts of the emulator append to them here.
    """

    def __init__(self, signals: Signals, clock: Callable[[], float]) -> None:
        self._signals = signals
        self.now = clock
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.deletions: list[Deletion] = []
        self.calls: Counter[str] = Counter()
        self.responses: Counter[int] = Counter()
        self.rejected_429 = 0
        self.callback_answers: dict[str, JSONDict] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.faults_fired: list[FaultRecord] = []
        self.webhook_attempts: list[WebhookAttempt] = []
        self.filtered_updates: list[JSONDict] = []
        self.api_calls: list[ApiCall] = []

    def clear(self) -> None:
        """Forget everything recorded, emptying the same lists and counters in place."""
        self.sent.clear()
        self.edits.clear()
        self.deletions.clear()
        self.calls.clear()
        self.responses.clear()
        self.rejected_429 = 0
        self.callback_answers.clear()
        self.chat_actions.clear()
        self.faults_fired.clear()
        self.webhook_attempts.clear()
        self.filtered_updates.clear()
        self.api_calls.clear()

    def log_call(self, name: str, params: JSONDict, status: int) -> None:
        """Record one answered Bot API request."""
        self.responses[status] += 1
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            self.rejected_429 += 1
        self.api_calls.append(ApiCall(name, params, status, self.now()))
        self._signals.state_changed()

    def log_fault(
        self,
        kind: Literal["error", "timeout", "drop", "outage"],
        method: str,
        chat_id: int | None,
        status: int | None,
        accepted: bool,
        result: Any,
    ) -> None:
        """Record an injected fault that fired (``result``: what was sent regardless)."""
        message_id = result.get("message_id") if isinstance(result, dict) else None
        self.faults_fired.append(
            FaultRecord(kind, method, chat_id, status, accepted, message_id, self.now())
        )
        self._signals.state_changed()

    def log_webhook_attempt(
        self, update_id: int, attempt: int, status: int | None, error: str | None
    ) -> None:
        """Record one webhook delivery attempt."""
        self.webhook_attempts.append(WebhookAttempt(update_id, attempt, status, error, self.now()))
        self._signals.state_changed()
