"""The fault matrix F-01…F-17 (README, Reliability), each on the real bot process.

Every test starts ``cm-bot run`` as a subprocess against the Bot API emulator and this
run's database (SQLite, or PostgreSQL with ``--db postgres``), injects one fault and checks
the outcome the table promises. Faults that need a hook inside the bot (a kill at an exact
point, a handler that always fails, SQLite's lock wait) come from ``_faulty_bot.py``,
which patches them in and then runs the real command line; restarts run the plain
``cm-bot run``. What people must see comes from the same engine driven directly, so a
message lost, repeated or out of order is a difference in the transcript.

All seventeen apply to this design, so none is skipped. Both Telegram backends behave the
same (tests/channels runs everything on both); the matrix alternates them, which covers
both without doubling its run time.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlmodel import col

from cm_bot.channels.telegram_runtime import SECRET_HEADER
from cm_bot.scheduling.plan import aware
from cm_bot.storage.models import Client, Flag, InboundMessage, Outbox, Response, ScheduledContact
from cm_bot.testing.bot_process import BotProcess
from tests.scheduling.support import add_contact
from tests.support.faults import (
    MANAGER_CHAT,
    SECRET,
    WAIT,
    PostgresCut,
    Rig,
    RoundRobin,
    SqliteLocked,
    local_webhook,
)
from tests.support.records import inbox_statuses
from tests.support.telegram import Line, message_update

pytestmark = pytest.mark.slow

USER = 7_000_001
OTHER = 7_000_002
CONSENT = ("hello", "yes", "yes", "no")  # consent, ending with the intake's first question
INTAKE = ("good", "3", "mold, pests", "yes")
FOLLOWUP_OPENING = "Hi! Do you have 2 minutes?"
FOLLOWUP_SENDS = 1  # the follow-up's opening is its first question (Yes / Not now / Stop)
SORRY = "Sorry, something went wrong with your last message."


def flat(replies: list[list[Line]]) -> list[Line]:
    return [message for step in replies for message in step]


def telegram_inbox(rig: Rig) -> list[InboundMessage]:
    return rig.rows(InboundMessage, col(InboundMessage.channel) == "telegram")


def outbox_to(rig: Rig, chat: int) -> list[Outbox]:
    return rig.rows(Outbox, col(Outbox.chat_id) == str(chat))


async def post(session: aiohttp.ClientSession, url: str, body: Any, secret: str | None) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with session.post(url, json=body, headers=headers) as response:
        return response.status


async def cli(bot: BotProcess, *args: str) -> str:
    """Run one ``cm-bot`` command on the bot's settings and database; its standard output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cm_bot",
        *args,
        env=bot.env,
        cwd=bot.cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 0, err.decode(errors="replace")
    return out.decode()


# -- crashes ----------------------------------------------------------------------------------


async def test_f01_killed_before_the_answer_commits_the_update_is_processed_once(rig: Rig) -> None:
    """F-01: kill -9 halfway through a handler, after the answer row is written, before commit.

    On restart the update is processed once: no partial answer, and one reply.
    """
    texts = (*CONSENT, *INTAKE)
    replies = rig.replies(texts)
    client_id = rig.link(USER).client_id
    bot = await rig.start(rig.bot(backend="ptb", fault="kill-before-commit:intake.mood"))
    await rig.converse(USER, CONSENT, replies[: len(CONSENT)])
    await rig.api.post_message(USER, INTAKE[0])  # answers "How are you today?"; the bot dies
    await rig.dead(bot)
    assert rig.rows(Response, col(Response.client_id) == client_id) == []  # nothing half-saved
    assert [i.status for i in telegram_inbox(rig)][-1] == "pending"  # the update is kept
    assert rig.transcript(USER) == flat(replies[: len(CONSENT)])

    await rig.start(rig.restarted(bot))
    await rig.api.wait_for_sent(len(flat(replies[:5])), chat_id=USER, timeout=WAIT)
    await rig.converse(USER, INTAKE[1:], replies[5:])
    await rig.quiet()

    assert rig.transcript(USER) == flat(replies)  # one reply to the interrupted answer
    answers = rig.rows(Response, col(Response.client_id) == client_id)
    assert [a.key for a in answers] == [
        "intake.mood",
        "intake.worry",
        "intake.housing",
        "intake.safe",
    ]
    assert [i.status for i in telegram_inbox(rig)] == ["done"] * len(texts)


