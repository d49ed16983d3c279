"""The README's case-manager walkthrough, run as written, so it cannot drift from what works.

The shell block of "Case managers, step by step" is read from README.md and each of its
lines is typed, in order, into one bash session in an empty directory, as a person would:
exports, shell variables and ``&`` jobs carry from line to line, and the block's own
``kill %1 %2`` stops the emulator and the bot. Only the ports are swapped for free ones
(and ``.venv`` is this interpreter's environment). Then the emulator is asked what the
people saw: the client's crisis reply, Maria's urgent flag with its buttons, the flag
escalated to Sam by ``cm-bot schedule run-due --now``, and Maria's notice edited after
she pressed Acknowledge.

Waits are the emulator's own (``wait_sent``/``wait_edits`` answer as soon as the messages
are there), never sleeps. SQLite only: the walkthrough sets its own database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.slow

SECTION = "## Case managers, step by step"
README_PORTS = ("8081", "8082")  # the Bot API and control ports the README uses
MARIA, SAM, CLIENT = 1001, 3001, 2001  # the README's user ids
STEP_TIMEOUT = 180.0  # one line; the README's own waits give up after 60 s
WAIT = "120"  # seconds the emulator waits for a message in the checks below
_MARK = "__walkthrough_step_done__"


@pytest.fixture(autouse=True)
def once_on_sqlite(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--db") == "postgres":
        pytest.skip("the walkthrough sets its own SQLite file; it runs once, on SQLite")


def walkthrough_lines() -> list[str]:
    """The lines of the section's ``sh`` block, comments and blank lines left out."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :]
    start = section.index("```sh\n") + len("```sh\n")
    block = section[start : section.index("```", start)]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (held together, so they differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


@dataclass
class Terminal:
    """One bash session: each line runs in it as typed, its output kept in its own file."""

    cwd: Path
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    outputs: list[tuple[str, Path]] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "bash",
            "--noprofile",
            "--norc",
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )

    async def run(self, line: str) -> tuple[int, str]:
        """Run one line; returns its exit status and what it printed (stdout and stderr).

        The line's output goes to a file of its own, so an ``&`` job started by it keeps
        writing there and never mixes with the marker that ends the step.
        """
        assert self.process is not None and self.process.stdin and self.process.stdout
        out = self.cwd.parent / f"step-{len(self.outputs) + 1:02}.out"
        self.outputs.append((line, out))
        script = f"{{\n{line}\n}} > {out} 2>&1 < /dev/null\nprintf '\\n{_MARK} %s\\n' $?\n"
        self.process.stdin.write(script.encode())
        await self.process.stdin.drain()
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                got = (await self.process.stdout.readline()).decode()
                if not got:
                    raise RuntimeError(f"bash ended during {line!r}")
                if got.startswith(_MARK):
                    status = int(got.split()[1])
                    break
        if line.split("#")[0].rstrip().endswith("&"):
            await self._note_jobs()
        return status, out.read_text(errors="replace")

    async def _note_jobs(self) -> None:
        """Remember the pids of the background jobs, to stop them should the test fail."""
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(f"jobs -p; echo {_MARK}\n".encode())
        await self.process.stdin.drain()
        async with asyncio.timeout(STEP_TIMEOUT):
            while (got := (await self.process.stdout.readline()).decode().strip()) != _MARK:
                if got.isdigit() and int(got) not in self.jobs:
                    self.jobs.append(int(got))

    async def close(self) -> None:
        """Wait for the jobs the block stopped; stop any it left running; end bash."""
        assert self.process is not None and self.process.stdin
        with contextlib.suppress(Exception):
            self.process.stdin.write(b"wait\nexit\n")
            await self.process.stdin.drain()
        try:
            async with asyncio.timeout(60):
                await self.process.wait()
        except TimeoutError:
            self._signal_jobs(signal.SIGTERM)
            self.process.kill()
            await self.process.wait()

    def _signal_jobs(self, signum: signal.Signals) -> None:
        for pid in self.jobs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    async def abort(self) -> None:
        """After a failure: stop the jobs and bash, whatever step they were in."""
        self._signal_jobs(signal.SIGTERM)
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def transcript(self) -> str:
        """Every line typed and what it printed, for a failing test to show."""
        parts = []
        for line, out in self.outputs:
            printed = out.read_text(errors="replace") if out.exists() else "(nothing)"
            parts.append(f"$ {line}\n{printed}")
        bot_log = self.cwd / "bot.log"
        if bot_log.exists():
            parts.append(f"--- bot.log\n{bot_log.read_text(errors='replace')}")
        return "\n".join(parts)


@pytest.fixture
async def terminal(tmp_path: Path) -> AsyncIterator[Terminal]:
    """bash in an empty directory whose ``.venv`` is the environment running the tests."""
    home = tmp_path / "clone"
    home.mkdir()
    venv = Path(sys.prefix)
    assert (venv / "bin" / "cm-bot").exists(), f"cm-bot is not installed in {venv}"
    (home / ".venv").symlink_to(venv)
    # A developer's own CM_BOT_* settings (a real token ...) must not leak into the run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CM_BOT_")}
    shell = Terminal(home, env)
    await shell.start()
    yield shell
    if shell.process is not None and shell.process.returncode is None:  # the test failed
        await shell.abort()
        print(shell.transcript())


