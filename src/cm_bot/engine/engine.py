"""The conversation runtime: one inbound event in, one transaction, messages in the outbox.

The engine never talks to Telegram and never writes SQL. For each event it
records the update (a re-delivery is a no-op), finds the client's place in
their flow, validates the answer, stores it, advances, evaluates scores and
flag rules, and writes every message it wants sent into the outbox, all in one
:class:`~cm_bot.engine.ports.UnitOfWork`. A crash at any point leaves either
everything or nothing.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic

from typing_extensions import TypeVar

from cm_bot.domain import ClientStatus, Inbound, InboundKind, RunStatus, Severity
from cm_bot.domain.time import aware
from cm_bot.engine.access import AccessTurn
from cm_bot.engine.answering import AnswerTurn
from cm_bot.engine.answers import normalise
from cm_bot.engine.burst import Burst
from cm_bot.engine.buttons import ButtonTurn
from cm_bot.engine.config import SAFETY_PAUSE, EngineConfig, Handled
from cm_bot.engine.crisis import CrisisWords
from cm_bot.engine.followup_needs import FollowupTurn
from cm_bot.engine.ports import ClientView, RunState, Store, Token, UnitOfWork
from cm_bot.engine.preferences import PreferencesTurn
from cm_bot.engine.staff import StaffDesk
from cm_bot.engine.turn import TurnParts
from cm_bot.engine.urgent import UrgentTurn
from cm_bot.flows.loader import FlowRegistry
from cm_bot.flows.schema import Flow, FlowKind
from cm_bot.i18n.translator import N_, Translator
from cm_bot.program import shipped_program

log = logging.getLogger(__name__)


StoreT = TypeVar("StoreT", bound=Store, default=Store, covariant=True)


class ConversationEngine(Generic[StoreT]):
    """Runs flows for clients; every public method is one transaction.

    Updates from one person are handled strictly one after another: in this
    process by a per-person lock, across processes by the row lock the store
    takes on the client (and SQLite's single writer).

    Generic in its store so that a caller which needs more than the port (the
    dispatcher claims rows with SQL) can say which store it needs, in its signature.
    """

    def __init__(
        self,
        store: StoreT,
        flows: FlowRegistry,
        translator: Translator,
        *,
        config: EngineConfig | None = None,
    ) -> None:
        self.store = store
        self.flows = flows
        self.translator = translator
        self.config = config or EngineConfig()
        self._locks: weakref.WeakValueDictionary[tuple[str, str], threading.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._locks_guard = threading.Lock()
        self.program = self.config.program or shipped_program()
        self.crisis_words = self.config.crisis_words or CrisisWords(
            self.program.crisis_words, self.program.violence_words
        )
        consent = flows.of_kind(FlowKind.CONSENT)
        self.consent_flow: Flow | None = consent[0] if consent else None
        self.bot_username: str | None = None  # for invite links; set once the channel knows it

    def _parts(self) -> TurnParts:
        """What every turn works with (``bot_username`` is learnt after start-up)."""
        return TurnParts(
            translator=self.translator,
            flows=self.flows,
            config=self.config,
            program=self.program,
            crisis_words=self.crisis_words,
            consent_flow=self.consent_flow,
            bot_username=self.bot_username,
        )

    def _lock(self, channel: str, chat_id: str) -> threading.Lock:
        key = (channel, chat_id)
        with self._locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = threading.Lock()
                self._locks[key] = lock
            return lock

    def handle(self, inbound: Inbound) -> Handled:
        """Record and handle one update in one transaction; a re-delivery changes nothing.

        For channels that acknowledge updates themselves (the terminal). Telegram
        adapters use :meth:`accept` then :meth:`process`, so the update is durable
        before Telegram is told it arrived.
        """
        with self._lock(inbound.channel, inbound.chat_id):
            with self.store.unit() as uow:
                inbound_id = uow.inbox.record_inbound(inbound, handling=True)
                if inbound_id is None:
                    return Handled(duplicate=True)
                handled = self._turn(uow, inbound, inbound_id)
            if handled.failure is not None:
                # Its crisis reply and flag are committed; nothing retries a terminal's
                # message, so it is dead-lettered at once (the person is told).
                log.error("update %s failed", inbound_id, exc_info=handled.failure)
                self._failed(inbound_id, max_attempts=1)
            return handled

    def accept(self, inbound: Inbound) -> int | None:
        """Commit the update to the inbox; ``None`` if it was seen before (a re-delivery)."""
        with self.store.unit() as uow:
            return uow.inbox.record_inbound(inbound)

    def process(self, channel: str, chat_id: str) -> list[Handled]:
        """Handle every pending update of one chat, oldest first, each in its own transaction.

        A pending row is one that was accepted but not yet handled (also after a
        crash). An update that fails every time is dead-lettered after
        ``max_attempts`` so the chat's later messages still get through. Texts that one
        question refuses, arriving together, get one reply between them (B-17, see
        ``_Turn._refuse_text``).
        """
        results: list[Handled] = []
        burst = Burst()  # this call's alone: a burst spread over several calls is not one
        with self._lock(channel, chat_id):
            pending: list[int] | None = None  # listed in the first update's transaction
            done = 0
            while pending is None or done < len(pending):
                inbound_id: int | None = None
                handled: Handled | None = None
                try:
                    with self.store.unit() as uow:
                        if pending is None:
                            pending = uow.inbox.pending_inbound(channel, chat_id)
                            if not pending:
                                break
                        inbound_id = pending[done]
                        done += 1
                        inbound = uow.inbox.claim_inbound(inbound_id)
                        if inbound is None:  # another worker did it
                            continue
                        burst.following = None
                        if inbound.kind is InboundKind.TEXT and done < len(pending):
                            # Locked now, before the client's row: rows first, in id order,
                            # as every worker takes them.
                            burst.following = uow.inbox.claim_inbound(pending[done])
                        handled = self._turn(uow, inbound, inbound_id, burst)
                        results.append(handled)
                    if handled is not None and handled.failure is not None:
                        # The crisis reply and flag are committed; the rest is retried.
                        burst.rolled_back()
                        log.error("update %s failed", inbound_id, exc_info=handled.failure)
                        self._failed(inbound_id)
                        continue
                    burst.committed()
                except Exception:
                    burst.rolled_back()
                    if inbound_id is None:
                        raise  # the chat's updates could not even be listed
                    log.exception("update %s failed", inbound_id)
                    self._failed(inbound_id)
        return results

    def pending_chats(self) -> list[tuple[str, str]]:
        """Chats with accepted but unhandled updates (work left over from a crash)."""
        with self.store.unit() as uow:
            return uow.inbox.pending_chats()

    def escalate(self, now: datetime | None = None) -> int:
        """Escalate urgent and high flags nobody acknowledged in time; returns how many.

        ``now``: the tick's time (default: the transaction's, from the store's clock).
        """
        with self.store.unit(now) as uow:
            desk = StaffDesk(
                uow, self.translator, [], bot_username=self.bot_username, flows=self.flows
            )
            return desk.escalate(
                uow.now,
                self.config.escalate_urgent_after,
                self.config.escalate_high_after,
            )

    def _failed(self, inbound_id: int, max_attempts: int | None = None) -> None:
        with self.store.unit() as uow:
            inbound = uow.inbox.fail_inbound(inbound_id, max_attempts or self.config.max_attempts)
            if inbound is None:
                return
            # Dead-lettered: tell the person and their case manager instead of retrying forever.
            turn = _Turn(self._parts(), uow, inbound, inbound_id)
            turn.dead_letter()

    def _turn(
        self,
        uow: UnitOfWork,
        inbound: Inbound,
        inbound_id: int,
        burst: Burst | None = None,
    ) -> Handled:
        """Handle one update: words of crisis first, then the rest of the turn.

        When the update held words of crisis, their reply and urgent flag are written
        first and the rest of the turn runs in a savepoint: if it raises, only the rest is
        rolled back, so a failing turn never takes the crisis reply and flag with it.
        """
        turn = _Turn(self._parts(), uow, inbound, inbound_id, burst)
        turn.crisis_first()
        if not turn.crisis_kept:
            self._run(turn, inbound)
            uow.inbox.finish_inbound(inbound_id, turn.client.client_id if turn.client else None)
            return Handled(duplicate=False, outbox_ids=turn.outbox_ids)
        kept = list(turn.outbox_ids)
        try:
            with uow.savepoint():
                self._run(turn, inbound)
                uow.inbox.finish_inbound(inbound_id, turn.client.client_id if turn.client else None)
        except Exception as exc:
            return Handled(duplicate=False, outbox_ids=kept, failure=exc)
        return Handled(duplicate=False, outbox_ids=turn.outbox_ids)

    def _run(self, turn: _Turn, inbound: Inbound) -> None:
        turn.run()
        if self.config.after_turn is not None:
            self.config.after_turn(inbound)

    def start_flow(
        self,
        uow: UnitOfWork,
        client: ClientView,
        flow_id: str,
        context: Mapping[str, Any] | None = None,
        *,
        state: Mapping[str, Any] | None = None,
        deliver_by: datetime | None = None,
    ) -> list[int]:
        """Begin a flow for a client in the caller's transaction; returns the outbox rows written.

        The caller (the dispatcher, the terminal) owns ``uow``: the flow's first messages
        commit or roll back with whatever else it writes, such as the contact's new state.
        Nothing is started (an empty list) for a client without a current consent or
        who is withdrawn, declined or unreachable. ``deliver_by`` (UTC) goes on every
        message written: held up past it, they wait for the person's next contact window.
        ``context`` is what the flow may read; ``state`` the engine's own keys (the
        scheduled contact and goal the run answers: ``engine.config.CARRIED``).
        """
        turn = _Turn(self._parts(), uow, client=client, deliver_by=deliver_by)
        return turn.start_scheduled(self.flows.get(flow_id), dict(context or {}), dict(state or {}))


class _Turn(PreferencesTurn, UrgentTurn, ButtonTurn, AccessTurn, AnswerTurn, FollowupTurn):
    """Everything that happens for one event: the layers stacked, and the routing between them.

    Each layer (``turn``, ``walk``, ``answering``, ``access``, ``commands``, ``buttons``,
    ``urgent``) adds one job's methods to one state object; this class routes an update to
    them, and handles what is left: a client blocking the bot, and an update given up on.
    """

    def run(self) -> None:
        inbound = self.inbound
        assert inbound is not None
        if inbound.is_bot or inbound.kind is InboundKind.OTHER:
            return
        staff = self.uow.cases.staff_for(inbound.channel, inbound.user_id)
        if inbound.chat_type != "private":
            if staff is None or not self._staff_in_group(staff):
                self._group_message()
            return
        if staff is not None and inbound.kind in (InboundKind.TEXT, InboundKind.BUTTON):
            self._staff(staff)
            return
        if staff is not None and inbound.kind in (InboundKind.BLOCKED, InboundKind.UNBLOCKED):
            # A staff member Telegram cannot reach gets no flags: others get them at once.
            blocked = inbound.kind is InboundKind.BLOCKED
            self.uow.cases.set_staff_blocked(
                staff.staff_id, inbound.received_at if blocked else None
            )
            self.uow.audit.record(
                f"staff:{staff.staff_id}", "blocked_bot" if blocked else "unblocked", None
            )
            return
        if self.client is None:  # crisis_first may have looked them up already
            self.client = self.uow.runs.client_for(inbound.channel, inbound.user_id, lock=True)
        if self.client is None or self.client.status == ClientStatus.ERASED:
            self.client = None
            if not self.crisis_kept and inbound.kind not in (
                InboundKind.BLOCKED,
                InboundKind.UNBLOCKED,
            ):
                self._unknown_person()
            return
        self.locale = self._client_locale()
        if inbound.kind is InboundKind.BLOCKED:
            self._blocked()
            return
        if inbound.kind is InboundKind.UNBLOCKED:
            self.uow.audit.record(
                f"client:{self.client.client_id}", "unblocked", self.client.case_id
            )
            return
        if self.client.status == ClientStatus.UNREACHABLE:
            # They wrote to us, so they can be reached again.
            self.uow.runs.set_client(self.client.client_id, status=ClientStatus.ACTIVE)
            self.client.status = ClientStatus.ACTIVE
        run = self.uow.runs.current_run(self.client.client_id)
        if self.safe_word_used(run):
            return  # before all else, paused or not: one neutral line, a flag, the chat cleared
        if self.paused:
            self._while_paused(run)
            return
        if (
            run is not None
            and run.status == RunStatus.PAUSED
            and run.state.get(SAFETY_PAUSE)
            and not normalise(inbound.text or "").startswith("/")
            and inbound.kind is not InboundKind.BUTTON
        ):
            # Staff resolved the flag: the next message picks up where we stopped.
            self._continue(run)
            return
        if inbound.kind is InboundKind.EDITED:
            self.say(
                self._(
                    "I've kept your original answer. If something needs correcting, "
                    "please tell your case manager."
                )
            )
            return
        if inbound.kind in (InboundKind.MEDIA, InboundKind.FORWARDED):
            self._not_an_answer(run)
            return
        if inbound.kind is InboundKind.BUTTON:
            self._button(run)
            return
        text = inbound.text or ""
        command = normalise(text)
        if command.startswith("/"):
            self._command(run, command)
            return
        if self._typed_menu_choice(run, text):
            return
        if not self._gate(run):
            return
        if run is None:
            self._idle()
        elif run.status == RunStatus.PAUSED or self._been_away(run):
            self._typed_resume_choice(run, text)
        else:
            self._answer_text(run, text)

    def _been_away(self, run: RunState) -> bool:
        assert self.inbound is not None
        if run.updated_at is None:
            return False
        return self.inbound.received_at - aware(run.updated_at) > self.config.resume_after

    def _blocked(self) -> None:
        client = self.client
        assert client is not None
        if client.status == ClientStatus.UNREACHABLE:
            return  # already known: one flag, not one per failed message
        if client.status == ClientStatus.ACTIVE:
            # A withdrawal or decline stays on record: being blocked does not overwrite it.
            self.uow.runs.set_client(client.client_id, status=ClientStatus.UNREACHABLE)
        cancelled = self.uow.contacts.cancel_contacts(client.client_id, "unreachable")
        self.flag(
            Severity.ROUTINE,
            N_("Client blocked the bot; scheduled contacts cancelled"),
            rule_id="blocked",
            dedupe_key=f"blocked:{client.client_id}:{self.inbound_id}",
        )
        self.uow.audit.record(
            f"client:{client.client_id}", "blocked_bot", client.case_id, cancelled=cancelled
        )

    def dead_letter(self) -> None:
        """An update we could not handle: say so kindly and tell a human, once."""
        inbound = self.inbound
        assert inbound is not None
        self.crisis_first()  # its words of crisis count, whatever became of the rest
        if self.client is None and inbound.chat_type == "private":
            self.client = self.uow.runs.client_for(inbound.channel, inbound.user_id, lock=False)
        if self.client is None or self.client.status == ClientStatus.ERASED:
            return
        self.locale = self._client_locale()
        self.flag_then_tell(
            Severity.ROUTINE,
            N_("A message from the client could not be processed"),
            rule_id="dead_letter",
            dedupe_key=f"dead:{self.inbound_id}",
            tell=self._(
                "Sorry, something went wrong with your last message. Your case manager "
                "has been told."
            )
            if self.paused  # nothing to send again until staff end the pause
            else self._(
                "Sorry, something went wrong with your last message. Your case manager "
                "has been told. Please send your answer again."
            ),
        )


__all__ = ["ConversationEngine", "EngineConfig", "Handled", "Token"]
