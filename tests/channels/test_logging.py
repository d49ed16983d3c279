"""At DEBUG, nothing secret or personal reaches the log (P-15, F-16)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from cm_bot import logsetup
from cm_bot.channels.telegram_runtime import SECRET_HEADER
from cm_bot.testing import FakeBotAPI
from tests.support.telegram import WEBHOOK_SECRET, BotFactory, Chat

TOKEN = "918273645:AAH-Zq8vLr3nW7kPx2Yt5sUe9fGh1jKmNoP"
CHAT_ID = 7364519283
CANARY = "canary Purple-Elephant 4417"
WRONG_SECRET = "not-the-secret_Zebra-9932"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The bot's own log set-up at DEBUG, written to a buffer; logging restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in logsetup.NOISY}
    logsetup.configure(level=logging.DEBUG, secrets=[TOKEN, WEBHOOK_SECRET])
    buffer = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_no_token_secret_text_or_chat_id_in_the_log(
    make_bot: BotFactory,
    captured: io.StringIO,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = FakeBotAPI(token=TOKEN)
    await api.start()
    try:
        bot = await make_bot(api=api, webhook=mode == "webhook")
        if mode == "webhook":
            await bot.start_webhook()
        else:
            await bot.start_polling()
        bot.link(CHAT_ID)
        chat = Chat(bot, CHAT_ID)
        await chat.say("hello")
        await chat.say(CANARY)  # not an answer to a yes/no question: re-asked
        await chat.tap("Yes")
        await chat.say(f"/start {CANARY}")
        await chat.say(CANARY, photo=True, caption=CANARY)
        # A database failure whose text carries the client's words (as SQL errors do).
        engine = bot.app.engine
        real_accept = engine.accept

        def failing(inbound: Any) -> Any:
            monkeypatch.setattr(engine, "accept", real_accept)
            raise RuntimeError(f"INSERT failed [parameters: ({CANARY!r}, {CHAT_ID})]")

        monkeypatch.setattr(engine, "accept", failing)
        await chat.say(CANARY)
        if mode == "webhook":
            assert bot.webhook_url is not None
            async with aiohttp.ClientSession() as session:
                for secret in (WRONG_SECRET, None):
                    headers = {SECRET_HEADER: secret} if secret else {}
                    async with session.post(
                        bot.webhook_url, json={"update_id": 1}, headers=headers
                    ) as response:
                        assert response.status == 401
        await bot.stop()
    finally:
        await api.stop()
    log = captured.getvalue()
    assert "could not record" in log  # the failure itself is logged, without its text
    assert len(log.splitlines()) > 5
    for needle in (TOKEN, TOKEN.split(":")[1], WEBHOOK_SECRET, WRONG_SECRET, CANARY, "Elephant"):
        assert needle not in log, needle
    assert str(CHAT_ID) not in log
