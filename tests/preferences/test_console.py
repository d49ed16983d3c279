"""The console shows the preferences on the case page (read-only) and the staff tasks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time

import pytest

from cm_bot.bootstrap import App
from cm_bot.domain import Severity
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client, Flag
from tests.web.cases_support import NOW, add_rows, browser, case_of, ids_of


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    from tests.web.cases_support import console_app

    with console_app(database_url) as application:
        yield application


def test_case_page_shows_the_preferences_and_flags_show_the_task(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")
    case_id, client_id = ids_of(app, ref)
    with transaction(app.db) as session:
        client = session.get(Client, client_id)
        assert client is not None
        client.message_first = False
        client.contact_start, client.contact_end = time(17), time(20)
        client.safe_word_hash = "salt$" + "0" * 64
    add_rows(
        app,
        Flag(
            case_id=case_id,
            client_id=client_id,
            severity=Severity.ROUTINE,
            reason="Not safe to message the client first: call or see them for their goal check-in",
            rule_id="staff_task",
            dedupe_key="stafftask:1",
            created_at=NOW,
        ),
    )
    maria = browser(app, "Maria")

    page = maria.get(f"/cases/{ref}").text
    flags = maria.get("/flags").text

    assert "Safe to message first" in page
    assert "No: call or see the client, the bot never writes first" in page
    assert "17:00–20:00" in page and "Safe word" in page and "salt$" not in page
    assert "call or see them for their goal check-in" in flags
