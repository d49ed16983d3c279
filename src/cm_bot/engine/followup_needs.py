"""Post-exit follow-ups that compare with intake: stop, new needs, services for them.

The follow-up (``exit_followup``) asks housing (AHC item 1, ``ahc.q1``) and money (AHC item
11, ``ahc.q11``) exactly as intake did, and employment status (``employment.status``), so
its answers line up with intake's under the same keys (:data:`COMPARED`, read by
``storage/reads/compare.py``). When a follow-up run ends:

- "Stop these messages" (``followup.start`` = ``stop``) cancels the client's remaining
  follow-ups through :func:`cm_bot.engine.exiting.stop_followups`, with an audit row;
- a **new need** raises one ``routine`` flag naming the needs, whether or not the client
  asked for help: every need the client names in ``followup.new_needs`` (safety has its
  own ``urgent`` rule in the flow and is left to it), and housing or money answered
  positive by the AHC rules (instruments.md §1.4) when intake's answer was not positive
  (a need already positive at intake is known to the case: no flag; a question skipped
  at intake counts as not positive, since nobody knew of the need);
- services are offered for the new needs, as after intake (engine/referrals.py), unless
  the client is paused by an urgent flag; nothing for ``other`` (no service to match) or
  ``none``, and a need no service matches is named in the flag only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cm_bot.domain import RunStatus, Severity
from cm_bot.domain.needs import staff_need_name
from cm_bot.engine.exiting import stop_followups
from cm_bot.engine.ports import RunState
from cm_bot.engine.referrals import (
    OFFER_FLOW,
    OFFERED_PER_NEED,
    ReferralTurn,
)
from cm_bot.flows.schema import Flow, FlowKind
from cm_bot.i18n.translator import N_
from cm_bot.program import builtin_needs

START_KEY = "followup.start"
STOP = "stop"
NOT_NOW = "not_now"
NEEDS_KEY = "followup.new_needs"
NOT_NEEDS = frozenset({"none"})
NOT_OFFERED = frozenset({"none", "other", "safety"})  # safety: the urgent rule acts instead

HOUSING_KEY = "ahc.q1"
MONEY_KEY = "ahc.q11"
EMPLOYMENT_KEY = "employment.status"

# Each compared question: its key, the intake flows that ask it (the first answered wins),
# and the AHC need its positive answers mean (instruments.md §1.4), if any. Employment
# status is a status, not a screen: wanting help with work is the need "employment",
# named in ``followup.new_needs``.
COMPARED: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    (HOUSING_KEY, ("screening_ahc",), "living_situation"),
    (MONEY_KEY, ("intake_basics", "screening_ahc_supplemental"), "financial_strain"),
    (EMPLOYMENT_KEY, ("intake_basics",), None),
)
POSITIVE: dict[str, frozenset[str]] = {
    HOUSING_KEY: frozenset({"worried", "not_steady"}),  # §1.4 living_situation (q1 part)
    MONEY_KEY: frozenset({"very_hard", "somewhat_hard"}),  # §1.4 financial_strain
}

NEW_NEEDS = N_("Follow-up after exit: new needs since intake: {needs}")


def is_need(key: str, value: Any) -> bool:
    """Whether ``value`` answered to ``key`` is a positive screen (instruments.md §1.4)."""
    return value in POSITIVE.get(key, frozenset())


def new_needs(answers: Mapping[str, Any], intake: Mapping[str, Any]) -> list[str]:
    """The needs a follow-up shows that intake did not, in the AHC domain order.

    ``answers``: the follow-up run's; ``intake``: intake's answers to the compared keys.
    Named needs count whatever intake said (the client asks for help with them now);
    safety is left out (its own urgent rule), and so is ``none``.
    """
    named = answers.get(NEEDS_KEY)
    found = {str(n) for n in named} if isinstance(named, list) else set()
    for key, _flows, need in COMPARED:
        now, before = answers.get(key), intake.get(key)
        if need is not None and is_need(key, now) and not is_need(key, before):
            found.add(need)
    found -= NOT_NEEDS | {"safety"}
    order = [*builtin_needs(), *sorted(found - set(builtin_needs()))]
    return [n for n in order if n in found]


class FollowupTurn(ReferralTurn):
    """A turn that acts on a post-exit follow-up when its run ends."""

    def _followup_done(self, run: RunState, flow: Flow, status: RunStatus) -> bool:
        """Stop, flag and offer for a follow-up run; True when nothing else is to be said.

        True after "Stop these messages" and "Not now" (their own goodbye is the last word,
        not "your case manager will be in touch") and when a service offer goes on.
        """
        client = self.client
        if flow.kind is not FlowKind.FOLLOWUP or client is None:
            return False
        answers = run.answers
        start = answers.get(START_KEY)
        if start == STOP:
            stop_followups(
                self.uow,
                client.client_id,
                client.case_id,
                "followups_stopped",
                days_since_exit=run.context.get("days_since_exit"),
            )
            return True
        if start == NOT_NOW:
            return True
        intake = self._intake_answers(client.client_id)
        needs = new_needs(answers, intake)
        if needs:
            self.flag(
                Severity.ROUTINE,
                NEW_NEEDS,
                params={"needs": [staff_need_name(n) for n in needs]},
                rule_id=f"{flow.id}.new_needs",
                dedupe_key=f"run:{run.run_id}:new_needs",
                source_key=NEEDS_KEY,
                source_value=needs,
            )
        if status is not RunStatus.COMPLETED or self.paused:
            return False
        return self._offer_for(needs)

    def _intake_answers(self, client_id: int) -> dict[str, Any]:
        """Intake's answer to each compared key (the first intake flow that has one)."""
        found: dict[str, Any] = {}
        for key, flows, _need in COMPARED:
            for flow_id in flows:
                earlier = self.uow.runs.earlier_answer(client_id, flow_id, key)
                if earlier is not None:
                    found[key] = earlier[0]
                    break
        return found

    def _offer_for(self, needs: list[str]) -> bool:
        """Offer matching services for ``needs`` (one at a time); True if an offer started."""
        client = self.client
        assert client is not None
        if client.case_id is None or OFFER_FLOW not in self.flows:
            return False
        queue: list[list[str]] = []
        queued: set[str] = set()
        for need in (n for n in needs if n not in NOT_OFFERED):
            tried = sorted(self.uow.referrals.tried(client.case_id, need))
            for card in self.uow.directory.match(need, self.locale, OFFERED_PER_NEED, tried):
                if card.service_id not in queued:
                    queue.append([need, card.service_id])
                    queued.add(card.service_id)
        return self._next_offer(queue, previous=None)


__all__ = [
    "COMPARED",
    "EMPLOYMENT_KEY",
    "HOUSING_KEY",
    "MONEY_KEY",
    "NEW_NEEDS",
    "FollowupTurn",
    "is_need",
    "new_needs",
]
