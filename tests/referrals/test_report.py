"""`cm-bot resources report`: referrals by need and status, the share that got help, and the
median days to completed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cm_bot.cli import app
from cm_bot.engine import ConversationEngine
from cm_bot.resources.report import referral_report
from cm_bot.storage import SqlStore
from tests.referrals.support import days_later, screened_positive
from tests.scheduling.support import clock_of
from tests.support.paths import ROOT

Tables = dict[str, list[dict[str, Any]]]


def test_the_report_counts_by_need_and_status_with_got_help_share_and_median_days(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    helped = screened_positive(bot, db)
    helped.person.tap("Please refer me")
    waiting = screened_positive(bot, db)
    waiting.person.tap("I'll contact them myself")
    days_later(bot, 14)
    helped.person.read()
    helped.person.tap("Yes, I got help")
    clock_of(bot).advance(timedelta(hours=1))

    report = referral_report(db)

    assert report.by_need_status == {("hunger", "completed"): 1, ("hunger", "self_referred"): 1}
    assert (report.total, report.got_help, report.got_help_share) == (2, 1, 0.5)
    assert report.median_days_to_completed is not None
    assert 14 <= report.median_days_to_completed < 14.1


def test_cm_bot_resources_report_prints_it(
    bot: ConversationEngine[SqlStore],
    db: Engine,
    directory: Tables,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    helped = screened_positive(bot, db)
    helped.person.tap("Please refer me")
    days_later(bot, 14)
    helped.person.read()
    helped.person.tap("Yes, I got help")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(ROOT / "conversations"))
    monkeypatch.setenv("CM_BOT_LOCALES_DIR", str(ROOT / "locales"))
    monkeypatch.setenv("CM_BOT_PROGRAM_FILE", str(ROOT / "conversations" / "program.yaml"))
    monkeypatch.delenv("CM_BOT_TELEGRAM_TOKEN", raising=False)

    result = CliRunner().invoke(app, ["resources", "report"], prog_name="cm-bot")

    assert result.exit_code == 0, result.output
    assert "hunger" in result.output and "completed" in result.output
    assert "reached got_help: 1 (100%)" in result.output
    assert "median days to completed: 14.0" in result.output
