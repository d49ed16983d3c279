"""Telegram's flood limits: sliding windows per chat and for the whole bot."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cm_bot.testing.botapi.errors import ApiError


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


class RateLimiter:
    """Answers 429 once a chat or the bot as a whole exceeds :class:`RateLimits`."""

    def __init__(self, limits: RateLimits, *, enforce: bool, clock: Callable[[], float]) -> None:
        self._limits = limits
        self._enforce = enforce
        self._clock = clock
        self._global_window = _SlidingWindow(limits.global_per_second, 1.0)
        self._chat_windows: dict[int, _SlidingWindow] = {}

    def check(self, method: str, chat_id: int) -> None:
        """Raise Telegram's 429 if one more ``method`` to ``chat_id`` would exceed a limit."""
        if not self._enforce or method not in self._limits.methods:
            return
        now = self._clock()
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
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )

    def count(self, method: str, chat_id: int | None) -> None:
        """Charge an accepted request to the windows; rejected ones are free."""
        if not self._enforce or method not in self._limits.methods or chat_id is None:
            return
        now = self._clock()
        self._chat_windows[chat_id].hit(now)
        self._global_window.hit(now)
