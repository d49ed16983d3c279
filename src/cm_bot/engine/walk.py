"""Walking a flow: begin, walk, ask, store an answer, fire rules, finish; the consent gate.

Also the places a walk starts again from: the resume offer, a re-ask, a closed
question, the end of a safety pause.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cm_bot.domain import (
    CaseStatus,
    ClientStatus,
    ContactStatus,
    RunStatus,
    Severity,
)
from cm_bot.domain.text import fill
from cm_bot.engine import safety
from cm_bot.engine.answers import (
    label_of,
)
from cm_bot.engine.config import (
    BUTTONS_PER_ROW,
    CARRIED,
    CONTACT,
    LONG_LABEL,
    RESUME_AT,
    SAFETY_PAUSE,
    SELECTION,
)
from cm_bot.engine.consenting import record_consent
from cm_bot.engine.exiting import EXIT_FLOW, act_on_answers
from cm_bot.engine.ports import ClientView, RunState, UnitOfWork
from cm_bot.engine.staff import PRIORITY
from cm_bot.engine.turn import Turn, TurnParts
from cm_bot.flows.conditions import evaluate, holds
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
from cm_bot.i18n.translator import N_
from cm_bot.scoring import score as score_instrument


class FlowTurn(Turn):
    """A turn that can start, walk, ask and finish flows."""

    def _pause_run(self, run: RunState | None) -> None:
        """Stop the open run where it is; it picks up at the client's first message after."""
        if run is None or run.status != RunStatus.ACTIVE:
            return
        run.status = RunStatus.PAUSED
        run.state[SAFETY_PAUSE] = True
        self.uow.runs.save_run(run)

    def _continue(self, run: RunState) -> None:
        """End a safety pause on the run: ask the question it stopped at (or walk on)."""
        run.state.pop(SAFETY_PAUSE, None)
        resume_at = run.state.pop(RESUME_AT, None)
        run.status = RunStatus.ACTIVE
        self.uow.runs.save_run(run)
        if isinstance(resume_at, str):
            self.walk(run, self.flows.get(run.flow_id), resume_at)
        else:
            self.ask(run)

    def _needs_consent(self) -> bool:
        consent = self.consent_flow
        if consent is None:
            return False
        assert self.client is not None
        return self.uow.runs.consent_version(self.client.client_id, consent.id) != consent.version

    def _may_collect(self, run: RunState | None) -> bool:
        """Before consent and after withdrawal, only the consent conversation may run."""
        assert self.client is not None
        consent = self.consent_flow
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
        consent = self.consent_flow
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

    def begin_consent_again(self) -> None:
        """Ask for consent (again): nothing else is collected until it is given."""
        consent = self.consent_flow
        if consent is None:
            self._not_collecting()
            return
        self.begin(consent, {})

    def _next_flow(self) -> Flow | None:
        assert self.client is not None
        if self._needs_consent():
            return self.consent_flow
        finished = self.uow.runs.finished_flows(self.client.client_id)
        pending = [f for f in self.config.intake_flows if f not in finished and f in self.flows]
        if not pending or self._case_ended():
            return None
        return self.flows.get(pending[0])

    def _case_ended(self) -> bool:
        """An exited or closed case is asked no intake: its goodbye is the last word."""
        assert self.client is not None
        ref = self.client.case_ref
        case = self.uow.cases.case_by_ref(ref) if ref is not None else None
        return case is not None and case.status in (CaseStatus.EXITED, CaseStatus.CLOSED)

    def _idle(self) -> None:
        if self.paused:
            return
        flow = self._next_flow()
        if flow is None:
            if not self._offer_referrals():  # once: after intake, or after a pause ended it
                self.say(self._all_done())
            return
        self.begin(flow, {})

    def _offer_resume(self, run: RunState, *, restarting: bool = False) -> None:
        if self.paused:
            return
        flow = self.flows.get(run.flow_id)
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

    def _reask(self, run: RunState | None) -> None:
        if not self.paused and run is not None and run.status == RunStatus.ACTIVE and run.step_id:
            self.ask(run)

    def _closed(self, run: RunState | None) -> None:
        self.say(self._("That question has closed."))
        if run is not None and run.status == RunStatus.PAUSED:
            self._offer_resume(run)
        else:
            self._reask(run)

    def start_scheduled(
        self, flow: Flow, context: dict[str, Any], state: dict[str, Any]
    ) -> list[int]:
        """Begin ``flow`` for the turn's client on the program's initiative (a scheduled contact).

        Nothing starts (an empty list) for a client without a current consent or who is
        withdrawn, declined or unreachable, or who is paused by an urgent flag.
        """
        client = self.client
        assert client is not None
        if client.status != ClientStatus.ACTIVE or self._needs_consent():
            return []  # no consent, no contact: the caller records why
        client.paused_flag = self.uow.flags.open_urgent_flag(client.client_id)
        if self.paused:
            return []  # the caller checks the pause first; this is the backstop
        self.begin(flow, context, state)
        return self.outbox_ids

    def _start_for(
        self, uow: UnitOfWork, client: ClientView, flow_id: str, context: dict[str, Any]
    ) -> list[int]:
        """Start ``flow_id`` for another client (a staff action's) in this turn's transaction."""
        parts = TurnParts(
            translator=self.translator,
            flows=self.flows,
            config=self.config,
            program=self.program,
            crisis_words=self.crisis_words,
            consent_flow=self.consent_flow,
            bot_username=self.bot_username,
        )
        other = type(self)(parts, uow, client=client)
        ids: list[int] = other.start_scheduled(self.flows.get(flow_id), context, {})
        self.outbox_ids.extend(ids)
        return ids

    def restart(self, run: RunState) -> None:
        """Start ``run``'s flow again from the top, still answering the same contact and goal."""
        carried = {key: run.state[key] for key in CARRIED if key in run.state}
        self.begin(self.flows.get(run.flow_id), dict(run.context), carried)

    def begin(
        self, flow: Flow, context: dict[str, Any], state: dict[str, Any] | None = None
    ) -> None:
        """Start a run of ``flow`` (abandoning any open one) and walk to its first question.

        ``context``: what the flow may read; ``state``: the engine's own keys (``CARRIED``).
        """
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
        run = self.uow.runs.start_run(
            self.client, flow.id, flow.version, self.locale, context, state
        )
        self.walk(run, flow, flow.start_step)

    def step_text(self, run: RunState, step: MessageStep | QuestionStep) -> str:
        """A step's text in the run's language, its placeholders filled."""
        return fill(self._(step.text), {**self.program_context(), **run.context})

    def program_context(self) -> dict[str, str]:
        """The program's placeholders (``{emergency}``, ``{retention}`` ...) in this language."""
        return self.program.context(self._, self.locale)

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
            run.state.pop(SELECTION, None)
            self.uow.runs.save_run(run)
            self.ask(run, new_prompt=True)
            return
        raise RuntimeError(f"flow {flow.id} loops without asking anything")

    def successor(
        self, run: RunState, flow: Flow, step: MessageStep | QuestionStep, scores: Mapping[str, Any]
    ) -> str:
        """The step after ``step``: its ``next``, the first branch that holds, or the next one."""
        if step.next is None:
            return flow.following(step.id)
        if isinstance(step.next, str):
            return step.next
        return _branch(step.next, run, scores)

    def current_step(self, run: RunState) -> tuple[Flow, QuestionStep]:
        """The run's flow and the question it stands at."""
        flow = self.flows.get(run.flow_id)
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
            selection = set(run.state.get(SELECTION, []))
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
        found = self.uow.runs.earlier_answer(self.client.client_id, step.reuse.flow, step.reuse.key)
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
            self.uow.runs.add_response(
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
            run.state[RESUME_AT] = following
            self._pause_run(run)
            return
        self.walk(run, flow, following)

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
                fill(self._(rule.message), {**self.program_context(), **run.context})
                if rule.message
                else None
            )
            if rule.severity is Severity.URGENT:
                # Whatever the flow says, the program's real resources and the truth about
                # who was told go with it.
                self.say(
                    safety.rule_reply(
                        self.program, self._, self.locale, message, rule.resources or ()
                    ),
                    priority=PRIORITY[rule.severity],
                )
            elif message:
                self.say(message, priority=PRIORITY[rule.severity])
            end = end or rule.then == "end"
        return end  # the caller saves the run (walk or finish), once

    def finish(self, run: RunState, flow: Flow, status: RunStatus) -> None:
        """Close the run: store its scores, record consent, and move on to what is next."""
        assert self.client is not None
        scores = self.scores(run, flow)
        if flow.kind is not FlowKind.CONSENT:
            for declared in flow.scores:
                if declared.id in scores:
                    self.uow.runs.save_score(
                        self.client, run, declared.id, declared.instrument, scores[declared.id]
                    )
        run.status = status
        run.step_id = None
        self.uow.runs.save_run(run, ended=True)
        contact_id = run.state.get(CONTACT)
        if isinstance(contact_id, int):
            self.uow.contacts.contact_finished(contact_id, ContactStatus.ANSWERED)
        if flow.id == EXIT_FLOW and status is RunStatus.COMPLETED:
            act_on_answers(self.uow, self.client.client_id, self.client.case_id, run.answers)
        if self._followup_done(run, flow, status):
            return  # stopped, "not now", or services offered (engine/followup_needs.py)
        if flow.kind is FlowKind.CONSENT and not self._record_consent(run, flow):
            return
        if status is RunStatus.COMPLETED and not self.paused:
            if self._referral_run_done(run):
                return  # the next service is offered
            following = self._next_flow()
            if following is not None:
                self.begin(following, {})
            elif flow.id in self.config.intake_flows and self._offer_referrals():
                return  # intake is over: services for the needs it found (engine/referrals.py)
            else:
                self.say(self._all_done())

    def _offer_referrals(self) -> bool:
        """Offer services for the needs intake found (:mod:`cm_bot.engine.referrals`)."""
        return False

    def _followup_done(self, run: RunState, flow: Flow, status: RunStatus) -> bool:
        """Act on a post-exit follow-up (:mod:`cm_bot.engine.followup_needs`)."""
        return False

    def _referral_run_done(self, run: RunState) -> bool:
        """Record an offer's or a referral check-in's answer (:mod:`cm_bot.engine.referrals`)."""
        return False

    def _all_done(self) -> str:
        return self._(
            "Thank you. There is nothing for you to answer right now. Your case "
            "manager will be in touch. Send /help to see what I can do."
        )

    def _record_consent(self, run: RunState, flow: Flow) -> bool:
        """Write the consent record (:mod:`cm_bot.engine.consenting`); True when granted."""
        assert self.client is not None
        shown = "\n\n".join(self.step_text(run, step) for step in flow.steps)
        if record_consent(self.uow, self.client, run, flow, shown, self.inbound_id):
            return True
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


__all__ = ["FlowTurn"]
