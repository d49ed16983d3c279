"""The program file's needs mapping: the shipped default, and `cm-bot flows check` refusing
unknown needs and empty mappings by path:line (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cm_bot.cli import app
from cm_bot.flows import load_flows
from cm_bot.program import builtin_needs, flow_needs, load_program, shipped_program
from cm_bot.scoring.ahc import DOMAINS
from tests.support.paths import ROOT

CONVERSATIONS = ROOT / "conversations"


def test_the_shipped_program_maps_common_needs_by_term_name() -> None:
    needs = shipped_program().needs
    assert needs["food"].terms == ["Food Pantry", "Emergency Food"]
    assert needs["hunger"].terms == ["Food Pantry", "Emergency Food"]
    assert needs["living_situation"].terms == ["Shelter", "Housing"]
    assert needs["utilities"].terms == ["Utility Assistance"]
    assert needs["transportation"].terms == ["Transportation"]
    assert needs["safety"].terms == ["Domestic Violence"]
    example = load_program(CONVERSATIONS / "programs" / "ukraine.example.yaml")
    assert example.needs.keys() == needs.keys()


def test_the_needs_are_the_ahc_domains_hunger_and_what_flows_name() -> None:
    assert builtin_needs() == (*(d for d, _ in DOMAINS), "hunger")
    named = flow_needs(load_flows(CONVERSATIONS))
    # exit_followup asks "Do you need help with any of these now?" (followup.new_needs)
    assert {"health", "other", "food", "living_situation"} <= named
    assert "none" not in named  # the exclusive "None of these"


def _program(tmp_path: Path, needs: str) -> Path:
    text = (CONVERSATIONS / "program.yaml").read_text(encoding="utf-8")
    head, _mapping = text.split("\nneeds:\n", 1)
    path = tmp_path / "program.yaml"
    path.write_text(head + "\nneeds:\n" + needs, encoding="utf-8")
    return path


def _check(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(path.parent)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(CONVERSATIONS))
    result = CliRunner().invoke(app, ["flows", "check", str(path)], prog_name="cm-bot")
    return result.exit_code, result.stdout


def test_flows_check_refuses_unknown_needs_and_empty_mappings_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _program(
        tmp_path,
        "  food:\n    terms: [Food Pantry]\n  housing:\n    terms: [Shelter]\n  utilities: {}\n",
    )
    code, out = _check(path, monkeypatch)
    start = path.read_text(encoding="utf-8").splitlines().index("needs:") + 1
    assert code == 1
    assert out.splitlines() == [
        f"{path}:{start + 3}: needs: unknown need 'housing' (did you mean 'living_situation'?); "
        "use an AHC domain, 'hunger' "
        "or a need a flow names",
        f"{path}:{start + 5}: needs.utilities: maps to no taxonomy term and no service id",
    ]
    blank = _program(tmp_path, "  transportation:\n    terms: ['  ']\n")
    code, out = _check(blank, monkeypatch)
    assert code == 1
    assert out.splitlines() == [
        f"{blank}:{start + 2}: needs.transportation.terms: Value error, must not hold a blank entry"
    ]


def test_flows_check_suggests_the_need_meant_and_accepts_needs_flows_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = _program(tmp_path, "  utilites:\n    terms: [Utility Assistance]\n")
    code, out = _check(typo, monkeypatch)
    assert code == 1 and "unknown need 'utilites' (did you mean 'utilities'?)" in out
    named = _program(
        tmp_path,
        "  health:\n    terms: [Health Care]\n"
        "  mental_health:\n    services: [ac148810-d857-441c-9679-408f346de14b]\n",
    )
    code, out = _check(named, monkeypatch)
    assert code == 0, out
    assert "program file OK" in out


def test_flows_check_of_the_shipped_folder_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(CONVERSATIONS))
    result = CliRunner().invoke(app, ["flows", "check", str(CONVERSATIONS)], prog_name="cm-bot")
    assert result.exit_code == 0, result.stdout
