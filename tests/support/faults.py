"""The fault matrix's rig: the emulator, the real bot as subprocesses, and the database.

Each test starts ``cm-bot run`` (or ``_faulty_bot.py``, the same command with one fault
built in) against :class:`FakeBotAPI` in this process and the test's database, then
judges what the people in the chats saw and what the database holds. The expected
conversation always comes from the same engine driven directly (no Telegram, no faults),
so a message lost, repeated or out of order shows up as a difference. The fixtures that
build these are in tests/faults/conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import make_url
from sqlmodel import col

from cm_bot.bootstrap import App
from cm_bot.channels.telegram_runtime import SECRET_HEADER
from cm_bot.storage import outbox
from cm_bot.storage.admin import add_staff, link_client, new_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import ChannelIdentity, InboundMessage, Staff
from cm_bot.testing import FakeBotAPI
from cm_bot.testing.bot_process import RUN, BotProcess, bot_env
from tests.scheduling.support import MANAGER, Who, consented_client
from tests.support.paths import FLOWS, ROOT
from tests.support.people import make_client
from tests.support.telegram import Line, free_port, line

FAULTY_BOT = ROOT / "tests" / "faults" / "_faulty_bot.py"
SECRET = "whsec_Fault-Matrix-7f3a9c01"
MANAGER_CHAT = 9001  # Maria's Telegram chat (tests.scheduling.support binds her to it too)
WAIT = 60.0  # generous: two cores, shared; every wait ends as soon as its event happens
T = TypeVar("T")

_references = itertools.count(1)


@dataclass(frozen=True)
class Linked:
    """A Telegram user bound to a case's client."""

    client_id: int
    ref: str


