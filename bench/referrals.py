"""Resource matching over a 5,000-service directory (issue 17): ``resources match`` at p95.

A synthetic Open Referral directory (``tests/resources/directory.py``: seven common
taxonomy terms, three languages, assured dates spread over two years, one service in ten
inactive) is written as an HSDS CSV package and imported the way ``cm-bot resources
import`` does it (read and check, then one transaction). Then, per database:

- **match()**: ``cm_bot.resources.match.match`` as ``cm-bot resources match NEED
  --language L`` and the conversation call it: the ranking query, then the details of
  the 3 services offered (phones, addresses, languages, schedules, organization), built
  into ``ServiceOffer`` values. Needs and languages rotate over the shipped mapping
  (food, hunger, living_situation, utilities, transportation, safety) and (none, es, uk).
- **bare SQL**: the very same ranking query (``ranking_query(...).limit(3)``, compiled
  with its values inlined) run on the raw DB-API cursor, fetching its rows: what the
  database itself takes, without SQLAlchemy, the details or the Python around them.

Each timed call follows one untimed warm-up round; the table gives p50, p95 and max in
milliseconds. The target is match() under 20 ms at p95.

    .venv/bin/python bench/referrals.py [--services N] [--runs N] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runs from a plain checkout too
sys.path.insert(0, str(ROOT))  # the synthetic directory lives with the tests

from tests.resources.directory import build, write_csv  # noqa: E402

from cm_bot.program import shipped_program  # noqa: E402
from cm_bot.resources.hsds import read_package  # noqa: E402
from cm_bot.resources.match import match, ranking_query  # noqa: E402
from cm_bot.resources.store import import_package  # noqa: E402
from cm_bot.storage import create_db_engine, ensure_schema  # noqa: E402

PG_URL = os.environ.get("CM_BOT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime.now(UTC)
NEEDS = ("food", "hunger", "living_situation", "utilities", "transportation", "safety")
LANGUAGES = (None, "es", "uk")


@dataclass
class Row:
    """One measured call on one database: its times in seconds."""

    database: str
    label: str
    times: list[float] = field(default_factory=list)

    def ms(self, q: float) -> float:
        ordered = sorted(self.times)
        return 1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def machine() -> str:
    import platform

    import sqlalchemy

    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs ({cpu}), Python "
        f"{platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}; load average {load}"
    )


def bare(engine: Engine, sql: str) -> Callable[[], object]:
    """Run ``sql`` on a raw DB-API cursor and fetch its rows."""

    def run() -> object:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql)
            rows = cursor.fetchall()
            cursor.close()
            return rows
        finally:
            raw.close()

    return run


def bench_one(engine: Engine, name: str, services: int, runs: int, package_dir: Path) -> list[Row]:
    ensure_schema(engine)
    started = time.perf_counter()
    package = read_package(package_dir)
    checked = time.perf_counter() - started
    counts = import_package(engine, package, "cli:bench", NOW)
    stored = time.perf_counter() - started - checked
    print(
        f"{name}: {services} services imported (checked in {checked:.1f} s, stored in "
        f"{stored:.1f} s; {sum(counts.added.values())} rows)",
        flush=True,
    )
    needs = shipped_program().needs
    today = NOW.date()
    cases = [(need, language) for need in NEEDS for language in LANGUAGES]
    compiled = {
        case: str(
            ranking_query(needs[case[0]], case[1])
            .limit(3)
            .compile(engine, compile_kwargs={"literal_binds": True})
        )
        for case in cases
    }
    matched = Row(name, "match() → 3 ServiceOffers")
    raw = Row(name, "bare SQL (the ranking query, raw cursor)")
    for round_ in range(runs + 1):  # round 0 warms caches
        need, language = cases[round_ % len(cases)]
        t0 = time.perf_counter()
        offers = match(engine, need, needs, language, 3, today=today)
        t1 = time.perf_counter()
        rows = bare(engine, compiled[(need, language)])()
        t2 = time.perf_counter()
        assert len(offers) == len(rows)  # type: ignore[arg-type]
        if round_:
            matched.times.append(t1 - t0)
            raw.times.append(t2 - t1)
    return [matched, raw]


def table(rows: list[Row]) -> str:
    lines = [
        "| Database | Call | Runs | p50 ms | p95 ms | max ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.database} | {row.label} | {len(row.times)} | {row.ms(0.5):.2f} "
            f"| {row.ms(0.95):.2f} | {max(row.times) * 1000:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=5000, help="directory size (5000)")
    parser.add_argument("--runs", type=int, default=540, help="timed calls per database (540)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    print(f"Machine: {machine()}", flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="cm-bot-referrals-") as tmp:
        package_dir = write_csv(Path(tmp) / "directory", build(args.services, NOW.date()))
        if args.db in ("sqlite", "both"):
            engine = create_db_engine(f"sqlite:///{Path(tmp) / 'directory.db'}")
            try:
                rows += bench_one(engine, "SQLite", args.services, args.runs, package_dir)
            finally:
                engine.dispose()
        if args.db in ("postgres", "both"):
            rows += bench_postgres(args.services, args.runs, package_dir)
    print()
    print(table(rows))
    slow = [r for r in rows if r.label.startswith("match") and r.ms(0.95) >= 20]
    print(f"\nTarget match() p95 < 20 ms: {'missed' if slow else 'met'}")
    print(f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if slow else 0


def bench_postgres(services: int, runs: int, package_dir: Path) -> list[Row]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"PostgreSQL skipped ({PG_URL}: {exc.__class__.__name__})")
        admin.dispose()
        return []
    sep = "&" if "?" in PG_URL else "?"
    engine = create_db_engine(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")
    try:
        return bench_one(engine, "PostgreSQL", services, runs, package_dir)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
