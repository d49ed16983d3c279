"""Nothing is collected before consent, and the consent record says exactly what was agreed."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from cm_bot.domain import InboundKind
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import load_flows
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    ConsentRecord,
    Flag,
    FlowRun,
    InboundMessage,
    Response,
    ScheduledContact,
)
from tests.support import records
from tests.support.people import Person, make_client, texts

SHA256 = re.compile(r"[0-9a-f]{64}")


def _records(db: Engine, user_id: str) -> list[ConsentRecord]:
    client_id, _case = records.ids(db, user_id)
    return [r for r in records.rows(db, ConsentRecord) if r.client_id == client_id]


def _consent(person: Person, share: str = "No") -> None:
    person.say("hello")
    person.tap("Yes")
    person.tap("Yes")
    person.tap(share)


# -- declining -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("taps", "decisions"),
    [
        (["No"], {"contact": False, "store": None, "share_partners": None}),
        (["Yes", "No"], {"contact": True, "store": False, "share_partners": None}),
    ],
    ids=["declines contact", "declines storing"],
)
def test_declining_a_required_purpose_ends_politely_and_collects_nothing(
    engine: ConversationEngine, db: Engine, taps: list[str], decisions: dict[str, Any]
) -> None:
    person = make_client(engine, db)
    client_id, case_id = records.ids(db, "alice")
    person.say("hello")
    # Something sensitive typed before consent is not an answer and is not kept.
    person.say("my partner drinks too much")
    for label in taps:
        replies = person.tap(label)

    assert "That's okay. Nothing is kept." in texts(replies)
    assert all(not m.buttons for m in replies), "no further question after declining"
    assert records.open_step(db, "alice") is None

    consents = records.rows(db, ConsentRecord)
    assert len(consents) == 1
    record = consents[0]
    assert (record.action, record.client_id, record.case_id) == ("declined", client_id, case_id)
    assert record.decisions == decisions
    assert records.status(db, "alice") == "declined"

    flags = records.rows(db, Flag)
    assert [(f.rule_id, f.severity, f.case_id, f.status) for f in flags] == [
        ("consent_declined", "routine", case_id, "open")
    ]
    assert records.count(db, Response) == 0
    assert all(row.text is None for row in records.rows(db, InboundMessage))


def test_after_declining_later_messages_store_nothing(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    person.say("hello")
    person.tap("No")
    runs = records.count(db, FlowRun)

    for text in ("hello?", "my phone number changed", "5", "Yes"):
        replies = person.say(text)
        assert len(replies) == 1
        assert "not keeping anything" in replies[0].text and "/start" in replies[0].text

    assert records.count(db, Response) == 0
    assert records.count(db, FlowRun) == runs
    assert records.status(db, "alice") == "declined"
    assert [r.action for r in records.rows(db, ConsentRecord)] == ["declined"]
    assert all(row.text is None for row in records.rows(db, InboundMessage))


def test_declining_cancels_pending_contacts(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    client_id, case_id = records.ids(db, "alice")
    with transaction(db) as session:
        session.add(
            ScheduledContact(
                case_id=case_id,
                client_id=client_id,
                flow_id="intake",
                kind="checkin",
                due_at=datetime.now(UTC) + timedelta(days=1),
            )
        )
    person.say("hello")
    person.tap("No")

    (contact,) = records.rows(db, ScheduledContact)
    assert contact.status == "cancelled"


def test_nothing_is_collected_while_the_consent_questions_are_open(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    person.say("hello")
    for text in ("Good", "7", "I don't feel safe", "/help"):
        person.say(text)
        assert records.open_step(db, "alice") == "consent.contact"

    assert records.count(db, Response) == 0
    assert records.count(db, ConsentRecord) == 0


# -- the consent record ----------------------------------------------------------------------------


def test_consent_record_holds_version_locale_decisions_and_a_sha256(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    client_id, case_id = records.ids(db, "alice")

    _consent(person, share="No")

    (record,) = records.rows(db, ConsentRecord)
    assert (record.action, record.flow_id, record.version) == ("granted", "consent", 1)
    assert (record.client_id, record.case_id) == (client_id, case_id)
    assert record.locale == "en"
    assert SHA256.fullmatch(record.text_sha256)
    assert record.decisions == {"contact": True, "store": True, "share_partners": False}
    assert records.status(db, "alice") == "active"
    assert records.count(db, Response) == 0  # consent answers live in the record, not in responses


def test_the_same_consent_text_gives_the_same_hash(engine: ConversationEngine, db: Engine) -> None:
    alice = make_client(engine, db, "alice")
    bob = make_client(engine, db, "bob")
    _consent(alice, share="No")
    _consent(bob, share="Yes")

    (a,) = _records(db, "alice")
    (b,) = _records(db, "bob")
    assert a.text_sha256 == b.text_sha256
    assert a.decisions != b.decisions


def test_consent_hash_differs_when_the_client_saw_another_locale(
    engine: ConversationEngine, db: Engine, translator: Translator
) -> None:
    other = next((code for code in translator.locales if code != "en"), None)
    if other is None:
        pytest.skip("only English is supported: no second locale to compare with")
    alice = make_client(engine, db, "alice")
    bob = make_client(engine, db, "bob")
    bob.language = other
    _consent(alice)
    # Yes / No may be translated: tap by position.
    bob.say("hello")
    for index in (0, 0, 1):
        bob.deliver(bob.inbound(InboundKind.BUTTON, payload=bob.buttons[index].payload))

    (a,) = _records(db, "alice")
    (b,) = _records(db, "bob")
    assert (a.action, b.action) == ("granted", "granted")
    assert (a.locale, b.locale) == ("en", other)
    assert SHA256.fullmatch(b.text_sha256)
    assert a.text_sha256 != b.text_sha256


_SPANISH_PO = r"""
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Language: es\n"

