"""The conversation runtime: one inbound event in, one transaction, messages in the outbox.

The engine never talks to Telegram and never writes SQL. For each event it
records the update (a re-delivery is a no-op), finds the client's place in
their flow, validates the answer, stores it, advances, evaluates scores and
flag rules, and writes every message it wants sent into the outbox, all in one
:class:`~cm_bot.engine.ports.UnitOfWork`. A crash at any point leaves either
everything or nothing.
"""

from __future__ import annotations

import hashlib
import logging
import string
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cm_bot.domain import (
    Button,
    ClientStatus,
    Inbound,
    InboundKind,
    Outbound,
    Priority,
    RunStatus,
    Severity,
)
from cm_bot.engine import safety
from cm_bot.engine.answers import (
    Accepted,
    Outcome,
    Rejected,
    Skip,
    check_selection,
    label_of,
    normalise,
    parse_text,
)
from cm_bot.engine.crisis import CrisisMatch, CrisisWords
from cm_bot.engine.menus import CONFIRM_LABELS, resume_menu, runless_menu
from cm_bot.engine.ports import (
    ClientView,
    RunState,
    StaffUnitOfWork,
    StaffView,
    Store,
    Token,
)
from cm_bot.engine.staff import PRIORITY, StaffDesk
from cm_bot.engine.zones import close_zones, zone_named
from cm_bot.flows.conditions import evaluate, holds
from cm_bot.flows.loader import FlowRegistry
from cm_bot.flows.schema import (
    END,
    Branch,
    ChoiceStep,
    DateStep,
    Flow,
    FlowKind,
    IntegerStep,
    MessageStep,
    QuestionStep,
    ScaleStep,
    TextStep,
    YesNoStep,
)
from cm_bot.i18n.translator import N_, Translator
from cm_bot.program import Program, shipped_program
from cm_bot.scoring import score as score_instrument

log = logging.getLogger(__name__)

