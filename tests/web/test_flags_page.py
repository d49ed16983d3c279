"""``/flags``: the landing page, its views and actions, tied to the Telegram notices (issue 16)."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlmodel import col

from cm_bot.bootstrap import App
from cm_bot.domain import Severity
from cm_bot.domain.time import ManualClock
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case, CaseNote, Flag, Staff
from tests.web.conftest import (
    add_case,
    add_flag,
    add_staff,
    audit_rows,
    outbox_rows,
    sign_in,
)


def _flag_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'id="flag-(\d+)"', html)]


def test_a_case_manager_sees_only_their_caseloads_flags_most_severe_then_oldest(
    client: TestClient, cm: App, clock: ManualClock
) -> None:
    maria = add_staff(cm, "Maria")
    add_staff(cm, "Omar")
    mine, theirs = add_case(cm, "Maria"), add_case(cm, "Omar")
    routine = add_flag(cm, mine, severity=Severity.ROUTINE, reason="Asked for a call")
    clock.advance(timedelta(minutes=5))
    old_high = add_flag(cm, mine, severity=Severity.HIGH, reason="PHQ-9 moderate")
    clock.advance(timedelta(minutes=5))
    new_high = add_flag(cm, mine, severity=Severity.HIGH, reason="GAD-7 moderate")
    urgent = add_flag(cm, mine, reason="Not safe at home")
    omars = add_flag(cm, theirs, reason="Omar's client")
    clock.advance(timedelta(hours=2, minutes=3))
    sign_in(client, cm, maria)

    page = client.get("/flags?view=all")  # not hers to ask for: her caseload instead
    assert page.status_code == 200
    assert _flag_ids(page.text) == [urgent, old_high, new_high, routine]
    assert omars not in _flag_ids(page.text) and "Omar's client" not in page.text
    assert "view=unassigned" not in page.text  # no wider views offered
    assert f'href="/cases/{mine.ref}"' in page.text
    assert "Urgent" in page.text and "Routine" in page.text
    assert "waiting 2 h 3 min" in page.text and "waiting 2 h 13 min" in page.text
    assert "Open: nobody has acknowledged it yet" in page.text
    [read] = audit_rows(cm, "read_flags")
    assert read.actor == f"staff:{maria}"
    assert read.detail is not None
    assert read.detail["cases"] == [mine.case_id]
    assert read.detail["flags"] == [urgent, old_high, new_high, routine]
    assert read.detail["channel"] == "console"


def test_a_case_manager_cannot_act_on_another_managers_flag(client: TestClient, cm: App) -> None:
    add_staff(cm, "Maria", telegram="900100")
    omar = add_staff(cm, "Omar")
    flag_id = add_flag(cm, add_case(cm, "Maria"))
    csrf = sign_in(client, cm, omar)
    before = len(outbox_rows(cm))

    for action, form in (("ack", {}), ("resolve", {"note": "done"}), ("assign", {"staff": omar})):
        response = client.post(f"/flags/{flag_id}/{action}", data={"csrf": csrf, **form})
        assert response.status_code == 404, action

    with transaction(cm.db) as session:
        flag = session.get(Flag, flag_id)
        assert flag is not None and flag.status == "open"
        assert session.execute(select(CaseNote)).first() is None
    assert len(outbox_rows(cm)) == before


def test_supervisors_choose_mine_unassigned_or_all(client: TestClient, cm: App) -> None:
    sam = add_staff(cm, "Sam", "supervisor")
    add_staff(cm, "Maria")
    marias = add_flag(cm, add_case(cm, "Maria"), notify=False)
    sams = add_flag(cm, add_case(cm, "Sam"), notify=False)
    nobodys_case = add_case(cm, "Maria")
    with transaction(cm.db) as session:
        session.execute(
            update(Case).where(col(Case.id) == nobodys_case.case_id).values(manager_id=None)
        )
    nobodys = add_flag(cm, nobodys_case, severity=Severity.ROUTINE, notify=False)
    sign_in(client, cm, sam)

    everything = client.get("/flags").text  # supervisors land on all
    assert _flag_ids(everything) == [marias, sams, nobodys]
    assert "Maria" in everything and "Unassigned" in everything
    assert _flag_ids(client.get("/flags?view=mine").text) == [sams]
    assert _flag_ids(client.get("/flags?view=unassigned").text) == [nobodys]


def test_acknowledging_in_the_console_edits_the_telegram_notice(
    client: TestClient, cm: App
) -> None:
    maria = add_staff(cm, "Maria", telegram="900100")
    flag_id = add_flag(cm, add_case(cm, "Maria"), reason="Not safe at home")
    [notice] = [row for row in outbox_rows(cm) if row.flag_id == flag_id]
    assert notice.chat_id == "900100" and "Acknowledge" in str(notice.buttons)
    csrf = sign_in(client, cm, maria)

    response = client.post(f"/flags/{flag_id}/ack", data={"csrf": csrf, "view": "mine"})

    assert response.status_code == 303 and response.headers["location"] == "/flags?view=mine"
    [edit] = [row for row in outbox_rows(cm) if row.edit_of == notice.id]
    assert edit.chat_id == "900100" and edit.status == "pending"
    assert "acknowledged" in edit.text.lower() and "Maria" in edit.text
    labels = [button["label"] for row in edit.buttons or [] for button in row]
    assert "Acknowledge" not in labels and "Resolve" in labels
    page = client.get("/flags").text
    assert "Acknowledged by Maria" in page
    assert f'action="/flags/{flag_id}/ack"' not in page  # nothing left to acknowledge
    # A second acknowledgement (a tap in Telegram meanwhile, a double click) changes nothing.
    client.post(f"/flags/{flag_id}/ack", data={"csrf": csrf})
    assert len([row for row in outbox_rows(cm) if row.edit_of == notice.id]) == 1
    [acted] = audit_rows(cm, "flag_acknowledged")
    assert acted.actor == f"staff:{maria}"


def test_resolving_with_a_note_keeps_the_note_and_ends_the_pause(
    client: TestClient, cm: App
) -> None:
    maria = add_staff(cm, "Maria", telegram="900100")
    case = add_case(cm, "Maria")
    flag_id = add_flag(cm, case, reason="Not safe at home")
    csrf = sign_in(client, cm, maria)

    response = client.post(
        f"/flags/{flag_id}/resolve",
        data={"csrf": csrf, "note": "  Called her; she is with her sister tonight.  "},
    )

    assert response.status_code == 303
    with transaction(cm.db) as session:
        flag = session.get(Flag, flag_id)
        assert flag is not None and flag.status == "resolved" and flag.resolved_by == maria
        [note] = session.execute(select(CaseNote)).scalars().all()
    assert note.case_id == case.case_id and note.staff_id == maria
    assert note.text == "Called her; she is with her sister tonight."
    rows = outbox_rows(cm)
    assert any(row.edit_of is not None and "resolved" in row.text.lower() for row in rows)
    # The urgent pause ends: the client is told once that the conversation goes on.
    assert [row.chat_id for row in rows if row.client_id == case.client_id] == [case.user_id]
    assert client.get("/flags").text.count('id="flag-') == 0
    assert len(audit_rows(cm, "pause_ended")) == 1


def test_a_supervisor_assigns_a_flag_to_a_colleague_who_is_told_on_telegram(
    client: TestClient, cm: App
) -> None:
    sam = add_staff(cm, "Sam", "supervisor")
    add_staff(cm, "Maria")
    omar = add_staff(cm, "Omar", telegram="900200")
    case = add_case(cm, "Maria")
    flag_id = add_flag(cm, case, severity=Severity.HIGH, notify=False)
    csrf = sign_in(client, cm, sam)
    assert f'action="/flags/{flag_id}/assign"' in client.get("/flags").text

    response = client.post(f"/flags/{flag_id}/assign", data={"csrf": csrf, "staff": omar})

    assert response.status_code == 303
    with transaction(cm.db) as session:
        stored = session.get(Case, case.case_id)
        assert stored is not None and stored.manager_id == omar
    [told] = [row for row in outbox_rows(cm) if row.flag_id == flag_id]
    assert told.chat_id == "900200" and told.staff_id == omar
    [assigned] = audit_rows(cm, "flag_assigned")
    assert assigned.detail is not None and assigned.detail["to_staff_id"] == omar


def test_a_case_manager_cannot_assign(client: TestClient, cm: App) -> None:
    maria = add_staff(cm, "Maria")
    omar = add_staff(cm, "Omar")
    flag_id = add_flag(cm, add_case(cm, "Maria"), notify=False)
    csrf = sign_in(client, cm, maria)
    assert f'action="/flags/{flag_id}/assign"' not in client.get("/flags").text
    response = client.post(f"/flags/{flag_id}/assign", data={"csrf": csrf, "staff": omar})
    assert response.status_code == 403


def test_times_and_words_are_the_readers(client: TestClient, cm: App, clock: ManualClock) -> None:
    maria = add_staff(cm, "Maria")
    with transaction(cm.db) as session:
        session.execute(
            update(Staff).where(col(Staff.id) == maria).values(timezone="Europe/Kyiv", locale="es")
        )
    add_flag(cm, add_case(cm, "Maria"), notify=False)  # raised 09:00 UTC = 11:00 in Kyiv
    sign_in(client, cm, maria)
    page = client.get("/flags").text
    assert '<html lang="es">' in page
    assert "2026-12-07 11:00 Europe/Kyiv" in page


def test_the_home_page_is_the_flags_page(client: TestClient, cm: App) -> None:
    sign_in(client, cm, add_staff(cm, "Maria"))
    assert client.get("/").headers["location"] == "/flags"
    page = client.get("/flags").text
    assert "No open flags." in page
    for link in ('href="/flags"', 'href="/cases"', 'href="/reports"', 'action="/logout"'):
        assert link in page
    assert 'href="#main"' in page  # the skip link


async def test_an_acknowledgement_in_the_console_reaches_the_notice_in_telegram(
    database_url: str,
) -> None:
    """The real bot (aiogram) against the Bot API emulator; the console on the same database.

    Maria asks the bot for a link with /console, signs in with it, acknowledges the flag:
    the notice she was sent in Telegram is edited to say so.
    """
    import asyncio

    from cm_bot.bootstrap import build_telegram
    from cm_bot.testing import FakeBotAPI
    from cm_bot.web.app import create_app
    from tests.support.telegram import QUICK, WAIT, Bot, Chat
    from tests.web.conftest import CONSOLE_URL, make_app

    api = FakeBotAPI()
    await api.start()
    app = make_app(database_url, telegram_token=api.token, telegram_api_url=api.base_url)
    runtime = build_telegram(app)
    runtime.sender.limits = QUICK
    runtime.sender.limiter.limits = QUICK
    bot = Bot(app, runtime, api, "aiogram")
    try:
        await bot.start_polling()
        add_staff(app, "Maria", telegram="5550101")
        maria = Chat(bot, 5550101)
        flag_id = add_flag(app, add_case(app, "Maria"), reason="Not safe at home")
        runtime.sender.wake()
        [notice] = await api.wait_for_sent(1, chat_id=5550101, timeout=WAIT)
        assert "Not safe at home" in notice.text

        await maria.say("/console")
        [link] = [m.text for m in maria.sent() if "/login/" in m.text]
        path = re.search(r"/login/\S+", link)
        assert path is not None and link.startswith(CONSOLE_URL) is False

        def console_acknowledges() -> int:
            with TestClient(create_app(app), base_url=CONSOLE_URL, follow_redirects=False) as web:
                assert web.post(path.group(0)).headers["location"] == "/flags"
                page = web.get("/flags").text
                csrf = re.search(r'name="csrf" value="([^"]+)"', page)
                assert csrf is not None
                return web.post(f"/flags/{flag_id}/ack", data={"csrf": csrf.group(1)}).status_code

        assert await asyncio.to_thread(console_acknowledges) == 303
        runtime.sender.wake()  # the running bot also looks every second on its own
        [edit] = await api.wait_for_edits(1, chat_id=5550101, timeout=WAIT)
        assert edit.message_id == notice.message_id
        assert "acknowledged" in edit.text.lower() and "Maria" in edit.text
    finally:
        await bot.stop()
        app.close()
        await api.stop()
