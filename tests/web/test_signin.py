"""Sign-in through the bot: single-use links, server-side sessions that end (issue 16)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cm_bot.bootstrap import App
from cm_bot.domain.time import ManualClock
from cm_bot.storage.admin import deactivate_staff
from cm_bot.storage.db import transaction
from cm_bot.storage.models import ConsoleLink, ConsoleSession
from cm_bot.web.app import create_app
from cm_bot.web.auth import COOKIE
from tests.support.people import Person
from tests.web.conftest import (
    CONSOLE_URL,
    add_staff,
    audit_rows,
    link_token,
    make_app,
    sign_in,
)


def test_a_link_opens_once_and_a_second_open_does_nothing(client: TestClient, cm: App) -> None:
    maria = add_staff(cm, "Maria")
    token = link_token(cm, maria)

    first = client.post(f"/login/{token}")
    assert first.status_code == 303 and first.headers["location"] == "/flags"
    cookie = first.cookies.get(COOKIE)
    assert cookie
    assert client.get("/flags").status_code == 200

    other = TestClient(client.app, base_url=CONSOLE_URL, follow_redirects=False)
    second = other.post(f"/login/{token}")
    assert second.status_code == 303 and second.headers["location"] == "/signin?refused=1"
    assert COOKIE not in second.cookies
    assert other.get("/flags").status_code == 303  # still signed out
    page = other.get("/signin?refused=1")
    assert "already been used or has expired" in page.text
    assert "/console" in page.text
    with transaction(cm.db) as session:
        assert len(session.execute(select(ConsoleSession)).all()) == 1
        stored = session.execute(select(ConsoleLink)).scalar_one()
    assert stored.token_sha256 != token and token not in stored.token_sha256  # hash only
    assert [r.detail for r in audit_rows(cm, "console_link_refused")] == [{"reason": "used"}]
    assert [r.actor for r in audit_rows(cm, "console_signed_in")] == [f"staff:{maria}"]


def test_fetching_a_link_as_a_preview_does_not_spend_it(client: TestClient, cm: App) -> None:
    """Telegram's link preview (or a mail scanner) GETs the link: only the button spends it."""
    maria = add_staff(cm, "Maria")
    token = link_token(cm, maria)

    for _preview in range(2):
        page = client.get(f"/login/{token}")
        assert page.status_code == 200
        assert "Maria" in page.text and f'action="/login/{token}"' in page.text
        assert COOKIE not in page.cookies
    assert audit_rows(cm, "console_signed_in") == []

    assert client.post(f"/login/{token}").headers["location"] == "/flags"
    assert client.get(f"/login/{token}").headers["location"] == "/signin?refused=1"


def test_the_continue_page_speaks_the_staff_members_language(client: TestClient, cm: App) -> None:
    from sqlmodel import Session

    from cm_bot.storage.models import Staff

    olena = add_staff(cm, "Olena")
    with Session(cm.db) as session:
        row = session.get(Staff, olena)
        assert row is not None
        row.locale = "uk"
        session.add(row)
        session.commit()
    page = client.get(f"/login/{link_token(cm, olena)}")
    assert 'lang="uk"' in page.text and "Open the console" not in page.text


def test_a_sign_in_posted_from_another_site_is_refused(client: TestClient, cm: App) -> None:
    """A page elsewhere cannot sign a browser in to someone else's session (login CSRF)."""
    token = link_token(cm, add_staff(cm, "Maria"))
    for elsewhere in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        refused = client.post(f"/login/{token}", headers=elsewhere)
        assert refused.status_code == 403 and COOKIE not in refused.cookies
    same = client.post(
        f"/login/{token}", headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"}
    )
    assert same.headers["location"] == "/flags"


def test_an_unknown_link_signs_nobody_in(client: TestClient, cm: App) -> None:
    response = client.post("/login/not-a-real-token")
    assert response.headers["location"] == "/signin?refused=1"
    assert [r.detail for r in audit_rows(cm, "console_link_refused")] == [{"reason": "unknown"}]


def test_a_link_expires_after_ten_minutes(client: TestClient, cm: App, clock: ManualClock) -> None:
    maria = add_staff(cm, "Maria")
    in_time, too_late = link_token(cm, maria), link_token(cm, maria)
    clock.advance(timedelta(minutes=9, seconds=59))
    assert client.post(f"/login/{in_time}").headers["location"] == "/flags"
    clock.advance(timedelta(seconds=1))
    assert client.post(f"/login/{too_late}").headers["location"] == "/signin?refused=1"
    assert [r.detail for r in audit_rows(cm, "console_link_refused")] == [{"reason": "expired"}]


def test_a_session_ends_after_30_idle_minutes(
    client: TestClient, cm: App, clock: ManualClock
) -> None:
    sign_in(client, cm, add_staff(cm, "Maria"))
    for _ in range(3):  # each request keeps it alive
        clock.advance(timedelta(minutes=29))
        assert client.get("/flags").status_code == 200
    clock.advance(timedelta(minutes=30))
    response = client.get("/flags")
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    clock.set(clock.now() - timedelta(minutes=30))  # back in time: still ended (revoked)
    assert client.get("/flags").status_code == 303


