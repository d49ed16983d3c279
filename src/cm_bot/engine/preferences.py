"""Safe-contact preferences: may the bot write first, when, and the safe word (issue 18).

Many clients share a phone with the person they fear. Right after consent is given (and
whenever the client sends ``/preferences``) the flow ``contact_preferences`` asks three
things; when it finishes, :func:`act_on_answers` stores them on the client:

* **message first?** "no": the bot never starts a conversation. Scheduled contacts
  become tasks for the case manager (:mod:`cm_bot.scheduling.staff_tasks`), and a flow
  the program would start (the exit conversation) is not started: a routine flag asks
  the case manager to call or see the client instead (:meth:`PreferencesTurn.start_scheduled`).
* **hours:** a part of the day, stored as the client's contact hours afresh each time
  (so "morning" then "evening" gives evening), and intersected with the program's hours
  where they are used (:func:`cm_bot.scheduling.policy.client_zone`): never wider.
* **safe word:** only ``salt$sha256`` of the normalised word is kept (the answer itself is
  stored as "set"). Sent later, at any point, it gets one neutral line, an urgent flag
  "Safe word used", and the chat cleared as by ``/clear`` (:meth:`PreferencesTurn.safe_word_used`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from cm_bot.domain import InboundKind, RunStatus, Severity
from cm_bot.engine.answers import fold, wants_to_skip, yes_no
from cm_bot.engine.clearing import SAFE_WORD_RULE
from cm_bot.engine.commands import COMMANDS, CommandTurn
from cm_bot.engine.exiting import DAYPARTS, EXIT_FLOW, FollowupChoice
from cm_bot.engine.ports import RunState, UnitOfWork
from cm_bot.engine.preference_lines import preference_lines
from cm_bot.flows.schema import Flow, QuestionStep
from cm_bot.i18n.translator import N_, Gettext

PREFERENCES_FLOW = "contact_preferences"
MESSAGE_FIRST_KEY = "prefs.message_first"
HOURS_KEY = "prefs.hours"
SAFE_WORD_KEY = "prefs.safe_word"
KEEP_SAFE_WORD_KEY = "prefs.keep_safe_word"
HAS_SAFE_WORD = "has_safe_word"
"""Context of the flow: whether the client has a safe word (then asked whether to keep it)."""
SAFE_WORD_STATE = "safe_word_hash"
"""Where the run keeps the new safe word's hash until the flow finishes (never the word)."""
SAFE_WORD_SET = "set"
"""What is stored as the safe-word answer instead of the word."""

SAFE_WORD_REASON = N_("Safe word used")
STAFF_TASK_EXIT = N_(
    "Not safe to message the client first: call or see them for the exit conversation"
)
STAFF_TASK_OTHER = N_(
    "Not safe to message the client first: call or see them instead of the bot's message"
)


# Words a client sends anyway: as a safe word they would wipe the chat by mistake.
EVERYDAY_WORDS = (
    "ok", "okay", "hi", "hello", "hey", "thanks", "thank you", "help", "stop", "done",
    "hola", "gracias", "ayuda", "vale", "привіт", "дякую", "допоможіть", "добре",
)  # fmt: skip
TOO_COMMON = N_(
    "That is a word you might send us anyway, so it could clear the chat by mistake. "
    "Please choose a less common word, or skip this question."
)


def too_common(word: str, _: Gettext) -> bool:
    """A word that reads as an answer (yes, no, skip, a number) or everyday talk."""
    folded = fold(word)
    letters = folded.replace(" ", "")
    return (
        len(letters) < 3
        or letters.isdecimal()
        or yes_no(word, _) is not None
        or wants_to_skip(word, _)
        or folded in {fold(w) for w in (*EVERYDAY_WORDS, _("OK."))}
    )


def normalise_safe_word(text: str) -> str:
    """Casefolded, stripped, inner whitespace collapsed: how a safe word is compared."""
    return " ".join(text.casefold().split())


