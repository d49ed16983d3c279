"""``cm-bot case rescreen`` and the console's re-screen form: the same plan as ``/rescreen``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cm_bot.bootstrap import App
from cm_bot.cli.case import case_app
from cm_bot.domain import ContactStatus
from cm_bot.engine import ConversationEngine
from cm_bot.storage import SqlStore
from cm_bot.storage.admin import cli_actor
from tests.rescreen.support import plans, rescreens
from tests.scheduling.support import consented_client
from tests.support.paths import DATA, ROOT
from tests.support.records import audits
from tests.web.cases_support import NOW, browser, case_of, csrf_of, ids_of, score


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(DATA / "flows", flows)
    for name in ("rescreen_phq9", "rescreen_gad7"):
        shutil.copy(ROOT / "conversations" / f"{name}.yaml", flows)
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("CM_BOT_FLOWS_DIR", str(flows))
    monkeypatch.setenv("CM_BOT_LOCALES_DIR", str(ROOT / "locales"))


def test_cli_sets_and_stops_a_rescreen(
    env: None, bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = consented_client(bot, db)
    runner = CliRunner()

    bad = runner.invoke(case_app, ["rescreen", who.ref, "phq9", "fortnight"])
    assert bad.exit_code == 2 and "usage: cm-bot case rescreen" in bad.output
    assert runner.invoke(case_app, ["rescreen", "C-9999", "phq9", "4w"]).exit_code == 1

    done = runner.invoke(case_app, ["rescreen", who.ref, "PHQ9", "4w"])
    assert done.exit_code == 0, done.output
    assert f"{who.ref}: phq9 every 4w (28 days)" in done.output
    [contact] = rescreens(db, who.case_id)
    expected = datetime.now(UTC) + timedelta(days=28)
    assert abs(contact.due_at - expected) < timedelta(hours=14)  # moved into contact hours
    assert [a.actor for a in audits(db, "rescreen_set")] == [cli_actor()]

    stopped = runner.invoke(case_app, ["rescreen", who.ref, "phq9", "off"])
    assert stopped.exit_code == 0 and "re-screen stopped" in stopped.output
    [contact] = rescreens(db, who.case_id)
    assert contact.status == ContactStatus.CANCELLED
    assert [a.actor for a in audits(db, "rescreen_stopped")] == [cli_actor()]
    [plan] = plans(db)
    assert plan.stopped_at is not None and plan.set_by == cli_actor()


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    from tests.web.cases_support import console_app

    with console_app(database_url) as application:
        yield application


def test_console_form_sets_a_rescreen_with_the_csrf_token(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")
    case_id, _client_id = ids_of(app, ref)
    maria = browser(app, "Maria")
    page = maria.get(f"/cases/{ref}").text
    assert f'action="/cases/{ref}/rescreen"' in page
    token = csrf_of(page)

    refused = maria.post(f"/cases/{ref}/rescreen", data={"instrument": "phq9", "every": "4w"})
    assert refused.status_code == 403
    bad = maria.post(
        f"/cases/{ref}/rescreen",
        data={"instrument": "phq9", "every": "1d", "csrf": token},
        follow_redirects=False,
    )
    assert bad.headers["location"].endswith("?problem=rescreen#rescreens")
    saved = maria.post(
        f"/cases/{ref}/rescreen",
        data={"instrument": "gad7", "every": "6w", "csrf": token},
        follow_redirects=False,
    )

    assert saved.status_code == 303
    assert saved.headers["location"] == f"/cases/{ref}?saved=rescreen#rescreens"
    [plan] = plans(app.db)
    assert (plan.case_id, plan.instrument, plan.every_days) == (case_id, "gad7", 42)
    [contact] = rescreens(app.db, case_id)
    assert contact.flow_id == "rescreen_gad7"
    assert NOW + timedelta(days=42) <= contact.due_at <= NOW + timedelta(days=42, hours=1)
    [audit] = audits(app.db, "rescreen_set")
    assert audit.actor.startswith("staff:")
    shown = maria.get(f"/cases/{ref}?saved=rescreen").text
    assert "Re-screen saved." in shown and "GAD-7: every 42 days" in shown

    # Another caseload's case is the same 404 as an unknown one; nothing is planned.
    other = case_of(app, "Oleh")
    answer = maria.post(
        f"/cases/{other}/rescreen", data={"instrument": "phq9", "every": "4w", "csrf": token}
    )
    assert answer.status_code == 404
    assert len(plans(app.db)) == 1


def test_console_chart_and_table_mark_not_improving(app: App) -> None:
    ref = case_of(app, "Maria")
    for weeks, value in ((0, 16), (4, 14), (8, 13)):
        score(app, ref, "phq9", value, "moderate", NOW + timedelta(weeks=weeks), positive=True)

    page = browser(app, "Maria").get(f"/cases/{ref}").text

    assert page.count('class="marker-not-improving"') == 1
    table = page.split('class="chart-data"')[1].split("</table>")[0]
    assert "<td>not improving</td>" in table
    assert "not improving is neither, 8 weeks or more after the first score" in page
