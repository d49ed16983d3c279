"""The reports page and its CSV on a small known dataset; a case manager's scope and everyone's."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest

from cm_bot.bootstrap import App
from cm_bot.storage.db import transaction
from cm_bot.storage.reads.reports import age_bucket, build_report, median_duration
from cm_bot.storage.reads.timeline import case_head
from tests.web.cases_support import (
    NOW,
    audits,
    browser,
    case_of,
    consent,
    contact,
    flag,
    score,
    staff,
)


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    from tests.web.cases_support import console_app

    with console_app(database_url) as application:
        yield application


def test_age_buckets_and_the_median() -> None:
    assert age_bucket(timedelta(hours=23, minutes=59)) == "under_1d"
    assert age_bucket(timedelta(days=1)) == "1_3d"
    assert age_bucket(timedelta(days=3)) == "3_7d"
    assert age_bucket(timedelta(days=7)) == "over_7d"
    assert median_duration([]) is None
    assert median_duration([timedelta(minutes=m) for m in (10, 30, 1200)]) == timedelta(minutes=30)
    assert median_duration([timedelta(minutes=m) for m in (5, 10, 30, 1200)]) == timedelta(
        minutes=20
    )


def _exit(app: App, ref: str) -> None:
    with transaction(app.db) as session:
        case = case_head(session, ref)
        assert case is not None
        case.status, case.exited_at = "exited", NOW - timedelta(days=200)


@pytest.fixture
def seeded(app: App) -> App:
    one = case_of(app, "Maria")  # C-0001
    two = case_of(app, "Maria")  # C-0002
    other = case_of(app, "Oleh")  # C-0003
    # Open flags: 2 h (urgent), 2 days (high, acknowledged: still open), 5 days (routine).
    flag(app, one, "urgent", NOW - timedelta(hours=2))
    flag(
        app,
        one,
        "high",
        NOW - timedelta(days=2),
        status="acknowledged",
        acknowledged_at=NOW - timedelta(days=1),
    )
    flag(app, two, "routine", NOW - timedelta(days=5))
    flag(app, two, "routine", NOW - timedelta(days=10), status="resolved", resolved_at=NOW)
    flag(app, other, "urgent", NOW - timedelta(hours=1))
    # Urgent flags acknowledged after 10 min, 30 min and 20 h (Maria's), 5 min (Oleh's).
    for minutes, ref in ((10, one), (30, one), (1200, two), (5, other)):
        raised = NOW - timedelta(days=20, minutes=minutes)
        flag(
            app,
            ref,
            "urgent",
            raised,
            status="resolved",
            acknowledged_at=raised + timedelta(minutes=minutes),
            resolved_at=NOW - timedelta(days=19),
        )
    # Follow-ups: C-0002 exited 200 days ago; C-0001's 30-day one is out, unanswered so far.
    _exit(app, two)
    exit_day = (NOW - timedelta(days=200)).date().isoformat()
    sent = NOW - timedelta(days=170)
    for day, status in ((30, "answered"), (90, "no_response"), (180, "pending")):
        contact(
            app,
            two,
            NOW - timedelta(days=200 - day),
            status,
            kind="followup",
            flow_id="exit_followup",
            dedupe_key=f"followup:2:{exit_day}:{day}",
            sent_at=None if status == "pending" else sent,
        )
    contact(
        app,
        one,
        NOW - timedelta(hours=5),
        "sent",
        kind="followup",
        flow_id="exit_followup",
        dedupe_key=f"followup:1:{exit_day}:30",
        sent_at=NOW - timedelta(hours=5),
    )
    contact(
        app,
        other,
        NOW - timedelta(days=1),
        "answered",
        kind="followup",
        flow_id="exit_followup",
        dedupe_key=f"followup:3:{exit_day}:30",
        sent_at=NOW - timedelta(days=1),
    )
    # Screens: PHQ-9 positive and negative, GAD-7 positive, two AHC, Oleh's PHQ-9 positive.
    score(app, one, "phq9", 14, "moderate", NOW, positive=True)
    score(app, two, "phq9", 4, "minimal", NOW, positive=False)
    score(app, one, "gad7", 11, "moderate", NOW, positive=True)
    score(app, one, "ahc", 12, None, NOW, positive_domains=["food", "safety"])
    score(app, two, "ahc", None, None, NOW, positive_domains=["food"])
    score(app, other, "phq9", 22, "severe", NOW, positive=True)
    # Consents.
    consent(app, one, "granted", NOW - timedelta(days=30))
    consent(app, two, "granted", NOW - timedelta(days=30))
    consent(app, two, "withdrawn", NOW - timedelta(days=3))
    consent(app, other, "granted", NOW - timedelta(days=30))
    return app


def test_a_case_managers_report_counts_their_caseload(seeded: App) -> None:
    maria = staff(seeded, "Maria")

    class Maria:
        staff_id, role = maria, "case_manager"

    with seeded.store.unit() as uow:
        report = build_report(uow.session, Maria(), uow.now)

    assert not report.everyone and report.cases == 2
    assert report.open_flags["urgent"] == {"under_1d": 1, "1_3d": 0, "3_7d": 0, "over_7d": 0}
    assert report.open_flags["high"] == {"under_1d": 0, "1_3d": 1, "3_7d": 0, "over_7d": 0}
    assert report.open_flags["routine"] == {"under_1d": 0, "1_3d": 0, "3_7d": 1, "over_7d": 0}
    assert report.median_ack == timedelta(minutes=30)
    assert (report.urgent_acknowledged, report.urgent_unacknowledged) == (3, 1)
    assert report.reach[30] == {"planned": 2, "sent": 2, "answered": 1, "no_response": 0}
    assert report.reach[90] == {"planned": 1, "sent": 1, "answered": 0, "no_response": 1}
    assert report.reach[180] == {"planned": 1, "sent": 0, "answered": 0, "no_response": 0}
    assert report.positive == [
        ("instrument", "GAD-7", 1, 1),
        ("instrument", "PHQ-9", 1, 2),
        ("ahc", "food", 2, 2),
        ("ahc", "safety", 1, 2),
    ]
    assert report.consents == {"granted": 2, "declined": 0, "withdrawn": 1}


def test_a_supervisor_sees_everyones_numbers(seeded: App) -> None:
    staff(seeded, "Sofia", "supervisor")
    sofia = browser(seeded, "Sofia")

    page = sofia.get("/reports")
    download = sofia.get("/reports.csv")

    assert page.status_code == download.status_code == 200
    assert "These numbers cover every case of the program (3 cases)." in page.text
    assert "20 minutes" in page.text  # the median of 5, 10, 30 and 1200 minutes
    rows = {tuple(r[:3]): r[3] for r in csv.reader(io.StringIO(download.text))}
    assert rows[("scope", "everyone", "cases")] == "3"
    assert rows[("open_flags", "urgent", "under_1d")] == "2"
    assert rows[("urgent_acknowledgement", "urgent", "median_minutes")] == "20.0"
    assert rows[("followup_reach", "30d", "answered")] == "2"
    assert rows[("positive_screens", "instrument:PHQ-9", "positive")] == "2"
    assert rows[("positive_screens", "instrument:PHQ-9", "screens")] == "3"
    assert rows[("consents", "granted", "count")] == "3"
    assert download.headers["content-type"].startswith("text/csv")
    assert [(a.detail or {}).get("via") for a in audits(seeded, "read_report")] == [
        "console",
        "console",
    ]


def test_the_page_says_whose_numbers_they_are(seeded: App) -> None:
    page = browser(seeded, "Maria").get("/reports").text

    assert "These numbers cover your caseload only (2 cases)." in page
    assert "30 minutes" in page
    assert "AHC HRSN: food" in page
    assert '<th scope="row">' in page and '<th scope="col">' in page
