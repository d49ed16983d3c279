"""The command line as a newcomer meets it: --help everywhere, exit codes, the README's list.

Issue 13 ("The command line"): flags shown without a <bool> type, no reST markup in
help, `run --help` naming its settings, `chat --help` saying where the database is,
`score` exiting 2 on answers it cannot score, `schedule list` with column headings, and
a README command list that names every command.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from cm_bot.cli import app
from cm_bot.engine import ConversationEngine
from cm_bot.settings import Settings
from tests.scheduling.support import add_contact, base_now, consented_client

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 80


def _paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``command``, the root included, as word tuples."""
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _paths(sub, (*path, name))
    return found


ALL = _paths(typer.main.get_command(app))
LEAVES = [p for p in ALL if p and p not in {q[: len(p)] for q in ALL if len(q) > len(p)}]


def _invoke(*args: str, **kwargs: object) -> Result:
    return CliRunner().invoke(
        app, list(args), prog_name="cm-bot", env={"COLUMNS": str(WIDTH)}, **kwargs
    )


def test_the_tree_is_what_design_md_names() -> None:
    # A guard for the tests below: the walk finds the commands, not just the root.
    assert {("chat",), ("run",), ("score",), ("schedule", "list"), ("erase",)} <= set(LEAVES)


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "cm-bot")
def test_help_shows_flags_without_a_type_and_no_markup(path: tuple[str, ...]) -> None:
    result = _invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "``" not in result.output
    lines = result.output.splitlines()
    assert any(re.match(r"^\s+--help\s+Show this message", line) for line in lines)
    too_wide = [line for line in lines if len(line) > WIDTH]
    assert not too_wide, f"wider than {WIDTH} columns: {too_wide}"
    # A group's list of commands shows each summary whole, never cut with "...".
    listing = lines[lines.index("Commands:") :] if "Commands:" in lines else []
    assert not [line for line in listing if line.rstrip().endswith("...")], result.output


def test_erase_yes_is_a_plain_flag() -> None:
    result = _invoke("erase", "--help")
    (line,) = [line for line in result.output.splitlines() if line.lstrip().startswith("--yes")]
    assert re.match(r"^\s+--yes\s+Do not ask", line), line


def test_run_help_lists_every_setting_and_the_required_token() -> None:
    output = _invoke("run", "--help").output
    for name in Settings.model_fields:
        assert f"CM_BOT_{name.upper()}" in output, name
    (token,) = [line for line in output.splitlines() if "CM_BOT_TELEGRAM_TOKEN " in line]
    assert "required" in token
    for needed in ("CM_BOT_DATABASE_URL", "CM_BOT_TELEGRAM_API_URL", "CM_BOT_BACKEND"):
        assert needed in output
    assert "sqlite:///cm-bot.db" in output and ".env" in output


def test_chat_help_says_where_the_database_is_and_that_a_demo_case_is_made() -> None:
    output = " ".join(_invoke("chat", "--help").output.split())
    assert "CM_BOT_DATABASE_URL" in output and "cm-bot.db" in output
    assert "creates a demo case" in output and "first use" in output
    assert "--flow ID" in output


def test_score_prints_json_and_exits_0_for_valid_answers() -> None:
    result = _invoke("score", "phq2", "--answers", '{"phq2.q1": 1, "phq2.q2": 2}')
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["score"] == 3


@pytest.mark.parametrize(
    "answers",
    ['{"phq9.q1": 7}', "{}", '{"phq9.q1": "often"}'],
    ids=["out-of-range", "missing", "wrong-type"],
)
def test_score_exits_2_when_the_answers_are_not_valid(answers: str) -> None:
    result = _invoke("score", "phq9", "--answers", answers)
    assert result.exit_code == 2, result.output
    parsed = json.loads(result.stdout)
    assert parsed["valid"] is False and parsed["reason"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["phq9", "--answers", "{nope"], "not valid JSON"),
        (["phq9", "--answers", "[1, 2]"], "JSON object"),
        (["phq99", "--answers", "{}"], "phq99"),
    ],
    ids=["bad-json", "not-an-object", "unknown-instrument"],
)
def test_score_exits_2_on_bad_input(args: list[str], words: str) -> None:
    result = _invoke("score", *args)
    assert result.exit_code == 2 and words in result.output


def test_schedule_list_prints_column_headings(
    monkeypatch: pytest.MonkeyPatch, database_url: str, engine: ConversationEngine, db: Engine
) -> None:
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    assert "no upcoming contacts" in _invoke("schedule", "list").output
    who = consented_client(engine, db, tz="Europe/Kyiv")
    add_contact(db, who, base_now() + timedelta(days=2))
    result = _invoke("schedule", "list")
    assert result.exit_code == 0, result.output
    heading, row = result.output.splitlines()
    assert heading.split()[:5] == ["ID", "CASE", "KIND", "FLOW", "STATUS"]
    for title, value in [
        ("CASE", who.ref),
        ("FLOW", "exit_followup"),
        ("DUE (UTC)", "UTC"),
        ("DUE (CLIENT'S TIME)", "Europe/Kyiv"),
    ]:
        start = heading.index(title)
        assert row[start:].startswith(value) or value in row[start:].split("  ")[0], title


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `cm-bot ([^`]*)`", section, flags=re.MULTILINE)


def _command_words(usage: str) -> tuple[str, ...]:
    words = []
    for word in usage.split():
        if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
            break
        words.append(word)
    return tuple(words)


def test_readme_commands_section_names_every_command_one_line_each() -> None:
    listed = [_command_words(usage) for usage in _readme_commands()]
    missing = [" ".join(p) for p in LEAVES if p not in listed]
    assert not missing, f"README 'Commands' lacks: {missing}"
    unknown = [" ".join(p) for p in listed if p not in LEAVES]
    assert not unknown, f"README 'Commands' names commands that do not exist: {unknown}"
    # One line per command; `chat` has a second one for the flow authors' --flow.
    repeated = {p for p in listed if listed.count(p) > 1}
    assert repeated <= {("chat",)}
    assert any(usage.startswith("chat --flow ID") for usage in _readme_commands())
