"""What both Telegram adapters share: the durable inbox loop, webhook endpoint and sender.

Neither framework, used as shipped, keeps an update safe across a crash: both
confirm updates to Telegram before the handler has finished. So the polling loop
and the webhook endpoint here commit each update to the inbox *first*, then let
Telegram know, then process it. The framework (aiogram or python-telegram-bot)
does the HTTP, the types and the callback answers; see :class:`TelegramBackend`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from cm_bot.channels.telegram_codec import ALLOWED_UPDATES, CHANNEL, decode
from cm_bot.domain import Inbound, InboundKind, Outbound
from cm_bot.engine import ConversationEngine
from cm_bot.notify.sender import OutboxSender

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


class TelegramBackend(Protocol):
    """One framework's part: fetch and parse updates, answer callbacks, send messages."""

    name: str

    async def start(self) -> None:
        """Open sessions (and initialise the framework)."""

    async def stop(self) -> None:
        """Close sessions."""

    async def username(self) -> str:
        """The bot's username (getMe)."""

    async def get_updates(
        self, offset: int | None, poll_seconds: int
    ) -> list[tuple[dict[str, Any], Any]]:
        """One getUpdates call: each update as (Bot API JSON dict, the framework's object)."""

    def parse(self, data: Mapping[str, Any]) -> Any:
        """A webhook body as the framework's update object."""

    async def dispatch(self, update: Any) -> None:
        """Run the framework's routing for an already-recorded update (answers callbacks)."""

    async def send(self, message: Outbound) -> str:
        """Send one outbox message (split if long); raise a ``DeliveryError`` on failure."""

    async def set_webhook(self, url: str, secret: str | None) -> None:
        """Register the webhook, never dropping pending updates."""

    async def delete_webhook(self) -> None:
        """Switch to polling, never dropping pending updates."""


class ChatWorkers:
    """Processes each chat's pending updates in order, one chat per task, many chats at once."""

    def __init__(self, engine: ConversationEngine, after: Callable[[], None]) -> None:
        self.engine = engine
        self.after = after
        self._dirty: set[tuple[str, str]] = set()
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}

    def poke(self, channel: str, chat_id: str) -> None:
        """Work is waiting for this chat."""
        key = (channel, chat_id)
        self._dirty.add(key)
        if key not in self._running:
            self._running[key] = asyncio.create_task(self._work(key))

    async def _work(self, key: tuple[str, str]) -> None:
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                await asyncio.to_thread(self.engine.process, *key)
                self.after()
        except Exception:
            log.exception("processing a chat failed; the update stays in the inbox")
        finally:
            self._running.pop(key, None)

    async def idle(self) -> None:
        """Wait until every chat's work is done (tests, graceful shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)


class TelegramRuntime:
    """Runs one backend over the engine: inbox-first ingestion, per-chat processing, sending."""

    def __init__(
        self,
        engine: ConversationEngine,
        backend: TelegramBackend,
        sender: OutboxSender,
        *,
        webhook_secret: str | None = None,
        poll_timeout: int = 30,
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.sender = sender
        self.webhook_secret = webhook_secret
        self.poll_timeout = poll_timeout
        self.workers = ChatWorkers(engine, sender.wake)
        self.stopping = asyncio.Event()

    # -- ingestion -----------------------------------------------------------------

    async def ingest(self, data: Mapping[str, Any], update: Any) -> bool:
        """Commit one update to the inbox, then hand it on; False if the database refused it."""
        inbound = decode(data)
        if inbound.kind is InboundKind.OTHER and not inbound.chat_id:
            return True  # an update type we do not use: acknowledged and ignored
        try:
            await asyncio.to_thread(self.engine.accept, inbound)
        except Exception:
            log.exception("could not record update; it will be fetched again")
            return False
        await self._after_accept(inbound, update)
        return True

    async def _after_accept(self, inbound: Inbound, update: Any) -> None:
        try:
            await self.backend.dispatch(update)  # answers a button tap at once
        except Exception:
            log.exception("framework dispatch failed (the update is safe in the inbox)")
        self.workers.poke(inbound.channel, inbound.chat_id)

    async def poll(self) -> None:
        """Long polling whose offset moves only past updates already committed to the inbox."""
        await self.backend.delete_webhook()
        offset: int | None = None
        failures = 0
        while not self.stopping.is_set():
            try:
                batch = await self.backend.get_updates(offset, self.poll_timeout)
                failures = 0
            except Exception as exc:  # network trouble, 5xx, conflict: back off and retry
                failures += 1
                log.warning("getUpdates failed (%s); retrying", type(exc).__name__)
                await self._sleep(min(2.0**failures, 30.0))
                continue
            for data, update in batch:
                if not await self.ingest(data, update):
                    break  # database trouble: do not confirm; Telegram will send it again
                # The next offset comes from this batch, never from storage: update ids
                # can restart lower after a quiet week.
                offset = int(data["update_id"]) + 1

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    def webhook_app(self, path: str = "/telegram") -> web.Application:
        """An aiohttp app that refuses requests without the secret and records before 200."""
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(path, self._webhook)
        return app

    async def _webhook(self, request: web.Request) -> web.Response:
        if self.webhook_secret is not None:
            given = request.headers.get(SECRET_HEADER, "")
            if not secrets.compare_digest(given.encode(), self.webhook_secret.encode()):
                log.warning("webhook request without the right secret refused")
                return web.Response(status=401)
        try:
            data = await request.json()
            update = self.backend.parse(data)
        except Exception:
            return web.Response(status=400)
        inbound = decode(data)
        if inbound.kind is InboundKind.OTHER and not inbound.chat_id:
            return web.Response(status=200)
        try:
            await asyncio.to_thread(self.engine.accept, inbound)
        except Exception:
            log.exception("could not record webhook update; asking Telegram to retry")
            return web.Response(status=503)
        # Stored: tell Telegram now, do the work after (a slow handler must not cause retries).
        asyncio.get_running_loop().create_task(self._after_accept(inbound, update))
        return web.Response(status=200)

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Open the framework, recover the outbox, and resume work left by a crash."""
        await self.backend.start()
        await self.sender.recover()
        for channel, chat_id in await asyncio.to_thread(self.engine.pending_chats):
            if channel == CHANNEL:
                self.workers.poke(channel, chat_id)

    async def run_polling(self) -> None:
        """Poll and send until :attr:`stopping` is set."""
        await self.start()
        sender = asyncio.create_task(self.sender.run(self.stopping))
        try:
            await self.poll()
        finally:
            await self._shutdown(sender)

    async def run_webhook(self, url: str, host: str, port: int, path: str) -> None:
        """Serve the webhook and send until :attr:`stopping` is set."""
        await self.start()
        runner = web.AppRunner(self.webhook_app(path))
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        await self.backend.set_webhook(url, self.webhook_secret)
        sender = asyncio.create_task(self.sender.run(self.stopping))
        try:
            await self.stopping.wait()
        finally:
            await runner.cleanup()
            await self._shutdown(sender)

    async def _shutdown(self, sender: asyncio.Task[None]) -> None:
        self.stopping.set()
        await self.workers.idle()  # finish in-flight chats; anything else stays pending
        await sender
        await self.backend.stop()


Runner = Callable[[], Awaitable[None]]

__all__ = [
    "ALLOWED_UPDATES",
    "SECRET_HEADER",
    "ChatWorkers",
    "TelegramBackend",
    "TelegramRuntime",
]
