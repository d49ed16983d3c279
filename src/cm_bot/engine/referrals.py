"""Referrals in the conversation (issue 17): services offered after intake, and "did you get help?".

When the intake screenings finish with positive needs (positive AHC domains, a positive
Hunger Vital Sign as ``hunger``), each need in a stable order gets up to three matching
services from the directory (``uow.directory``), one at a time: the shipped flow
``referral_offer`` shows one service's card and asks "Please refer me", "I'll contact them
myself" or "Not now". Its run carries the offer and the services still to show in its
engine state (``OFFER``), so a typed answer, a resume, a restart or a pause work as for any
question. A referral made records its check-in (``ReferralMade``); the scheduler starts
``referral_checkin`` some days later with the referral in the run's state (``REFERRAL_ID``).

Nothing is offered while the client is paused by an urgent flag (it comes at their next
message after the pause), nor in the middle of a questionnaire: only when no intake flow
is left. A client is offered services once (``uow.referrals.offered``); a failed referral
offers the next matching service.
"""

from __future__ import annotations

from typing import Any

from cm_bot.domain import ReferralReason, ReferralStatus, Severity
from cm_bot.domain.needs import staff_need_name
from cm_bot.engine.config import OFFER, REFERRAL_ASK, REFERRAL_ID
from cm_bot.engine.notices import REFERRAL_REASON_WORDS
from cm_bot.engine.ports import RunState, ServiceCard
from cm_bot.engine.walk import FlowTurn
from cm_bot.flows.schema import Flow
from cm_bot.i18n.translator import N_
from cm_bot.program import builtin_needs

OFFER_FLOW = "referral_offer"
CHECKIN_FLOW = "referral_checkin"
OFFERED_PER_NEED = 3
CHOICE_KEY = "referral.choice"
RESULT_KEY = "referral.result"
REASON_KEY = "referral.reason"
MAX_ASKS = 2  # the first check-in and, after "still waiting", one more

# How a need is named to the client: "... may be able to help with {need}". Worded apart from
# the staff's names (cm_bot.domain.needs), so each language can use the grammar it needs.
NEED_NAMES: dict[str, str] = {
    "living_situation": N_("housing"),
    "food": N_("getting food"),
    "hunger": N_("getting food"),
    "transportation": N_("getting around"),
    "utilities": N_("utility bills (electricity, gas, water)"),
    "safety": N_("your safety"),
    "financial_strain": N_("money for basic needs"),
    "employment": N_("finding work"),
    "family_community_support": N_("support from family or community"),
    "education": N_("learning and education"),
    "physical_activity": N_("being physically active"),
    "substance_use": N_("alcohol or drug use"),
    "mental_health": N_("your mental health"),
    "disabilities": N_("everyday tasks"),
    "health": N_("getting health care"),
    "other": N_("other needs"),
}

REFERRAL_REQUESTED = N_("Referral requested: {need} — {service}")
NO_SERVICE_MATCHED = N_("No service in the directory matched a need: {need}")
REFERRAL_FAILED = N_("Referral failed: {need} — {service} ({reason})")
STILL_WAITING = N_("Client still waiting for help after two referral check-ins: {need} — {service}")


def client_need_name(need: str) -> str:
    """A need as the client reads it in "help with {need}" (a msgid; staff names differ)."""
    return NEED_NAMES.get(need, need.replace("_", " "))


