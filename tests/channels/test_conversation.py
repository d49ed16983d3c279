"""A linked client walks consent and intake through the real frameworks, polling and webhook."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col

from cm_bot.storage.models import InboundMessage

from .conftest import Bot, BotFactory, Chat, Line, count, play, reference, responses_of

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
VALID = {
    "intake.mood": "good",
    "intake.worry": 3,
    "intake.housing": ["mold", "pests"],
    "intake.safe": True,
    "intake.people": 2,
    "intake.notes": "All fine, thanks",
}


async def walk(bot: Bot) -> tuple[Chat, int]:
    client_id = bot.link(USER)
    chat = Chat(bot, USER)
    await play(chat, WALK)
    await chat.all_taps_answered()
    return chat, client_id


# What each backend showed, by mode: aiogram and PTB must show the very same conversation.
SEEN: dict[tuple[str, str], list[Line]] = {}


def check_walk(bot: Bot, chat: Chat, client_id: int, mode: str) -> None:
    expected = reference(bot.db, bot.app.engine, WALK)
    assert chat.transcript() == expected
    SEEN[(mode, bot.backend)] = chat.transcript()
    if len({backend for seen_mode, backend in SEEN if seen_mode == mode}) == 2:
        assert SEEN[(mode, "aiogram")] == SEEN[(mode, "ptb")]
    stored = responses_of(bot.db, client_id)
    assert {k: v for k, v in stored.items() if k in VALID} == VALID
    assert set(stored) == {*VALID, "intake.moved"}
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
    check_walk(bot, chat, client_id, "polling")
    # Stopping confirmed nothing that was not recorded: the emulator holds no update.
    assert bot.api.pending_updates == []
    assert bot.app.engine.bot_username == "cm_test_bot"  # learnt for invite links


async def test_webhook_walk(make_bot: BotFactory) -> None:
    bot = await make_bot(webhook=True)
    await bot.start_webhook()
    chat, client_id = await walk(bot)
    await bot.stop()
    check_walk(bot, chat, client_id, "webhook")
    attempts = bot.api.webhook_attempts
    assert attempts and all(a.status == 200 for a in attempts)
    assert len(attempts) == len(WALK)


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
