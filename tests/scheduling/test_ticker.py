"""The APScheduler tick: one in-memory job that only wakes the dispatcher and housekeeping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from cm_bot.domain.time import ManualClock
from cm_bot.engine import ConversationEngine
from cm_bot.scheduling import Ticker, housekeeping
from cm_bot.scheduling.ticker import JOB_ID
from tests.scheduling.support import add_contact, base_now, clock_of, consented_client, sent_to


async def test_one_job_that_survives_restarts_without_copies_or_misfires() -> None:
    calls: list[datetime] = []
    fired = asyncio.Event()
    clock = ManualClock(datetime(2030, 1, 1, 12, tzinfo=UTC))

    def work(now: datetime) -> None:
        calls.append(now)
        fired.set()

    ticker = Ticker(work, seconds=3600, clock=clock)
    ticker.start()
    try:
        await asyncio.wait_for(fired.wait(), timeout=10)  # the first tick runs at once
        assert calls == [clock.now()]
        jobs = ticker.scheduler.get_jobs()
        assert [j.id for j in jobs] == [JOB_ID]
        (job,) = jobs
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time is None  # a late tick still runs
        assert type(ticker.scheduler._jobstores["default"]).__name__ == "MemoryJobStore"
        # Adding it again (a restart inside one process) replaces it: still one job.
        ticker.scheduler.add_job(
            ticker.tick, "interval", seconds=3600, id=JOB_ID, replace_existing=True
        )
        assert len(ticker.scheduler.get_jobs()) == 1
    finally:
        ticker.shutdown()
        await asyncio.sleep(0)  # APScheduler 3 shuts down on the loop's next turn


async def test_a_failing_tick_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def work(now: datetime) -> None:
        raise RuntimeError("database away")

    ticker = Ticker(work, seconds=60)
    assert await ticker.tick() is None
    assert await ticker.tick() is None
    assert ticker.ticks == 2
    assert "scheduled tick failed" in caplog.text


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Ticker(lambda now: None, seconds=0)


async def test_housekeeping_dispatches_and_escalates(sched: ConversationEngine, db: Engine) -> None:
    who = consented_client(sched, db)
    now = base_now()
    add_contact(db, who, now - timedelta(minutes=1))
    ticker = Ticker(housekeeping(sched), seconds=60, clock=clock_of(sched))
    report = await ticker.tick()
    assert report is not None
    assert report.dispatch is not None and report.dispatch.sent == 1  # type: ignore[attr-defined]
    assert report.escalated == 0  # type: ignore[attr-defined]
    assert sent_to(db, who.client_id) >= 1
    again = await ticker.tick()  # the next tick finds nothing new
    assert again.dispatch.sent == 0  # type: ignore[attr-defined]


def test_housekeeping_keeps_escalating_when_dispatch_fails(
    sched: ConversationEngine, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cm_bot.scheduling.ticker as ticker_module

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ticker_module, "run_due", broken)
    escalated: list[datetime] = []
    monkeypatch.setattr(sched, "escalate", lambda now: escalated.append(now) or 0)
    report = housekeeping(sched)(base_now())
    assert report.dispatch is None and escalated == [base_now()]
