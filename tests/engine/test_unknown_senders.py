"""People no case knows: one audit row, one inbox row and one reply a day, under a salted hash.

Anyone can write to the bot, as often as they like (security review F5). What it keeps of
them is bounded, and names them only by a salted hash of their account, so refused attempts
can still be counted per sender.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from cm_bot.domain import Inbound, InboundKind
from cm_bot.engine import ConversationEngine
from cm_bot.flows import load_flows
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, Flag, InboundMessage, Outbox, ProgramSetting
from cm_bot.storage.repository import SENDER_SALT
from tests.support import records
from tests.support.people import Person

CHANNEL = "telegram"
STRANGER = "7012345678"  # a Telegram user id (in a private chat, the chat id too)
OTHER_STRANGER = "7098765432"
HINT = "ask your case manager for your personal link"
A_DAY_AND_AN_HOUR = timedelta(hours=25)


def _stranger(engine: ConversationEngine, db: Engine, user_id: str = STRANGER) -> Person:
    return Person(engine, db, user_id, channel=CHANNEL)


def _rows_of_settings(db: Engine) -> list[ProgramSetting]:
    with transaction(db) as session:
        return list(session.execute(select(ProgramSetting)).scalars())


def _audits(db: Engine) -> list[AuditLog]:
    return records.audits(db, "message_from_unknown_person")


def _hash_of(engine: ConversationEngine, user_id: str) -> str:
    with engine.store.unit() as uow:
        return uow.inbox.unknown_sender(CHANNEL, user_id)


def _flood(person: Person, count: int, at: datetime | None = None) -> None:
    """Texts and stickers, committed to the inbox in bursts and handled as Telegram's are."""
    when = {} if at is None else {"received_at": at}
    for start in range(0, count, 10):
        for n in range(start, min(start + 10, count)):
            if n % 3 == 2:
                update = person.inbound(InboundKind.MEDIA, **when)  # a sticker
            else:
                update = person.inbound(text=f"hello? {n}", **when)
            assert person.engine.accept(update) is not None
        person.engine.process(CHANNEL, person.user_id)


def _a_day_passes(db: Engine) -> None:
    """Everything recorded so far happened 25 hours ago (the audit log is append-only: its
    rows keep their time, and nothing reads their time to decide)."""
    with transaction(db) as session:
        for row in session.execute(select(InboundMessage)).scalars():
            row.received_at -= A_DAY_AND_AN_HOUR
        for reply in session.execute(select(Outbox)).scalars():
            reply.created_at -= A_DAY_AND_AN_HOUR


def _nothing_holds_the_raw_id(db: Engine, *user_ids: str) -> None:
    for row in records.rows(db, InboundMessage):
        assert row.external_user_id not in user_ids and row.chat_id not in user_ids
        assert row.text is None and row.payload is None
    for audit in records.rows(db, AuditLog):
        assert not any(user_id in str(audit.detail) for user_id in user_ids)


def test_fifty_messages_and_stickers_from_a_stranger_leave_one_audit_row_one_inbox_row_one_reply(
    engine: ConversationEngine, db: Engine
) -> None:
    stranger = _stranger(engine, db)

    _flood(stranger, 50)

    replies = stranger.read()
    assert len(replies) == 1 and HINT in replies[0].text
    sender = _hash_of(engine, STRANGER)
    assert re.fullmatch(r"[0-9a-f]{32}", sender)
    (audit,) = _audits(db)
    assert (audit.actor, audit.case_id) == ("unknown", None)
    assert audit.detail == {"channel": CHANNEL, "sender": sender}
    (inbox,) = records.rows(db, InboundMessage)
    assert (inbox.external_user_id, inbox.chat_id, inbox.status) == (sender, sender, "done")
    _nothing_holds_the_raw_id(db, STRANGER)
    # The reply alone keeps the chat id: it is needed to send it.
    (reply,) = records.rows(db, Outbox)
    assert reply.chat_id == STRANGER and reply.inbound_id == inbox.id
    assert records.rows(db, Flag) == []


