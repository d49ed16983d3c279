"""Answers to the current question: typed, tapped, toggled, skipped, or refused (B-17 bursts)."""

from __future__ import annotations

from typing import Any

from cm_bot.domain import (
    InboundKind,
)
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
from cm_bot.engine.burst import ONE_AT_A_TIME
from cm_bot.engine.config import SELECTION
from cm_bot.engine.ports import RunState
from cm_bot.engine.walk import FlowTurn
from cm_bot.flows.schema import (
    ChoiceStep,
    QuestionStep,
)


class AnswerTurn(FlowTurn):
    """A turn that takes (or refuses) an answer to the question the client stands at."""

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
        return parse_text(
            step, text, self._, lambda o: label_of(o, self._), skip=True, today=self.uow.now.date()
        )

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
                self.say(self._(ONE_AT_A_TIME))
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
        if normalise(text).startswith("/") or self.crisis_words.matches(text):
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
        self.uow.runs.save_run(run)
        parts = [reason]
        if run.bad_attempts >= self.config.max_bad_answers:
            parts.append(self._("If this is hard to answer, send /human to talk to a person."))
        if note:
            parts.append(self._(ONE_AT_A_TIME))
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
        selection: list[int] = list(run.state.get(SELECTION, []))
        if index in selection:
            selection.remove(index)
        else:
            selection.append(index)
        run.state[SELECTION] = sorted(selection)
        self.uow.runs.save_run(run)
        self.ask(run)

    def _done_selecting(self, run: RunState) -> None:
        _flow, step = self.current_step(run)
        if not isinstance(step, ChoiceStep):
            self._closed(run)
            return
        picked = [step.options[i] for i in run.state.get(SELECTION, [])]
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
        """Store a valid answer (a tapped option, a parsed text) and walk on."""
        flow, step = self.current_step(run)
        if (
            isinstance(step, ChoiceStep)
            and not step.multiple
            and value not in [o.value for o in step.options]
        ):
            self._closed(run)
            return
        self._store_and_advance(run, flow, step, value)


__all__ = ["AnswerTurn"]
