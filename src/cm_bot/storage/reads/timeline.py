"""The case page's read model: the case, its client and one chronological timeline.

Every question is shown exactly as the client saw it (the stored text, its language and
the flow's version) with the answer as they gave it: the option's label in their
language, as the notices show it, and free text as typed (the page escapes it). Around
the answers: scores, flags (and who acted on them), notes, goals, scheduled contacts and
their outcome, consent decisions and what the client wrote while the bot was paused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session, col

from cm_bot.domain import FlagStatus
from cm_bot.domain.time import aware
from cm_bot.engine.notices import score_name, shown_answer, step_of
from cm_bot.flows.schema import TextStep
from cm_bot.scoring.trend import Point, Series
from cm_bot.storage.models import (
    Case,
    CaseNote,
    Client,
    ConsentRecord,
    Flag,
    Goal,
    HeldMessage,
    Response,
    ScheduledContact,
    ScoreResult,
    Staff,
)

if TYPE_CHECKING:
    from cm_bot.flows import FlowRegistry
    from cm_bot.i18n import Translator

# Of entries at the same moment: the consent first, the answer before the score it made,
# the flag it raised after both.
KIND_ORDER = {
    "consent": 0,
    "goal": 1,
    "contact": 2,
    "answer": 3,
    "held": 4,
    "score": 5,
    "flag": 6,
    "note": 7,
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing that happened in the case; ``details`` depend on ``kind``."""

    at: datetime
    kind: str  # see KIND_ORDER
    seq: int  # the row's id: a stable order within a kind
    details: dict[str, Any]


@dataclass(slots=True)
class CaseDetail:
    """What the case page shows."""

    case_id: int
    ref: str
    status: str
    manager_id: int | None
    manager: str | None
    opened_at: datetime
    exited_at: datetime | None
    followup_outcome: str | None
    client_status: str | None = None
    client_locale: str | None = None
    client_timezone: str | None = None
    # Safe-contact preferences (issue 18); the safe word only as set or not.
    message_first: bool | None = None
    contact_start: time | None = None
    contact_end: time | None = None
    safe_word_set: bool = False
    consent: str = "none"
    open_flags: int = 0
    entries: list[Entry] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)


def case_head(session: Session, ref: str) -> Case | None:
    """The case with this reference (matched case-insensitively), or ``None``."""
    return (
        session.execute(select(Case).where(col(Case.ref) == ref.strip().upper())).scalars().first()
    )


def answer_text(
    flows: FlowRegistry | None, translator: Translator | None, row: Response
) -> tuple[str, bool]:
    """The answer as the client gave it, and whether it is their own words (free text).

    Labels are in the language the question was asked in (``row.locale``), as the client
    saw them; a flow no longer loaded shows the plain stored value.
    """
    step = None
    if flows is not None and row.flow_id in flows:
        step = step_of(flows.get(row.flow_id), row.key)
    if isinstance(step, TextStep):
        return ("" if row.value is None else str(row.value)), True

    def identity(text: str) -> str:
        return text

    gettext = identity if translator is None else translator.get(row.locale).gettext
    return shown_answer(step, row.value, gettext), False


