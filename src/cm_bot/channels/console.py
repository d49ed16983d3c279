"""The terminal channel: the same engine as Telegram, with buttons shown as numbers.

It is a real channel (inbox, outbox, de-duplication and all), so a newcomer with
no token can walk through the flows, and the tests can drive a full
conversation through a subprocess and kill it half-way. A flow author can start
one flow at once for the demo client (``cm-bot chat --flow ID``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO, runtime_checkable

from cm_bot.domain import Button, ClientStatus, Inbound, InboundKind, Outbound, RunStatus
from cm_bot.domain.errors import RefusedError
from cm_bot.engine import ConversationEngine
from cm_bot.engine.ports import ClientView, FlagView

CHANNEL = "console"
DEMO_USER = "local"
DEMO_MANAGER = "Demo Case Manager"  # the demo case's manager (``cm-bot chat`` creates both)


class DemoError(RefusedError):
    """The demo client cannot start the flow asked for; the message says why and what to do."""


@runtime_checkable
class ConsoleStore(Protocol):
    """What the terminal needs from the engine's store besides units of work.

    The terminal is its own outbox reader (it prints its chat's messages as they
    are queued) and shows the flags a conversation raises.
    """

    def claim_chat(self, channel: str, chat_id: str) -> list[tuple[int, Outbound]]:
        """Take one chat's due messages (id and message), most urgent first."""

    def mark_shown(self, outbox_id: int) -> None:
        """A message taken by :meth:`claim_chat` was shown: it is sent."""

    def newest_flag_id(self) -> int:
        """The id of the latest flag (0: none yet)."""

    def flags_after(self, flag_id: int) -> list[FlagView]:
        """Flags raised after ``flag_id``, oldest first."""


def _console_store(engine: ConversationEngine) -> ConsoleStore:
    store = engine.store
    if not isinstance(store, ConsoleStore):
        raise TypeError(f"the terminal cannot read its messages from a {type(store).__name__}")
    return store


# Statuses a flow author may leave the demo client in by trying /withdraw or declining; the
# demo consent makes it active again. An erased client stays erased.
_DEMO_REACTIVATE = frozenset(
    {ClientStatus.WITHDRAWN, ClientStatus.DECLINED, ClientStatus.UNREACHABLE}
)


def _demo_client(engine: ConversationEngine, user_id: str) -> ClientView:
    with engine.store.unit() as uow:
        client = uow.runs.client_for(CHANNEL, user_id, lock=False)
    if client is None:
        raise DemoError(
            "this database has no demo client (it already held cases when the terminal "
            "chat first ran); point CM_BOT_DATABASE_URL at a new SQLite file to try a flow"
        )
    return client


def record_demo_consent(engine: ConversationEngine, user_id: str = DEMO_USER) -> bool:
    """Record that the demo client agreed to the current consent; False if it already had.

    Only for the flow authors' simulator (``cm-bot chat --flow``): an author trying a
    screening should not have to answer the consent conversation first. The record
    names the consent flow and version with every purpose agreed to, marked
    ``demo`` instead of a hash of the text shown, and the audit log says so. A real
    client gives consent only by answering the consent flow.
    """
    consent = engine.consent_flow
    if consent is None:
        return False
    with engine.store.unit() as uow:
        client = uow.runs.client_for(CHANNEL, user_id, lock=True)
        if client is None:
            raise DemoError(f"no demo client {user_id!r} in this database")
        if client.status == ClientStatus.ERASED:
            raise DemoError("the demo client was erased; use a new database to try a flow")
        current = uow.runs.consent_version(client.client_id, consent.id) == consent.version
        if current and client.status not in _DEMO_REACTIVATE:
            return False
        uow.runs.record_consent(
            client,
            action="granted",
            flow_id=consent.id,
            version=consent.version,
            text_sha256="demo",
            locale=engine.translator.locale_for(client.locale),
            decisions={purpose.purpose: True for purpose in consent.purposes},
            inbound_id=None,
        )
        if client.status in _DEMO_REACTIVATE:
            uow.runs.set_client(client.client_id, status=ClientStatus.ACTIVE)
        uow.audit.record("cli", "demo_consent_recorded", client.case_id, flow_id=consent.id)
    return True


def render(message: Outbound) -> str:
    """A message as terminal text, buttons numbered ``[1] …``."""
    lines = [message.text]
    number = 0
    for row in message.buttons:
        cells = []
        for button in row:
            number += 1
            cells.append(f"[{number}] {button.label}")
        lines.append("   " + "   ".join(cells))
    return "\n".join(lines)


def pick_button(buttons: list[Button], typed: str) -> Button | None:
    """The button a typed line means: its exact label, else its number when no label is a number."""
    wanted = typed.strip().casefold()
    for button in buttons:
        if button.label.strip().lstrip("✓ ").casefold() == wanted:
            return button
    numeric_labels = any(b.label.strip().isdigit() for b in buttons)
    if not numeric_labels and wanted.isdigit() and 1 <= int(wanted) <= len(buttons):
        return buttons[int(wanted) - 1]
    return None


