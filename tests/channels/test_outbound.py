"""The outbox sender through each framework: splitting, 429, time-outs, drops, 403, priority,
and Telegram's flood limits."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from cm_bot.domain import Priority
from cm_bot.notify.sender import Limits, RateLimiter
from cm_bot.storage import outbox
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case, Client, Flag, ScheduledContact, utcnow
from cm_bot.testing import FakeBotAPI, RateLimits
from tests.support.telegram import Bot, BotFactory, outbox_row

CHAT = 5554001
OTHER = 5554002


async def running(make_bot: BotFactory, **options: object) -> Bot:
    bot = await make_bot(**options)
    await bot.start_polling()
    return bot


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def texts_to(bot: Bot, chat_id: int) -> list[str]:
    return [m.text or "" for m in bot.api.sent_to(chat_id)]


def send_attempts(bot: Bot, chat_id: int) -> int:
    return sum(
        1
        for call in bot.api.api_calls
        if call.method == "sendMessage" and str(call.params.get("chat_id")) == str(chat_id)
    )


async def test_long_message_is_split_without_breaking_a_character(make_bot: BotFactory) -> None:
    bot = await running(make_bot)
    text = "😀" * 5000  # 10,000 UTF-16 units
    outbox_id = bot.enqueue(CHAT, text, buttons=["OK"])
    await bot.quiet()
    parts = bot.api.sent_to(CHAT)
    assert len(parts) == 3
    for part in parts:
        assert part.text is not None
        assert 0 < units(part.text) <= 4096
        part.text.encode("utf-16-le")  # a broken surrogate pair would not encode
    assert "".join(p.text or "" for p in parts) == text
    assert [p.reply_markup is not None for p in parts] == [False, False, True]
    row = outbox_row(bot.db, outbox_id)
    assert row.status == "sent"
    assert row.external_message_id == ",".join(str(p.message_id) for p in parts)


def _seed_failing_only(call: int, calls: int, ratio: float) -> int:
    """A seed for which ``fail_ratio`` fails the ``call``-th call (from 1) and no other."""
    for seed in range(10_000):
        rng = random.Random(seed)
        failed = []
        for _ in range(calls):
            if rng.random() < ratio:
                rng.choice((429,))
                failed.append(True)
            else:
                failed.append(False)
        if failed == [n == call for n in range(1, calls + 1)]:
            return seed
    raise AssertionError("no seed")


async def test_a_long_message_resumes_after_the_parts_already_sent(make_bot: BotFactory) -> None:
    bot = await make_bot()
    seed = _seed_failing_only(2, 4, 0.5)
    bot.api.fail_ratio("sendMessage", 0.5, statuses=(429,), seed=seed, retry_after=1)
    text = "😀" * 5000
    outbox_id = bot.enqueue(CHAT, text)
    await bot.start_polling()
    await bot.quiet()
    # Part 2 was refused once (429) and sent again; part 1 was not repeated.
    assert send_attempts(bot, CHAT) == 4
    assert "".join(texts_to(bot, CHAT)) == text
    assert len(texts_to(bot, CHAT)) == 3
    assert outbox_row(bot.db, outbox_id).status == "sent"


async def test_429_is_honoured_and_other_chats_go_on(make_bot: BotFactory) -> None:
    bot = await make_bot()
    bot.api.fail_next("sendMessage", status=429, retry_after=1, chat_id=CHAT)
    held = bot.enqueue(CHAT, "held back once")
    other = bot.enqueue(OTHER, "not held back")
    await bot.start_polling()
    await bot.quiet()
    [refused] = [f for f in bot.api.faults_fired if f.status == 429]
    [sent] = bot.api.sent_to(CHAT)
    [other_sent] = bot.api.sent_to(OTHER)
    assert sent.text == "held back once"
    assert sent.time >= refused.time + 1.0  # retry_after honoured
    assert other_sent.time < refused.time + 1.0  # the other chat did not wait
    assert send_attempts(bot, CHAT) == 2
    row = outbox_row(bot.db, held)
    assert (row.status, row.attempts) == ("sent", 2)
    assert outbox_row(bot.db, other).status == "sent"


async def test_read_timeout_is_unknown_and_never_resent(make_bot: BotFactory) -> None:
    bot = await running(make_bot, request_timeout=1.0)
    # Telegram takes the message, then answers too late for the client.
    bot.api.timeout_next("sendMessage", 3.0, accepted=True, chat_id=CHAT)
    first = bot.enqueue(CHAT, "maybe delivered")
    await bot.quiet()
    row = outbox_row(bot.db, first)
    assert row.status == "unknown"
    assert row.attempts == 1
    later = bot.enqueue(CHAT, "after it")
    await bot.quiet()
    assert texts_to(bot, CHAT) == ["maybe delivered", "after it"]  # once, not twice
    assert send_attempts(bot, CHAT) == 2
    assert [(f.kind, f.accepted) for f in bot.api.faults_fired] == [("timeout", True)]
    assert outbox_row(bot.db, later).status == "sent"


async def test_dropped_connection_is_retried_and_sent_once(make_bot: BotFactory) -> None:
    bot = await running(make_bot)
    bot.api.drop_connection_next("sendMessage", chat_id=CHAT)
    outbox_id = bot.enqueue(CHAT, "try again")
    await bot.quiet()
    assert [(f.kind, f.accepted) for f in bot.api.faults_fired] == [("drop", False)]
    assert texts_to(bot, CHAT) == ["try again"]
    row = outbox_row(bot.db, outbox_id)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_refused_connection_is_retried_and_sent_once(make_bot: BotFactory) -> None:
    bot = await running(make_bot)
    await bot.api.outage(True, mode="refuse")
    outbox_id = bot.enqueue(CHAT, "when you are back")

    def tried() -> bool:
        row = outbox_row(bot.db, outbox_id)
        return row.attempts >= 1 and row.status == "pending"

    await bot.runtime.until(tried)
    assert outbox_row(bot.db, outbox_id).error in (
        "could not connect",
        "connection closed before an answer",
    )
    await bot.api.outage(False)
    await bot.quiet()
    assert texts_to(bot, CHAT) == ["when you are back"]
    assert outbox_row(bot.db, outbox_id).status == "sent"


async def test_after_an_outage_messages_in_back_off_go_as_soon_as_telegram_answers(
    make_bot: BotFactory,
) -> None:
    """The soak's finding: the backlog drained at the pace of the back-off, not of Telegram."""
    bot = await running(make_bot)
    await bot.api.outage(True, mode="json")  # 502s: no retry_after, so the wait is a guess
    waiting = [bot.enqueue(CHAT, "first"), bot.enqueue(OTHER, "second")]

    def backing_off() -> bool:  # four failures: the next try is 8 s away
        return all(outbox_row(bot.db, i).attempts >= 4 for i in waiting)

    await bot.runtime.until(backing_off)
    planned = {i: outbox_row(bot.db, i).next_attempt_at for i in waiting}
    await bot.api.outage(False)
    bot.enqueue(5554003, "new, due now")  # its success shows Telegram is back
    await bot.quiet()

    for outbox_id in waiting:
        row = outbox_row(bot.db, outbox_id)
        due = planned[outbox_id]
        assert row.status == "sent" and row.sent_at is not None and due is not None
        assert row.sent_at < due.replace(tzinfo=row.sent_at.tzinfo)  # did not wait it out
    assert texts_to(bot, CHAT) == ["first"] and texts_to(bot, OTHER) == ["second"]


