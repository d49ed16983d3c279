"""Notices, /flags, /case and exports a case manager can read (issue 13).

Questions and answers as the client saw them, never codes; a score rule's score and band;
times in the staff member's own time zone; labels and staff names in exports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import col

from cm_bot.bootstrap import App, build_app
from cm_bot.engine import ConversationEngine
from cm_bot.engine.staff import (
    StaffDesk,
    answer_label,
    shorten,
    shown_answer,
    step_of,
    when,
)
from cm_bot.engine.zones import zone_named
from cm_bot.flows import FlowRegistry, load_flows
from cm_bot.flows.schema import TextStep
from cm_bot.i18n import Translator
from cm_bot.settings import Settings
from cm_bot.storage.admin import add_staff, new_case
from cm_bot.storage.data_rights import export_case, to_csv
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client, ConsentRecord, Flag, Outbox, ScoreResult, Staff
from tests.staff.test_case_managers import invite, telegram_person
from tests.support.paths import ROOT
from tests.support.people import Person, make_client, texts
from tests.support.preferences import keep_defaults

ITEM_9 = "Thoughts that you would be better off dead or of hurting yourself in some way"
STEM = "Over the last 2 weeks"
KYIV = ZoneInfo("Europe/Kyiv")

# -- helpers ---------------------------------------------------------------------------------------


def _flag(db: Engine, rule_id: str) -> Flag:
    with transaction(db) as session:
        return session.execute(select(Flag).where(col(Flag.rule_id) == rule_id)).scalars().one()


def _staff(db: Engine, name: str) -> Staff:
    with transaction(db) as session:
        return session.execute(select(Staff).where(col(Staff.name) == name)).scalars().one()


def _set_staff(db: Engine, name: str, **values: object) -> None:
    with transaction(db) as session:
        session.execute(update(Staff).where(col(Staff.name) == name).values(**values))


def _set_client_locale(db: Engine, locale: str) -> None:
    with transaction(db) as session:
        session.execute(update(Client).values(locale=locale))


def _render(
    engine: ConversationEngine,
    flows: FlowRegistry | None,
    flag_id: int,
    locale: str | None = None,
    timezone: str | None = None,
) -> str:
    """A notice about a flag as StaffDesk writes it for one reader."""
    with engine.store.unit() as uow:
        view = uow.flags.flag_view(flag_id)
        assert view is not None
        return StaffDesk(uow, engine.translator, [], flows=flows).notice(view, locale, timezone)


# -- with the shipped PHQ-9 ------------------------------------------------------------------------


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    application = build_app(
        Settings(
            database_url=database_url,
            flows_dir=ROOT / "conversations",
            locales_dir=ROOT / "locales",
            intake_flows=["screening_phq"],
        )
    )
    yield application
    application.close()


def _phq(person: Person, items: list[str], _: Callable[[str], str] = str) -> None:
    """Consent, then PHQ-2 items 1-2 and PHQ-9 items 3-9 as tapped labels (in ``_``'s language)."""
    person.say("hello")
    for _n in range(3):
        person.tap(_("Yes"))
    keep_defaults(person)  # the safe-contact preferences come right after consent
    for label in items:
        person.tap(_(label))


NEARLY, HALF, SEVERAL, NOT = (
    "Nearly every day",
    "More than half the days",
    "Several days",
    "Not at all",
)


def test_an_item_9_notice_quotes_the_question_and_the_answer_as_the_client_saw_them(
    app: App,
) -> None:
    person = make_client(app.engine, app.db)
    _set_staff(app.db, "Maria", telegram_user_id="900100")  # Maria gets notices on Telegram
    _phq(person, [NEARLY, NEARLY, SEVERAL, SEVERAL, NOT, NOT, NOT, NOT, HALF])  # 10, item 9 = 2
    flag = _flag(app.db, "screening_phq.phq9_item9")
    assert flag.id is not None

    notice = _render(app.engine, app.engine.flows, flag.id)

    assert f"Question: {ITEM_9} — answer: {HALF}" in notice
    assert "phq9.q9" not in notice and "answer: 2" not in notice
    assert STEM not in notice  # the stem is dropped, the item kept
    # Without the flows (the fallback) the question is still the client's, never the key.
    bare = _render(app.engine, None, flag.id)
    assert ITEM_9 in bare and "phq9.q9" not in bare
    # The notice written when the flag was raised: the question, not the key.
    with transaction(app.db) as session:
        sent = session.execute(select(Outbox).where(col(Outbox.flag_id) == flag.id)).scalars()
        texts_sent = [row.text for row in sent]
    assert texts_sent and all(ITEM_9 in t and "phq9.q9" not in t for t in texts_sent)


def test_the_answer_is_in_the_staff_language_else_the_client_language(app: App) -> None:
    person = make_client(app.engine, app.db)
    person.language = "uk"  # the client talks to the bot in Ukrainian
    _phq(
        person,
        [NEARLY, NEARLY, SEVERAL, SEVERAL, NOT, NOT, NOT, NOT, HALF],
        lambda label: app.translator.gettext("uk", label),
    )
    flag = _flag(app.db, "screening_phq.phq9_item9")
    assert flag.id is not None

    in_spanish = _render(app.engine, app.engine.flows, flag.id, locale="es")
    no_language = _render(app.engine, app.engine.flows, flag.id, locale=None)

    assert "Más de la mitad de los días" in in_spanish
    assert "Alerta" in in_spanish  # the notice itself is in the staff member's language
    assert "Більше половини днів" in no_language  # the answer as the client saw it
    assert "Думки" in no_language  # and the question exactly as shown (in Ukrainian)


def test_a_score_rule_shows_the_score_and_band_before_and_after_the_run_ends(app: App) -> None:
    person = make_client(app.engine, app.db)
    # 3+3+3+3+2 = 14, item 9 = 0: positive (high), not urgent; the run goes on to item 10.
    _phq(person, [NEARLY, NEARLY, NEARLY, NEARLY, HALF, NOT, NOT, NOT, NOT])
    flag = _flag(app.db, "screening_phq.phq9_positive")
    assert flag.id is not None
    assert person.step() == "screening_phq.phq9_q10"  # scores not stored yet: worked out

    raised = _render(app.engine, app.engine.flows, flag.id)
    person.tap("Not difficult at all")  # the run ends, its scores are stored
    with transaction(app.db) as session:
        stored = session.execute(select(ScoreResult.value, ScoreResult.band)).all()
    later = _render(app.engine, app.engine.flows, flag.id)

    assert "Score PHQ-9: 14 (moderate)" in raised
    assert ITEM_9 not in raised and "Question:" not in raised
    assert (14, "moderate") in [tuple(row) for row in stored]
    assert "Score PHQ-9: 14 (moderate)" in later


# -- the test intake flow --------------------------------------------------------------------------


@pytest.fixture
def flows(test_flows_dir: Path) -> FlowRegistry:
    return load_flows(test_flows_dir)


def _to_safe(person: Person) -> None:
    person.say("hello")
    for label in ("Yes", "Yes", "No", "Good", "2", "Mold", "Done"):
        person.tap(label)
    assert person.step() == "intake.safe"


def test_a_yes_no_answer_is_yes_or_no_in_words(
    engine: ConversationEngine, db: Engine, flows: FlowRegistry
) -> None:
    person = make_client(engine, db)
    _to_safe(person)
    person.tap("No")
    flag = _flag(db, "intake.unsafe")
    assert flag.id is not None

    assert "Question: Do you feel safe at home? — answer: No" in _render(engine, flows, flag.id)
    assert "Do you feel safe at home? — відповідь: Ні" in _render(engine, flows, flag.id, "uk")
    assert "answer: False" not in _render(engine, None, flag.id)


def test_a_score_rule_on_an_expression_shows_its_value_and_band(
    engine: ConversationEngine, db: Engine, flows: FlowRegistry
) -> None:
    person = make_client(engine, db)
    person.say("hello")
    for label in ("Yes", "Yes", "No", "Good", "9"):
        person.tap(label)
    flag = _flag(db, "intake.very_worried")
    assert flag.id is not None

    notice = _render(engine, flows, flag.id)

    assert "Score worry: 9 (high)" in notice
    assert "How worried are you?" not in notice


def test_free_text_never_reaches_a_notice_and_answers_are_labelled(flows: FlowRegistry) -> None:
    intake = flows.get("intake")
    notes = step_of(intake, "intake.notes")
    assert isinstance(notes, TextStep)
    assert "Jane" not in shown_answer(notes, "Jane Doe, 12 Elm Street", str)
    assert shown_answer(step_of(intake, "intake.worry"), 10, str) == "10 (Very)"
    assert shown_answer(step_of(intake, "intake.worry"), 7, str) == "7"
    assert shown_answer(step_of(intake, "intake.housing"), ["mold", "pests"], str) == (
        "Mold, Pests"
    )
    assert shown_answer(step_of(intake, "intake.people"), 3, str) == "3"
    assert answer_label(step_of(intake, "intake.mood"), "nonsense", str) is None
    assert shown_answer(None, True, str) == "Yes"


def test_long_questions_are_cut_near_80_characters_at_a_word() -> None:
    question = "Stem?\n\n" + "word " * 40
    short = shorten(question)
    assert len(short) <= 80 and short.endswith("…") and "Stem" not in short
    assert shorten("Do you feel safe at home?") == "Do you feel safe at home?"


# -- time zones ------------------------------------------------------------------------------------


@pytest.fixture
def people(engine: ConversationEngine, db: Engine) -> dict[str, Person]:
    """Maria, bound on Telegram, manages C-0001; its client is linked and has consented."""
    staff = add_staff(db, "Maria", "case_manager")
    person = telegram_person(engine, db, "1001")
    person.say(f"/start {invite(engine, 'staff', staff_id=staff.id)}")
    case = new_case(db, "Maria")
    client = telegram_person(engine, db, "2001")
    client.say(f"/start {invite(engine, 'client', case_id=case.id)}")
    for label in ("Yes", "Yes", "No"):
        client.tap(label)
    person.read()
    return {"maria": person, "client": client}


@pytest.fixture
def maria(people: dict[str, Person]) -> Person:
    return people["maria"]


@pytest.fixture
def client(people: dict[str, Person]) -> Person:
    return people["client"]


def test_timezone_takes_any_case_and_refuses_anything_else_kindly(
    maria: Person, db: Engine
) -> None:
    reply = texts(maria.say("/timezone europe/KYIV"))
    assert "Europe/Kyiv" in reply
    assert _staff(db, "Maria").timezone == "Europe/Kyiv"
    for bad in ("Mars/Olympus", "Kyiv", "x" * 65, "Europe/Kyiv; DROP TABLE staff"):
        reply = texts(maria.say(f"/timezone {bad}"))
        assert "don't know that time zone" in reply and "/timezone Europe/Kyiv" in reply
    assert _staff(db, "Maria").timezone == "Europe/Kyiv"
    assert "Times are shown in Europe/Kyiv" in texts(maria.say("/timezone"))
    assert zone_named("utc") == ZoneInfo("UTC")


def test_flags_and_case_show_times_in_the_staff_time_zone(
    maria: Person, client: Person, engine: ConversationEngine, db: Engine
) -> None:
    for label in ("Good", "2", "Mold", "Done", "No"):
        client.tap(label)
    flag = _flag(db, "intake.unsafe")
    raised = flag.created_at
    assert "UTC" in maria.read()[0].text  # no zone set yet: UTC, named

    maria.say("/timezone Europe/Kyiv")
    flags = texts(maria.say("/flags"))
    case = texts(maria.say("/case C-0001"))

    assert f"Raised: {when(raised, KYIV)}" in flags
    assert when(raised, KYIV).endswith(" Europe/Kyiv") and "UTC" not in flags
    with transaction(db) as session:
        consent = session.execute(select(ConsentRecord)).scalars().one()
    assert when(consent.recorded_at, KYIV) in case and "UTC" not in case
    # The edit after Acknowledge is in the reader's zone too.
    edits = maria.tap("Acknowledge")
    assert any("Acknowledged by Maria at" in e.text and "Europe/Kyiv" in e.text for e in edits)


def test_an_escalated_notice_is_in_the_supervisor_time_zone(
    maria: Person, client: Person, engine: ConversationEngine, db: Engine
) -> None:
    boss = add_staff(db, "Sam", "supervisor")
    sam = telegram_person(engine, db, "1009")
    sam.say(f"/start {invite(engine, 'staff', staff_id=boss.id)}")
    sam.say("/timezone America/New_York")
    _set_staff(db, "Sam", locale="es")
    sam.read()
    for label in ("Good", "2", "Mold", "Done", "No"):
        client.tap(label)
    raised = _flag(db, "intake.unsafe").created_at

    assert engine.escalate(raised.replace(year=raised.year + 1)) == 1
    (escalated,) = sam.read()
    assert f"Creada: {when(raised, ZoneInfo('America/New_York'))}" in escalated.text
    assert "Do you feel safe at home? — respuesta: No" in escalated.text


def test_when_names_the_zone_and_defaults_to_utc() -> None:
    moment = datetime(2026, 12, 7, 7, 15, tzinfo=ZoneInfo("UTC"))
    assert when(moment) == "2026-12-07 07:15 UTC"
    assert when(moment, KYIV) == "2026-12-07 09:15 Europe/Kyiv"
    assert when(None, KYIV) == "—"


# -- commands without a case reference -------------------------------------------------------------


def test_case_without_a_reference_gets_a_usage_line(maria: Person) -> None:
    reply = texts(maria.say("/case"))
    assert reply == "Send /case followed by a case reference, e.g. /case C-0001"
    assert "/goal C-0001" in texts(maria.say("/goal"))
    assert "No case C-9999" in texts(maria.say("/case C-9999"))


def test_staff_help_lists_timezone(maria: Person) -> None:
    assert "/timezone" in texts(maria.say("/help"))


# -- exports ---------------------------------------------------------------------------------------


def test_export_puts_labels_beside_codes_and_names_beside_staff_ids(
    maria: Person,
    client: Person,
    engine: ConversationEngine,
    db: Engine,
    flows: FlowRegistry,
    translator: Translator,
) -> None:
    for label in ("Good", "10", "Mold", "Done", "No"):
        client.tap(label)
    maria.read()
    maria.tap("Acknowledge")
    maria.say("/note C-0001 Called the client back")

    data = export_case(db, "C-0001", flows=flows, translator=translator)

    answers = {r["key"]: r for r in data["responses"]}
    assert (answers["intake.mood"]["value"], answers["intake.mood"]["label"]) == ("good", "Good")
    assert answers["intake.safe"]["label"] == "No"
    assert answers["intake.housing"]["label"] == "Mold"
    assert answers["intake.worry"]["label"] == "Very"
    assert list(answers["intake.mood"])[5:7] == ["value", "label"]  # side by side
    (consent,) = data["consent_records"]
    assert consent["decision_labels"] == {"contact": "Yes", "store": "Yes", "share_partners": "No"}
    seen = next(f for f in data["flags"] if f["status"] == "acknowledged")
    maria_id = _staff(db, "Maria").id
    assert (seen["acknowledged_by"], seen["acknowledged_by_name"]) == (maria_id, "Maria")
    assert seen["resolved_by_name"] is None
    assert all(f["acknowledged_by_name"] is None for f in data["flags"] if f["status"] == "open")
    assert data["notes"] == [{**data["notes"][0], "staff_id": maria_id, "staff_name": "Maria"}]
    csv_text = to_csv(data)
    assert "responses,1,label,Good" in csv_text
    assert "notes,1,staff_name,Maria" in csv_text
    json.dumps(data)  # still JSON-ready


def test_export_labels_are_in_the_language_the_client_answered_in(
    engine: ConversationEngine, db: Engine, flows: FlowRegistry, translator: Translator
) -> None:
    add_staff(db, "Maria", "case_manager")
    case = new_case(db, "Maria")
    client = telegram_person(engine, db, "2001")
    client.language = "es"
    client.say(f"/start {invite(engine, 'client', case_id=case.id)}")
    for label in ("Sí", "Sí", "No"):
        client.tap(label)

    data = export_case(db, case.ref, flows=flows, translator=translator)

    (consent,) = data["consent_records"]
    assert consent["locale"] == "es"
    assert consent["decision_labels"] == {"contact": "Sí", "store": "Sí", "share_partners": "No"}
