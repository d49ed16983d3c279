"""Benchmark 3 of issue 7: schedule scale.

Part A, the dispatch pass. For N cases (default 10,000 and 100,000) with pending scheduled
contacts, most due in the future and exactly ``--due`` (1,000) due now and inside contact
hours, one production tick is timed: ``run_due`` (settle, claim and send in batches, plan
check-ins) and then ``engine.escalate``, as ``scheduling.ticker.housekeeping`` calls them.
Each timed pass meets fresh due rows (one group of the seeded due pool per pass), and the
messages a pass queues are marked sent before the next, as the outbox sender would. Every
SQL statement of the pass is timed, so the claim query's own time is reported, and pass 1
also records the plan of every statement it runs (SQLite ``EXPLAIN QUERY PLAN``,
PostgreSQL ``EXPLAIN (ANALYZE, BUFFERS)``; explaining is not counted in its time) to show
which use an index and which read a table whole.

Part B, memory. The real ``cm-bot run`` (``BotProcess``, talking to an in-process
``FakeBotAPI``) starts on a database with 1,000 and with 100,000 clients (with their cases,
history and pending contacts). Its resident memory is read after start-up and a few idle
ticks, then ``--memory-due`` contacts are made due, and it is read again once a tick has
sent them all and the outbox is drained; ``VmHWM`` is the peak.

The data are bulk-inserted (``_seed.py``) in the shape the app writes them, into a schema
made by the migrations (the indexes this benchmark first proposed are migration 0005).

    .venv/bin/python bench/schedule_scale.py [--sizes 10000,100000] [--due 1000]
        [--db sqlite|postgres|both] [--memory-sizes 1000,100000] [--part a|b|both]
        [--no-sweep] [--plans]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlmodel import col

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))  # runs from a plain checkout too
sys.path.insert(0, str(BENCH))

import _seed  # noqa: E402
from engine_throughput import database, machine  # noqa: E402

from cm_bot.bootstrap import build_app  # noqa: E402
from cm_bot.scheduling import run_due  # noqa: E402
from cm_bot.scheduling.dispatcher import DispatchReport  # noqa: E402
from cm_bot.scheduling.planner import policy_from_settings  # noqa: E402
from cm_bot.settings import Settings  # noqa: E402
from cm_bot.storage.models import Outbox, ScheduledContact  # noqa: E402
from cm_bot.testing import FakeBotAPI  # noqa: E402
from cm_bot.testing.bot_process import BotProcess, bot_env  # noqa: E402

BIG_TABLES = {
    "client",
    "case",
    "channelidentity",
    "goal",
    "scheduledcontact",
    "flowrun",
    "consentrecord",
    "response",
    "flag",
    "auditlog",
    "outbox",
    "prompttoken",
    "inboundmessage",
}
# Queries of the pass worth a name (first match wins); the rest are labelled by their SQL.
KNOWN = [
    ("claim due contacts", re.compile(r"FROM scheduledcontact\s+WHERE .*due_at <= .*LIMIT", re.S)),
    ("cases of the claimed contacts", re.compile(r"FROM case\s+WHERE case\.id IN")),
    ("goals needing a check-in", re.compile(r"FROM goal JOIN", re.S)),
    ("settle: unsettled finished contacts", re.compile(r"scheduledcontact\.closed_at IS NULL")),
    ("due escalations (flags)", re.compile(r"FROM flag\b.*escalated_at IS NULL", re.S)),
    ("lock the batch's clients", re.compile(r"FROM client LEFT OUTER JOIN channelidentity")),
    ("open runs of the batch's clients", re.compile(r"FROM flowrun\s+WHERE flowrun\.client_id IN")),
    ("replied? (reminders)", re.compile(r"flowrun\.scheduled_contact_id = ")),
    ("last check-in progress", re.compile(r"FROM response\s+WHERE response\.goal_id = ")),
    ("consent version", re.compile(r"FROM consentrecord\s+WHERE consentrecord\.client_id")),
]


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- SQL recording -----------------------------------------------------------------------------


def normalise(statement: str) -> str:
    """One key per statement shape: expanded IN lists and numbered parameters collapsed."""
    s = re.sub(r"\s+", " ", statement).strip()
    s = re.sub(r"%\((\w+?)_\d+(?:_\d+)?\)s", r"%(\1)s", s)
    s = re.sub(r"(\?|%\(\w+\)s)(, (\?|%\(\w+\)s))+", r"\1…", s)
    return s.replace('"', "")


def label(shape: str) -> str:
    for name, pattern in KNOWN:
        if pattern.search(shape):
            return name
    verb = shape.split(" ", 1)[0]
    table = re.search(r"(?:FROM|INTO|UPDATE) (\w+)", shape)
    where = re.search(r" WHERE (.*?)(?: ORDER BY| LIMIT| GROUP BY| RETURNING| FOR UPDATE|$)", shape)
    cols = (
        sorted(set(re.findall(r"\w+\.(\w+) (?:=|IN|<=|>=|<|>|IS)", where.group(1))))
        if where
        else []
    )
    text = f"{verb} {table.group(1) if table else '?'}"
    return f"{text} by {', '.join(cols)}" if cols else text


@dataclass
class Shape:
    calls: int = 0
    seconds: list[float] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.seconds)


class Recorder:
    """Times every statement on an engine; in ``explain`` mode, records each SELECT's plan."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.shapes: dict[str, Shape] = defaultdict(Shape)
        self.explain = False
        self.explaining = 0.0  # seconds spent on EXPLAIN, taken out of the pass's time
        self.active = False
        self.postgres = db.dialect.name == "postgresql"
        event.listen(db, "before_cursor_execute", self._before)
        event.listen(db, "after_cursor_execute", self._after)

    def close(self) -> None:
        event.remove(self.db, "before_cursor_execute", self._before)
        event.remove(self.db, "after_cursor_execute", self._after)

    @contextlib.contextmanager
    def recording(self, *, explain: bool = False) -> Iterator[dict[str, Shape]]:
        self.shapes = defaultdict(Shape)
        self.explain, self.active, self.explaining = explain, True, 0.0
        try:
            yield self.shapes
        finally:
            self.active = False

    def _before(
        self, _conn: Any, cursor: Any, statement: str, params: Any, context: Any, *_: Any
    ) -> None:
        if not self.active:
            return
        shape = normalise(statement)
        entry = self.shapes[shape]
        if self.explain and not entry.plan:
            started = time.perf_counter()
            entry.plan = self._plan(cursor, statement, params)
            self.explaining += time.perf_counter() - started
        if context is not None:
            context._bench_started = time.perf_counter()

    def _after(
        self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, *_: Any
    ) -> None:
        if not self.active or context is None or not hasattr(context, "_bench_started"):
            return
        entry = self.shapes[normalise(statement)]
        entry.calls += 1
        entry.seconds.append(time.perf_counter() - context._bench_started)

    def _plan(self, cursor: Any, statement: str, params: Any) -> list[str]:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if self.postgres:
            if verb == "SELECT":
                prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
            elif verb in ("UPDATE", "DELETE"):
                prefix = "EXPLAIN (COSTS OFF) "  # ANALYZE would run the write twice
            else:
                return ["(not explained)"]
            cursor.execute(prefix + statement, params)
            return [row[0] for row in cursor.fetchall()]
        if verb not in ("SELECT", "UPDATE", "DELETE"):
            return ["(not explained)"]
        cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
        rows = cursor.fetchall()
        depth = {0: -1}
        lines = []
        for node, parent, _unused, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        return lines


