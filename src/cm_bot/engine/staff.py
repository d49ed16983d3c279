"""The staff side of the conversation: flag notices, one-tap actions, case commands.

Staff are an allow-list: only a Telegram account bound through a staff invite is
staff. Every read of case data and every refused attempt is audited. Notices
carry the minimum necessary: case ref, severity, reason, the question as the
client saw it with a non-free-text answer (or, for a score rule, the score and
its band), and when, in the reader's own time zone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cm_bot.domain import Button, CaseStatus, Outbound, Priority, Severity
from cm_bot.engine.answers import label_of
from cm_bot.engine.ports import FlagView, ScoreView, StaffTarget, StaffUnitOfWork, StaffView
from cm_bot.engine.safety import resumed
from cm_bot.engine.zones import zone_named, zone_of
from cm_bot.flows.conditions import evaluate
from cm_bot.flows.loader import FlowRegistry
from cm_bot.flows.schema import (
    ChoiceStep,
    FlagRule,
    Flow,
    MessageStep,
    QuestionStep,
    ScaleStep,
    TextStep,
    YesNoStep,
)
from cm_bot.i18n.translator import N_, Translator
from cm_bot.scoring import score as score_instrument

SEVERITY_NAMES = {
    Severity.URGENT: N_("Urgent"),
    Severity.HIGH: N_("High"),
    Severity.ROUTINE: N_("Routine"),
}
SEVERITY_MARKS = {Severity.URGENT: "🔴", Severity.HIGH: "🟠", Severity.ROUTINE: "🔵"}
PRIORITY = {
    Severity.URGENT: Priority.URGENT,
    Severity.HIGH: Priority.HIGH,
    Severity.ROUTINE: Priority.NORMAL,
}
CADENCES = ("weekly", "fortnightly", "monthly")
# Stored status words, shown to staff in their language.
WORDS = {
    "intake": N_("intake"),
    "active": N_("active"),
    "exited": N_("exited"),
    "closed": N_("closed"),
    "granted": N_("granted"),
    "declined": N_("declined"),
    "withdrawn": N_("withdrawn"),
    "answered": N_("answered"),
    "no_response": N_("no response"),
    "unreachable": N_("unreachable"),
    "opted_out": N_("opted out"),
    "no_consent": N_("no current consent"),
}
INVITE_TTL = timedelta(days=14)
# Instruments by the names case managers know them by (not translated: proper names).
INSTRUMENT_NAMES = {
    "phq9": "PHQ-9",
    "phq2": "PHQ-2",
    "gad7": "GAD-7",
    "gad2": "GAD-2",
    "hvs": "Hunger Vital Sign",
    "ahc": "AHC HRSN",
}
# The scorers' band codes (cm_bot.scoring), shown to staff in their language.
BAND_NAMES = {
    "minimal": N_("minimal"),
    "mild": N_("mild"),
    "moderate": N_("moderate"),
    "moderately_severe": N_("moderately severe"),
    "severe": N_("severe"),
    "screen_negative": N_("screen negative"),
    "screen_positive": N_("screen positive"),
    "at_risk": N_("at risk"),
    "no_risk": N_("no risk"),
    "unknown": N_("not known (both answers: don't know)"),
}
QUESTION_SHOWN = 80  # characters of the question a notice shows
_SCORE_REF = re.compile(r"""scores\s*\[\s*(['"])(?P<id>[^'"]+)\1""")

Gettext = Callable[[str], str]
log = logging.getLogger(__name__)
MAX_EXIT_AHEAD = timedelta(days=366)  # /exit dates: from the case's opening to a year ahead
HELD_TEXT = 300  # characters of each held message /case shows
# Why a notice reached someone other than the case manager (its first line).
ESCALATED = N_("Escalated to you: nobody acknowledged this flag in time.")
MANAGER_UNREACHABLE = N_("Sent to you: the case manager cannot be reached on Telegram.")
HANDED_OVER = N_("Handed over to you: the case manager's access has ended.")
REF_AUDITED = 20  # characters of a typed case ref kept in the audit log and echoed back


def when(moment: datetime | None, zone: ZoneInfo | None = None) -> str:
    """A time as staff read it: in their zone (UTC if unset), to the minute, the zone named."""
    if moment is None:
        return "—"
    zone = zone or ZoneInfo("UTC")
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


def shorten(question: str, limit: int = QUESTION_SHOWN) -> str:
    """A question in one line of about ``limit`` characters.

    Of a question in several paragraphs the last is kept: a screening item comes after its
    stem ("Over the last 2 weeks, how often ...?" then "Thoughts that you would be ...").
    """
    paragraphs = [p for p in re.split(r"\n\s*\n", question.strip()) if p.strip()]
    line = " ".join((paragraphs[-1] if paragraphs else question).split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.—-") + "…"


def step_of(flow: Flow, key: str) -> QuestionStep | None:
    """The question of ``flow`` whose answer is stored under ``key``."""
    for step in flow.steps:
        if not isinstance(step, MessageStep) and step.key == key:
            return step
    return None


def answer_label(step: QuestionStep | None, value: Any, _: Gettext) -> str | None:
    """The words the client tapped for ``value``, in ``_``'s language; ``None`` if none.

    Options of a choice (several joined with commas), Yes or No, and the labelled ends of a
    scale have words; typed numbers, dates and free text do not.
    """
    if value is None:
        return None
    if isinstance(step, YesNoStep) and isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(step, ChoiceStep):
        labels = []
        for one in value if isinstance(value, list) else [value]:
            option = next(
                (o for o in step.options if o.value == one and type(o.value) is type(one)), None
            )
            if option is None:
                return None
            labels.append(label_of(option, _))
        return ", ".join(labels) or None
    if isinstance(step, ScaleStep) and isinstance(value, int) and not isinstance(value, bool):
        end = step.min_label if value == step.min else step.max_label if value == step.max else None
        return _(end) if end else None
    return None


def shown_answer(step: QuestionStep | None, value: Any, _: Gettext) -> str:
    """An answer as a notice shows it: its label, else the plain value; never free text."""
    if isinstance(step, TextStep):
        return _("(free text — not shown here)")
    if value is None:
        return "—"
    label = answer_label(step, value, _)
    if isinstance(step, ScaleStep):
        return f"{value} ({label})" if label else str(value)
    if label is not None:
        return label
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def score_name(score_id: str, instrument: str | None) -> str:
    """A score as case managers name it: the instrument's name, else the flow's score id."""
    return INSTRUMENT_NAMES.get(instrument or score_id, score_id)


def score_line(score: ScoreView, _: Gettext) -> str:
    """``Score PHQ-9: 14 (moderate)``; positive domains stand in for a missing band."""
    value = "—" if score.value is None else f"{score.value:g}"
    if score.band:
        band = _(BAND_NAMES[score.band]) if score.band in BAND_NAMES else score.band
    else:
        band = ", ".join(d.replace("_", " ") for d in score.positive_domains) or "—"
    return _("Score {name}: {value} ({band})").format(
        name=score_name(score.score_id, score.instrument), value=value, band=band
    )


def flow_scores(
    flow: Flow, answers: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Every score of ``flow`` the answers allow (invalid ones are absent), as the engine scores.

    Mirrors the engine's ``_Turn.scores``: a notice raised mid-run shows the score the rule
    saw, before the run ends and its scores are stored.
    """
    results: dict[str, dict[str, Any]] = {}
    for declared in flow.scores:
        if declared.instrument is not None:
            items = dict(answers)
            for item, key in declared.items.items():
                items[item] = answers.get(key)
            result = score_instrument(declared.instrument, items, age=context.get("age"))
            if result.get("valid"):
                results[declared.id] = dict(result)
        elif declared.expr is not None:
            try:
                value = evaluate(
                    declared.expr, answers=dict(answers), scores=results, context=dict(context)
                )
            except (TypeError, KeyError, AttributeError, ZeroDivisionError):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            band = next((b.band for b in declared.bands if b.max is None or value <= b.max), None)
            results[declared.id] = {"valid": True, "score": value, "band": band}
    return results


@dataclass(frozen=True, slots=True)
class Shown:
    """What a notice says about a flag's cause, worked out once for all its readers.

    ``scores`` for a rule on scores; else the answered question's step (``None`` when the
    flow is unknown: the stored question and the plain value are shown).
    """

    step: QuestionStep | None = None
    scores: tuple[ScoreView, ...] = ()


def notice_text(
    flag: FlagView,
    _: Gettext,
    *,
    zone: ZoneInfo | None = None,
    shown: Shown | None = None,
    label_gettext: Gettext | None = None,
) -> str:
    """The body of a flag notice, with its current status.

    ``zone``: the reader's time zone (UTC if ``None``); ``label_gettext``: the language the
    answer's label is shown in (the reader's if ``None``).
    """
    severity = Severity(flag.severity)
    translate = _  # reasons are data (marked N_ where they are written), not literals here
    shown = shown or Shown()
    lines = [
        SEVERITY_MARKS[severity]
        + " "
        + _("{severity} flag — case {ref}").format(
            severity=_(SEVERITY_NAMES[severity]), ref=flag.case_ref or "—"
        ),
        _("Reason: {reason}").format(reason=translate(flag.reason)),
    ]
    if shown.scores:
        lines.extend(score_line(score, _) for score in shown.scores)
    elif flag.source_key:
        lines.append(
            _("Question: {question} — answer: {answer}").format(
                question=shorten(flag.question) if flag.question else flag.source_key,
                answer=shown_answer(shown.step, flag.source_value, label_gettext or _),
            )
        )
    lines.append(_("Raised: {time}").format(time=when(flag.created_at, zone)))
    if severity is Severity.URGENT and flag.client_id is not None and flag.status != "resolved":
        lines.append(_("The bot is paused for this client until the flag is resolved."))
    if flag.held:
        lines.append(
            _("New messages from the client: {count} (with words of crisis: {crisis})").format(
                count=flag.held, crisis=flag.held_crisis
            )
            + " — /case "
            + (flag.case_ref or "")
        )
    if flag.status == "acknowledged":
        lines.append(
            _("Acknowledged by {name} at {time}").format(
                name=flag.acted_by or "—", time=when(flag.acted_at, zone)
            )
        )
    elif flag.status == "resolved":
        lines.append(
            _("Resolved by {name} at {time}").format(
                name=flag.acted_by or "—", time=when(flag.acted_at, zone)
            )
        )
    return "\n".join(lines)


@dataclass
class StaffDesk:
    """Staff-facing work inside one unit of work; writes everything to the outbox."""

    uow: StaffUnitOfWork
    translator: Translator
    outbox_ids: list[int]
    inbound_id: int | None = None
    bot_username: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The flows, for option labels and score rules; without them a notice shows the stored
    # question with the plain answer value.
    flows: FlowRegistry | None = None

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
        wanted = list(dict.fromkeys(m.group("id") for m in _SCORE_REF.finditer(rule.when)))
        if wanted:
            stored = {s.score_id: s for s in flag.scores}
            computed: dict[str, dict[str, Any]] = {}
            if any(w not in stored for w in wanted) and flag.run_id is not None:
                computed = flow_scores(flow, *self.uow.run_answers(flag.run_id))
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
                _(label), self.uow.staff_token(staff_id, {"flag": flag.flag_id, "act": act})
            )

        row = []
        if flag.status == "open":
            row.append(button(N_("Acknowledge"), "ack"))
        if flag.status != "resolved":
            row.append(button(N_("Resolve"), "resolve"))
        row.append(button(N_("Open case"), "open"))
        return [row]

    def alert(self, flag_id: int, targets: Sequence[StaffTarget], severity: Severity) -> None:
        """Tell the case manager; when they cannot be reached, supervisors and the team at once.

        A case manager with no linked Telegram, who blocked the bot or was deactivated is
        no target (``staff_targets``); an urgent or high flag then goes straight to the
        supervisors, admins and team chat rather than waiting for escalation.
        """
        team = severity is Severity.URGENT
        why: str | None = None
        if not targets and severity in (Severity.URGENT, Severity.HIGH):
            targets = self.uow.escalation_targets()
            team = True
            why = MANAGER_UNREACHABLE
            # Escalated now, so the timed escalation does not tell the same people again.
            self.uow.mark_escalated(flag_id, self.now)
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
            flag = self.uow.flag_view(flag_id)
            self.uow.audit(
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
        flag = self.uow.flag_view(flag_id)
        if flag is None:
            return 0
        destinations: list[tuple[str, str, int | None, str | None, str | None]] = [
            (t.channel, t.chat_id, t.staff_id, t.locale, t.timezone) for t in targets
        ]
        team_chat = self.uow.team_chat() if team else None
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
                self.uow.enqueue(
                    message, staff_id=staff_id, flag_id=flag_id, inbound_id=self.inbound_id
                )
            )
        return len(destinations)

    def refresh_notices(self, flag_id: int) -> None:
        """Edit every notice about a flag to show its new status (and the buttons left)."""
        flag = self.uow.flag_view(flag_id)
        if flag is None:
            return
        shown = self.shown(flag)
        for ref in self.uow.notices_of(flag_id):
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
                self.uow.enqueue(message, flag_id=flag_id, inbound_id=self.inbound_id)
            )

    def escalate(self, now: datetime, urgent_after: timedelta, high_after: timedelta) -> int:
        """Tell supervisors about urgent/high flags nobody acknowledged in time (once each)."""
        count = 0
        for severity, after in (("urgent", urgent_after), ("high", high_after)):
            for flag in self.uow.due_escalations(severity, now - after):
                self.uow.mark_escalated(flag.flag_id, now)
                self.uow.audit("system", "flag_escalated", flag.case_id, flag_id=flag.flag_id)
                if not self.notify(
                    flag.flag_id,
                    self.uow.escalation_targets(),
                    team=severity == "urgent",
                    why=ESCALATED,
                ):
                    log.warning(
                        "%s flag %s could not be escalated: no supervisor, admin or team "
                        "chat can be reached on Telegram",
                        severity,
                        flag.flag_id,
                    )
                    # On record too, so `cm-bot flags list` shows it reached nobody.
                    self.uow.audit(
                        "system", "escalation_unreached", flag.case_id, flag_id=flag.flag_id
                    )
                count += 1
        return count

    # -- staff messages --------------------------------------------------------------------

    def handle(
        self,
        staff: StaffView,
        chat_id: str,
        text: str | None,
        token_value: Any | None,
        token_staff: int | None,
    ) -> None:
        """One message or button press from a bound staff member."""
        _ = self.translator.get(staff.locale).gettext

        def reply(
            message: str, buttons: Sequence[Sequence[Button]] = (), *, case: int | None = None
        ) -> None:
            """``case``: the reply quotes that case (erased with it)."""
            out = Outbound(
                channel="telegram",
                chat_id=chat_id,
                text=message,
                buttons=tuple(tuple(r) for r in buttons),
            )
            self.outbox_ids.append(
                self.uow.enqueue(
                    out, staff_id=staff.staff_id, inbound_id=self.inbound_id, case_id=case
                )
            )

        if token_value is not None:
            self._button(staff, token_value, token_staff, reply, _)
            return
        word, _sep, rest = (text or "").strip().partition(" ")
        command = word.lstrip("/").split("@", 1)[0].casefold()
        rest = rest.strip()
        handlers: dict[str, Callable[[], None]] = {
            "flags": lambda: self._flags(staff, reply, _),
            "case": lambda: self._case(staff, rest, reply, _),
            "goal": lambda: self._goal(staff, rest, reply, _),
            "note": lambda: self._note(staff, rest, reply, _),
            "exit": lambda: self._exit(staff, rest, reply, _),
            "invite": lambda: self._invite(staff, rest, reply, _),
            "timezone": lambda: self._timezone(staff, rest, reply, _),
        }
        handler = handlers.get(command)
        if handler is None:
            reply(self.help(_))
        else:
            handler()

    @staticmethod
    def help(_: Gettext) -> str:
        """Staff commands."""
        return _(
            "Staff commands:\n"
            "/flags — open flags, most severe first\n"
            "/case REF — a case at a glance, with messages kept during a pause\n"
            "/goal REF text — add a goal (checked in weekly)\n"
            "/note REF text — add a case note\n"
            "/exit REF [YYYY-MM-DD] — exit a case and schedule follow-ups\n"
            "/invite REF — a new invite link for the client\n"
            "/timezone Europe/Kyiv — show times in your time zone"
        )

    def _allowed(
        self,
        staff: StaffView,
        ref: str,
        reply: Callable[[str], None],
        _: Gettext,
        command: str = "case",
    ) -> Any:
        if not ref:
            reply(
                _("Send /{command} followed by a case reference, e.g. /{command} C-0001").format(
                    command=command
                )
            )
            return None
        case = self.uow.case_by_ref(ref)
        if case is None or (not staff.sees_all and case.manager_id != staff.staff_id):
            # One reply for a ref that does not exist and one of another caseload, so refs
            # cannot be probed; both attempts are audited.
            self.uow.audit(
                f"staff:{staff.staff_id}",
                "access_refused",
                None if case is None else case.case_id,
                command=command,
                **({"ref": ref[:REF_AUDITED]} if case is None else {}),
            )
            reply(
                _("No case {ref} in your caseload. Send a case reference like C-0001.").format(
                    ref=ref[:REF_AUDITED]
                )
            )
            return None
        return case

    def _flags(self, staff: StaffView, reply: Callable[..., None], _: Gettext) -> None:
        flags = self.uow.open_flags(staff, limit=20)
        shown = flags[:10]
        self.uow.audit(
            f"staff:{staff.staff_id}",
            "read_flags",
            None,
            count=len(flags),
            cases=sorted({f.case_id for f in shown if f.case_id is not None}),
            flags=[f.flag_id for f in shown],
        )
        if not flags:
            reply(_("No open flags."))
            return
        for flag in shown:
            reply(
                self.notice(flag, staff.locale, staff.timezone),
                self._buttons(flag, staff.staff_id, _),
                case=flag.case_id,
            )
        if len(flags) > 10:
            reply(_("…and {count} more.").format(count=len(flags) - 10))

    def _case(self, staff: StaffView, ref: str, reply: Callable[..., None], _: Gettext) -> None:
        case = self._allowed(staff, ref.split(" ")[0], reply, _)
        if case is None:
            return
        self.uow.audit(f"staff:{staff.staff_id}", "read_case", case.case_id)
        reply(self.summary(case.case_id, _, zone_of(staff.timezone)), case=case.case_id)

    def _timezone(
        self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext
    ) -> None:
        """``/timezone Europe/Kyiv``: the zone this staff member reads every time in."""
        if not rest:
            reply(
                _(
                    "Times are shown in {zone}. To change this, send /timezone followed by "
                    "your time zone, e.g. /timezone Europe/Kyiv"
                ).format(zone=zone_of(staff.timezone).key)
            )
            return
        zone = zone_named(rest)
        if zone is None:
            reply(
                _(
                    "Sorry, I don't know that time zone. Please send a name from the time zone "
                    "list, e.g. /timezone Europe/Kyiv or /timezone America/New_York "
                    "(/timezone UTC for UTC)."
                )
            )
            return
        self.uow.set_staff_timezone(staff.staff_id, zone.key)
        self.uow.audit(f"staff:{staff.staff_id}", "staff_timezone_set", None, timezone=zone.key)
        reply(
            _("Done. Times are now shown in {zone} (now: {time}).").format(
                zone=zone.key, time=when(self.now, zone)
            )
        )

    def summary(self, case_id: int, _: Gettext, zone: ZoneInfo | None = None) -> str:
        """``/case``: status, consent, scores, goals, open flags, next contact.

        Times are shown in ``zone`` (UTC if ``None``).
        """
        data = self.uow.case_summary(case_id)
        translate = _
        lines = [
            _("Case {ref} — {status}").format(
                ref=data["ref"], status=_(WORDS.get(data["status"], data["status"]))
            )
        ]
        consent = data["consent"]
        if consent is None:
            lines.append(_("Consent: not yet given"))
        else:
            lines.append(
                _("Consent: {action} (version {version}, {time})").format(
                    action=_(WORDS.get(consent["action"], consent["action"])),
                    version=consent["version"],
                    time=when(consent["at"], zone),
                )
            )
        for score in data["scores"]:
            lines.append(
                score_line(
                    ScoreView(
                        score["id"],
                        score.get("instrument"),
                        score["score"],
                        score["band"],
                        tuple(score["positive_domains"] or ()),
                    ),
                    _,
                )
            )
        for goal in data["goals"]:
            progress = "—" if goal["last_progress"] is None else str(goal["last_progress"])
            lines.append(
                _("Goal: {text} — last progress {progress}/10").format(
                    text=goal["text"], progress=progress
                )
            )
        for flag in data["open_flags"]:
            lines.append(
                _("Open flag #{id}: {severity} — {reason}").format(
                    id=flag["id"],
                    severity=_(SEVERITY_NAMES[Severity(flag["severity"])]),
                    reason=translate(flag["reason"]),
                )
            )
        if data["followup_outcome"]:
            lines.append(
                _("Follow-up outcome: {outcome}").format(
                    outcome=_(WORDS.get(data["followup_outcome"], data["followup_outcome"]))
                )
            )
        contact = data["next_contact"]
        lines.append(
            _("Next contact: {when}").format(when=when(contact["due_at"], zone) if contact else "—")
        )
        if data["held"]:
            lines.append("")
            lines.append(
                _("Messages kept while the bot was paused ({shown} of {total}):").format(
                    shown=len(data["held"]), total=data["held_total"]
                )
            )
            for held in data["held"]:
                text = held["text"] or _("[no text: {kind}]").format(kind=held["kind"])
                if len(text) > HELD_TEXT:
                    text = text[:HELD_TEXT] + "…"
                mark = " ⚠" if held["crisis"] else ""
                lines.append(f"{when(held['at'], zone)}{mark}: {text}")
        return "\n".join(lines)

    def _goal(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        ref, _sep, text = rest.partition(" ")
        case = self._allowed(staff, ref, reply, _, "goal")
        if case is None:
            return
        if not text.strip():
            reply(_("Please add the goal's text: /goal REF text"))
            return
        self.uow.add_goal(case.case_id, text.strip(), "weekly", None, staff.staff_id)
        reply(_("Goal added to {ref}. Check-ins will be weekly.").format(ref=case.ref))

    def _note(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        ref, _sep, text = rest.partition(" ")
        case = self._allowed(staff, ref, reply, _, "note")
        if case is None:
            return
        if not text.strip():
            reply(_("Please add the note's text: /note REF text"))
            return
        self.uow.add_note(case.case_id, staff.staff_id, text.strip())
        reply(_("Note added to {ref}.").format(ref=case.ref))

    def _exit(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        ref, _sep, day = rest.partition(" ")
        case = self._allowed(staff, ref, reply, _, "exit")
        if case is None:
            return
        try:
            exit_day = date.fromisoformat(day.strip()) if day.strip() else self.now.date()
        except ValueError:
            reply(_("Please give the exit date as YYYY-MM-DD."))
            return
        opened = (case.opened_at or self.now).date()
        latest = (self.now + MAX_EXIT_AHEAD).date()
        if not opened <= exit_day <= latest:
            reply(
                _("The exit date must be between {first} and {last}.").format(
                    first=opened.isoformat(), last=latest.isoformat()
                )
            )
            return
        self.uow.exit_case(case.case_id, datetime.combine(exit_day, datetime.min.time(), UTC))
        self.uow.audit(f"staff:{staff.staff_id}", "case_exited", case.case_id)
        reply(_("Case {ref} exited on {day}.").format(ref=case.ref, day=exit_day.isoformat()))

    def _invite(self, staff: StaffView, rest: str, reply: Callable[..., None], _: Gettext) -> None:
        case = self._allowed(staff, rest.split(" ")[0], reply, _, "invite")
        if case is None:
            return
        if case.status in (CaseStatus.EXITED.value, CaseStatus.CLOSED.value):
            reply(
                _("Case {ref} has ended, so a new invite link would bind nobody.").format(
                    ref=case.ref
                )
            )
            return
        if case.client_id is not None and self.uow.client_linked(case.client_id):
            reply(
                _(
                    "The client of {ref} is already linked to Telegram, so a new link would "
                    "bind nobody. If they changed accounts, an admin can unlink the old one "
                    "first: cm-bot case unlink {ref}"
                ).format(ref=case.ref)
            )
            return
        token = self.uow.create_invite(
            "client", case_id=case.case_id, staff_id=None, expires_at=self.now + INVITE_TTL
        )
        self.uow.audit(f"staff:{staff.staff_id}", "invite_created", case.case_id)
        reply(
            _("Invite link for {ref} (single use, valid 14 days):\n{link}").format(
                ref=case.ref, link=invite_link(self.bot_username, token)
            )
        )

    def _button(
        self,
        staff: StaffView,
        value: Any,
        token_staff: int | None,
        reply: Callable[..., None],
        _: Gettext,
    ) -> None:
        if (
            not isinstance(value, dict)
            or "flag" not in value
            or (token_staff is not None and token_staff != staff.staff_id)
        ):
            self.uow.audit(f"staff:{staff.staff_id}", "unknown_button", None)
            reply(_("That button is no longer valid."))
            return
        flag = self.uow.flag_view(int(value["flag"]))
        if flag is None:
            reply(_("That button is no longer valid."))
            return
        if not staff.sees_all and flag.manager_id != staff.staff_id:
            self.uow.audit(f"staff:{staff.staff_id}", "access_refused", flag.case_id)
            reply(_("You don't have access to case {ref}.").format(ref=flag.case_ref or "—"))
            return
        act = value.get("act")
        if act == "open" and flag.case_id is not None:
            self.uow.audit(f"staff:{staff.staff_id}", "read_case", flag.case_id)
            reply(self.summary(flag.case_id, _, zone_of(staff.timezone)), case=flag.case_id)
            return
        status = {"ack": "acknowledged", "resolve": "resolved"}.get(str(act))
        if status is None:
            return
        if self.uow.act_on_flag(flag.flag_id, status, staff.staff_id, self.now):
            self.refresh_notices(flag.flag_id)
            if status == "resolved":
                self.end_pause(flag)

    def end_pause(self, flag: FlagView) -> None:
        """A resolved urgent flag ends the client's pause: tell them once, in their language.

        Their next message carries on where the conversation stopped (the engine).
        """
        if flag.severity != Severity.URGENT.value or flag.client_id is None:
            return
        if self.uow.open_urgent_flag(flag.client_id) is not None:
            return  # another urgent flag still holds the pause
        client = self.uow.client_by_id(flag.client_id)
        if client is None or client.status != "active":
            return  # withdrawn, declined, erased or unreachable: no contact
        _ = self.translator.get(client.locale).gettext
        message = Outbound(
            channel=client.channel,
            chat_id=client.chat_id,
            text=resumed(_),
            priority=Priority.HIGH,
        )
        self.outbox_ids.append(
            self.uow.enqueue(message, client_id=client.client_id, inbound_id=self.inbound_id)
        )
        self.uow.audit("system", "pause_ended", flag.case_id, flag_id=flag.flag_id)


def invite_link(bot_username: str | None, token: str) -> str:
    """A Telegram deep link that starts the bot with the token."""
    return f"https://t.me/{bot_username or 'your_bot'}?start={token}"


__all__ = [
    "CADENCES",
    "INVITE_TTL",
    "Shown",
    "StaffDesk",
    "answer_label",
    "flow_scores",
    "invite_link",
    "notice_text",
    "score_line",
    "shorten",
    "shown_answer",
    "step_of",
    "when",
]