def test_a_session_ends_after_12_hours_however_busy(
    client: TestClient, cm: App, clock: ManualClock
) -> None:
    sign_in(client, cm, add_staff(cm, "Maria"))
    for _ in range(47):  # a request every 15 minutes: 11 h 45 min
        clock.advance(timedelta(minutes=15))
        assert client.get("/flags").status_code == 200, clock.now()
    clock.advance(timedelta(minutes=15))  # 12 h after sign-in
    assert client.get("/flags").headers["location"] == "/signin"


def test_sign_out_ends_the_session_on_the_server(client: TestClient, cm: App) -> None:
    csrf = sign_in(client, cm, add_staff(cm, "Maria"))
    cookie = client.cookies.get(COOKIE)
    response = client.post("/logout", data={"csrf": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    # The old cookie, replayed, opens nothing: the row is revoked, not only the cookie.
    replay = TestClient(client.app, base_url=CONSOLE_URL, follow_redirects=False)
    replay.cookies.set(COOKIE, cookie or "")
    assert replay.get("/flags").headers["location"] == "/signin"
    assert len(audit_rows(cm, "console_signed_out")) == 1


def test_deactivating_a_staff_member_ends_their_session_at_once(
    client: TestClient, cm: App
) -> None:
    add_staff(cm, "Sam", "admin")
    omar = add_staff(cm, "Omar")
    sign_in(client, cm, omar)
    assert client.get("/flags").status_code == 200
    unused = link_token(cm, omar)

    deactivate_staff(cm.db, "Omar", "cli:test", translator=cm.translator, now=cm.clock.now())

    assert client.get("/flags").headers["location"] == "/signin"
    fresh = TestClient(client.app, base_url=CONSOLE_URL, follow_redirects=False)
    assert fresh.post(f"/login/{unused}").headers["location"] == "/signin?refused=1"
    [done] = audit_rows(cm, "staff_deactivated")
    assert done.detail is not None and done.detail["console_sessions_ended"] == 1


def test_the_cookie_is_httponly_strict_and_secure_behind_https(client: TestClient, cm: App) -> None:
    maria = add_staff(cm, "Maria")
    plain = client.post(f"/login/{link_token(cm, maria)}").headers["set-cookie"]
    assert "HttpOnly" in plain and "SameSite=strict" in plain and "Path=/" in plain
    assert "Secure" not in plain
    secure_app = create_app(cm, base_url="https://console.example.org")
    with TestClient(secure_app, base_url="https://console.example.org") as https:
        cookie = https.post(f"/login/{link_token(cm, maria)}", follow_redirects=False).headers[
            "set-cookie"
        ]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_console_in_telegram_gives_a_link_that_signs_in(client: TestClient, cm: App) -> None:
    maria = add_staff(cm, "Maria", telegram="900100")
    staff_chat = Person(cm.engine, cm.db, "900100", channel="telegram")

    [reply] = staff_chat.say("/console")

    found = re.search(r"http://console\.test/login/(\S+)", reply.text)
    assert found, reply.text
    assert "10 minutes" in reply.text
    response = client.post(f"/login/{found.group(1)}")
    assert response.headers["location"] == "/flags"
    page = client.get("/flags")
    assert page.status_code == 200 and "Maria" in page.text
    assert [r.actor for r in audit_rows(cm, "console_link_created")] == [f"staff:{maria}"]
    # The help lists it.
    assert "/console" in staff_chat.say("/help")[0].text


def test_console_in_telegram_without_a_console_url_says_so_kindly(
    database_url: str, clock: ManualClock
) -> None:
    application = make_app(database_url, clock, console_url=None)
    try:
        add_staff(application, "Maria", telegram="900100")
        staff_chat = Person(application.engine, application.db, "900100", channel="telegram")
        [reply] = staff_chat.say("/console")
        assert "not set up" in reply.text and "/login/" not in reply.text
    finally:
        application.close()


def test_pages_without_a_session_go_to_sign_in(client: TestClient) -> None:
    for path in ("/flags", "/", "/flags?view=all"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] in ("/signin", "/flags")
    signin = client.get("/signin")
    assert signin.status_code == 200 and "/console" in signin.text


def test_an_admin_signs_a_lost_phone_out_of_the_console_and_telegram_access_stays(
    client: TestClient, cm: App, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cm_bot.cli import app as cli
    from cm_bot.storage.models import Staff

    maria = add_staff(cm, "Maria", telegram="900100")
    sign_in(client, cm, maria)
    unused = link_token(cm, maria)
    monkeypatch.setenv("CM_BOT_DATABASE_URL", database_url)

    result = CliRunner().invoke(cli, ["console", "revoke", "Maria"], prog_name="cm-bot")

    assert result.exit_code == 0, result.output
    assert "1 console session(s) ended" in result.output
    assert client.get("/flags").headers["location"] == "/signin"
    fresh = TestClient(client.app, base_url=CONSOLE_URL, follow_redirects=False)
    assert fresh.post(f"/login/{unused}").headers["location"] == "/signin?refused=1"
    with transaction(cm.db) as session:
        staff = session.get(Staff, maria)
        assert staff is not None and staff.active and staff.telegram_user_id == "900100"
    [audit] = audit_rows(cm, "console_sessions_revoked")
    assert audit.actor.startswith("cli:") and (audit.detail or {}).get("ended") == 1
