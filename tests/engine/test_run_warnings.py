"""``cm-bot run`` says at start-up what would leave a person in crisis unheard."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from cm_bot.bootstrap import App, build_app
from cm_bot.cli import _safety_warnings
from cm_bot.settings import Settings
from cm_bot.storage.admin import add_staff
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Staff
from tests.support.paths import ROOT


def _app(database_url: str, program: Path) -> App:
    return build_app(
        Settings(
            database_url=database_url,
            flows_dir=ROOT / "tests" / "data" / "flows",
            locales_dir=ROOT / "locales",
            program_file=program,
            intake_flows=["intake"],
        )
    )


@pytest.fixture
def shipped(database_url: str) -> Iterator[App]:
    app = _app(database_url, ROOT / "conversations" / "program.yaml")
    yield app
    app.close()


def _warnings(app: App, caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cm_bot.run"):
        _safety_warnings(app)
    return [r.getMessage() for r in caplog.records]


def test_no_supervisor_and_no_team_chat_is_a_start_up_warning(
    shipped: App, caplog: pytest.LogCaptureFixture
) -> None:
    said = _warnings(shipped, caplog)
    assert any("no supervisor or admin" in line for line in said)
    assert any("shipped program file" in line for line in said)

    add_staff(shipped.db, "Sam", "supervisor")
    with transaction(shipped.db) as session:
        session.execute(update(Staff).where(col(Staff.name) == "Sam").values(telegram_user_id="7"))
    assert not any("no supervisor" in line for line in _warnings(shipped, caplog))


def test_an_example_program_file_is_a_start_up_warning(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(database_url, ROOT / "conversations" / "programs" / "ukraine.example.yaml")
    try:
        assert any("is an example" in line for line in _warnings(app, caplog))
    finally:
        app.close()