def load_case(
    session: Session,
    case: Case,
    *,
    flows: FlowRegistry | None,
    translator: Translator | None,
) -> CaseDetail:
    """Everything the case page shows about ``case`` (already checked to be visible)."""
    assert case.id is not None
    manager = session.get(Staff, case.manager_id) if case.manager_id is not None else None
    detail = CaseDetail(
        case.id,
        case.ref,
        case.status,
        case.manager_id,
        manager.name if manager else None,
        aware(case.opened_at),
        aware(case.exited_at) if case.exited_at else None,
        case.followup_outcome,
    )
    client = session.get(Client, case.client_id) if case.client_id is not None else None
    cid = case.client_id if case.client_id is not None else -1
    if client is not None:
        detail.client_status = client.status
        detail.client_locale = client.locale
        detail.client_timezone = client.timezone
        detail.message_first = client.message_first
        detail.contact_start, detail.contact_end = client.contact_start, client.contact_end
        detail.safe_word_set = client.safe_word_hash is not None

    def rows(model: Any, column: Any, value: int) -> list[Any]:
        return list(
            session.execute(select(model).where(column == value).order_by(col(model.id))).scalars()
        )

    entries: list[Entry] = []
    consents = rows(ConsentRecord, col(ConsentRecord.client_id), cid)
    if consents:
        last = consents[-1].action
        detail.consent = {"granted": "given", "withdrawn": "withdrawn", "declined": "declined"}.get(
            last, "none"
        )
    for record in consents:
        entries.append(
            Entry(
                aware(record.recorded_at),
                "consent",
                record.id or 0,
                {
                    "action": record.action,
                    "version": record.version,
                    "locale": record.locale,
                    "flow_id": record.flow_id,
                    "decisions": dict(record.decisions or {}),
                },
            )
        )
    titles: dict[str, str | None] = {}
    for answer in rows(Response, col(Response.client_id), cid):
        shown, own_words = answer_text(flows, translator, answer)
        if answer.flow_id not in titles:  # the flow's title as staff know it, if it is loaded
            loaded = flows is not None and answer.flow_id in flows
            titles[answer.flow_id] = flows.get(answer.flow_id).title if flows and loaded else None
        entries.append(
            Entry(
                aware(answer.answered_at),
                "answer",
                answer.id or 0,
                {
                    "question": answer.question,
                    "locale": answer.locale,
                    "flow_id": answer.flow_id,
                    "flow_title": titles[answer.flow_id],
                    "flow_version": answer.flow_version,
                    "key": answer.key,
                    "answer": shown,
                    "own_words": own_words,
                    "goal_id": answer.goal_id,
                    "provenance": answer.provenance,
                },
            )
        )
    by_score: dict[str, list[ScoreResult]] = {}
    for score in rows(ScoreResult, col(ScoreResult.client_id), cid):
        result = score.result or {}
        entries.append(
            Entry(
                aware(score.computed_at),
                "score",
                score.id or 0,
                {
                    "name": score_name(score.score_id, score.instrument),
                    "value": score.value,
                    "band": score.band,
                    "positive": result.get("positive"),
                    "positive_domains": list(result.get("positive_domains") or ()),
                    "flow_id": score.flow_id,
                },
            )
        )
        by_score.setdefault(score.score_id, []).append(score)
    detail.series = _series(by_score)
    flags = rows(Flag, col(Flag.case_id), case.id)
    notes = rows(CaseNote, col(CaseNote.case_id), case.id)
    staff_ids = {f.acknowledged_by for f in flags} | {f.resolved_by for f in flags}
    staff_ids |= {n.staff_id for n in notes}
    staff_ids.discard(None)
    names = (
        {
            s.id: s.name
            for s in session.execute(select(Staff).where(col(Staff.id).in_(staff_ids))).scalars()
        }
        if staff_ids
        else {}
    )
    for flag in flags:
        if flag.status != FlagStatus.RESOLVED.value:
            detail.open_flags += 1
        entries.append(
            Entry(
                aware(flag.created_at),
                "flag",
                flag.id or 0,
                {
                    "id": flag.id,
                    "severity": flag.severity,
                    "reason": flag.reason,
                    "reason_msgid": flag.reason_msgid,
                    "reason_params": flag.reason_params,
                    "status": flag.status,
                    "acknowledged_by": names.get(flag.acknowledged_by),
                    "acknowledged_at": aware(flag.acknowledged_at)
                    if flag.acknowledged_at
                    else None,
                    "resolved_by": names.get(flag.resolved_by),
                    "resolved_at": aware(flag.resolved_at) if flag.resolved_at else None,
                    "escalated_at": aware(flag.escalated_at) if flag.escalated_at else None,
                },
            )
        )
    for note in notes:
        entries.append(
            Entry(
                aware(note.created_at),
                "note",
                note.id or 0,
                {"text": note.text, "by": names.get(note.staff_id)},
            )
        )
    goals = rows(Goal, col(Goal.case_id), case.id)
    goal_text = {g.id: g.text for g in goals}
    for goal in goals:
        entries.append(
            Entry(
                aware(goal.created_at),
                "goal",
                goal.id or 0,
                {
                    "text": goal.text,
                    "cadence": goal.cadence,
                    "status": goal.status,
                    "target_date": goal.target_date,
                },
            )
        )
    for contact in rows(ScheduledContact, col(ScheduledContact.case_id), case.id):
        entries.append(
            Entry(
                aware(contact.sent_at or contact.due_at),
                "contact",
                contact.id or 0,
                {
                    "kind": contact.kind,
                    "flow_id": contact.flow_id,
                    "status": contact.status,
                    "outcome": contact.outcome,
                    "due_at": aware(contact.due_at),
                    "sent_at": aware(contact.sent_at) if contact.sent_at else None,
                    "attempts": contact.attempts,
                    "goal": goal_text.get(contact.goal_id) if contact.goal_id else None,
                },
            )
        )
    for held in session.execute(
        select(HeldMessage)
        .where((col(HeldMessage.case_id) == case.id) | (col(HeldMessage.client_id) == cid))
        .order_by(col(HeldMessage.id))
    ).scalars():
        entries.append(
            Entry(
                aware(held.received_at),
                "held",
                held.id or 0,
                {"text": held.text, "kind": held.kind, "crisis": held.crisis},
            )
        )
    entries.sort(key=lambda e: (e.at, KIND_ORDER[e.kind], e.seq))
    detail.entries = entries
    return detail


def _series(by_score: dict[str, list[ScoreResult]]) -> list[Series]:
    """One chart series per score id that has numbers (the HVS has none), oldest first."""
    series = []
    for score_id, scores in by_score.items():
        points = tuple(
            Point(aware(s.computed_at), float(s.value), s.band)
            for s in sorted(scores, key=lambda s: (aware(s.computed_at), s.id or 0))
            if s.value is not None
        )
        if points:
            instrument = scores[-1].instrument
            series.append(Series(score_id, score_name(score_id, instrument), instrument, points))
    return sorted(series, key=lambda s: s.name.lower())


def entries_of(detail: CaseDetail, *kinds: str) -> Iterable[Entry]:
    """The timeline's entries of some kinds, in order."""
    return (e for e in detail.entries if e.kind in kinds)


__all__ = [
    "KIND_ORDER",
    "CaseDetail",
    "Entry",
    "answer_text",
    "case_head",
    "entries_of",
    "load_case",
]
