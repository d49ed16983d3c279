"""The console shows a formatted flag reason in the reader's language (a Ukrainian reader).

The flag stores the English text with its msgid and params; the flags page and the case
page translate the msgid and the need, and leave the service's name as it is.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col

from cm_bot.bootstrap import App
from cm_bot.domain import Severity
from cm_bot.engine.referrals import REFERRAL_REQUESTED
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Staff
from tests.web.conftest import add_case, add_staff, sign_in

SERVICE = "Eastside Pantry"
UKRAINIAN = f"Запит на направлення: харчування — {SERVICE}"


def test_a_ukrainian_reader_sees_the_reason_in_ukrainian_on_the_flags_and_case_pages(
    client: TestClient, cm: App
) -> None:
    olena = add_staff(cm, "Olena")
    with transaction(cm.db) as session:
        session.execute(update(Staff).where(col(Staff.id) == olena).values(locale="uk"))
    case = add_case(cm, "Olena")
    with cm.store.unit() as uow:
        view = uow.runs.client_by_id(case.client_id)
        assert view is not None
        uow.flags.raise_flag(
            view,
            severity=Severity.ROUTINE,
            reason=REFERRAL_REQUESTED,
            params={"need": "food", "service": SERVICE},
            rule_id="referral_requested",
            dedupe_key="referral:1",
        )
    sign_in(client, cm, olena)

    flags = client.get("/flags")
    page = client.get(f"/cases/{case.ref}")

    for html in (flags.text, page.text):
        assert UKRAINIAN in html
        assert "Referral requested" not in html and "food" not in html
