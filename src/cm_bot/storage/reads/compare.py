"""Intake and each post-exit follow-up, side by side (issue 18, "follow-ups that compare").

The follow-up asks housing (AHC item 1), money (AHC item 11) and employment status under
the same answer keys as intake (:data:`cm_bot.engine.followup_needs.COMPARED`), so one
question's answers line up: intake's, then the 30-, 90- and 180-day follow-ups', each with
its date, its label in the reader's language and a need marker (a positive AHC answer,
instruments.md §1.4), ``new`` when intake's answer was not a need. The case page, the
export and ``/case`` read this one model.

Follow-ups answered before exit_followup version 3 stored yes/no answers under other keys
(``followup.housing_stable``, ``followup.income_stable``): they are shown under the same
topic, marked ``legacy`` with the question as it was asked, "No" as the need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session, col

from cm_bot.domain.time import aware
from cm_bot.engine.flag_reasons import english
from cm_bot.engine.followup_needs import COMPARED, EMPLOYMENT_KEY, HOUSING_KEY, MONEY_KEY, is_need
from cm_bot.engine.notices import answer_label, step_of
from cm_bot.flows.schema import FlowKind
from cm_bot.i18n.translator import N_, Gettext
from cm_bot.storage.models import Case, FlowRun, Response

if TYPE_CHECKING:
    from cm_bot.flows import FlowRegistry
    from cm_bot.i18n import Translator

FOLLOWUP_FLOW = "exit_followup"
TOPICS: dict[str, str] = {
    HOUSING_KEY: N_("Housing"),
    MONEY_KEY: N_("Money for basics"),
    EMPLOYMENT_KEY: N_("Work"),
}
# Follow-ups before version 3: the yes/no question each compared key replaced ("No" = need).
LEGACY: dict[str, str] = {
    HOUSING_KEY: "followup.housing_stable",
    MONEY_KEY: "followup.income_stable",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer to a compared question: when, what the client chose, whether a need."""

    at: datetime
    value: Any
    label: str  # in the reader's language; the stored value when no label is known
    need: bool
    new: bool = False  # a need now that intake did not show
    days: int | None = None  # follow-ups: the planned day after exit (30, 90, 180)
    legacy_question: str | None = None  # an old follow-up's question, as asked


@dataclass(slots=True)
class Compared:
    """One question: intake's answer and each follow-up's, oldest first."""

    key: str
    topic: str
    intake: Answer | None = None
    followups: list[Answer] = field(default_factory=list)

    def followup_list(self, columns: list[int | None]) -> list[Answer | None]:
        """This question's answer in each follow-up column (``None``: not answered then)."""
        return [self.followup(days) for days in columns]

    def followup(self, days: int | None) -> Answer | None:
        """The follow-up answer of that planned day (the latest, if answered twice)."""
        found = [answer for answer in self.followups if answer.days == days]
        return found[-1] if found else None


def followup_columns(compared: list[Compared]) -> list[int | None]:
    """The follow-ups answered, as columns beside intake: 30, 90, 180 (undated last)."""
    days = {answer.days for item in compared for answer in item.followups}
    return sorted(days, key=lambda day: (day is None, day or 0))


