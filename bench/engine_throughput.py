"""Benchmark 1 of issue 7: engine throughput against a bare aiogram echo.

N simulated Telegram clients (default 1,000), all linked to cases beforehand, complete the
shipped intake concurrently through the real engine and database:

    /start -> consent (Yes, Yes, Yes) -> PHQ-2 positive (2 + 2) -> PHQ-9 items 3-9 -> item 10

that is 14 updates per client, every answer a button tap (a ``callback_query`` whose data is
the payload the bot really sent). Updates are built as Bot API JSON, turned into events by
the production codec and handed to the engine with
``await asyncio.to_thread(engine.handle, inbound)`` under a semaphore (``--concurrency``
worker threads). Each client waits for the bot's answer before tapping the next button.

Measured per database (a SQLite file in a temp dir; PostgreSQL in a fresh schema):
updates/s over the whole run (wall clock, including the simulated clients reading their
buttons back), p50/p99 of ``engine.handle`` per update, and the process's CPU time per
update. A second row per database ("runtime path") runs the same clients the way
``TelegramRuntime`` does: ``engine.accept`` (the inbox row is committed first), then
``ChatWorkers.poke`` and ``engine.process`` in the workers' threads; its latency is from
the start of ``accept`` to the end of ``process``. In the same run the very same
updates (same JSON, same order) go through a bare aiogram ``Dispatcher`` with an echo
handler via ``feed_update`` (no network: the handler only returns the text), and the table
shows the ratio. ``--profile`` adds a cProfile of a smaller, sequential run: where the time
goes, and the SQL statements per update.

    .venv/bin/python bench/engine_throughput.py [--clients N] [--db sqlite|postgres|both]
                                                [--path handle|runtime|both]
                                                [--concurrency K] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import platform
import pstats
import re
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlmodel import col

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runs from a plain checkout too

from cm_bot.channels.telegram_codec import CHANNEL, decode  # noqa: E402
from cm_bot.channels.telegram_runtime import ChatWorkers  # noqa: E402
from cm_bot.domain import Inbound  # noqa: E402
from cm_bot.engine import ConversationEngine, EngineConfig  # noqa: E402
from cm_bot.engine.engine import Handled  # noqa: E402
from cm_bot.flows import load_flows  # noqa: E402
from cm_bot.i18n import Translator  # noqa: E402
from cm_bot.storage import SqlStore, create_db_engine, ensure_schema  # noqa: E402
from cm_bot.storage.admin import add_staff, link_client, new_case  # noqa: E402
from cm_bot.storage.models import Outbox, Response  # noqa: E402

PG_URL = os.environ.get("CM_BOT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
INTAKE = ("screening_phq",)
OPTIONS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "CM", "username": "cm_test_bot"}
FIRST_USER_ID = 10_000_000


def script(index: int) -> list[str]:
    """The buttons client ``index`` taps after /start: consent, PHQ-2 positive, PHQ-9."""
    phq9 = [OPTIONS[(index + k) % 4] for k in range(6)]  # items 3-8 vary between clients
    # Item 9 stays "Not at all": a positive item 9 ends the screening with a crisis message.
    return ["Yes", "Yes", "Yes", OPTIONS[2], OPTIONS[2], *phq9, OPTIONS[0], "Somewhat difficult"]


UPDATES_PER_CLIENT = 1 + len(script(0))


# -- one simulated client -------------------------------------------------------------------------


@dataclass
class SimClient:
    index: int
    user_id: int
    taps: list[str]
    buttons: dict[str, str] = field(default_factory=dict)
    prompt_id: int = 0
    sent: int = 0

    @property
    def user(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": "Client", "language_code": "en"}

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.user_id, "type": "private", "first_name": "Client"}

    def next_update(self, update_id: int) -> dict[str, Any]:
        now = int(time.time())
        self.sent += 1
        if self.sent == 1:
            message = {
                "message_id": 1,
                "from": self.user,
                "chat": self.chat,
                "date": now,
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            }
            return {"update_id": update_id, "message": message}
        label = self.taps[self.sent - 2]
        if label not in self.buttons:
            raise RuntimeError(f"client {self.index}: no button {label!r} in {list(self.buttons)}")
        query = {
            "id": f"{self.user_id}{self.sent:03d}",
            "from": self.user,
            "chat_instance": str(self.user_id),
            "data": self.buttons[label],
            "message": {
                "message_id": self.prompt_id,
                "from": BOT_USER,
                "chat": self.chat,
                "date": now,
                "text": "(prompt)",
            },
        }
        return {"update_id": update_id, "callback_query": query}

    @property
    def done(self) -> bool:
        return self.sent >= 1 + len(self.taps)


# -- our engine -----------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    updates: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # engine.handle, seconds
    queued: list[float] = field(default_factory=list)  # to_thread round trip, seconds
    reading: float = 0.0  # simulated clients reading their buttons back (not the engine)
    cpu: float = 0.0  # the whole process's CPU time (user + system), seconds
    completed: int = 0
    answers: int = 0
    note: str = ""

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def build_engine(db: Engine, kind: type[ConversationEngine] = ConversationEngine) -> Any:
    return kind(
        SqlStore(db),
        load_flows(ROOT / "conversations"),
        Translator(ROOT / "locales"),
        config=EngineConfig(intake_flows=INTAKE),
    )


class ObservedEngine(ConversationEngine):
    """The production engine; ``process`` also tells the waiting simulated client its result."""

    loop: asyncio.AbstractEventLoop
    waiting: dict[str, asyncio.Future[list[Handled]]]

    def process(self, channel: str, chat_id: str) -> list[Handled]:
        handled = super().process(channel, chat_id)
        if handled:
            self.loop.call_soon_threadsafe(self._wake, chat_id, handled)
        return handled

    def _wake(self, chat_id: str, handled: list[Handled]) -> None:
        future = self.waiting.pop(chat_id, None)
        if future is not None and not future.done():
            future.set_result(handled)


def link_clients(db: Engine, count: int) -> list[SimClient]:
    add_staff(db, "Bench Manager", "case_manager")
    clients = []
    for index in range(count):
        case = new_case(db, "Bench Manager")
        user_id = FIRST_USER_ID + index
        link_client(db, case.ref, CHANNEL, str(user_id), str(user_id))
        clients.append(SimClient(index, user_id, script(index)))
    return clients


def reader_for(db: Engine, url: str) -> Engine:
    """Reads for the simulated clients: on SQLite without the engine's BEGIN IMMEDIATE hook,
    so a client reading its buttons does not queue for the write lock like the bot does."""
    if db.dialect.name == "sqlite":
        return create_engine(url, connect_args={"check_same_thread": False})
    return db


def read_buttons(reader: Engine, outbox_ids: list[int]) -> tuple[dict[str, str], int] | None:
    if not outbox_ids:
        return None
    with reader.connect() as conn:
        rows = conn.execute(
            select(col(Outbox.id), col(Outbox.buttons))
            .where(col(Outbox.id).in_(outbox_ids))
            .order_by(col(Outbox.id))
        ).all()
    for outbox_id, buttons in reversed(rows):
        if buttons:
            return {b["label"]: b["payload"] for row in buttons for b in row}, outbox_id
    return None


async def drive(
    engine: ConversationEngine,
    reader: Engine,
    clients: list[SimClient],
    concurrency: int,
    run: Run,
    record: list[dict[str, Any]] | None,
) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=concurrency))
    gate = asyncio.Semaphore(concurrency)
    update_ids = iter(range(1, 10**9))

    def work(data: dict[str, Any]) -> tuple[float, float, tuple[dict[str, str], int] | None]:
        inbound = decode(data)  # as TelegramRuntime.ingest does, before the engine
        started = time.perf_counter()
        handled = engine.handle(inbound)
        took = time.perf_counter() - started
        started = time.perf_counter()
        buttons = read_buttons(reader, handled.outbox_ids)
        return took, time.perf_counter() - started, buttons

    async def client_loop(client: SimClient) -> None:
        while not client.done:
            data = client.next_update(next(update_ids))
            if record is not None:
                record.append(data)
            async with gate:
                started = time.perf_counter()
                took, reading, buttons = await asyncio.to_thread(work, data)
                run.queued.append(time.perf_counter() - started)
            run.latencies.append(took)
            run.reading += reading
            run.updates += 1
            if buttons is not None:
                client.buttons, client.prompt_id = buttons
        run.completed += 1

    started, cpu = time.perf_counter(), cpu_seconds()
    await asyncio.gather(*(client_loop(c) for c in clients))
    run.seconds = time.perf_counter() - started
    run.cpu = cpu_seconds() - cpu


async def drive_runtime(
    engine: ObservedEngine,
    reader: Engine,
    clients: list[SimClient],
    concurrency: int,
    run: Run,
) -> None:
    """As ``TelegramRuntime`` handles an update: commit it to the inbox, then ChatWorkers."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=concurrency))
    engine.loop, engine.waiting = loop, {}
    workers = ChatWorkers(engine, lambda: None)
    gate = asyncio.Semaphore(concurrency)  # updates in flight, as in drive()
    update_ids = iter(range(1, 10**9))

    def read(outbox_ids: list[int]) -> tuple[float, tuple[dict[str, str], int] | None]:
        started = time.perf_counter()
        buttons = read_buttons(reader, outbox_ids)
        return time.perf_counter() - started, buttons

    async def client_loop(client: SimClient) -> None:
        while not client.done:
            inbound: Inbound = decode(client.next_update(next(update_ids)))
            async with gate:
                started = time.perf_counter()
                if await asyncio.to_thread(engine.accept, inbound) is None:
                    raise RuntimeError("a new update was taken for a re-delivery")
                handled = engine.waiting[inbound.chat_id] = loop.create_future()
                workers.poke(inbound.channel, inbound.chat_id)
                results = await handled
                run.latencies.append(time.perf_counter() - started)
            reading, buttons = await asyncio.to_thread(
                read, [i for h in results for i in h.outbox_ids]
            )
            run.reading += reading
            run.updates += 1
            if buttons is not None:
                client.buttons, client.prompt_id = buttons
        run.completed += 1

    started, cpu = time.perf_counter(), cpu_seconds()
    await asyncio.gather(*(client_loop(c) for c in clients))
    await workers.idle()
    run.seconds = time.perf_counter() - started
    run.cpu = cpu_seconds() - cpu


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[tuple[Engine, str] | None]:
    """A fresh, migrated database: a SQLite file, or a new PostgreSQL schema (dropped after)."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        db = create_db_engine(url)
        ensure_schema(db)
        try:
            yield db, url
        finally:
            db.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        print(f"PostgreSQL not reachable at {PG_URL} ({exc.__class__.__name__}): skipped")
        yield None
        return
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    db = create_db_engine(url)
    try:
        ensure_schema(db)
        yield db, url
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def bench_ours(
    kind: str,
    clients_n: int,
    concurrency: int,
    record: list[dict[str, Any]] | None,
    path: str = "handle",
) -> Run | None:
    with tempfile.TemporaryDirectory(prefix="cm-bench-") as tmp, database(kind, Path(tmp)) as got:
        if got is None:
            return None
        db, url = got
        label = "SQLite file" if kind == "sqlite" else "PostgreSQL"
        if path == "runtime":
            label += ", runtime path"
        print(f"[{label}] linking {clients_n} clients ...", flush=True)
        clients = link_clients(db, clients_n)
        reader = reader_for(db, url)
        run = Run(label)
        print(f"[{label}] {clients_n} clients x {UPDATES_PER_CLIENT} updates ...", flush=True)
        if path == "runtime":
            observed = build_engine(db, ObservedEngine)
            asyncio.run(drive_runtime(observed, reader, clients, concurrency, run))
        else:
            asyncio.run(drive(build_engine(db), reader, clients, concurrency, run, record))
        with db.connect() as conn:
            run.answers = conn.execute(select(text("count(*)")).select_from(Response)).scalar_one()
        if reader is not db:
            reader.dispose()
        expected = clients_n * 10  # PHQ-2 (2) + PHQ-9 items 3-10 (8) per client
        if run.answers != expected or run.completed != clients_n:
            run.note = f"INCOMPLETE: {run.answers} answers stored, {expected} expected"
        print(f"[{label}] done in {run.seconds:.1f} s", flush=True)
        return run


# -- bare aiogram ---------------------------------------------------------------------------------


def bench_bare(updates: list[dict[str, Any]]) -> Run:
    from aiogram import Bot, Dispatcher, Router
    from aiogram.types import CallbackQuery, Message, Update

    router = Router()

    @router.message()
    async def echo(message: Message) -> str | None:
        return message.text

    @router.callback_query()
    async def echo_tap(query: CallbackQuery) -> str | None:
        return query.data

    async def main() -> Run:
        bot = Bot("123456:BENCH-token-not-used")  # the handlers never call the Bot API
        dispatcher = Dispatcher()  # aiogram's echo-bot set-up (memory FSM on)
        dispatcher.include_router(router)
        parsed = [Update.model_validate(u, context={"bot": bot}) for u in updates]
        run = Run("bare aiogram echo")
        started = time.perf_counter()
        for update in parsed:
            t0 = time.perf_counter()
            await dispatcher.feed_update(bot, update)
            run.latencies.append(time.perf_counter() - t0)
        run.seconds = time.perf_counter() - started
        run.updates = len(parsed)
        await bot.session.close()
        return run

    return asyncio.run(main())


# -- profile --------------------------------------------------------------------------------------

AREAS = [
    ("fsync: waiting for the disk, no CPU", re.compile(r"posix\.fsync")),
    ("SQLite driver (C)", re.compile(r"sqlite3\.(Cursor|Connection)|_sqlite3")),
    ("psycopg", re.compile(r"psycopg")),
    ("SQLAlchemy", re.compile(r"sqlalchemy")),
    ("SQLModel / pydantic", re.compile(r"sqlmodel|pydantic")),
    ("cm_bot.storage", re.compile(r"cm_bot/storage")),
    ("cm_bot.engine", re.compile(r"cm_bot/engine")),
    ("cm_bot.flows (simpleeval)", re.compile(r"cm_bot/flows|simpleeval")),
    ("cm_bot.scoring", re.compile(r"cm_bot/scoring")),
    ("i18n (gettext, babel)", re.compile(r"cm_bot/i18n|gettext|babel")),
    ("json", re.compile(r"json")),
    ("bench harness (SQL counter)", re.compile(r"engine_throughput")),
    ("builtins (mostly SQLAlchemy's)", re.compile(r"^~:")),
]


def profile(kind: str, clients_n: int) -> str:
    """A sequential run under cProfile (no threads: the profiler sees every call).

    Every other client is handled without the profiler, timing the thread's CPU instead:
    what one update costs when nothing else runs.
    """
    out = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="cm-prof-") as tmp, database(kind, Path(tmp)) as got:
        if got is None:
            return "profile skipped: database not reachable\n"
        db, url = got
        clients = link_clients(db, clients_n)
        engine = build_engine(db)
        reader = reader_for(db, url)
        statements: Counter[str] = Counter()
        profiled_statements = 0

        @event.listens_for(db, "before_cursor_execute")
        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            words = statement.split()
            verb = words[0].upper() if words else "?"
            target = next(
                (
                    words[i + 1].strip('"')
                    for i, w in enumerate(words[:-1])
                    if w.upper() in ("FROM", "INTO", "UPDATE")
                ),
                "",
            )
            if verb == "UPDATE":
                target = words[1].strip('"') if len(words) > 1 else ""
            statements[f"{verb} {target}".strip()] += 1

        profiler = cProfile.Profile()
        update_id = 0
        handled = 0
        timed: list[tuple[float, float]] = []  # (CPU, wall) of the unprofiled updates
        for client in clients:
            while not client.done:
                update_id += 1
                data = client.next_update(update_id)
                inbound = decode(data)
                if client.index % 2:
                    cpu, wall = time.thread_time(), time.perf_counter()
                    result = engine.handle(inbound)
                    timed.append((time.thread_time() - cpu, time.perf_counter() - wall))
                else:
                    statements_before = sum(statements.values())
                    profiler.enable()
                    result = engine.handle(inbound)
                    profiler.disable()
                    handled += 1
                    profiled_statements += sum(statements.values()) - statements_before
                buttons = read_buttons(reader, result.outbox_ids)
                if buttons is not None:
                    client.buttons, client.prompt_id = buttons
        event.remove(db, "before_cursor_execute", count)
        if reader is not db:
            reader.dispose()

    stats = pstats.Stats(profiler, stream=out)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    by_area: Counter[str] = Counter()
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{name}"
        area = next((a for a, pattern in AREAS if pattern.search(where)), "other")
        by_area[area] += row[2]
    cpu_ms = 1000 * statistics.mean(c for c, _w in timed) if timed else 0.0
    wall_ms = 1000 * statistics.median(w for _c, w in timed) if timed else 0.0
    print(
        f"Sequential on {kind}, {clients_n} clients, one update at a time.\n"
        f"Without the profiler ({len(timed)} updates): {cpu_ms:.2f} ms CPU per update "
        f"(this thread: Python, SQLite, system calls), median wall {wall_ms:.2f} ms "
        "(CPU plus waiting for the fsync).\n"
        f"Under cProfile ({handled} updates): {1000 * total / handled:.2f} ms per update "
        "(profiler overhead included)\n",
        file=out,
    )
    print("Own time by area (cProfile):", file=out)
    cpu_total = total - by_area.get(AREAS[0][0], 0.0)
    for area, seconds in by_area.most_common():
        share = "" if area == AREAS[0][0] else f"  {100 * seconds / cpu_total:5.1f} % of CPU"
        print(f"  {area:<38} {seconds:7.2f} s  {100 * seconds / total:5.1f} %{share}", file=out)
    print(f"\nSQL statements per update: {profiled_statements / handled:.1f}", file=out)
    for shape, n in statements.most_common(15):
        print(f"  {n / (handled + len(timed)):5.2f}  {shape}", file=out)
    print("\nTop 25 by cumulative time:", file=out)
    stats.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


# -- report ---------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import aiogram
    import sqlalchemy

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs ({cpu}), Python "
        f"{platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"aiogram {aiogram.__version__}; load average {load}"
    )


def table(runs: list[Run], bare: Run | None, concurrency: int) -> str:
    lines = [
        "| Run | Updates | Wall s | Updates/s | p50 ms | p99 ms | max ms "
        "| p99 incl. queue ms | CPU ms/update | Throughput vs bare | p50 vs bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in [*runs, *([bare] if bare else [])]:
        vs_rate = f"{run.rate / bare.rate:.4f}" if bare and run is not bare else "1"
        vs_p50 = (
            f"{pct(run.latencies, 50) / pct(bare.latencies, 50):.0f}×"
            if bare and run is not bare
            else "1×"
        )
        queue = f"{1000 * pct(run.queued, 99):.1f}" if run.queued else "-"
        cpu = f"{1000 * run.cpu / run.updates:.2f}" if run.cpu else "-"
        lines.append(
            f"| {run.label} | {run.updates} | {run.seconds:.1f} | {run.rate:,.0f} "
            f"| {1000 * pct(run.latencies, 50):.2f} | {1000 * pct(run.latencies, 99):.2f} "
            f"| {1000 * max(run.latencies):.1f} | {queue} | {cpu} | {vs_rate} | {vs_p50} |"
        )
    notes = [
        f"concurrency: {concurrency} worker threads (asyncio.to_thread under a semaphore; "
        "runtime path: as many updates in flight, on a default executor of that many threads)",
        "latency = engine.handle only; 'incl. queue' = the to_thread round trip once past "
        "the semaphore; runtime path: from the start of accept to the end of process",
        "CPU ms/update = the process's user + system CPU time (all threads, the simulated "
        "clients too) per update",
    ]
    for run in runs:
        share = 100 * run.reading / (run.seconds * concurrency) if run.seconds else 0
        notes.append(
            f"{run.label}: {run.completed} clients finished, {run.answers} answers stored; "
            f"simulated clients reading buttons ~{share:.1f}% of worker time {run.note}".rstrip()
        )
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="simulated clients (1000)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--path",
        choices=["handle", "runtime", "both"],
        default="both",
        help="engine.handle per update, or accept + ChatWorkers as TelegramRuntime (both)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="worker threads (8)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of a small run")
    parser.add_argument("--profile-clients", type=int, default=50, help="clients profiled (50)")
    args = parser.parse_args(argv)
    if args.concurrency > 15:
        print("note: the database pool holds 15 connections; more threads wait for one")

    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(f"Machine: {machine()}")
    print(
        f"Flow: /start, consent Yes x3, PHQ-2 positive, PHQ-9 (items 3-10): "
        f"{UPDATES_PER_CLIENT} updates per client; target >= 1,000 updates/s on SQLite, "
        "p99 < 50 ms\n",
        flush=True,
    )
    runs: list[Run] = []
    recorded: list[dict[str, Any]] = []
    paths = ["handle", "runtime"] if args.path == "both" else [args.path]
    for kind in kinds:
        for path in paths:
            record = recorded if not recorded and path == "handle" else None
            run = bench_ours(kind, args.clients, args.concurrency, record, path)
            if run is not None:
                runs.append(run)
    bare = bench_bare(recorded) if recorded else None  # the updates of the first handle run
    print()
    print(table(runs, bare, args.concurrency))
    sqlite = next((r for r in runs if r.label == "SQLite file"), None)
    if sqlite is not None:
        p99 = 1000 * pct(sqlite.latencies, 99)
        print(
            f"\nTarget on SQLite: {sqlite.rate:,.0f} updates/s "
            f"({'meets' if sqlite.rate >= 1000 else 'MISSES'} >= 1,000), p99 {p99:.1f} ms "
            f"({'meets' if p99 < 50 else 'MISSES'} < 50 ms)"
        )
    print(f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.profile:
        print()
        print(profile(kinds[0], args.profile_clients))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
