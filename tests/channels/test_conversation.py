"""A linked client walks consent and intake through the real frameworks, polling and webhook."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col

from cm_bot.storage.models import InboundMessage
from cm_bot.testing import FakeBotAPI
from tests.support.records import count, responses
from tests.support.telegram import BACKENDS, Bot, BotFactory, Chat, Line, play, reference

USER = 5551001

# Typing and tapping, with a few wrong answers on the way (they must not be stored).
WALK = (
    ("say", "hello"),
    ("tap", "Yes"),
    ("tap", "Yes"),
    ("tap", "No"),
    ("say", "not sure"),  # a choice step: not one of the options
    ("tap", "Good"),
    ("tap", "3"),
    ("tap", "Mold"),
    ("tap", "Pests"),
    ("tap", "Done"),
    ("tap", "Yes"),
    ("say", "twenty-one"),  # not a number
    ("say", "2"),
    ("say", "2020-05-01"),
    ("say", "All fine, thanks"),
)
VALID = [
    ("intake.mood", "good"),
    ("intake.worry", 3),
    ("intake.housing", ["mold", "pests"]),
    ("intake.safe", True),
    ("intake.people", 2),
    ("intake.moved", "2020-05-01"),
    ("intake.notes", "All fine, thanks"),
]


async def walk(bot: Bot, user: int = USER) -> tuple[Chat, int]:
    client_id = bot.link(user)
    chat = Chat(bot, user)
    await play(chat, WALK)
    await chat.all_taps_answered()
    return chat, client_id


def check_walk(bot: Bot, chat: Chat, client_id: int) -> None:
    expected = reference(bot.db, bot.app.engine, WALK)
    assert chat.transcript() == expected
    # Each valid answer once, in order; the wrong ones are not stored.
    assert responses(bot.db, client_id) == VALID
    # Every update is recorded once and handled; no raw text is left behind.
    telegram = col(InboundMessage.channel) == "telegram"
    assert count(bot.db, InboundMessage, telegram) == len(WALK)
    assert count(bot.db, InboundMessage, telegram, col(InboundMessage.status) != "done") == 0
    assert count(bot.db, InboundMessage, col(InboundMessage.text).is_not(None)) == 0


async def test_polling_walk(make_bot: BotFactory) -> None:
    bot = await make_bot()
    await bot.start_polling()
    chat, client_id = await walk(bot)
    await bot.stop()
    check_walk(bot, chat, client_id)
    # Stopping confirmed nothing that was not recorded: the emulator holds no update.
    assert bot.api.pending_updates == []
    assert bot.app.engine.bot_username == "cm_test_bot"  # learnt for invite links


async def test_webhook_walk(make_bot: BotFactory) -> None:
    bot = await make_bot(webhook=True)
    await bot.start_webhook()
    chat, client_id = await walk(bot)
    await bot.stop()
    check_walk(bot, chat, client_id)
    attempts = bot.api.webhook_attempts
    assert attempts and all(a.status == 200 for a in attempts)
    assert len(attempts) == len(WALK)


@pytest.mark.parametrize("backend", ["each"])  # the test builds one bot of each backend itself
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_aiogram_and_ptb_show_the_very_same_conversation(
    make_bot: BotFactory, mode: str
) -> None:
    seen: dict[str, list[Line]] = {}
    api: FakeBotAPI | None = None  # one emulator: the database keeps its update offset
    for number, backend in enumerate(BACKENDS):
        bot = await make_bot(api=api, backend=backend, webhook=mode == "webhook")
        api = bot.api
        await (bot.start_webhook() if mode == "webhook" else bot.start_polling())
        chat, _client_id = await walk(bot, USER + number)
        await bot.stop()
        seen[bot.backend] = chat.transcript()
    assert list(seen) == ["aiogram", "ptb"]
    assert seen["aiogram"] == seen["ptb"]


async def test_polling_database_away_then_one_processing(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make_bot()
    bot.link(USER)
    engine = bot.app.engine
    real_accept = engine.accept
    refusals = 2

    def flaky(inbound: Any) -> Any:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise ConnectionError("database went away")
        return real_accept(inbound)

    monkeypatch.setattr(engine, "accept", flaky)
    await bot.start_polling()
    await bot.api.post_message(USER, "hello")
    await bot.settle()  # refused twice: not confirmed, fetched again, then recorded
    assert refusals == 0
    assert count(bot.db, InboundMessage) == 1
    expected = reference(bot.db, bot.app.engine, [("say", "hello")])
    assert Chat(bot, USER).transcript() == expected