def compare_case(
    session: Session,
    case: Case,
    *,
    flows: FlowRegistry | None,
    translator: Translator | None,
    locale: str,
) -> list[Compared]:
    """Intake against each follow-up for ``case``'s client, labelled in ``locale``.

    Empty when the case has no follow-up answer yet (nothing to compare).
    """
    gettext: Gettext = english if translator is None else translator.get(locale).gettext
    if case.client_id is None:
        return []
    keys = [key for key, _flows, _need in COMPARED] + list(LEGACY.values())
    rows = list(
        session.execute(
            select(Response)
            .where(col(Response.client_id) == case.client_id, col(Response.key).in_(keys))
            .order_by(col(Response.answered_at), col(Response.id))
        ).scalars()
    )
    followup_ids = _followup_flows(flows)
    if not any(row.flow_id in followup_ids for row in rows):
        return []
    runs = {
        run.id: run
        for run in session.execute(
            select(FlowRun).where(col(FlowRun.id).in_({row.run_id for row in rows}))
        ).scalars()
    }
    planned = _planned_days(flows)
    result: list[Compared] = []
    for key, intake_flows, _need in COMPARED:
        compared = Compared(key, gettext(TOPICS[key]))
        for flow_id in intake_flows:  # the first intake flow that has an answer
            found = [r for r in rows if r.flow_id == flow_id and r.key == key]
            if found:
                compared.intake = _answer(found[-1], flows, gettext)
                break
        intake_need = compared.intake is not None and compared.intake.need
        for row in rows:
            if row.flow_id not in followup_ids or row.key not in (key, LEGACY.get(key)):
                continue
            run = runs.get(row.run_id)
            since = (run.context or {}).get("days_since_exit") if run is not None else None
            answer = _answer(row, flows, gettext, legacy=row.key != key)
            compared.followups.append(
                Answer(
                    answer.at,
                    answer.value,
                    answer.label,
                    answer.need,
                    new=answer.need and not intake_need,
                    days=_nearest(since, planned),
                    legacy_question=answer.legacy_question,
                )
            )
        result.append(compared)
    return result


def _answer(
    row: Response,
    flows: FlowRegistry | None,
    gettext: Gettext,
    *,
    legacy: bool = False,
) -> Answer:
    """A stored answer with its label in the reader's language and its need marker."""
    step = None
    if flows is not None and row.flow_id in flows:
        step = step_of(flows.get(row.flow_id), row.key)
    label = answer_label(step, row.value, gettext)
    if label is None and isinstance(row.value, bool):
        label = gettext("Yes") if row.value else gettext("No")
    if legacy:
        return Answer(
            aware(row.answered_at),
            row.value,
            label or str(row.value),
            need=row.value is False,
            legacy_question=row.question,
        )
    shown = label if label is not None else ("—" if row.value is None else str(row.value))
    return Answer(aware(row.answered_at), row.value, shown, need=is_need(row.key, row.value))


def _followup_flows(flows: FlowRegistry | None) -> set[str]:
    """The loaded flows of kind follow-up (the shipped one when none is loaded)."""
    found = {FOLLOWUP_FLOW}
    if flows is not None:
        found |= {flow.id for flow in flows if flow.kind is FlowKind.FOLLOWUP}
    return found


def _planned_days(flows: FlowRegistry | None) -> tuple[int, ...]:
    if flows is not None and FOLLOWUP_FLOW in flows and flows.get(FOLLOWUP_FLOW).followup_days:
        return tuple(flows.get(FOLLOWUP_FLOW).followup_days)
    return (30, 90, 180)


def _nearest(days: Any, planned: tuple[int, ...]) -> int | None:
    """The planned follow-up day a run answered (sent a little late is still day 30)."""
    if not isinstance(days, int) or isinstance(days, bool):
        return None
    return min(planned, key=lambda day: (abs(day - days), day)) if planned else days


def compare_rows(compared: list[Compared]) -> list[dict[str, Any]]:
    """The comparison as flat rows for the export: one per question and answer."""
    rows: list[dict[str, Any]] = []
    for item in compared:
        answers = [("intake", item.intake)] if item.intake else []
        answers += [(f"followup_{a.days}d" if a.days else "followup", a) for a in item.followups]
        for when, answer in answers:
            assert answer is not None
            rows.append(
                {
                    "key": item.key,
                    "topic": item.topic,
                    "when": when,
                    "answered_at": answer.at.isoformat(),
                    "value": answer.value,
                    "label": answer.label,
                    "need": answer.need,
                    "new_need": answer.new,
                    "legacy_question": answer.legacy_question,
                }
            )
    return rows


__all__ = [
    "LEGACY",
    "TOPICS",
    "Answer",
    "Compared",
    "compare_case",
    "compare_rows",
    "followup_columns",
]