def test_a_day_later_the_same_stranger_leaves_one_more_of_each_under_the_same_hash(
    engine: ConversationEngine, db: Engine
) -> None:
    stranger = _stranger(engine, db)
    _flood(stranger, 50)
    assert len(stranger.read()) == 1
    _a_day_passes(db)

    _flood(stranger, 50)

    assert len(stranger.read()) == 1
    sender = _hash_of(engine, STRANGER)
    assert [a.detail["sender"] for a in _audits(db)] == [sender, sender]
    assert [row.chat_id for row in records.rows(db, InboundMessage)] == [sender, sender]
    _nothing_holds_the_raw_id(db, STRANGER)


def test_the_day_is_counted_on_the_updates_own_clock(
    engine: ConversationEngine, db: Engine
) -> None:
    stranger = _stranger(engine, db)
    now = datetime.now(UTC)
    _flood(stranger, 5, at=now)
    _flood(stranger, 5, at=now + timedelta(hours=23))
    assert (len(_audits(db)), len(records.rows(db, InboundMessage))) == (1, 1)

    _flood(stranger, 5, at=now + A_DAY_AND_AN_HOUR)

    assert (len(_audits(db)), len(records.rows(db, InboundMessage))) == (2, 2)


def test_two_strangers_are_two_hashes_with_one_salt(engine: ConversationEngine, db: Engine) -> None:
    first, second = _stranger(engine, db), _stranger(engine, db, OTHER_STRANGER)

    for _round in range(3):
        first.say("hi")
        second.say("hi")

    assert len(first.seen) == 1 and len(second.seen) == 1
    hashes = {_hash_of(engine, STRANGER), _hash_of(engine, OTHER_STRANGER)}
    assert len(hashes) == 2
    assert {a.detail["sender"] for a in _audits(db)} == hashes
    assert {row.chat_id for row in records.rows(db, InboundMessage)} == hashes
    _nothing_holds_the_raw_id(db, STRANGER, OTHER_STRANGER)
    assert [s.key for s in _rows_of_settings(db)] == [SENDER_SALT]


def test_the_hash_is_the_same_in_every_transaction_and_differs_by_channel(
    engine: ConversationEngine,
) -> None:
    assert _hash_of(engine, STRANGER) == _hash_of(engine, STRANGER)
    with engine.store.unit() as uow:
        assert uow.inbox.unknown_sender("console", STRANGER) != uow.inbox.unknown_sender(
            CHANNEL, STRANGER
        )


@pytest.mark.parametrize("which", ["the first", "a later one"])
def test_a_redelivered_update_gets_no_second_reply(
    engine: ConversationEngine, db: Engine, which: str
) -> None:
    stranger = _stranger(engine, db)
    updates = [stranger.inbound(text=f"hello {n}") for n in range(3)]
    for update in updates:
        engine.accept(update)
    engine.process(CHANNEL, STRANGER)
    assert len(stranger.read()) == 1

    redelivered = updates[0] if which == "the first" else updates[2]
    accepted = engine.accept(redelivered)
    engine.process(CHANNEL, STRANGER)
    stranger.deliver(redelivered)  # the terminal's way, too

    # The first update's row is the day's mark: its re-delivery is a no-op. A later one's
    # row was deleted, so it is recorded and handled again, to the same end.
    assert (accepted is None) == (which == "the first")
    assert stranger.read() == []
    assert len(stranger.seen) == 1
    assert (len(_audits(db)), len(records.rows(db, InboundMessage))) == (1, 1)
    _nothing_holds_the_raw_id(db, STRANGER)


def test_words_of_crisis_from_a_stranger_still_get_the_resources_after_the_hint(
    engine: ConversationEngine, db: Engine
) -> None:
    stranger = _stranger(engine, db)
    assert HINT in stranger.say("hello")[0].text

    said = stranger.say("nobody would care if I killed myself")

    assert len(said) == 1 and "988" in said[0].text
    assert len(records.rows(db, Flag)) == 1


