"""The webhook endpoint: the secret, record-before-200, duplicates (F-04), no database (F-05)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import create_engine

from cm_bot.channels.telegram_runtime import SECRET_HEADER
from cm_bot.storage.models import InboundMessage
from cm_bot.testing import FakeBotAPI
from tests.support.records import count
from tests.support.telegram import WEBHOOK_SECRET, Bot, BotFactory, Chat, message_update, reference

USER = 5552001


async def post(bot: Bot, body: Any, *, secret: str | None = WEBHOOK_SECRET) -> int:
    assert bot.webhook_url is not None
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(bot.webhook_url, json=body, headers=headers) as response,
    ):
        return response.status


async def running(make_bot: BotFactory, **options: Any) -> Bot:
    bot = await make_bot(webhook=True, **options)
    await bot.start_webhook()
    bot.link(USER)
    return bot


async def test_secret_missing_or_wrong_is_refused_and_nothing_is_stored(
    make_bot: BotFactory,
) -> None:
    bot = await running(make_bot)
    update = message_update(7001, "hello", user=USER)
    assert await post(bot, update, secret=None) == 401
    assert await post(bot, update, secret="wrong-secret") == 401
    assert await post(bot, update, secret=WEBHOOK_SECRET[:-1]) == 401
    assert await post(bot, update, secret="") == 401
    await bot.quiet()
    assert count(bot.db, InboundMessage) == 0
    assert bot.api.sent == []


async def test_webhook_refuses_to_run_without_a_secret(make_bot: BotFactory) -> None:
    bot = await make_bot()
    with pytest.raises(ValueError, match="secret"):
        bot.runtime.webhook_app()


async def test_malformed_and_unknown_bodies(make_bot: BotFactory) -> None:
    bot = await running(make_bot)
    assert bot.webhook_url is not None
    async with aiohttp.ClientSession() as session:
        headers = {SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"}
        async with session.post(bot.webhook_url, data=b"{not json", headers=headers) as response:
            assert response.status == 400
    assert await post(bot, [1, 2, 3]) == 400
    assert await post(bot, {"no_update_id": True}) == 400
    # A shape nobody knows yet is confirmed and forgotten; a broken one cannot block the chat.
    assert await post(bot, {"update_id": 7002, "future_update": {"x": 1}}) == 200
    assert await post(bot, {"update_id": 7003, "message": "not an object"}) == 200
    await bot.quiet()
    assert count(bot.db, InboundMessage) == 0


@pytest.mark.parametrize("together", [False, True], ids=["one_after_another", "concurrent"])
async def test_duplicate_post_is_recorded_and_handled_once(
    make_bot: BotFactory, together: bool
) -> None:
    bot = await running(make_bot)
    update = message_update(7010, "hello", user=USER)
    if together:
        statuses = list(await asyncio.gather(*(post(bot, update) for _ in range(3))))
    else:
        statuses = [await post(bot, update) for _ in range(3)]
    assert statuses == [200, 200, 200]
    await bot.quiet()
    assert count(bot.db, InboundMessage) == 1
    # One processing: the replies to one "hello", once.
    assert Chat(bot, USER).transcript() == reference(bot.db, bot.app.engine, [("say", "hello")])


async def test_database_away_gives_503_then_one_processing(make_bot: BotFactory) -> None:
    api = FakeBotAPI(webhook_max_attempts=10, webhook_retry_delay=0.05)
    await api.start()
    try:
        bot = await running(make_bot, api=api)
        store = bot.app.store
        healthy = store.engine
        broken = create_engine("sqlite:////nonexistent-dir/cm-bot.db")
        store.engine = broken
        try:
            await api.post_message(USER, "hello")
            # Telegram is told to retry while the database is away...
            await api.wait_until(
                lambda: [a.status for a in api.webhook_attempts] == [503, 503],
                what="two refused deliveries",
            )
        finally:
            store.engine = healthy
            broken.dispose()
        # ...and once it is back, the retry is recorded and handled exactly once.
        await bot.settle()
        assert [a.status for a in api.webhook_attempts] == [503, 503, 200]
        assert count(bot.db, InboundMessage) == 1
        expected = reference(bot.db, bot.app.engine, [("say", "hello")])
        assert Chat(bot, USER).transcript() == expected
    finally:
        await api.stop()


async def test_database_away_for_one_post_then_the_same_post_again(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await running(make_bot)
    engine = bot.app.engine
    real_accept = engine.accept

    def failing(*_args: Any) -> Any:
        raise ConnectionError("database went away")

    monkeypatch.setattr(engine, "accept", failing)
    update = message_update(7020, "hello", user=USER)
    assert await post(bot, update) == 503
    monkeypatch.setattr(engine, "accept", real_accept)
    assert await post(bot, update) == 200
    assert await post(bot, update) == 200  # Telegram's own late retry: a no-op
    await bot.quiet()
    assert count(bot.db, InboundMessage) == 1
    assert Chat(bot, USER).transcript() == reference(bot.db, engine, [("say", "hello")])
