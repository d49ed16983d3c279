"""Transactions: SQLite's one writer per process, group commit, and what a unit remembers.

Threads take turns in the order they arrived, and a transaction returns only once its
commit is on disk, with one fsync shared by the commits made while another ran. Reads a
unit of work keeps for its transaction do not survive a rolled-back savepoint.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cm_bot.storage import create_db_engine, ensure_schema, transaction
from cm_bot.storage.db import FairLock, GroupCommit


def queued(lock: FairLock, count: int) -> bool:
    return len(lock._queue) == count


def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll until another thread got there (no time limit of our own, no timed assertion)."""
    pause = threading.Event()
    while not predicate():
        pause.wait(0.001)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
    yield engine
    engine.dispose()


class Syncs:
    """Counts the log fsyncs; ``hold()`` makes the next one wait until ``release()``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        original = GroupCommit._sync

        def sync(commit: GroupCommit, wal: str) -> None:
            self.count += 1
            self.entered.set()
            self.gate.wait()
            original(commit, wal)

        monkeypatch.setattr(GroupCommit, "_sync", sync)

    def hold(self) -> None:
        self.entered.clear()
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()


def insert_note(engine: Engine, body: str) -> None:
    with transaction(engine) as session:
        session.execute(text("INSERT INTO note (body) VALUES (:b)"), {"b": body})


def committed_notes(engine: Engine) -> set[str]:
    """What another connection sees, synced or not (a plain read, outside transaction())."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT body FROM note")).scalars().all()
        conn.rollback()
    return set(rows)


def test_threads_waiting_for_the_writer_lock_get_it_in_the_order_they_arrived() -> None:
    lock = FairLock()
    order: list[int] = []

    def take_turn(number: int) -> None:
        with lock:
            order.append(number)

    lock.acquire()
    threads = []
    for number in range(6):
        thread = threading.Thread(target=take_turn, args=(number,))
        thread.start()
        threads.append(thread)
        wait_until(functools.partial(queued, lock, number + 1))
    lock.release()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4, 5]


def test_the_writer_lock_is_reentrant_and_refuses_a_release_by_another_thread() -> None:
    lock = FairLock()
    with lock, lock:
        errors: list[BaseException] = []

        def other() -> None:
            try:
                lock.release()
            except RuntimeError as exc:
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert len(errors) == 1
    with lock:  # free again after the outer release
        pass


def test_a_transaction_returns_only_after_its_commit_was_synced(
    sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = Syncs(monkeypatch)
    syncs.hold()
    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(insert_note, sqlite_db, "first")
        syncs.entered.wait()
        assert "first" in committed_notes(sqlite_db)  # committed, and the writer lock is free
        assert not done.done()  # ... but not reported stored until the log is on disk
        syncs.release()
        done.result()
    assert syncs.count == 1


def test_commits_made_while_an_fsync_runs_share_the_next_one(
    sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = Syncs(monkeypatch)
    syncs.hold()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(insert_note, sqlite_db, "first")
        syncs.entered.wait()
        later: list[Future[None]] = [
            pool.submit(insert_note, sqlite_db, body) for body in ("second", "third", "fourth")
        ]
        wait_until(lambda: len(committed_notes(sqlite_db)) == 4)
        assert not any(f.done() for f in [first, *later])
        syncs.release()
        for future in [first, *later]:
            future.result()
    assert syncs.count == 2  # one for "first", one for the three made meanwhile


def test_a_transaction_that_wrote_nothing_needs_no_fsync(
    sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = Syncs(monkeypatch)
    insert_note(sqlite_db, "first")
    with transaction(sqlite_db) as session:
        assert session.execute(text("SELECT count(*) FROM note")).scalar_one() == 1
    assert syncs.count == 1


def test_sqlite_syncs_each_commit_itself_outside_transaction(sqlite_db: Engine) -> None:
    with transaction(sqlite_db) as session:
        inside = session.execute(text("PRAGMA synchronous")).scalar_one()
    with sqlite_db.begin() as conn:  # migrations, scripts: no group commit to sync for them
        outside = conn.execute(text("PRAGMA synchronous")).scalar_one()
    assert (inside, outside) == (1, 2)  # NORMAL, FULL


def test_after_a_failed_fsync_nothing_counts_as_stored(
    sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_commit: GroupCommit, _wal: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(GroupCommit, "_sync", broken)
    with pytest.raises(OSError):
        insert_note(sqlite_db, "first")
    with pytest.raises(OSError, match="earlier fsync failed"):
        insert_note(sqlite_db, "second")


def test_what_a_unit_of_work_remembers_does_not_outlive_a_rolled_back_savepoint(
    sqlite_db: Engine,
) -> None:
    from cm_bot.storage import SqlStore
    from cm_bot.storage.admin import add_staff, link_client, new_case

    add_staff(sqlite_db, "Manager", "case_manager")
    case = new_case(sqlite_db, "Manager")
    link_client(sqlite_db, case.ref, "telegram", "501", "501")
    with SqlStore(sqlite_db).unit() as uow:
        client = uow.runs.client_for("telegram", "501", lock=True)
        assert client is not None
        assert uow.runs.consent_version(client.client_id, "consent") is None
        savepoint = uow.session.begin_nested()
        uow.runs.record_consent(
            client,
            action="granted",
            flow_id="consent",
            version=1,
            text_sha256="",
            locale="en",
            decisions={},
            inbound_id=None,
        )
        assert uow.runs.consent_version(client.client_id, "consent") == 1
        savepoint.rollback()
        assert uow.runs.consent_version(client.client_id, "consent") is None
