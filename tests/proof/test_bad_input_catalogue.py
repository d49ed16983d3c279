"""The bad-input catalogue (B-01…B-25, README: Reliability) as one table, sent as Telegram does.

Every row builds real Bot API update JSON, turns it into an event with the production codec
(``telegram_codec.decode``) and hands it to the real engine and database. Each row then says
what the client is told, whether their place in the conversation moved, and what was stored.
Checked for every row as well: no new client or identity appears, every inbox row is handled
and keeps no text, no reply or log line repeats a long piece of what was sent.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import col

from cm_bot.channels.telegram_codec import CHANNEL, decode, ignorable
from cm_bot.domain import Inbound, Outbound
from cm_bot.engine import ConversationEngine
from cm_bot.storage import outbox
from cm_bot.storage.admin import add_staff, link_client, new_case
from cm_bot.storage.data_rights import export_case, to_csv
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    ChannelIdentity,
    Client,
    Flag,
    FlowRun,
    InboundMessage,
    Response,
    Staff,
)
from tests.support.people import Person
from tests.support.records import answers_to, responses
from tests.support.records import count as _count
from tests.support.records import inbox_statuses as _inbox_statuses

Update = dict[str, Any]

# -- what the client is told (fragments of the engine's English texts) ----------------------------

ONLY_TYPED = "I can only read typed messages"
OWN_WORDS = "Please type your own answer"
CLOSED = "That question has closed"
KEPT = "I've kept your original answer"
WHOLE_0_10 = "whole number from 0 to 10"
WHOLE_0_20 = "whole number from 0 to 20"
TOO_LONG = "a bit long for this question"
TYPE_IT = "Please type your answer as a message"
TAP_ONE = "Please choose one of the options"
YES_OR_NO = "Please answer yes or no"
PRIVATELY = "Please message me privately"
ASK_MANAGER = "ask your case manager for your personal link"
LINK_NOT_VALID = "This link is not valid"
CRISIS = "I'm worried about what you wrote"
HELP = "I ask short questions for your case manager"
UNKNOWN_COMMAND = "I don't know that command"
PAUSED = "Paused. Your answers so far are saved"
RESUME_OR_RESTART = "continue where you left off, or start it again"
WELCOME_BACK = "Welcome back. You were part-way through"
ALL_DONE = "nothing for you to answer right now"
NOT_KEEPING = "I'm not keeping anything you send"
ONE_AT_A_TIME = "I'll take one answer at a time"
TAP_OPTIONS = "Please choose the options that apply"

# -- where the client stands when the bad input arrives -------------------------------------------

CONSENT = "consent.contact"
MOOD = "intake.mood"  # single choice
WORRY = "intake.worry"  # scale 0-10
PEOPLE = "intake.people"  # integer 0-20
NOTES = "intake.notes"  # free text, at most 200 UTF-16 units, skippable
DONE = "intake finished"
WITHDRAWN = "consent withdrawn"
AWAY = "intake.worry, asked 7 hours ago"  # longer than resume_after: the run has "timed out"
OUTAGE = "intake.worry, asked 25 hours ago"  # the bot was down; the backlog arrives now
STRANGER = "not linked to any case"

SAME = "(unchanged)"
BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "CM bot", "username": "cm_test_bot"}
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
GROUP = {"id": -4001234, "type": "group", "title": "Family"}
SUPERGROUP = {"id": -1001234567890, "type": "supergroup", "title": "Neighbours"}
CHANNEL_CHAT = {"id": -1009876543210, "type": "channel", "title": "News"}
STICKER = {
    "file_id": "CAACAgIAAxkBAAIBc2",
    "file_unique_id": "AgADAQADeAAD",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
    "emoji": "😀",
}
PHOTO = [
    {"file_id": "AgACAgIAAx1", "file_unique_id": "AQADs1", "width": 90, "height": 67},
    {"file_id": "AgACAgIAAx2", "file_unique_id": "AQADs2", "width": 1280, "height": 960},
]
VOICE = {
    "file_id": "AwACAgIAAx",
    "file_unique_id": "AgADv",
    "duration": 4,
    "mime_type": "audio/ogg",
}
VIDEO_NOTE = {"file_id": "DQACAgIAAx", "file_unique_id": "AgADn", "length": 240, "duration": 3}
DOCUMENT = {
    "file_id": "BQACAgIAAx",
    "file_unique_id": "AgADd",
    "file_name": "lease.pdf",
    "mime_type": "application/pdf",
    "file_size": 48213,
}
HUGE_DOCUMENT = {**DOCUMENT, "file_name": "video.mkv", "file_size": 2_000_000_000}
ANIMATION = {
    "file_id": "CgACAgQAAx",
    "file_unique_id": "AgADg",
    "width": 320,
    "height": 240,
    "duration": 2,
}
VIDEO = {**ANIMATION, "file_id": "BAACAgIAAx", "mime_type": "video/mp4"}
AUDIO = {"file_id": "CQACAgIAAx", "file_unique_id": "AgADa", "duration": 180, "title": "Song"}
DICE = {"emoji": "🎲", "value": 5}
POLL = {
    "id": "5368953445620580358",
    "question": "Lunch?",
    "options": [{"text": "Yes", "voter_count": 0}, {"text": "No", "voter_count": 0}],
    "total_voter_count": 0,
    "is_closed": False,
    "is_anonymous": True,
    "type": "regular",
    "allows_multiple_answers": False,
}
LOCATION = {"latitude": 50.4501, "longitude": 30.5234}
VENUE = {"location": LOCATION, "title": "Clinic", "address": "1 Main St"}
OTHER_PERSON = {"id": 5550001, "is_bot": False, "first_name": "Sam"}

_update_ids = itertools.count(100_000)
_message_ids = itertools.count(1)
_callback_ids = itertools.count(1)
_user_ids = itertools.count(7_000_001)


def _now() -> int:
    return int(time.time())


def _units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class Phone:
    """One person's Telegram app: writes Bot API updates the way Telegram delivers them."""

    def __init__(
        self, engine: ConversationEngine, db: Engine, *, language: str = "en", name: str = "Alex"
    ) -> None:
        self.engine = engine
        self.db = db
        self.user_id = next(_user_ids)
        self.user: dict[str, Any] = {
            "id": self.user_id,
            "is_bot": False,
            "first_name": name,
            "username": f"user{self.user_id}",
            "language_code": language,
        }
        self.chat: dict[str, Any] = {"id": self.user_id, "type": "private", "first_name": name}
        self.person = Person(engine, db, str(self.user_id), channel=CHANNEL, language=language)
        self.buttons: dict[str, str] = {}  # label -> payload of the prompt on screen
        self.old_payloads: list[str] = []  # payloads of prompts that have since been replaced
        self.prompt_message_id = 0
        self.elsewhere: list[Outbound] = []  # what the bot wrote to other chats (groups)
        self.case_ref: str | None = None
        self.other: Phone | None = None  # a second client, for rows that need one

    # -- updates -----------------------------------------------------------------------------

    def message(
        self,
        text: str | None = None,
        *,
        chat: dict[str, Any] | None = None,
        sender: dict[str, Any] | None = None,
        date: int | None = None,
        update_id: int | None = None,
        **fields: Any,
    ) -> Update:
        body: dict[str, Any] = {
            "message_id": next(_message_ids),
            "from": sender or self.user,
            "chat": chat or self.chat,
            "date": date or _now(),
            **fields,
        }
        if text is not None:
            body["text"] = text
            if text.startswith("/"):
                command = text.split(" ", 1)[0]
                body["entities"] = [{"type": "bot_command", "offset": 0, "length": _units(command)}]
        return {"update_id": update_id or next(_update_ids), "message": body}

    def edit(self, original: Update, text: str) -> Update:
        body = {**original["message"], "text": text, "edit_date": _now()}
        return {"update_id": next(_update_ids), "edited_message": body}

    def callback(self, data: str, *, message_id: int | None = None) -> Update:
        return {
            "update_id": next(_update_ids),
            "callback_query": {
                "id": str(4_000_000_000 + next(_callback_ids)),
                "from": self.user,
                "chat_instance": "-3456789012345678901",
                "data": data,
                "message": {
                    "message_id": message_id or self.prompt_message_id,
                    "from": BOT_USER,
                    "chat": self.chat,
                    "date": _now(),
                    "text": "(the prompt)",
                },
            },
        }

    def member(self, status: str, *, chat: dict[str, Any] | None = None) -> Update:
        old = "member" if status == "kicked" else "kicked"
        return {
            "update_id": next(_update_ids),
            "my_chat_member": {
                "chat": chat or self.chat,
                "from": self.user,
                "date": _now(),
                "old_chat_member": {"status": old, "user": BOT_USER},
                "new_chat_member": {"status": status, "user": BOT_USER, "until_date": 0},
            },
        }

    def tap_update(self, label: str) -> Update:
        assert label in self.buttons, f"no button {label!r} in {list(self.buttons)}"
        return self.callback(self.buttons[label])

    # -- talking -----------------------------------------------------------------------------

    def send(self, *updates: Update) -> list[Outbound]:
        for data in updates:
            self.engine.handle(decode(data))
        return self.read()

    def send_together(self, *updates: Update) -> list[Outbound]:
        """As the Telegram runtime does with a burst: all into the inbox, then the chat's worker."""
        for data in updates:
            self.engine.accept(decode(data))
        self.engine.process(CHANNEL, str(self.user_id))
        return self.read()

    def say(self, text: str) -> list[Outbound]:
        return self.send(self.message(text))

    def tap(self, label: str) -> list[Outbound]:
        return self.send(self.tap_update(label))

    def read(self) -> list[Outbound]:
        mine: list[Outbound] = []
        while items := outbox.claim(self.db, CHANNEL):
            for item in items:
                outbox.mark_sent(self.db, item.id, str(item.id))
                if item.message.chat_id != str(self.user_id):
                    self.elsewhere.append(item.message)
                    continue
                mine.append(item.message)
                if item.message.buttons:
                    self.old_payloads.extend(self.buttons.values())
                    self.buttons = {
                        b.label.removeprefix("✓ "): b.payload
                        for row in item.message.buttons
                        for b in row
                    }
                    self.prompt_message_id = item.id
        return mine

    def step(self) -> str | None:
        return self.person.step()


