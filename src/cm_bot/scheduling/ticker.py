"""The tick: APScheduler 3 wakes the dispatcher and housekeeping; it holds no schedule itself.

The schedule is the ``scheduledcontact`` table. APScheduler's own job stores are
not used for it because a v3 job store must never be shared between processes,
and its default ``misfire_grace_time`` of 1 s silently drops a job that fell due
while the process was down.
Here there is exactly one job, in a :class:`MemoryJobStore`, with a fixed id and
``replace_existing`` (no copies on restart), ``coalesce`` and ``max_instances=1``
(a slow pass is never overlapped, missed ticks collapse into one) and
``misfire_grace_time=None`` (a late tick still runs). Losing a tick loses
nothing: the next one finds the same rows due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cm_bot.domain.time import SYSTEM_CLOCK, Clock
from cm_bot.engine import ConversationEngine
from cm_bot.scheduling.dispatcher import DispatchReport, run_due
from cm_bot.scheduling.planner import SchedulePolicy
from cm_bot.storage.repository import SqlStore

log = logging.getLogger(__name__)

JOB_ID = "cm_bot.scheduling.tick"


@dataclass(slots=True)
class TickReport:
    """What one tick did."""

    dispatch: DispatchReport | None = None
    escalated: int = 0


def housekeeping(
    engine: ConversationEngine[SqlStore], policy: SchedulePolicy | None = None
) -> Callable[[datetime], TickReport]:
    """The work of one tick: a dispatch pass, then flag escalation.

    Each part is guarded on its own, so a failing escalation never stops contacts
    from going out, and the reverse. The sweep over every goal for a missing check-in
    runs on the first tick and then every ``policy.checkin_sweep_every``: it reads every
    goal, and on SQLite it would hold the writer lock for that long on every tick.
    """
    every = (policy or SchedulePolicy()).checkin_sweep_every
    swept: list[datetime] = []  # when the last sweep ran (none yet)

    def tick(now: datetime) -> TickReport:
        report = TickReport()
        sweep = not swept or now - swept[-1] >= every or now < swept[-1]
        try:
            report.dispatch = run_due(engine, now, policy, sweep=sweep)
            if sweep:
                swept[:] = [now]
        except Exception:
            log.exception("dispatch pass failed; the next tick tries again")
        try:
            report.escalated = engine.escalate(now)
        except Exception:
            log.exception("flag escalation failed; the next tick tries again")
        return report

    return tick


class Ticker:
    """One interval job on an :class:`AsyncIOScheduler` that calls ``work(now)`` in a thread.

    ``work`` does blocking database I/O, so it runs in a worker thread and the
    event loop (polling, webhooks, the outbox sender) is never held up.
    """

    def __init__(
        self,
        work: Callable[[datetime], object],
        *,
        seconds: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if seconds <= 0:
            raise ValueError("the tick interval must be positive")
        self.work = work
        self.seconds = seconds
        self.clock = clock
        self.ticks = 0
        # APScheduler is imported here, not at the top: build_app loads this package, and
        # the admin commands that use it need no scheduler (tests/cli/test_startup_imports.py).
        from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
        from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

        self.scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    def start(self) -> None:
        """Add the job (first run at once) and start; call from inside the running event loop."""
        self.scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.seconds,
            id=JOB_ID,
            name="scheduled contacts and housekeeping",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=SYSTEM_CLOCK.now(),  # the first tick at once (APScheduler's real time)
        )
        self.scheduler.start()

    async def tick(self) -> object:
        """Run the work once, now; errors are logged, never raised into the scheduler."""
        self.ticks += 1
        try:
            return await asyncio.to_thread(self.work, self.clock.now())
        except Exception:
            log.exception("scheduled tick failed")
            return None

    def shutdown(self) -> None:
        """Stop waking up (a tick in progress finishes its transaction in its thread)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)


__all__ = ["JOB_ID", "TickReport", "Ticker", "housekeeping"]