class ConsoleChannel:
    """Reads lines, hands them to the engine, prints what the outbox holds for this chat.

    Messages and flags are read through the engine's store (:class:`ConsoleStore`).
    """

    def __init__(
        self,
        engine: ConversationEngine,
        *,
        stdin: TextIO,
        stdout: TextIO,
        user_id: str = DEMO_USER,
        language: str | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.engine = engine
        self.store = _console_store(engine)
        self.stdin = stdin
        self.stdout = stdout
        self.user_id = user_id
        self.language = language
        self.new_id = new_id
        self.buttons: list[Button] = []
        self._seen_flag = self.store.newest_flag_id()

    def send(self, line: str) -> None:
        """Deliver one typed line (or tapped button) to the engine, then print the replies."""
        button = pick_button(self.buttons, line) if self.buttons and line.strip() else None
        inbound = Inbound(
            channel=CHANNEL,
            external_id=self.new_id(),
            user_id=self.user_id,
            chat_id=self.user_id,
            kind=InboundKind.BUTTON if button else InboundKind.TEXT,
            text=None if button else line,
            payload=button.payload if button else None,
            language=self.language,
        )
        self.engine.handle(inbound)
        self.drain()

    def drain(self) -> None:
        """Print and mark sent every pending message to this chat."""
        while items := self.store.claim_chat(CHANNEL, self.user_id):
            for outbox_id, message in items:
                self.stdout.write("\n" + render(message) + "\n")
                self.buttons = [b for row in message.buttons for b in row]
                self.store.mark_shown(outbox_id)
        for flag in self._new_flags():
            self.stdout.write(f"\n  (flag for the case manager: {flag.severity} — {flag.reason})\n")
        self.stdout.flush()

    def _new_flags(self) -> list[FlagView]:
        flags = self.store.flags_after(self._seen_flag)
        if flags:
            self._seen_flag = flags[-1].flag_id
        return flags

    def begin_flow(self, flow_id: str, context: Mapping[str, Any] | None = None) -> bool:
        """Start ``flow_id`` now for the demo client and print its first messages.

        Any flow the client was in is abandoned. For any flow but the consent flow, the
        demo client's consent is recorded first (:func:`record_demo_consent`); the
        consent flow itself, without a standing consent, is begun the way a new client
        meets it (/start). Returns whether demo consent was recorded. Raises
        :class:`DemoError` when the flow cannot start.
        """
        engine = self.engine
        consent = engine.consent_flow
        client = _demo_client(engine, self.user_id)
        with engine.store.unit() as uow:
            flag = uow.flags.open_urgent_flag(client.client_id)
            standing = consent is None or (
                uow.runs.consent_version(client.client_id, consent.id) == consent.version
            )
        if flag is not None:
            raise DemoError(
                f"the demo client has an open urgent flag (#{flag}), which pauses every "
                "flow until a case manager resolves it; use a new database to try a flow"
            )
        locale = engine.translator.negotiate(self.language)
        if locale:
            with engine.store.unit() as uow:
                uow.runs.set_client(client.client_id, locale=locale)
        recorded = False
        if consent is not None and flow_id == consent.id:
            if not standing or client.status != ClientStatus.ACTIVE:
                with engine.store.unit() as uow:
                    run = uow.runs.current_run(client.client_id)
                    if run is not None:
                        run.status = RunStatus.ABANDONED
                        uow.runs.save_run(run, ended=True)
                self.send("/start")  # with no open flow and no consent: the consent flow
                return False
        elif record_demo_consent(engine, self.user_id):
            recorded = True
            self.stdout.write("  (consent recorded for the demo client, so the flow can start)\n")
        client = _demo_client(engine, self.user_id)
        with engine.store.unit() as uow:
            started = engine.start_flow(uow, client, flow_id, context)
        if not started:
            self.stdout.write(f"\n  (flow {flow_id} sent nothing: every step was skipped)\n")
        self.drain()
        return recorded

    def run(self, *, flow_id: str | None = None, context: Mapping[str, Any] | None = None) -> None:
        """The chat loop, one line at a time until EOF or /quit.

        It opens with /start (resume or begin), or with ``flow_id`` started at once
        (:meth:`begin_flow`, the flow authors' simulator).
        """
        if flow_id is None:
            self.send("/start")
        else:
            self.begin_flow(flow_id, context)
        while True:
            self.stdout.write("\n> ")
            self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                self.stdout.write("\n")
                return
            line = line.rstrip("\n")
            if line.strip() in ("/quit", "/exit"):
                return
            self.send(line)


__all__ = [
    "CHANNEL",
    "ConsoleChannel",
    "DemoError",
    "pick_button",
    "record_demo_consent",
    "render",
]
