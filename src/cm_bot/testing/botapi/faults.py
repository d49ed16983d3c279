"""Injected failures: queued faults, blocked chats, outages, and the public API for them."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Literal

from cm_bot.testing.botapi.records import FORBIDDEN_BLOCKED, FORBIDDEN_KICKED, OutageMode

if TYPE_CHECKING:
    from cm_bot.testing.botapi.methods import BotMethods
    from cm_bot.testing.botapi.server import ApiServer


@dataclass
class Fault:
    """One queued fault; ``remaining`` None means until cleared, ``ratio`` makes it random."""

    kind: Literal["error", "timeout", "drop"]
    method: str
    chat_id: int | None
    remaining: int | None
    status: int = 500
    description: str | None = None
    retry_after: int | None = None
    seconds: float = 0.0
    accepted: bool = False
    ratio: float | None = None
    statuses: tuple[int, ...] = ()
    rng: random.Random | None = None


class FaultPlan:
    """The faults waiting to fire, the chats that blocked the bot and the current outage.

    Attributes:
        pending: Faults in the order they were queued; the first that matches fires.
        blocked: 403 description per chat that blocked the bot.
        outage: The outage in progress, or None.
    """

    def __init__(self) -> None:
        self.pending: list[Fault] = []
        self.blocked: dict[int, str] = {}
        self.outage: OutageMode | None = None

    def take(self, method: str, chat_id: int | None) -> Fault | None:
        """The fault that fires for this request, if any (counted down as it fires)."""
        for fault in self.pending:
            if fault.method not in ("*", method):
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            if fault.ratio is not None:
                assert fault.rng is not None
                if fault.rng.random() >= fault.ratio:
                    continue
                status = fault.rng.choice(fault.statuses)
                retry = fault.retry_after if status == HTTPStatus.TOO_MANY_REQUESTS else None
                return dataclasses.replace(fault, status=status, retry_after=retry)
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.pending.remove(fault)
            return fault
        return None

    def block(self, chat_id: int, description: str | None = None) -> None:
        """Make sends to ``chat_id`` fail with 403 (Telegram's text for the chat's kind)."""
        if chat_id > 0:
            default = FORBIDDEN_BLOCKED
        elif str(chat_id).startswith("-100"):
            default = FORBIDDEN_KICKED.replace("group chat", "supergroup chat")
        else:
            default = FORBIDDEN_KICKED
        self.blocked[chat_id] = description or default


class FaultInjection:
    """The fault-injection half of :class:`~cm_bot.testing.botapi.FakeBotAPI`'s public API."""

    _faults: FaultPlan
    _bot: BotMethods
    _server: ApiServer

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error, without processing them.

        Args:
            method: API method name, or ``"*"`` for any.
            status: HTTP status / ``error_code``.
            retry_after: ``parameters.retry_after``; defaults to 1 for 429.
            description: Error text; defaults to Telegram's text for the status
                (403 defaults to :data:`FORBIDDEN_BLOCKED`).
            times: How many calls fail.
            chat_id: Only calls addressing this chat.
        """
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 1
        self._faults.pending.append(
            Fault(
                kind="error",
                method=self._bot.canonical(method),
                chat_id=chat_id,
                remaining=times,
                status=status,
                description=description,
                retry_after=retry_after,
            )
        )

    def timeout_next(
        self,
        method: str,
        seconds: float,
        *,
        accepted: bool = True,
        status: int = 502,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Hang before answering the next ``times`` calls of ``method``.

        Args:
            method: API method name, or ``"*"`` for any.
            seconds: How long to hang.
            accepted: True: process the request first, then hang ("accepted then slow" - the
                message exists even if the client timed out). False: hang, then answer
                ``status`` without processing ("slow then rejected").
            status: Error answered after the hang when not accepted.
            times: How many calls hang.
            chat_id: Only calls addressing this chat.
        """
        self._faults.pending.append(
            Fault(
                kind="timeout",
                method=self._bot.canonical(method),
                chat_id=chat_id,
                remaining=times,
                status=status,
                seconds=seconds,
                accepted=accepted,
            )
        )

    def drop_connection_next(
        self,
        method: str,
        *,
        accepted: bool = False,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Close the socket without answering the next ``times`` calls of ``method``.

        Args:
            method: API method name, or ``"*"`` for any.
            accepted: Process the request before dropping the connection.
            times: How many calls are dropped.
            chat_id: Only calls addressing this chat.
        """
        self._faults.pending.append(
            Fault(
                kind="drop",
                method=self._bot.canonical(method),
                chat_id=chat_id,
                remaining=times,
                accepted=accepted,
            )
        )

    def fail_ratio(
        self,
        method: str,
        ratio: float,
        *,
        statuses: Sequence[int] = (429, 500, 502),
        seed: int = 0,
        retry_after: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Fail a seeded-random ``ratio`` of calls of ``method`` until :meth:`clear_faults`.

        The same seed and the same sequence of calls give the same failures.

        Args:
            method: API method name, or ``"*"`` for any.
            ratio: Probability in [0, 1] that a call fails.
            statuses: Statuses to pick from (uniformly, with the same generator).
            seed: Seed of the fault's own random generator.
            retry_after: ``retry_after`` used for 429s.
            chat_id: Only calls addressing this chat.

        Raises:
            ValueError: ``ratio`` is outside [0, 1] or ``statuses`` is empty.
        """
        if not 0.0 <= ratio <= 1.0 or not statuses:
            raise ValueError("ratio must be within [0, 1] and statuses non-empty")
        self._faults.pending.append(
            Fault(
                kind="error",
                method=self._bot.canonical(method),
                chat_id=chat_id,
                remaining=None,
                retry_after=retry_after,
                ratio=ratio,
                statuses=tuple(statuses),
                rng=random.Random(seed),  # noqa: S311 - reproducible faults, not crypto
            )
        )

    def block_chat(self, chat_id: int, *, description: str | None = None) -> None:
        """Make every send to ``chat_id`` fail with 403 until :meth:`unblock_chat`.

        Args:
            chat_id: The chat.
            description: Error text; defaults to :data:`FORBIDDEN_BLOCKED` for users and
                :data:`FORBIDDEN_KICKED` for groups. Use :data:`FORBIDDEN_DEACTIVATED` for
                deleted accounts.
        """
        self._faults.block(chat_id, description)

    def unblock_chat(self, chat_id: int) -> None:
        """Let sends to ``chat_id`` through again."""
        self._faults.blocked.pop(chat_id, None)

    def clear_faults(self) -> None:
        """Remove every pending fault and block (an outage is ended by ``outage(False)``)."""
        self._faults.pending.clear()
        self._faults.blocked.clear()

    async def outage(self, on: bool = True, *, mode: OutageMode = "json") -> None:
        """Start or end a Telegram outage affecting every Bot API method.

        Args:
            on: True starts, False ends it.
            mode: ``json``: 502 with Telegram's JSON error; ``html``: 502 with nginx's HTML
                page (what Telegram's edge really returns, and what JSON-only parsers choke
                on); ``refuse``: the Bot API port stops listening (open keep-alive
                connections are reset), so clients see connection errors. ``/_test`` stays
                reachable on :attr:`control_url`.
        """
        self._faults.outage = mode if on else None
        if on and mode == "refuse":
            await self._server.stop_listening()
        else:
            await self._server.resume_listening()