# -- putting the client where the row needs them --------------------------------------------------


def _link(phone: Phone, db: Engine) -> None:
    if not _count(db, Staff):
        add_staff(db, "Maria", "case_manager")
    case = new_case(db, "Maria")
    link_client(db, case.ref, CHANNEL, str(phone.user_id), str(phone.user_id))
    phone.case_ref = case.ref


def _to_worry(phone: Phone) -> None:
    phone.say("/start")
    for label in ("Yes", "Yes", "No", "Good"):
        phone.tap(label)
    assert phone.step() == WORRY


def _backdate_run(db: Engine, hours: int) -> None:
    with transaction(db) as session:
        session.execute(
            update(FlowRun)
            .where(col(FlowRun.status) == "active")
            .values(updated_at=datetime.now(UTC) - timedelta(hours=hours))
        )


def _bring(phone: Phone, db: Engine, at: str, *, other: bool) -> None:
    _bring_to(phone, db, at)
    if other:  # another client mid-intake, with their own buttons on screen
        phone.other = Phone(phone.engine, db, name="Bo")
        _link(phone.other, db)
        _to_worry(phone.other)
        phone.other.read()


def _bring_to(phone: Phone, db: Engine, at: str) -> None:
    if at == STRANGER:
        return
    _link(phone, db)
    phone.say("/start")
    if at == CONSENT:
        return
    for label in ("Yes", "Yes", "No"):
        phone.tap(label)
    if at == MOOD:
        return
    phone.tap("Good")
    if at in (AWAY, OUTAGE):
        _backdate_run(db, 7 if at == AWAY else 25)
    if at in (WORRY, AWAY, OUTAGE):
        return
    if at == WITHDRAWN:
        phone.say("/withdraw")
        phone.tap("Yes, withdraw")
        return
    phone.tap("5")
    phone.tap("Mold")
    phone.tap("Done")
    phone.tap("Yes")
    if at == PEOPLE:
        return
    phone.say("3")
    phone.say("2020-01-01")
    if at == NOTES:
        return
    assert at == DONE, at
    phone.say("All fine, thanks")