def full_scans(plan: list[str]) -> list[str]:
    """Big tables a plan reads whole or nearly: SQLite ``SCAN``, PostgreSQL ``Seq Scan``, or
    any PostgreSQL scan that threw away 1,000 rows or more (an index walked end to end)."""
    found = []
    table = ""
    for line in plan:
        m = re.search(r"\bSCAN (\w+)", line) or re.search(r"Seq Scan on (\w+)", line)
        if m and m.group(1) in BIG_TABLES:
            found.append(m.group(1))
        scan = re.search(r"Scan (?:using \w+ )?on (\w+)", line)
        if scan:
            table = scan.group(1)
        removed = re.search(r"Rows Removed by Filter: (\d+)", line)
        if removed and int(removed.group(1)) >= 1000 and table in BIG_TABLES:
            found.append(f"{table} (filtered {int(removed.group(1)):,})")
    return sorted(set(found))


# -- Part A ------------------------------------------------------------------------------------


@dataclass
class Pass:
    seconds: float
    run_due: float
    escalate: float
    report: DispatchReport
    statements: int
    shapes: dict[str, Shape]


@dataclass
class SizeResult:
    kind: str
    cases: int
    contacts: int
    rows: int
    seed_seconds: float
    passes: list[Pass] = field(default_factory=list)
    plans: dict[str, Shape] = field(default_factory=dict)
    note: str = ""

    @property
    def label(self) -> str:
        return "SQLite file" if self.kind == "sqlite" else "PostgreSQL"


