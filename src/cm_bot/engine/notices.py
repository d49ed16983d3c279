"""What staff read about a flag: its notice, the answer or score behind it, in their zone.

Pure rendering, no unit of work: the notice carries the minimum necessary (case ref,
severity, reason, the question as the client saw it with a non-free-text answer, or
for a score rule the score and its band) and the time in the reader's own zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cm_bot.domain import FlagStatus, Priority, ReferralReason, ReferralStatus, Severity
from cm_bot.engine.answers import label_of
from cm_bot.engine.flag_reasons import flag_reason
from cm_bot.engine.ports import FlagView, ScoreView
from cm_bot.flows.conditions import evaluate
from cm_bot.flows.schema import (
    ChoiceStep,
    Flow,
    MessageStep,
    QuestionStep,
    ScaleStep,
    TextStep,
    YesNoStep,
)
from cm_bot.i18n.translator import N_, Gettext
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
SCORE_REF = re.compile(r"""scores\s*\[\s*(['"])(?P<id>[^'"]+)\1""")


# A referral's status and reason as staff read them (Telegram's /case, the console).
REFERRAL_STATUS_WORDS: dict[str, str] = {
    ReferralStatus.REQUESTED: N_("requested"),
    ReferralStatus.ACCEPTED: N_("accepted"),
    ReferralStatus.REJECTED: N_("rejected"),
    ReferralStatus.IN_PROGRESS: N_("in progress"),
    ReferralStatus.COMPLETED: N_("completed"),
    ReferralStatus.CANCELLED: N_("cancelled"),
    ReferralStatus.FAILED: N_("failed"),
    ReferralStatus.SELF_REFERRED: N_("client contacting them"),
}
REFERRAL_REASON_WORDS: dict[str, str] = {
    ReferralReason.GOT_HELP: N_("got help"),
    ReferralReason.COULD_NOT_CONTACT: N_("could not make contact"),
    ReferralReason.NOT_ELIGIBLE: N_("not eligible"),
    ReferralReason.NO_CAPACITY: N_("no capacity"),
    ReferralReason.NO_LONGER_INTERESTED: N_("no longer interested"),
    ReferralReason.REFERRED_ELSEWHERE: N_("referred elsewhere"),
    ReferralReason.OTHER: N_("other reason"),
}


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
    shown = shown or Shown()
    lines = [
        SEVERITY_MARKS[severity]
        + " "
        + _("{severity} flag — case {ref}").format(
            severity=_(SEVERITY_NAMES[severity]), ref=flag.case_ref or "—"
        ),
        _("Reason: {reason}").format(
            reason=flag_reason(flag.reason, flag.reason_msgid, flag.reason_params, _)
        ),
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
    if (
        severity is Severity.URGENT
        and flag.client_id is not None
        and flag.status != FlagStatus.RESOLVED
    ):
        lines.append(_("The bot is paused for this client until the flag is resolved."))
    if flag.held:
        lines.append(
            _("New messages from the client: {count} (with words of crisis: {crisis})").format(
                count=flag.held, crisis=flag.held_crisis
            )
            + " — /case "
            + (flag.case_ref or "")
        )
    if flag.status == FlagStatus.ACKNOWLEDGED:
        lines.append(
            _("Acknowledged by {name} at {time}").format(
                name=flag.acted_by or "—", time=when(flag.acted_at, zone)
            )
        )
    elif flag.status == FlagStatus.RESOLVED:
        lines.append(
            _("Resolved by {name} at {time}").format(
                name=flag.acted_by or "—", time=when(flag.acted_at, zone)
            )
        )
    return "\n".join(lines)


__all__ = [
    "BAND_NAMES",
    "INSTRUMENT_NAMES",
    "PRIORITY",
    "QUESTION_SHOWN",
    "REFERRAL_REASON_WORDS",
    "REFERRAL_STATUS_WORDS",
    "SCORE_REF",
    "SEVERITY_MARKS",
    "SEVERITY_NAMES",
    "Gettext",
    "Shown",
    "answer_label",
    "flow_scores",
    "notice_text",
    "score_line",
    "score_name",
    "shorten",
    "shown_answer",
    "step_of",
    "when",
]
