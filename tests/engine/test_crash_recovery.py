"""The bot process is killed (SIGKILL) in the middle of a flow; after a restart nothing is lost."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cm_bot.storage import create_db_engine
from tests.support.records import responses

pytestmark = pytest.mark.slow
DATA = Path(__file__).parents[1] / "data" / "flows"


class ConsoleProcess:
    """`cm-bot chat` in a real subprocess, driven line by line like a person at a terminal."""

    def __init__(self, database_url: str) -> None:
        env = dict(os.environ)
        env.update(
            CM_BOT_DATABASE_URL=database_url,
            CM_BOT_FLOWS_DIR=str(DATA),
            CM_BOT_INTAKE_FLOWS=json.dumps(["intake"]),
            PYTHONUNBUFFERED="1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cm_bot", "chat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            env=env,
        )
        self.output = ""
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        self.wait_prompt(1)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        while chunk := self.proc.stdout.read(1):
            with self._changed:
                self.output += chunk
                self._changed.notify_all()

    def wait_prompt(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.output.count("\n> ") < count:
                left = deadline - time.monotonic()
                assert left > 0, f"no prompt #{count}; output so far:\n{self.output}"
                self._changed.wait(left)

    def type(self, line: str) -> str:
        before = len(self.output)
        prompts = self.output.count("\n> ")
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        self.wait_prompt(prompts + 1)
        return self.output[before:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self._finish()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self._finish()

    def _finish(self) -> None:
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(BrokenPipeError):
                    stream.close()


def test_sigkill_mid_flow_then_restart_continues_from_the_same_step_with_no_answer_lost(
    database_url: str,
) -> None:
    first = ConsoleProcess(database_url)
    assert "May I message you here?" in first.output
    for line in ("Yes", "Yes", "No", "Bad", "4"):
        first.type(line)
    assert "Any problems at home?" in first.type("Mold")  # a half-made multi-select
    first.kill()

    second = ConsoleProcess(database_url)
    assert "Would you like to continue" in second.output
    resumed = second.type("Continue")
    assert "Any problems at home?" in resumed
    assert "✓ Mold" in resumed  # even the half-made selection survived
    for line in ("Done", "Yes", "2", "2020-01-31"):
        second.type(line)
    assert "nothing for you to answer" in second.type("Thanks for asking")
    second.close()

    db: Engine = create_db_engine(database_url)
    try:
        assert responses(db) == [
            ("intake.mood", "bad"),
            ("intake.worry", 4),
            ("intake.housing", ["mold"]),
            ("intake.safe", True),
            ("intake.people", 2),
            ("intake.moved", "2020-01-31"),
            ("intake.notes", "Thanks for asking"),
        ]
    finally:
        db.dispose()


def test_kill_during_many_quick_answers_loses_and_duplicates_nothing(database_url: str) -> None:
    """Answers typed faster than handled: kill, restart, every valid answer is there once."""
    proc = ConsoleProcess(database_url)
    for line in ("Yes", "Yes", "Yes", "Good"):
        proc.type(line)
    assert proc.proc.stdin is not None
    proc.proc.stdin.write("7\n")  # typed, then the power goes
    proc.proc.stdin.flush()
    proc.kill()

    again = ConsoleProcess(database_url)
    out = again.output
    db = create_db_engine(database_url)
    try:
        stored = responses(db)
    finally:
        db.dispose()
    # The "7" was either handled before the kill (stored once) or never read (not stored): both
    # fine. Anything else (the mood twice, the worry twice, a half-kept answer) fails here.
    handled = [("intake.mood", "good"), ("intake.worry", 7)]
    assert stored in (handled[:1], handled), stored
    assert "continue" in out.lower()
    again.close()
