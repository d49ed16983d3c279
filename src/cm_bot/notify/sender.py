"""The outbox sender: drains queued messages through a channel within Telegram's limits.

A message is marked sent only after the channel accepted it. What happens on
each kind of failure (:mod:`cm_bot.notify.errors`) is decided here, once, for
every channel:

* ``RetryLater`` (429 with ``retry_after``, connection refused, 5xx): back off and retry;
* ``OutcomeUnknown`` (read time-out: Telegram may have delivered it): never resent
  blindly, marked ``unknown`` for a person to look at;
* ``Unreachable`` (403 blocked / deactivated): the client is marked unreachable, their
  scheduled contacts cancelled and their case manager flagged, through the engine;
  nothing else waiting for that chat is tried;
* ``PermanentFailure`` (400 chat not found ...): marked ``failed``.

Several chats are sent to at once (one slow request must not hold up an urgent
notice to someone else), but never two messages to one chat at once, and each
chat's messages go in order (see :func:`cm_bot.storage.outbox.claim_heads`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Protocol

from sqlalchemy import Engine

from cm_bot.domain import Outbound, OutboxKind, OutboxStatus
from cm_bot.notify.errors import OutcomeUnknown, PermanentFailure, RetryLater, Unreachable
from cm_bot.storage import outbox
from cm_bot.storage.models import utcnow
from cm_bot.storage.workers import worker_name

log = logging.getLogger(__name__)


class Transport(Protocol):
    """One channel's way of sending a message."""

    def parts(self, message: Outbound) -> list[Outbound]:
        """The message as the channel must send it: one part, or several if it is too long."""

    async def send(self, message: Outbound) -> str:
        """Send one part; returns the channel's message id.

        Raises:
            cm_bot.notify.errors.DeliveryError: what went wrong, as the channel classified it.
        """

    async def edit(self, message: Outbound, external_id: str) -> str:
        """Replace the text and buttons of a message sent earlier; as :meth:`send`."""

    async def delete(self, message: Outbound) -> None:
        """Delete the chat's messages ``message.delete_ids`` (up to 100); as :meth:`send`."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's sending limits.

    Telegram's own numbers, not lower ones: :class:`RateLimiter` counts a request
    from before it leaves until a second after its answer is back, so no sliding
    window over the times Telegram accepted them holds more than these. The round
    trip is the headroom (tests/channels/test_outbound.py checks this).

    Attributes:
        per_second: Messages per second for the whole bot (Telegram allows about 30).
        private_burst: Messages one private chat may get back to back.
        private_interval: Long-run seconds per message to one private chat (about 1/s):
            at most ``private_burst`` messages in any ``private_burst * private_interval`` s.
        group_burst: As ``private_burst``, for groups.
        group_interval: As ``private_interval``, for groups (20 messages a minute).
        max_backoff: Longest wait before retrying a failed send.
        concurrency: Requests in flight at once (each to a different chat).
    """

    per_second: float = 30.0
    private_burst: int = 3
    private_interval: float = 1.0
    group_burst: int = 1
    group_interval: float = 3.0
    max_backoff: float = 60.0
    concurrency: int = 8


