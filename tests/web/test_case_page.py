"""The case page: who may open it, the timeline as shown, charts, notes, goals, exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from cm_bot.bootstrap import App
from cm_bot.storage.data_rights import export_case, to_csv
from cm_bot.storage.db import transaction
from cm_bot.storage.models import CaseNote, Goal, ScheduledContact
from tests.support.people import Person
from tests.support.preferences import keep_defaults
from tests.web.cases_support import (
    NOW,
    add_rows,
    answer,
    audits,
    browser,
    case_of,
    csrf_of,
    ids_of,
    score,
    staff,
)

ITEM_9_UK = "Думки"  # the start of PHQ-9 item 9 in Ukrainian
HALF_UK = "Більше половини днів"  # "More than half the days"


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    from tests.web.cases_support import console_app

    with console_app(database_url) as application:
        yield application


def test_another_managers_case_is_the_same_404_as_an_unknown_ref(app: App) -> None:
    ref = case_of(app, "Maria")
    staff(app, "Oleh")
    staff(app, "Sofia", "supervisor")
    oleh = browser(app, "Oleh")

    foreign = oleh.get(f"/cases/{ref}")
    unknown = oleh.get("/cases/C-9999")

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.text == unknown.text
    assert ref not in foreign.text
    for path in (f"/cases/{ref}/export.json", f"/cases/{ref}/export.csv"):
        assert oleh.get(path).status_code == 404
    refused = audits(app, "access_refused")
    assert [r.actor for r in refused] == [f"staff:{staff(app, 'Oleh')}"] * 4
    assert not audits(app, "read_case") and not audits(app, "case_exported")
    # The case manager and a supervisor see it, and the read is audited.
    assert browser(app, "Maria").get(f"/cases/{ref}").status_code == 200
    assert browser(app, "Sofia").get(f"/cases/{ref.lower()}").status_code == 200
    reads = audits(app, "read_case")
    assert len(reads) == 2 and all((r.detail or {}).get("via") == "console" for r in reads)


def test_a_script_typed_by_the_client_shows_as_text(app: App) -> None:
    ref = case_of(app, "Maria")
    evil = '<script>alert("hi")</script>'
    answer(app, ref, "notes.free", evil, "Anything else <b>you</b> want to tell us?", NOW)
    maria = browser(app, "Maria")

    page = maria.get(f"/cases/{ref}")

    assert page.status_code == 200
    assert "<script>" not in page.text and "<b>you</b>" not in page.text
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;you&lt;/b&gt;" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def _phq_in_ukrainian(app: App, person: Person) -> None:
    def uk(label: str) -> str:
        return app.translator.gettext("uk", label)

    person.language = "uk"
    person.say("привіт")
    for _n in range(3):
        person.tap(uk("Yes"))
    keep_defaults(person)  # the safe-contact preferences come right after consent
    for label in [
        "Nearly every day",
        "Nearly every day",
        "Several days",
        "Several days",
        "Not at all",
        "Not at all",
        "Not at all",
        "Not at all",
        "More than half the days",
    ]:
        person.tap(uk(label))


def test_the_timeline_shows_each_question_as_shown_in_the_clients_language(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")
    person = Person(app.engine, app.db, "olena")
    _phq_in_ukrainian(app, person)
    maria = browser(app, "Maria")

    page = maria.get(f"/cases/{ref}").text

    assert ITEM_9_UK in page  # the question as the client read it, not the English
    assert HALF_UK in page  # the option she tapped, in her words
    assert "Thoughts that you would be better off dead" not in page
    assert "“How you have been feeling”, version 2" in page  # the flow, by its title
    assert "Asked in Ukrainian" in page
    # The flag item 9 raised is on the timeline, and the consent.
    assert 'class="entry entry-flag"' in page and 'class="entry entry-consent"' in page


def test_the_chart_marks_response_and_remission(app: App) -> None:
    ref = case_of(app, "Maria")
    for weeks, value, band in ((0, 20, "severe"), (4, 9, "mild"), (8, 4, "minimal")):
        score(app, ref, "phq9", value, band, NOW + timedelta(weeks=weeks), positive=value >= 10)
    score(app, ref, "hvs", None, "at_risk", NOW, positive=True)  # no number: no chart

    page = browser(app, "Maria").get(f"/cases/{ref}").text

    assert page.count('role="img"') == 1
    assert page.count('class="marker-response"') == 2
    assert page.count('class="marker-remission"') == 1
    assert '<title id="chart-0-title">PHQ-9 scores over time</title>' in page
    # The data table beside it says the same.
    table = page.split('class="chart-data"')[1].split("</table>")[0]
    assert table.count("<tr>") == 4  # header + three scores
    assert "<td>response, remission</td>" in table


def test_note_and_goal_forms_need_the_csrf_token(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")  # check-ins are planned for a linked client
    maria_id = staff(app, "Maria")
    maria = browser(app, "Maria")
    token = csrf_of(maria.get(f"/cases/{ref}").text)

    no_token = maria.post(f"/cases/{ref}/notes", data={"text": "Called, no answer"})
    wrong = maria.post(f"/cases/{ref}/goals", data={"text": "Find work", "csrf": "x" * 43})
    assert no_token.status_code == 403 and wrong.status_code == 403
    with transaction(app.db) as session:
        assert not session.execute(select(CaseNote)).first()
        assert not session.execute(select(Goal)).first()

    note = maria.post(
        f"/cases/{ref}/notes",
        data={"text": "Called, <no> answer", "csrf": token},
        follow_redirects=False,
    )
    goal = maria.post(
        f"/cases/{ref}/goals",
        data={"text": "Find work", "cadence": "fortnightly", "csrf": token},
        follow_redirects=False,
    )

    assert note.status_code == goal.status_code == 303
    assert note.headers["location"].startswith(f"/cases/{ref}?saved=note")
    with transaction(app.db) as session:
        notes = session.execute(select(CaseNote)).scalars().all()
        goals = session.execute(select(Goal)).scalars().all()
        checkins = (
            session.execute(select(ScheduledContact).where(col(ScheduledContact.kind) == "checkin"))
            .scalars()
            .all()
        )
    assert [(n.text, n.staff_id) for n in notes] == [("Called, <no> answer", maria_id)]
    assert [(g.text, g.cadence) for g in goals] == [("Find work", "fortnightly")]
    assert [c.goal_id for c in checkins] == [goals[0].id]  # its first check-in, planned
    assert [a.actor for a in audits(app, "note_added")] == [f"staff:{maria_id}"]
    assert [a.actor for a in audits(app, "goal_added")] == [f"staff:{maria_id}"]
    page = maria.get(f"/cases/{ref}?saved=note").text
    assert "Called, &lt;no&gt; answer" in page and "Find work" in page
    # Empty text is not stored; another caseload's case is the same 404.
    empty = maria.post(f"/cases/{ref}/notes", data={"text": "  ", "csrf": token})
    assert empty.status_code == 200 and "Please write some text first." in empty.text
    other = case_of(app, "Oleh")
    assert maria.post(f"/cases/{other}/notes", data={"text": "x", "csrf": token}).status_code == 404
    with transaction(app.db) as session:
        assert len(session.execute(select(CaseNote)).all()) == 1


def test_the_exports_are_the_cli_export_and_are_audited(app: App) -> None:
    ref = case_of(app, "Maria", client="olena")
    _phq_in_ukrainian(app, Person(app.engine, app.db, "olena"))
    add_rows(app, CaseNote(case_id=ids_of(app, ref)[0], staff_id=None, text="=1+1"))
    maria = browser(app, "Maria")

    as_json = maria.get(f"/cases/{ref}/export.json")
    as_csv = maria.get(f"/cases/{ref}/export.csv")
    cli = export_case(app.db, ref, "cli", flows=app.flows, translator=app.translator, now=NOW)

    assert as_json.status_code == as_csv.status_code == 200
    assert as_json.headers["content-disposition"] == f'attachment; filename="{ref}.json"'
    got = json.loads(as_json.text)
    assert got == json.loads(json.dumps(cli, default=str))
    assert as_csv.text == to_csv(cli)
    exported = audits(app, "case_exported")
    maria_id = staff(app, "Maria")
    assert [a.actor for a in exported] == [f"staff:{maria_id}", f"staff:{maria_id}", "cli"]