async def test_blocked_client_is_unreachable_follow_ups_cancelled_one_flag(
    make_bot: BotFactory,
) -> None:
    bot = await running(make_bot)
    client_id = bot.link(CHAT)
    with transaction(bot.db) as session:
        case_id = session.execute(
            select(col(Case.id)).where(col(Case.client_id) == client_id)
        ).scalar_one()
        for days in (7, 30):
            session.add(
                ScheduledContact(
                    case_id=case_id,
                    client_id=client_id,
                    flow_id="intake",
                    kind="followup",
                    due_at=utcnow() + timedelta(days=days),
                )
            )
    bot.api.block_chat(CHAT)
    ids = [bot.enqueue(CHAT, f"message {n}", client_id=client_id) for n in range(3)]
    await bot.quiet()
    assert send_attempts(bot, CHAT) == 1  # the first 403 ends it: no retry, no more tries
    assert [outbox_row(bot.db, i).status for i in ids] == ["failed"] * 3
    # A later message meets the same wall: still one flag.
    bot.enqueue(CHAT, "one more", client_id=client_id)
    await bot.quiet()
    with transaction(bot.db) as session:
        client = session.get(Client, client_id)
        assert client is not None and client.status == "unreachable"
        contacts = session.execute(select(ScheduledContact)).scalars().all()
        assert [c.status for c in contacts] == ["cancelled", "cancelled"]
        flags = session.execute(select(Flag)).scalars().all()
        assert [(f.severity, f.rule_id) for f in flags] == [("routine", "blocked")]
    assert bot.api.sent_to(CHAT) == []


async def test_urgent_notices_go_before_routine_ones(make_bot: BotFactory) -> None:
    bot = await make_bot()
    staff_chat = 5554100
    for n in range(4):
        bot.enqueue(staff_chat, f"routine {n}", priority=Priority.NORMAL)
    bot.enqueue(staff_chat, "urgent A", priority=Priority.URGENT)
    bot.enqueue(staff_chat, "high B", priority=Priority.HIGH)
    bot.enqueue(staff_chat, "urgent C", priority=Priority.URGENT)
    await bot.start_polling()
    await bot.quiet()
    assert texts_to(bot, staff_chat) == [
        "urgent A",
        "urgent C",
        "high B",
        "routine 0",
        "routine 1",
        "routine 2",
        "routine 3",
    ]


