"""``cm-bot goal status ID STATUS``: audited; a goal that is not active gets no check-ins."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cm_bot.cli.data_rights import goal_app
from cm_bot.domain import ContactStatus, GoalStatus
from cm_bot.engine import ConversationEngine
from tests.goals.test_goal_checkin_steering import goal, send_checkin, setup
from tests.scheduling.support import DATA, ROOT, contacts
from tests.support.records import audits


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(DATA / "flows", flows)
    shutil.copy(ROOT / "conversations" / "goal_checkin.yaml", flows)
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(flows))
    monkeypatch.setenv("CM_BOT_LOCALES_DIR", str(ROOT / "locales"))


def test_goal_status_from_the_command_line(
    env: None, sched: ConversationEngine, db: Engine
) -> None:
    who, goal_id, now = setup(sched, db)
    runner = CliRunner()
    bad = runner.invoke(goal_app, ["status", str(goal_id), "finished"])
    assert bad.exit_code == 2
    missing = runner.invoke(goal_app, ["status", "999", "met"])
    assert missing.exit_code == 1
    from cm_bot.storage.db import transaction
    from cm_bot.storage.models import ScheduledContact

    with transaction(db) as session:  # a pending check-in, planned as the scheduler would
        session.add(
            ScheduledContact(
                case_id=who.case_id,  # type: ignore[attr-defined]
                client_id=who.client_id,  # type: ignore[attr-defined]
                flow_id="goal_checkin",
                kind="checkin",
                goal_id=goal_id,
                due_at=now,
                dedupe_key=f"checkin:{goal_id}:cli",
            )
        )
    done = runner.invoke(goal_app, ["status", str(goal_id), "dropped"])
    assert done.exit_code == 0, done.output
    assert f"goal #{goal_id} is now dropped" in done.output
    assert goal(db, goal_id).status == GoalStatus.DROPPED
    assert [c.status for c in contacts(db) if c.goal_id == goal_id] == [ContactStatus.CANCELLED]
    (audit,) = audits(db, "goal_status")
    assert audit.actor.startswith("cli")
    assert send_checkin(sched, db, who, goal_id, now) == 0
