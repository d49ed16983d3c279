"""What both Telegram adapters share: the durable inbox loop, webhook endpoint and sender.

Neither framework, used as shipped, keeps an update safe across a crash: both
confirm updates to Telegram before the handler has finished. So the polling loop
and the webhook endpoint here commit each update to the inbox *first*, then let
Telegram know, then process it. The framework (aiogram or python-telegram-bot)
does the HTTP, the types and the callback answers; see :class:`TelegramBackend`.

Logging here names exception types only: a database error's text carries the
SQL parameters (a client's words) and a Bot API error's text may carry a chat id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

from aiohttp import web

from cm_bot.channels.telegram_codec import ALLOWED_UPDATES, CHANNEL, decode, ignorable
from cm_bot.domain import Inbound, Outbound
from cm_bot.engine import ConversationEngine
from cm_bot.logsetup import ThrottledLog
from cm_bot.notify.sender import OutboxSender

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_BACKOFF = 30.0
# getUpdates is cheap and a person may be waiting (a crisis message sent during an outage):
# once Telegram is back, polling resumes within this many seconds, however long it was down.
POLL_MAX_BACKOFF = 5.0
MENU_WAIT = 10.0  # start-up waits this long at most for the command menus
MAX_WEBHOOK_BODY = 1024 * 1024  # an update is a few KB; anything this big is not Telegram's
# Why a webhook request was refused, as the log says it (never the request's own content).
UNAUTHORISED = "without the right secret"
MALFORMED = "with a body that is not an update"
TOO_LARGE = "with a body over 1 MiB"
T = TypeVar("T")


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

    def parts(self, message: Outbound) -> list[Outbound]:
        """The message as the ``sendMessage`` calls it takes (long text split)."""

    async def send(self, message: Outbound) -> str:
        """Send one part; raise a ``DeliveryError`` on failure."""

    async def edit(self, message: Outbound, external_id: str) -> str:
        """Change a message sent earlier; raise a ``DeliveryError`` on failure."""

    async def delete(self, message: Outbound) -> None:
        """Delete the chat's messages ``message.delete_ids``; raise a ``DeliveryError``."""

    async def set_webhook(self, url: str, secret: str | None) -> None:
        """Register the webhook, never dropping pending updates."""

    async def delete_webhook(self) -> None:
        """Switch to polling, never dropping pending updates."""

    async def set_commands(
        self,
        commands: Sequence[tuple[str, str]],
        *,
        language_code: str | None,
        chat_id: str | None = None,
    ) -> None:
        """Publish a command menu (``setMyCommands``).

        ``chat_id`` set: for that one private chat (a staff member's); else for
        everyone whose Telegram language is ``language_code`` (``None``: all others).
        """


class CommandMenu(NamedTuple):
    """One ``setMyCommands`` call: which commands, for which language or chat."""

    commands: Sequence[tuple[str, str]]
    language_code: str | None = None
    chat_id: str | None = None

    @property
    def label(self) -> str:
        """What the menu is for, fit for a log line (never a chat id)."""
        if self.chat_id is not None:
            return "a staff chat"
        return f"the {self.language_code} menu" if self.language_code else "the default menu"


