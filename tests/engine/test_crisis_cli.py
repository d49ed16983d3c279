"""A program admin tries a message with `cm-bot crisis check` before a client types it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cm_bot.cli import app

SHIPPED = Path(__file__).parents[2] / "conversations" / "program.yaml"


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["crisis", "check", *args])
    return result.exit_code, result.output


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped program file with a few extra words of its own."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert "crisis_words: {}" in text and "violence_words: {}" in text
    text = text.replace(
        "crisis_words: {}", 'crisis_words:\n  en: ["purple elephant*"]\n  es: ["elefante morado"]'
    ).replace("violence_words: {}", 'violence_words:\n  en: ["code orange"]')
    path = tmp_path / "program.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CM_BOT_PROGRAM_FILE", str(path))
    return path


def test_a_match_lists_each_phrase_with_its_kind_and_exits_0() -> None:
    code, output = check("he'll kill me and honestly i want to die")
    assert code == 0
    lines = output.strip().splitlines()
    assert lines == ["<who> .. kill me  (violence)", "want* to die  (self_harm)"]


def test_no_match_says_so_and_exits_1() -> None:
    code, output = check("my phone died, sorry for the late reply")
    assert code == 1
    assert "no crisis words matched" in output


def test_locale_restricts_to_that_language() -> None:
    assert check("me quiero matar")[0] == 0
    code, output = check("me quiero matar", "--locale", "en")
    assert code == 1 and "no crisis words matched" in output
    code, output = check("me quiero matar", "--locale", "es")
    assert code == 0 and "me quiero|kiero|voy_a|vy_a|vo_a matar  (self_harm)" in output


def test_a_locale_without_a_list_is_a_usage_error() -> None:
    code, output = check("hello", "--locale", "pl")
    assert code == 2 and "pl" in output


def test_the_program_files_own_words_count(program: Path) -> None:
    code, output = check("I saw purple elephants again")
    assert code == 0 and "purple elephant*  (self_harm)" in output
    code, output = check("code orange at home", "--locale", "en")
    assert code == 0 and "code orange  (violence)" in output
    # --locale keeps only that language's extra words.
    assert check("elefante morado", "--locale", "en")[0] == 1
    assert check("elefante morado", "--locale", "es")[0] == 0


def test_a_broken_program_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "program.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    monkeypatch.setenv("CM_BOT_PROGRAM_FILE", str(bad))
    code, output = check("i want to die")
    assert code == 2 and str(bad) in output


def test_an_unreadable_extra_phrase_is_reported(program: Path) -> None:
    text = program.read_text(encoding="utf-8").replace('"code orange"', '"code .."')
    program.write_text(text, encoding="utf-8")
    code, output = check("anything")
    assert code == 2 and "code .." in output
