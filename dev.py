#!/usr/bin/env python3
"""Run cm-bot from a fresh checkout with nothing but Python 3.11+: ``python3 dev.py start|test``.

It makes ``.venv`` beside this file on first use (and again whenever pyproject.toml
changes), installs the project with its dev extras, then runs:

* ``start`` — the bot's main job: ``cm-bot run`` when CM_BOT_TELEGRAM_TOKEN is set,
  otherwise ``cm-bot chat`` in this terminal on the embedded SQLite default;
* ``test``  — the whole check: ruff, mypy --strict, the test suite on SQLite and on
  PostgreSQL (skipped with a message when none is reachable, unless CI=true);
* anything else — passed to ``cm-bot`` (``python3 dev.py flows check``).
Standard library only, on purpose.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".cm-bot-installed"


def _python() -> Path:
    return BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_env() -> None:
    """Create the virtual environment and install the project when missing or out of date."""
    if sys.version_info < (3, 11):
        sys.exit("cm-bot needs Python 3.11 or newer")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not _python().exists():
        print("creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing cm-bot and its dependencies (first run only) ...", file=sys.stderr)
    quiet = ["-q"] if os.environ.get("CI") else []
    subprocess.run([_python(), "-m", "pip", "install", *quiet, "--upgrade", "pip"], check=True)
    subprocess.run(
        [_python(), "-m", "pip", "install", *quiet, "-e", f"{ROOT}[dev]"], check=True, cwd=ROOT
    )
    STAMP.write_text(wanted)


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


def ensure_chromium() -> None:
    """In CI, install the system Chromium the console's browser tests drive, when missing.

    Playwright's own browser download cannot be fetched on these machines; the tests launch
    /usr/bin/chromium instead (tests/web/test_browser.py), and fail in CI without it.
    """
    if not os.environ.get("CI") or Path("/usr/bin/chromium").exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        print("note: no /usr/bin/chromium and no apt-get to install it", file=sys.stderr)
        return
    print("installing chromium for the browser tests (apt-get install -y chromium) ...")
    subprocess.run([apt, "install", "-y", "chromium"], check=False)


def run_tests(extra: list[str]) -> int:
    """Lint, type-check and run the suite on both databases; the first failure stops it."""
    ensure_chromium()
    steps: list[tuple[str, list[str]]] = [
        ("ruff", [str(BIN / "ruff"), "check", "src", "tests"]),
        ("mypy --strict", [str(BIN / "mypy"), "src/cm_bot"]),
        ("tests on SQLite", [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", *extra]),
    ]
    if _postgres_reachable():
        steps.append(
            (
                "tests on PostgreSQL",
                [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "--db", "postgres", *extra],
            )
        )
    elif os.environ.get("CI"):
        print("PostgreSQL is not reachable on 127.0.0.1:5432, and CI must test it", file=sys.stderr)
        return 1
    else:
        print("note: no PostgreSQL on 127.0.0.1:5432, so the PostgreSQL run is skipped")
    for name, command in steps:
        print(f"\n=== {name}", flush=True)
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
        if code != 0:
            print(f"\n{name} failed (exit {code})", file=sys.stderr)
            return code
    return 0


def main(argv: list[str]) -> int:
    """Dispatch ``start``, ``test`` or a cm-bot command."""
    ensure_env()
    command, rest = (argv[0], argv[1:]) if argv else ("start", [])
    if command == "test":
        return run_tests(rest)
    if command == "start":
        job = "run" if os.environ.get("CM_BOT_TELEGRAM_TOKEN") else "chat"
        return subprocess.run([str(BIN / "cm-bot"), job, *rest], check=False).returncode
    return subprocess.run([str(BIN / "cm-bot"), command, *rest], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