@dataclass
class Rig:
    """One test's world: the emulator, the database (through a test-side app) and bots."""

    api: FakeBotAPI
    database_url: str
    tmp: Path
    app: App
    bots: list[BotProcess] = field(default_factory=list)

    @property
    def db(self) -> Engine:
        return self.app.db

    # -- bots ------------------------------------------------------------------------------

    def bot(
        self,
        *,
        backend: str = "aiogram",
        fault: str | None = None,
        webhook: bool = False,
        webhook_url: str | None = None,
        database_url: str | None = None,
        **settings: str,
    ) -> BotProcess:
        """A bot process (not started) on this test's flows; ``fault`` runs the wrapper."""
        env = bot_env(
            self.api,
            database_url or self.database_url,
            flows_dir=self.app.settings.flows_dir,
            intake_flows=self.app.settings.intake_flows,
            backend=backend,
            timezone=self.app.settings.timezone,
            contact_hours=self.app.settings.contact_hours,
            **settings,
        )
        if webhook or webhook_url:
            port = free_port()
            env.update(
                CM_BOT_WEBHOOK_URL=webhook_url or f"http://127.0.0.1:{port}/telegram",
                CM_BOT_WEBHOOK_SECRET=SECRET,
                CM_BOT_WEBHOOK_LISTEN="127.0.0.1",
                CM_BOT_WEBHOOK_PORT=str(port),
            )
        argv: tuple[str, ...] = RUN
        if fault is not None:
            env["CMBOT_FAULT"] = fault
            argv = (str(FAULTY_BOT),)
        bot = BotProcess(env, self.tmp / f"bot{len(self.bots) + 1}.log", argv)
        self.bots.append(bot)
        return bot

    async def start(self, bot: BotProcess, *more: BotProcess) -> BotProcess:
        """Start (or restart) bots; wait until each listens: it polls, or set its webhook."""
        bots = (bot, *more)
        method = "setWebhook" if "CM_BOT_WEBHOOK_URL" in bot.env else "getUpdates"
        wanted = self.api.calls[method] + len(bots)
        for each in bots:
            await each.start()
        listening = asyncio.ensure_future(
            self.api.wait_until(
                lambda: self.api.calls[method] >= wanted, timeout=WAIT, what=f"the bots' {method}"
            )
        )
        exits = [asyncio.ensure_future(each.process.wait()) for each in bots if each.process]
        await asyncio.wait({listening, *exits}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in exits:
            waiter.cancel()
        if not listening.done():
            listening.cancel()
            dead = next(each for each in bots if not each.running)
            raise AssertionError(f"a bot exited at start-up:\n{dead.output()[-3000:]}")
        listening.result()
        return bot

    def restarted(self, bot: BotProcess) -> BotProcess:
        """The same bot's settings without its fault: the plain ``cm-bot run``, as in production."""
        env = {k: v for k, v in bot.env.items() if k != "CMBOT_FAULT"}
        again = BotProcess(env, bot.log, RUN)
        self.bots.append(again)
        return again

    async def dead(self, bot: BotProcess) -> None:
        """Wait for a bot to die of its injected fault (SIGKILL)."""
        assert bot.process is not None
        code = await asyncio.wait_for(bot.process.wait(), WAIT)
        assert code == -9, f"the fault did not fire (exit code {code})"

    # -- people --------------------------------------------------------------------------

    def link(self, user: int) -> Linked:
        """A client of a new case of Maria's, bound to this Telegram user."""
        with contextlib.suppress(ValueError):
            add_staff(self.db, MANAGER, "case_manager")
        case = new_case(self.db, MANAGER)
        return Linked(link_client(self.db, case.ref, "telegram", str(user), str(user)), case.ref)

    def manager_on_telegram(self) -> None:
        """Maria has bound her Telegram account: flags about her clients reach her there."""
        with contextlib.suppress(ValueError):
            add_staff(self.db, MANAGER, "case_manager")
        with transaction(self.db) as session:
            session.execute(
                update(Staff)
                .where(col(Staff.name) == MANAGER)
                .values(telegram_user_id=str(MANAGER_CHAT))
            )

    def consented(self, user: int, *, tz: str | None = None) -> Who:
        """A client with a current consent, on Telegram (as the scheduling tests make them).

        The first call also creates Maria bound to Telegram, unless :meth:`link` made her.
        """
        who = consented_client(self.app.engine, self.db, tz=tz)
        with transaction(self.db) as session:
            session.execute(
                update(ChannelIdentity)
                .where(col(ChannelIdentity.client_id) == who.client_id)
                .values(channel="telegram", external_user_id=str(user), chat_id=str(user))
            )
        return who

    def replies(self, texts: Sequence[str]) -> list[list[Line]]:
        """What the engine answers to each text in turn, for a fresh client: the reference."""
        person = make_client(self.app.engine, self.db, user_id=f"reference-{next(_references)}")
        return [
            [(m.text, tuple(b.label for row in m.buttons for b in row)) for m in person.say(text)]
            for text in texts
        ]

    def transcript(self, user: int) -> list[Line]:
        """Everything the person saw, in order."""
        return [line(m) for m in self.api.sent_to(user)]

    async def converse(self, user: int, texts: Sequence[str], replies: list[list[Line]]) -> None:
        """Say each text in turn and wait for its replies, as a person reading them would."""
        total = len(self.api.sent_to(user))
        for text, expected in zip(texts, replies, strict=True):
            await self.api.post_message(user, text)
            total += len(expected)
            await self.api.wait_for_sent(total, chat_id=user, timeout=WAIT)

    # -- the database --------------------------------------------------------------------

    def rows(self, model: type[T], *where: Any) -> list[T]:
        with transaction(self.db) as session:
            query = select(model).where(*where).order_by(model.id)  # type: ignore[attr-defined]
            return list(session.execute(query).scalars())

    async def eventually(self, check: Callable[[], bool], *, what: str) -> None:
        """Wait until a database condition holds (looked at every 0.1 s, off the event loop).

        The bot is another process: nothing here can wait on its events, only look.
        """
        try:
            async with asyncio.timeout(WAIT):
                while not await asyncio.to_thread(check):  # noqa: ASYNC110 - another process
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise TimeoutError(f"timed out after {WAIT}s waiting for {what}") from None

    async def quiet(self) -> None:
        """Every update fetched and handled, every message finished with.

        Only then is a transcript final: a reply repeated or shifted by a fault may still
        be on its way when the expected number of messages has arrived.
        """
        await self.api.wait_until(lambda: not self.api.pending_updates, timeout=WAIT, what="fetch")

        def idle() -> bool:
            with transaction(self.db) as session:
                pending = session.execute(
                    select(func.count())
                    .select_from(InboundMessage)
                    .where(
                        col(InboundMessage.channel) == "telegram",
                        col(InboundMessage.status) == "pending",
                    )
                ).scalar_one()
            return pending == 0 and outbox.unfinished(self.db, "telegram") == 0

        await self.eventually(idle, what="the bot to be idle")


def flows_dir(tmp: Path) -> Path:
    """The test flows (consent, intake) plus the shipped post-exit follow-up."""
    target = tmp / "flows"
    shutil.copytree(FLOWS, target)
    shutil.copy(ROOT / "conversations" / "exit_followup.yaml", target)
    return target


# -- the database going away ------------------------------------------------------------------


class SqliteLocked:
    """Another connection holds SQLite's write lock: every write of the bot waits, then fails.

    SQLite waits 30 s for a lock (``busy_timeout``); the bot runs with the
    ``sqlite-busy`` fault so it gives up after 1 s and the test stays short.
    """

    fault = "sqlite-busy:1000"

    def __init__(self, database_url: str) -> None:
        self.bot_url = database_url
        self.path = make_url(database_url).database or ""
        self._connection: sqlite3.Connection | None = None

    async def begin(self) -> None:
        def lock() -> sqlite3.Connection:
            connection = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("BEGIN EXCLUSIVE")
            return connection

        self._connection = await asyncio.to_thread(lock)

    async def end(self) -> None:
        if self._connection is not None:
            self._connection.execute("ROLLBACK")
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        await self.end()


class PostgresCut:
    """A TCP pass-through in front of PostgreSQL; cutting it drops and refuses connections."""

    fault = None

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.target = (url.host or "127.0.0.1", url.port or 5432)
        self._url = url
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.up = True
        self.bot_url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.bot_url = self._url.set(host="127.0.0.1", port=port).render_as_string(
            hide_password=False
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if not self.up:
                return
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            except OSError:
                return
            self._writers |= {writer, upstream_writer}
            try:
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            finally:
                self._writers -= {writer, upstream_writer}
                upstream_writer.close()
        finally:
            writer.close()
            self._tasks.discard(task)

    async def begin(self) -> None:
        """The database goes away: open connections break, new ones are closed at once."""
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()

    async def end(self) -> None:
        self.up = True

    async def close(self) -> None:
        await self.begin()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


# -- several webhook workers -----------------------------------------------------------------


class RoundRobin:
    """The load balancer in front of several webhook workers that a deployment would have."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._next = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""
        self.served: list[str] = []

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/telegram", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self._session = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{port}/telegram"

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        target = self.targets[next(self._next) % len(self.targets)]
        headers = {SECRET_HEADER: request.headers.get(SECRET_HEADER, "")}
        headers["Content-Type"] = "application/json"
        try:
            async with self._session.post(
                target, data=await request.read(), headers=headers
            ) as response:
                self.served.append(target)
                return web.Response(status=response.status)
        except aiohttp.ClientError:
            return web.Response(status=502)  # Telegram retries; the next worker answers

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()


def local_webhook(bot: BotProcess) -> str:
    """Where a webhook worker listens (its registered URL may be a load balancer's)."""
    return f"http://127.0.0.1:{bot.env['CM_BOT_WEBHOOK_PORT']}/telegram"
