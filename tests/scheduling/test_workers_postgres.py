"""Three worker processes dispatching 10,000 due contacts on PostgreSQL send each exactly once."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlmodel import col

from cm_bot.storage.db import transaction
from cm_bot.storage.models import Case, ChannelIdentity, Client, Outbox, ScheduledContact
from tests.scheduling import _worker

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CONTACTS = 10_000
WORKERS = 3
FLOW = """\
id: ping
version: 1
kind: followup
title: Ping
steps:
  - id: hello
    type: message
    text: Hello from the program. Reply any time if you would like to talk.
"""


def _seed(db: Engine, due: datetime) -> None:
    ids = range(1, CONTACTS + 1)
    with transaction(db) as session:
        session.execute(
            insert(Client), [{"id": i, "status": "active", "created_at": due} for i in ids]
        )
        session.execute(
            insert(ChannelIdentity),
            [
                {
                    "client_id": i,
                    "channel": "telegram",
                    "external_user_id": str(10_000_000 + i),
                    "chat_id": str(10_000_000 + i),
                    "created_at": due,
                }
                for i in ids
            ],
        )
        session.execute(
            insert(Case),
            [
                {"id": i, "ref": f"C-{i:05d}", "client_id": i, "status": "exited", "opened_at": due}
                for i in ids
            ],
        )
        session.execute(
            insert(ScheduledContact),
            [
                {
                    "case_id": i,
                    "client_id": i,
                    "flow_id": "ping",
                    "kind": "followup",
                    "due_at": due - timedelta(seconds=i % 600),  # a cohort, all due
                    "status": "pending",
                    "attempts": 0,
                    "failures": 0,
                    "dedupe_key": f"load:{i}",
                    "created_at": due,
                    "updated_at": due,
                }
                for i in ids
            ],
        )


def test_three_processes_send_ten_thousand_contacts_each_exactly_once(
    request: pytest.FixtureRequest, db: Engine, database_url: str, tmp_path: Path
) -> None:
    if request.config.getoption("--db") != "postgres":
        pytest.skip("several workers need PostgreSQL (SKIP LOCKED); SQLite is one process")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "ping.yaml").write_text(FLOW, encoding="utf-8")
    now = datetime(2030, 6, 3, 12, tzinfo=UTC)  # 12:00 UTC: inside contact hours
    _seed(db, now)

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(
            target=_worker.work,
            args=(database_url, str(flows), now.isoformat(), start, results),
        )
        for _ in range(WORKERS)
    ]
    began = time.monotonic()
    try:
        for process in processes:
            process.start()
        reports = [results.get(timeout=300) for _ in processes]
        for process in processes:
            process.join(timeout=30)
            assert process.exitcode == 0
    finally:
        for process in processes:  # never leave a worker holding the test schema
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
    elapsed = time.monotonic() - began

    with transaction(db) as session:
        per_client = dict(
            session.execute(
                select(col(Outbox.client_id), func.count()).group_by(col(Outbox.client_id))
            ).all()
        )
        statuses = dict(
            session.execute(
                select(col(ScheduledContact.status), func.count()).group_by(
                    col(ScheduledContact.status)
                )
            ).all()
        )
        attempts = set(session.execute(select(col(ScheduledContact.attempts)).distinct()).scalars())
        workers = set(
            session.execute(select(col(ScheduledContact.claimed_by)).distinct()).scalars()
        )
    # Sent once each; the one-message flow ended at once, so each is also answered.
    assert statuses == {"answered": CONTACTS}
    assert attempts == {1}
    assert len(per_client) == CONTACTS
    assert set(per_client.values()) == {2}  # the message and the closing line, once each
    assert sum(sent for _name, sent in reports) == CONTACTS
    assert all(sent > 0 for _name, sent in reports), reports  # all three took part
    assert workers == {name for name, _sent in reports}
    # About 45 s on this 2-core machine; the bound only catches workers waiting on each
    # other (lock waits instead of SKIP LOCKED), with room for a busy machine.
    assert elapsed < 240, f"took {elapsed:.0f}s"