async def test_f02_killed_after_commit_before_the_send_the_replies_go_out_once(rig: Rig) -> None:
    """F-02: kill after the turn committed, before the outbox sent its replies.

    The messages are sent exactly once after restart.
    """
    replies = rig.replies(CONSENT)
    rig.link(USER)
    bot = await rig.start(rig.bot(backend="ptb", fault=f"kill-after-commit:{USER}"))
    await rig.api.post_message(USER, CONSENT[0])
    await rig.dead(bot)
    assert rig.api.sent_to(USER) == []
    assert [r.status for r in outbox_to(rig, USER)] == ["pending"] * len(replies[0])

    await rig.start(rig.restarted(bot))
    await rig.api.wait_for_sent(len(replies[0]), chat_id=USER, timeout=WAIT)
    await rig.converse(USER, CONSENT[1:], replies[1:])  # later replies follow, none repeated
    await rig.quiet()

    assert rig.transcript(USER) == flat(replies)
    assert {r.status for r in outbox_to(rig, USER)} == {"sent"}


async def test_f03_killed_after_send_before_marked_sent_is_unknown_never_resent(rig: Rig) -> None:
    """F-03: kill after sendMessage returned, before the outbox row was marked sent.

    The row ends up "unknown" (policy: Telegram may have delivered it) and there is no
    blind resend; the chat's later messages still go out.
    """
    replies = rig.replies(CONSENT)
    rig.link(USER)
    bot = await rig.start(rig.bot(fault=f"kill-after-send:{USER}"))
    await rig.api.post_message(USER, CONSENT[0])
    await rig.dead(bot)
    assert rig.transcript(USER) == replies[0][:1]  # Telegram has it; the bot never wrote so
    assert [r.status for r in outbox_to(rig, USER)][:1] == ["sending"]

    restarted = await rig.start(rig.restarted(bot))
    await rig.api.wait_for_sent(len(replies[0]), chat_id=USER, timeout=WAIT)
    await rig.converse(USER, CONSENT[1:], replies[1:])
    await rig.quiet()

    assert rig.transcript(USER) == flat(replies)  # the first message once: not resent
    statuses = [r.status for r in outbox_to(rig, USER)]
    assert statuses == ["unknown"] + ["sent"] * (len(statuses) - 1)
    assert "1 outcome unknown" in restarted.output()


# -- webhooks ---------------------------------------------------------------------------------


async def test_f04_the_same_webhook_update_twice_in_a_row_and_at_once_is_processed_once(
    rig: Rig,
) -> None:
    """F-04: the same webhook update posted twice, one after the other and concurrently.

    One inbox row, one processing, 200 to both.
    """
    replies = rig.replies(CONSENT[:3])
    rig.link(USER)
    bot = await rig.start(rig.bot(backend="ptb", webhook=True))
    url = local_webhook(bot)
    hello = message_update(90_001, CONSENT[0], user=USER, message_id=1)
    yes = message_update(90_002, CONSENT[1], user=USER, message_id=2)
    async with aiohttp.ClientSession() as session:
        in_a_row = [await post(session, url, hello, SECRET) for _ in range(2)]
        at_once = await asyncio.gather(*(post(session, url, yes, SECRET) for _ in range(2)))
    assert in_a_row == [200, 200]
    assert at_once == [200, 200]
    await rig.api.wait_for_sent(len(flat(replies[:2])), chat_id=USER, timeout=WAIT)
    await rig.converse(USER, CONSENT[2:3], replies[2:3])  # a second processing would show here
    await rig.quiet()

    assert rig.transcript(USER) == flat(replies)
    assert [i.external_id.split(":")[0] for i in telegram_inbox(rig)][:2] == ["90001", "90002"]
    assert len(telegram_inbox(rig)) == 3


