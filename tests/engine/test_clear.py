"""Shared-phone safety: /clear deletes the chat from the phone, now or after N hours.

Telegram lets a bot delete the messages of a private chat, its own and the person's, for
48 hours after they were sent, up to 100 ids a request. These scenarios run the engine on
a manual clock with a :class:`Phone` that numbers messages as Telegram does (one counter
for both sides of a private chat) and carries out what the outbox asks.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from cm_bot.domain import Button, Inbound, InboundKind, Outbound, OutboxKind, OutboxStatus
from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows.loader import load_flows
from cm_bot.i18n.translator import Translator
from cm_bot.scheduling.dispatcher import run_due
from cm_bot.storage import outbox
from cm_bot.storage.admin import add_staff, link_client, new_case
from cm_bot.storage.data_rights import erase_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client, InboundMessage, Outbox
from cm_bot.storage.repository import SqlStore
from tests.support.paths import DATA

START = datetime(2099, 3, 2, 9, tzinfo=UTC)
USER = "4401"


class Phone:
    """One private chat on Telegram: what is on the screen, and what the bot deleted."""

    def __init__(self, engine: ConversationEngine, db: Engine, clock: ManualClock) -> None:
        self.engine, self.db, self.clock = engine, db, clock
        self.ids = itertools.count(1)
        self.screen: dict[int, str] = {}
        self.deletions: list[tuple[int, ...]] = []
        self.buttons: list[Button] = []

    def say(self, text: str) -> int:
        """The person sends a message; returns its id."""
        message_id = next(self.ids)
        self.screen[message_id] = text
        self._handle(text=text, message_id=str(message_id))
        return message_id

    def tap(self, label: str) -> None:
        button = next(b for b in reversed(self.buttons) if b.label == label)
        self._handle(kind=InboundKind.BUTTON, payload=button.payload)

    def _handle(self, kind: InboundKind = InboundKind.TEXT, **fields: str) -> None:
        self.engine.handle(
            Inbound(
                channel="telegram",
                external_id=f"{next(_updates)}",
                user_id=USER,
                chat_id=USER,
                kind=kind,
                language="en",
                received_at=self.clock.now(),
                **fields,  # type: ignore[arg-type]
            )
        )
        self.deliver()

    def deliver(self) -> None:
        """Do what the outbox asks: show the messages, delete what is asked for."""
        while items := outbox.claim(self.db, "telegram", chat_id=USER, now=self.clock.now()):
            for item in items:
                message = item.message
                external_id = None
                if message.kind is OutboxKind.DELETE:
                    self.deletions.append(message.delete_ids)
                    for message_id in message.delete_ids:
                        self.screen.pop(message_id, None)
                else:
                    message_id = next(self.ids)
                    self.screen[message_id] = message.text
                    external_id = str(message_id)
                    if message.buttons:
                        self.buttons.extend(b for row in message.buttons for b in row)
                outbox.mark_sent(self.db, item.id, external_id, now=self.clock.now())

    def shows(self, words: str) -> bool:
        return any(words in text for text in self.screen.values())

    def ids_now(self) -> set[int]:
        return set(self.screen)

    def asked(self) -> list[int]:
        """Every id the bot asked Telegram to delete, in order."""
        return [message_id for batch in self.deletions for message_id in batch]


_updates = itertools.count(1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def phone(db: Engine, translator: Translator, clock: ManualClock) -> Phone:
    engine = ConversationEngine(
        SqlStore(db, clock=clock),
        load_flows(DATA / "flows"),
        translator,
        config=EngineConfig(intake_flows=("intake",)),
    )
    add_staff(db, "Maria", "case_manager")
    case = new_case(db, "Maria", ref="C-0440")
    link_client(db, case.ref, "telegram", USER, USER)
    return Phone(engine, db, clock)


def test_clear_deletes_exactly_the_messages_of_the_last_48_hours_and_leaves_one_line(
    phone: Phone, clock: ManualClock
) -> None:
    phone.say("hello")  # consent begins: the person's message and the bot's replies
    older = phone.ids_now()
    clock.advance(timedelta(hours=49))
    phone.say("/help")
    recent = phone.ids_now() - older

    clear = phone.say("/clear")

    assert phone.deletions == [tuple(sorted(recent | {clear}))]
    assert set(phone.screen) == older | {max(phone.screen)}  # Telegram keeps what is older
    assert phone.screen[max(phone.screen)] == "Done."


def test_a_second_clear_never_asks_for_the_same_messages_again(phone: Phone) -> None:
    phone.say("hello")
    phone.say("/clear")
    first = set(phone.asked())
    done = max(phone.screen)

    again = phone.say("/clear")

    assert phone.deletions[-1] == (done, again)
    assert not first & set(phone.deletions[-1])


def test_the_clear_this_chat_button_in_help_clears_too(phone: Phone) -> None:
    phone.say("hello")
    phone.say("/help")
    assert any("/clear — delete this chat" in text for text in phone.screen.values())
    on_screen = phone.ids_now()

    phone.tap("Clear this chat")

    assert set(phone.asked()) == on_screen
    assert list(phone.screen.values()) == ["Done."]


def test_deletes_go_in_batches_of_at_most_100_ids(
    phone: Phone, db: Engine, clock: ManualClock
) -> None:
    phone.say("hello")
    with SqlStore(db, clock=clock).unit() as uow:  # a long chat: 250 more messages from us
        for n in range(250):
            uow.outbox.enqueue(Outbound(channel="telegram", chat_id=USER, text=f"line {n}"))
    phone.deliver()
    on_screen = phone.ids_now()

    clear = phone.say("/clear")

    assert [len(batch) for batch in phone.deletions] == [100, 100, len(on_screen) + 1 - 200]
    assert phone.asked() == sorted(on_screen | {clear})


def test_automatic_clear_deletes_messages_once_they_are_n_hours_old(
    phone: Phone, db: Engine, clock: ManualClock
) -> None:
    phone.say("hello")
    phone.say("/clear 6")
    assert phone.shows("once they are 6 hours old")
    first = phone.ids_now()
    clock.advance(timedelta(hours=5))
    phone.say("/help")
    later = phone.ids_now() - first

    run_due(phone.engine, clock.now())  # 5 hours: nothing is old enough yet
    phone.deliver()
    assert phone.deletions == []

    clock.advance(timedelta(hours=2))
    run_due(phone.engine, clock.now())
    phone.deliver()
    assert phone.deletions == [tuple(sorted(first))]

    clock.advance(timedelta(hours=6))
    run_due(phone.engine, clock.now())
    phone.deliver()
    assert phone.deletions[-1] == tuple(sorted(later))


def test_automatic_clear_takes_1_to_47_hours_and_can_be_turned_off(
    phone: Phone, db: Engine, clock: ManualClock
) -> None:
    def hours() -> int | None:
        with transaction(db) as session:
            return session.execute(select(Client.auto_clear_hours)).scalar_one()

    phone.say("hello")
    phone.say("/clear 48")
    assert hours() is None and phone.shows("from 1 to 47")
    phone.say("/clear 12")
    assert hours() == 12
    phone.say("/clear off")
    assert hours() is None

    clock.advance(timedelta(hours=13))
    run_due(phone.engine, clock.now())
    phone.deliver()
    assert phone.deletions == []


def test_a_crash_between_writing_the_deletes_and_sending_them_loses_nothing(
    phone: Phone, db: Engine, clock: ManualClock
) -> None:
    phone.say("hello")
    on_screen = phone.ids_now()
    # /clear commits its delete row; the sender takes it and dies while asking Telegram.
    clear = next(phone.ids)
    phone.engine.handle(
        Inbound(
            channel="telegram",
            external_id="crash",
            user_id=USER,
            chat_id=USER,
            text="/clear",
            received_at=clock.now(),
            message_id=str(clear),
        )
    )
    taken = outbox.claim(db, "telegram", chat_id=USER, now=clock.now(), worker="dead:1")
    (item,) = [i for i in taken if i.message.kind is OutboxKind.DELETE]
    assert outbox.mark_sending(db, item.id, worker="dead:1", now=clock.now())

    _requeued, unknown = outbox.recover(
        db, "telegram", worker="dead:1", now=clock.now(), starting=True
    )

    assert unknown == 0  # asking again is harmless, so it is not left for a person
    with transaction(db) as session:
        assert session.get(Outbox, item.id).status == OutboxStatus.PENDING  # type: ignore[union-attr]
    phone.deliver()
    assert phone.asked() == sorted(on_screen | {clear})


def test_erasure_leaves_no_message_ids_behind(phone: Phone, db: Engine) -> None:
    phone.say("hello")
    phone.say("/clear")
    phone.say("still here")

    erase_case(db, "C-0440")

    with transaction(db) as session:
        assert session.execute(select(InboundMessage)).scalars().all() == []
        assert session.execute(select(Outbox)).scalars().all() == []
