"""Button taps: a token bound to one client and prompt, or to a menu; else "closed"."""

from __future__ import annotations

from cm_bot.domain import (
    InboundKind,
    RunStatus,
)
from cm_bot.engine.answering import AnswerTurn
from cm_bot.engine.clearing import CLEAR_PAYLOAD
from cm_bot.engine.commands import CommandTurn
from cm_bot.engine.ports import RunState


class ButtonTurn(CommandTurn, AnswerTurn):
    """A turn that resolves a tapped button to what it meant when it was shown."""

    def _button(self, run: RunState | None) -> None:
        assert self.client is not None and self.inbound is not None
        if self.inbound.payload == CLEAR_PAYLOAD:  # "Clear this chat" works at any time
            self.clear_this_chat()
            return
        token = self.uow.buttons.resolve_token(self.inbound.payload or "")
        if token is None or token.client_id != self.client.client_id:
            self.uow.audit.record(
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
            self.restart(run)
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


__all__ = ["ButtonTurn"]
