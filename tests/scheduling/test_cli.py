"""``cm-bot schedule list`` and ``cm-bot schedule run-due``."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cm_bot.cli.schedule import schedule_app
from cm_bot.engine import ConversationEngine
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client
from tests.scheduling.support import (
    DATA,
    ROOT,
    add_contact,
    base_now,
    consented_client,
    contacts,
    sent_to,
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(DATA / "flows", flows)
    for name in ("goal_checkin", "exit_followup"):
        shutil.copy(ROOT / "conversations" / f"{name}.yaml", flows)
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(flows))
    monkeypatch.setenv("CM_BOT_LOCALES_DIR", str(ROOT / "locales"))


def test_list_shows_upcoming_contacts_in_utc_and_local_time(
    env: None, sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db, tz="America/Los_Angeles")
    other = consented_client(sched, db)
    now = base_now()
    add_contact(db, who, now.replace(hour=17, minute=0))
    add_contact(db, other, now + timedelta(days=1))
    runner = CliRunner()

    everything = runner.invoke(schedule_app, ["list"])
    assert everything.exit_code == 0, everything.output
    assert everything.output.splitlines()[0].split()[:3] == ["ID", "CASE", "KIND"]
    assert who.ref in everything.output and other.ref in everything.output
    assert "America/Los_Angeles" in everything.output and "send" in everything.output

    one = runner.invoke(schedule_app, ["list", who.ref.lower()])
    assert one.exit_code == 0
    assert who.ref in one.output and other.ref not in one.output
    assert "17:00 UTC" in one.output
    assert "09:00 America/Los_Angeles" in one.output or "10:00 America/Los_Angeles" in one.output

    missing = runner.invoke(schedule_app, ["list", "C-9999"])
    assert missing.exit_code == 1 and "no case C-9999" in missing.output


def test_run_due_sends_what_is_due_once_and_exits(
    env: None, sched: ConversationEngine, db: Engine
) -> None:
    who = consented_client(sched, db)
    now = base_now()
    add_contact(db, who, now - timedelta(minutes=5))
    runner = CliRunner()
    first = runner.invoke(schedule_app, ["run-due", "--now", now.isoformat()])
    assert first.exit_code == 0, first.output
    assert "sent 1" in first.output
    sent = sent_to(db, who.client_id)
    assert sent >= 1
    second = runner.invoke(schedule_app, ["run-due", "--now", now.isoformat()])
    assert second.exit_code == 0 and "sent 0" in second.output
    assert sent_to(db, who.client_id) == sent
    (row,) = contacts(db)
    assert row.status == "sent"


def test_run_due_respects_quiet_hours(env: None, sched: ConversationEngine, db: Engine) -> None:
    who = consented_client(sched, db)
    with transaction(db) as session:
        client = session.get(Client, who.client_id)
        assert client is not None
        client.timezone = "Pacific/Auckland"  # 12:00 UTC is the middle of the night there
    now = base_now()
    add_contact(db, who, now)
    result = CliRunner().invoke(schedule_app, ["run-due", "--now", now.isoformat()])
    assert result.exit_code == 0 and "deferred 1" in result.output
    assert sent_to(db, who.client_id) == 0


def test_run_due_rejects_a_bad_time(env: None) -> None:
    result = CliRunner().invoke(schedule_app, ["run-due", "--now", "yesterday"])
    assert result.exit_code == 2 and "ISO 8601" in result.output