# -- the catalogue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    db: Engine
    phone: Phone
    updates: list[Update]
    replies: list[Outbound]


Send = Callable[[Phone], list[Update]]


@dataclass(frozen=True)
class Case:
    """One catalogue row: where the client is, what arrives, and what must come of it."""

    at: str
    send: Send
    reply: str | None  # a fragment of what the client is told; None: the client is told nothing
    replies: int | None = None  # how many messages the client gets, where the catalogue says
    reasks: bool = False  # the last message asks the question the client now stands at
    step: str | None = SAME  # where the client stands afterwards
    stores: dict[str, Any] = field(default_factory=dict)  # Response rows added (key -> value)
    then: Callable[[Ctx], None] | None = None  # what else the row checks
    together: bool = False  # a burst: all updates reach the inbox before any is handled
    language: str = "en"
    other: bool = False  # a second client exists (their buttons, their answers)


def text(*typed: str, **fields: Any) -> Send:
    return lambda p: [p.message(t, **fields) for t in typed]


def media(**fields: Any) -> Send:
    return lambda p: [p.message(None, **fields)]


def raw(kind: str, body: dict[str, Any]) -> Send:
    return lambda p: [{"update_id": next(_update_ids), kind: body}]


def answered_then_edited(first: str, edited: str) -> Send:
    def send(p: Phone) -> list[Update]:
        original = p.message(first)
        return [original, p.edit(original, edited)]

    return send


def twice(make: Send) -> Send:
    def send(p: Phone) -> list[Update]:
        updates = make(p)
        return updates + updates

    return send


def row(
    row_id: str,
    case: Case,
    *,
    xfail: str | None = None,
    xfail_on_postgres: str | None = None,
    skip: str | None = None,
) -> Any:
    marks: list[Any] = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    if xfail_on_postgres:
        on_postgres = "config.getoption('--db') == 'postgres'"
        marks.append(pytest.mark.xfail(on_postgres, strict=True, reason=xfail_on_postgres))
    if skip:
        marks.append(pytest.mark.skip(reason=skip))
    return pytest.param(case, id=row_id, marks=marks)


# -- checks some rows add -------------------------------------------------------------------------


def _client_status(ctx: Ctx) -> str:
    with transaction(ctx.db) as session:
        identity = (
            session.execute(
                select(ChannelIdentity).where(
                    col(ChannelIdentity.external_user_id) == str(ctx.phone.user_id)
                )
            )
            .scalars()
            .one()
        )
        client = session.get(Client, identity.client_id)
        assert client is not None
        return client.status


def _flags(ctx: Ctx) -> list[tuple[str, str]]:
    with transaction(ctx.db) as session:
        rows = session.execute(select(Flag).order_by(col(Flag.id))).scalars()
        return [(f.rule_id, f.severity) for f in rows]


def _audits(ctx: Ctx, action: str) -> list[AuditLog]:
    with transaction(ctx.db) as session:
        rows = session.execute(select(AuditLog).where(col(AuditLog.action) == action)).scalars()
        return list(rows)


def one_urgent_crisis_flag(ctx: Ctx) -> None:
    assert _flags(ctx).count(("crisis_words", "urgent")) == 1


def blocked_and_flagged(ctx: Ctx) -> None:
    assert _client_status(ctx) == "unreachable"
    assert ("blocked", "routine") in _flags(ctx)


def still_unreachable_after_unblock(ctx: Ctx) -> None:
    # Unblocking alone does not resume: the client is active again only when they write.
    assert _client_status(ctx) == "unreachable"
    assert len(_audits(ctx, "unblocked")) == 1


def withdrawn_still(ctx: Ctx) -> None:
    assert _client_status(ctx) == "withdrawn"


def active_again(ctx: Ctx) -> None:
    assert _client_status(ctx) == "active"


def group_told_once(ctx: Ctx) -> None:
    hints = [m for m in ctx.phone.elsewhere if PRIVATELY in m.text]
    assert len(hints) == 1 and len(ctx.phone.elsewhere) == 1
    assert _count(ctx.db, FlowRun, col(FlowRun.status) == "active") == 1  # only the private one


def nothing_anywhere(ctx: Ctx) -> None:
    assert ctx.phone.elsewhere == []


def runtime_drops_them_unseen(ctx: Ctx) -> None:
    # The runtime confirms these to Telegram without recording them (``ignorable``); the
    # engine, handed one anyway, ignores it.
    assert all(ignorable(decode(u)) for u in ctx.updates)
    nothing_anywhere(ctx)


def unknown_person_audited_without_text(ctx: Ctx) -> None:
    audits = _audits(ctx, "message_from_unknown_person")
    # The sender is a salted hash (tests/engine/test_unknown_senders.py), never their id.
    assert audits and all(a.detail == {"channel": CHANNEL, "sender": ANY} for a in audits)
    assert _count(ctx.db, ChannelIdentity) == 0


def no_staff_bound(ctx: Ctx) -> None:
    unknown_person_audited_without_text(ctx)
    assert _count(ctx.db, Staff, col(Staff.telegram_user_id).is_not(None)) == 0


def forwarded_sender_not_stored(ctx: Ctx) -> None:
    with transaction(ctx.db) as session:
        users = set(session.execute(select(col(InboundMessage.external_user_id))).scalars())
    assert str(OTHER_PERSON["id"]) not in users


def foreign_button_audited(ctx: Ctx) -> None:
    assert [a.detail for a in _audits(ctx, "unknown_button")] == [{"foreign": True}]
    other = ctx.phone.other
    assert other is not None and other.read() == []  # nothing reached the button's owner
    with transaction(ctx.db) as session:
        runs = session.execute(select(FlowRun).where(col(FlowRun.step_id) == "worry")).scalars()
        assert len(list(runs)) == 2  # both still at the question


def forged_button_audited(ctx: Ctx) -> None:
    assert [a.detail for a in _audits(ctx, "unknown_button")] == [{"foreign": False}]


def csv_export_quotes_the_formula(ctx: Ctx) -> None:
    assert ctx.phone.case_ref is not None
    exported = to_csv(export_case(ctx.db, ctx.phone.case_ref))
    assert "'=HYPERLINK" in exported and ",=HYPERLINK" not in exported