msgid "We keep your answers for your case manager."
msgstr "Guardamos sus respuestas para su gestora de casos."

msgid "May I message you here?"
msgstr "¿Puedo escribirle aquí?"

msgid "May I keep your answers?"
msgstr "¿Puedo guardar sus respuestas?"
"""


def test_consent_hash_differs_when_the_consent_text_was_shown_translated(
    db: Engine, tmp_path: Path, test_flows_dir: Path
) -> None:
    po = tmp_path / "locales" / "es" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(_SPANISH_PO, encoding="utf-8")
    translator = Translator(tmp_path / "locales")
    engine = ConversationEngine(
        SqlStore(db),
        load_flows(test_flows_dir),
        translator,
        config=EngineConfig(intake_flows=("intake",)),
    )
    alice = make_client(engine, db, "alice")
    bob = make_client(engine, db, "bob")
    bob.language = "es"

    _consent(alice)
    replies = bob.say("hola")
    assert "¿Puedo escribirle aquí?" in texts(replies)
    bob.tap("Yes")
    bob.tap("Yes")
    bob.tap("No")

    (a,) = _records(db, "alice")
    (b,) = _records(db, "bob")
    assert (a.locale, b.locale) == ("en", "es")
    assert a.version == b.version == 1
    assert a.text_sha256 != b.text_sha256


# -- a new consent version -------------------------------------------------------------------------


@pytest.fixture
def consent_v2_engine(
    db: Engine, tmp_path: Path, test_flows_dir: Path, translator: Translator
) -> ConversationEngine:
    """The same flows, with the consent flow's version bumped to 2 (a new text was approved)."""
    flows = tmp_path / "flows-v2"
    shutil.copytree(test_flows_dir, flows)
    consent = flows / "consent.yaml"
    text = consent.read_text(encoding="utf-8")
    assert "\nversion: 1\n" in text
    consent.write_text(text.replace("\nversion: 1\n", "\nversion: 2\n"), encoding="utf-8")
    registry = load_flows(flows)
    assert registry.get("consent").version == 2
    return ConversationEngine(
        SqlStore(db), registry, translator, config=EngineConfig(intake_flows=("intake",))
    )


def test_a_new_consent_version_asks_an_idle_client_to_consent_again(
    engine: ConversationEngine, db: Engine, consent_v2_engine: ConversationEngine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    for answer in ("Good", "2", "1", "yes", "2", "2020-01-01", "fine"):
        person.say(answer)
    assert records.open_step(db, "alice") is None
    stored = records.count(db, Response)

    person.engine = consent_v2_engine
    replies = person.say("hi")

    assert "May I message you here?" in texts(replies)
    assert records.open_step(db, "alice") == "consent.contact"
    person.tap("Yes")
    person.tap("Yes")
    replies = person.tap("No")
    assert [(r.action, r.version) for r in _records(db, "alice")] == [
        ("granted", 1),
        ("granted", 2),
    ]
    assert "nothing for you to answer" in texts(replies)
    assert records.count(db, Response) == stored


def test_a_new_consent_version_asks_a_client_mid_flow_to_consent_again_before_storing(
    engine: ConversationEngine, db: Engine, consent_v2_engine: ConversationEngine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.tap("Good")
    assert records.open_step(db, "alice") == "intake.worry"
    stored = records.count(db, Response)

    person.engine = consent_v2_engine
    replies = person.say("5")

    assert "May I message you here?" in texts(replies)
    assert records.open_step(db, "alice") == "consent.contact"
    assert records.count(db, Response) == stored


# -- flows started by the program (scheduled contacts) ---------------------------------------------


def _view(db: Engine, user_id: str) -> Any:
    client_id, _case = records.ids(db, user_id)
    with SqlStore(db).unit() as uow:
        view = uow.runs.client_by_id(client_id)
    assert view is not None
    return view


def test_a_scheduled_flow_for_a_client_who_never_consented_collects_nothing(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)

    view = _view(db, "alice")
    with engine.store.unit() as uow:  # as the scheduler does: in its own transaction
        engine.start_flow(uow, view, "intake")
    person.read()
    person.say("Good")
    person.say("5")

    assert records.count(db, Response) == 0
    assert records.open_step(db, "alice") in (None, "consent.contact", "consent.store")


def test_a_scheduled_flow_for_a_withdrawn_client_sends_nothing(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _consent(person)
    person.say("/withdraw")
    person.tap("Yes, withdraw")
    person.read()

    view = _view(db, "alice")
    with engine.store.unit() as uow:
        outbox_ids = engine.start_flow(uow, view, "intake")

    assert outbox_ids == []
    assert person.read() == []
    assert records.status(db, "alice") == "withdrawn"
