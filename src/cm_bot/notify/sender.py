"""The outbox sender: drains queued messages through a channel within Telegram's limits.

A message is marked sent only after the channel accepted it. What happens on
each kind of failure is decided here, once, for every channel:

* ``RetryLater`` (429 with ``retry_after``, connection refused, 5xx): back off and retry;
* ``OutcomeUnknown`` (read time-out: Telegram may have delivered it): never resent
  blindly, marked ``unknown`` for a person to look at;
* ``Unreachable`` (403 blocked / deactivated): the client is marked unreachable, their
  scheduled contacts cancelled and their case manager flagged, through the engine;
* ``PermanentFailure`` (400 chat not found ...): marked ``failed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine

from cm_bot.domain import Outbound
from cm_bot.storage import outbox
from cm_bot.storage.models import utcnow

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send that did not go through; subclasses say what to do next."""


class RetryLater(DeliveryError):
    """Not delivered, safe to try again (after ``retry_after`` seconds if Telegram said so)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class OutcomeUnknown(DeliveryError):
    """The request may have been delivered (read time-out): do not resend automatically."""


class Unreachable(DeliveryError):
    """The person blocked the bot or their account is gone."""


class PermanentFailure(DeliveryError):
    """Telegram refused the message for good (bad chat, bad request)."""


class Transport(Protocol):
    """One channel's way of sending a message; returns the channel's message id."""

    async def send(self, message: Outbound) -> str:
        """Send, raising a :class:`DeliveryError` subclass on failure."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's sending limits, with a little headroom."""

    per_second: float = 25.0  # Telegram allows about 30 messages/s per bot
    private_interval: float = 1.0  # about one message a second to one chat
    group_interval: float = 3.0  # 20 messages a minute to one group
    max_backoff: float = 60.0


class RateLimiter:
    """An overall sliding-window limit plus a minimum spacing per chat."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._recent: deque[float] = deque()
        self._next_for_chat: dict[str, float] = {}

    def delay(self, chat_id: str) -> float:
        """Seconds to wait before this chat may be sent to (0 when it may go now)."""
        now = self.clock()
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        overall = 0.0
        if len(self._recent) >= self.limits.per_second:
            overall = 1.0 - (now - self._recent[0])
        return max(overall, self._next_for_chat.get(chat_id, 0.0) - now, 0.0)

    def sent(self, chat_id: str) -> None:
        """Record a send to ``chat_id`` now."""
        now = self.clock()
        self._recent.append(now)
        interval = (
            self.limits.group_interval if chat_id.startswith("-") else self.limits.private_interval
        )
        self._next_for_chat[chat_id] = now + interval
        if len(self._next_for_chat) > 10_000:  # forget chats whose slot is long past
            self._next_for_chat = {c: t for c, t in self._next_for_chat.items() if t > now}

    def hold_chat(self, chat_id: str, seconds: float) -> None:
        """Telegram asked us to wait (429): nothing to this chat until then."""
        self._next_for_chat[chat_id] = max(
            self._next_for_chat.get(chat_id, 0.0), self.clock() + seconds
        )


OnUnreachable = Callable[[str, str], Awaitable[None]]


class OutboxSender:
    """Claims due outbox rows of one channel and sends them, urgent first."""

    def __init__(
        self,
        db: Engine,
        channel: str,
        transport: Transport,
        *,
        on_unreachable: OnUnreachable,
        limits: Limits | None = None,
        batch: int = 50,
    ) -> None:
        self.db = db
        self.channel = channel
        self.transport = transport
        self.on_unreachable = on_unreachable
        self.limiter = RateLimiter(limits or Limits())
        self.batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New rows are waiting: stop sleeping."""
        self._wake.set()

    async def drain(self) -> int:
        """Send everything due now; returns how many were sent."""
        sent = 0
        while True:
            items = await asyncio.to_thread(outbox.claim, self.db, self.channel, limit=self.batch)
            if not items:
                return sent
            # Chats that must wait (per-chat spacing) go to the back of the batch.
            queue = deque(items)
            while queue:
                item = queue.popleft()
                wait = self.limiter.delay(item.message.chat_id)
                if wait > 0 and any(self.limiter.delay(i.message.chat_id) == 0 for i in queue):
                    queue.append(item)
                    continue
                if wait > 0:
                    await asyncio.sleep(wait)
                sent += await self._send_one(item)

    async def _send_one(self, item: outbox.OutboxItem) -> int:
        chat = item.message.chat_id
        await asyncio.to_thread(outbox.mark_sending, self.db, item.id)
        try:
            external_id = await self.transport.send(item.message)
        except RetryLater as exc:
            backoff = exc.retry_after or min(2.0**item.attempts, self.limiter.limits.max_backoff)
            if exc.retry_after:
                self.limiter.hold_chat(chat, exc.retry_after)
            log.warning("outbox %s: retry in %.1fs (%s)", item.id, backoff, exc)
            at = utcnow() + timedelta(seconds=backoff)
            await asyncio.to_thread(outbox.mark_retry, self.db, item.id, at, str(exc))
            return 0
        except OutcomeUnknown as exc:
            log.warning("outbox %s: outcome unknown (%s); not resending", item.id, exc)
            await asyncio.to_thread(outbox.mark_final, self.db, item.id, "unknown", str(exc))
            return 0
        except Unreachable as exc:
            log.info("outbox %s: recipient unreachable", item.id)
            await asyncio.to_thread(outbox.mark_final, self.db, item.id, "failed", str(exc))
            await self.on_unreachable(self.channel, chat)
            return 0
        except PermanentFailure as exc:
            log.warning("outbox %s: failed permanently (%s)", item.id, exc)
            await asyncio.to_thread(outbox.mark_final, self.db, item.id, "failed", str(exc))
            return 0
        finally:
            self.limiter.sent(chat)
        await asyncio.to_thread(outbox.mark_sent, self.db, item.id, external_id)
        return 1

    async def recover(self) -> None:
        """Call once at start-up, before :meth:`run` (see :func:`outbox.recover`)."""
        requeued, unknown = await asyncio.to_thread(outbox.recover, self.db, self.channel)
        if requeued or unknown:
            log.warning("outbox recovery: %d requeued, %d outcome unknown", requeued, unknown)

    async def run(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Drain until ``stop`` is set, sleeping ``idle`` s (or until woken) between passes."""
        while not stop.is_set():
            try:
                await self.drain()
            except Exception:
                log.exception("outbox pass failed; trying again")
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, stopper):
                task.cancel()


__all__ = [
    "DeliveryError",
    "Limits",
    "OutboxSender",
    "OutcomeUnknown",
    "PermanentFailure",
    "RateLimiter",
    "RetryLater",
    "Transport",
    "Unreachable",
]