def one_pass(app: Any, policy: Any, sweep: bool) -> tuple[float, float, DispatchReport]:
    now = utcnow()
    started = time.perf_counter()
    report = run_due(app.engine, now, policy, sweep=sweep)
    middle = time.perf_counter()
    app.engine.escalate(now)
    return middle - started, time.perf_counter() - middle, report


def bench_size(kind: str, cases: int, due: int, repeats: int, sweep: bool) -> SizeResult | None:
    with (
        tempfile.TemporaryDirectory(prefix="cm-sched-") as tmp,
        database(kind, Path(tmp)) as got,
    ):
        if got is None:
            return None
        db, url = got
        name = "SQLite file" if kind == "sqlite" else "PostgreSQL"
        print(f"[{name}] seeding {cases:,} cases ...", flush=True)
        seeded = _seed.seed(db, cases, due=due, groups=repeats, now=utcnow())
        print(
            f"[{name}] {seeded.rows:,} rows ({seeded.contacts:,} scheduled contacts) "
            f"in {seeded.seconds:.0f} s",
            flush=True,
        )
        result = SizeResult(kind, cases, seeded.contacts, seeded.rows, seeded.seconds)
        app = build_app(Settings(database_url=url), migrate=False)
        policy = policy_from_settings(app.settings)
        recorder = Recorder(app.db)
        try:
            for index, group in enumerate(seeded.groups, start=1):
                _seed.arm(db, group, utcnow())
                first = index == 1
                with recorder.recording(explain=first) as shapes:
                    dispatch, escalate, report = one_pass(app, policy, sweep)
                dispatch -= recorder.explaining  # EXPLAIN is not part of the pass
                _seed.drain_outbox(db, utcnow())  # the sender, between two ticks
                done = report.sent + report.reminded
                print(
                    f"[{name}] pass {index}: {dispatch + escalate:.2f} s"
                    f"{' (plans recorded, not counted)' if first else ''}; {report}",
                    flush=True,
                )
                if done != due or report.deferred or report.failed:
                    result.note = f"pass {index}: {done} of {due} sent ({report})"
                if first:
                    result.plans = dict(shapes)
                result.passes.append(
                    Pass(
                        dispatch + escalate,
                        dispatch,
                        escalate,
                        report,
                        sum(s.calls for s in shapes.values()),
                        dict(shapes),
                    )
                )
        finally:
            recorder.close()
            app.close()
        return result