def one_inbox_row_for_the_update(ctx: Ctx) -> None:
    external_id = decode(ctx.updates[0]).external_id
    assert _count(ctx.db, InboundMessage, col(InboundMessage.external_id) == external_id) == 1
    assert ctx.phone.engine.handle(decode(ctx.updates[0])).duplicate  # a third time, still


def stored_as_valid_utf8(ctx: Ctx) -> None:
    (value,) = answers_to(ctx.db, "intake.notes")
    value.encode("utf-8")  # no lone surrogate survives
    assert value.startswith("ok") and "\x00" not in value


def spanish_buttons(ctx: Ctx) -> None:
    assert {"Sí", "No"} <= set(ctx.phone.buttons)


def _bad_attempts(db: Engine) -> list[int]:
    with transaction(db) as session:
        rows = session.execute(select(FlowRun).where(col(FlowRun.status) == "active")).scalars()
        return [r.bad_attempts for r in rows]


def one_note_for_the_extras(ctx: Ctx) -> None:
    # The next question, then one reply for the nine extras: the first one's short reply
    # (why it was refused; the question stays above) with the "one answer at a time" note.
    first, last = ctx.replies
    assert NEXT in first.text and ONE_AT_A_TIME not in first.text
    assert TAP_OPTIONS in last.text and ONE_AT_A_TIME in last.text
    assert NEXT not in last.text and not last.buttons  # the question is not sent again
    assert _bad_attempts(ctx.db) == [1]  # the extras after the first are not bad attempts


# -- the table ------------------------------------------------------------------------------------


def short(at: str, send: Send, reply: str, **more: Any) -> Case:
    """A wrong answer: one short reply says what is accepted; the question stays above it."""
    return Case(at=at, send=send, reply=reply, replies=1, **more)


def refused(at: str, send: Send, reply: str, *, replies: int = 2, **more: Any) -> Case:
    """Not an answer: the client is told why and asked the same question; nothing moves."""
    return Case(at=at, send=send, reply=reply, replies=replies, reasks=True, **more)


def taken(
    at: str, send: Send, stores: dict[str, Any], step: str | None, reply: str, **more: Any
) -> Case:
    """A valid answer: stored once; the client gets the next question (one message)."""
    more.setdefault("replies", 1)
    return Case(at=at, send=send, reply=reply, step=step, stores=stores, **more)


def ignored(at: str, send: Send, **more: Any) -> Case:
    """Nothing to the client, nothing moves, nothing stored."""
    return Case(at=at, send=send, reply=None, **more)


HOUSING = "intake.housing"
NEXT = "Any problems at home?"  # the question after intake.worry
MEDIA = {
    "sticker": STICKER,
    "photo": PHOTO,
    "voice": VOICE,
    "video_note": VIDEO_NOTE,
    "video": VIDEO,
    "audio": AUDIO,
    "document": DOCUMENT,
    "dice": DICE,
    "poll": POLL,
    "location": LOCATION,
    "venue": VENUE,
    "contact": {"phone_number": "+15550100", "first_name": "Alex"},
}
FORWARDS = {
    "from a user": {"type": "user", "date": 1700000000, "sender_user": OTHER_PERSON},
    "from a hidden user": {"type": "hidden_user", "date": 1700000000, "sender_user_name": "Sam"},
    "from a channel": {
        "type": "channel",
        "date": 1700000000,
        "chat": CHANNEL_CHAT,
        "message_id": 4,
    },
}
FORGED = {
    "json answer": '{"a": 10}',
    "64 bytes": "A" * 64,
    "65 bytes, cut to 64": "B" * 65,
    "empty": "",
}
NOT_A_NUMBER = ["11", "-1", "1e309", "nan", "inf", "7.5", "seven", "٣", "1_000", "7️⃣", "10/10"]
ODD_NUMBERS = {"0": 0, "５": 5, " 7 ": 7, "²": 2}  # NFKC folds ５ and ² (see test_answer_parsing)
INJECTIONS = [
    "'; DROP TABLE clients;--",
    "Robert'); DROP TABLE client; --",
    "{{7*7}} ${7*7} {step} %s",
    "<script>alert(1)</script>",
    "*bold* _x_ [link](http://evil.example)",
    "fine\n2025-01-01 INFO admin login ok",
]
UNICODE_ANSWERS = {  # typed at the free-text question -> stored
    "combining mark stored NFC": ("cafe\u0301", "café"),
    "ZWJ family emoji and RTL text": ("👨\u200d👩\u200d👧 مرحبا", "👨\u200d👩\u200d👧 مرحبا"),
    "CRLF and U+2028 kept": ("one\r\ntwo\u2028three", "one\r\ntwo\u2028three"),
    "NUL inside free text dropped": ("rent\x00 is late", "rent is late"),
}
OTHER_UPDATES: dict[str, dict[str, Any]] = {
    "message_reaction": {
        "chat": {"id": 1, "type": "private"},
        "message_id": 3,
        "user": OTHER_PERSON,
        "date": 1700000000,
        "old_reaction": [],
        "new_reaction": [{"type": "emoji", "emoji": "👍"}],
    },
    "poll_answer": {"poll_id": "5368953445620580358", "user": OTHER_PERSON, "option_ids": [0]},
    "chat_join_request": {
        "chat": SUPERGROUP,
        "from": OTHER_PERSON,
        "user_chat_id": 5550001,
        "date": 1700000000,
    },
    "business_message": {
        "message_id": 1,
        "date": 1700000000,
        "chat": {"id": 5550001, "type": "private"},
        "text": "5",
    },
    "chat_boost": {"chat": CHANNEL_CHAT, "boost": {"boost_id": "x", "add_date": 1}},
    "some_update_from_2030": {"anything": [1, 2, 3]},
}
CHANNEL_POST = {
    "message_id": 5,
    "sender_chat": CHANNEL_CHAT,
    "chat": CHANNEL_CHAT,
    "date": 1700000000,
    "text": "5",
}
BURST = ["5", *[str(n) for n in range(6, 15)]]  # ten messages; only the first is a valid answer