def test_a_stranger_flooding_words_of_crisis_hears_the_resources_each_time_and_staff_one_flag_a_day(
    engine: ConversationEngine, db: Engine
) -> None:
    stranger = _stranger(engine, db)

    said = [stranger.say(f"I want to die {n}") for n in range(20)]

    assert all(len(m) == 1 and "988" in m[0].text for m in said)
    assert [f.rule_id for f in records.rows(db, Flag)] == ["crisis_words_unlinked"]
    (kept,) = records.rows(db, InboundMessage)
    assert STRANGER not in (kept.external_user_id, kept.chat_id) and kept.text is None

    _a_day_passes(db)
    with transaction(db) as session:
        for flag in session.execute(select(Flag)).scalars():
            flag.created_at -= A_DAY_AND_AN_HOUR
    stranger.say("I want to die")
    assert len(records.rows(db, Flag)) == 2


def test_a_stranger_trying_made_up_links_hears_why_each_time_and_leaves_one_trace_a_day(
    engine: ConversationEngine, db: Engine
) -> None:
    stranger = _stranger(engine, db)

    said = [stranger.say(f"/start madeUpToken{n:02d}xxxxxxxxxx") for n in range(20)]

    assert all(len(m) == 1 and "This link is not valid" in m[0].text for m in said)
    (audit,) = [a for a in records.rows(db, AuditLog) if a.actor == "unknown"]
    assert audit.action == "invite_unknown"
    assert audit.detail == {"channel": CHANNEL, "sender": _hash_of(engine, STRANGER)}
    (kept,) = records.rows(db, InboundMessage)
    assert STRANGER not in (kept.external_user_id, kept.chat_id) and kept.text is None


@pytest.fixture
def workers(
    db: Engine, engine: ConversationEngine, test_flows_dir: Path
) -> list[ConversationEngine]:
    """Four bot workers on one database, each with its own per-chat locks."""
    return [
        ConversationEngine(
            SqlStore(db), load_flows(test_flows_dir), engine.translator, config=engine.config
        )
        for _worker in range(4)
    ]


def test_workers_handling_a_strangers_first_updates_at_the_same_moment_keep_one_of_each(
    engine: ConversationEngine, db: Engine, workers: list[ConversationEngine]
) -> None:
    # Each round, a new stranger's first updates reach every worker at once: only one of
    # them may find "nothing from this sender yet".
    strangers = [_stranger(engine, db, f"70000000{n:02d}") for n in range(8)]
    failures: list[BaseException] = []

    for stranger in strangers:
        start = threading.Barrier(len(workers))
        updates = [stranger.inbound(text=f"hello {n}") for n in range(len(workers))]

        def work(worker: ConversationEngine, update: Inbound, start: threading.Barrier) -> None:
            try:
                start.wait()
                worker.handle(update)
            except BaseException as exc:  # reported below
                failures.append(exc)

        threads = [
            threading.Thread(target=work, args=(worker, update, start))
            for worker, update in zip(workers, updates, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert failures == []
    assert [len(stranger.read()) for stranger in strangers] == [1] * len(strangers)
    assert len(_audits(db)) == len(strangers)
    assert len(records.rows(db, InboundMessage)) == len(strangers)
    assert [s.key for s in _rows_of_settings(db)] == [SENDER_SALT]
    _nothing_holds_the_raw_id(db, *(stranger.user_id for stranger in strangers))


def test_an_update_from_a_stranger_is_taken_from_the_inbox_by_its_raw_chat_while_pending(
    engine: ConversationEngine, db: Engine
) -> None:
    stranger = _stranger(engine, db)
    update: Inbound = stranger.inbound(text="hello")
    engine.accept(update)

    assert engine.pending_chats() == [(CHANNEL, STRANGER)]  # needed to find it: kept till then
    engine.process(CHANNEL, STRANGER)

    assert engine.pending_chats() == []
    (row,) = records.rows(db, InboundMessage)
    assert row.chat_id == _hash_of(engine, STRANGER)
