"""Webhook delivery: post queued updates to the bot one at a time, retrying with back-off."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from cm_bot.testing.botapi.errors import default_description
from cm_bot.testing.botapi.records import SECRET_TOKEN_HEADER, JSONDict, Records
from cm_bot.testing.botapi.signals import Signals
from cm_bot.testing.botapi.state import UpdateQueue

Reply = Callable[[str, JSONDict], Awaitable[object]]
"""Runs a Bot API method by its (raw) name, for methods returned in a webhook response."""


@dataclass
class Webhook:
    """The webhook ``setWebhook`` registered, with its last delivery error."""

    url: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


class WebhookDelivery:
    """Owns the registered webhook and the task delivering to it."""

    def __init__(
        self,
        signals: Signals,
        queue: UpdateQueue,
        records: Records,
        *,
        reply: Reply,
        retry_delay: float,
        max_attempts: int,
        timeout: float,
    ) -> None:
        self._signals = signals
        self._queue = queue
        self._records = records
        self._reply = reply
        self._retry_delay = retry_delay
        self._max_attempts = max(1, max_attempts)
        self._timeout = timeout
        self.hook: Webhook | None = None
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def info(self) -> JSONDict:
        """What ``getWebhookInfo`` would answer now."""
        info: JSONDict = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue.entries),
        }
        hook = self.hook
        if hook is not None:
            info |= {"url": hook.url, "max_connections": hook.max_connections}
            info["ip_address"] = "127.0.0.1"
            if self._queue.allowed_updates:
                info["allowed_updates"] = list(self._queue.allowed_updates)
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    def open(self) -> None:
        """Create the HTTP client deliveries use (on the running loop)."""
        self._http = aiohttp.ClientSession()

    async def close(self) -> None:
        """Stop delivering and close the HTTP client."""
        await self.stop_worker()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def replace(self, hook: Webhook) -> None:
        """Make ``hook`` the webhook and start delivering to it."""
        await self.stop_worker()
        self.hook = hook
        self._task = asyncio.create_task(self._loop(hook))

    async def remove(self) -> None:
        """Forget the webhook; polling works again."""
        self.hook = None
        await self.stop_worker()

    async def stop_worker(self) -> None:
        """Cancel the delivery task, unless it is the caller (a webhook reply's setWebhook)."""
        task, self._task = self._task, None
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _loop(self, hook: Webhook) -> None:
        """Deliver queued updates to ``hook`` one at a time, in order."""
        while not self._signals.closing.is_set() and self.hook is hook:
            event = self._signals.updates
            if not self._queue.entries:
                await event.wait()
                continue
            entry = self._queue.entries[0]
            await self._deliver(hook, entry.update)
            if self._queue.entries and self._queue.entries[0] is entry:
                self._queue.entries.pop(0)
                self._signals.state_changed()

    async def _deliver(self, hook: Webhook, update: JSONDict) -> bool:
        assert self._http is not None
        headers = {SECRET_TOKEN_HEADER: hook.secret_token} if hook.secret_token else {}
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        for attempt in range(1, self._max_attempts + 1):
            status: int | None = None
            error: str | None = None
            body = b""
            content_type = ""
            try:
                async with self._http.post(
                    hook.url, json=update, headers=headers, timeout=timeout
                ) as response:
                    status = response.status
                    content_type = response.content_type
                    body = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._records.log_webhook_attempt(int(update["update_id"]), attempt, status, error)
            if status is not None and 200 <= status < 300:
                await self._run_reply(content_type, body)
                return True
            hook.last_error_date = int(time.time())
            hook.last_error_message = error or (
                f"Wrong response from the webhook: {status} {default_description(status or 0, 0)}"
            )
            if attempt < self._max_attempts:
                await self._signals.sleep(self._retry_delay * 2 ** (attempt - 1))
                if self._signals.closing.is_set():
                    return False
        return False

    async def _run_reply(self, content_type: str, body: bytes) -> None:
        """Execute a method returned in the webhook response, as Telegram allows."""
        if content_type != "application/json" or not body.strip():
            return
        with contextlib.suppress(ValueError):
            reply = json.loads(body)
            if isinstance(reply, dict) and isinstance(reply.get("method"), str):
                params = {k: v for k, v in reply.items() if k != "method"}
                await self._reply(reply["method"], params)