def median_pass(result: SizeResult) -> Pass:
    ordered = sorted(result.passes, key=lambda p: p.seconds)
    return ordered[len(ordered) // 2]


def claim_stats(p: Pass) -> tuple[float, float, int]:
    """The claim query in a pass: first execution (all due rows waiting), median, count."""
    for shape, entry in p.shapes.items():
        if label(shape) == "claim due contacts":
            return 1000 * entry.seconds[0], 1000 * statistics.median(entry.seconds), entry.calls
    return 0.0, 0.0, 0


def pass_table(results: list[SizeResult], due: int) -> str:
    lines = [
        "| Database | Cases | Contacts | Due | Pass min s | Pass median s | run_due s | "
        "escalate ms | ms per contact | SQL per contact | Claim query ms (first / median, n) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if not r.passes:
            continue
        med = median_pass(r)
        best = min(p.seconds for p in r.passes)
        first, median, n = claim_stats(med)
        lines.append(
            f"| {r.label} | {r.cases:,} | {r.contacts:,} | {due:,} | {best:.2f} | "
            f"{med.seconds:.2f} | {med.run_due:.2f} | {1000 * med.escalate:.1f} | "
            f"{1000 * med.seconds / due:.1f} | {med.statements / due:.1f} | "
            f"{first:.2f} / {median:.2f}, {n} |"
        )
    return "\n".join(lines)


def growth_table(results: list[SizeResult]) -> str:
    """Per statement shape: time per pass at each size, to show what grows with N."""
    by_kind: dict[str, list[SizeResult]] = defaultdict(list)
    for r in results:
        if r.passes:
            by_kind[r.kind].append(r)
    out = []
    for rs in by_kind.values():
        rs.sort(key=lambda r: r.cases)
        small, big = rs[0], rs[-1]
        ms, mb = median_pass(small), median_pass(big)
        shapes = set(ms.shapes) | set(mb.shapes)
        rows = []
        for shape in shapes:
            a, b = ms.shapes.get(shape, Shape()), mb.shapes.get(shape, Shape())
            plan = big.plans.get(shape, Shape()).plan
            rows.append((b.total, shape, a, b, full_scans(plan)))
        rows.sort(reverse=True)
        named = {name for name, _ in KNOWN}
        rows = rows[:12] + [row for row in rows[12:] if label(row[1]) in named]
        out.append(
            f"**{big.label}**: SQL time per pass by statement, {small.cases:,} vs {big.cases:,} "
            "cases (median pass; the 12 slowest at the larger size, then the other named ones)\n"
        )
        out.append(
            f"| Statement | Calls | ms/pass at {small.cases:,} | ms/pass at {big.cases:,} | "
            f"Growth | ms/call at {big.cases:,} | Full scans (plan at {big.cases:,}) |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---|")
        for _total, shape, a, b, scans in rows:
            growth = f"{b.total / a.total:.1f}×" if a.total else "-"
            per_call = 1000 * b.total / b.calls if b.calls else 0
            out.append(
                f"| {label(shape)} | {b.calls} | {1000 * a.total:.1f} | {1000 * b.total:.1f} | "
                f"{growth} | {per_call:.2f} | {', '.join(scans) or '-'} |"
            )
        sql_a = sum(s.total for s in ms.shapes.values())
        sql_b = sum(s.total for s in mb.shapes.values())
        out.append(
            f"\nAll SQL (cursor execute): {sql_a:.2f} s of {ms.seconds:.2f} s at {small.cases:,}; "
            f"{sql_b:.2f} s of {mb.seconds:.2f} s at {big.cases:,}.\n"
        )
    return "\n".join(out)


def plans_text(results: list[SizeResult], *, everything: bool = False) -> str:
    """The claim query's plan and, with ``everything``, every plan that reads a table whole."""
    out = []
    for r in results:
        if not r.plans:
            continue
        out.append(f"--- {r.label}, {r.cases:,} cases: plans recorded in pass 1 ---")
        for shape, entry in sorted(r.plans.items(), key=lambda kv: label(kv[0])):
            name = label(shape)
            scans = full_scans(entry.plan)
            if name != "claim due contacts" and not (everything and scans):
                continue
            out.append(f"\n[{name}]{'  FULL SCAN: ' + ', '.join(scans) if scans else ''}")
            out.append(f"  SQL: {shape[:600]}")
            out.extend(f"    {line}" for line in entry.plan)
        out.append("")
    return "\n".join(out)


# -- Part B ------------------------------------------------------------------------------------


@dataclass
class Memory:
    kind: str
    clients: int
    due: int
    startup_kib: int = 0
    idle_kib: int = 0
    after_kib: int = 0
    peak_kib: int = 0
    sent_after: float = 0.0
    messages: int = 0
    note: str = ""

    @property
    def label(self) -> str:
        return "SQLite file" if self.kind == "sqlite" else "PostgreSQL"


def _count_sent(db: Engine, ids: list[int], worker: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(ScheduledContact)
                .where(
                    col(ScheduledContact.id).in_(ids),
                    col(ScheduledContact.claimed_by) == worker,
                )
            ).scalar_one()
        )


def _outbox_waiting(db: Engine) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(Outbox)
                .where(col(Outbox.status).in_(("pending", "sending")))
            ).scalar_one()
        )