class ReferralTurn(FlowTurn):
    """A turn that offers services after intake and closes the loop on referrals."""

    # -- the offer -----------------------------------------------------------------------

    def _offer_referrals(self) -> bool:
        """Offer services for the client's positive needs, once; True if an offer started.

        Needs no service matches are said (and flagged) here; the caller then says the
        closing message when nothing started.
        """
        client = self.client
        if (
            client is None
            or client.case_id is None
            or self.paused
            or OFFER_FLOW not in self.flows
            or self.uow.referrals.offered(client.client_id)
        ):
            return False
        positive = self.uow.referrals.positive_needs(client.client_id)
        order = [*builtin_needs(), *sorted(positive - set(builtin_needs()))]
        queue: list[list[str]] = []
        queued: set[str] = set()
        for need in (n for n in order if n in positive):
            tried = self.uow.referrals.tried(client.case_id, need)
            found = self.uow.directory.match(need, self.locale, OFFERED_PER_NEED, sorted(tried))
            if any(card.service_id in queued for card in found):
                continue  # the same services as an earlier need (food and hunger): offered once
            if not found:
                self._no_service(need)
                continue
            for card in found:
                queue.append([need, card.service_id])
                queued.add(card.service_id)
        return self._next_offer(queue, previous=None)

    def _next_offer(self, queue: list[list[str]], previous: str | None) -> bool:
        """Show the first service of ``queue`` still in the directory; False if none is left."""
        assert self.client is not None
        flow = self.flows.get(OFFER_FLOW)
        while queue:
            need, service_id = queue.pop(0)
            cards = self.uow.directory.services([service_id], self.locale)
            if not cards:
                continue
            card = cards[0]
            offer_id = self.uow.referrals.record_offer(self.client, need, service_id)
            self._begin_offer(flow, need, card, offer_id, queue, first=need != previous)
            return True
        return False

    def _begin_offer(
        self,
        flow: Flow,
        need: str,
        card: ServiceCard,
        offer_id: int,
        queue: list[list[str]],
        *,
        first: bool,
    ) -> None:
        need_name = self._(client_need_name(need))
        intro = (
            self._("Here is a service that may be able to help with {need}.")
            if first
            else self._("Here is another service that may be able to help with {need}.")
        ).format(need=need_name)
        context = {"card": intro + "\n\n" + self._card(card), "service": card.name}
        state = {
            OFFER: {
                "offer": offer_id,
                "need": need,
                "service": card.service_id,
                "name": card.name,
                "queue": queue,
            }
        }
        self.begin(flow, context, state)

    def _card(self, card: ServiceCard) -> str:
        """A service as the client reads it: name, what it offers, how to reach it, when."""
        lines = [card.name]
        if card.description:
            lines.append(card.description)
        if card.phone:
            lines.append(self._("Phone: {phone}").format(phone=card.phone))
        if card.address:
            lines.append(self._("Address: {address}").format(address=card.address))
        if card.opening_hours:
            lines.append(self._("Open: {hours}").format(hours=card.opening_hours))
        if card.languages:
            names = [
                self.translator.language_name_in(code, self.locale, alone=False)
                for code in card.languages
            ]
            lines.append(self._("Languages: {languages}").format(languages=", ".join(names)))
        return "\n".join(lines)

    def _no_service(self, need: str) -> None:
        """Nothing in the directory for a need: say the case manager will help; flag it."""
        assert self.client is not None
        self.uow.referrals.record_offer(self.client, need, None)
        need_name = self._(client_need_name(need))
        self.flag_then_tell(
            Severity.ROUTINE,
            NO_SERVICE_MATCHED,
            params={"need": staff_need_name(need)},
            rule_id="referral_no_service",
            dedupe_key=f"referral_none:{self.client.client_id}:{need}:{self.uow.now.isoformat()}",
            tell=self._(
                "I could not find a service for {need} in our list right now. Your case "
                "manager will help you find one."
            ).format(need=need_name),
        )

    # -- a referral run has ended ---------------------------------------------------------

    def _referral_run_done(self, run: RunState) -> bool:
        """After an offer or a check-in: record it; True if another offer started."""
        offer = run.state.get(OFFER)
        if isinstance(offer, dict):
            return self._offer_answered(run, offer)
        referral_id = run.state.get(REFERRAL_ID)
        if isinstance(referral_id, int):
            return self._checkin_answered(run, referral_id)
        return False

    def _offer_answered(self, run: RunState, offer: dict[str, Any]) -> bool:
        client = self.client
        assert client is not None
        choice = str(run.answers.get(CHOICE_KEY, "not_now"))
        need, service_id, name = str(offer["need"]), str(offer["service"]), str(offer["name"])
        queue = [list(item) for item in offer.get("queue", [])]
        referral_id: int | None = None
        if choice in ("refer", "self"):
            status = ReferralStatus.REQUESTED if choice == "refer" else ReferralStatus.SELF_REFERRED
            referral_id = self.uow.referrals.create(
                client, need, service_id, name, status, made_by="client"
            )
            queue = [item for item in queue if item[0] != need]  # this need has its referral
        self.uow.referrals.answer_offer(int(offer["offer"]), choice, referral_id)
        days = self.program.referral_checkin_days
        if choice == "refer":
            assert referral_id is not None
            self.flag_then_tell(
                Severity.ROUTINE,
                REFERRAL_REQUESTED,
                params={"need": staff_need_name(need), "service": name},
                rule_id="referral_requested",
                dedupe_key=f"referral:{referral_id}",
                tell=self._(
                    "Thank you. I have asked your case manager to refer you to {service}. "
                    "In {days} days I will ask you how it went."
                ).format(service=name, days=days),
            )
        elif choice == "self":
            self.say(
                self._(
                    "Good. You can use the phone number and address above. In {days} days I "
                    "will ask you how it went."
                ).format(days=days)
            )
        return self._next_offer(queue, previous=need)

    def _checkin_answered(self, run: RunState, referral_id: int) -> bool:
        client = self.client
        assert client is not None
        referral = self.uow.referrals.referral(referral_id)
        if referral is None:
            return False
        result = run.answers.get(RESULT_KEY)
        if result == "got_help":
            self.uow.referrals.set_status(
                referral_id, ReferralStatus.COMPLETED, ReferralReason.GOT_HELP, actor="client"
            )
            return False
        if result == "waiting":
            ask = run.state.get(REFERRAL_ASK, 1)
            if isinstance(ask, int) and ask < MAX_ASKS:
                self.uow.referrals.ask_again(referral_id, ask + 1)
            else:
                self.flag(
                    Severity.ROUTINE,
                    STILL_WAITING,
                    params={
                        "need": staff_need_name(referral.need),
                        "service": referral.service_name,
                    },
                    rule_id="referral_still_waiting",
                    dedupe_key=f"referral_waiting:{referral_id}",
                )
            return False
        if result != "no_help":
            return False
        reason = run.answers.get(REASON_KEY)
        code = reason if reason in set(ReferralReason) else ReferralReason.OTHER
        self.uow.referrals.set_status(referral_id, ReferralStatus.FAILED, str(code), actor="client")
        self.flag(
            Severity.ROUTINE,
            REFERRAL_FAILED,
            params={
                "need": staff_need_name(referral.need),
                "service": referral.service_name,
                "reason": REFERRAL_REASON_WORDS.get(str(code), str(code)),
            },
            rule_id="referral_failed",
            dedupe_key=f"referral_failed:{referral_id}",
        )
        if OFFER_FLOW not in self.flows or client.case_id is None:
            return False
        tried = self.uow.referrals.tried(client.case_id, referral.need)
        found = self.uow.directory.match(referral.need, self.locale, 1, sorted(tried))
        if not found:
            self._no_service(referral.need)
            return False
        return self._next_offer([[referral.need, found[0].service_id]], previous=referral.need)


__all__ = [
    "CHECKIN_FLOW",
    "NEED_NAMES",
    "OFFER_FLOW",
    "ReferralTurn",
    "client_need_name",
]