def forwarded(origin: dict[str, Any]) -> Case:
    send = text("5", forward_origin=origin)
    return refused(WORRY, send, OWN_WORDS, then=forwarded_sender_not_stored)


def callback_with(data: str) -> Send:
    return lambda p: [p.callback(data)]


def tap_old(p: Phone) -> list[Update]:
    return [p.callback(p.old_payloads[-1], message_id=1)]


def tap_others(p: Phone) -> list[Update]:
    assert p.other is not None
    return [p.callback(next(iter(p.other.buttons.values())))]


def as_user(text_: str, **changes: Any) -> Send:
    return lambda p: [p.message(text_, sender={**p.user, **changes})]


def member(*statuses: str, chat: dict[str, Any] | None = None) -> Send:
    return lambda p: [p.member(s, chat=chat) for s in statuses]


CATALOGUE = [
    # B-01: media where text is expected: told why, asked again, nothing downloaded or stored
    *[row(f"B-01 {k}", refused(WORRY, media(**{k: v}), ONLY_TYPED)) for k, v in MEDIA.items()],
    row("B-01 GIF", refused(WORRY, media(animation=ANIMATION, document=DOCUMENT), ONLY_TYPED)),
    # B-02: a caption is not taken as the answer
    row("B-02 photo with caption 5", refused(WORRY, media(photo=PHOTO, caption="5"), ONLY_TYPED)),
    row(
        "B-02 file with caption 7",
        refused(WORRY, media(document=DOCUMENT, caption="7"), ONLY_TYPED),
    ),
    # B-03: an edit never re-runs a step or advances twice; the original answer stands
    row(
        "B-03 edited answer keeps the original",
        taken(WORRY, answered_then_edited("5", "9"), {"intake.worry": 5}, HOUSING, KEPT, replies=2),
    ),
    row(
        "B-03 edit of a rejected message stays rejected",
        Case(at=WORRY, send=answered_then_edited("seven", "7"), reply=KEPT, replies=2),
    ),
    # B-04: commands mid-flow: /help and /stop work, /start asks, unknown ones get help
    row("B-04 /help", refused(WORRY, text("/help"), HELP)),
    row("B-04 /HELP@cm_test_bot", refused(WORRY, text("/HELP@cm_test_bot"), HELP)),
    row("B-04 /stop", Case(at=WORRY, send=text("/stop"), reply=PAUSED, replies=1)),
    row(
        "B-04 /stop then 5", Case(at=WORRY, send=text("/stop", "5"), reply=WELCOME_BACK, replies=2)
    ),
    row("B-04 /start", Case(at=WORRY, send=text("/start"), reply=RESUME_OR_RESTART, replies=1)),
    row(
        "B-04 /start@OtherBot",
        Case(at=WORRY, send=text("/start@OtherBot"), reply=RESUME_OR_RESTART, replies=1),
    ),
    row("B-04 /foo", refused(WORRY, text("/foo"), UNKNOWN_COMMAND)),
    # B-05: text where a button is expected, stale buttons, double taps
    row("B-05 free text at a button question", short(MOOD, text("great!!"), TAP_ONE)),
    row("B-05 typed label matches", taken(MOOD, text(" BAD "), {"intake.mood": "bad"}, WORRY, "")),
    row("B-05 stale button of an earlier question", refused(WORRY, tap_old, CLOSED)),
    row(
        "B-05 double tap",
        Case(
            at=WORRY,
            send=lambda p: [p.tap_update("5"), p.tap_update("5")],
            reply=CLOSED,
            replies=3,  # the next question; then "closed" and that question again
            reasks=True,
            step=HOUSING,
            stores={"intake.worry": 5},
        ),
    ),
    row(
        "B-05 open question's button tapped a day later",
        taken(OUTAGE, lambda p: [p.tap_update("4")], {"intake.worry": 4}, HOUSING, NEXT),
    ),
    # B-06: callback data is untrusted: refused, audited
    *[
        row(
            f"B-06 forged data: {name}",
            refused(WORRY, callback_with(data), CLOSED, then=forged_button_audited),
        )
        for name, data in FORGED.items()
    ],
    row(
        "B-06 forged data: a NUL byte",
        refused(WORRY, lambda p: [p.callback("a\x00b")], CLOSED, then=forged_button_audited),
    ),
    row(
        "B-06 another client's real button",
        refused(WORRY, tap_others, CLOSED, other=True, then=foreign_button_audited),
    ),
    # B-07: very long text: asked for a shorter answer, nothing cut and stored
    row("B-07 4096 characters", short(NOTES, text("x" * 4096), TOO_LONG)),
    row("B-07 5000 characters", short(NOTES, text("y" * 5000), TOO_LONG)),
    row("B-07 5000 emoji", short(NOTES, text("😀" * 5000), TOO_LONG)),
    row("B-07 101 emoji = 202 UTF-16 units", short(NOTES, text("😀" * 101), TOO_LONG)),
    row(
        "B-07 100 emoji = 200 UTF-16 units fit",
        taken(NOTES, text("😀" * 100), {"intake.notes": "😀" * 100}, None, ALL_DONE),
    ),
    row("B-07 4096 digits", short(PEOPLE, text("9" * 4096), WHOLE_0_20)),
    # B-08: Unicode: invisible and bidi controls ignored for matching, NFC, valid UTF-8 only
    row(
        "B-08 zero-width space + 7",
        taken(WORRY, text("\u200b7"), {"intake.worry": 7}, HOUSING, NEXT),
    ),
    row(
        "B-08 bidi override + 7",
        taken(WORRY, text("\u202e7\u202c"), {"intake.worry": 7}, HOUSING, NEXT),
    ),
    row("B-08 7 + NUL", taken(WORRY, text("7\x00"), {"intake.worry": 7}, HOUSING, NEXT)),
    row("B-08 homoglyph Cyrillic Good", short(MOOD, text("G\u043e\u043ed"), TAP_ONE)),
    row("B-08 zero-width only", short(NOTES, text("\u200b\u200d\ufeff"), TYPE_IT)),
    row("B-08 bidi controls only", short(NOTES, text("\u2066\u202e\u2069"), TYPE_IT)),
    *[
        row(f"B-08 {name}", taken(NOTES, text(typed), {"intake.notes": kept}, None, ALL_DONE))
        for name, (typed, kept) in UNICODE_ANSWERS.items()
    ],
    row(
        "B-08 lone surrogate becomes U+FFFD",
        taken(
            NOTES,
            text("ok\ud83d"),
            {"intake.notes": "ok\ufffd"},
            None,
            ALL_DONE,
            then=stored_as_valid_utf8,
        ),
    ),
    # B-09: odd numbers at a 0-10 scale: one explicit parser, re-asked with the range
    *[row(f"B-09 {t!r}", short(WORRY, text(t), WHOLE_0_10)) for t in NOT_A_NUMBER],
    row("B-09 'about 5'", short(WORRY, text("about 5"), WHOLE_0_10)),
    row("B-09 '0' at a choice of 1-3", short(MOOD, text("0"), TAP_ONE)),
    *[
        row(f"B-09 {t!r} is {v}", taken(WORRY, text(t), {"intake.worry": v}, HOUSING, NEXT))
        for t, v in ODD_NUMBERS.items()
    ],
    # B-10: injection strings are data: bound parameters, never evaluated, never echoed
    *[
        row(
            f"B-10 {typed[:24]!r}",
            taken(NOTES, text(typed), {"intake.notes": typed.strip()}, None, ALL_DONE),
        )
        for typed in INJECTIONS
    ],
    row(
        "B-10 =HYPERLINK stored, quoted in the CSV export",
        taken(
            NOTES,
            text('=HYPERLINK("http://x","click")'),
            {"intake.notes": '=HYPERLINK("http://x","click")'},
            None,
            ALL_DONE,
            then=csv_export_quotes_the_formula,
        ),
    ),
    row(
        "B-10 DROP TABLE at a number",
        short(WORRY, text("'; DROP TABLE clients;--"), WHOLE_0_10),
    ),
    # B-11: forwarded messages are someone else's words; their sender is not stored
    *[row(f"B-11 forwarded {name}", forwarded(origin)) for name, origin in FORWARDS.items()],
    row(
        "B-11 legacy forward_from",
        refused(WORRY, text("5", forward_from=OTHER_PERSON, forward_date=1700000000), OWN_WORDS),
    ),
    row(
        "B-11 forwarded sticker",
        refused(WORRY, media(sticker=STICKER, forward_origin=FORWARDS["from a user"]), OWN_WORDS),
    ),
    # B-12: not a private chat: one "message me privately" per group, nothing stored
    row(
        "B-12 group messages from the client",
        ignored(WORRY, text("5", "6", chat=GROUP), then=group_told_once),
    ),
    row(
        "B-12 supergroup message", ignored(WORRY, text("5", chat=SUPERGROUP), then=group_told_once)
    ),
    row(
        "B-12 automatic forward in a discussion group",
        ignored(
            WORRY,
            text(
                "news",
                chat=SUPERGROUP,
                is_automatic_forward=True,
                forward_origin=FORWARDS["from a channel"],
            ),
            then=group_told_once,
        ),
    ),
    row(
        "B-12 anonymous admin (sender_chat)",
        ignored(
            WORRY,
            text("5", chat=SUPERGROUP, sender=ANONYMOUS_ADMIN, sender_chat=SUPERGROUP),
            then=nothing_anywhere,
        ),
    ),
    row(
        "B-12 channel_post",
        ignored(WORRY, raw("channel_post", CHANNEL_POST), then=runtime_drops_them_unseen),
    ),
    row(
        "B-12 bot added to a group",
        ignored(WORRY, member("member", chat=GROUP), then=nothing_anywhere),
    ),
    row(
        "B-12 bot removed from a group",
        ignored(WORRY, member("kicked", chat=GROUP), then=runtime_drops_them_unseen),
    ),
    # B-13: blocked mid-flow: unreachable, staff told; unblocking alone does not resume
    row("B-13 kicked", ignored(WORRY, member("kicked"), then=blocked_and_flagged)),
    row(
        "B-13 kicked, then member",
        ignored(WORRY, member("kicked", "member"), then=still_unreachable_after_unblock),
    ),
    row(
        "B-13 kicked, member, then an answer",
        taken(
            WORRY,
            lambda p: [p.member("kicked"), p.member("member"), p.message("5")],
            {"intake.worry": 5},
            HOUSING,
            NEXT,
            then=active_again,
        ),
    ),
    # B-14: unknown users: one short pointer to their case manager, no client, no text kept
    *[
        row(
            f"B-14 unknown user: {name}",
            Case(
                at=STRANGER,
                send=text(*typed),
                reply=ASK_MANAGER,
                replies=1,
                step=None,
                then=unknown_person_audited_without_text,
            ),
        )
        for name, typed in [
            ("hello", ["hello, I need help"]),
            ("/start without payload", ["/start"]),
            ("three messages, one answer", ["hi", "hello?", "anyone"]),
        ]
    ],
    row(
        "B-14 unknown user: made-up invite token",
        Case(
            at=STRANGER,
            send=text("/start abcdefABCDEF123456"),
            reply=LINK_NOT_VALID,
            replies=1,
            step=None,
        ),
    ),
    # B-15: the same update twice is handled once
    row(
        "B-15 same message delivered twice",
        taken(
            WORRY,
            twice(text("5")),
            {"intake.worry": 5},
            HOUSING,
            NEXT,
            then=one_inbox_row_for_the_update,
        ),
    ),
    row(
        "B-15 same button tap delivered twice",
        taken(WORRY, twice(lambda p: [p.tap_update("6")]), {"intake.worry": 6}, HOUSING, NEXT),
    ),
    # B-16: identity is from.id alone
    row("B-16 is_bot sender", ignored(WORRY, as_user("5", is_bot=True))),
    row(
        "B-16 shared contact of someone else",
        refused(
            WORRY,
            media(contact={"phone_number": "+15550199", "first_name": "Sam", "user_id": 5550001}),
            ONLY_TYPED,
        ),
    ),
    row(
        "B-16 stranger named like the case manager",
        Case(
            at=STRANGER,
            send=as_user("/start", first_name="Maria", username="maria_cm"),
            reply=ASK_MANAGER,
            replies=1,
            step=None,
            then=no_staff_bound,
        ),
    ),
    row(
        "B-16 changed username, same from.id",
        taken(
            WORRY,
            as_user("5", username="someone_else", first_name="X"),
            {"intake.worry": 5},
            HOUSING,
            NEXT,
        ),
    ),
    # B-17: a burst, all in the inbox before the chat's worker runs (as the runtime does)
    row(
        "B-17 ten messages: in order, first valid answer taken",
        taken(WORRY, text(*BURST), {"intake.worry": 5}, HOUSING, NEXT, replies=None, together=True),
    ),
    row(
        "B-17 ten messages: the extras get one reply, not nine",
        taken(
            WORRY,
            text(*BURST),
            {"intake.worry": 5},
            HOUSING,
            NEXT,
            replies=2,
            together=True,
            then=one_note_for_the_extras,
        ),
    ),
    # B-18: backlog after an outage is processed, not dropped
    row(
        "B-18 answer sent a day ago arrives now",
        taken(OUTAGE, text("5", date=_now() - 24 * 3600), {"intake.worry": 5}, HOUSING, NEXT),
    ),
    # (A day-old tap on a prompt that has changed since is B-05's stale button: refused.)
    # B-19: after the conversation timed out, ended or was withdrawn: nothing moves on
    row(
        "B-19 answer after 7 hours away",
        Case(at=AWAY, send=text("5"), reply=WELCOME_BACK, replies=1),
    ),
    row(
        "B-19 answer after the flow ended",
        Case(at=DONE, send=text("5"), reply=ALL_DONE, replies=1, step=None),
    ),
    row(
        "B-19 answer after withdrawal",
        Case(
            at=WITHDRAWN,
            send=text("5"),
            reply=NOT_KEEPING,
            replies=1,
            step=None,
            then=withdrawn_still,
        ),
    ),
    row(
        "B-19 button after withdrawal",
        Case(at=WITHDRAWN, send=tap_old, reply=CLOSED, replies=1, step=None, then=withdrawn_still),
    ),
    # B-20: update types we do not take: acknowledged and ignored
    *[
        row(f"B-20 {kind}", ignored(WORRY, raw(kind, body), then=runtime_drops_them_unseen))
        for kind, body in OTHER_UPDATES.items()
    ],
    row("B-20 service message in the private chat", ignored(WORRY, media(write_access_allowed={}))),
    # B-21: no step in this design takes media, so no file is ever fetched, whatever its size
    row("B-21 2 GB document", refused(WORRY, media(document=HUGE_DOCUMENT), ONLY_TYPED)),
    # B-22: other languages and scripts, voice
    row(
        "B-22 Spanish client types sí",
        Case(
            at=CONSENT,
            language="es",
            send=text("sí"),
            reply="",
            replies=1,
            step="consent.store",
            then=spanish_buttons,
        ),
    ),
    row(
        "B-22 Arabic script at a yes/no question",
        short(CONSENT, text("نعم"), YES_OR_NO),
    ),
    row("B-22 voice instead of typing", refused(WORRY, media(voice=VOICE), ONLY_TYPED)),
    # B-23: crisis words anywhere: the crisis reply and one urgent flag, then the pause (no
    # question is asked again until staff resolve the flag)
    row(
        "B-23 crisis words mid-question",
        Case(
            at=WORRY,
            send=text("honestly I want to die"),
            reply=CRISIS,
            replies=1,
            then=one_urgent_crisis_flag,
        ),
    ),
    row(
        "B-23 crisis words in an edit",
        taken(
            WORRY,
            answered_then_edited("5", "5, I am not safe at home"),
            {"intake.worry": 5},
            HOUSING,
            CRISIS,
            replies=2,  # the next question; then the crisis message (paused: no note)
            then=one_urgent_crisis_flag,
        ),
    ),
    row(
        "B-23 crisis words before consent",
        Case(
            at=CONSENT,
            send=text("I want to kill myself"),
            reply=CRISIS,
            replies=1,
            then=one_urgent_crisis_flag,
        ),
    ),
    row(
        "B-23 crisis words in a photo caption",
        Case(
            at=WORRY,
            send=media(photo=PHOTO, caption="I want to end my life"),
            reply=CRISIS,
            then=one_urgent_crisis_flag,
        ),
    ),
    # B-24: an update_id lower than any seen is processed (dedupe is by set, not watermark)
    row(
        "B-24 update_id far below the last one",
        taken(WORRY, lambda p: [p.message("5", update_id=3)], {"intake.worry": 5}, HOUSING, NEXT),
    ),
    row(
        "B-24 update_id reused after a quiet week, new message",
        taken(
            WORRY, lambda p: [p.message("5", update_id=100_000)], {"intake.worry": 5}, HOUSING, NEXT
        ),
    ),
    row(
        "B-25 time and scheduling inputs",
        ignored(STRANGER, lambda p: []),
        skip="B-25 (DST gaps, time zones, 23:59:59) is the scheduler's, not the engine's: "
        "tested with scheduling",
    ),
]


