"""Words of crisis and the pause an urgent flag puts on a client.

Words of crisis, from anyone, come first in every turn: resources and an urgent flag
before all else. While a client is paused, every message is kept for the case manager,
nothing is asked, and replies are rare.
"""

from __future__ import annotations

from cm_bot.domain import (
    ClientStatus,
    InboundKind,
    Priority,
    Severity,
)
from cm_bot.engine import safety
from cm_bot.engine.access import AccessTurn
from cm_bot.engine.answers import (
    normalise,
)
from cm_bot.engine.clearing import CLEAR_PAYLOAD, SAFE_WORD_RULE
from cm_bot.engine.commands import PAUSED_ACTIONS, PAUSED_COMMANDS, CommandTurn
from cm_bot.engine.crisis import CrisisMatch
from cm_bot.engine.ports import RunState
from cm_bot.i18n.translator import N_

# Read for words of crisis: typed text, edits and captions (forwards carry no text here).
_READ_FOR_CRISIS = frozenset({InboundKind.TEXT, InboundKind.EDITED, InboundKind.MEDIA})


class UrgentTurn(CommandTurn, AccessTurn):
    """A turn that reads for words of crisis and keeps a paused client's messages."""

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
        match = self.crisis_words.find(inbound.text)
        if match is None:
            return
        self.crisis = match
        if self.uow.cases.staff_for(inbound.channel, inbound.user_id) is not None:
            return
        if inbound.chat_type != "private":
            self._unlinked_crisis(match)
            return
        client = self.uow.runs.client_for(inbound.channel, inbound.user_id, lock=True)
        if client is None or client.status == ClientStatus.ERASED:
            self._unlinked_crisis(match)
            return
        self.client = client
        self.locale = self._client_locale()
        if client.paused_flag is not None:
            return  # added to the open flag as a held message (_while_paused)
        flag_id = self.flag_then_tell(
            Severity.URGENT,
            N_("A message from the client used words of crisis or self-harm"),
            rule_id="crisis_words",
            dedupe_key=f"crisis:{self.inbound_id}",
            tell=safety.crisis_reply(self.program, self._, self.locale, violence=match.violence),
            priority=Priority.URGENT,
            only_if_new=True,
        )
        if flag_id is None:
            return  # an earlier attempt at this update already said it
        self.crisis_kept = True
        self._hold(flag_id, replied=True, opened=True)
        self._pause_run(self.uow.runs.current_run(client.client_id))

    def _unlinked_crisis(self, match: CrisisMatch) -> None:
        """Someone no case knows (or a group) wrote words of crisis: resources, and a notice.

        Every such message gets the resources. Staff get one urgent flag per sender a day
        (``unknown_user_reply_every``): a flood raises one flag, not one per message. In a
        private chat what is kept is bounded as for any stranger (:meth:`_stranger_trace`).
        """
        inbound, inbound_id = self.inbound, self.inbound_id
        assert inbound is not None and inbound_id is not None
        self.client = None
        self.locale = self.translator.locale_for(inbound.language)
        sender = self._stranger()
        since = inbound.received_at - self.config.unknown_user_reply_every
        reply = safety.unlinked_reply(self.program, self._, violence=match.violence)
        if self.uow.inbox.sender_crisis_flagged_since(sender, since):
            self._reply_to_chat(reply, priority=Priority.URGENT)  # staff know of them today
        elif (
            self.flag_then_tell(
                Severity.URGENT,
                N_(
                    "A person linked to no case wrote words of crisis to the bot. They were "
                    "given the crisis resources; the bot cannot tell who they are."
                ),
                rule_id="crisis_words_unlinked",
                dedupe_key=f"crisis:{sender}:{inbound_id}",
                tell=reply,
                priority=Priority.URGENT,
                only_if_new=True,
            )
            is None
        ):
            return  # an earlier attempt at this update already said it
        self.crisis_kept = True
        if inbound.chat_type == "private":
            self._stranger_trace(sender, "crisis_from_unknown_person")

    def _hold(self, flag_id: int, *, replied: bool, opened: bool = False) -> None:
        """Keep what the client sent while paused, and show the count on the flag's notices.

        ``opened``: the message that raised the flag (its notice is being written now).
        """
        inbound, client = self.inbound, self.client
        assert inbound is not None and client is not None
        self.uow.flags.hold_message(
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
        if inbound.kind is InboundKind.BUTTON and inbound.payload == CLEAR_PAYLOAD:
            self.clear_this_chat()  # clearing the chat works while paused too
            return
        if inbound.kind is InboundKind.BUTTON:
            token = self.uow.buttons.resolve_token(inbound.payload or "")
            value = token.value if token is not None and isinstance(token.value, dict) else {}
            if (
                token is not None
                and token.client_id == client.client_id
                and token.run_id is None
                and value.get("act") in PAUSED_ACTIONS
            ):
                self._runless_action(run, value.get("act"), value)
                return
        elif inbound.kind is InboundKind.TEXT and text.startswith("/"):
            name = text.partition(" ")[0][1:].split("@", 1)[0].casefold()
            if name in PAUSED_COMMANDS:
                if not self.crisis_kept:
                    self._hold(flag_id, replied=False)
                self._command(run, text)
                return
        if self.crisis_kept:
            return  # this message raised the pause: its reply and record are written
        if inbound.kind is InboundKind.TEXT:
            _values, choice = self._menu_choice(text)
            if choice is not None and choice.get("act") in PAUSED_ACTIONS:
                self._hold(flag_id, replied=False)
                self._runless_action(run, choice.get("act"), choice)
                return
        since = inbound.received_at - self.config.paused_reply_every
        reply = not self.uow.flags.replied_while_paused(client.client_id, since)
        self._hold(flag_id, replied=reply)
        if reply:
            # After a safe word someone else may be reading: a neutral line, no crisis line.
            neutral = self.uow.flags.open_flag_exists(client.client_id, SAFE_WORD_RULE)
            text = self._("OK.") if neutral else safety.paused_reply(self.program, self._)
            self.say(text, priority=Priority.HIGH)


__all__ = ["UrgentTurn"]
