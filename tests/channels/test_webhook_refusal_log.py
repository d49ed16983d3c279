"""A flood of refused webhook requests is one log line a minute per reason, with the count.

Anyone who finds the webhook URL can post to it as fast as they like: a line per refused
request would let them fill the disk and bury the lines that matter.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

import aiohttp
import pytest

from cm_bot.channels.telegram_runtime import SECRET_HEADER
from cm_bot.logsetup import ThrottledLog
from cm_bot.storage.models import InboundMessage
from tests.support.records import count
from tests.support.telegram import WEBHOOK_SECRET, Bot, BotFactory, message_update

USER = 5553001
CANARY = "canary Violet-Heron 5521"
WRONG_SECRET = "whsec_Guessing-Walrus-7731"
RUNTIME_LOG = "cm_bot.channels.telegram_runtime"
LINE = re.compile(r"^(\d+) webhook request\(s\) (.+) refused")


class Clock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def runtime_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the runtime itself logged (the frameworks' DEBUG lines are theirs to quieten)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name == RUNTIME_LOG)


async def running(make_bot: BotFactory, clock: Clock) -> Bot:
    bot = await make_bot(webhook=True)
    bot.runtime.refusals.clock = clock
    await bot.start_webhook()
    return bot


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    """(count, reason) of each refusal line logged."""
    found = []
    for record in caplog.records:
        if record.name == RUNTIME_LOG and (match := LINE.match(record.getMessage())):
            found.append((int(match[1]), match[2]))
    return found


async def post_many(bot: Bot, bodies: list[bytes], headers: dict[str, str]) -> list[int]:
    assert bot.webhook_url is not None
    url = bot.webhook_url
    async with aiohttp.ClientSession() as session:

        async def one(body: bytes) -> int:
            async with session.post(url, data=io.BytesIO(body), headers=headers) as response:
                await response.read()
                return response.status

        statuses: list[int] = []
        for start in range(0, len(bodies), 100):
            statuses += await asyncio.gather(*(one(b) for b in bodies[start : start + 100]))
        return statuses


def update_body(n: int) -> bytes:
    return json.dumps(message_update(9000 + n, f"{CANARY} {n}", user=USER)).encode()


def with_secret(secret: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return headers


async def test_a_thousand_requests_without_the_secret_log_two_lines_with_the_count(
    make_bot: BotFactory, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=RUNTIME_LOG)
    bot = await running(make_bot, clock)

    statuses = await post_many(bot, [update_body(n) for n in range(500)], with_secret(None))
    statuses += await post_many(
        bot, [update_body(n) for n in range(500, 1000)], with_secret(WRONG_SECRET)
    )

    assert statuses == [401] * 1000
    assert refusal_lines(caplog) == [(1, "without the right secret")]  # the first, at once
    await bot.stop()  # what was counted since is written at shutdown
    assert refusal_lines(caplog) == [
        (1, "without the right secret"),
        (999, "without the right secret"),
    ]
    assert count(bot.db, InboundMessage) == 0
    for secret in (WEBHOOK_SECRET, WRONG_SECRET, CANARY, str(USER)):
        assert secret not in runtime_log(caplog)


async def test_after_a_minute_the_next_refusal_is_logged_with_those_counted_meanwhile(
    make_bot: BotFactory, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=RUNTIME_LOG)
    bot = await running(make_bot, clock)
    refused = with_secret(WRONG_SECRET)
    await post_many(bot, [update_body(0)], refused)
    clock.seconds += 59
    await post_many(bot, [update_body(n) for n in range(1, 6)], refused)
    assert refusal_lines(caplog) == [(1, "without the right secret")]

    clock.seconds += 2
    await post_many(bot, [update_body(6)], refused)

    assert refusal_lines(caplog) == [
        (1, "without the right secret"),
        (6, "without the right secret"),
    ]
    assert caplog.records[-1].getMessage().endswith("in the last 61 s")


async def test_malformed_and_oversized_bodies_are_counted_each_under_their_own_reason(
    make_bot: BotFactory, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=RUNTIME_LOG)
    bot = await running(make_bot, clock)
    authorised = with_secret(WEBHOOK_SECRET)
    malformed = [b"{" + CANARY.encode(), json.dumps([CANARY]).encode(), b'{"no_update_id": 1}'] * 50
    oversized = [json.dumps({"update_id": 1, "x": CANARY * 50_000}).encode()] * 5

    assert await post_many(bot, malformed, authorised) == [400] * 150
    assert await post_many(bot, oversized, authorised) == [413] * 5
    clock.seconds += 60
    bot.runtime.refusals.flush()

    assert sorted(refusal_lines(caplog)) == [
        (1, "with a body over 1 MiB"),
        (1, "with a body that is not an update"),
        (4, "with a body over 1 MiB"),
        (149, "with a body that is not an update"),
    ]
    assert CANARY not in runtime_log(caplog) and WEBHOOK_SECRET not in runtime_log(caplog)


def test_the_throttle_counts_per_key_and_flushes_only_what_is_due() -> None:
    clock = Clock()
    logger = logging.getLogger("tests.throttle")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    try:
        throttle = ThrottledLog(logger, "%(count)d %(key)s", interval=60, clock=clock)
        for _n in range(3):
            throttle.note("a")
        clock.seconds += 30
        throttle.note("b")
        throttle.note("b")
        clock.seconds += 30
        throttle.flush()  # "a" is due, "b" is not
        assert lines == [
            "1 a; more are counted, one line per 60 s at most",
            "1 b; more are counted, one line per 60 s at most",
            "2 a in the last 60 s",
        ]
        throttle.flush(force=True)
        throttle.flush(force=True)  # nothing left to say
        assert lines[3:] == ["1 b in the last 30 s"]
    finally:
        logger.removeHandler(handler)
