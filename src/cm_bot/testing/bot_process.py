"""The real bot as a subprocess, for fault tests and benchmarks that kill, restart and measure it.

Crash safety can only be shown on a process that really dies: :class:`BotProcess` starts
``python -m cm_bot run`` (or any other argv) against the emulator, kills it with SIGKILL
or stops it with SIGTERM, and reads its resident memory and open file descriptors from
``/proc`` so soak runs can look for growth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from cm_bot.testing.botapi import FakeBotAPI

RUN: tuple[str, ...] = ("-m", "cm_bot", "run")
"""The bot's main job, as an argv for ``sys.executable``."""


def bot_env(
    api: FakeBotAPI,
    database_url: str,
    *,
    flows_dir: Path | None = None,
    intake_flows: Sequence[str] | None = None,
    backend: str = "aiogram",
    **settings: str,
) -> dict[str, str]:
    """The environment of a bot talking to ``api``: ``settings`` become ``CM_BOT_<NAME>``.

    The parent's ``CM_BOT_*`` variables are dropped so a developer's shell cannot leak a real
    token or webhook URL into a test.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CM_BOT_")}
    env.update(
        CM_BOT_TELEGRAM_TOKEN=api.token,
        CM_BOT_TELEGRAM_API_URL=api.base_url,
        CM_BOT_DATABASE_URL=database_url,
        CM_BOT_BACKEND=backend,
        CM_BOT_POLL_TIMEOUT="1",
        PYTHONUNBUFFERED="1",
    )
    if flows_dir is not None:
        env["CM_BOT_FLOWS_DIR"] = str(flows_dir)
    if intake_flows is not None:
        env["CM_BOT_INTAKE_FLOWS"] = json.dumps(list(intake_flows))
    env.update({f"CM_BOT_{name.upper()}": value for name, value in settings.items()})
    return env


class BotProcess:
    """One bot subprocess; its output goes to ``log`` so a failing test can print it."""

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        argv: Sequence[str] = RUN,
        *,
        cwd: Path | None = None,
    ) -> None:
        self.env = dict(env)
        self.log = log
        self.argv = tuple(argv)
        self.cwd = cwd or log.parent
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        """The running process id, to read its /proc entries or signal it."""
        assert self.process is not None, "the bot was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        """True until the process has exited."""
        return self.process is not None and self.process.returncode is None

    async def start(self) -> Self:
        """Start (or restart) the process; output is appended to the same log."""
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=out,
            )
        self.starts += 1
        return self

    async def kill(self) -> None:
        """SIGKILL: the crash nothing can clean up after."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self, grace: float = 20.0) -> int:
        """SIGTERM, a graceful stop; SIGKILL if it has not ended after ``grace`` seconds."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return int(self.process.returncode or 0)

    def output(self) -> str:
        """Everything the process printed so far, for a failing test to show."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def rss_kib(self) -> int:
        """Resident set size now, from ``/proc/<pid>/status`` (Linux only)."""
        for row in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                return int(row.split()[1])
        raise LookupError("VmRSS missing from /proc status")

    def peak_rss_kib(self) -> int:
        """The high-water mark of resident memory (``VmHWM``) since the process started."""
        for row in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1])
        raise LookupError("VmHWM missing from /proc status")

    def open_fds(self) -> int:
        """How many file descriptors the process holds open now (Linux only)."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.stop()