class RateLimiter:
    """An overall sliding one-second window plus a sliding window per chat.

    Each send is stamped when its answer came back, which is never earlier than
    when Telegram counted it, so the windows here close no sooner than Telegram's.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._recent: deque[float] = deque()
        self._in_flight = 0
        self._chats: dict[str, deque[float]] = {}
        self._held: dict[str, float] = {}

    def _window(self, chat_id: str) -> tuple[int, float]:
        limits = self.limits
        if chat_id.startswith("-"):
            return limits.group_burst, limits.group_burst * limits.group_interval
        return limits.private_burst, limits.private_burst * limits.private_interval

    def chat_delay(self, chat_id: str) -> float:
        """Seconds until this chat may get another message (0: now)."""
        now = self.clock()
        wait = self._held.get(chat_id, 0.0) - now
        stamps = self._chats.get(chat_id)
        if stamps:
            burst, span = self._window(chat_id)
            while stamps and stamps[0] <= now - span:
                stamps.popleft()
            if len(stamps) >= burst:
                wait = max(wait, stamps[0] + span - now)
        return max(wait, 0.0)

    def global_delay(self) -> float:
        """Seconds until the bot may send anything (0: now)."""
        now = self.clock()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if self._in_flight + len(self._recent) < self.limits.per_second:
            return 0.0
        if self._recent:
            return max(self._recent[0] + 1.0 - now, 0.001)
        return 1.0 / self.limits.per_second  # only requests in flight: look again shortly

    def delay(self, chat_id: str) -> float:
        """Seconds to wait before this chat may be sent to (0 when it may go now)."""
        return max(self.chat_delay(chat_id), self.global_delay())

    def begin(self) -> None:
        """A request is about to go out: it counts against the overall limit at once."""
        self._in_flight += 1

    def sent(self, chat_id: str) -> None:
        """The request to ``chat_id`` came back (whatever the answer)."""
        now = self.clock()
        self._in_flight = max(self._in_flight - 1, 0)
        self._recent.append(now)
        burst, _span = self._window(chat_id)
        self._chats.setdefault(chat_id, deque(maxlen=burst)).append(now)

    def hold_chat(self, chat_id: str, seconds: float) -> None:
        """Telegram asked us to wait (429): nothing to this chat until then."""
        self._held[chat_id] = max(self._held.get(chat_id, 0.0), self.clock() + seconds)

    def waiting_chats(self) -> dict[str, float]:
        """Chats that must wait now, with their delays; chats long idle are forgotten."""
        waiting: dict[str, float] = {}
        for chat_id in list(self._chats.keys() | self._held.keys()):
            wait = self.chat_delay(chat_id)
            if wait > 0:
                waiting[chat_id] = wait
                continue
            if not self._chats.get(chat_id):
                self._chats.pop(chat_id, None)
            if self._held.get(chat_id, math.inf) <= self.clock():
                self._held.pop(chat_id, None)
        return waiting


OnUnreachable = Callable[[str, str], Awaitable[None]]


class OutboxSender:
    """Claims due outbox rows of one channel and sends them, urgent first, chats in parallel."""

    def __init__(
        self,
        db: Engine,
        channel: str,
        transport: Transport,
        *,
        on_unreachable: OnUnreachable,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        worker: str | None = None,
        sweep_every: float = 60.0,
    ) -> None:
        self.db = db
        self.channel = channel
        self.transport = transport
        self.on_unreachable = on_unreachable
        self.limits = limits or Limits()
        self.limiter = RateLimiter(self.limits, clock)
        self.sent_count = 0
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._deferred: list[Callable[[], object]] = []
        self.worker = worker or worker_name()
        self._blind: set[int] = set()  # rows backing off without a retry_after
        self.sweep_every = sweep_every
        self._swept = time.monotonic()

    def wake(self) -> None:
        """New rows are waiting: stop sleeping."""
        self._changed.set()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever a message is finished with (sent or not)."""
        self._listeners.append(listener)

    @property
    def busy(self) -> bool:
        """Whether a send is in flight."""
        return bool(self._tasks)

    def unfinished(self) -> int:
        """How many of the channel's messages are still to go (blocking: run it in a thread)."""
        return outbox.unfinished(self.db, self.channel)

    async def drain(self, stop: asyncio.Event | None = None) -> int:
        """Send everything due (also what falls due meanwhile); returns how many were sent.

        Returns once nothing due is left and nothing is in flight, or, when ``stop``
        is set, once the messages already taken are finished.
        """
        before = self.sent_count
        while True:
            self._changed.clear()
            await self._catch_up()  # raises while the database is away: run() retries
            if time.monotonic() - self._swept >= self.sweep_every:
                await self.recover(starting=False)
            stopping = stop is not None and stop.is_set()
            left = False
            room = self.limits.concurrency - len(self._tasks)
            if room > 0 and not stopping:
                waiting = self.limiter.waiting_chats()
                items, left = await asyncio.to_thread(
                    outbox.claim_heads,
                    self.db,
                    self.channel,
                    limit=room,
                    skip_chats=self._busy | waiting.keys(),
                    worker=self.worker,
                )
                for item in items:
                    self._start(item)
                if items:
                    continue
            if not self._tasks and (stopping or not left):
                return self.sent_count - before
            # Wait for a send to finish, a chat's slot to open, new rows, or the clock.
            soonest = min(self.limiter.waiting_chats().values(), default=1.0)
            await self._wait(stop, min(max(soonest, 0.01), 1.0))

    def _start(self, item: outbox.OutboxItem) -> None:
        chat = item.message.chat_id
        self._busy.add(chat)
        task = asyncio.create_task(self._deliver(item))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    async def _deliver(self, item: outbox.OutboxItem) -> None:
        chat = item.message.chat_id
        try:
            if await self._send_item(item):
                self.sent_count += 1
        except Exception as exc:  # on_unreachable failed: the next 403 tries it again
            log.error("outbox %s: %s after a send", item.id, type(exc).__name__)
        finally:
            self._busy.discard(chat)
            self._changed.set()

    async def _send_item(self, item: outbox.OutboxItem) -> bool:
        """One message, part by part; True once every part went out."""
        if item.message.kind is OutboxKind.DELETE:
            return await self._delete_item(item)
        parts = self.transport.parts(item.message)
        edit = item.edit_target
        if edit is not None and len(parts) > 1:
            edit = None  # too long to edit in place: send the new version instead
        done = [] if edit is not None else list(item.progress)
        if not await self._mark_sending(item):
            return False
        try:
            await self._send_parts(item, parts, edit, done)
        except Exception as exc:
            await self._failed(item, exc)
            return False
        await self._write(outbox.mark_sent, item.id, ",".join(done))
        await self._bring_forward(item.id)
        return True

    async def _delete_item(self, item: outbox.OutboxItem) -> bool:
        """A delete row: one ``deleteMessages`` request, within the chat's limits."""
        if not await self._mark_sending(item):
            return False
        chat = item.message.chat_id
        try:
            await self._acquire(chat)
            try:
                await self.transport.delete(item.message)
            finally:
                self.limiter.sent(chat)
        except Exception as exc:
            await self._failed(item, exc)
            return False
        await self._write(outbox.mark_sent, item.id, None)
        await self._bring_forward(item.id)
        return True

    async def _mark_sending(self, item: outbox.OutboxItem) -> bool:
        """Record that the send starts; False if it must not go (now, or by this sender)."""
        try:
            ours = await asyncio.to_thread(
                outbox.mark_sending, self.db, item.id, worker=self.worker
            )
        except Exception as exc:  # unrecorded, it must not go: a crash would resend it
            log.error("outbox %s: could not mark it sending (%s)", item.id, type(exc).__name__)
            self._deferred.append(partial(outbox.release, self.db, item.id))
            return False
        if not ours:  # our lease ran out and another sender took the row back
            log.warning("outbox %s: claim lost to another sender; not sending", item.id)
            return False
        return True

    async def _send_parts(
        self, item: outbox.OutboxItem, parts: list[Outbound], edit: str | None, done: list[str]
    ) -> None:
        """Send the parts not in ``done`` yet, each within the limits, adding their ids to it."""
        chat = item.message.chat_id
        for part in parts[len(done) :]:
            await self._acquire(chat)
            try:
                if edit is not None:
                    external_id = await self.transport.edit(part, edit)
                else:
                    external_id = await self.transport.send(part)
            finally:
                self.limiter.sent(chat)
            done.append(external_id)
            if len(done) < len(parts):
                await self._write(outbox.mark_progress, item.id, ",".join(done))

    async def _failed(self, item: outbox.OutboxItem, exc: Exception) -> None:
        """Record a failed send as its kind of failure says (see the module docstring)."""
        deleting = item.message.kind is OutboxKind.DELETE
        match exc:
            case RetryLater():
                await self._retry(item, exc)
            case OutcomeUnknown() if deleting:
                # Deleting twice is harmless (ids already gone are skipped): ask again.
                await self._retry(item, RetryLater(str(exc)))
            case OutcomeUnknown():
                log.warning(
                    "outbox %s: outcome unknown (%s); not resending", item.id, type(exc).__name__
                )
                await self._write(outbox.mark_final, item.id, OutboxStatus.UNKNOWN, str(exc))
            case Unreachable():
                chat = item.message.chat_id
                log.info("outbox %s: recipient unreachable", item.id)
                await self._write(outbox.mark_final, item.id, OutboxStatus.FAILED, str(exc))
                await self._write(outbox.fail_chat, self.channel, chat, "recipient unreachable")
                await self.on_unreachable(self.channel, chat)
            case PermanentFailure():
                log.warning("outbox %s: failed permanently (%s)", item.id, type(exc).__name__)
                await self._write(outbox.mark_final, item.id, OutboxStatus.FAILED, str(exc))
            case _:
                # Something the channel did not classify: it may have been delivered, so a
                # person decides rather than a blind resend.
                reason = f"unexpected {type(exc).__name__}"
                log.error("outbox %s: %s; not resending", item.id, reason)
                await self._write(outbox.mark_final, item.id, OutboxStatus.UNKNOWN, reason)

    async def _retry(self, item: outbox.OutboxItem, exc: RetryLater) -> None:
        """Back off: for as long as Telegram said, else exponentially (a guess)."""
        backoff = exc.retry_after or min(2.0**item.attempts, self.limits.max_backoff)
        if exc.retry_after:
            self.limiter.hold_chat(item.message.chat_id, exc.retry_after)
        else:
            self._blind.add(item.id)  # a guess: the next success brings it forward
        # Never the error's text in the log: Telegram's description can quote data.
        log.warning("outbox %s: retry in %.1fs (%s)", item.id, backoff, type(exc).__name__)
        at = utcnow() + timedelta(seconds=backoff)
        await self._write(outbox.mark_retry, item.id, at, str(exc))

    async def _bring_forward(self, sent_id: int) -> None:
        """A send went through after guessed back-offs: what waits them out goes now.

        Telegram answers again, so a back-off guessed during the outage need not run
        up to ``max_backoff``. A 429's time is kept.
        """
        if not self._blind:
            return
        waiting, self._blind = self._blind - {sent_id}, set()
        await self._write(outbox.bring_forward, waiting)
        self._changed.set()

    async def _write(self, action: Callable[..., object], *args: object) -> None:
        """Record what happened; if the database is away, keep it and record it later.

        A row left "sending" would otherwise become "unknown" at the next start
        although its fate is known here.
        """
        write = partial(action, self.db, *args)
        if self._deferred:
            self._deferred.append(write)  # keep the order of what happened
            return
        try:
            await asyncio.to_thread(write)
        except Exception as exc:
            log.error("outbox: could not record a send (%s); will retry", type(exc).__name__)
            self._deferred.append(write)

    async def _catch_up(self) -> None:
        """Record outcomes the database refused earlier, oldest first."""
        if not self._deferred:
            return
        while self._deferred:
            await asyncio.to_thread(self._deferred[0])
            self._deferred.pop(0)
        self._notify()

    async def _acquire(self, chat_id: str) -> None:
        """Wait for a slot for this chat within the overall and per-chat limits, and take it."""
        while True:
            wait = self.limiter.delay(chat_id)
            if wait <= 0:
                break
            await asyncio.sleep(wait)  # a computed rate-limit pause, not a poll
        self.limiter.begin()

    async def _wait(self, stop: asyncio.Event | None, seconds: float) -> None:
        """Sleep until something changes; once stopping, only a finished send counts."""
        waiters = [asyncio.ensure_future(self._changed.wait())]
        if stop is not None and not stop.is_set():
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def recover(self, *, starting: bool = True) -> None:
        """Take back rows of dead senders (see :func:`outbox.recover`).

        Call once at start-up, before :meth:`run`; :meth:`run` repeats it every
        ``sweep_every`` seconds for senders on other hosts whose lease ran out.
        """
        requeued, unknown = await asyncio.to_thread(
            partial(outbox.recover, self.db, self.channel, worker=self.worker, starting=starting)
        )
        self._swept = time.monotonic()
        if requeued or unknown:
            log.warning("outbox recovery: %d requeued, %d outcome unknown", requeued, unknown)
            self._changed.set()

    async def run(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Send until ``stop`` is set, looking again every ``idle`` s or when woken."""
        while True:
            try:
                await self.drain(stop)
            except Exception as exc:  # the database is away: keep trying, quietly
                log.error("outbox pass failed (%s); trying again", type(exc).__name__)
            if stop.is_set():
                break
            await self._wait(stop, idle)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


__all__ = ["Limits", "OutboxSender", "RateLimiter", "Transport"]