async def test_edits_change_the_sent_message_or_the_unsent_one(make_bot: BotFactory) -> None:
    bot = await running(make_bot)
    staff_chat = 5554200
    notice = bot.enqueue(staff_chat, "Flag: open", buttons=["Acknowledge"])
    await bot.quiet()
    bot.enqueue(staff_chat, "Flag: acknowledged", edit_of=notice, priority=Priority.HIGH)
    await bot.quiet()
    [sent] = bot.api.sent_to(staff_chat)
    assert [e.text for e in bot.api.edits] == ["Flag: acknowledged"]
    assert bot.api.edits[0].message_id == sent.message_id
    # An edit of a notice still waiting to go is folded into it: one message, up to date.
    await bot.stop()
    later = await make_bot(api=bot.api)
    waiting = later.enqueue(staff_chat, "Flag 2: open", buttons=["Acknowledge"])
    later.enqueue(staff_chat, "Flag 2: resolved", edit_of=waiting, priority=Priority.HIGH)
    await later.start_polling()
    await later.quiet()
    assert texts_to(later, staff_chat)[-1] == "Flag 2: resolved"
    assert len(bot.api.edits) == 1


async def test_database_away_around_a_send_loses_nothing_and_sends_once(
    make_bot: BotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await running(make_bot)
    failures = {"mark_sending": 1, "mark_sent": 2}
    for name in failures:
        real = getattr(outbox, name)

        def flaky(
            *args: object, _name: str = name, _real: object = real, **kwargs: object
        ) -> object:
            if failures[_name] > 0:
                failures[_name] -= 1
                raise ConnectionError("database went away")
            return _real(*args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(outbox, name, flaky)
    # The first cannot be marked "sending", so it must not go yet; the second goes, but
    # "sent" cannot be recorded at once.
    first = bot.enqueue(CHAT, "not yet")
    await bot.quiet()
    second = bot.enqueue(OTHER, "sent, recorded later")
    await bot.quiet()
    assert failures == {"mark_sending": 0, "mark_sent": 0}
    assert texts_to(bot, CHAT) == ["not yet"]
    assert texts_to(bot, OTHER) == ["sent, recorded later"]
    assert [outbox_row(bot.db, i).status for i in (first, second)] == ["sent", "sent"]


def busiest(times: Sequence[float], window: float) -> int:
    """Most messages within any ``window`` seconds, counted as the emulator counts them."""
    ordered = sorted(times)
    best = start = 0
    for end, now in enumerate(ordered):
        while ordered[start] <= now - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_default_limits_keep_telegrams_windows_however_late_the_answers_come() -> None:
    """Telegram counts a message when it accepts it, at some moment between our request and
    its answer. 40 chats with 6 messages each want out at once; every request is accepted
    and answered after random delays of up to 0.3 s each. Telegram still never sees more
    than 30 messages in a second or 3 to one chat in 3 s, and the 30 are reached."""
    telegram = RateLimits()
    rng = random.Random(11)
    now = 0.0
    limiter = RateLimiter(Limits(), lambda: now)
    waiting = {str(chat): 6 for chat in range(1, 41)}
    in_flight: dict[str, float] = {}  # chat -> when the answer comes back
    accepted: dict[str, list[float]] = {chat: [] for chat in waiting}
    while waiting or in_flight:
        step = now
        for chat, answered in sorted(in_flight.items(), key=lambda item: item[1]):
            if answered <= step:
                now = answered  # the answer is stamped when it arrives, not later
                limiter.sent(chat)
                del in_flight[chat]
        now = step
        for chat in list(waiting):
            if chat in in_flight or limiter.delay(chat) > 0:
                continue
            limiter.begin()
            at = now + rng.uniform(0.0, 0.3)
            accepted[chat].append(at)
            in_flight[chat] = at + rng.uniform(0.0, 0.3)
            waiting[chat] -= 1
            if not waiting[chat]:
                del waiting[chat]
        now += 0.003
    every = [at for times in accepted.values() for at in times]
    assert len(every) == 240
    assert busiest(every, 1.0) == telegram.global_per_second
    span = telegram.private_burst / telegram.private_per_second
    assert max(busiest(times, span) for times in accepted.values()) == telegram.private_burst


async def test_a_burst_with_the_default_limits_meets_no_429(make_bot: BotFactory) -> None:
    """The shipped limits against an emulator enforcing Telegram's: 6 messages for one chat
    and 3 each for 20 more, all due at once, go out once each, in order, without a 429."""
    api = FakeBotAPI(enforce_limits=True)
    await api.start()
    try:
        bot = await make_bot(api=api, limits=Limits())
        busy = [f"message {n} for {CHAT}" for n in range(6)]
        texts = list(busy)
        for text in busy:
            bot.enqueue(CHAT, text)
        for chat in range(5555000, 5555020):
            for n in range(3):
                texts.append(f"message {n} for {chat}")
                bot.enqueue(chat, texts[-1])
        await bot.start_polling()
        await asyncio.wait_for(bot.runtime.quiet(), 60)
        await bot.stop()
        assert api.rejected_429 == 0
        assert sorted(m.text or "" for m in api.sent) == sorted(texts)
        assert texts_to(bot, CHAT) == busy
        assert busiest([m.time for m in api.sent], 1.0) <= RateLimits().global_per_second
    finally:
        await api.stop()
