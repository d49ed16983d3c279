"""With the shipped flows: consent, then PHQ-2 → PHQ-9, item 9 answered 'Several days'."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from cm_bot.bootstrap import App, build_app
from cm_bot.domain import InboundKind
from cm_bot.engine.staff import StaffDesk
from cm_bot.settings import Settings
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Flag, FlowRun, Outbox, Response, ScoreResult, Staff
from tests.support.paths import ROOT
from tests.support.people import Person, make_client, texts
from tests.support.preferences import keep_defaults


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    application = build_app(
        Settings(
            database_url=database_url,
            flows_dir=ROOT / "conversations",
            locales_dir=ROOT / "locales",
            intake_flows=["screening_phq", "screening_gad"],
        )
    )
    yield application
    application.close()


def _tap_twice(person: Person, label: str) -> None:
    """Tap a button, then have the same update re-delivered (a webhook retry)."""
    button = next(b for b in person.buttons if b.label == label)
    update = person.inbound(InboundKind.BUTTON, payload=button.payload)
    person.deliver(update)
    assert person.engine.handle(update).duplicate


def phq9_flag_id(db: Engine) -> int:
    with transaction(db) as session:
        return int(session.execute(select(Flag.id).where(Flag.severity == "urgent")).scalar_one())


def _staff_id(db: Engine) -> int:
    with transaction(db) as session:
        return int(session.execute(select(Staff.id)).scalars().first() or 0)


def _count(db: Engine, table: type, **where: object) -> int:
    with transaction(db) as session:
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(getattr(table, name) == value)
        return int(session.execute(query).scalar_one())


def test_item_9_several_days_gives_crisis_resources_and_one_urgent_flag_exactly_once(
    app: App,
) -> None:
    person = make_client(app.engine, app.db)
    first = texts(person.say("hello"))
    assert "May we send you messages" in first
    for _ in range(3):
        _tap_twice(person, "Yes")
    keep_defaults(person)  # the safe-contact preferences come right after consent
    assert "Little interest or pleasure" in texts(person.seen[-1:])
    _tap_twice(person, "Nearly every day")  # phq2.q1 = 3 → positive, step up to the PHQ-9
    _tap_twice(person, "Not at all")
    for _ in range(6):  # PHQ-9 items 3-8
        _tap_twice(person, "Not at all")
    assert "better off dead" in person.seen[-1].text
    before = len(person.seen)
    _tap_twice(person, "Several days")  # item 9 = 1

    said = texts(person.seen[before:])
    assert "988" in said and "911" in said  # the program's real resources
    assert "not watched all the time" in said
    assert _count(app.db, Flag, severity="urgent") == 1
    assert _count(app.db, Response, key="phq9.q9") == 1
    with transaction(app.db) as session:
        phq_run = (
            session.execute(select(FlowRun).where(FlowRun.flow_id == "screening_phq"))
            .scalars()
            .one()
        )
        crisis = (
            session.execute(
                select(Outbox).where(Outbox.text.contains("988"))  # type: ignore[attr-defined]
            )
            .scalars()
            .all()
        )
        phq9 = (
            session.execute(select(ScoreResult).where(ScoreResult.score_id == "phq9"))
            .scalars()
            .one()
        )
    assert phq_run.status == "ended"  # the screening does not carry on as if nothing was said
    assert len(crisis) == 1 and crisis[0].priority == 0
    assert phq9.result is not None and phq9.result["urgent"] is True

    # "We will stop the questions here" is true: the next messages start nothing at all.
    for message in ("ok", "hello again", "/start"):
        later = person.say(message)
        assert all(not m.buttons for m in later)
        assert "nervous" not in texts(later).lower()  # not the GAD-7 either
    assert _count(app.db, Flag, severity="urgent") == 1

    # Staff resolve the flag: the client is told, and intake carries on at their next message.
    flag_id, staff_id = phq9_flag_id(app.db), _staff_id(app.db)
    with app.store.unit() as uow:
        flag_view = uow.flags.flag_view(flag_id)
        assert flag_view is not None
        assert uow.flags.act_on_flag(flag_view.flag_id, "resolved", staff_id, flag_view.created_at)
        StaffDesk(uow, app.translator, []).end_pause(flag_view)
    assert "Thank you for waiting" in texts(person.read())
    assert "nervous" in texts(person.say("ok")).lower()  # the GAD-2, the next intake flow


def test_phq2_of_2_does_not_step_up(app: App) -> None:
    person = make_client(app.engine, app.db)
    person.say("hello")
    for _ in range(3):
        person.tap("Yes")
    keep_defaults(person)
    person.tap("Several days")
    person.tap("Several days")
    assert _count(app.db, Response, key="phq9.q3") == 0
    assert "nervous" in person.seen[-1].text.lower()  # on to the GAD-2


@pytest.mark.parametrize(
    ("language", "crisis_word"),
    [("en", "emergency"), ("es", "emergencia"), ("uk", "екстрен")],
)
def test_consent_screening_and_crisis_path_in_each_language(
    app: App, language: str, crisis_word: str
) -> None:
    """The same walk in English, Spanish and Ukrainian: buttons tapped by position."""
    person = make_client(app.engine, app.db)
    person.language = language
    person.say("hello")

    def tap(index: int) -> None:
        button = person.buttons[index]
        person.deliver(person.inbound(InboundKind.BUTTON, payload=button.payload))

    for _ in range(3):
        tap(0)  # Yes / Sí / Так
    keep_defaults(person)
    first_question = person.seen[-1].text
    if language != "en":
        assert "Little interest" not in first_question  # really translated
    tap(3)  # phq2.q1: nearly every day
    tap(0)  # phq2.q2: not at all
    for _ in range(6):
        tap(0)  # PHQ-9 items 3-8
    before = len(person.seen)
    tap(1)  # item 9: several days
    said = texts(person.seen[before:]).lower()
    assert crisis_word in said and "988" in said
    assert _count(app.db, Flag, severity="urgent") == 1
    with transaction(app.db) as session:
        item9 = session.execute(select(Response).where(Response.key == "phq9.q9")).scalars().one()
    assert item9.value == 1 and item9.locale == language