async def test_f05_database_away_during_a_webhook_gives_503_then_one_processing(
    rig: Rig, outage: SqliteLocked | PostgresCut
) -> None:
    """F-05: the database is unavailable while Telegram delivers an update to the webhook.

    The bot answers 503 so Telegram retries; once the database is back, exactly one
    processing. (SQLite: another connection holds the write lock; PostgreSQL: the
    connection to the server is cut.)
    """
    replies = rig.replies(CONSENT[:2])
    rig.link(USER)
    bot = rig.bot(webhook=True, database_url=outage.bot_url, fault=outage.fault)
    await rig.start(bot)
    await outage.begin()
    try:
        await rig.api.post_message(USER, CONSENT[0])
        await rig.api.wait_until(
            lambda: any(a.status == 503 for a in rig.api.webhook_attempts),
            timeout=WAIT,
            what="a delivery refused with 503",
        )
    finally:
        await outage.end()
    await rig.api.wait_for_sent(len(replies[0]), chat_id=USER, timeout=WAIT)
    await rig.converse(USER, CONSENT[1:2], replies[1:2])
    await rig.quiet()

    statuses = [a.status for a in rig.api.webhook_attempts if a.update_id == 1]
    assert statuses[-1] == 200 and set(statuses[:-1]) == {503}, statuses
    assert "could not record a webhook update" in bot.output()  # 503 because of the database
    assert rig.transcript(USER) == flat(replies)
    assert len(telegram_inbox(rig)) == 2


# -- polling ----------------------------------------------------------------------------------


async def test_f06_a_polling_restart_given_already_processed_updates_does_not_redo_them(
    rig: Rig,
) -> None:
    """F-06: polling restarts with an unconfirmed backlog; getUpdates returns ids already processed.

    No reprocessing.
    """
    replies = rig.replies(CONSENT)
    rig.link(USER)
    bot = await rig.start(rig.bot(backend="ptb"))
    await rig.converse(USER, CONSENT[:1], replies[:1])
    update = await rig.api.post_message(USER, CONSENT[1])
    # The getUpdates that would confirm it fails from now on: it stays in Telegram's queue.
    rig.api.fail_next("getUpdates", status=502, times=1_000)
    await rig.api.wait_for_sent(len(flat(replies[:2])), chat_id=USER, timeout=WAIT)
    assert await bot.stop() == 0
    assert [u["update_id"] for u in rig.api.pending_updates] == [update["update_id"]]

    rig.api.clear_faults()
    await rig.start(bot)
    await rig.api.wait_until(lambda: not rig.api.pending_updates, timeout=WAIT, what="the backlog")
    await rig.converse(USER, CONSENT[2:], replies[2:])
    await rig.quiet()

    assert rig.transcript(USER) == flat(replies)  # "yes" was answered once, not twice
    assert len(telegram_inbox(rig)) == len(CONSENT)


async def test_f07_update_ids_restarting_lower_are_processed_not_dropped(rig: Rig) -> None:
    """F-07: update_id re-randomised lower than the last one seen (B-24).

    Accepted and processed, not dropped as a duplicate, also when an id comes round again.
    """
    replies = rig.replies(CONSENT)
    rig.link(USER)
    rig.api.set_next_update_id(500_000)
    await rig.start(rig.bot())
    await rig.converse(USER, CONSENT[:2], replies[:2])  # ids 500000, 500001
    rig.api.set_next_update_id(499_999)  # lower; the second one reuses 500000
    await rig.converse(USER, CONSENT[2:], replies[2:])
    await rig.quiet()

    assert rig.transcript(USER) == flat(replies)
    ids = [int(i.external_id.split(":")[0]) for i in telegram_inbox(rig)]
    assert ids == [500_000, 500_001, 499_999, 500_000]


# -- sending ----------------------------------------------------------------------------------


