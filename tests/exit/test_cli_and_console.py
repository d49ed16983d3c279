"""``cm-bot case exit`` and the console's "Exit case" form: the same path as ``/exit``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col
from typer.testing import CliRunner

from cm_bot.bootstrap import App
from cm_bot.cli.case import case_app
from cm_bot.domain import CaseStatus
from cm_bot.engine import ConversationEngine
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case, ConsentRecord, FlowRun
from tests.exit.support import followups
from tests.scheduling.support import consented_client
from tests.support.paths import DATA, ROOT
from tests.support.people import texts
from tests.web.cases_support import NOW, add_rows, browser, case_of, csrf_of, ids_of


def _runs(db: Engine, flow_id: str) -> list[int]:
    with transaction(db) as session:
        rows = session.execute(select(FlowRun.client_id).where(col(FlowRun.flow_id) == flow_id))
        return [int(r[0]) for r in rows]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(DATA / "flows", flows)
    for name in ("exit_conversation", "exit_followup", "goal_checkin"):
        shutil.copy(ROOT / "conversations" / f"{name}.yaml", flows)
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(flows))
    monkeypatch.setenv("CM_BOT_LOCALES_DIR", str(ROOT / "locales"))


def test_cli_exit_starts_the_conversation(
    env: None, bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    done = CliRunner().invoke(case_app, ["exit", who.ref])
    assert done.exit_code == 0, done.output
    assert f"{who.ref} exited on" in done.output
    assert len(followups(db, who.case_id)) == 3
    assert _runs(db, "exit_conversation") == [who.client_id]
    assert "a few minutes" in texts(who.person.read())


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    from tests.web.cases_support import console_app

    with console_app(database_url) as application:
        yield application


def test_console_form_exits_with_the_csrf_token(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")
    case_id, client_id = ids_of(app, ref)
    add_rows(
        app,
        ConsentRecord(
            client_id=client_id,
            case_id=case_id,
            action="granted",
            flow_id="consent",
            version=app.flows.get("consent").version,
            text_sha256="0" * 64,
            locale="en",
            decisions={"required": True},
            recorded_at=NOW,
        ),
    )
    maria = browser(app, "Maria")
    page = maria.get(f"/cases/{ref}").text
    assert f'action="/cases/{ref}/exit"' in page
    token = csrf_of(page)

    refused = maria.post(f"/cases/{ref}/exit", data={"day": ""})
    assert refused.status_code == 403
    bad = maria.post(
        f"/cases/{ref}/exit", data={"day": "2020-01-01", "csrf": token}, follow_redirects=False
    )
    assert bad.headers["location"].endswith("?problem=exit#exit")
    saved = maria.post(f"/cases/{ref}/exit", data={"csrf": token}, follow_redirects=False)

    assert saved.headers["location"] == f"/cases/{ref}?saved=exit#exit"
    with transaction(app.db) as session:
        case = session.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.EXITED
        assert case.exited_at is not None and case.exited_at.date() == NOW.date()
    assert len(followups(app.db, case_id)) == 3
    assert _runs(app.db, "exit_conversation") == [client_id]
    again = maria.post(f"/cases/{ref}/exit", data={"csrf": token}, follow_redirects=False)
    assert again.headers["location"].endswith("?problem=exit#exit")

    other = case_of(app, "Oleh")
    assert maria.post(f"/cases/{other}/exit", data={"csrf": token}).status_code == 404


def test_console_says_so_when_the_client_was_not_messaged(app: App) -> None:
    ref = case_of(app, "Maria", client="petro")  # no consent: the bot may not write
    maria = browser(app, "Maria")
    token = csrf_of(maria.get(f"/cases/{ref}").text)

    saved = maria.post(f"/cases/{ref}/exit", data={"csrf": token}, follow_redirects=False)

    assert saved.headers["location"] == f"/cases/{ref}?saved=exit_unasked#exit"
    page = maria.get(saved.headers["location"]).text
    assert "The client was not messaged" in page and "is asked about" not in page
    assert _runs(app.db, "exit_conversation") == []
