"""Benchmark 2 of issue 7: the outbound rate against Telegram's flood limits.

N messages (default 10,000) for C private chats (default 2,000), each text carrying a unique
marker, are queued through the real enqueue path (``store.unit()`` + ``uow.enqueue``), all
due at once, while the bot runs as in production: ``python -m cm_bot run`` (the code
``cm-bot run`` runs) in a subprocess, long polling the Bot API emulator
(:class:`cm_bot.testing.FakeBotAPI`, served from this process) with Telegram's limits
enforced: 30 messages/s for the bot, 3 messages in any 3 s per private chat, a 429 with
``retry_after`` beyond that. The bot's sender uses its shipped :class:`Limits`.

Everything is measured at the emulator, from what it accepted: the achieved rate (messages
over the time from the first batch queued to the last message accepted) and its fraction of
30/s, 429s answered, duplicates (a marker accepted twice), lost messages (never accepted),
per-chat order, the busiest 1 s window overall and per chat, and queue-to-delivery latency
(commit of the message's batch to its acceptance; the same monotonic clock on both sides).
The outbox statuses at the end are read from the database.

    .venv/bin/python bench/outbound.py [--messages N] [--chats C] [--db sqlite|postgres|both]
                                       [--backend aiogram|ptb] [--order chat|round]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlmodel import col

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runs from a plain checkout too

from engine_throughput import PG_URL, database, machine, pct  # noqa: E402

from cm_bot.domain import Outbound  # noqa: E402
from cm_bot.notify.sender import Limits  # noqa: E402
from cm_bot.storage import SqlStore  # noqa: E402
from cm_bot.storage.db import transaction  # noqa: E402
from cm_bot.storage.models import Outbox  # noqa: E402
from cm_bot.storage.outbox import ACTIVE  # noqa: E402
from cm_bot.testing import FakeBotAPI, RateLimits  # noqa: E402
from cm_bot.testing.bot_process import BotProcess, bot_env  # noqa: E402

CHANNEL = "telegram"
FIRST_CHAT = 8_000_000
BATCH = 500  # messages per enqueue transaction
MARKER = re.compile(r"\[m(\d+)\]")
TELEGRAM = RateLimits()  # what the emulator enforces: Telegram's documented limits


@dataclass
class Queued:
    """One message as the benchmark queued it."""

    chat: int
    seq: int  # position in its chat's queue
    at: float = 0.0  # monotonic time its batch committed


@dataclass
class Result:
    label: str
    messages: int
    chats: int
    enqueue_s: float = 0.0
    wall_s: float = 0.0
    steady_rate: float = 0.0  # msgs/s between the 10th and the 90th percentile acceptance
    delivered: int = 0  # distinct markers accepted
    duplicates: int = 0
    lost: int = 0
    out_of_order: int = 0  # chats whose messages arrived out of queue order
    rejected_429: int = 0
    send_calls: int = 0
    max_global_1s: int = 0
    max_chat_1s: int = 0
    max_chat_3s: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    bot_peak_rss_mib: float = 0.0
    note: str = ""

    @property
    def rate(self) -> float:
        return self.delivered / self.wall_s if self.wall_s else 0.0

    @property
    def fraction(self) -> float:
        return self.rate / TELEGRAM.global_per_second


def plan(messages: int, chats: int, order: str) -> list[Queued]:
    """Who gets message ``i``: chat by chat (the worst order for pacing) or round robin."""
    seen: Counter[int] = Counter()
    queued = []
    for index in range(messages):
        chat = FIRST_CHAT + (index * chats // messages if order == "chat" else index % chats)
        seen[chat] += 1
        queued.append(Queued(chat, seen[chat]))
    return queued


def text_of(index: int, item: Queued) -> str:
    return f"Reminder {item.seq}: your check-in is due today. [m{index:06d}]"


def enqueue(db: Engine, queued: list[Queued]) -> None:
    """Queue every message, BATCH per transaction, as the engine and the scheduler do."""
    store = SqlStore(db)
    for start in range(0, len(queued), BATCH):
        batch = range(start, min(start + BATCH, len(queued)))
        with store.unit() as uow:
            for index in batch:
                item = queued[index]
                uow.outbox.enqueue(Outbound(CHANNEL, str(item.chat), text_of(index, item)))
        committed = time.monotonic()
        for index in batch:
            queued[index].at = committed


def outbox_statuses(db: Engine) -> dict[str, int]:
    with transaction(db) as session:
        rows = session.execute(
            select(col(Outbox.status), func.count()).group_by(col(Outbox.status))
        ).all()
    return {str(status): int(n) for status, n in rows}


def busiest(times: Sequence[float], window: float) -> int:
    """Most events within any ``window`` seconds (a sliding window; ``times`` sorted)."""
    best = start = 0
    for end, now in enumerate(times):
        while times[start] <= now - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def measure(result: Result, api: FakeBotAPI, queued: list[Queued], first_queued: float) -> None:
    """Fill ``result`` from what the emulator accepted."""
    seen: Counter[int] = Counter()
    delivered_at: dict[int, float] = {}
    per_chat: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for message in api.sent:
        found = MARKER.search(message.text or "")
        if found is None:
            continue
        index = int(found.group(1))
        seen[index] += 1
        delivered_at.setdefault(index, message.time)
        per_chat[message.chat_id].append((message.time, queued[index].seq))
    result.delivered = len(seen)
    result.duplicates = sum(n - 1 for n in seen.values())
    result.lost = len(queued) - len(seen)
    result.rejected_429 = api.rejected_429
    result.send_calls = api.calls["sendMessage"]
    times = sorted(m.time for m in api.sent)
    if times:
        result.wall_s = times[-1] - first_queued
        low, high = len(times) // 10, len(times) * 9 // 10
        if high > low and times[high] > times[low]:
            result.steady_rate = (high - low) / (times[high] - times[low])
    result.max_global_1s = busiest(times, 1.0)
    for arrivals in per_chat.values():
        arrivals.sort()
        stamps = [t for t, _ in arrivals]
        result.max_chat_1s = max(result.max_chat_1s, busiest(stamps, 1.0))
        result.max_chat_3s = max(result.max_chat_3s, busiest(stamps, 3.0))
        seqs = [s for _, s in arrivals]
        result.out_of_order += seqs != sorted(seqs)
    result.latencies = [at - queued[i].at for i, at in delivered_at.items()]


async def wait_for_delivery(
    api: FakeBotAPI, db: Engine, bot: BotProcess, expected: int, deadline: float
) -> str:
    """Wait until every message is accepted and the outbox has nothing left; "" when it was."""
    last_report = time.monotonic()
    while True:
        with contextlib.suppress(TimeoutError):
            await api.wait_until(lambda: len(api.sent) >= expected, timeout=5.0)
        if not bot.running:
            return "the bot exited"
        left = await asyncio.to_thread(
            lambda: sum(n for s, n in outbox_statuses(db).items() if s in ACTIVE)
        )
        if left == 0:
            return "" if len(api.sent) >= expected else "outbox finished, messages missing"
        now = time.monotonic()
        if now > deadline:
            return f"gave up with {left} messages unfinished"
        if now - last_report >= 30:
            last_report = now
            print(f"  ... {len(api.sent)} accepted, {left} unfinished", flush=True)


async def run_once(
    kind: str, messages: int, chats: int, backend: str, order: str, workdir: Path
) -> Result | None:
    label = f"{'SQLite file' if kind == 'sqlite' else 'PostgreSQL'}, {backend}"
    with database(kind, workdir) as got:
        if got is None:
            return None
        db, url = got
        queued = plan(messages, chats, order)
        result = Result(label, messages, chats)
        first = 0.0
        api = FakeBotAPI(enforce_limits=True)
        await api.start()
        log = workdir / f"bot-{kind}.log"
        bot = BotProcess(bot_env(api, url, backend=backend), log)
        try:
            await bot.start()
            await api.wait_for_calls("getUpdates", timeout=60)
            print(f"[{label}] bot polling; queueing {messages} messages ...", flush=True)
            started = time.monotonic()
            await asyncio.to_thread(enqueue, db, queued)
            result.enqueue_s = queued[-1].at - started
            first = queued[0].at
            print(f"[{label}] queued in {result.enqueue_s:.1f} s; sending ...", flush=True)
            # 30/s is the ceiling, so the fastest run takes messages/30 s; allow three times.
            deadline = time.monotonic() + 3 * messages / TELEGRAM.global_per_second + 120
            result.note = await wait_for_delivery(api, db, bot, messages, deadline)
            if bot.running:
                result.bot_peak_rss_mib = bot.peak_rss_kib() / 1024
        finally:
            if bot.process is not None:
                code = await bot.stop()
                if code != 0 or result.note:
                    tail = "\n".join(bot.output().splitlines()[-20:])
                    print(f"[{label}] bot exit code {code}; last lines of its log:\n{tail}")
            await api.stop()
        measure(result, api, queued, first)
        result.statuses = await asyncio.to_thread(outbox_statuses, db)
        print(f"[{label}] done in {result.wall_s:.1f} s", flush=True)
        return result


def table(results: list[Result]) -> str:
    lines = [
        "| Run | Messages | Chats | Wall s | Msgs/s | Of 30/s | Middle 80 % msgs/s | 429s "
        "| Duplicates | Lost "
        "| Max/s overall | Max per chat in 1 s / 3 s | p50 s | p99 s | max s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lat = r.latencies or [0.0]
        lines.append(
            f"| {r.label} | {r.messages:,} | {r.chats:,} | {r.wall_s:.1f} | {r.rate:.2f} "
            f"| {r.fraction:.3f} | {r.steady_rate:.2f} | {r.rejected_429} | {r.duplicates} "
            f"| {r.lost} "
            f"| {r.max_global_1s} | {r.max_chat_1s} / {r.max_chat_3s} "
            f"| {pct(lat, 50):.1f} | {pct(lat, 99):.1f} | {max(lat):.1f} |"
        )
    notes = []
    for r in results:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(r.statuses.items()))
        notes.append(
            f"{r.label}: queued in {r.enqueue_s:.1f} s ({BATCH} per transaction); "
            f"{r.send_calls} sendMessage calls; chats out of order: {r.out_of_order}; "
            f"outbox at the end: {statuses}; bot peak RSS {r.bot_peak_rss_mib:.0f} MiB"
            + (f"; NOTE: {r.note}" if r.note else "")
        )
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages queued (10000)")
    parser.add_argument("--chats", type=int, default=2_000, help="private chats (2000)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--backend", choices=["aiogram", "ptb"], default="aiogram")
    parser.add_argument(
        "--order",
        choices=["chat", "round"],
        default="chat",
        help="queue order: chat by chat (default, the worst for pacing) or round robin",
    )
    args = parser.parse_args(argv)
    if not 0 < args.chats <= args.messages:
        parser.error("need 0 < chats <= messages")
    os.environ.setdefault("PTB_TIMEDELTA", "true")  # as `cm-bot run` does

    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    limits = Limits()
    print(f"Machine: {machine()}")
    print(
        f"Emulator limits: {TELEGRAM.global_per_second}/s overall, {TELEGRAM.private_burst} "
        f"per {TELEGRAM.private_burst / TELEGRAM.private_per_second:.0f} s per private chat. "
        f"Sender limits (shipped defaults): {limits.per_second:g}/s overall, "
        f"{limits.private_burst} per {limits.private_burst * limits.private_interval:g} s "
        f"per chat, {limits.concurrency} requests in flight.\n"
        f"Bot: `python -m cm_bot run` (subprocess, long polling), backend {args.backend}; "
        f"{args.messages:,} messages for {args.chats:,} chats queued "
        f"{'chat by chat' if args.order == 'chat' else 'round robin'}; PostgreSQL at {PG_URL}.\n"
        "Target: >= 0.9 of 30/s, no 429, no duplicates.\n",
        flush=True,
    )
    results: list[Result] = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="cm-bench-out-") as tmp:
            got = asyncio.run(
                run_once(kind, args.messages, args.chats, args.backend, args.order, Path(tmp))
            )
        if got is not None:
            results.append(got)
    print()
    print(table(results))
    for r in results:
        verdict = (
            "meets"
            if r.fraction >= 0.9 and r.rejected_429 == 0 and r.duplicates == 0 and r.lost == 0
            else "MISSES"
        )
        print(
            f"\nTarget on {r.label}: {r.fraction:.3f} of 30/s, {r.rejected_429} 429s, "
            f"{r.duplicates} duplicates, {r.lost} lost: {verdict}"
        )
    print(f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