def _sent_texts(updates: list[Update]) -> list[str]:
    found: list[str] = []
    for data in updates:
        for kind in ("message", "edited_message", "channel_post"):
            body = data.get(kind)
            if isinstance(body, dict):
                found += [body[f] for f in ("text", "caption") if isinstance(body.get(f), str)]
    return found


@pytest.mark.parametrize("case", CATALOGUE)
def test_bad_input_gets_a_sensible_reply_keeps_the_state_and_stores_nothing_invalid(
    engine: ConversationEngine,
    db: Engine,
    case: Case,
    caplog: pytest.LogCaptureFixture,
) -> None:
    phone = Phone(engine, db, language=case.language)
    _bring(phone, db, case.at, other=case.other)
    phone.read()
    phone.elsewhere.clear()
    before_step = phone.step()
    before_answers = responses(db)
    before_rows = _count(db, Response)
    people = (_count(db, Client), _count(db, ChannelIdentity), _count(db, Staff))
    caplog.set_level(logging.DEBUG)

    updates = case.send(phone)
    replies = phone.send_together(*updates) if case.together else phone.send(*updates)

    # What the client is told
    said = "\n---\n".join(m.text for m in replies)
    if case.reply is None:
        assert replies == [], f"expected silence, got: {said}"
    else:
        assert replies, "the client got no answer at all"
        assert case.reply in said, f"{case.reply!r} not in: {said}"
    if case.replies is not None:
        assert len(replies) == case.replies, said
    # Where they stand
    after_step = phone.step()
    expected_step = before_step if case.step == SAME else case.step
    assert after_step == expected_step
    if case.reasks:
        flow_id, _dot, step_id = (after_step or "").partition(".")
        question = engine.flows.get(flow_id).step(step_id).text
        assert question in replies[-1].text
    # What was stored
    after_answers = responses(db)
    assert after_answers[: len(before_answers)] == before_answers  # nothing changed or went
    assert after_answers[len(before_answers) :] == list(case.stores.items())  # each added once
    assert _count(db, Response) - before_rows == len(case.stores)
    assert (_count(db, Client), _count(db, ChannelIdentity), _count(db, Staff)) == people
    with transaction(db) as session:
        inbox = list(session.execute(select(InboundMessage)).scalars())
    assert [(r.id, r.text, r.payload) for r in inbox if r.text or r.payload] == []
    assert {r.status for r in inbox} <= {"done"}
    # Never echoed back, never logged
    for sent in _sent_texts(updates):
        if len(sent) >= 12 and not sent.startswith("/"):
            assert all(sent not in m.text for m in replies + phone.elsewhere)
            assert all(sent not in r.getMessage() for r in caplog.records)
    if case.then is not None:
        case.then(Ctx(db, phone, updates, replies))