async def test_f08_a_429_holds_that_chat_for_retry_after_and_no_other_chat(rig: Rig) -> None:
    """F-08: sendMessage answered 429 with retry_after=7.

    That chat is held for at least 7 s, then sent to; the other chat is not held.
    """
    replies = rig.replies(CONSENT[:1])
    rig.link(USER)
    rig.link(OTHER)
    await rig.start(rig.bot(backend="ptb"))
    rig.api.fail_next("sendMessage", status=429, retry_after=7, chat_id=USER)
    await rig.api.post_message(USER, CONSENT[0])
    await rig.api.post_message(OTHER, CONSENT[0])
    await rig.api.wait_for_sent(len(replies[0]), chat_id=USER, timeout=WAIT)
    await rig.api.wait_for_sent(len(replies[0]), chat_id=OTHER, timeout=WAIT)
    await rig.quiet()

    (refused,) = [f for f in rig.api.faults_fired if f.status == 429]
    first = rig.api.sent_to(USER)[0]
    assert first.time - refused.time >= 7
    assert all(m.time < first.time for m in rig.api.sent_to(OTHER))  # the other chat went first
    assert rig.transcript(USER) == rig.transcript(OTHER) == flat(replies)


async def test_f09_a_read_timeout_is_unknown_not_retried_and_shown_to_staff(rig: Rig) -> None:
    """F-09: sendMessage read time-out (Telegram took the message; the answer never came).

    Not retried automatically; marked "unknown"; staff can see it: the next dispatch pass
    flags it to the case manager, and the case export shows it.
    """
    replies = rig.replies(CONSENT[:2])
    linked = rig.link(USER)
    rig.manager_on_telegram()
    bot = await rig.start(rig.bot(telegram_request_timeout="2"))
    rig.api.timeout_next("sendMessage", 10, accepted=True, chat_id=USER)
    await rig.converse(USER, CONSENT[:2], replies)
    await rig.quiet()

    assert rig.transcript(USER) == flat(replies)  # the timed-out message once, never resent
    assert rig.api.calls["sendMessage"] == len(flat(replies))
    statuses = [r.status for r in outbox_to(rig, USER)]
    assert statuses == ["unknown"] + ["sent"] * (len(statuses) - 1)
    export = json.loads(await cli(bot, "export", linked.ref, "--format", "json"))
    shown = [(m["text"], m["status"]) for m in export["messages_to_client"]]
    assert (replies[0][0][0], "unknown") in shown
    await cli(bot, "schedule", "run-due")
    await rig.api.wait_for_sent(1, chat_id=MANAGER_CHAT, timeout=WAIT)  # the case manager told
    assert [f.rule_id for f in rig.rows(Flag)] == ["send_unknown"]


async def test_f10_connection_refused_is_retried_with_backoff_and_sent_once(rig: Rig) -> None:
    """F-10: sendMessage → connection refused (the Bot API port is closed).

    Retried with backoff and sent once. Updates arrive by webhook meanwhile.
    """
    replies = rig.replies(CONSENT[:2])
    rig.link(USER)
    bot = await rig.start(rig.bot(backend="ptb", webhook=True))
    await rig.api.outage(True, mode="refuse")
    try:
        await rig.api.post_message(USER, CONSENT[0])

        def refused_twice() -> bool:  # tried, failed, and waiting to try again, twice
            return any(r.attempts >= 2 and r.status == "pending" for r in outbox_to(rig, USER))

        await rig.eventually(refused_twice, what="two refused attempts")
    finally:
        await rig.api.outage(False)
    await rig.api.wait_for_sent(len(replies[0]), chat_id=USER, timeout=WAIT)
    await rig.converse(USER, CONSENT[1:2], replies[1:2])
    await rig.quiet()

    assert rig.transcript(USER) == flat(replies)
    first = outbox_to(rig, USER)[0]
    assert first.status == "sent" and first.attempts >= 3
    waits = [float(s) for s in re.findall(rf"outbox {first.id}: retry in ([\d.]+)s", bot.output())]
    assert len(waits) >= 2 and waits == sorted(waits) and waits[-1] > waits[0]  # backing off


