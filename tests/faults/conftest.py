"""Fixtures of the fault matrix: a rig per test, a database outage, a load balancer.

What they build (:class:`Rig`, the outages, :class:`RoundRobin`) is in tests/support/faults.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cm_bot.bootstrap import build_app
from cm_bot.settings import Settings
from cm_bot.testing import FakeBotAPI
from tests.support.faults import PostgresCut, Rig, RoundRobin, SqliteLocked, flows_dir


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "settings(**values): settings of the bots and the test-side app (tests/faults)"
    )


@pytest.fixture
async def rig(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[Rig]:
    """The emulator and a migrated database; bots still running at the end are killed."""
    # Contacts may go out at any hour (tests run at any time of day) unless a test says.
    values: dict[str, Any] = {"timezone": "UTC", "contact_hours": "00:00-00:00"}
    marker = request.node.get_closest_marker("settings")
    if marker is not None:
        values |= marker.kwargs
    api = FakeBotAPI(webhook_max_attempts=12, webhook_retry_delay=0.1)
    await api.start()
    app = build_app(
        Settings(
            flows_dir=flows_dir(tmp_path),
            intake_flows=["intake"],
            database_url=database_url,
            **values,
        )
    )
    rig = Rig(api, database_url, tmp_path, app)
    try:
        yield rig
    finally:
        for bot in rig.bots:
            if bot.running:
                await bot.kill()  # the test is over: no need to wait for a clean stop
        for log in dict.fromkeys(bot.log for bot in rig.bots):  # shown when a test fails
            print(
                f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-150:])
            )
        await api.stop()
        app.close()


@pytest.fixture
async def outage(database_url: str) -> AsyncIterator[SqliteLocked | PostgresCut]:
    """A way to take this test's database away from the bot and give it back."""
    cut: SqliteLocked | PostgresCut
    if database_url.startswith("sqlite"):
        cut = SqliteLocked(database_url)
    else:
        cut = PostgresCut(database_url)
        await cut.start()
    try:
        yield cut
    finally:
        await cut.close()


@pytest.fixture
async def balancer() -> AsyncIterator[RoundRobin]:
    proxy = RoundRobin()
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