BUTTONS_PER_ROW = 6
LONG_LABEL = 40  # longer option labels are listed in the message; buttons carry their numbers


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Program choices the engine needs: which flows make up intake, and patience limits."""

    intake_flows: tuple[str, ...] = ()
    max_bad_answers: int = 3
    unknown_user_reply_every: timedelta = timedelta(hours=24)
    # Someone who comes back after this long is asked before their message is taken as an
    # answer: "hi" days later is a greeting, not a reply to the question left open.
    resume_after: timedelta = timedelta(hours=6)
    max_attempts: int = 3  # an update that fails this often is dead-lettered
    escalate_urgent_after: timedelta = timedelta(minutes=15)
    escalate_high_after: timedelta = timedelta(hours=24)
    # The program file (resources, staff hours ...); None: the shipped default program.
    program: Program | None = None
    # Crisis words; None: the built-in lists plus the program's own words.
    crisis_words: CrisisWords | None = None
    # While paused for an urgent flag, the client gets at most one short reply this often.
    paused_reply_every: timedelta = timedelta(minutes=10)


@dataclass(slots=True)
class Handled:
    """What one event produced: whether it was a duplicate, and the outbox rows it wrote."""

    duplicate: bool
    outbox_ids: list[int] = field(default_factory=list)
    # The turn raised after its crisis reply and flag were written: those were kept (and
    # committed), the rest rolled back; the caller counts the failure.
    failure: Exception | None = None


_Prompt = tuple[int, int]  # (run id, prompt seq): one asking of one question


@dataclass(slots=True)
class _Burst:
    """What one :meth:`ConversationEngine.process` call told a chat about texts it could not take.

    A burst (B-17) is everything in the chat's inbox when the call starts. For each prompt it
    holds whether the "one answer at a time" note went out with it. Marks made while handling
    an update are staged and kept only once that update's transaction has committed, so a
    rolled-back update leaves no trace here.
    """

    following: Inbound | None = None  # the batch's next update, when the current one is text
    prompts: dict[_Prompt, bool] = field(default_factory=dict)  # prompt -> note sent
    staged: dict[_Prompt, bool] = field(default_factory=dict)

    def noted(self, prompt: _Prompt) -> bool | None:
        """``None``: no text was refused at this prompt yet in this batch."""
        return self.staged.get(prompt, self.prompts.get(prompt))

    def mark(self, prompt: _Prompt, *, noted: bool) -> None:
        self.staged[prompt] = noted

    def committed(self) -> None:
        self.prompts.update(self.staged)
        self.staged.clear()

    def rolled_back(self) -> None:
        self.staged.clear()


# Run context markers of a safety pause: the run stopped at an urgent flag, and (for a rule
# that fired on an answer) the step to walk on from when it resumes.
_SAFETY_PAUSE = "safety_pause"
_RESUME_AT = "resume_at"
# Read for words of crisis: typed text, edits and captions (forwards carry no text here).
_READ_FOR_CRISIS = frozenset({InboundKind.TEXT, InboundKind.EDITED, InboundKind.MEDIA})
# What still works while paused: reaching a person, help, language, time zone, data rights.
_PAUSED_COMMANDS = frozenset(
    {"human", "help", "language", "timezone", "mydata", "withdraw", "erase"}
)
_PAUSED_ACTIONS = frozenset({"lang", "withdraw", "keep", "erase"})

_ONE_AT_A_TIME = N_(
    "I got several messages at once. I'll take one answer at a time — please answer the "
    "question above."
)


class _Format(string.Formatter):
    """``str.format`` that leaves unknown ``{names}`` alone: flow text is data, not code."""

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, str) and key in kwargs:
            return kwargs[key]
        return "{" + str(key) + "}"


_FORMATTER = _Format()


def _fill(text: str, context: Mapping[str, Any]) -> str:
    if "{" not in text:
        return text
    try:
        return _FORMATTER.vformat(text, (), context)
    except (ValueError, IndexError):
        return text


class ConversationEngine:
    """Runs flows for clients; every public method is one transaction.

    Updates from one person are handled strictly one after another: in this
    process by a per-person lock, across processes by the row lock the store
    takes on the client (and SQLite's single writer).
    """

    def __init__(
        self,
        store: Store,
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
                inbound_id = uow.record_inbound(inbound, handling=True)
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
            return uow.record_inbound(inbound)

    def process(self, channel: str, chat_id: str) -> list[Handled]:
        """Handle every pending update of one chat, oldest first, each in its own transaction.

        A pending row is one that was accepted but not yet handled (also after a
        crash). An update that fails every time is dead-lettered after
        ``max_attempts`` so the chat's later messages still get through. Texts that one
        question refuses, arriving together, get one reply between them (B-17, see
        ``_Turn._refuse_text``).
        """
        results: list[Handled] = []
        burst = _Burst()  # this call's alone: a burst spread over several calls is not one
        with self._lock(channel, chat_id):
            pending: list[int] | None = None  # listed in the first update's transaction
            done = 0
            while pending is None or done < len(pending):
                inbound_id: int | None = None
                handled: Handled | None = None
                try:
                    with self.store.unit() as uow:
                        if pending is None:
                            pending = uow.pending_inbound(channel, chat_id)
                            if not pending:
                                break
                        inbound_id = pending[done]
                        done += 1
                        inbound = uow.claim_inbound(inbound_id)
                        if inbound is None:  # another worker did it
                            continue
                        burst.following = None
                        if inbound.kind is InboundKind.TEXT and done < len(pending):
                            # Locked now, before the client's row: rows first, in id order,
                            # as every worker takes them.
                            burst.following = uow.claim_inbound(pending[done])
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
            return uow.pending_chats()

    def escalate(self, now: datetime | None = None) -> int:
        """Escalate urgent and high flags nobody acknowledged in time; returns how many."""
        with self.store.unit() as uow:
            desk = StaffDesk(
                uow, self.translator, [], bot_username=self.bot_username, flows=self.flows
            )
            return desk.escalate(
                now or datetime.now(UTC),
                self.config.escalate_urgent_after,
                self.config.escalate_high_after,
            )

    def _failed(self, inbound_id: int, max_attempts: int | None = None) -> None:
        with self.store.unit() as uow:
            inbound = uow.fail_inbound(inbound_id, max_attempts or self.config.max_attempts)
            if inbound is None:
                return
            # Dead-lettered: tell the person and their case manager instead of retrying forever.
            turn = _Turn(self, uow, inbound, inbound_id)
            turn.dead_letter()

    def _turn(
        self,
        uow: StaffUnitOfWork,
        inbound: Inbound,
        inbound_id: int,
        burst: _Burst | None = None,
    ) -> Handled:
        """Handle one update: words of crisis first, then the rest of the turn.

        When the update held words of crisis, their reply and urgent flag are written
        first and the rest of the turn runs in a savepoint: if it raises, only the rest is
        rolled back, so a failing turn never takes the crisis reply and flag with it.
        """
        turn = _Turn(self, uow, inbound, inbound_id, burst)
        turn.crisis_first()
        if not turn.crisis_kept:
            turn.run()
            uow.finish_inbound(inbound_id, turn.client.client_id if turn.client else None)
            return Handled(duplicate=False, outbox_ids=turn.outbox_ids)
        kept = list(turn.outbox_ids)
        try:
            with uow.savepoint():
                turn.run()
                uow.finish_inbound(inbound_id, turn.client.client_id if turn.client else None)
        except Exception as exc:
            return Handled(duplicate=False, outbox_ids=kept, failure=exc)
        return Handled(duplicate=False, outbox_ids=turn.outbox_ids)

    def start_flow(
        self,
        client: ClientView,
        flow_id: str,
        context: Mapping[str, Any] | None = None,
        *,
        deliver_by: datetime | None = None,
    ) -> list[int]:
        """Begin a flow for a client now (a scheduled contact); returns the outbox rows written.

        Nothing is started (an empty list) for a client without a current consent or
        who is withdrawn, declined or unreachable. ``deliver_by`` (UTC) goes on every
        message written: held up past it, they wait for the person's next contact window.
        """
        with self.store.unit() as uow:
            turn = _Turn(self, uow, None, None)
            turn.deliver_by = deliver_by
            turn.client = client
            turn.locale = self.translator.locale_for(client.locale)
            if client.status != ClientStatus.ACTIVE or turn._needs_consent():
                return []  # no consent, no contact: the caller records why
            client.paused_flag = uow.open_urgent_flag(client.client_id)
            if turn.paused:
                return []  # the caller checks the pause first; this is the backstop
            turn.begin(self.flows.get(flow_id), dict(context or {}))
            return turn.outbox_ids


class _Turn:
    """Everything that happens for one event, inside one unit of work."""

    def __init__(
        self,
        engine: ConversationEngine,
        uow: StaffUnitOfWork,
        inbound: Inbound | None,
        inbound_id: int | None,
        burst: _Burst | None = None,
    ) -> None:
        self.engine = engine
        self.uow = uow
        self.inbound = inbound
        self.inbound_id = inbound_id
        self.burst = burst  # set when the update is one of a batch (process), not alone
        self.crisis: CrisisMatch | None = None  # this update used words of crisis
        self.crisis_kept = False  # ... and this turn wrote their reply (crisis_first)
        self.client: ClientView | None = None
        self.outbox_ids: list[int] = []
        self.locale = engine.translator.default_locale
        self.deliver_by: datetime | None = None  # a scheduled contact's end of contact hours

    # -- language and output -------------------------------------------------

    def _(self, message: str) -> str:
        return self.engine.translator.gettext(self.locale, message)

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
            self.uow.enqueue(message, client_id=self.client.client_id, inbound_id=self.inbound_id)
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
        self.outbox_ids.append(self.uow.enqueue(message, inbound_id=self.inbound_id))

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
            self.uow.tokens(
                self.client.client_id,
                run.run_id if run else None,
                run.prompt_seq if run else 0,
                [value for row in rows for _label, value in row],
                new_prompt=new_prompt,
            )
        )
        return [[Button(label=label, payload=next(payloads)) for label, _v in row] for row in rows]

    # -- dispatch ------------------------------------------------------------

    def run(self) -> None:
        inbound = self.inbound
        assert inbound is not None
        if inbound.is_bot or inbound.kind is InboundKind.OTHER:
            return
        staff = self.uow.staff_for(inbound.channel, inbound.user_id)
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
            self.uow.set_staff_blocked(staff.staff_id, inbound.received_at if blocked else None)
            self.uow.audit(
                f"staff:{staff.staff_id}", "blocked_bot" if blocked else "unblocked", None
            )
            return
        if self.client is None:  # crisis_first may have looked them up already
            self.client = self.uow.client_for(inbound.channel, inbound.user_id, lock=True)
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
            self.uow.audit(f"client:{self.client.client_id}", "unblocked", self.client.case_id)
            return
        if self.client.status == ClientStatus.UNREACHABLE:
            # They wrote to us, so they can be reached again.
            self.uow.set_client(self.client.client_id, status=ClientStatus.ACTIVE)
            self.client.status = ClientStatus.ACTIVE
        run = self.uow.current_run(self.client.client_id)
        if self.paused:
            self._while_paused(run)
            return
        if (
            run is not None
            and run.status == RunStatus.PAUSED
            and run.context.get(_SAFETY_PAUSE)
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
        if normalise(text).startswith("/"):
            self._command(run, normalise(text))
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
        last = run.updated_at if run.updated_at.tzinfo else run.updated_at.replace(tzinfo=UTC)
        return self.inbound.received_at - last > self.engine.config.resume_after

    def _client_locale(self) -> str:
        assert self.client is not None and self.inbound is not None
        translator = self.engine.translator
        if self.client.locale and translator.negotiate(self.client.locale):
            return translator.locale_for(self.client.locale)
        locale = translator.locale_for(self.inbound.language)
        self.uow.set_client(self.client.client_id, locale=locale)
        self.client.locale = locale
        return locale

    def _group_message(self) -> None:
        inbound = self.inbound
        assert inbound is not None
        if not self.uow.already_told_chat(inbound.channel, inbound.chat_id):
            self.locale = self.engine.translator.locale_for(inbound.language)
            self._reply_to_chat(
                self._(
                    "Please message me privately. I only talk one-to-one, "
                    "to keep what you share private."
                )
            )

    def _staff(self, staff: StaffView) -> None:
        """A bound staff member: staff commands and flag buttons, never the client flows."""
        inbound = self.inbound
        assert inbound is not None
        value: Any = None
        token_staff: int | None = None
        if inbound.kind is InboundKind.BUTTON:
            token = self.uow.resolve_token(inbound.payload or "")
            value = token.value if token is not None else {}
            token_staff = token.staff_id if token is not None else None
        elif (inbound.text or "").strip().startswith("/start") and self._start_token(staff):
            return
        self.desk().handle(staff, inbound.chat_id, inbound.text, value, token_staff)

    def _staff_in_group(self, staff: Any) -> bool:
        """Staff act on flag buttons in the team chat; an admin registers that chat."""
        inbound = self.inbound
        assert inbound is not None
        if inbound.kind is InboundKind.BUTTON:
            token = self.uow.resolve_token(inbound.payload or "")
            if token is None or token.staff_id is not None:
                return True  # not a team-chat button: ignore quietly in a group
            self.desk().handle(staff, inbound.chat_id, None, token.value, None)
            return True
        command = (inbound.text or "").strip().split(" ")[0].split("@")[0]
        if command == "/register_team_chat" and staff.role in ("admin", "supervisor"):
            self.uow.set_team_chat(inbound.chat_id)
            self.uow.audit(f"staff:{staff.staff_id}", "team_chat_registered", None)
            self.locale = self.engine.translator.locale_for(staff.locale)
            self._reply_to_chat(self._("This chat will now receive urgent flags."))
            return True
        return False

    def _start_token(self, staff: StaffView | None = None) -> bool:
        """``/start <token>``: redeem an invite; True when the message was an invite.

        ``staff``: the sender is bound staff, who never become a client: a client's link
        opened by them binds nothing and stays usable (audited as that staff member).
        """
        inbound = self.inbound
        assert inbound is not None
        word, _sep, token = (inbound.text or "").strip().partition(" ")
        token = token.strip()
        if not token or word.split("@")[0] != "/start":
            return False
        outcome = self.uow.redeem_invite(
            token,
            inbound.channel,
            inbound.user_id,
            inbound.chat_id,
            inbound.received_at,
            as_staff=staff is not None,
        )
        bound = outcome.result in ("bound_staff", "bound_client")
        if staff is not None or bound:
            actor = "unknown" if staff is None else f"staff:{staff.staff_id}"
            self.uow.audit(actor, f"invite_{outcome.result}", outcome.case_id)
        self.locale = self.engine.translator.locale_for(
            inbound.language if staff is None else staff.locale or inbound.language
        )
        if outcome.result == "bound_staff":
            _ = self._
            self._reply_to_chat(
                _("Welcome, {name}. Flags for your cases will arrive here.").format(
                    name=outcome.staff_name or ""
                )
                + "\n\n"
                + StaffDesk.help(_)
            )
            return True
        if outcome.result == "bound_client":
            self.client = self.uow.client_for(inbound.channel, inbound.user_id, lock=True)
            if self.client is not None:
                self.locale = self._client_locale()
                self._idle()
            return True
        # A stranger whose link bound nothing is a stranger: one trace a day (_unknown_person).
        sender = None if staff is not None else self._stranger()
        self._reply_to_chat(self._invite_refused(outcome.result))
        if sender is not None:
            self._stranger_trace(sender, f"invite_{outcome.result}", outcome.case_id)
        return True

    def _invite_refused(self, result: str) -> str:
        """Why a link bound nothing, exactly, and what to do next."""
        _ = self._
        if result == "staff_not_client":
            return _(
                "This is a client's invite link, and this Telegram account is signed in as "
                "staff, so it changes nothing. The link still works: please pass it to the "
                "client it was made for."
            )
        if result == "case_ended":
            return _(
                "This link is for a case that has ended, so it changes nothing. If you need "
                "help, please contact your case manager."
            )
        if result == "expired":
            return _("This link has expired. Please ask your case manager for a new one.")
        if result == "unknown":
            return _(
                "This link is not valid. Please check that you opened the whole link, or ask "
                "your case manager for a new one."
            )
        return _(
            "This link has already been used, so it changes nothing. Each link works only "
            "once: if you need a new one, please ask your case manager."
        )

    def _unknown_person(self) -> None:
        """Someone no case knows: one short explanation a day, and a trace bounded the same way.

        Anyone can write to the bot, as often as they like. What is kept of them is bounded
        and names them only by a salted hash of their account (:meth:`_stranger_trace`).
        The outbox (``already_told_chat``, on the outbox's clock) keeps the reply to one a
        day.
        """
        inbound = self.inbound
        assert inbound is not None
        if inbound.kind is InboundKind.TEXT and self._start_token():
            return
        sender = self._stranger()
        since = datetime.now(UTC) - self.engine.config.unknown_user_reply_every
        if not self.uow.already_told_chat(inbound.channel, inbound.chat_id, since=since):
            self.locale = self.engine.translator.locale_for(inbound.language)
            self._reply_to_chat(
                self._(
                    "Hello. This service is for clients of our case-management program. "
                    "To get started, please ask your case manager for your personal link."
                )
            )
        self._stranger_trace(sender, "message_from_unknown_person")

    def _stranger(self) -> str:
        """The name of a sender no case knows (:meth:`SqlUnitOfWork.unknown_sender`).

        Asked before anything is decided about them: on PostgreSQL it also makes two
        workers handling one stranger's updates take turns.
        """
        inbound = self.inbound
        assert inbound is not None
        return self.uow.unknown_sender(inbound.channel, inbound.user_id)

    def _stranger_trace(self, sender: str, action: str, case_id: int | None = None) -> None:
        """What is kept of a stranger's update: at most one audit row and one inbox row a day.

        Both name the sender's hash, never their Telegram id. The update that opens the
        sender's day (``unknown_user_reply_every``, on the updates' own clock,
        ``received_at``) writes the audit row and keeps its inbox row, its text dropped (the
        day's mark; a re-delivery of it is a no-op); later ones delete theirs (a
        re-delivery is recorded again and ends the same way). Called last in the turn: the
        inbox row may go.
        """
        inbound, inbound_id = self.inbound, self.inbound_id
        assert inbound is not None and inbound_id is not None
        every = self.engine.config.unknown_user_reply_every
        first = not self.uow.sender_seen_since(inbound.channel, sender, inbound.received_at - every)
        if first:
            self.uow.audit("unknown", action, case_id, channel=inbound.channel, sender=sender)
        self.uow.name_sender(inbound_id, sender, keep=first, replies=self.outbox_ids)

    # -- safety: crisis words, the pause ------------------------------------------

    def crisis_first(self) -> None:
        """Words of crisis, from anyone, anywhere: resources and an urgent flag before all else.

        Runs before the rest of the turn (and again, harmlessly, for a dead-lettered
        update): the urgent flag's dedupe key makes the reply go once. A client already
        paused gets no second flag; their message is added to the open one (``run``).
        Staff are not checked: they write about clients' crises in notes.
        """
        inbound = self.inbound
        assert inbound is not None
        if inbound.is_bot or inbound.kind not in _READ_FOR_CRISIS:
            return
        match = self.engine.crisis_words.find(inbound.text)
        if match is None:
            return
        self.crisis = match
        if self.uow.staff_for(inbound.channel, inbound.user_id) is not None:
            return
        if inbound.chat_type != "private":
            self._unlinked_crisis(match)
            return
        client = self.uow.client_for(inbound.channel, inbound.user_id, lock=True)
        if client is None or client.status == ClientStatus.ERASED:
            self._unlinked_crisis(match)
            return
        self.client = client
        self.locale = self._client_locale()
        if client.paused_flag is not None:
            return  # added to the open flag as a held message (_while_paused)
        flag_id = self.flag(
            Severity.URGENT,
            N_("A message from the client used words of crisis or self-harm"),
            rule_id="crisis_words",
            dedupe_key=f"crisis:{self.inbound_id}",
        )
        if flag_id is None:
            return  # an earlier attempt at this update already said it
        self.crisis_kept = True
        self.say(
            safety.crisis_reply(self.engine.program, self._, self.locale, violence=match.violence),
            priority=Priority.URGENT,
        )
        self._hold(flag_id, replied=True, opened=True)
        self._pause_run(self.uow.current_run(client.client_id))

    def _unlinked_crisis(self, match: CrisisMatch) -> None:
        """Someone no case knows (or a group) wrote words of crisis: resources, and a notice.

        Every such message gets the resources. Staff get one urgent flag per sender a day
        (``unknown_user_reply_every``): a flood raises one flag, not one per message. In a
        private chat what is kept is bounded as for any stranger (:meth:`_stranger_trace`).
        """
        inbound, inbound_id = self.inbound, self.inbound_id
        assert inbound is not None and inbound_id is not None
        self.client = None
        self.locale = self.engine.translator.locale_for(inbound.language)
        sender = self._stranger()
        since = inbound.received_at - self.engine.config.unknown_user_reply_every
        if not self.uow.sender_crisis_flagged_since(sender, since):
            flag_id = self.flag(
                Severity.URGENT,
                N_(
                    "A person linked to no case wrote words of crisis to the bot. They were "
                    "given the crisis resources; the bot cannot tell who they are."
                ),
                rule_id="crisis_words_unlinked",
                dedupe_key=f"crisis:{sender}:{inbound_id}",
            )
            if flag_id is None:
                return  # an earlier attempt at this update already said it
        self.crisis_kept = True
        self._reply_to_chat(
            safety.unlinked_reply(self.engine.program, self._, violence=match.violence),
            priority=Priority.URGENT,
        )
        if inbound.chat_type == "private":
            self._stranger_trace(sender, "crisis_from_unknown_person")

    def _pause_run(self, run: RunState | None) -> None:
        """Stop the open run where it is; it picks up at the client's first message after."""
        if run is None or run.status != RunStatus.ACTIVE:
            return
        run.status = RunStatus.PAUSED
        run.context[_SAFETY_PAUSE] = True
        self.uow.save_run(run)

    def _continue(self, run: RunState) -> None:
        """End a safety pause on the run: ask the question it stopped at (or walk on)."""
        run.context.pop(_SAFETY_PAUSE, None)
        resume_at = run.context.pop(_RESUME_AT, None)
        run.status = RunStatus.ACTIVE
        self.uow.save_run(run)
        if isinstance(resume_at, str):
            self.walk(run, self.engine.flows.get(run.flow_id), resume_at)
        else:
            self.ask(run)

    def _hold(self, flag_id: int, *, replied: bool, opened: bool = False) -> None:
        """Keep what the client sent while paused, and show the count on the flag's notices.

        ``opened``: the message that raised the flag (its notice is being written now).
        """
        inbound, client = self.inbound, self.client
        assert inbound is not None and client is not None
        self.uow.hold_message(
            client.client_id,
            client.case_id,
            flag_id,
            inbound_id=self.inbound_id,
            kind=inbound.kind.value,
            text=inbound.text,
            crisis=self.crisis is not None,
            replied=replied,
            opened=opened,
            received_at=inbound.received_at,
        )
        if not opened:
            self.desk().refresh_notices(flag_id)

    def _while_paused(self, run: RunState | None) -> None:
        """Paused for an urgent flag: keep every message, ask nothing, reply rarely.

        A few commands still work (a person, help, language, data rights); nothing that
        asks a question or starts a flow does.
        """
        inbound, client = self.inbound, self.client
        assert inbound is not None and client is not None and client.paused_flag is not None
        flag_id = client.paused_flag
        text = normalise(inbound.text or "")
        if inbound.kind is InboundKind.BUTTON:
            token = self.uow.resolve_token(inbound.payload or "")
            value = token.value if token is not None and isinstance(token.value, dict) else {}
            if (
                token is not None
                and token.client_id == client.client_id
                and token.run_id is None
                and value.get("act") in _PAUSED_ACTIONS
            ):
                self._runless_action(run, value.get("act"), value)
                return
        elif inbound.kind is InboundKind.TEXT and text.startswith("/"):
            name = text.partition(" ")[0][1:].split("@", 1)[0].casefold()
            if name in _PAUSED_COMMANDS:
                if not self.crisis_kept:
                    self._hold(flag_id, replied=False)
                self._command(run, text)
                return
        if self.crisis_kept:
            return  # this message raised the pause: its reply and record are written
        if inbound.kind is InboundKind.TEXT:
            _values, choice = self._menu_choice(text)
            if choice is not None and choice.get("act") in _PAUSED_ACTIONS:
                self._hold(flag_id, replied=False)
                self._runless_action(run, choice.get("act"), choice)
                return
        since = inbound.received_at - self.engine.config.paused_reply_every
        reply = not self.uow.replied_while_paused(client.client_id, since)
        self._hold(flag_id, replied=reply)
        if reply:
            self.say(safety.paused_reply(self.engine.program, self._), priority=Priority.HIGH)

    def _blocked(self) -> None:
        client = self.client
        assert client is not None
        if client.status == ClientStatus.UNREACHABLE:
            return  # already known: one flag, not one per failed message
        if client.status == ClientStatus.ACTIVE:
            # A withdrawal or decline stays on record: being blocked does not overwrite it.
            self.uow.set_client(client.client_id, status=ClientStatus.UNREACHABLE)
        cancelled = self.uow.cancel_contacts(client.client_id, "unreachable")
        self.flag(
            Severity.ROUTINE,
            N_("Client blocked the bot; scheduled contacts cancelled"),
            rule_id="blocked",
            dedupe_key=f"blocked:{client.client_id}:{self.inbound_id}",
        )
        self.uow.audit(
            f"client:{client.client_id}", "blocked_bot", client.case_id, cancelled=cancelled
        )

    def dead_letter(self) -> None:
        """An update we could not handle: say so kindly and tell a human, once."""
        inbound = self.inbound
        assert inbound is not None
        self.crisis_first()  # its words of crisis count, whatever became of the rest
        if self.client is None and inbound.chat_type == "private":
            self.client = self.uow.client_for(inbound.channel, inbound.user_id, lock=False)
        if self.client is None or self.client.status == ClientStatus.ERASED:
            return
        self.locale = self._client_locale()
        self.flag(
            Severity.ROUTINE,
            N_("A message from the client could not be processed"),
            rule_id="dead_letter",
            dedupe_key=f"dead:{self.inbound_id}",
        )
        if self.paused:
            self.say(
                self._(
                    "Sorry, something went wrong with your last message. Your case manager "
                    "has been told."
                )
            )
            return
        self.say(
            self._(
                "Sorry, something went wrong with your last message. Your case manager "
                "has been told. Please send your answer again."
            )
        )

    # -- consent gate ----------------------------------------------------------

    def _needs_consent(self) -> bool:
        consent = self.engine.consent_flow
        if consent is None:
            return False
        assert self.client is not None
        return self.uow.consent_version(self.client.client_id, consent.id) != consent.version

    def _may_collect(self, run: RunState | None) -> bool:
        """Before consent and after withdrawal, only the consent conversation may run."""
        assert self.client is not None
        consent = self.engine.consent_flow
        in_consent = run is not None and consent is not None and run.flow_id == consent.id
        if self.client.status in (ClientStatus.WITHDRAWN, ClientStatus.DECLINED):
            return in_consent
        return True

    def _gate(self, run: RunState | None) -> bool:
        """Whether this message may be taken as an answer; if not, say why or ask for consent.

        A withdrawn client is told nothing is kept. A client whose consent is out of
        date (a new consent version) is asked again before anything else is stored.
        """
        if not self._may_collect(run):
            self._not_collecting()
            return False
        consent = self.engine.consent_flow
        in_consent = run is not None and consent is not None and run.flow_id == consent.id
        if not in_consent and self._needs_consent():
            self.begin_consent_again()
            return False
        return True

    def _not_collecting(self) -> None:
        self.say(
            self._(
                "You've asked us not to collect your answers, so I'm not keeping anything you "
                "send. To give your consent again, send /start. To talk to your case "
                "manager, please contact them directly."
            )
        )

    # -- idle, resume ------------------------------------------------------------

    def _next_flow(self) -> Flow | None:
        assert self.client is not None
        if self._needs_consent():
            return self.engine.consent_flow
        finished = self.uow.finished_flows(self.client.client_id)
        for flow_id in self.engine.config.intake_flows:
            if flow_id not in finished and flow_id in self.engine.flows:
                return self.engine.flows.get(flow_id)
        return None

    def _idle(self) -> None:
        if self.paused:
            return
        flow = self._next_flow()
        if flow is None:
            self.say(self._all_done())
            return
        self.begin(flow, {})

    def _offer_resume(self, run: RunState, *, restarting: bool = False) -> None:
        if self.paused:
            return
        flow = self.engine.flows.get(run.flow_id)
        text = (
            self._(
                "You are part-way through “{title}”. Would you like to continue where you "
                "left off, or start it again?"
            )
            if restarting
            else self._(
                "Welcome back. You were part-way through “{title}”. Would you like to "
                "continue where you left off?"
            )
        ).format(title=self._(flow.title))
        self.say(
            text,
            self.buttons(
                [
                    [
                        (self._("Continue"), {"act": "resume"}),
                        (self._("Start again"), {"act": "restart"}),
                    ]
                ],
                run,
            ),
        )

    # -- commands -------------------------------------------------------------

    def _command(self, run: RunState | None, text: str) -> None:
        word, _sep, argument = text.partition(" ")
        name = word[1:].split("@", 1)[0].casefold()
        argument = argument.strip()
        collecting = self._may_collect(run)
        if name == "start":
            if self.client is not None and not collecting:
                self.begin_consent_again()
            elif run is not None and run.status in (RunStatus.ACTIVE, RunStatus.PAUSED):
                self._offer_resume(run, restarting=True)
            else:
                self._idle()
        elif name == "help":
            self.say(self._help())
            self._reask(run)
        elif name == "stop":
            self._pause(run)
        elif name == "language":
            self._language(run, argument)
        elif name == "human":
            self._human()
            self._reask(run)
        elif name == "withdraw":
            self._offer_withdraw(run)
        elif name == "timezone":
            self._timezone(argument)
            self._reask(run)
        elif name == "mydata":
            self._my_data()
            self._reask(run)
        elif name == "erase":
            self.say(
                self._(
                    "Do you want us to erase what we hold about you? Your case manager will "
                    "be asked to do it and will confirm with you."
                ),
                self.buttons([self._confirm("erase")]),
            )
        else:
            self.say(self._("Sorry, I don't know that command.") + "\n\n" + self._help())
            self._reask(run)

    def _help(self) -> str:
        return self._(
            "I ask short questions for your case manager. Tap a button or type your answer.\n"
            "/human — talk to a person from the program\n"
            "/stop — pause; send any message to carry on later\n"
            "/language — change the language\n"
            "/timezone — set your time zone, e.g. /timezone Europe/Kyiv\n"
            "/withdraw — withdraw your consent\n"
            "/mydata — what we hold about you\n"
            "/erase — ask us to erase it\n"
            "/help — show this message"
        )

    def _reask(self, run: RunState | None) -> None:
        if not self.paused and run is not None and run.status == RunStatus.ACTIVE and run.step_id:
            self.ask(run)

    def _pause(self, run: RunState | None) -> None:
        if run is None or run.status != RunStatus.ACTIVE:
            self.say(self._("Nothing is running right now, so there is nothing to pause."))
            return
        run.status = RunStatus.PAUSED
        self.uow.save_run(run)
        self.say(
            self._(
                "Paused. Your answers so far are saved. Send any message when you'd like "
                "to carry on."
            )
        )

    def _confirm(self, act: str) -> list[tuple[str, Any]]:
        """A confirmation's two buttons: do it (1), or keep going (2)."""
        return [
            (self._(CONFIRM_LABELS[act][0]), {"act": act, "n": 1}),
            (self._(CONFIRM_LABELS["keep"][0]), {"act": "keep", "n": 2}),
        ]

    def _typed_menu_choice(self, run: RunState | None, text: str) -> bool:
        """Text while a menu is open answers the menu, never the question under it.

        A menu is open while the client holds buttons of no question (the language
        picker, the withdraw and erase confirmations): issuing a question's buttons
        retires them. Text that names no option gets the menu again.
        """
        values, choice = self._menu_choice(text)
        if not values:
            return False
        if choice is not None:
            self._runless_action(run, choice.get("act"), choice)
            return True
        acts = {str(v.get("act")) for v in values}
        self.say(self._("Please choose one of the options above."))
        if "lang" in acts:
            self._language(run, "")
        elif "withdraw" in acts:
            self._offer_withdraw(run)
        elif "erase" in acts:
            self._command(run, "/erase")
        return True

    def _menu_choice(self, text: str) -> tuple[list[dict[str, Any]], Mapping[str, Any] | None]:
        """The open menu's buttons (empty: none open) and the one the text names, if any."""
        assert self.client is not None
        values = self.uow.menu_values(self.client.client_id)
        if not values:
            return values, None
        return values, runless_menu(values, self._, self._language_names).choose(text)

    def _language_names(self, code: str) -> list[str]:
        """Every name a language may be typed as: its own, English, and the reader's."""
        translator = self.engine.translator
        return [
            translator.language_name(code),
            translator.language_name_in(code, "en"),
            translator.language_name_in(code, self.locale),
        ]

    def _typed_resume_choice(self, run: RunState, text: str) -> None:
        """At the resume offer: 1 or "continue" continues, 2 starts again, else ask again."""
        choice = resume_menu(self._).choose(text)
        if choice is None or self.paused:
            self._offer_resume(run)
        elif choice["act"] == "resume":
            self._continue(run)
        else:
            self.begin(self.engine.flows.get(run.flow_id), dict(run.context))

    def _language(self, run: RunState | None, argument: str) -> None:
        translator = self.engine.translator
        chosen = translator.negotiate(argument) if argument else None
        if chosen is None:
            choices = [
                (translator.language_name(code), {"act": "lang", "locale": code, "n": n})
                for n, code in enumerate(translator.locales, 1)
            ]
            self.say(self._("Which language would you like?"), self.buttons([choices]))
            return
        self._set_language(run, chosen)

    def _set_language(self, run: RunState | None, locale: str) -> None:
        assert self.client is not None
        self.uow.set_client(self.client.client_id, locale=locale)
        self.client.locale = locale
        self.locale = locale
        self.say(self._("Okay, I will write in English from now on."))
        if run is not None:
            run.locale = locale
            self.uow.save_run(run)
            self._reask(run)

    def _human(self) -> None:
        """``/human``, in any state: a high flag (escalated like any other) and when to expect."""
        assert self.client is not None
        if self.uow.open_flag_exists(self.client.client_id, "client_asked_for_contact"):
            self.say(
                self._(
                    "The program already knows you'd like to talk to a person. Someone will "
                    "contact you. Staff usually answer {response_time}."
                ).format(response_time=self._(self.engine.program.response_time))
            )
            return
        self.flag(
            Severity.HIGH,
            N_("Client asked to talk to a person (/human)"),
            rule_id="client_asked_for_contact",
            dedupe_key=f"human:{self.client.client_id}:{self.inbound_id}",
        )
        self.say(safety.human_reply(self.engine.program, self._, self.locale))

    def _timezone(self, argument: str) -> None:
        """``/timezone Europe/Kyiv``: scheduled messages come in the client's own hours."""
        assert self.client is not None
        zone = zone_named(argument)
        if zone is None:
            close = close_zones(argument)
            text = self._("Please send your time zone like this: /timezone Europe/Kyiv")
            if close:
                text = (
                    self._("I don't know that time zone. Did you mean one of these?")
                    + "\n"
                    + "\n".join(f"/timezone {name}" for name in close)
                    + "\n\n"
                    + text
                )
            self.say(text)
            return
        self.uow.set_client(self.client.client_id, timezone=str(zone))
        self.say(self._("Thank you. I will use the time zone {zone}.").format(zone=str(zone)))

    def _my_data(self) -> None:
        assert self.client is not None
        data = self.uow.data_summary(self.client.client_id)
        self.uow.audit(
            f"client:{self.client.client_id}", "client_read_own_data", self.client.case_id
        )
        lines = [
            self._("What we hold about you:"),
            self._("Answers to questions: {count}").format(count=data["answers"]),
            self._("Screening results: {count}").format(count=data["scores"]),
            self._("Notes to your case manager (flags): {count}").format(count=data["flags"]),
        ]
        if data["consent_action"] == "granted":
            lines.append(
                self._("Consent: given on {day}").format(day=data["consent_at"].date().isoformat())
            )
        lines.append(
            self._("For a full copy, ask your case manager. To have it erased, send /erase.")
        )
        self.say("\n".join(lines))

    def _offer_withdraw(self, run: RunState | None) -> None:
        assert self.client is not None
        if self.client.status in (ClientStatus.WITHDRAWN, ClientStatus.DECLINED):
            self._not_collecting()
            return
        self.say(
            self._(
                "Do you want to withdraw your consent? I will stop asking questions and "
                "stop contacting you, and your case manager will be told."
            ),
            self.buttons([self._confirm("withdraw")]),
        )

    def _withdraw(self) -> None:
        client = self.client
        assert client is not None
        consent = self.engine.consent_flow
        run = self.uow.current_run(client.client_id)
        if run is not None:
            run.status = RunStatus.ABANDONED  # may be offered again after a new consent
            self.uow.save_run(run, ended=True)
        self.uow.record_consent(
            client,
            action="withdrawn",
            flow_id=consent.id if consent else "consent",
            version=consent.version if consent else 0,
            text_sha256="",
            locale=self.locale,
            decisions={},
            inbound_id=self.inbound_id,
        )
        self.uow.set_client(client.client_id, status=ClientStatus.WITHDRAWN)
        client.status = ClientStatus.WITHDRAWN
        cancelled = self.uow.cancel_contacts(client.client_id, "opted_out")
        self.flag(
            Severity.ROUTINE,
            N_("Client withdrew consent; collection and scheduled contacts stopped"),
            rule_id="consent_withdrawn",
            dedupe_key=f"withdrawn:{client.client_id}:{self.inbound_id}",
        )
        self.uow.audit(
            f"client:{client.client_id}", "consent_withdrawn", client.case_id, cancelled=cancelled
        )
        self.say(
            self._(
                "Your consent is withdrawn. I won't ask you anything else or contact you again. "
                "Your case manager has been told. If you change your mind, send /start."
            )
        )

    def begin_consent_again(self) -> None:
        consent = self.engine.consent_flow
        if consent is None:
            self._not_collecting()
            return
        self.begin(consent, {})

    # -- buttons --------------------------------------------------------------

    def _button(self, run: RunState | None) -> None:
        assert self.client is not None and self.inbound is not None
        token = self.uow.resolve_token(self.inbound.payload or "")
        if token is None or token.client_id != self.client.client_id:
            self.uow.audit(
                f"client:{self.client.client_id}",
                "unknown_button",
                self.client.case_id,
                foreign=token is not None,
            )
            self._closed(run)
            return
        value = token.value if isinstance(token.value, dict) else {}
        action = value.get("act")
        if token.run_id is None:
            self._runless_action(run, action, value)
            return
        if run is None or token.run_id != run.run_id or token.prompt_seq != run.prompt_seq:
            self._closed(run)
            return
        if action == "resume":
            self._continue(run)
        elif action == "restart":
            self.begin(self.engine.flows.get(run.flow_id), dict(run.context))
        elif run.status != RunStatus.ACTIVE:
            self._offer_resume(run)
        elif not self._gate(run):
            pass
        elif action == "skip":
            self._skip(run)
        elif action == "human":
            self._human()
            self.ask(run)
        elif action == "toggle":
            self._toggle(run, int(value.get("i", -1)))
        elif action == "done":
            self._done_selecting(run)
        elif "a" in value:
            self.accept(run, value["a"])
        else:
            self._closed(run)

    def _runless_action(
        self, run: RunState | None, action: object, value: Mapping[str, Any]
    ) -> None:
        assert self.client is not None
        self.uow.forget_buttons(self.client.client_id)  # a confirmation is answered once
        if action == "lang":
            locale = self.engine.translator.negotiate(str(value.get("locale", "")))
            if locale:
                self._set_language(run, locale)
        elif action == "withdraw":
            if self.client is not None and self.client.status not in (
                ClientStatus.WITHDRAWN,
                ClientStatus.DECLINED,
            ):
                self._withdraw()
        elif action == "keep":
            self.say(self._("Thank you. Nothing has changed."))
            self._reask(run)
        elif action == "erase":
            assert self.client is not None
            self.flag(
                Severity.ROUTINE,
                N_("Client asks for their data to be erased (cm-bot erase)"),
                rule_id="erasure_requested",
                dedupe_key=f"erase:{self.client.client_id}:{self.inbound_id}",
            )
            self.say(
                self._(
                    "I've asked your case manager to erase your data. They will "
                    "confirm with you when it is done."
                )
            )

    def _closed(self, run: RunState | None) -> None:
        self.say(self._("That question has closed."))
        if run is not None and run.status == RunStatus.PAUSED:
            self._offer_resume(run)
        else:
            self._reask(run)

    def _not_an_answer(self, run: RunState | None) -> None:
        assert self.inbound is not None
        if self.inbound.kind is InboundKind.FORWARDED:
            self.say(self._("Please type your own answer rather than forwarding a message."))
        else:
            self.say(
                self._(
                    "I can only read typed messages and button taps. "
                    "Please answer by typing or tapping a button."
                )
            )
        self._reask(run)

    # -- walking a flow -----------------------------------------------------------

    def begin(self, flow: Flow, context: dict[str, Any]) -> None:
        assert self.client is not None
        if self.paused:
            return  # no flow starts while an urgent flag is open
        if any(getattr(step, "reuse", None) is not None for step in flow.steps):
            # Which questions another flow has answered already: an introduction to them
            # alone can be skipped (skip_if: "... in context['earlier']").
            context["earlier"] = {
                step.key: found[0]
                for step in flow.steps
                if not isinstance(step, MessageStep) and (found := self._earlier(step)) is not None
            }
        run = self.uow.start_run(self.client, flow.id, flow.version, self.locale, context)
        self.walk(run, flow, flow.start_step)

    def step_text(self, run: RunState, step: MessageStep | QuestionStep) -> str:
        return _fill(self._(step.text), {**self.program_context(), **run.context})

    def program_context(self) -> dict[str, str]:
        """The program's placeholders (``{emergency}``, ``{retention}`` ...) in this language."""
        return self.engine.program.context(self._, self.locale)

    def walk(self, run: RunState, flow: Flow, step_id: str) -> None:
        """Say message steps and skip skipped ones until a question is reached or the flow ends."""
        for _hop in range(len(flow.steps) + 1):
            if step_id == END:
                self.finish(run, flow, RunStatus.COMPLETED)
                return
            step = flow.step(step_id)
            scores = self.scores(run, flow)
            if step.skip_if and holds(
                step.skip_if, answers=run.answers, scores=scores, context=run.context
            ):
                step_id = self.successor(run, flow, step, scores)
                continue
            if isinstance(step, MessageStep):
                self.say(self.step_text(run, step))
                step_id = self.successor(run, flow, step, scores)
                continue
            if step.reuse is not None and self._reuse(run, flow, step):
                return  # answered from another flow; the walk went on from there
            run.step_id = step.id
            run.prompt_seq += 1
            run.bad_attempts = 0
            run.context.pop("selection", None)
            self.uow.save_run(run)
            self.ask(run, new_prompt=True)
            return
        raise RuntimeError(f"flow {flow.id} loops without asking anything")

    def successor(
        self, run: RunState, flow: Flow, step: MessageStep | QuestionStep, scores: Mapping[str, Any]
    ) -> str:
        if step.next is None:
            return flow.following(step.id)
        if isinstance(step.next, str):
            return step.next
        return _branch(step.next, run, scores)

    def current_step(self, run: RunState) -> tuple[Flow, QuestionStep]:
        flow = self.engine.flows.get(run.flow_id)
        step = flow.step(run.step_id or flow.start_step)
        assert not isinstance(step, MessageStep)
        return flow, step

    def ask(
        self,
        run: RunState,
        *,
        new_prompt: bool = False,
        note: str | None = None,
    ) -> None:
        """Send the current question (again), with its buttons bound to this prompt.

        ``new_prompt``: asked for the first time (``prompt_seq`` was just bumped), so it
        has no buttons yet to reuse.
        """
        _flow, step = self.current_step(run)
        text = self.step_text(run, step)
        rows: list[list[tuple[str, Any]]] = []  # (label, value) until the tokens are issued
        if isinstance(step, ChoiceStep):
            selection = set(run.context.get("selection", []))
            labels = [label_of(option, self._) for option in step.options]
            numbered = any(len(label) > LONG_LABEL for label in labels)
            if numbered:
                # A phone cuts long button text: list the options, put their numbers on buttons.
                text += "\n" + "\n".join(f"{i}. {label}" for i, label in enumerate(labels, 1))
                labels = [str(i) for i in range(1, len(labels) + 1)]
            buttons: list[tuple[str, Any]] = []
            for index, (option, label) in enumerate(zip(step.options, labels, strict=True)):
                if step.multiple:
                    mark = "✓ " if index in selection else ""
                    buttons.append((mark + label, {"act": "toggle", "i": index}))
                else:
                    buttons.append((label, {"a": option.value}))
            per_row = BUTTONS_PER_ROW if numbered else 1
            rows.extend(buttons[i : i + per_row] for i in range(0, len(buttons), per_row))
            if step.multiple:
                text += "\n" + self._("(Choose all that apply, then tap Done.)")
                rows.append([(self._("Done"), {"act": "done"})])
        elif isinstance(step, YesNoStep):
            rows.append([(self._("Yes"), {"a": True}), (self._("No"), {"a": False})])
        elif isinstance(step, ScaleStep):
            values = list(range(step.min, step.max + 1))
            for start in range(0, len(values), BUTTONS_PER_ROW):
                rows.append([(str(v), {"a": v}) for v in values[start : start + BUTTONS_PER_ROW]])
            if step.min_label and step.max_label:
                text += "\n" + self._("({low} = {low_label}, {high} = {high_label})").format(
                    low=step.min,
                    high=step.max,
                    low_label=self._(step.min_label),
                    high_label=self._(step.max_label),
                )
        elif isinstance(step, IntegerStep):
            text += "\n" + self._("(Please type a whole number from {low} to {high}.)").format(
                low=step.min, high=step.max
            )
        elif isinstance(step, DateStep):
            text += "\n" + self._("(Please type a date like 2025-03-31.)")
        elif isinstance(step, TextStep) and step.max_length < 500:
            text += "\n" + self._("(Please keep it under {limit} characters.)").format(
                limit=step.max_length
            )
        if step.skippable:
            rows.append([(self._("Skip this question"), {"act": "skip"})])

        if note:
            text += "\n\n" + note
        self.say(text, self.buttons(rows, run, new_prompt=new_prompt))

    def _answer_text(self, run: RunState, text: str) -> None:
        _flow, step = self.current_step(run)
        outcome = self._parse(step, text)
        if isinstance(outcome, Skip):
            self._skip(run)  # "skip" typed at a question that may be skipped
        elif isinstance(outcome, Rejected):
            self._refuse_text(run, step, outcome.reason)
        else:
            assert isinstance(outcome, Accepted)
            self.accept(run, outcome.value)

    def _parse(self, step: QuestionStep, text: str) -> Outcome:
        return parse_text(step, text, self._, lambda o: label_of(o, self._), skip=True)

    def _refuse_text(self, run: RunState, step: QuestionStep, reason: str) -> None:
        """A typed answer the question cannot take; in a burst, one reply for all of them (B-17).

        The first refused text of a batch at a prompt is re-asked as always. A further one at
        the same prompt is handled without a reply of its own and without counting as a bad
        attempt: the batch says once, for all of them, that it takes one answer at a time.
        That note rides on the re-ask when the next update waiting is such a text as well,
        else it goes on its own with the first one left without a reply. Words of crisis are
        never an extra: that message is handled in full, crisis reply and re-ask.
        """
        burst = self.burst
        if burst is None:
            self.reject(run, reason)
            return
        prompt = (run.run_id, run.prompt_seq)
        noted = burst.noted(prompt)
        if noted is not None and self.crisis is None:
            if not noted:
                self.say(self._(_ONE_AT_A_TIME))
                burst.mark(prompt, noted=True)
            return
        note = not noted and self._next_is_refused(step)
        self.reject(run, reason, note=note)
        burst.mark(prompt, noted=bool(noted) or note)

    def _next_is_refused(self, step: QuestionStep) -> bool:
        """Whether the batch's next update is a plain text this question will refuse too.

        Such a text reaches :meth:`_refuse_text` at the same prompt (nothing in between
        changes the client's place), so it will be an extra of this burst.
        """
        burst, inbound = self.burst, self.inbound
        assert burst is not None and inbound is not None
        following = burst.following
        if (
            following is None
            or following.kind is not InboundKind.TEXT
            or following.is_bot
            or following.user_id != inbound.user_id
            or following.chat_type != "private"
        ):
            return False
        text = following.text or ""
        if normalise(text).startswith("/") or self.engine.crisis_words.matches(text):
            return False
        return isinstance(self._parse(step, text), Rejected)

    def reject(self, run: RunState, reason: str, *, note: bool = False) -> None:
        """A short reply saying what is accepted; the step does not move.

        The question and its buttons stay on the screen above, so they are not sent again
        (a phone shows a wall of repeats otherwise). After a few tries the way to a person
        is said, not added as a button: no number changes its meaning mid-question.
        ``note``: the burst's "one answer at a time" note goes at the end.
        """
        run.bad_attempts += 1
        self.uow.save_run(run)
        parts = [reason]
        if run.bad_attempts >= self.engine.config.max_bad_answers:
            parts.append(self._("If this is hard to answer, send /human to talk to a person."))
        if note:
            parts.append(self._(_ONE_AT_A_TIME))
        self.say("\n\n".join(parts))

    def _toggle(self, run: RunState, index: int) -> None:
        _flow, step = self.current_step(run)
        if (
            not isinstance(step, ChoiceStep)
            or not step.multiple
            or not 0 <= index < len(step.options)
        ):
            self._closed(run)
            return
        selection: list[int] = list(run.context.get("selection", []))
        if index in selection:
            selection.remove(index)
        else:
            selection.append(index)
        run.context["selection"] = sorted(selection)
        self.uow.save_run(run)
        self.ask(run)

    def _done_selecting(self, run: RunState) -> None:
        _flow, step = self.current_step(run)
        if not isinstance(step, ChoiceStep):
            self._closed(run)
            return
        picked = [step.options[i] for i in run.context.get("selection", [])]
        outcome = check_selection(step, picked, self._)
        if isinstance(outcome, Rejected):
            self.reject(run, outcome.reason)
        else:
            assert isinstance(outcome, Accepted)
            self.accept(run, outcome.value)

    def _skip(self, run: RunState) -> None:
        flow, step = self.current_step(run)
        if not step.skippable:
            self._closed(run)
            return
        self._store_and_advance(run, flow, step, None)

    def accept(self, run: RunState, value: Any) -> None:
        flow, step = self.current_step(run)
        if (
            isinstance(step, ChoiceStep)
            and not step.multiple
            and value not in [o.value for o in step.options]
        ):
            self._closed(run)
            return
        self._store_and_advance(run, flow, step, value)

    def _reuse(self, run: RunState, flow: Flow, step: QuestionStep) -> bool:
        """Take the answer another flow got to the same question; False: ask it here.

        Only an answer this question has an option for is taken (a "don't know" it cannot
        store is asked again), and the response records where it came from.
        """
        assert step.reuse is not None
        found = self._earlier(step)
        if found is None:
            return False
        value, answered_at = found
        day = answered_at.date().isoformat() if answered_at else "?"
        provenance = f"{step.reuse.note} ({step.reuse.flow} {step.reuse.key}, answered {day})"
        run.step_id = step.id
        self._store_and_advance(run, flow, step, value, provenance=provenance)
        return True

    def _earlier(self, step: QuestionStep) -> tuple[Any, datetime] | None:
        """Another flow's answer this question can take as its own, and when it was given."""
        assert self.client is not None
        if step.reuse is None:
            return None
        found = self.uow.earlier_answer(self.client.client_id, step.reuse.flow, step.reuse.key)
        if found is None:
            return None
        value = found[0]
        if isinstance(step, ChoiceStep) and not step.multiple:
            usable = value in [option.value for option in step.options]
        else:
            usable = isinstance(step, YesNoStep) and isinstance(value, bool)
        return found if usable else None

    def _store_and_advance(
        self,
        run: RunState,
        flow: Flow,
        step: QuestionStep,
        value: Any,
        *,
        provenance: str | None = None,
    ) -> None:
        assert self.client is not None
        run.answers[step.key] = value
        if flow.kind is not FlowKind.CONSENT:
            # Consent decisions are kept in the consent record, nothing else before consent.
            self.uow.add_response(
                self.client,
                run,
                step.id,
                step.key,
                value,
                self.step_text(run, step),
                self.inbound_id,
                provenance=provenance,
            )
        scores = self.scores(run, flow)
        if self.fire_rules(run, flow, scores, step.key, value, step):
            self.finish(run, flow, RunStatus.ENDED)
            return
        following = self.successor(run, flow, step, scores)
        if self.paused:
            # An urgent rule fired without ending the flow: the answer is taken, and the run
            # stops before whatever comes next (said and asked when the pause ends).
            if following == END:
                self.finish(run, flow, RunStatus.COMPLETED)  # nothing else starts while paused
                return
            run.step_id = following
            run.prompt_seq += 1  # the answered question's buttons are closed
            run.bad_attempts = 0
            run.context[_RESUME_AT] = following
            self._pause_run(run)
            return
        self.walk(run, flow, following)

    # -- scores, flags, the end ------------------------------------------------------

    def scores(self, run: RunState, flow: Flow) -> dict[str, Any]:
        """Every score that can be computed from the answers so far (invalid ones are absent)."""
        results: dict[str, Any] = {}
        for declared in flow.scores:
            if declared.instrument is not None:
                answers = dict(run.answers)
                for item, key in declared.items.items():
                    answers[item] = run.answers.get(key)
                result = score_instrument(declared.instrument, answers, age=run.context.get("age"))
                if result.get("valid"):
                    results[declared.id] = result
            elif declared.expr is not None:
                try:
                    value = evaluate(
                        declared.expr, answers=run.answers, scores=results, context=run.context
                    )
                except (TypeError, KeyError, AttributeError, ZeroDivisionError):
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                band = next(
                    (b.band for b in declared.bands if b.max is None or value <= b.max), None
                )
                results[declared.id] = {"valid": True, "score": value, "band": band}
        return results

    def fire_rules(
        self,
        run: RunState,
        flow: Flow,
        scores: Mapping[str, Any],
        source_key: str | None,
        source_value: Any,
        step: QuestionStep | None,
    ) -> bool:
        """Raise each flag whose rule now holds (once per run); True if one ends the flow."""
        end = False
        for rule in flow.flags:
            if rule.id in run.fired_flags:
                continue
            if not holds(rule.when, answers=run.answers, scores=scores, context=run.context):
                continue
            run.fired_flags.append(rule.id)
            shown_value = None if isinstance(step, TextStep) else source_value  # minimum necessary
            self.flag(
                rule.severity,
                rule.reason,
                rule_id=f"{flow.id}.{rule.id}",
                dedupe_key=f"run:{run.run_id}:{rule.id}",
                source_key=source_key,
                source_value=shown_value,
            )
            message = (
                _fill(self._(rule.message), {**self.program_context(), **run.context})
                if rule.message
                else None
            )
            if rule.severity is Severity.URGENT:
                # Whatever the flow says, the program's real resources and the truth about
                # who was told go with it.
                self.say(
                    safety.rule_reply(
                        self.engine.program, self._, self.locale, message, rule.resources or ()
                    ),
                    priority=PRIORITY[rule.severity],
                )
            elif message:
                self.say(message, priority=PRIORITY[rule.severity])
            end = end or rule.then == "end"
        return end  # the caller saves the run (walk or finish), once

    def flag(
        self,
        severity: Severity,
        reason: str,
        *,
        rule_id: str,
        dedupe_key: str,
        source_key: str | None = None,
        source_value: Any = None,
    ) -> int | None:
        """Raise a flag and tell the client's case manager (or, failing them, supervisors).

        Returns the new flag's id; ``None`` when it was raised before (its dedupe key).
        An urgent flag pauses the client (:attr:`paused`).
        """
        client = self.client
        flag_id = self.uow.raise_flag(
            client,
            severity=severity,
            reason=reason,
            rule_id=rule_id,
            dedupe_key=dedupe_key,
            source_key=source_key,
            source_value=source_value,
        )
        if flag_id is None:
            return None
        targets = self.uow.staff_targets(client) if client is not None else []
        self.desk().alert(flag_id, targets, severity)
        if severity is Severity.URGENT and client is not None and client.paused_flag is None:
            client.paused_flag = flag_id
        return flag_id

    def desk(self) -> StaffDesk:
        return StaffDesk(
            self.uow,
            self.engine.translator,
            self.outbox_ids,
            inbound_id=self.inbound_id,
            bot_username=self.engine.bot_username,
            flows=self.engine.flows,
        )

    def finish(self, run: RunState, flow: Flow, status: RunStatus) -> None:
        """Close the run: store its scores, record consent, and move on to what is next."""
        assert self.client is not None
        scores = self.scores(run, flow)
        if flow.kind is not FlowKind.CONSENT:
            for declared in flow.scores:
                if declared.id in scores:
                    self.uow.save_score(
                        self.client, run, declared.id, declared.instrument, scores[declared.id]
                    )
        run.status = status
        run.step_id = None
        self.uow.save_run(run, ended=True)
        contact_id = run.context.get("scheduled_contact_id")
        if isinstance(contact_id, int):
            self.uow.contact_finished(contact_id, "answered")
        if flow.kind is FlowKind.CONSENT and not self._record_consent(run, flow):
            return
        if status is RunStatus.COMPLETED and not self.paused:
            following = self._next_flow()
            if following is not None:
                self.begin(following, {})
            else:
                self.say(self._all_done())

    def _all_done(self) -> str:
        return self._(
            "Thank you. There is nothing for you to answer right now. Your case "
            "manager will be in touch. Send /help to see what I can do."
        )

    def _record_consent(self, run: RunState, flow: Flow) -> bool:
        """Write the consent record; True when every required purpose was agreed to."""
        client = self.client
        assert client is not None
        decisions: dict[str, Any] = {}
        for purpose in flow.purposes:
            step = flow.step(purpose.step)
            decisions[purpose.purpose] = (
                None if isinstance(step, MessageStep) else run.answers.get(step.key)
            )
        granted = all(decisions.get(p.purpose) is True for p in flow.purposes if p.required)
        shown = "\n\n".join(self.step_text(run, step) for step in flow.steps)
        self.uow.record_consent(
            client,
            action="granted" if granted else "declined",
            flow_id=flow.id,
            version=flow.version,
            text_sha256=hashlib.sha256(f"{run.locale}\n{shown}".encode()).hexdigest(),
            locale=run.locale,
            decisions=decisions,
            inbound_id=self.inbound_id,
        )
        if granted:
            if client.status != ClientStatus.ACTIVE:
                self.uow.set_client(client.client_id, status=ClientStatus.ACTIVE)
                client.status = ClientStatus.ACTIVE
            return True
        self.uow.set_client(client.client_id, status=ClientStatus.DECLINED)
        client.status = ClientStatus.DECLINED
        self.uow.cancel_contacts(client.client_id, "declined")
        self.flag(
            Severity.ROUTINE,
            N_("Client declined consent; nothing else is collected"),
            rule_id="consent_declined",
            dedupe_key=f"declined:{run.run_id}",
        )
        return False


def _branch(branches: Sequence[Branch], run: RunState, scores: Mapping[str, Any]) -> str:
    for branch in branches:
        if branch.when is None or holds(
            branch.when, answers=run.answers, scores=scores, context=run.context
        ):
            return branch.goto
    raise RuntimeError("no branch matched")  # the loader rejects flows where this can happen


__all__ = ["ConversationEngine", "EngineConfig", "Handled", "Token"]