async def test_f11_a_403_blocked_marks_unreachable_cancels_followups_flags_staff(rig: Rig) -> None:
    """F-11: sendMessage → 403, the person blocked the bot.

    Client marked unreachable, follow-ups cancelled, staff flagged, no retry.
    """
    who = rig.consented(USER)
    now = datetime.now(UTC)
    add_contact(rig.db, who, now - timedelta(minutes=1))  # goes out at the first tick
    later = add_contact(rig.db, who, now + timedelta(days=60), dedupe_key="later")
    rig.api.block_chat(USER)
    await rig.start(rig.bot(tick_seconds="0.5"))
    await rig.api.wait_for_sent(1, chat_id=MANAGER_CHAT, timeout=WAIT)  # the case manager told
    await rig.eventually(
        lambda: not [r for r in outbox_to(rig, USER) if r.status in ("pending", "claimed")],
        what="the client's messages given up",
    )

    tried = [
        c
        for c in rig.api.api_calls
        if c.method == "sendMessage" and int(c.params["chat_id"]) == USER
    ]
    assert [c.status for c in tried] == [403]  # tried once, never again
    assert {r.status for r in outbox_to(rig, USER)} == {"failed"}
    (client,) = rig.rows(Client, col(Client.id) == who.client_id)
    assert client.status == "unreachable"
    (contact,) = rig.rows(ScheduledContact, col(ScheduledContact.id) == later)
    assert (contact.status, contact.outcome) == ("cancelled", "unreachable")
    assert [f.rule_id for f in rig.rows(Flag, col(Flag.client_id) == who.client_id)] == ["blocked"]


# -- processing -------------------------------------------------------------------------------


async def test_f12_an_update_that_always_fails_is_dead_lettered_and_later_ones_go_on(
    rig: Rig,
) -> None:
    """F-12: the handler raises on one update every time (poison).

    Dead-lettered after 3 tries; the chat's later updates are still processed; staff alerted.
    """
    poison = "this one always breaks"
    replies = rig.replies(CONSENT)
    rig.link(USER)
    rig.manager_on_telegram()
    await rig.start(rig.bot(backend="ptb", fault=f"poison:{poison}"))
    await rig.api.post_message(USER, poison)
    await rig.converse(USER, CONSENT, replies)  # each later message retries the poison first
    await rig.api.wait_for_sent(len(flat(replies)) + 1, chat_id=USER, timeout=WAIT)
    await rig.api.wait_for_sent(1, chat_id=MANAGER_CHAT, timeout=WAIT)  # the case manager told
    await rig.quiet()

    sorry = [t for t, _ in rig.transcript(USER) if t.startswith(SORRY)]
    assert len(sorry) == 1  # the client is told once
    assert [m for m in rig.transcript(USER) if not m[0].startswith(SORRY)] == flat(replies)
    inbox = [(i.status, i.attempts) for i in telegram_inbox(rig)]
    assert inbox == [("dead", 3)] + [("done", 0)] * len(CONSENT)
    assert [f.rule_id for f in rig.rows(Flag)] == ["dead_letter"]


# -- scheduling -------------------------------------------------------------------------------


async def test_f13_a_followup_due_while_the_bot_was_down_fires_once_after_start(rig: Rig) -> None:
    """F-13: the scheduler was down over a follow-up's due time.

    The follow-up fires after recovery (no misfire drop), once.
    """
    overdue = rig.consented(USER)
    barrier = rig.consented(OTHER)
    now = datetime.now(UTC)
    add_contact(rig.db, overdue, now - timedelta(minutes=10))  # fell due while nothing ran
    bot = rig.bot(tick_seconds="0.5")
    await rig.start(bot)
    await rig.api.wait_for_sent(FOLLOWUP_SENDS, chat_id=USER, timeout=WAIT)
    # Another follow-up, due a few ticks later: when it is out, those ticks have passed.
    add_contact(rig.db, barrier, datetime.now(UTC) + timedelta(seconds=2))
    await rig.api.wait_for_sent(FOLLOWUP_SENDS, chat_id=OTHER, timeout=WAIT)
    await rig.quiet()

    assert rig.transcript(USER) == rig.transcript(OTHER)
    assert rig.transcript(USER)[0][0].startswith(FOLLOWUP_OPENING)
    assert len(outbox_to(rig, USER)) == FOLLOWUP_SENDS
    contact = rig.rows(ScheduledContact, col(ScheduledContact.client_id) == overdue.client_id)
    assert [(c.status, c.attempts) for c in contact] == [("sent", 1)]