# -- B-17 in detail: what a burst is told, and what it never passes over -------------------------


def _worry_phone(engine: ConversationEngine, db: Engine) -> Phone:
    phone = Phone(engine, db)
    _bring(phone, db, WORRY, other=False)
    phone.read()
    return phone


def test_b17_typed_ahead_answers_in_a_burst_are_still_taken_in_order(
    engine: ConversationEngine, db: Engine
) -> None:
    phone = _worry_phone(engine, db)
    burst = ["5", "x", "y", "z", "mold, pests", "yes"]
    replies = phone.send_together(*[phone.message(t) for t in burst])

    said = [m.text for m in replies]
    assert len(said) == 4, said
    assert NEXT in said[0]
    assert TAP_OPTIONS in said[1] and ONE_AT_A_TIME in said[1]  # "x"; "y" and "z" are extras
    assert "Do you feel safe at home?" in said[2]
    assert phone.step() == "intake.people"
    assert responses(db) == [
        ("intake.mood", "good"),
        ("intake.worry", 5),
        ("intake.housing", ["mold", "pests"]),
        ("intake.safe", True),
    ]


@pytest.mark.parametrize("where", [2, 5, 9], ids=["right after the first extra", "mid", "last"])
def test_b17_words_of_crisis_among_the_extras_are_never_passed_over(
    engine: ConversationEngine, db: Engine, where: int
) -> None:
    phone = _worry_phone(engine, db)
    burst = list(BURST)
    burst[where] = "honestly I want to die"
    ctx_updates = [phone.message(t) for t in burst]
    replies = phone.send_together(*ctx_updates)

    said = [m.text for m in replies]
    crisis = [m for m in replies if CRISIS in m.text]
    assert len(crisis) == 1, said
    assert _flags(Ctx(db, phone, ctx_updates, replies)).count(("crisis_words", "urgent")) == 1
    # The crisis message is handled in full and pauses the bot: the extras before it get no
    # reply of their own (the note at most once), those after it are kept silently.
    assert sum(ONE_AT_A_TIME in t for t in said) == (0 if where == 2 else 1), said
    assert len(said) == 3, said  # next question, re-ask, crisis reply
    assert sum(NEXT in t for t in said) == 1, said  # the refusal is short: no repeat

    assert phone.step() == HOUSING
    assert responses(db) == [("intake.mood", "good"), ("intake.worry", 5)]
    assert set(_inbox_statuses(db)) == {"done"}