async def _poll(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(0.5)


async def memory_run(kind: str, clients: int, due: int, tick: float, wait: float) -> Memory | None:
    with (
        tempfile.TemporaryDirectory(prefix="cm-mem-") as tmp,
        database(kind, Path(tmp)) as got,
    ):
        if got is None:
            return None
        db, url = got
        result = Memory(kind, clients, due)
        name = f"{result.label}, {clients:,} clients"
        print(f"[memory: {name}] seeding ...", flush=True)
        seeded = await asyncio.to_thread(
            _seed.seed, db, clients, due=due, groups=1, now=utcnow(), progress=False
        )
        group = seeded.groups[0]
        async with FakeBotAPI() as api:
            env = bot_env(api, url, tick_seconds=str(tick))
            bot = BotProcess(env, Path(tmp) / "bot.log")
            await bot.start()
            try:
                await api.wait_for_calls("getUpdates", 2, timeout=120)
                result.startup_kib = bot.rss_kib()
                await asyncio.sleep(3 * tick + 1)  # idle ticks: nothing due yet
                result.idle_kib = bot.rss_kib()
                worker = f"{socket.gethostname()}:{bot.pid}"
                armed = time.monotonic()
                try:
                    await asyncio.to_thread(_seed.arm, db, group, utcnow())
                    await _poll(
                        lambda: _count_sent(db, group, worker) >= due, wait, "the due contacts"
                    )
                    result.sent_after = time.monotonic() - armed
                    await _poll(lambda: _outbox_waiting(db) == 0, wait, "the outbox to drain")
                    await asyncio.sleep(2 * tick + 1)  # and a few more ticks
                except (TimeoutError, OperationalError) as exc:
                    # A bot tick that holds SQLite's write lock for minutes: say so, and
                    # read the memory anyway.
                    what = str(exc).splitlines()[0]
                    waited = time.monotonic() - armed
                    result.note = f"after {waited:.0f} s: {what}; memory read anyway"
                    print(f"[memory: {name}] {result.note}", flush=True)
                result.after_kib = bot.rss_kib()
                result.peak_kib = bot.peak_rss_kib()
                result.messages = len(api.sent)
            except BaseException:
                print(bot.output()[-4000:])
                raise
            finally:
                code = await bot.stop()
                if code != 0:
                    result.note = f"{result.note}; exit code {code}".lstrip("; ")
        print(
            f"[memory: {name}] start-up {result.startup_kib / 1024:.1f} MiB, "
            f"peak {result.peak_kib / 1024:.1f} MiB",
            flush=True,
        )
        return result


def memory_table(results: list[Memory]) -> str:
    lines = [
        "| Database | Clients | Due | RSS after start-up MiB | RSS after idle ticks MiB | "
        "RSS after sending MiB | Peak (VmHWM) MiB | Peak vs smallest | Due sent after s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    smallest: dict[str, int] = {}
    for r in sorted(results, key=lambda r: (r.kind, r.clients)):
        base = smallest.setdefault(r.kind, r.peak_kib)
        lines.append(
            f"| {r.label} | {r.clients:,} | {r.due:,} | {r.startup_kib / 1024:.1f} | "
            f"{r.idle_kib / 1024:.1f} | {r.after_kib / 1024:.1f} | {r.peak_kib / 1024:.1f} | "
            f"{r.peak_kib / base:.2f} | {r.sent_after:.1f} |".replace("| 0.0 |", "| not sent |")
            + (f" {r.note}" if r.note else "")
        )
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------


def sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=sizes, default=[10_000, 100_000], help="cases (Part A)")
    parser.add_argument("--due", type=int, default=1000, help="contacts due per pass (1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per size (3)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--memory-sizes", type=sizes, default=[1000, 100_000], help="clients (B)")
    parser.add_argument("--memory-due", type=int, default=100, help="due in Part B (100)")
    parser.add_argument("--tick", type=float, default=2.0, help="CM_BOT_TICK_SECONDS in B (2)")
    parser.add_argument(
        "--memory-wait", type=float, default=600, help="give up waiting for sends after (600 s)"
    )
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    parser.add_argument(
        "--plans", action="store_true", help="also print every plan that reads a table whole"
    )
    parser.add_argument(
        "--no-sweep",
        action="store_true",
        help="time the ticker's usual pass, without the hourly sweep over every goal",
    )
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(f"Machine: {machine()}", flush=True)
    print("Pass: run_due " + ("without" if args.no_sweep else "with") + " the check-in sweep\n")

    if args.part in ("a", "both"):
        results: list[SizeResult] = []
        for kind in kinds:
            for n in args.sizes:
                r = bench_size(kind, n, args.due, args.repeats, not args.no_sweep)
                if r is not None:
                    results.append(r)
        print("\n## Part A: one dispatch pass (run_due + escalate)\n")
        print(pass_table(results, args.due))
        for r in results:
            if r.note:
                print(f"- {r.label} {r.cases:,}: NOTE {r.note}")
        print()
        print(growth_table(results))
        print(plans_text(results, everything=args.plans))
        print(f"Load average after Part A: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.part in ("b", "both"):
        memories: list[Memory] = []
        for kind in kinds:
            for n in args.memory_sizes:
                m = asyncio.run(memory_run(kind, n, args.memory_due, args.tick, args.memory_wait))
                if m is not None:
                    memories.append(m)
        print("\n## Part B: memory of `cm-bot run`\n")
        print(memory_table(memories))
    print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