def hash_safe_word(word: str, salt: str | None = None) -> str:
    """``salt$sha256(salt:word)`` of the normalised word; a new random salt when none given."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}:{normalise_safe_word(word)}".encode()).hexdigest()
    return f"{salt}${digest}"


def is_safe_word(text: str, stored: str | None) -> bool:
    """Whether ``text`` (normalised) is the safe word whose hash is ``stored``."""
    if not stored or "$" not in stored or not normalise_safe_word(text):
        return False
    salt = stored.split("$", 1)[0]
    return hmac.compare_digest(hash_safe_word(text, salt), stored)


def act_on_answers(
    uow: UnitOfWork,
    client_id: int,
    case_id: int | None,
    answers: Mapping[str, Any],
    state: Mapping[str, Any],
) -> None:
    """Store the finished flow's answers on the client, and put the change on record.

    A skipped hours question keeps the hours the client had. A client with a safe word is
    asked whether to keep it; a skipped safe-word question otherwise means none.
    """
    current = uow.contacts.preferences(client_id)
    if current is None:
        return
    raw_first = answers.get(MESSAGE_FIRST_KEY)
    message_first = raw_first if isinstance(raw_first, bool) else current.message_first
    hours: tuple[Any, Any] | None = None
    raw_hours = answers.get(HOURS_KEY)
    choice = FollowupChoice(raw_hours) if raw_hours in set(FollowupChoice) else None
    if choice is None and current.contact_start and current.contact_end:
        hours = (current.contact_start, current.contact_end)  # skipped: as they were
    elif choice is not None:
        hours = DAYPARTS.get(choice)  # "any": the program's hours
    raw_hash = state.get(SAFE_WORD_STATE)
    safe_word_hash = raw_hash if isinstance(raw_hash, str) else None
    if answers.get(KEEP_SAFE_WORD_KEY) is True:
        safe_word_hash = current.safe_word_hash
    uow.contacts.set_preferences(
        client_id, message_first=message_first, hours=hours, safe_word_hash=safe_word_hash
    )
    uow.audit.record(
        f"client:{client_id}",
        "contact_preferences_set",
        case_id,
        message_first=message_first,
        hours=choice.value if choice is not None else None,
        safe_word="set" if safe_word_hash else "not set",
    )


class PreferencesTurn(CommandTurn):
    """A turn that asks the preferences after consent, honours them, and hears the safe word."""

    _preferences_next = False  # consent was just given: the preferences come first

    def _record_consent(self, run: RunState, flow: Flow) -> bool:
        granted = super()._record_consent(run, flow)
        if granted and PREFERENCES_FLOW in self.flows:
            self._preferences_next = True
        return granted

    def _next_flow(self) -> Flow | None:
        """Right after a new consent, the preferences; otherwise as before (consent, intake)."""
        if self._preferences_next and not self._needs_consent():
            self._preferences_next = False
            return self.flows.get(PREFERENCES_FLOW)
        return super()._next_flow()

    def begin(
        self, flow: Flow, context: dict[str, Any], state: dict[str, Any] | None = None
    ) -> None:
        """The preferences flow learns whether there is a safe word to keep."""
        if flow.id == PREFERENCES_FLOW and self.client is not None:
            prefs = self.uow.contacts.preferences(self.client.client_id)
            context = {**context, HAS_SAFE_WORD: bool(prefs and prefs.safe_word_hash)}
        super().begin(flow, context, state)

    def _store_and_advance(
        self,
        run: RunState,
        flow: Flow,
        step: QuestionStep,
        value: Any,
        *,
        provenance: str | None = None,
    ) -> None:
        if flow.id == PREFERENCES_FLOW and step.key == SAFE_WORD_KEY:
            # The word never reaches a stored row: its hash waits in the run, "set" is kept.
            if isinstance(value, str) and too_common(value, self._):
                self.say(self._(TOO_COMMON))  # the question stays above; the step does not move
                return
            run.state.pop(SAFE_WORD_STATE, None)
            if isinstance(value, str) and normalise_safe_word(value):
                run.state[SAFE_WORD_STATE] = hash_safe_word(value)
                value = SAFE_WORD_SET
            else:
                value = None
        super()._store_and_advance(run, flow, step, value, provenance=provenance)

    def finish(self, run: RunState, flow: Flow, status: RunStatus) -> None:
        """Store the preferences when their flow completes, then move on as any flow does."""
        if flow.id == PREFERENCES_FLOW and status is RunStatus.COMPLETED:
            assert self.client is not None
            act_on_answers(
                self.uow, self.client.client_id, self.client.case_id, run.answers, run.state
            )
            run.state.pop(SAFE_WORD_STATE, None)
        super().finish(run, flow, status)

    def start_scheduled(
        self, flow: Flow, context: dict[str, Any], state: dict[str, Any]
    ) -> list[int]:
        """As before, but nothing starts for a client it is not safe to message first.

        The case manager is asked to call or see them instead (a routine flag, once a day
        per flow). Scheduled contacts never get here for such a client: the dispatcher
        turns them into tasks itself.
        """
        client = self.client
        assert client is not None
        prefs = self.uow.contacts.preferences(client.client_id)
        if prefs is not None and not prefs.may_message_first:
            self.flag(
                Severity.ROUTINE,
                STAFF_TASK_EXIT if flow.id == EXIT_FLOW else STAFF_TASK_OTHER,
                rule_id="staff_task",
                dedupe_key=f"stafftask:{flow.id}:{client.client_id}:{self.uow.now.date()}",
            )
            self.uow.audit.record(
                f"client:{client.client_id}", "not_messaged_first", client.case_id, flow=flow.id
            )
            return []
        return super().start_scheduled(flow, context, state)

    def _preference_lines(self) -> list[str]:
        """``/mydata``: the preferences (the safe word only as set or not set)."""
        assert self.client is not None
        prefs = self.uow.contacts.preferences(self.client.client_id)
        if prefs is None:
            return []
        return preference_lines(
            prefs.message_first,
            prefs.contact_start,
            prefs.contact_end,
            prefs.safe_word_hash is not None,
            self._,
        )

    def safe_word_used(self, run: RunState | None) -> bool:
        """The client sent their safe word: one neutral line, an urgent flag, the chat cleared.

        Nothing of the message is kept (the inbox drops its text as the turn ends; it is not
        an answer), and the open run stays on its step (paused, as an urgent flag pauses).
        """
        inbound, client = self.inbound, self.client
        if inbound is None or client is None or inbound.kind is not InboundKind.TEXT:
            return False
        text = inbound.text or ""
        if not text.strip() or text.lstrip().startswith("/"):
            return False
        if run is not None and run.flow_id == PREFERENCES_FLOW and run.step_id == "safe_word":
            return False  # choosing (again) the safe word is an answer, not its use
        prefs = self.uow.contacts.preferences(client.client_id)
        if prefs is None or not is_safe_word(text, prefs.safe_word_hash):
            return False
        self.flag(
            Severity.URGENT,
            SAFE_WORD_REASON,
            rule_id=SAFE_WORD_RULE,
            dedupe_key=f"safeword:{self.inbound_id}",
        )
        self._pause_run(run)
        self.clear_this_chat(self._("OK."))
        self.uow.audit.record(f"client:{client.client_id}", "safe_word_used", client.case_id)
        return True


@COMMANDS.register("preferences")
def _on_preferences(turn: CommandTurn, run: RunState | None, _argument: str) -> None:
    """``/preferences``: ask the three questions again (after consent, between questions)."""
    assert turn.client is not None
    if not turn._may_collect(None) or turn._needs_consent():
        turn.begin_consent_again()
        return
    if run is not None and run.status == RunStatus.ACTIVE and run.flow_id != PREFERENCES_FLOW:
        turn.say(
            turn._(
                "Let's finish these questions first. Then send /preferences to change how "
                "we contact you."
            )
        )
        turn._reask(run)
        return
    if PREFERENCES_FLOW in turn.flows:
        turn.begin(turn.flows.get(PREFERENCES_FLOW), {})


__all__ = [
    "HOURS_KEY",
    "MESSAGE_FIRST_KEY",
    "PREFERENCES_FLOW",
    "SAFE_WORD_KEY",
    "PreferencesTurn",
    "act_on_answers",
    "hash_safe_word",
    "is_safe_word",
    "normalise_safe_word",
]