async def test_f14_two_workers_send_every_message_and_followup_once(
    rig: Rig, balancer: RoundRobin
) -> None:
    """F-14: two worker processes behind one webhook URL, each with its scheduler and sender.

    Each follow-up is sent once (SKIP LOCKED; on SQLite the write lock serialises the two,
    which is not the supported shape but must still be correct), and every conversation
    reads exactly as with one worker.
    """
    replies = rig.replies(CONSENT)
    chatting = (USER, OTHER)
    for user in chatting:
        rig.link(user)
    followed = {7_100_000 + n: rig.consented(7_100_000 + n) for n in range(8)}
    workers = [
        rig.bot(backend=backend, webhook_url=balancer.url, tick_seconds="0.5")
        for backend in ("aiogram", "ptb")
    ]
    balancer.targets = [local_webhook(w) for w in workers]
    await rig.start(*workers)
    now = datetime.now(UTC)
    for who in followed.values():  # due at once: both schedulers reach for them
        add_contact(rig.db, who, now - timedelta(minutes=1))
    await asyncio.gather(*(rig.converse(user, CONSENT, replies) for user in chatting))
    for user in followed:
        await rig.api.wait_for_sent(FOLLOWUP_SENDS, chat_id=user, timeout=WAIT)
    await rig.quiet()

    for user in chatting:
        assert rig.transcript(user) == flat(replies)
    for user, who in followed.items():
        assert len(rig.transcript(user)) == FOLLOWUP_SENDS
        assert rig.transcript(user)[0][0].startswith(FOLLOWUP_OPENING)
        contacts = rig.rows(ScheduledContact, col(ScheduledContact.client_id) == who.client_id)
        assert [(c.status, c.attempts) for c in contacts] == [("sent", 1)]
    assert set(balancer.served) == set(balancer.targets)  # both workers took updates


