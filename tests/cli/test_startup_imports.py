"""`cm-bot --help` and the admin commands load no Telegram framework and no scheduler.

Issue 15 ("Start-up"): the command line is a package of small modules that import typer
and the standard library only; the rest is imported inside the command that needs it.
A stray top-level import would slow every `cm-bot` call down again (the Telegram
frameworks and APScheduler alone took most of a second), so each test runs in a fresh
interpreter and looks at what it loaded. No timing here: bench/startup.py measures that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

# What only `cm-bot run` (and `chat`) may load.
RUNTIME_ONLY = {"aiogram", "telegram", "apscheduler", "aiohttp", "httpx"}
# What `cm-bot --help` does not need either: settings, storage, flows, translations.
# (Not pydantic itself: typer 0.29 loads it to coerce a subcommand's options.)
NOT_FOR_HELP = {"pydantic_settings", "sqlalchemy", "sqlmodel", "alembic", "yaml", "babel"}

_PROBE = """
import json, sys
sys.argv = ["cm-bot", *json.loads(sys.argv[1])]
from cm_bot.cli import main
try:
    main()
    code = 0
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _loaded(args: list[str], cwd: Path, database_url: str | None = None) -> tuple[int, set[str]]:
    """Run `cm-bot ARGS` in a fresh interpreter: its exit code and the packages it loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CM_BOT_")}
    if database_url is not None:
        env["CM_BOT_DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=cwd,  # no .env, no ./conversations: the shipped flows
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    return report["code"], set(report["loaded"])


def test_importing_the_command_line_loads_only_typer_and_the_standard_library(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, cm_bot.cli; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert "typer" in loaded
    assert not loaded & RUNTIME_ONLY
    assert not loaded & NOT_FOR_HELP


def test_cm_bot_help_lists_every_command_without_loading_settings(tmp_path: Path) -> None:
    code, loaded = _loaded(["--help"], tmp_path)
    assert code == 0
    assert not loaded & RUNTIME_ONLY
    assert not loaded & NOT_FOR_HELP


@pytest.mark.parametrize(
    "args",
    [
        ["staff", "list"],
        ["case", "list"],
        ["flags", "list"],
        ["schedule", "list"],
        ["resources", "list"],
    ],
)
def test_an_admin_command_builds_the_app_without_telegram_or_the_scheduler(
    tmp_path: Path, database_url: str, db: Engine, args: list[str]
) -> None:
    code, loaded = _loaded(args, tmp_path, database_url)
    assert code == 0
    assert "sqlalchemy" in loaded  # it did reach the database
    assert not loaded & RUNTIME_ONLY
