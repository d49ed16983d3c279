"""The ``/case`` summary: one case at a glance, as staff read it.

Pure text, like :mod:`cm_bot.engine.notices`: the desk reads the stored summary in its
unit of work, and this module words it in the reader's language and time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from cm_bot.domain import CaseStatus, ClientStatus, ContactStatus, GoalStatus, Severity
from cm_bot.engine.flag_reasons import flag_reason
from cm_bot.engine.notices import SEVERITY_NAMES, Gettext, score_line, when
from cm_bot.engine.ports import ScoreView
from cm_bot.engine.preference_lines import preference_lines
from cm_bot.i18n.translator import N_

# A goal's status as staff read it in /case (issue 18: goals the client steers).
GOAL_STATUS_NAMES = {
    GoalStatus.ACTIVE: N_("active"),
    GoalStatus.MET: N_("met"),
    GoalStatus.CHANGED: N_("changed"),
    GoalStatus.DROPPED: N_("dropped"),
}

# Stored status, consent and outcome words, shown to staff in their language.
WORDS: dict[str, str] = {
    CaseStatus.INTAKE: N_("intake"),
    CaseStatus.ACTIVE: N_("active"),
    CaseStatus.EXITED: N_("exited"),
    CaseStatus.CLOSED: N_("closed"),
    "granted": N_("granted"),
    "declined": N_("declined"),
    ClientStatus.WITHDRAWN: N_("withdrawn"),
    ContactStatus.ANSWERED: N_("answered"),
    ContactStatus.NO_RESPONSE: N_("no response"),
    ClientStatus.UNREACHABLE: N_("unreachable"),
    "opted_out": N_("opted out"),
    "no_consent": N_("no current consent"),
    ContactStatus.STAFF_TASK: N_("a task for the case manager (not safe to message first)"),
}
HELD_TEXT = 300  # characters of each held message /case shows
# Repeat measures (issue 18): the instruments' names and the markers of a score.
INSTRUMENT_NAMES = {"phq9": "PHQ-9", "gad7": "GAD-7"}
MARK_WORDS: dict[str, str] = {
    "response": N_("response"),
    "remission": N_("remission"),
    "not_improving": N_("not improving"),
}


def case_summary(data: Mapping[str, Any], _: Gettext, zone: ZoneInfo | None = None) -> str:
    """``/case``: status, consent, scores, goals, open flags, next contact.

    ``data`` is the unit of work's ``case_summary``; times are shown in ``zone`` (UTC if
    ``None``).
    """
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
    prefs = data.get("preferences")
    if prefs is not None:
        lines.extend(
            preference_lines(
                prefs["message_first"],
                prefs["contact_start"],
                prefs["contact_end"],
                prefs["safe_word"],
                _,
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
    lines.extend(series_lines(data, _, zone))
    for goal in data["goals"]:
        progress = "—" if goal["last_progress"] is None else str(goal["last_progress"])
        lines.append(
            _("Goal: {text} — last progress {progress}/10").format(
                text=goal["text"], progress=progress
            )
        )
        lines.append(
            _("Goal #{id} status: {status}").format(
                id=goal["id"], status=_(GOAL_STATUS_NAMES[GoalStatus(goal["status"])])
            )
        )
        if goal.get("next_step"):
            lines.append(_("Next step: {step}").format(step=goal["next_step"]))
    for flag in data["open_flags"]:
        lines.append(
            _("Open flag #{id}: {severity} — {reason}").format(
                id=flag["id"],
                severity=_(SEVERITY_NAMES[Severity(flag["severity"])]),
                reason=flag_reason(
                    flag["reason"], flag.get("reason_msgid"), flag.get("reason_params"), _
                ),
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


def series_lines(data: Mapping[str, Any], _: Gettext, zone: ZoneInfo | None = None) -> list[str]:
    """Each PHQ-9 / GAD-7 series, oldest first, its markers in brackets; then the re-screens.

    ``PHQ-9 over time: 18 (2099-01-07) → 8 (2099-02-04, response)``; a running plan reads
    ``Re-screen: PHQ-9 every 28 days``.
    """
    lines: list[str] = []
    for series in data.get("series") or ():
        points = []
        for point in series["points"]:
            day = when(point["at"], zone)[:10]
            words = [_(MARK_WORDS.get(m, m)) for m in point["marks"]]
            points.append(f"{point['value']:g} ({', '.join([day, *words])})")
        lines.append(
            _("{instrument} over time: {points}").format(
                instrument=INSTRUMENT_NAMES.get(series["instrument"], series["instrument"]),
                points=" → ".join(points),
            )
        )
    for plan in data.get("rescreens") or ():
        name = INSTRUMENT_NAMES.get(plan["instrument"], plan["instrument"])
        if plan["active"]:
            lines.append(
                _("Re-screen: {instrument} every {days} days").format(
                    instrument=name, days=plan["every_days"]
                )
            )
    return lines


__all__ = ["HELD_TEXT", "INSTRUMENT_NAMES", "MARK_WORDS", "WORDS", "case_summary", "series_lines"]
