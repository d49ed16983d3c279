"""Intake against each follow-up, side by side: the read model, the export and the console.

Rows are stored as the engine stores them (the same keys from intake and follow-up flows);
the follow-up run's context carries ``days_since_exit``. Labels follow the reader: the
client's language in the export, the case manager's in the console.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from cm_bot.bootstrap import App
from cm_bot.storage.data_rights import export_case, to_csv
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client
from cm_bot.storage.reads.compare import compare_case
from cm_bot.storage.reads.timeline import case_head
from tests.followups.views_support import EXIT, history, stored
from tests.web.cases_support import NOW, browser, case_of, ids_of, staff


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    from tests.web.cases_support import console_app

    with console_app(database_url) as application:
        yield application


def test_the_read_model_pairs_intake_with_each_followup(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")
    history(app, ref)
    with transaction(app.db) as session:
        case = case_head(session, ref)
        assert case is not None
        housing, money, work = compare_case(
            session, case, flows=app.flows, translator=app.translator, locale="en"
        )
    assert housing.topic == "Housing"
    assert housing.intake is not None and housing.intake.label == "I have a steady place to live"
    assert not housing.intake.need
    assert [(a.days, a.value, a.need, a.new) for a in housing.followups] == [
        (30, "steady", False, False),
        (90, "worried", True, True),  # 91 days after exit: the 90-day follow-up
    ]
    assert [a.label for a in money.followups] == ["Not hard at all", "Very hard"]
    assert money.followups[1].new
    assert work.intake is not None and work.intake.label == "Working part-time"
    assert [a.label for a in work.followups][-1] == "Not working and looking for work"
    assert not any(a.need for a in work.followups)  # a status, not a screen


def test_no_followup_yet_nothing_to_compare(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")
    stored(app, ref, "screening_ahc", {"ahc.q1": "steady"}, NOW)
    with transaction(app.db) as session:
        case = case_head(session, ref)
        assert case is not None
        assert compare_case(session, case, flows=app.flows, translator=None, locale="en") == []


def test_an_old_followup_with_the_yes_no_housing_question_is_shown_marked(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")
    stored(app, ref, "screening_ahc", {"ahc.q1": "steady"}, EXIT - timedelta(days=60))
    stored(app, ref, "exit_followup", {"followup.housing_stable": False}, EXIT, days=30)
    with transaction(app.db) as session:
        case = case_head(session, ref)
        assert case is not None
        housing, money, _work = compare_case(
            session, case, flows=app.flows, translator=app.translator, locale="en"
        )
    (old,) = housing.followups
    assert (old.label, old.need, old.new) == ("No", True, True)
    assert old.legacy_question == "(followup.housing_stable as asked)"
    assert money.followups == [] and money.intake is None


def test_the_export_shows_intake_against_each_followup(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")
    history(app, ref)
    data = export_case(app.db, ref, flows=app.flows, translator=app.translator, now=NOW)
    rows = [(r["key"], r["when"], r["label"], r["need"]) for r in data["intake_and_followups"]]
    assert rows[:3] == [
        ("ahc.q1", "intake", "I have a steady place to live", False),
        ("ahc.q1", "followup_30d", "I have a steady place to live", False),
        (
            "ahc.q1",
            "followup_90d",
            "I have a place to live today, but I am worried about losing it in the future",
            True,
        ),
    ]
    assert "intake_and_followups,9,label,Not working and looking for work" in to_csv(data)


@pytest.mark.parametrize("locale", ["es", "uk"])
def test_the_export_is_in_the_clients_language_with_no_english_left(app: App, locale: str) -> None:
    ref = case_of(app, "Maria", client="olena")
    history(app, ref)
    english = export_case(app.db, ref, flows=app.flows, translator=app.translator, now=NOW)
    _case_id, client_id = ids_of(app, ref)
    with transaction(app.db) as session:
        client = session.get(Client, client_id)
        assert client is not None
        client.locale = locale
    data = export_case(app.db, ref, flows=app.flows, translator=app.translator, now=NOW)
    shown = data["intake_and_followups"]
    assert len(shown) == len(english["intake_and_followups"]) == 9
    for row, plain in zip(shown, english["intake_and_followups"], strict=True):
        assert row["topic"] != plain["topic"]
        assert row["label"] != plain["label"], row


@pytest.mark.parametrize(
    ("locale", "heading", "housing", "new_need"),
    [
        ("en", "Intake and follow-ups", "Housing", "New need"),
        ("es", None, None, None),
        ("uk", None, None, None),
    ],
)
def test_the_console_shows_intake_and_followups(
    app: App, locale: str, heading: str | None, housing: str | None, new_need: str | None
) -> None:
    ref = case_of(app, "Maria", client="olena")
    history(app, ref)
    staff(app, "Maria", locale=locale)
    page = browser(app, "Maria").get(f"/cases/{ref}").text
    assert 'id="compare-h"' in page
    _ = app.translator.get(locale).gettext
    assert _("Intake and follow-ups") in page
    assert _("{days} days after exit").format(days=90) in page
    assert page.count("compare-followup") == 2 + 6  # two follow-up columns beside intake
    assert page.count("compare-new") == 2
    assert _("New need") in page
    assert _("I have a place to live today, but I am worried about losing it in the future") in page
    if heading is not None:
        assert heading in page and housing in page and new_need in page
    else:
        for english in ("Intake and follow-ups", "days after exit", "New need", "Money for basics"):
            assert english not in page, english
