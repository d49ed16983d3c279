"""The case page lists a case's referrals with their history, and staff change their status.

A change made here is the bot's ``/referral``: the same rules, the same event row and the
same audit row (``via="console"``), and another caseload's referral is the same 404.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import col, select

from cm_bot.bootstrap import App
from cm_bot.domain import ReferralStatus
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Referral, ReferralEvent
from cm_bot.storage.reads.referrals import case_referrals
from tests.web.conftest import Case, add_case, add_staff, audit_rows, csrf_in_page, sign_in


def _referred(cm: App, case: Case, service: str = "Northside Food Bank") -> int:
    """The client asked to be referred for food (as the offer after intake does)."""
    with cm.store.unit() as uow:
        client = uow.runs.client_by_id(case.client_id)
        assert client is not None
        return uow.referrals.create(
            client, "food", "svc-1", service, ReferralStatus.REQUESTED, made_by="client"
        )


def test_a_case_manager_sees_the_referral_and_marks_it_completed(
    client: TestClient, cm: App
) -> None:
    maria = add_staff(cm, "Maria")
    case = add_case(cm, "Maria")
    referral_id = _referred(cm, case, service="Northside <b>Food</b> Bank")
    sign_in(client, cm, maria)

    page = client.get(f"/cases/{case.ref}")
    assert page.status_code == 200
    assert f"#{referral_id}" in page.text and "requested" in page.text
    assert "Northside &lt;b&gt;Food&lt;/b&gt; Bank" in page.text  # escaped, never markup

    answer = client.post(
        f"/cases/{case.ref}/referrals/{referral_id}",
        data={"csrf": csrf_in_page(page.text), "status": "completed", "reason": "got_help"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/cases/{case.ref}?saved=referral#referrals"
    shown = client.get(f"/cases/{case.ref}").text
    assert "completed</strong> (got help)" in shown
    with transaction(cm.db) as session:
        row = session.get(Referral, referral_id)
        assert row is not None and (row.status, row.reason) == ("completed", "got_help")
        steps = session.exec(
            select(ReferralEvent)
            .where(col(ReferralEvent.referral_id) == referral_id)
            .order_by(col(ReferralEvent.id))
        ).all()
    assert [(s.status, s.reason, s.actor) for s in steps] == [
        ("requested", None, "client"),
        ("completed", "got_help", f"staff:{maria}"),
    ]
    [audit] = audit_rows(cm, "referral_status")
    assert audit.actor == f"staff:{maria}" and (audit.detail or {}).get("via") == "console"
    with transaction(cm.db) as session:
        (row_read,) = case_referrals(session, case.case_id)
    assert [step.actor for step in row_read.history] == ["client", "Maria"]  # names, not ids


def test_another_caseloads_referral_is_the_same_404_and_changes_nothing(
    client: TestClient, cm: App
) -> None:
    add_staff(cm, "Maria")
    omar = add_staff(cm, "Omar")
    marias = add_case(cm, "Maria")
    omars = add_case(cm, "Omar")
    referral_id = _referred(cm, marias)
    sign_in(client, cm, omar)
    csrf = csrf_in_page(client.get(f"/cases/{omars.ref}").text)

    for path in (
        f"/cases/{marias.ref}/referrals/{referral_id}",  # Maria's case
        f"/cases/{omars.ref}/referrals/{referral_id}",  # his own case, her referral
    ):
        answer = client.post(path, data={"csrf": csrf, "status": "cancelled"})
        assert answer.status_code == 404
    with transaction(cm.db) as session:
        row = session.get(Referral, referral_id)
        assert row is not None and row.status == ReferralStatus.REQUESTED
    assert audit_rows(cm, "referral_status") == []


def test_a_status_change_without_the_csrf_token_is_refused(client: TestClient, cm: App) -> None:
    maria = add_staff(cm, "Maria")
    case = add_case(cm, "Maria")
    referral_id = _referred(cm, case)
    sign_in(client, cm, maria)

    answer = client.post(f"/cases/{case.ref}/referrals/{referral_id}", data={"status": "cancelled"})
    assert answer.status_code == 403
    with transaction(cm.db) as session:
        row = session.get(Referral, referral_id)
        assert row is not None and row.status == ReferralStatus.REQUESTED


def test_a_made_up_status_changes_nothing_and_says_so(client: TestClient, cm: App) -> None:
    maria = add_staff(cm, "Maria")
    case = add_case(cm, "Maria")
    referral_id = _referred(cm, case)
    sign_in(client, cm, maria)
    csrf = csrf_in_page(client.get(f"/cases/{case.ref}").text)

    answer = client.post(
        f"/cases/{case.ref}/referrals/{referral_id}", data={"csrf": csrf, "status": "done"}
    )
    assert answer.headers["location"] == f"/cases/{case.ref}?problem=referral#referrals"
    with transaction(cm.db) as session:
        row = session.get(Referral, referral_id)
        assert row is not None and row.status == ReferralStatus.REQUESTED
