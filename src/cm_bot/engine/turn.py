"""One turn's state and voice: who it is for, what it says, the flags it raises.

A turn is everything that happens for one event inside one unit of work. It is
built from its collaborators (:class:`TurnParts` and the unit of work), never
from the engine. The layers above add one job each (walking a flow, answers,
access, commands, buttons, the safety pause) and :class:`cm_bot.engine.engine._Turn`
stacks them; each layer imports only those below it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cm_bot.domain import (
    Button,
    Inbound,
    Outbound,
    Priority,
    Severity,
)
from cm_bot.engine.burst import Burst
from cm_bot.engine.config import EngineConfig
from cm_bot.engine.crisis import CrisisMatch, CrisisWords
from cm_bot.engine.ports import ClientView, RunState, UnitOfWork
from cm_bot.engine.staff import StaffDesk
from cm_bot.flows.loader import FlowRegistry
from cm_bot.flows.schema import (
    Flow,
)
from cm_bot.i18n.translator import Translator
from cm_bot.program import Program


@dataclass(frozen=True, slots=True)
class TurnParts:
    """What a turn works with besides its unit of work (and its time, the unit of work's)."""

    translator: Translator
    flows: FlowRegistry
    config: EngineConfig
    program: Program
    crisis_words: CrisisWords
    consent_flow: Flow | None
    bot_username: str | None = None  # for invite links in staff replies


class Turn:
    """The state of one turn and what it writes: messages, buttons, flags."""

    def __init__(
        self,
        parts: TurnParts,
        uow: UnitOfWork,
        inbound: Inbound | None = None,
        inbound_id: int | None = None,
        burst: Burst | None = None,
        *,
        client: ClientView | None = None,
        deliver_by: datetime | None = None,
    ) -> None:
        """One event's turn (``inbound``), or, with ``client``, the program's own (no event).

        ``deliver_by``: a scheduled contact's end of contact hours, put on every message.
        """
        self.uow = uow
        self.translator = parts.translator
        self.flows = parts.flows
        self.config = parts.config
        self.program = parts.program
        self.crisis_words = parts.crisis_words
        self.consent_flow = parts.consent_flow
        self.bot_username = parts.bot_username
        self.inbound = inbound
        self.inbound_id = inbound_id
        self.burst = burst  # set when the update is one of a batch (process), not alone
        self.crisis: CrisisMatch | None = None  # this update used words of crisis
        self.crisis_kept = False  # ... and this turn wrote their reply (crisis_first)
        self.client = client
        self.outbox_ids: list[int] = []
        self.locale = (
            parts.translator.locale_for(client.locale)
            if client
            else parts.translator.default_locale
        )
        self.deliver_by = deliver_by

    def _(self, message: str) -> str:
        return self.translator.gettext(self.locale, message)

    @property
    def paused(self) -> bool:
        """An urgent flag is open: no questions, no buttons, no flow, until staff resolve it."""
        return self.client is not None and self.client.paused_flag is not None

    def say(
        self,
        text: str,
        buttons: Sequence[Sequence[Button]] = (),
        priority: Priority = Priority.NORMAL,
    ) -> None:
        """Write a message to the client into the outbox, with its buttons and deadline."""
        assert self.client is not None
        message = Outbound(
            channel=self.inbound.channel if self.inbound else self._client_channel(),
            chat_id=self.client.chat_id,
            text=text,
            buttons=tuple(tuple(row) for row in buttons),
            priority=priority,
            deliver_by=self.deliver_by,
        )
        self.outbox_ids.append(
            self.uow.outbox.enqueue(
                message, client_id=self.client.client_id, inbound_id=self.inbound_id
            )
        )

    def _client_channel(self) -> str:
        assert self.client is not None
        return self.client.channel

    def _reply_to_chat(self, text: str, priority: Priority = Priority.NORMAL) -> None:
        """Answer a chat that has no client behind it (groups, unknown people)."""
        assert self.inbound is not None
        message = Outbound(
            channel=self.inbound.channel,
            chat_id=self.inbound.chat_id,
            text=text,
            priority=priority,
        )
        self.outbox_ids.append(self.uow.outbox.enqueue(message, inbound_id=self.inbound_id))

    def buttons(
        self,
        rows: Sequence[Sequence[tuple[str, Any]]],
        run: RunState | None = None,
        *,
        new_prompt: bool = False,
    ) -> list[list[Button]]:
        """(label, value) rows as buttons bound to this prompt; one token batch per message."""
        assert self.client is not None
        payloads = iter(
            self.uow.buttons.tokens(
                self.client.client_id,
                run.run_id if run else None,
                run.prompt_seq if run else 0,
                [value for row in rows for _label, value in row],
                new_prompt=new_prompt,
            )
        )
        return [[Button(label=label, payload=next(payloads)) for label, _v in row] for row in rows]

    def flag(
        self,
        severity: Severity,
        reason: str,
        *,
        rule_id: str,
        dedupe_key: str,
        source_key: str | None = None,
        source_value: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Raise a flag and tell the client's case manager (or, failing them, supervisors).

        ``reason`` is a msgid; ``params`` fill its placeholders (never ``.format`` it here:
        a formatted reason is no msgid, and staff would read it in English).

        Returns the new flag's id; ``None`` when it was raised before (its dedupe key).
        An urgent flag pauses the client (:attr:`paused`).
        """
        client = self.client
        flag_id = self.desk().raise_flag(
            client,
            severity,
            reason,
            rule_id=rule_id,
            dedupe_key=dedupe_key,
            source_key=source_key,
            source_value=source_value,
            params=params,
        )
        if (
            flag_id is not None
            and severity is Severity.URGENT
            and client is not None
            and client.paused_flag is None
        ):
            client.paused_flag = flag_id
        return flag_id

    def flag_then_tell(
        self,
        severity: Severity,
        reason: str,
        *,
        rule_id: str,
        dedupe_key: str,
        tell: str,
        priority: Priority = Priority.NORMAL,
        only_if_new: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Raise a flag (its staff notices go with it), then tell the client, or the chat.

        ``only_if_new``: say nothing when the flag stood already (its dedupe key): an
        earlier attempt at this update said it. Returns the new flag's id, as :meth:`flag`.
        """
        flag_id = self.flag(severity, reason, rule_id=rule_id, dedupe_key=dedupe_key, params=params)
        if flag_id is None and only_if_new:
            return None
        if self.client is not None:
            self.say(tell, priority=priority)
        else:
            self._reply_to_chat(tell, priority)
        return flag_id

    def desk(self) -> StaffDesk:
        """The staff side of this turn: notices and replies go into the same outbox batch."""
        return StaffDesk(
            self.uow,
            self.translator,
            self.outbox_ids,
            inbound_id=self.inbound_id,
            bot_username=self.bot_username,
            flows=self.flows,
            console_url=self.config.console_url,
            start_flow=self._start_for,
        )

    def _start_for(
        self, uow: UnitOfWork, client: ClientView, flow_id: str, context: dict[str, Any]
    ) -> list[int]:
        """Start ``flow_id`` for another client (a staff action's); the walk layer does it."""
        return []

    def _client_locale(self) -> str:
        assert self.client is not None and self.inbound is not None
        translator = self.translator
        if self.client.locale and translator.negotiate(self.client.locale):
            return translator.locale_for(self.client.locale)
        locale = translator.locale_for(self.inbound.language)
        self.uow.runs.set_client(self.client.client_id, locale=locale)
        self.client.locale = locale
        return locale


__all__ = ["Turn", "TurnParts"]
