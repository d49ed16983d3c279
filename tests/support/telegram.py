"""The real bot (runtime + aiogram or PTB + outbox sender) driven through the Bot API emulator.

:class:`Bot` is one running bot, :class:`Chat` one person in a private chat with it. Waits
are event-driven: the emulator's ``wait_until``/``wait_for_sent`` and the runtime's
:meth:`TelegramRuntime.quiet`. The ``make_bot`` fixture (tests/channels/conftest.py) builds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from cm_bot.bootstrap import App
from cm_bot.channels.telegram_runtime import TelegramRuntime
from cm_bot.domain import Button, Outbound, Priority
from cm_bot.notify.sender import Limits
from cm_bot.storage.admin import add_staff, link_client, new_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Outbox
from cm_bot.testing import FakeBotAPI, SentMessage
from tests.support.people import make_client

BACKENDS = ("aiogram", "ptb")
WEBHOOK_SECRET = "whsec_Test-Secret-0123456789"
WAIT = 15.0
# Conversations are tested without Telegram's 1 message/s per chat (the emulator does not
# enforce it unless asked, and test_outbound checks the sender keeps to it).
QUICK = Limits(private_burst=100, private_interval=0.01, group_burst=100, group_interval=0.01)

Line = tuple[str, tuple[str, ...]]
"""One message as the person saw it: its text and its button labels."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def line(message: SentMessage) -> Line:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return message.text or "", tuple(str(b["text"]) for row in rows for b in row)


def message_update(update_id: int, text: str, *, user: int, message_id: int = 1) -> dict[str, Any]:
    """A Bot API update: a text message from ``user`` in their private chat with the bot."""
    person = {"id": user, "is_bot": False, "first_name": "Test", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": person,
            "chat": {"id": user, "type": "private", "first_name": "Test"},
            "date": int(time.time()),
            "text": text,
        },
    }


def outbox_row(db: Engine, outbox_id: int) -> Outbox:
    with transaction(db) as session:
        row = session.get(Outbox, outbox_id)
        assert row is not None
        return row


@dataclass
class Bot:
    """One running bot: its app (database, engine), runtime and the emulator it talks to."""

    app: App
    runtime: TelegramRuntime
    api: FakeBotAPI
    backend: str
    webhook_url: str | None = None
    task: asyncio.Task[None] | None = None

    @property
    def db(self) -> Engine:
        return self.app.db

    async def start_polling(self) -> None:
        self.task = asyncio.create_task(self.runtime.run_polling())
        await self.api.wait_for_calls("getUpdates", timeout=WAIT)

    async def start_webhook(self) -> None:
        port = free_port()
        self.webhook_url = f"http://127.0.0.1:{port}/telegram"
        self.task = asyncio.create_task(
            self.runtime.run_webhook(self.webhook_url, "127.0.0.1", port, "/telegram")
        )
        await self.api.wait_until(
            lambda: self.api.webhook_info["url"] == self.webhook_url, timeout=WAIT, what="webhook"
        )

    async def stop(self) -> None:
        if self.task is None:
            return
        self.runtime.stopping.set()
        task, self.task = self.task, None
        await asyncio.wait_for(task, WAIT)

    async def quiet(self) -> None:
        """Every recorded update handled, every queued message finished with."""
        await asyncio.wait_for(self.runtime.quiet(), WAIT)

    async def settle(self) -> None:
        """Everything posted was fetched, recorded, handled, and its replies are out."""
        await self.api.wait_until(lambda: not self.api.pending_updates, timeout=WAIT, what="fetch")
        await self.quiet()

    def enqueue(
        self,
        chat_id: int,
        text: str,
        *,
        priority: Priority = Priority.NORMAL,
        buttons: Sequence[str] = (),
        client_id: int | None = None,
        edit_of: int | None = None,
    ) -> int:
        """Put a message straight into the outbox, as the engine or the scheduler would."""
        message = Outbound(
            channel="telegram",
            chat_id=str(chat_id),
            text=text,
            buttons=(tuple(Button(label, f"b:{label}") for label in buttons),) if buttons else (),
            priority=priority,
            edit_of=edit_of,
        )
        with self.app.store.unit() as uow:
            outbox_id = uow.outbox.enqueue(message, client_id=client_id)
        self.runtime.sender.wake()
        return outbox_id

    def link(self, user_id: int, *, manager: str = "Maria") -> int:
        with contextlib.suppress(ValueError):
            add_staff(self.db, manager, "case_manager")
        case = new_case(self.db, manager)
        return link_client(self.db, case.ref, "telegram", str(user_id), str(user_id))


@dataclass
class Chat:
    """A person in a private chat with the bot, driven through the emulator."""

    bot: Bot
    user_id: int
    query_ids: list[str] = field(default_factory=list)

    @property
    def api(self) -> FakeBotAPI:
        return self.bot.api

    def sent(self) -> list[SentMessage]:
        return self.api.sent_to(self.user_id)

    def transcript(self) -> list[Line]:
        return [line(m) for m in self.sent()]

    async def say(self, text: str | None = None, **kwargs: Any) -> dict[str, Any]:
        update = await self.api.post_message(self.user_id, text, **kwargs)
        await self.bot.settle()
        return update

    def button(self, label: str) -> tuple[int, str]:
        """The newest keyboard's button with this label (as the person sees it)."""
        for message in reversed(self.sent()):
            rows = (message.reply_markup or {}).get("inline_keyboard", [])
            if rows:
                for row in rows:
                    for button in row:
                        if str(button["text"]).lstrip("✓ ") == label:
                            return message.message_id, str(button["callback_data"])
                raise AssertionError(f"no button {label!r} on the last keyboard: {rows}")
        raise AssertionError("the bot has shown no buttons yet")

    async def tap(self, label: str) -> dict[str, Any]:
        message_id, data = self.button(label)
        return await self.press(message_id, data)

    async def press(self, message_id: int, data: str) -> dict[str, Any]:
        update = await self.api.press_button(self.user_id, message_id, data)
        self.query_ids.append(update["callback_query"]["id"])
        await self.bot.settle()
        return update

    async def all_taps_answered(self) -> None:
        await self.api.wait_until(
            lambda: set(self.query_ids) <= set(self.api.callback_answers),
            timeout=WAIT,
            what="callback answers",
        )


BotFactory = Callable[..., Awaitable[Bot]]


def replace_backend(
    runtime: TelegramRuntime, backend: str, api: FakeBotAPI, request_timeout: float
) -> None:
    """Swap in a backend with a short request time-out (Settings has no such option)."""
    new: Any
    if backend == "ptb":
        from cm_bot.channels.ptb_adapter import PTBBackend

        new = PTBBackend(api.token, api.base_url, request_timeout=request_timeout)
    else:
        from cm_bot.channels.aiogram_adapter import AiogramBackend

        new = AiogramBackend(api.token, api.base_url, request_timeout=request_timeout)
    runtime.backend = new
    runtime.sender.transport = new


def reference(db: Engine, engine: Any, script: Sequence[tuple[str, str]]) -> list[Line]:
    """The same conversation straight through the engine (no Telegram): what must be seen."""
    person = make_client(engine, db, user_id="reference")
    for action, value in script:
        if action == "say":
            person.say(value)
        else:
            person.tap(value)
    return [(m.text, tuple(b.label for row in m.buttons for b in row)) for m in person.seen]


async def play(chat: Chat, script: Sequence[tuple[str, str]]) -> None:
    for action, value in script:
        if action == "say":
            await chat.say(value)
        else:
            await chat.tap(value)