async def test_f15_sigterm_during_a_burst_loses_nothing_and_repeats_nothing(rig: Rig) -> None:
    """F-15: graceful shutdown (SIGTERM) during a burst.

    In-flight work is finished or left pending, never lost; after a restart every update
    is handled once.
    """
    texts = (*CONSENT, *INTAKE[:1])
    replies = rig.replies(texts)
    users = [7_200_000 + n for n in range(10)]
    for user in users:
        rig.link(user)
    bot = await rig.start(rig.bot(backend="ptb"))
    for text in texts:
        for user in users:
            await rig.api.post_message(user, text)
    total = len(flat(replies)) * len(users)
    await rig.api.wait_until(lambda: len(rig.api.sent) >= total // 3, timeout=WAIT, what="a third")
    assert await bot.stop() == 0
    assert len(rig.api.sent) < total  # it really was stopped mid-burst

    outbox = {r.status for r in rig.rows(Outbox, col(Outbox.channel) == "telegram")}
    assert outbox <= {"pending", "sent"}  # nothing in flight was abandoned
    assert set(inbox_statuses(rig.db)) <= {"pending", "done"}
    await rig.start(bot)
    await rig.api.wait_until(lambda: len(rig.api.sent) >= total, timeout=WAIT, what="the rest")
    await rig.quiet()

    for user in users:
        assert rig.transcript(user) == flat(replies), user
    assert len(telegram_inbox(rig)) == len(texts) * len(users)


async def test_f16_webhook_without_or_with_a_wrong_secret_is_refused_and_never_logged(
    rig: Rig,
) -> None:
    """F-16: webhook requests whose secret is missing or wrong.

    401, nothing stored, and neither the secret nor the wrong value is logged.
    """
    replies = rig.replies(CONSENT[:1])
    rig.link(USER)
    bot = await rig.start(rig.bot(backend="ptb", webhook=True))
    url = local_webhook(bot)
    wrong = "whsec_Someone-Guessing-31337"
    update = message_update(91_001, CONSENT[0], user=USER)
    async with aiohttp.ClientSession() as session:
        refused = [await post(session, url, update, s) for s in (None, wrong, SECRET[:-1], "")]
        assert refused == [401] * 4
        assert telegram_inbox(rig) == []
        assert await post(session, url, update, SECRET) == 200  # the right one is taken
    await rig.api.wait_for_sent(len(replies[0]), chat_id=USER, timeout=WAIT)
    assert await bot.stop() == 0

    assert len(telegram_inbox(rig)) == 1
    log = bot.output()
    assert "without the right secret refused" in log
    assert SECRET not in log and wrong not in log and SECRET[:-1] not in log


@pytest.mark.settings(timezone="America/Los_Angeles", contact_hours="09:00-20:00")
async def test_f17_a_followup_across_a_dst_change_and_clock_jumps_fires_once_at_local_time(
    rig: Rig,
) -> None:
    """F-17: a follow-up due on the morning clocks spring forward, with the clock jumping.

    The 30-day follow-up of a case exited on 12 Feb 2027 is due on 14 Mar 2027, the day
    Los Angeles moves from PST to PDT at 02:00. Dispatch passes run (``cm-bot schedule
    run-due --now``) before and after the change, just before the due time, at it, and
    after the clock jumps back an hour and forward a day. It fires once, at the intended
    local time (10:00 PDT plus the cohort spread), and the running bot delivers it once.
    """
    zone = ZoneInfo("America/Los_Angeles")
    who = rig.consented(USER)  # no zone of their own: the program's, Los Angeles
    with rig.app.store.unit() as uow:
        uow.cases.exit_case(who.case_id, datetime(2027, 2, 12, tzinfo=UTC))
    (contact,) = [
        c
        for c in rig.rows(ScheduledContact, col(ScheduledContact.case_id) == who.case_id)
        if c.planned_for == date(2027, 3, 14)
    ]
    due = aware(contact.due_at)
    local = due.astimezone(zone)
    assert local.utcoffset() == timedelta(hours=-7)  # daylight time, the day it begins
    assert time(10) <= local.time() < time(10, 15)  # 10:00, spread within 15 minutes

    bot = await rig.start(rig.bot())
    change = datetime(2027, 3, 14, 10, tzinfo=UTC)  # 02:00 PST becomes 03:00 PDT
    passes = [
        (change - timedelta(minutes=1), 0),  # 01:59 PST
        (change + timedelta(minutes=1), 0),  # 03:01 PDT
        (due - timedelta(minutes=1), 0),
        (due, 1),
        (due - timedelta(hours=1), 0),  # the clock is set back an hour
        (due + timedelta(days=1), 0),  # and jumps a day ahead
    ]
    for moment, expected in passes:
        report = await cli(bot, "schedule", "run-due", "--now", moment.isoformat())
        assert f"sent {expected}," in report, (moment, report)
    await rig.api.wait_for_sent(FOLLOWUP_SENDS, chat_id=USER, timeout=WAIT)
    await rig.quiet()

    assert len(rig.transcript(USER)) == FOLLOWUP_SENDS  # the opening question, once
    assert rig.transcript(USER)[0][0].startswith(FOLLOWUP_OPENING)
    assert [r.status for r in outbox_to(rig, USER)] == ["sent"] * FOLLOWUP_SENDS
    (after,) = rig.rows(ScheduledContact, col(ScheduledContact.id) == contact.id)
    assert (after.status, after.attempts) == ("sent", 1)
    assert after.sent_at is not None and aware(after.sent_at).astimezone(zone) == local
