"""Updates that are not a client typing an answer: groups, strangers, bots, edits, media, blocks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update

from cm_bot.domain import Inbound, InboundKind
from cm_bot.engine import ConversationEngine
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    ChannelIdentity,
    Client,
    Flag,
    FlowRun,
    InboundMessage,
    Outbox,
    Response,
    ScheduledContact,
)
from tests.support import records
from tests.support.people import Person, make_client, texts
from tests.support.records import responses

WORRY = "How worried are you?"


def _outbox_to(db: Engine, chat_id: str) -> list[Outbox]:
    return [row for row in records.rows(db, Outbox) if row.chat_id == chat_id]


def _snapshot(db: Engine) -> dict[str, Any]:
    runs = [
        (r.id, r.status, r.step_id, r.prompt_seq, r.bad_attempts, r.answers)
        for r in records.rows(db, FlowRun)
    ]
    return {
        "runs": runs,
        "responses": responses(db),
        "clients": [(c.id, c.status, c.locale) for c in records.rows(db, Client)],
        "flags": records.count(db, Flag),
    }


def _consent(person: Person) -> None:
    person.say("hello")
    person.tap("Yes")
    person.tap("Yes")
    person.tap("No")


def _at_worry(person: Person) -> None:
    _consent(person)
    person.tap("Good")
    assert person.step() == "intake.worry"


def _group_update(user_id: str, chat_id: str, text: str = "hi all") -> Inbound:
    return Inbound(
        channel="console",
        external_id=f"g-{uuid.uuid4().hex}",
        user_id=user_id,
        chat_id=chat_id,
        text=text,
        chat_type="group",
        language="en",
    )


def _add_pending_contact(db: Engine, user_id: str) -> int:
    client_id, case_id = records.ids(db, user_id)
    with transaction(db) as session:
        contact = ScheduledContact(
            case_id=case_id,
            client_id=client_id,
            flow_id="intake",
            kind="checkin",
            due_at=datetime.now(UTC) + timedelta(days=7),
        )
        session.add(contact)
        session.flush()
        assert contact.id is not None
        return contact.id


# -- group chats -----------------------------------------------------------------------------------


def test_group_messages_get_one_private_hint_ever_and_store_nothing_but_crisis_gets_resources(
    engine: ConversationEngine, db: Engine
) -> None:
    alice = make_client(engine, db)  # a real client, writing in a group
    clients = records.count(db, Client)

    for sender, text in [
        ("alice", "my answer is 3"),
        ("stranger", "hello bot"),
        ("alice", "I am not safe"),
    ]:
        engine.handle(_group_update(sender, "-100500", text))

    replies = _outbox_to(db, "-100500")
    assert len(replies) == 2  # the hint, once; the crisis resources for "I am not safe"
    assert "message me privately" in replies[0].text
    assert "911" in replies[1].text
    assert all(r.client_id is None for r in replies)
    assert records.count(db, Client) == clients
    assert records.count(db, Response) == 0
    assert records.count(db, FlowRun) == 0
    assert alice.read() == []  # nothing went to Alice's private chat either
    inbox = records.rows(db, InboundMessage)
    assert len(inbox) == 3
    assert all(row.text is None and row.client_id is None for row in inbox)


def test_each_group_gets_its_own_single_hint(engine: ConversationEngine, db: Engine) -> None:
    for chat in ("-1001", "-1002", "-1001", "-1002"):
        engine.handle(_group_update("someone", chat))

    assert len(_outbox_to(db, "-1001")) == 1
    assert len(_outbox_to(db, "-1002")) == 1


# -- people we do not know -------------------------------------------------------------------------


def test_an_unknown_person_gets_one_short_explanation_then_silence(
    engine: ConversationEngine, db: Engine
) -> None:
    stranger = Person(engine, db, "stranger")

    first = stranger.say("hello, I need help")
    second = stranger.say("are you there?")

    assert len(first) == 1
    assert "case manager" in first[0].text
    assert len(first[0].text) < 300
    assert second == []
    assert records.count(db, Client) == 0
    assert records.count(db, ChannelIdentity) == 0
    assert records.count(db, Response) == 0
    assert records.count(db, FlowRun) == 0
    assert records.count(db, Flag) == 0
    audits = [a for a in records.rows(db, AuditLog) if a.action == "message_from_unknown_person"]
    assert len(audits) == 1  # one a day (tests/engine/test_unknown_senders.py)
    for audit in audits:
        assert (audit.actor, audit.case_id) == ("unknown", None)
        assert set(audit.detail) == {"channel", "sender"}  # a salted hash: no user id, no text
        assert audit.detail["channel"] == "console" and "stranger" not in str(audit.detail)
    assert all(row.text is None for row in records.rows(db, InboundMessage))


def test_an_unknown_person_is_answered_again_after_a_day(
    engine: ConversationEngine, db: Engine
) -> None:
    stranger = Person(engine, db, "stranger")
    stranger.say("hello")
    with transaction(db) as session:
        session.execute(update(Outbox).values(created_at=datetime.now(UTC) - timedelta(hours=25)))

    again = stranger.say("hello again")

    assert len(again) == 1 and "case manager" in again[0].text


# -- bots and updates we do not handle -------------------------------------------------------------


def test_messages_from_bots_are_ignored(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    before = _snapshot(db)

    replies = person.deliver(person.inbound(text="9", is_bot=True))

    assert replies == []
    assert _snapshot(db) == before


def test_a_bot_is_ignored_even_before_the_client_ever_wrote(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)

    replies = person.deliver(person.inbound(text="/start", is_bot=True))

    assert replies == []
    assert records.count(db, FlowRun) == 0
    assert records.count(db, Outbox) == 0


def test_other_updates_get_no_reply(engine: ConversationEngine, db: Engine) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    before = _snapshot(db)

    replies = person.deliver(person.inbound(InboundKind.OTHER))

    assert replies == []
    assert _snapshot(db) == before


def test_an_edited_message_keeps_the_original_answer(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    before = _snapshot(db)

    replies = person.deliver(person.inbound(InboundKind.EDITED, text="Bad"))

    assert len(replies) == 1
    assert "I've kept your original answer" in replies[0].text
    assert _snapshot(db) == before
    assert responses(db) == [("intake.mood", "good")]


@pytest.mark.parametrize(
    ("kind", "text", "explains"),
    [
        (InboundKind.MEDIA, None, "only read typed messages"),
        (InboundKind.FORWARDED, "5", "type your own answer"),
    ],
    ids=["media", "forwarded"],
)
def test_media_and_forwards_are_not_answers_and_the_question_is_asked_again(
    engine: ConversationEngine, db: Engine, kind: InboundKind, text: str | None, explains: str
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    before = _snapshot(db)
    buttons = [b.payload for b in person.buttons]

    replies = person.deliver(person.inbound(kind, text=text))

    assert len(replies) == 2
    assert explains in replies[0].text
    assert WORRY in replies[1].text
    assert [b.payload for row in replies[1].buttons for b in row] == buttons
    assert _snapshot(db) == before
    assert person.step() == "intake.worry"


# -- blocking --------------------------------------------------------------------------------------


def test_blocking_the_bot_marks_unreachable_cancels_contacts_and_tells_staff_only(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    client_id, case_id = records.ids(db, "alice")
    contact_id = _add_pending_contact(db, "alice")
    to_client_before = len(_outbox_to(db, "alice"))

    replies = person.deliver(person.inbound(InboundKind.BLOCKED))

    assert replies == []
    assert len(_outbox_to(db, "alice")) == to_client_before  # nothing new to the client
    assert records.status(db, "alice") == "unreachable"
    (contact,) = records.rows(db, ScheduledContact)
    assert (contact.id, contact.status) == (contact_id, "cancelled")
    flags = records.rows(db, Flag)
    assert [(f.rule_id, f.severity, f.client_id, f.case_id) for f in flags] == [
        ("blocked", "routine", client_id, case_id)
    ]
    assert responses(db) == [("intake.mood", "good")]


def test_a_client_who_blocked_and_writes_again_is_active_again(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    person.deliver(person.inbound(InboundKind.BLOCKED))
    assert records.status(db, "alice") == "unreachable"

    replies = person.say("5")

    assert replies
    assert records.status(db, "alice") == "active"
    assert responses(db) == [("intake.mood", "good"), ("intake.worry", 5)]


def test_a_client_who_withdrew_then_blocked_and_came_back_is_still_withdrawn(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    person.say("/withdraw")
    person.tap("Yes, withdraw")
    stored = records.count(db, Response)

    person.deliver(person.inbound(InboundKind.BLOCKED))
    assert records.status(db, "alice") == "withdrawn"
    replies = person.say("hello again")

    assert records.status(db, "alice") == "withdrawn"
    assert "/start" in texts(replies)
    assert records.count(db, Response) == stored


# -- the inbox keeps no message text ---------------------------------------------------------------


def test_inbound_rows_keep_no_text_or_payload_once_handled(
    engine: ConversationEngine, db: Engine
) -> None:
    person = make_client(engine, db)
    _at_worry(person)
    person.say("not a number")
    person.say("/help")
    person.deliver(person.inbound(InboundKind.EDITED, text="my secret edit"))
    person.deliver(person.inbound(InboundKind.FORWARDED, text="someone else's words"))
    person.deliver(person.inbound(InboundKind.MEDIA))
    person.deliver(person.inbound(InboundKind.OTHER, text="odd update"))
    person.deliver(person.inbound(text="from a bot", is_bot=True))
    person.deliver(person.inbound(InboundKind.BUTTON, payload="forged"))
    person.tap("3")
    engine.handle(_group_update("alice", "-100777", "group text"))
    Person(engine, db, "stranger").say("who are you")

    inbox = records.rows(db, InboundMessage)
    assert len(inbox) >= 15
    assert [(row.id, row.text, row.payload) for row in inbox if row.text or row.payload] == []
    assert {row.status for row in inbox} == {"done"}


# -- text that is not valid Unicode ----------------------------------------------------------------


@pytest.mark.parametrize("typed", ["yes\udcff", "\udcc3\udca9"])
def test_text_with_undecodable_bytes_gets_a_re_prompt_not_a_crash(
    engine: ConversationEngine, db: Engine, typed: str
) -> None:
    person = make_client(engine, db)
    person.say("hello")

    replies = person.say(typed)

    assert replies
    assert person.step() == "consent.contact"
