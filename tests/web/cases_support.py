"""Helpers for the case pages' tests: the app on a ManualClock, signed-in browsers, seed rows."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import col

from cm_bot.bootstrap import App, build_app
from cm_bot.domain.time import ManualClock
from cm_bot.settings import Settings
from cm_bot.storage.admin import add_staff, link_client, new_case
from cm_bot.storage.console_sessions import issue_link
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    Case,
    Client,
    ConsentRecord,
    Flag,
    FlowRun,
    Response,
    ScheduledContact,
    ScoreResult,
    Staff,
)
from cm_bot.web.app import create_app
from tests.support.paths import ROOT

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextlib.contextmanager
def console_app(database_url: str, *, intake: str = "screening_phq") -> Iterator[App]:
    """The shipped flows and locales on the test database, at :data:`NOW` on a ManualClock."""
    app = build_app(
        Settings(
            database_url=database_url,
            flows_dir=ROOT / "conversations",
            locales_dir=ROOT / "locales",
            intake_flows=[intake],
        ),
        clock=ManualClock(NOW),
    )
    try:
        yield app
    finally:
        app.close()


def staff(app: App, name: str, role: str = "case_manager", **values: Any) -> int:
    """A staff member (created once); returns the id."""
    with contextlib.suppress(ValueError):
        add_staff(app.db, name, role)
    with transaction(app.db) as session:
        row = session.execute(select(Staff).where(col(Staff.name) == name)).scalars().one()
        for key, value in values.items():
            setattr(row, key, value)
        assert row.id is not None
        return row.id


def browser(app: App, name: str) -> TestClient:
    """A TestClient signed in as the staff member ``name`` through a one-use link."""
    staff_id = staff(app, name)
    client = TestClient(create_app(app), base_url="http://testserver")
    with app.store.unit() as uow:
        token = issue_link(uow.session, staff_id, uow.now)
    answer = client.post(f"/login/{token}", follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(html: str) -> str:
    """The CSRF token of a page's forms."""
    found = CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def case_of(app: App, manager: str, *, client: str | None = None, ref: str | None = None) -> str:
    """A new case of ``manager`` (linked on the console as ``client`` if given); its ref."""
    staff(app, manager)
    case = new_case(app.db, manager, ref)
    if client is not None:
        link_client(app.db, case.ref, "console", client, client)
    return case.ref


def ids_of(app: App, ref: str) -> tuple[int, int]:
    """(case id, client id) of a case, its client created if it has none."""
    with transaction(app.db) as session:
        case = session.execute(select(Case).where(col(Case.ref) == ref)).scalars().one()
        if case.client_id is None:
            client = Client()
            session.add(client)
            session.flush()
            case.client_id = client.id
        assert case.id is not None and case.client_id is not None
        return case.id, case.client_id


def add_rows(app: App, *rows: Any) -> None:
    """Insert rows as they are."""
    with transaction(app.db) as session:
        for row in rows:
            session.add(row)


def score(
    app: App,
    ref: str,
    instrument: str,
    value: float | None,
    band: str | None,
    at: datetime,
    **result: Any,
) -> None:
    """A stored score of ``ref``'s client (with a run of its own)."""
    case_id, client_id = ids_of(app, ref)
    with transaction(app.db) as session:
        run = FlowRun(
            client_id=client_id,
            case_id=case_id,
            flow_id=f"screening_{instrument}",
            flow_version=1,
            status="completed",
            started_at=at,
            updated_at=at,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        session.add(
            ScoreResult(
                case_id=case_id,
                client_id=client_id,
                run_id=run.id,
                flow_id=run.flow_id,
                score_id=instrument,
                instrument=instrument,
                value=value,
                band=band,
                result={"instrument": instrument, **result},
                computed_at=at,
            )
        )


def answer(app: App, ref: str, key: str, value: Any, question: str, at: datetime) -> None:
    """A stored answer of ``ref``'s client to a question of a flow the app does not know."""
    case_id, client_id = ids_of(app, ref)
    with transaction(app.db) as session:
        run = FlowRun(client_id=client_id, case_id=case_id, flow_id="notes", flow_version=1)
        session.add(run)
        session.flush()
        assert run.id is not None
        session.add(
            Response(
                case_id=case_id,
                client_id=client_id,
                run_id=run.id,
                flow_id="notes",
                flow_version=1,
                step_id=key,
                key=key,
                value=value,
                question=question,
                locale="en",
                answered_at=at,
            )
        )


def flag(app: App, ref: str, severity: str, at: datetime, **values: Any) -> None:
    """A flag on ``ref`` raised at ``at``."""
    case_id, client_id = ids_of(app, ref)
    key = f"test:{case_id}:{severity}:{at.isoformat()}:{sorted(values.items())}"
    add_rows(
        app,
        Flag(
            case_id=case_id,
            client_id=client_id,
            severity=severity,
            reason=values.pop("reason", "Test flag"),
            rule_id="test.rule",
            dedupe_key=key,
            created_at=at,
            **values,
        ),
    )


def contact(app: App, ref: str, due: datetime, status: str = "pending", **values: Any) -> None:
    """A scheduled contact of ``ref``."""
    case_id, client_id = ids_of(app, ref)
    add_rows(
        app,
        ScheduledContact(
            case_id=case_id,
            client_id=client_id,
            flow_id=values.pop("flow_id", "goal_checkin"),
            kind=values.pop("kind", "checkin"),
            due_at=due,
            status=status,
            **values,
        ),
    )


def consent(app: App, ref: str, action: str, at: datetime) -> None:
    """A consent record of ``ref``'s client."""
    case_id, client_id = ids_of(app, ref)
    add_rows(
        app,
        ConsentRecord(
            client_id=client_id,
            case_id=case_id,
            action=action,
            flow_id="consent",
            version=1,
            text_sha256="0" * 64,
            locale="en",
            decisions={"required": action == "granted"},
            recorded_at=at,
        ),
    )


def audits(app: App, action: str) -> list[AuditLog]:
    """Audit rows of one action, oldest first."""
    with transaction(app.db) as session:
        return list(
            session.execute(
                select(AuditLog).where(col(AuditLog.action) == action).order_by(col(AuditLog.id))
            ).scalars()
        )
