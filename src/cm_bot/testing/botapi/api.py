""":class:`FakeBotAPI`: the emulator's public face, wiring its parts together."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self

from cm_bot.testing.botapi.control import ControlEndpoint
from cm_bot.testing.botapi.faults import FaultInjection, FaultPlan
from cm_bot.testing.botapi.limits import RateLimiter, RateLimits
from cm_bot.testing.botapi.methods import BotMethods
from cm_bot.testing.botapi.records import (
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    JSONDict,
    Records,
    SentMessage,
)
from cm_bot.testing.botapi.server import ApiServer
from cm_bot.testing.botapi.signals import Signals
from cm_bot.testing.botapi.state import UpdateQueue, World
from cm_bot.testing.botapi.users import UserActions
from cm_bot.testing.botapi.webhook import WebhookDelivery

_TOKEN_RE: Final = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


class FakeBotAPI(UserActions, FaultInjection):
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
        deletions: Every accepted ``deleteMessages``, oldest first (what was asked, what went).
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
        bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self._token = token
        self._signals = signals = Signals()
        self._records = records = Records(signals, clock)
        self._world = World(bot_user, strict_chats=strict_chats)
        self._queue = UpdateQueue(signals, records, first_update_id)
        self._faults = FaultPlan()
        self._webhook = WebhookDelivery(
            signals,
            self._queue,
            records,
            reply=lambda method, params: self._bot.run_reply(method, params),
            retry_delay=webhook_retry_delay,
            max_attempts=webhook_max_attempts,
            timeout=webhook_timeout,
        )
        self._bot = BotMethods(
            world=self._world,
            queue=self._queue,
            webhook=self._webhook,
            faults=self._faults,
            limiter=RateLimiter(limits or RateLimits(), enforce=enforce_limits, clock=clock),
            records=records,
            signals=signals,
        )
        self._server = ApiServer(
            host=host,
            port=port,
            control_port=control_port,
            token=token,
            bot=self._bot,
            faults=self._faults,
            records=records,
            signals=signals,
            control=ControlEndpoint(self).handle,
        )
        # The records, under their public names: the same objects the parts append to,
        # which clear_records() empties in place.
        self.sent = records.sent
        self.edits = records.edits
        self.deletions = records.deletions
        self.calls = records.calls
        self.responses = records.responses
        self.callback_answers = records.callback_answers
        self.chat_actions = records.chat_actions
        self.faults_fired = records.faults_fired
        self.webhook_attempts = records.webhook_attempts
        self.filtered_updates = records.filtered_updates
        self.api_calls = records.api_calls

    # ------------------------------------------------------------------ lifecycle

    @property
    def token(self) -> str:
        """The bot token clients must put in the URL."""
        return self._token

    @property
    def bot_id(self) -> int:
        """The bot's user id (the token's numeric prefix)."""
        return int(self._world.bot_user["id"])

    @property
    def bot_user(self) -> JSONDict:
        """The bot as a Telegram ``User`` object (``from`` of every sent message)."""
        return dict(self._world.bot_user)

    @property
    def port(self) -> int:
        """Port of the Bot API endpoint.

        Raises:
            RuntimeError: The emulator is not started.
        """
        if self._server.port is None:
            raise RuntimeError("FakeBotAPI is not started")
        return self._server.port

    @property
    def base_url(self) -> str:
        """``http://host:port``; aiogram takes it as is, PTB wants ``base_url + "/bot"``."""
        return f"http://{self._server.host}:{self.port}"

    @property
    def control_url(self) -> str:
        """A second endpoint serving ``/_test/...`` that stays up during refused-connection outages.

        Raises:
            RuntimeError: The emulator is not started.
        """
        if self._server.control_port is None:
            raise RuntimeError("FakeBotAPI is not started")
        return f"http://{self._server.host}:{self._server.control_port}"

    async def start(self) -> None:
        """Bind the Bot API and control endpoints (on free ports unless given)."""
        if self._server.started:
            return
        self._signals.closing = asyncio.Event()
        await self._server.start()
        self._webhook.open()

    async def stop(self) -> None:
        """Answer pending long polls, stop webhook delivery and close every socket."""
        self._signals.closing.set()
        self._signals.updates_changed()
        self._signals.state_changed()
        await self._webhook.close()
        await self._server.stop()

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

    # ------------------------------------------------------------------ inspection

    @property
    def rejected_429(self) -> int:
        """Requests answered with 429, injected or by the rate limiter."""
        return self._records.rejected_429

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        """Messages sent to one chat, oldest first."""
        return [message for message in self.sent if message.chat_id == chat_id]

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """The current state of a message (after edits), or None."""
        return self._world.messages.get((chat_id, message_id))

    def age_message(self, chat_id: int, message_id: int, seconds: float) -> None:
        """Make a message look ``seconds`` older (a bot cannot delete one over 48 hours old)."""
        message = self._world.messages[(chat_id, message_id)]
        message["date"] = int(message["date"] - seconds)

    def commands(
        self, *, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """Commands ``setMyCommands`` stored for a scope and language."""
        return self._world.menu(scope, language_code)

    @property
    def command_menus(self) -> list[tuple[JSONDict, str, list[JSONDict]]]:
        """Every stored menu as (scope, language code or ``""``, commands), oldest first."""
        return [
            (json.loads(scope), language, [dict(c) for c in commands])
            for (scope, language), commands in self._world.menus.items()
        ]

    @property
    def webhook_info(self) -> JSONDict:
        """What ``getWebhookInfo`` would answer now."""
        return self._webhook.info

    def clear_records(self) -> None:
        """Forget what was sent and counted (queued updates and faults stay)."""
        self._records.clear()

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
                    await self._signals.state.wait()
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
        name = self._bot.canonical(method)
        await self.wait_until(
            lambda: self.calls[name] >= count, timeout=timeout, what=f"{count}x {name}"
        )
