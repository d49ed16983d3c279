"""The caseload page: who sees which case, the columns, filters, search, sort, few queries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from cm_bot.bootstrap import App
from cm_bot.storage.db import transaction
from cm_bot.storage.reads.caseload import CaseloadQuery, load_caseload
from cm_bot.storage.reads.timeline import case_head
from tests.web.cases_support import (
    NOW,
    answer,
    audits,
    browser,
    case_of,
    consent,
    contact,
    flag,
    score,
    staff,
)

ROW = re.compile(r'<th scope="row"><a href="/cases/(C-\d+)">')


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    from tests.web.cases_support import console_app

    with console_app(database_url) as application:
        yield application


def _set_status(app: App, ref: str, status: str) -> None:
    with transaction(app.db) as session:
        case = case_head(session, ref)
        assert case is not None
        case.status = status


@pytest.fixture
def seeded(app: App) -> App:
    """Maria's three cases and Oleh's one, each with something to show."""
    one = case_of(app, "Maria")  # C-0001
    two = case_of(app, "Maria")  # C-0002
    three = case_of(app, "Maria")  # C-0003
    case_of(app, "Oleh")  # C-0004
    _set_status(app, one, "active")
    _set_status(app, three, "exited")
    consent(app, one, "granted", NOW - timedelta(days=10))
    consent(app, two, "granted", NOW - timedelta(days=10))
    consent(app, two, "withdrawn", NOW - timedelta(days=1))
    flag(app, one, "urgent", NOW - timedelta(hours=2))
    flag(app, one, "routine", NOW - timedelta(hours=3))
    flag(app, three, "high", NOW - timedelta(days=2), status="acknowledged")
    flag(app, three, "urgent", NOW - timedelta(days=9), status="resolved")
    answer(app, one, "notes.q", "fine", "How are you?", NOW - timedelta(days=2))
    answer(app, three, "notes.q", "ok", "How are you?", NOW - timedelta(days=5))
    contact(app, one, NOW + timedelta(days=3))
    contact(app, two, NOW - timedelta(days=1))  # past due, never sent: overdue
    contact(app, three, NOW - timedelta(days=20), "answered")
    score(app, one, "phq9", 20, "severe", NOW - timedelta(days=30))
    score(app, one, "phq9", 14, "moderate", NOW - timedelta(days=2))
    score(app, two, "phq9", 5, "mild", NOW - timedelta(days=4))
    score(app, two, "gad7", 12, "moderate", NOW - timedelta(days=4))
    score(app, three, "ahc", None, None, NOW - timedelta(days=6), positive_domains=["food"])
    return app


def _refs(client: TestClient, query: str = "") -> list[str]:
    page = client.get("/cases" + query)
    assert page.status_code == 200, page.text
    return ROW.findall(page.text)


def test_a_case_manager_sees_their_caseload_and_a_supervisor_everything(seeded: App) -> None:
    staff(seeded, "Sofia", "supervisor")

    assert _refs(browser(seeded, "Maria")) == ["C-0001", "C-0002", "C-0003"]
    assert _refs(browser(seeded, "Oleh")) == ["C-0004"]
    assert _refs(browser(seeded, "Sofia")) == ["C-0001", "C-0002", "C-0003", "C-0004"]
    reads = audits(seeded, "read_caseload")
    assert [(r.detail or {}).get("count") for r in reads] == [3, 1, 4]
    assert all((r.detail or {}).get("via") == "console" for r in reads)
    assert reads[0].actor == f"staff:{staff(seeded, 'Maria')}"


def test_the_rows_carry_consent_flags_contacts_and_latest_scores(seeded: App) -> None:
    maria = staff(seeded, "Maria")
    with seeded.store.unit() as uow:
        viewer = _Viewer(maria, "case_manager")
        rows = {r.ref: r for r in load_caseload(uow.session, viewer, uow.now).rows}

    one, two, three = rows["C-0001"], rows["C-0002"], rows["C-0003"]
    assert (one.consent, two.consent, three.consent) == ("given", "withdrawn", "none")
    assert (one.open_flags, one.worst_flag) == (2, "urgent")
    assert (three.open_flags, three.worst_flag) == (1, "high")  # the resolved one is not open
    assert two.open_flags == 0 and two.worst_flag is None
    assert one.last_contact == NOW - timedelta(days=2)
    assert two.last_contact is None
    assert one.next_contact == NOW + timedelta(days=3) and not one.overdue
    assert two.next_contact == NOW - timedelta(days=1) and two.overdue
    assert three.next_contact is None and not three.overdue
    assert (one.scores["phq9"].value, one.scores["phq9"].band) == (14, "moderate")  # the latest
    assert set(two.scores) == {"phq9", "gad7"}
    assert three.scores["ahc"].positive_domains == ("food",)


def test_the_page_shows_the_columns(seeded: App) -> None:
    page = browser(seeded, "Maria").get("/cases").text

    for header in ("Reference", "Status", "Consent", "Open flags", "Last contact", "Next contact"):
        assert f">{header}" in page
    assert ">PHQ-9" in page and ">GAD-7" in page and ">AHC HRSN" in page
    assert '14 <span class="band-name">(moderate)</span>' in page
    assert "positive: food" in page  # the AHC's positive domains, by name
    assert 'class="badge overdue"' in page
    assert "Your caseload: 3 cases." in page


def test_filters(seeded: App) -> None:
    maria = browser(seeded, "Maria")

    assert _refs(maria, "?status=intake") == ["C-0002"]
    assert _refs(maria, "?status=exited") == ["C-0003"]
    assert _refs(maria, "?flag=1") == ["C-0001", "C-0003"]
    assert _refs(maria, "?overdue=1") == ["C-0002"]
    assert _refs(maria, "?flag=1&status=active") == ["C-0001"]
    assert _refs(maria, "?status=nonsense") == ["C-0001", "C-0002", "C-0003"]
    assert "No cases match." in maria.get("/cases?overdue=1&flag=1").text


def test_search_by_reference(seeded: App) -> None:
    maria = browser(seeded, "Maria")

    assert _refs(maria, "?q=0002") == ["C-0002"]
    assert _refs(maria, "?q=c-000") == ["C-0001", "C-0002", "C-0003"]
    assert _refs(maria, "?q=C-0004") == []  # Oleh's: not found by searching either


def test_sort_by_any_column(seeded: App) -> None:
    maria = browser(seeded, "Maria")

    assert _refs(maria, "?sort=ref&dir=desc") == ["C-0003", "C-0002", "C-0001"]
    assert _refs(maria, "?sort=score:phq9&dir=desc") == ["C-0001", "C-0002", "C-0003"]
    assert _refs(maria, "?sort=score:phq9&dir=asc") == ["C-0002", "C-0001", "C-0003"]
    assert _refs(maria, "?sort=flags&dir=desc") == ["C-0001", "C-0003", "C-0002"]
    assert _refs(maria, "?sort=last_contact&dir=desc") == ["C-0001", "C-0003", "C-0002"]
    assert _refs(maria, "?sort=next_contact") == ["C-0002", "C-0001", "C-0003"]
    assert _refs(maria, "?sort=consent") == ["C-0001", "C-0002", "C-0003"]
    assert _refs(maria, "?sort=status&dir=desc") == ["C-0002", "C-0003", "C-0001"]
    # Not a column: the default order, no error.
    assert _refs(maria, "?sort=__class__&dir=desc") == ["C-0003", "C-0002", "C-0001"]
    page = maria.get("/cases?sort=flags&dir=desc").text
    assert 'aria-sort="descending"' in page


class _Viewer:
    def __init__(self, staff_id: int, role: str) -> None:
        self.staff_id, self.role = staff_id, role


def test_the_number_of_queries_does_not_grow_with_the_caseload(app: App) -> None:
    def queries(cases: int) -> int:
        for _n in range(cases):
            ref = case_of(app, "Maria")
            flag(app, ref, "high", NOW)
            answer(app, ref, "notes.q", "fine", "How are you?", NOW)
            score(app, ref, "phq9", 7, "mild", NOW)
            contact(app, ref, NOW + timedelta(days=1))
            consent(app, ref, "granted", NOW)
        statements: list[Any] = []

        def count(*args: Any) -> None:
            statements.append(args)

        viewer = _Viewer(staff(app, "Maria"), "case_manager")
        event.listen(app.db, "before_cursor_execute", count)
        try:
            with app.store.unit() as uow:
                caseload = load_caseload(
                    uow.session,
                    viewer,
                    uow.now,
                    CaseloadQuery(sort="score:phq9"),
                )
        finally:
            event.remove(app.db, "before_cursor_execute", count)
        assert caseload.visible == len(caseload.rows)
        return len(statements)

    few = queries(2)
    many = queries(30)
    assert many == few <= 10