def test_b17_a_burst_spread_over_separate_batches_is_answered_message_by_message(
    engine: ConversationEngine, db: Engine
) -> None:
    phone = _worry_phone(engine, db)
    said = [[m.text for m in phone.send_together(phone.message(t))] for t in BURST[:4]]
    assert [len(s) for s in said] == [1, 1, 1, 1]
    assert all(TAP_OPTIONS in s[0] and ONE_AT_A_TIME not in s[0] for s in said[1:])
    assert _bad_attempts(db) == [3]
    assert "/human" in said[-1][0]  # after three tries the way to a person is said
    assert "Talk to my case manager" not in phone.buttons  # and no button changes meaning


def test_b17_an_update_failing_mid_burst_loses_nothing_and_repeats_nothing(
    engine: ConversationEngine, db: Engine
) -> None:
    armed: list[bool] = []  # set once the phone stands at the question
    failed: list[str] = []

    def fail_once_after_the_work(inbound: Inbound) -> None:
        """The re-ask is written and the prompt marked: then the turn fails."""
        if armed and inbound.text == "6" and not failed:
            failed.append(inbound.text)
            raise RuntimeError("crash before commit")

    engine = ConversationEngine(
        engine.store,
        engine.flows,
        engine.translator,
        config=replace(engine.config, after_turn=fail_once_after_the_work),
    )
    phone = _worry_phone(engine, db)
    armed.append(True)
    first = [m.text for m in phone.send_together(*[phone.message(t) for t in BURST])]
    assert failed == ["6"]
    # "6" rolled back: "7" is the first refused text this batch took, so it is re-asked.
    assert len(first) == 2 and NEXT in first[0], first
    assert TAP_OPTIONS in first[1] and ONE_AT_A_TIME in first[1]
    assert _inbox_statuses(db).count("pending") == 1

    again = [m.text for m in phone.send_together()]  # the retry: a batch of its own
    assert len(again) == 1 and TAP_OPTIONS in again[0] and ONE_AT_A_TIME not in again[0]
    assert set(_inbox_statuses(db)) == {"done"}
    assert responses(db) == [("intake.mood", "good"), ("intake.worry", 5)]
    assert _count(db, Response, col(Response.key) == "intake.worry") == 1
    assert _bad_attempts(db) == [2]
