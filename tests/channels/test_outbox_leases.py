"""Several senders on one outbox: a restart takes back only what dead senders held.

Each claim records its sender (``host:pid``) and a lease. These scenarios are the
multi-worker deployment on PostgreSQL (and two processes on one SQLite file): a worker
restarting must not requeue a live worker's messages, or a person would get them twice.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import Engine, text

from cm_bot.domain import Outbound
from cm_bot.storage import outbox
from cm_bot.storage.db import current_revision, downgrade, head_revision, transaction, upgrade
from cm_bot.storage.models import Outbox, utcnow
from cm_bot.storage.repository import SqlStore
from tests.support.telegram import BotFactory, outbox_row

ALIVE = "other-host:4242"  # a sender on another host: only its lease can tell it died


def queue(db: Engine, *chats: str) -> list[int]:
    store = SqlStore(db)
    ids = []
    for n, chat in enumerate(chats):
        with store.unit() as uow:
            ids.append(uow.outbox.enqueue(Outbound(channel="telegram", chat_id=chat, text=f"m{n}")))
    return ids


def statuses(db: Engine, ids: list[int]) -> list[str]:
    return [outbox_row(db, i).status for i in ids]


def dead_local_worker() -> str:
    """The name a process on this host had, once it has exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return f"{socket.gethostname()}:{child.stdout.strip()}"


def test_a_restarting_sender_leaves_a_live_senders_claims_alone(db: Engine) -> None:
    first, second = queue(db, "1001", "1002")
    taken, _ = outbox.claim_heads(db, "telegram", limit=10, worker=ALIVE)
    assert {i.id for i in taken} == {first, second}
    assert outbox.mark_sending(db, second, worker=ALIVE)

    assert outbox.recover(db, "telegram", worker="this-host:1") == (0, 0)

    assert statuses(db, [first, second]) == ["claimed", "sending"]
    # ... and the restarted sender does not take those chats' messages either.
    assert outbox.claim_heads(db, "telegram", limit=10, worker="this-host:1") == ([], False)


def test_a_senders_rows_are_taken_back_once_its_lease_ran_out(db: Engine) -> None:
    first, second = queue(db, "1001", "1002")
    outbox.claim_heads(db, "telegram", limit=10, worker=ALIVE)
    outbox.mark_sending(db, second, worker=ALIVE)

    soon = utcnow() + timedelta(minutes=1)
    assert outbox.recover(db, "telegram", worker="me:1", now=soon, starting=False) == (0, 0)
    later = utcnow() + outbox.LEASE + timedelta(seconds=1)
    assert outbox.recover(db, "telegram", worker="me:1", now=later, starting=False) == (1, 1)

    # The claimed one goes out again; the one that was being sent is left for a person.
    assert statuses(db, [first, second]) == ["pending", "unknown"]


def test_a_dead_process_on_this_host_is_recovered_at_once(db: Engine) -> None:
    first, second = queue(db, "1001", "1002")
    dead = dead_local_worker()
    outbox.claim_heads(db, "telegram", limit=10, worker=dead)
    outbox.mark_sending(db, second, worker=dead)

    assert outbox.recover(db, "telegram", worker="me:1", starting=False) == (1, 1)
    assert statuses(db, [first, second]) == ["pending", "unknown"]


def test_a_restart_under_the_same_name_takes_back_its_rows_but_a_sweep_does_not(
    db: Engine,
) -> None:
    (only,) = queue(db, "1001")
    outbox.claim_heads(db, "telegram", limit=10, worker="box:1")

    # While running, the periodic sweep must not take the sender's own live claim.
    assert outbox.recover(db, "telegram", worker="box:1", starting=False) == (0, 0)
    # A process starting under that name (a container restarted as pid 1) is its successor.
    assert outbox.recover(db, "telegram", worker="box:1", starting=True) == (1, 0)
    assert statuses(db, [only]) == ["pending"]


def test_a_sender_whose_claim_was_taken_back_does_not_send_it(db: Engine) -> None:
    (only,) = queue(db, "1001")
    outbox.claim_heads(db, "telegram", limit=10, worker=ALIVE)
    later = utcnow() + outbox.LEASE + timedelta(seconds=1)
    outbox.recover(db, "telegram", worker="me:1", now=later, starting=False)
    taken, _ = outbox.claim_heads(db, "telegram", limit=10, worker="me:1")
    assert [i.id for i in taken] == [only]

    # The slow sender wakes up: the row is no longer its own, so it must not go.
    assert not outbox.mark_sending(db, only, worker=ALIVE)
    assert outbox.mark_sending(db, only, worker="me:1")
    with transaction(db) as session:
        row = session.get(Outbox, only)
        assert row is not None
        assert (row.status, row.attempts, row.claimed_by) == ("sending", 1, "me:1")


async def test_two_senders_on_one_outbox_deliver_each_message_once_in_order(
    make_bot: BotFactory,
) -> None:
    first = await make_bot()
    second = await make_bot(api=first.api)
    second.runtime.sender.worker = ALIVE  # as if on another host
    chats = [str(7000 + n % 20) for n in range(120)]
    ids = queue(first.db, *chats)

    for bot in (first, second):
        await bot.runtime.backend.start()
    try:
        sent = await asyncio.gather(first.runtime.sender.drain(), second.runtime.sender.drain())
    finally:
        for bot in (first, second):
            await bot.runtime.backend.stop()

    assert sum(sent) == len(ids)
    assert all(s > 0 for s in sent), "both senders took part"
    assert set(statuses(first.db, ids)) == {"sent"}
    delivered: dict[int, list[str]] = defaultdict(list)
    for message in first.api.sent:
        delivered[message.chat_id].append(message.text or "")
    expected: dict[int, list[str]] = defaultdict(list)
    for n, chat in enumerate(chats):
        expected[int(chat)].append(f"m{n}")
    assert delivered == expected  # each once, and each chat's in the order queued


def test_rows_in_flight_when_upgrading_to_leases_are_taken_back_at_start_up(db: Engine) -> None:
    first, second = queue(db, "1001", "1002")
    downgrade(db, "0003")  # the schema before leases, with a sender stopped mid-send
    with db.begin() as conn:
        conn.execute(text("UPDATE outbox SET status = 'claimed' WHERE id = :i"), {"i": first})
        conn.execute(text("UPDATE outbox SET status = 'sending' WHERE id = :i"), {"i": second})
    upgrade(db)
    assert current_revision(db) == head_revision(db)

    assert outbox.recover(db, "telegram", worker="me:1") == (1, 1)
    assert statuses(db, [first, second]) == ["pending", "unknown"]
