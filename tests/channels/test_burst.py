"""The acceptance burst: 3,000 messages to 300 chats within Telegram's limits, each once.

About 100 seconds each at 30 messages/s, so they run once: not per backend (one
on each), and not again under ``--db postgres`` (pacing is the sender's, not the
database's).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from cm_bot.domain import Outbound
from cm_bot.notify.sender import Limits
from cm_bot.storage import outbox
from cm_bot.testing import FakeBotAPI, RateLimits
from tests.support.telegram import Bot, BotFactory

pytestmark = pytest.mark.slow

CHATS = 300
PER_CHAT = 10
FIRST_CHAT = 7_000_000


@pytest.fixture(autouse=True)
def once_on_sqlite(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--db") == "postgres":
        pytest.skip("the burst tests the sender's pacing; it runs once, on SQLite")


def enqueue_burst(bot: Bot) -> list[str]:
    """3,000 follow-ups due at once, queued chat by chat (the worst order for pacing)."""
    texts: list[str] = []
    with bot.app.store.unit() as uow:
        for chat in range(FIRST_CHAT, FIRST_CHAT + CHATS):
            for n in range(PER_CHAT):
                text = f"Follow-up {n + 1} of {PER_CHAT} for chat {chat}"
                uow.outbox.enqueue(Outbound(channel="telegram", chat_id=str(chat), text=text))
                texts.append(text)
    return texts


async def run_burst(bot: Bot) -> list[str]:
    texts = enqueue_burst(bot)
    await bot.start_polling()
    await asyncio.wait_for(bot.runtime.quiet(), 400)
    await bot.stop()
    assert outbox.unfinished(bot.db, "telegram") == 0
    return texts


def assert_each_once(api: FakeBotAPI, texts: list[str]) -> None:
    counts = Counter(message.text for message in api.sent)
    assert len(api.sent) == len(texts)
    assert set(counts) == set(texts)
    assert set(counts.values()) == {1}


def busiest_second(api: FakeBotAPI) -> int:
    times = sorted(message.time for message in api.sent)
    best, start = 0, 0
    for end, now in enumerate(times):
        while times[start] <= now - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("backend", ["aiogram"])
async def test_burst_stays_within_telegram_limits(make_bot: BotFactory) -> None:
    api = FakeBotAPI(enforce_limits=True)
    await api.start()
    try:
        bot = await make_bot(api=api, limits=Limits())
        texts = await run_burst(bot)
        assert api.rejected_429 == 0
        assert_each_once(api, texts)
        assert busiest_second(api) <= RateLimits().global_per_second
        # In order within each chat.
        for chat in (FIRST_CHAT, FIRST_CHAT + CHATS - 1):
            mine = [t for t in texts if t.endswith(f" {chat}")]
            assert [m.text for m in api.sent_to(chat)] == mine
    finally:
        await api.stop()


@pytest.mark.parametrize("backend", ["ptb"])
async def test_burst_with_failures_delivers_each_message_once(make_bot: BotFactory) -> None:
    api = FakeBotAPI(enforce_limits=True)
    await api.start()
    try:
        api.fail_ratio("sendMessage", 0.10, statuses=(429, 500, 502), seed=7, retry_after=1)
        bot = await make_bot(api=api, limits=Limits())
        texts = await run_burst(bot)
        injected = [f for f in api.faults_fired if f.kind == "error"]
        assert len(injected) >= 250  # about 10 % of some 3,300 calls
        # Every 429 was one we injected: the sender itself never overran the limits.
        assert api.rejected_429 == sum(1 for f in injected if f.status == 429)
        assert_each_once(api, texts)
    finally:
        await api.stop()
