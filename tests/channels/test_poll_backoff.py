"""After a Telegram outage, long polling resumes within a few seconds, however long it lasted."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from cm_bot.channels.telegram_runtime import POLL_MAX_BACKOFF, TelegramRuntime


class _Sender:
    def subscribe(self, callback: Any) -> None:
        pass

    def wake(self) -> None:
        pass


class _Engine:
    def __init__(self) -> None:
        self.accepted: list[str] = []

    def accept(self, inbound: Any) -> int:
        self.accepted.append(inbound.text)
        return len(self.accepted)

    def process(self, channel: str, chat_id: str) -> list[Any]:
        return []


class _TelegramDown:
    """getUpdates fails ``failures`` times (502s), then returns one client message."""

    name = "stub"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.caught_up = asyncio.Event()  # asked again after the message: polling goes on

    async def delete_webhook(self) -> None:
        pass

    async def get_updates(self, offset: int | None, poll_seconds: int) -> list[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("502 Bad Gateway")
        if offset is None:
            message = {
                "message_id": 1,
                "from": {"id": 42, "is_bot": False, "first_name": "C"},
                "chat": {"id": 42, "type": "private"},
                "date": 1_700_000_000,
                "text": "I am not safe",
            }
            return [({"update_id": 7, "message": message}, None)]
        self.caught_up.set()
        return []

    async def dispatch(self, update: Any) -> None:
        pass

    def parse(self, data: Mapping[str, Any]) -> Any:
        return data


async def test_a_long_getupdates_outage_never_backs_off_more_than_a_few_seconds() -> None:
    backend = _TelegramDown(failures=20)  # about a minute and a half of 502s
    engine = _Engine()
    runtime = TelegramRuntime(engine, backend, _Sender())  # type: ignore[arg-type]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)  # Telegram is down: no real waiting in a test

    async def stop_when_caught_up() -> None:
        await backend.caught_up.wait()
        runtime.stopping.set()

    runtime._sleep = sleep  # type: ignore[method-assign]
    watcher = asyncio.get_running_loop().create_task(stop_when_caught_up())
    await asyncio.wait_for(runtime.poll(), timeout=10)
    await watcher

    assert engine.accepted == ["I am not safe"]  # fetched as soon as Telegram answered
    assert waits[:4] == [1.0, 2.0, 4.0, POLL_MAX_BACKOFF]  # growing, then capped
    assert max(waits) == POLL_MAX_BACKOFF <= 5.0
    assert len(waits) == 20  # one wait per failure, none after the message came
