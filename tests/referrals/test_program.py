"""`referral_checkin_days` in the program file: 14 by default, checked by `cm-bot flows check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cm_bot.cli import app
from cm_bot.program import load_program, shipped_program
from tests.support.paths import ROOT

CONVERSATIONS = ROOT / "conversations"


def _program(tmp_path: Path, days: str) -> Path:
    text = (CONVERSATIONS / "program.yaml").read_text(encoding="utf-8")
    path = tmp_path / "program.yaml"
    path.write_text(
        text.replace("referral_checkin_days: 14", f"referral_checkin_days: {days}"),
        encoding="utf-8",
    )
    return path


def test_the_shipped_program_asks_fourteen_days_after_a_referral(tmp_path: Path) -> None:
    assert shipped_program().referral_checkin_days == 14
    assert load_program(_program(tmp_path, "21")).referral_checkin_days == 21


@pytest.mark.parametrize("days", ["0", "400", "soon"])
def test_flows_check_refuses_a_check_in_delay_that_is_not_a_day_count_in_a_year(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, days: str
) -> None:
    path = _program(tmp_path, days)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(CONVERSATIONS))

    result = CliRunner().invoke(app, ["flows", "check", str(path)], prog_name="cm-bot")

    assert result.exit_code != 0
    assert "referral_checkin_days" in result.output
