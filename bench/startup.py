"""Start-up time of the ``cm-bot`` command line (issue 15).

Each row is a real process, timed with ``time.perf_counter`` around it from this one, and
compared with ``python -c pass`` measured in the same run (the interpreter's own start):

- ``cm-bot --help`` and ``cm-bot staff list --help``: the command line alone;
- ``cm-bot staff list``: a real admin command on a temporary SQLite database holding one
  staff member (build the app, read, audit, print);
- ``cm-bot run`` until ready: from spawning ``python -m cm_bot run`` until its first
  ``getUpdates`` reaches the Bot API emulator (:class:`cm_bot.testing.FakeBotAPI`, served
  from this process), i.e. until it takes updates; then it is stopped with SIGTERM.

The commands run with the console script next to this interpreter, in a temporary
working directory (no ``.env``) and without the caller's ``CM_BOT_*`` variables. One
round runs every row once; rounds are repeated ``--runs`` times after one uncounted
warm-up round, so a change in machine load touches every row alike. The table gives the
median, the fastest and the slowest run, and the median over ``python -c pass``'s median.

    .venv/bin/python bench/startup.py [--runs N] [--no-run] [--backend aiogram|ptb]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runs from a plain checkout too

from engine_throughput import machine  # noqa: E402

from cm_bot.testing import FakeBotAPI  # noqa: E402
from cm_bot.testing.bot_process import BotProcess, bot_env  # noqa: E402

BASELINE = "python -c pass"


@dataclass
class Row:
    """One measured command and its wall times, seconds."""

    label: str
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def cm_bot() -> list[str]:
    """The console script installed beside this interpreter, else ``python -m cm_bot``."""
    script = Path(sys.executable).with_name("cm-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cm_bot"]


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without the caller's CM_BOT_* variables, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CM_BOT_")}
    env.update({f"CM_BOT_{name.upper()}": value for name, value in settings.items()})
    return env


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    """Wall time of one process run to its end; a failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


async def run_ready(api: FakeBotAPI, database_url: str, backend: str, workdir: Path) -> float:
    """Seconds from spawning `cm-bot run` to its first getUpdates; then stop it."""
    before = api.calls["getUpdates"]
    bot = BotProcess(bot_env(api, database_url, backend=backend), workdir / "bot.log", cwd=workdir)
    started = time.perf_counter()
    await bot.start()
    try:
        await api.wait_for_calls("getUpdates", before + 1, timeout=120)
        elapsed = time.perf_counter() - started
    except TimeoutError:
        raise SystemExit(f"cm-bot run never polled; its log:\n{bot.output()[-3000:]}") from None
    finally:
        code = await bot.stop()
    if code != 0:
        raise SystemExit(f"cm-bot run exited {code}; its log:\n{bot.output()[-3000:]}")
    return elapsed


def table(rows: list[Row]) -> str:
    base = rows[0].median
    lines = [
        f"| Command | Runs | Median s | Min s | Max s | Median / {BASELINE} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.label} | {len(row.times)} | {row.median:.3f} | {min(row.times):.3f} "
            f"| {max(row.times):.3f} | {row.median / base:.1f}× |"
        )
    return "\n".join(lines)


async def bench(runs: int, with_run: bool, backend: str, workdir: Path) -> list[Row]:
    cli = cm_bot()
    plain = clean_env()
    admin_db = f"sqlite:///{workdir / 'admin.db'}"
    admin = clean_env(database_url=admin_db)
    timed([*cli, "staff", "add", "--name", "Maria"], admin, workdir)  # schema and one row
    cases: list[tuple[Row, Callable[[], float]]] = [
        (Row(BASELINE), lambda: timed([sys.executable, "-c", "pass"], plain, workdir)),
        (Row("cm-bot --help"), lambda: timed([*cli, "--help"], plain, workdir)),
        (
            Row("cm-bot staff list --help"),
            lambda: timed([*cli, "staff", "list", "--help"], plain, workdir),
        ),
        (
            Row("cm-bot staff list (SQLite, 1 staff)"),
            lambda: timed([*cli, "staff", "list"], admin, workdir),
        ),
    ]
    ready = Row(f"cm-bot run until its first getUpdates (SQLite, {backend})")
    api = FakeBotAPI()
    await api.start()
    try:
        run_db = f"sqlite:///{workdir / 'run.db'}"
        for round_ in range(runs + 1):  # round 0 warms caches and migrates run.db
            for row, measure in cases:
                elapsed = measure()
                if round_:
                    row.times.append(elapsed)
            if with_run:
                elapsed = await run_ready(api, run_db, backend, workdir)
                if round_:
                    ready.times.append(elapsed)
            print(f"round {round_}/{runs} done", flush=True)
    finally:
        await api.stop()
    return [row for row, _ in cases] + ([ready] if with_run else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed rounds (10)")
    parser.add_argument("--no-run", action="store_true", help="leave out the `cm-bot run` row")
    parser.add_argument("--backend", choices=["aiogram", "ptb"], default="aiogram")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    print(f"Machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cm-bot-startup-") as tmp:
        rows = asyncio.run(bench(args.runs, not args.no_run, args.backend, Path(tmp)))
    print()
    print(table(rows))
    print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
