"""Flag notices to staff: who is told of a flag, what they read, and its escalation.

The first layer of the staff desk (:class:`cm_bot.engine.staff.StaffDesk` stacks the
commands on top): everything here writes to the outbox inside the caller's unit of work.
Notices carry the minimum necessary (:mod:`cm_bot.engine.notices` words them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cm_bot.domain import Button, ClientStatus, FlagStatus, Outbound, Priority, Severity
from cm_bot.engine.notices import (
    PRIORITY,
    SCORE_REF,
    Gettext,
    Shown,
    flow_scores,
    notice_text,
    step_of,
)
from cm_bot.engine.ports import ClientView, FlagView, ScoreView, StaffTarget, UnitOfWork
from cm_bot.engine.safety import resumed
from cm_bot.engine.zones import zone_of
from cm_bot.flows.loader import FlowRegistry
from cm_bot.flows.schema import FlagRule, Flow
from cm_bot.i18n.translator import N_, Translator

# The staff desk's log, under the name it has always had (operators filter on it).
log = logging.getLogger("cm_bot.engine.staff")
# Why a notice reached someone other than the case manager (its first line).
ESCALATED = N_("Escalated to you: nobody acknowledged this flag in time.")
MANAGER_UNREACHABLE = N_("Sent to you: the case manager cannot be reached on Telegram.")
HANDED_OVER = N_("Handed over to you: the case manager's access has ended.")


@dataclass
class AlertDesk:
    """Flag notices inside one unit of work: alert, notify, refresh, escalate, end a pause."""

    uow: UnitOfWork
    translator: Translator
    outbox_ids: list[int]
    inbound_id: int | None = None
    bot_username: str | None = None
    console_url: str | None = None  # the web console's public URL (/console links)
    # The flows, for option labels and score rules; without them a notice shows the stored
    # question with the plain answer value.
    flows: FlowRegistry | None = None
    # Starts a flow for a client in this unit of work (``Engine.start_flow``); the exit
    # conversation needs it. None: the exit happens without one.
    start_flow: Callable[[UnitOfWork, ClientView, str, dict[str, Any]], list[int]] | None = None

    @property
    def now(self) -> datetime:
        """The moment of the unit of work this desk writes into."""
        return self.uow.now

    # -- notices ---------------------------------------------------------------------

    def _rule(self, flag: FlagView) -> tuple[Flow, FlagRule] | None:
        """The flow rule that raised a flag (its ``rule_id`` is ``<flow id>.<rule id>``)."""
        flow_id, dot, rule_id = (flag.rule_id or "").partition(".")
        if self.flows is None or not dot or flow_id not in self.flows:
            return None
        flow = self.flows.get(flow_id)
        rule = next((r for r in flow.flags if r.id == rule_id), None)
        return None if rule is None else (flow, rule)

    def shown(self, flag: FlagView) -> Shown:
        """What the notices about ``flag`` say of its cause: the scores a rule reads, or the step.

        A score's stored result is shown once the run has ended; before, it is worked out
        from the run's answers, as the rule saw it.
        """
        found = self._rule(flag)
        if found is None:
            return Shown()
        flow, rule = found
        wanted = list(dict.fromkeys(m.group("id") for m in SCORE_REF.finditer(rule.when)))
        if wanted:
            stored = {s.score_id: s for s in flag.scores}
            computed: dict[str, dict[str, Any]] = {}
            if any(w not in stored for w in wanted) and flag.run_id is not None:
                computed = flow_scores(flow, *self.uow.runs.run_answers(flag.run_id))
            instruments = {d.id: d.instrument for d in flow.scores}
            scores: list[ScoreView] = []
            for score_id in wanted:
                if score_id in stored:
                    scores.append(stored[score_id])
                elif score_id in computed:
                    result = computed[score_id]
                    value = result.get("score")
                    scores.append(
                        ScoreView(
                            score_id,
                            instruments.get(score_id),
                            float(value) if isinstance(value, int | float) else None,
                            result.get("band"),
                            tuple(result.get("positive_domains") or ()),
                        )
                    )
            if scores:
                return Shown(scores=tuple(scores))
        return Shown(step=step_of(flow, flag.source_key) if flag.source_key else None)

    def notice(
        self,
        flag: FlagView,
        locale: str | None,
        timezone: str | None,
        shown: Shown | None = None,
    ) -> str:
        """A notice in a reader's language and time zone.

        The answer's words are in the reader's language when they set one, else in the
        client's (the language the question is quoted in).
        """
        _ = self.translator.get(locale).gettext
        label_locale = locale or flag.answer_locale
        return notice_text(
            flag,
            _,
            zone=zone_of(timezone),
            shown=self.shown(flag) if shown is None else shown,
            label_gettext=self.translator.get(label_locale).gettext,
        )

    def _buttons(self, flag: FlagView, staff_id: int | None, _: Gettext) -> list[list[Button]]:
        def button(label: str, act: str) -> Button:
            return Button(
                _(label), self.uow.buttons.staff_token(staff_id, {"flag": flag.flag_id, "act": act})
            )

        row = []
        if flag.status == FlagStatus.OPEN:
            row.append(button(N_("Acknowledge"), "ack"))
        if flag.status != FlagStatus.RESOLVED:
            row.append(button(N_("Resolve"), "resolve"))
        row.append(button(N_("Open case"), "open"))
        return [row]

    def raise_flag(
        self,
        client: ClientView | None,
        severity: Severity,
        reason: str,
        *,
        rule_id: str,
        dedupe_key: str,
        source_key: str | None = None,
        source_value: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Raise a flag on ``client`` and alert who must know; ``None``: it stood already.

        ``reason`` is a msgid; ``params`` fill its placeholders, kept apart so each reader
        sees the reason in their own language (:mod:`cm_bot.engine.flag_reasons`).

        The one way a flag is raised, in a conversation or outside one (a follow-up
        unanswered, a send whose fate is unknown). With no client (words of crisis from a
        stranger) an urgent or high flag goes straight to the supervisors and the team.
        """
        flag_id = self.uow.flags.raise_flag(
            client,
            severity=severity,
            reason=reason,
            rule_id=rule_id,
            dedupe_key=dedupe_key,
            source_key=source_key,
            source_value=source_value,
            params=params,
        )
        if flag_id is not None:
            targets = self.uow.cases.staff_targets(client) if client is not None else []
            self.alert(flag_id, targets, severity)
        return flag_id

    def alert(self, flag_id: int, targets: Sequence[StaffTarget], severity: Severity) -> None:
        """Tell the case manager; when they cannot be reached, supervisors and the team at once.

        A case manager with no linked Telegram, who blocked the bot or was deactivated is
        no target (``staff_targets``); an urgent or high flag then goes straight to the
        supervisors, admins and team chat rather than waiting for escalation.
        """
        team = severity is Severity.URGENT
        why: str | None = None
        if not targets and severity in (Severity.URGENT, Severity.HIGH):
            targets = self.uow.cases.escalation_targets()
            team = True
            why = MANAGER_UNREACHABLE
            # Escalated now, so the timed escalation does not tell the same people again.
            self.uow.flags.mark_escalated(flag_id, self.now)
        if (
            not self.notify(flag_id, targets, team=team, why=why)
            and severity is not Severity.ROUTINE
        ):
            log.warning(
                "%s flag %s reaches nobody: no case manager, supervisor, admin or team chat "
                "can be reached on Telegram",
                severity.value,
                flag_id,
            )
            flag = self.uow.flags.flag_view(flag_id)
            self.uow.audit.record(
                "system",
                "escalation_unreached",
                None if flag is None else flag.case_id,
                flag_id=flag_id,
            )

    def notify(
        self,
        flag_id: int,
        targets: Sequence[StaffTarget],
        *,
        team: bool,
        why: str | None = None,
    ) -> int:
        """Send a flag notice to each target (and the team chat for urgent ones).

        ``why``: a first line saying why it reached them and not only the case manager
        (:data:`ESCALATED`, :data:`MANAGER_UNREACHABLE`, :data:`HANDED_OVER`).
        """
        flag = self.uow.flags.flag_view(flag_id)
        if flag is None:
            return 0
        destinations: list[tuple[str, str, int | None, str | None, str | None]] = [
            (t.channel, t.chat_id, t.staff_id, t.locale, t.timezone) for t in targets
        ]
        team_chat = self.uow.cases.team_chat() if team else None
        if team_chat:
            destinations.append(("telegram", team_chat, None, None, None))
        shown = self.shown(flag)
        for channel, chat_id, staff_id, locale, timezone in destinations:
            _ = self.translator.get(locale).gettext
            notice = self.notice(flag, locale, timezone, shown)
            message = Outbound(
                channel=channel,
                chat_id=chat_id,
                text=notice if why is None else f"{_(why)}\n{notice}",
                buttons=tuple(tuple(r) for r in self._buttons(flag, staff_id, _)),
                priority=PRIORITY[Severity(flag.severity)],
            )
            self.outbox_ids.append(
                self.uow.outbox.enqueue(
                    message, staff_id=staff_id, flag_id=flag_id, inbound_id=self.inbound_id
                )
            )
        return len(destinations)

    def refresh_notices(self, flag_id: int) -> None:
        """Edit every notice about a flag to show its new status (and the buttons left)."""
        flag = self.uow.flags.flag_view(flag_id)
        if flag is None:
            return
        shown = self.shown(flag)
        for ref in self.uow.flags.notices_of(flag_id):
            _ = self.translator.get(ref.locale).gettext
            message = Outbound(
                channel=ref.channel,
                chat_id=ref.chat_id,
                text=self.notice(flag, ref.locale, ref.timezone, shown),
                buttons=tuple(tuple(r) for r in self._buttons(flag, None, _)),
                priority=Priority.HIGH,
                edit_of=ref.outbox_id,
            )
            self.outbox_ids.append(
                self.uow.outbox.enqueue(message, flag_id=flag_id, inbound_id=self.inbound_id)
            )

    def escalate(self, now: datetime, urgent_after: timedelta, high_after: timedelta) -> int:
        """Tell supervisors about urgent/high flags nobody acknowledged in time (once each)."""
        count = 0
        for severity, after in ((Severity.URGENT, urgent_after), (Severity.HIGH, high_after)):
            for flag in self.uow.flags.due_escalations(severity, now - after):
                self.uow.flags.mark_escalated(flag.flag_id, now)
                self.uow.audit.record(
                    "system", "flag_escalated", flag.case_id, flag_id=flag.flag_id
                )
                if not self.notify(
                    flag.flag_id,
                    self.uow.cases.escalation_targets(),
                    team=severity == Severity.URGENT,
                    why=ESCALATED,
                ):
                    log.warning(
                        "%s flag %s could not be escalated: no supervisor, admin or team "
                        "chat can be reached on Telegram",
                        severity,
                        flag.flag_id,
                    )
                    # On record too, so `cm-bot flags list` shows it reached nobody.
                    self.uow.audit.record(
                        "system", "escalation_unreached", flag.case_id, flag_id=flag.flag_id
                    )
                count += 1
        return count

    def end_pause(self, flag: FlagView) -> None:
        """A resolved urgent flag ends the client's pause: tell them once, in their language.

        Their next message carries on where the conversation stopped (the engine).
        """
        if flag.severity != Severity.URGENT.value or flag.client_id is None:
            return
        if self.uow.flags.open_urgent_flag(flag.client_id) is not None:
            return  # another urgent flag still holds the pause
        client = self.uow.runs.client_by_id(flag.client_id)
        if client is None or client.status != ClientStatus.ACTIVE:
            return  # withdrawn, declined, erased or unreachable: no contact
        prefs = self.uow.contacts.preferences(client.client_id)
        if prefs is not None and not prefs.may_message_first:
            return  # not safe to write first: their next message carries on all the same
        _ = self.translator.get(client.locale).gettext
        message = Outbound(
            channel=client.channel,
            chat_id=client.chat_id,
            text=resumed(_),
            priority=Priority.HIGH,
        )
        self.outbox_ids.append(
            self.uow.outbox.enqueue(message, client_id=client.client_id, inbound_id=self.inbound_id)
        )
        self.uow.audit.record("system", "pause_ended", flag.case_id, flag_id=flag.flag_id)


__all__ = ["ESCALATED", "HANDED_OVER", "MANAGER_UNREACHABLE", "AlertDesk"]
