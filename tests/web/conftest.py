"""Fixtures for the web console: a bootstrap App on the test database, its FastAPI app, a client.

Time is a :class:`ManualClock` (``clock``): move it to expire links and sessions. The
helpers add staff, cases and flags the way the bot would and sign a staff member in:

    maria = add_staff(cm, "Maria")                      # a case manager (role=...)
    case = add_case(cm, "Maria")                        # Case(case_id, ref, client_id)
    flag_id = add_flag(cm, case, reason="Not safe")     # an urgent flag, notice to Maria
    csrf = sign_in(client, cm, maria)                   # the client now holds her session
    client.post(f"/flags/{flag_id}/ack", data={"csrf": csrf})
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlmodel import col

from cm_bot.bootstrap import App, build_app
from cm_bot.domain import Severity
from cm_bot.domain.time import ManualClock
from cm_bot.engine.staff import StaffDesk
from cm_bot.settings import Settings
from cm_bot.storage import admin
from cm_bot.storage.console_sessions import issue_link, token_hash
from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, ConsoleSession, Outbox, Staff
from cm_bot.web.app import create_app
from cm_bot.web.auth import COOKIE
from tests.support.paths import FLOWS, ROOT
from tests.web.browser_support import Console, chromium, serve

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CONSOLE_URL = "http://console.test"

_users = itertools.count(7_000_001)
_flags = itertools.count(1)


@pytest.fixture
def clock() -> ManualClock:
    """The one clock of the App under test: the store's, the engine's and the console's."""
    return ManualClock(START)


def make_app(database_url: str, clock: ManualClock | None = None, **settings: object) -> App:
    """A bootstrap App on the test database (test flows, shipped translations)."""
    options: dict[str, object] = {
        "database_url": database_url,
        "flows_dir": FLOWS,
        "locales_dir": ROOT / "locales",
        "intake_flows": ["intake"],
        "console_url": CONSOLE_URL,
        **settings,
    }
    return build_app(Settings(**options), clock=clock)


@pytest.fixture
def cm(database_url: str, clock: ManualClock) -> Iterator[App]:
    """The bootstrap App the console is built on (``CM_BOT_CONSOLE_URL`` set)."""
    application = make_app(database_url, clock)
    yield application
    application.close()


@pytest.fixture
def web(cm: App) -> FastAPI:
    """The console's FastAPI application."""
    return create_app(cm)


@pytest.fixture
def client(web: FastAPI) -> Iterator[TestClient]:
    """An HTTP client of the console that does not follow redirects (tests look at them)."""
    with TestClient(web, base_url=CONSOLE_URL, follow_redirects=False) as http:
        yield http


@pytest.fixture
def console(cm: App) -> Iterator[Console]:
    """The console of ``cm`` served over HTTP by uvicorn in a thread (browser tests)."""
    with serve(cm) as served:
        yield served


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless system Chromium; the test is skipped without one (failed when CI is set)."""
    async with chromium() as launched:
        yield launched


# -- people, cases and flags -------------------------------------------------------------------


def add_staff(
    cm: App, name: str, role: str = "case_manager", *, telegram: str | None = None
) -> int:
    """A staff member (bound to the Telegram user ``telegram`` if given); returns their id."""
    staff = admin.add_staff(cm.db, name, role)
    assert staff.id is not None
    if telegram is not None:
        with transaction(cm.db) as session:
            session.execute(
                update(Staff).where(col(Staff.id) == staff.id).values(telegram_user_id=telegram)
            )
    return staff.id


@dataclass(frozen=True)
class Case:
    """A case with a client linked on Telegram."""

    case_id: int
    ref: str
    client_id: int
    user_id: str  # the client's Telegram user (and chat) id


def add_case(cm: App, manager: str, *, user_id: str | None = None) -> Case:
    """A case of ``manager``'s with a client linked to it on Telegram."""
    case = admin.new_case(cm.db, manager)
    assert case.id is not None
    user = user_id or str(next(_users))
    client_id = admin.link_client(cm.db, case.ref, "telegram", user, user)
    return Case(case.id, case.ref, client_id, user)


def add_flag(
    cm: App,
    case: Case,
    *,
    severity: Severity = Severity.URGENT,
    reason: str = "Said they do not feel safe at home",
    notify: bool = True,
) -> int:
    """A flag on the case's client, raised at the clock's now; its notice goes to the manager.

    ``notify``: write the Telegram notice(s) to the outbox as the bot does (the case
    manager if bound to Telegram; supervisors when they cannot be reached).
    """
    with cm.store.unit() as uow:
        client = uow.runs.client_by_id(case.client_id)
        assert client is not None
        flag_id = uow.flags.raise_flag(
            client,
            severity=severity,
            reason=reason,
            rule_id="test.rule",
            dedupe_key=f"test:{next(_flags)}",
        )
        assert flag_id is not None
        if notify:
            desk = StaffDesk(uow, cm.translator, [], flows=cm.flows)
            desk.alert(flag_id, uow.cases.staff_targets(client), severity)
    return flag_id


# -- signing in ---------------------------------------------------------------------------------


def link_token(cm: App, staff_id: int) -> str:
    """A fresh sign-in link token for a staff member, at the clock's now."""
    with cm.store.unit() as uow:
        return issue_link(uow.session, staff_id, uow.now)


def sign_in(client: TestClient, cm: App, staff_id: int) -> str:
    """Open a new link for ``staff_id`` in ``client``; returns the session's CSRF token."""
    response = client.post(f"/login/{link_token(cm, staff_id)}")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/flags"
    return csrf_of(client, cm)


def csrf_of(client: TestClient, cm: App) -> str:
    """The CSRF token of the session ``client`` holds (from its row)."""
    token = client.cookies.get(COOKIE)
    assert token, "not signed in"
    with transaction(cm.db) as session:
        row = session.execute(
            select(ConsoleSession).where(col(ConsoleSession.token_sha256) == token_hash(token))
        ).scalar_one()
        return row.csrf


def csrf_in_page(html: str) -> str:
    """The CSRF token of a page's first form."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no form with a CSRF token on the page"
    return found.group(1)


# -- what was written ---------------------------------------------------------------------------


def outbox_rows(cm: App) -> list[Outbox]:
    """Every outbox row, oldest first."""
    with transaction(cm.db) as session:
        return list(session.execute(select(Outbox).order_by(col(Outbox.id))).scalars())


def audit_rows(cm: App, action: str | None = None) -> list[AuditLog]:
    """Audit rows (of one action), oldest first."""
    with transaction(cm.db) as session:
        query = select(AuditLog).order_by(col(AuditLog.id))
        if action is not None:
            query = query.where(col(AuditLog.action) == action)
        return list(session.execute(query).scalars())