def _failure(exc: BaseException) -> str:
    return type(exc).__name__


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
        except Exception as exc:  # the sweep picks the chat up again
            log.error("processing a chat failed (%s); its updates stay pending", _failure(exc))
        finally:
            self._running.pop(key, None)
            self.after()

    @property
    def busy(self) -> bool:
        """Whether a chat is being processed."""
        return bool(self._running)

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
        sweep_interval: float = 30.0,
        command_menus: Callable[[], Sequence[CommandMenu]] | None = None,
    ) -> None:
        self.engine = engine
        self.command_menus = command_menus
        self.backend = backend
        self.sender = sender
        self.webhook_secret = webhook_secret
        # Anyone can post to the webhook: refusals are counted, one log line a minute per
        # reason, so a flood cannot fill the disk or bury the lines that matter.
        self.refusals = ThrottledLog(log, "%(count)d webhook request(s) %(key)s refused")
        self.poll_timeout = poll_timeout
        self.sweep_interval = sweep_interval
        self.workers = ChatWorkers(engine, self._processed)
        self.stopping = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._activity = asyncio.Event()
        sender.subscribe(self._activity.set)

    def _processed(self) -> None:
        self.sender.wake()
        self._activity.set()

    async def quiet(self) -> None:
        """Wait until every recorded update is handled and every message is finished with.

        Messages waiting to be retried count as not finished (tests, tools).
        """

        def nothing_left() -> bool:
            return not self.engine.pending_chats() and not self.sender.unfinished()

        await self.until(nothing_left)

    async def until(self, check: Callable[[], bool]) -> None:
        """Wait until ``check()`` (run in a thread) holds while no work is in flight.

        It is looked at again after each processed chat and each finished send: it
        waits on the work, it does not poll.
        """
        while True:
            self._activity.clear()
            idle = not (self.workers.busy or self.sender.busy or self._background)
            if idle and await asyncio.to_thread(check):
                return
            await self._activity.wait()

    # -- ingestion -----------------------------------------------------------------

    async def ingest(self, data: Mapping[str, Any], update: Any = None) -> bool:
        """Commit one update to the inbox, then hand it on; False if the database refused it."""
        inbound = decode(data)
        if ignorable(inbound):
            return True  # an update type we do not use: confirmed and forgotten
        try:
            new = await asyncio.to_thread(self.engine.accept, inbound)
        except Exception as exc:
            log.error("could not record an update (%s); it will come again", _failure(exc))
            return False
        self._after_accept(inbound, data, update, new=new is not None)
        return True

    def _after_accept(
        self, inbound: Inbound, data: Mapping[str, Any], update: Any, *, new: bool
    ) -> None:
        self.workers.poke(inbound.channel, inbound.chat_id)
        if new:  # a re-delivery was answered the first time
            self._spawn(self._dispatch(data, update))

    async def _dispatch(self, data: Mapping[str, Any], update: Any) -> None:
        """Let the framework answer a button tap; the update is already safe in the inbox."""
        try:
            await self.backend.dispatch(update if update is not None else self.backend.parse(data))
        except Exception as exc:
            log.warning("framework dispatch failed (%s)", _failure(exc))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        self._activity.set()

    async def poll(self) -> None:
        """Long polling whose offset moves only past updates already committed to the inbox."""
        await self._retrying(self.backend.delete_webhook, "deleteWebhook")
        offset: int | None = None
        failures = refused = 0  # getUpdates failures; updates the database refused
        while not self.stopping.is_set():
            try:
                batch = await self._until_stopped(
                    self.backend.get_updates(offset, self.poll_timeout)
                )
            except Exception as exc:  # network trouble, 5xx, conflict: back off and retry
                failures += 1
                log.warning("getUpdates failed (%s); retrying", _failure(exc))
                await self._sleep(min(2.0 ** (failures - 1), POLL_MAX_BACKOFF))
                continue
            if batch is None:
                break  # stopping: what was fetched is not confirmed, so it comes again
            failures = 0
            for data, update in batch:
                if not await self.ingest(data, update):
                    # Database trouble: do not confirm; Telegram will send it again.
                    refused += 1
                    await self._sleep(min(2.0 ** (refused - 1), MAX_BACKOFF))
                    break
                refused = 0
                # The next offset comes from this batch, never from storage: update ids
                # can restart lower after a quiet week.
                offset = int(data["update_id"]) + 1

    async def _until_stopped(self, work: Coroutine[Any, Any, T]) -> T | None:
        """Run ``work``, abandoning it (``None``) as soon as the runtime is stopping."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return None

    async def _retrying(self, call: Callable[[], Awaitable[Any]], what: str) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                await call()
                return
            except Exception as exc:
                failures += 1
                log.warning("%s failed (%s); retrying", what, _failure(exc))
                await self._sleep(min(2.0 ** (failures - 1), MAX_BACKOFF))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    def webhook_app(self, path: str = "/telegram") -> web.Application:
        """An aiohttp app that refuses requests without the secret and records before 200.

        Raises:
            ValueError: No webhook secret is configured (anyone could post updates).
        """
        if not self.webhook_secret:
            raise ValueError("a webhook needs a secret (CM_BOT_WEBHOOK_SECRET)")
        app = web.Application(client_max_size=MAX_WEBHOOK_BODY)
        app.router.add_post(path, self._webhook)
        return app

    def _authorised(self, request: web.Request) -> bool:
        assert self.webhook_secret is not None
        given = request.headers.get(SECRET_HEADER, "")
        return secrets.compare_digest(given.encode(), self.webhook_secret.encode())

    async def _webhook(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            self.refusals.note(UNAUTHORISED)
            return web.Response(status=401)
        try:
            data = await request.json()
        except web.HTTPRequestEntityTooLarge:
            self.refusals.note(TOO_LARGE)
            return web.Response(status=413)
        except ValueError:
            self.refusals.note(MALFORMED)
            return web.Response(status=400)
        if not isinstance(data, dict) or "update_id" not in data:
            self.refusals.note(MALFORMED)
            return web.Response(status=400)
        inbound = decode(data)
        if ignorable(inbound):
            return web.Response(status=200)
        try:
            new = await asyncio.to_thread(self.engine.accept, inbound)
        except Exception as exc:
            log.error("could not record a webhook update (%s); asking for it again", _failure(exc))
            return web.Response(status=503)
        # Stored: tell Telegram now, do the work after (a slow handler must not cause retries).
        self._after_accept(inbound, data, None, new=new is not None)
        return web.Response(status=200)

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Open the framework, recover the outbox, and resume work left by a crash."""
        await self._retrying(self.backend.start, "starting the Bot API client")  # Telegram down?
        if self.engine.bot_username is None:  # invite links need it (getMe)
            try:
                self.engine.bot_username = await self.backend.username() or None
            except Exception as exc:
                log.warning("could not learn the bot's username (%s)", _failure(exc))
        await self.sender.recover()
        await self.sweep()
        if self.command_menus is not None:
            await self._publish_at_start(self.command_menus)

    async def _publish_at_start(self, source: Callable[[], Sequence[CommandMenu]]) -> None:
        """Publish the menus before taking updates, for at most ``MENU_WAIT`` seconds.

        Each call ends (published or failed) before polling starts, so none is left in
        flight while the bot works; a Telegram that hangs holds the start for
        ``MENU_WAIT`` at most (the menus are then given up, the bot works without them).
        """
        try:
            await asyncio.wait_for(self._until_stopped(self.publish_menus(source)), MENU_WAIT)
        except TimeoutError:
            log.warning("setMyCommands took longer than %.0fs; menus given up", MENU_WAIT)

    async def publish_menus(self, source: Callable[[], Sequence[CommandMenu]]) -> int:
        """Publish every command menu once; returns how many were published.

        A menu is a convenience, the bot works without one: each failure is a
        warning naming the exception type only (its text can hold a chat id), and
        the next menu is still tried.
        """
        try:
            plan = await asyncio.to_thread(source)
        except Exception as exc:
            log.warning("could not list the command menus (%s); none published", _failure(exc))
            return 0
        published = 0
        for menu in plan:
            try:
                await self.backend.set_commands(
                    menu.commands, language_code=menu.language_code, chat_id=menu.chat_id
                )
            except Exception as exc:
                log.warning("setMyCommands failed for %s (%s)", menu.label, _failure(exc))
            else:
                published += 1
        return published

    async def sweep(self) -> None:
        """Process every chat with pending updates (left by a crash or a failed attempt)."""
        try:
            chats = await asyncio.to_thread(self.engine.pending_chats)
        except Exception as exc:
            log.error("could not look for pending updates (%s)", _failure(exc))
            return
        for channel, chat_id in chats:
            if channel == CHANNEL:
                self.workers.poke(channel, chat_id)

    async def _sweeping(self) -> None:
        while not self.stopping.is_set():
            await self._sleep(self.sweep_interval)
            if not self.stopping.is_set():
                await self.sweep()

    async def run_polling(self) -> None:
        """Poll and send until :attr:`stopping` is set."""
        await self.start()
        helpers = self._helpers()
        try:
            await self.poll()
        finally:
            await self._shutdown(helpers)

    async def run_webhook(self, url: str, host: str, port: int, path: str) -> None:
        """Serve the webhook and send until :attr:`stopping` is set."""
        app = self.webhook_app(path)
        await self.start()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        helpers = [*self._helpers(), asyncio.create_task(self._reporting_refusals())]
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            await self._retrying(
                lambda: self.backend.set_webhook(url, self.webhook_secret), "setWebhook"
            )
            await self.stopping.wait()
        finally:
            await runner.cleanup()
            await self._shutdown(helpers)

    async def _reporting_refusals(self) -> None:
        """Write the counts of refused webhook requests once a minute, and the rest at the end."""
        while not self.stopping.is_set():
            await self._sleep(self.refusals.interval)
            self.refusals.flush(force=self.stopping.is_set())

    def _helpers(self) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self.sender.run(self.stopping)),
            asyncio.create_task(self._sweeping()),
        ]

    async def _shutdown(self, helpers: list[asyncio.Task[None]]) -> None:
        self.stopping.set()
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.workers.idle()  # finish in-flight chats; anything else stays pending
        await asyncio.gather(*helpers, return_exceptions=True)
        await self.backend.stop()


__all__ = [
    "ALLOWED_UPDATES",
    "SECRET_HEADER",
    "ChatWorkers",
    "CommandMenu",
    "TelegramBackend",
    "TelegramRuntime",
]