async def control(url: str, path: str, **query: str | int) -> Any:
    """A GET on the emulator's ``/_test`` endpoints; the result, or the failure it gave."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/{path}", params={k: str(v) for k, v in query.items()}) as response,
    ):
        body = await response.json()
    assert body["ok"], f"/_test/{path}: {body.get('description')}"
    return body["result"]


async def wait_for_text(url: str, chat_id: int, needle: str) -> dict[str, Any]:
    """The first message to a chat containing ``needle``, once it is there.

    Asks ``wait_sent`` for one message more than it has seen, so each wait ends as soon
    as the emulator records the next message; no polling interval.
    """
    seen: list[dict[str, Any]] = []
    while True:
        for message in seen:
            if needle in (message["text"] or ""):
                return message
        seen = await control(url, "wait_sent", chat_id=chat_id, count=len(seen) + 1, timeout=WAIT)


def labels(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [str(button["text"]) for row in rows for button in row]


async def test_the_readme_walkthrough_works_as_written(terminal: Terminal) -> None:
    *lines, last = walkthrough_lines()
    assert last.startswith("kill %1 %2"), "the block ends by stopping the emulator and the bot"
    api_port, control_port = free_ports(2)
    ports = dict(zip(README_PORTS, (str(api_port), str(control_port)), strict=True))
    t = f"http://127.0.0.1:{control_port}/_test"

    files: dict[str, Path] = {}  # each README line, and the file holding what it printed
    for line in lines:
        status, output = await terminal.run(
            re.sub(r"\b(8081|8082)\b", lambda m: ports[m.group(1)], line)
        )
        assert status == 0, f"{line!r} exited {status}:\n{output}"
        files[line] = terminal.outputs[-1][1]
    printed = {line: out.read_text() for line, out in files.items()}  # & jobs: so far

    def output_of(prefix: str) -> str:
        [match] = [out for line, out in printed.items() if line.startswith(prefix)]
        return match

    # The emulator runs as documented: no RuntimeWarning, on the ports it was given.
    emulator = output_of(".venv/bin/python -m cm_bot.testing.fake_bot_api")
    assert "Warning" not in emulator
    assert json.loads(emulator.splitlines()[0]) | {"token": None} == {
        "base_url": f"http://127.0.0.1:{api_port}",
        "control_url": f"http://127.0.0.1:{control_port}",
        "token": None,
    }
    # A database of its own: the case is C-0001 whatever ./cm-bot.db holds, and each
    # person's /start carries the token taken from their link.
    assert output_of(".venv/bin/cm-bot case new").strip() == "C-0001"
    starts = [json.loads(out) for line, out in printed.items() if '"/start ' in line]
    assert [s["result"]["message"]["chat"]["id"] for s in starts] == [MARIA, SAM, CLIENT]
    for start in starts:
        assert re.fullmatch(r"/start [A-Za-z0-9_-]{16,}", start["result"]["message"]["text"])
    # Every wait of the README was met (none gave up with a 408).
    for line, out in printed.items():
        if "/wait_" in line:
            assert json.loads(out)["ok"], f"{line!r} gave up: {out}"

    # The client wrote words of crisis: the crisis reply, and Maria's urgent flag.
    crisis_reply = await wait_for_text(t, CLIENT, "I have told your case manager.")
    assert "988 Suicide & Crisis Lifeline" in crisis_reply["text"]
    notice = await wait_for_text(t, MARIA, "Urgent flag")
    assert notice["text"].startswith("🔴 Urgent flag — case C-0001")
    assert labels(notice) == ["Acknowledge", "Resolve", "Open case"]
    # run-due --now, 20 minutes ahead, escalated it; the running bot told Sam.
    assert "escalated 1" in output_of(".venv/bin/cm-bot schedule run-due --now")
    escalated = await wait_for_text(t, SAM, "Urgent flag")
    # The same notice, saying first why it reached him and not only Maria.
    why = "Escalated to you: nobody acknowledged this flag in time."
    assert escalated["text"] == f"{why}\n{notice['text']}"
    assert labels(escalated) == ["Acknowledge", "Resolve", "Open case"]
    # Maria pressed Acknowledge: the callback carried that button's callback_data, and
    # both notices were edited to say who acknowledged; Acknowledge is gone from them.
    ack = notice["reply_markup"]["inline_keyboard"][0][0]
    query = json.loads(output_of('curl -s $T/callback -d \'{"user_id": 1001'))["result"]
    query = query["callback_query"]
    assert (query["message"]["message_id"], query["data"]) == (
        notice["message_id"],
        ack["callback_data"],
    )
    for chat, message in ((MARIA, notice), (SAM, escalated)):
        [edit] = await control(t, "wait_edits", chat_id=chat, count=1, timeout=WAIT)
        assert edit["message_id"] == message["message_id"]
        assert "Acknowledged by Maria" in edit["text"]
        assert labels(edit) == ["Resolve", "Open case"]

    status, output = await terminal.run(last)
    assert status == 0, output
    await terminal.close()
    assert terminal.process is not None and terminal.process.returncode == 0
