"""Fixtures for the real bot against the Bot API emulator: every scenario runs once per backend.

The bot and chat helpers themselves are in tests/support/telegram.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cm_bot.bootstrap import build_app, build_telegram
from cm_bot.notify.sender import Limits
from cm_bot.settings import Settings
from cm_bot.testing import FakeBotAPI
from tests.support.paths import FLOWS
from tests.support.telegram import (
    BACKENDS,
    QUICK,
    WEBHOOK_SECRET,
    Bot,
    BotFactory,
    replace_backend,
)


@pytest.fixture(autouse=True)
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns when it builds a ``RetryAfter`` unless opted in to PTB 23's timedelta."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_bot(database_url: str, backend: str) -> AsyncIterator[BotFactory]:
    """Build bots on this test's database; every one is stopped and closed afterwards."""
    made: list[Bot] = []
    emulators: list[FakeBotAPI] = []

    async def factory(
        *,
        api: FakeBotAPI | None = None,
        request_timeout: float | None = None,
        limits: Limits | None = QUICK,
        webhook: bool = False,
        **settings: Any,
    ) -> Bot:
        if api is None:
            api = FakeBotAPI()
            emulators.append(api)
            await api.start()
        options: dict[str, Any] = {
            "flows_dir": FLOWS,
            "intake_flows": ["intake"],
            "database_url": database_url,
            "telegram_token": api.token,
            "telegram_api_url": api.base_url,
            "backend": backend,
            "poll_timeout": 1,
            **settings,
        }
        if webhook:
            options["webhook_secret"] = WEBHOOK_SECRET
        app = build_app(Settings(**options))
        runtime = build_telegram(app)
        chosen = app.settings.backend  # a test may ask for a backend: backend="ptb"
        if request_timeout is not None:
            replace_backend(runtime, chosen, api, request_timeout)
        if limits is not None:
            runtime.sender.limits = limits
            runtime.sender.limiter.limits = limits
        bot = Bot(app, runtime, api, chosen)
        made.append(bot)
        return bot

    yield factory
    for bot in made:
        with contextlib.suppress(Exception):
            await bot.stop()
        bot.app.close()
    for api in emulators:
        await api.stop()
