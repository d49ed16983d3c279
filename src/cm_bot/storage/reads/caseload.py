"""The caseload page's read model: one row per case the staff member may see.

A handful of grouped queries whatever the caseload's size (no query per case): the
cases with their clients, the latest consent per client, open flags per case and
severity, the last word from each client, each case's next and overdue contacts and
the latest score per case and instrument. Filtering, search and sorting happen on the
rows afterwards (a caseload is hundreds of rows, not millions).

Who may see a case is :func:`cm_bot.engine.staff_access.sees_case`, the bot's rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from cm_bot.domain import CaseStatus, ContactStatus, FlagStatus
from cm_bot.domain.time import aware
from cm_bot.engine.notices import score_name
from cm_bot.engine.staff_access import StaffLike, sees_case
from cm_bot.storage.models import (
    Case,
    ConsentRecord,
    Flag,
    InboundMessage,
    Response,
    ScheduledContact,
    ScoreResult,
)

SEVERITY_RANK = {"urgent": 0, "high": 1, "routine": 2}
CONSENT_STATES = ("given", "withdrawn", "declined", "none")
# A contact still owed: planned and not sent, or sent and its answer still awaited.
OPEN_CONTACT = (ContactStatus.PENDING.value, ContactStatus.SENT.value)
COLUMNS = ("ref", "status", "consent", "flags", "last_contact", "next_contact")
SCORE_COLUMN = "score:"  # + a score id: sort by that instrument's latest score


Viewer = StaffLike  # the staff member reading: a console user


@dataclass(frozen=True, slots=True)
class LatestScore:
    """A case's latest score of one instrument."""

    score_id: str
    name: str
    value: float | None
    band: str | None
    positive_domains: tuple[str, ...]
    at: datetime


@dataclass(slots=True)
class CaseloadRow:
    """One case as the caseload shows it."""

    case_id: int
    ref: str
    status: str
    manager_id: int | None
    consent: str  # given | withdrawn | declined | none
    open_flags: int = 0
    worst_flag: str | None = None  # the most severe open flag's severity
    last_contact: datetime | None = None
    next_contact: datetime | None = None
    overdue: bool = False
    scores: dict[str, LatestScore] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CaseloadQuery:
    """Filters, search and order, as read from the page's query string."""

    status: str | None = None
    flagged: bool = False
    overdue: bool = False
    search: str = ""
    sort: str = "ref"
    descending: bool = False

    @classmethod
    def parse(cls, params: Any) -> CaseloadQuery:
        """From a query string mapping; unknown values fall back to the defaults."""
        status = params.get("status") or None
        if status not in {s.value for s in CaseStatus}:
            status = None
        sort = str(params.get("sort") or "ref")
        return cls(
            status=status,
            flagged=params.get("flag") in ("1", "on", "yes"),
            overdue=params.get("overdue") in ("1", "on", "yes"),
            search=str(params.get("q") or "").strip()[:40],
            sort=sort,
            descending=params.get("dir") == "desc",
        )


@dataclass(frozen=True, slots=True)
class Caseload:
    """The rows to show, the score columns, and how many cases the member may see."""

    rows: list[CaseloadRow]
    score_columns: list[tuple[str, str]]  # (score id, name), in a stable order
    visible: int  # cases the member may see before any filter
    query: CaseloadQuery


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else aware(moment)


def _consent(action: str | None) -> str:
    return {"granted": "given", "withdrawn": "withdrawn", "declined": "declined"}.get(
        action or "", "none"
    )


def _in(column: Any, ids: list[int] | None) -> list[Any]:
    """``column IN ids``, or no condition when the member sees every case."""
    return [] if ids is None else [column.in_(ids)]


def load_caseload(
    session: Session, viewer: Viewer, now: datetime, query: CaseloadQuery | None = None
) -> Caseload:
    """The caseload of ``viewer`` at ``now``, filtered, searched and sorted as ``query`` says."""
    query = query or CaseloadQuery()
    now = aware(now)
    cases = session.execute(
        select(
            col(Case.id), col(Case.ref), col(Case.status), col(Case.manager_id), col(Case.client_id)
        ).order_by(col(Case.id))
    ).all()
    everything = len(cases)
    cases = [c for c in cases if sees_case(viewer, c.manager_id)]
    rows = {int(c.id): CaseloadRow(int(c.id), c.ref, c.status, c.manager_id, "none") for c in cases}
    by_client = {int(c.client_id): rows[int(c.id)] for c in cases if c.client_id is not None}
    # Restrict the grouped queries to the visible cases unless they are all of them.
    case_ids = None if len(cases) == everything else list(rows)
    client_ids = None if case_ids is None else list(by_client)
    if rows:
        _fill(session, rows, by_client, case_ids, client_ids, now)
    names: dict[str, str] = {}
    for row in rows.values():
        for key, score in row.scores.items():
            names.setdefault(key, score.name)
    score_columns = sorted(names.items(), key=lambda item: item[1].lower())
    shown = _filtered(rows.values(), query)
    _sort(shown, query, {key for key, _name in score_columns})
    return Caseload(shown, score_columns, len(rows), query)


def _fill(
    session: Session,
    rows: dict[int, CaseloadRow],
    by_client: dict[int, CaseloadRow],
    case_ids: list[int] | None,
    client_ids: list[int] | None,
    now: datetime,
) -> None:
    # The latest consent record of each client.
    latest = select(func.max(col(ConsentRecord.id))).where(
        *_in(col(ConsentRecord.client_id), client_ids)
    )
    for client_id, action in session.execute(
        select(col(ConsentRecord.client_id), col(ConsentRecord.action)).where(
            col(ConsentRecord.id).in_(
                latest.group_by(col(ConsentRecord.client_id)).scalar_subquery()
            )
        )
    ).all():
        if client_id in by_client:
            by_client[client_id].consent = _consent(action)
    # Open flags per case and severity.
    for case_id, severity, count in session.execute(
        select(col(Flag.case_id), col(Flag.severity), func.count())
        .where(
            col(Flag.case_id).is_not(None),
            col(Flag.status) != FlagStatus.RESOLVED.value,
            *_in(col(Flag.case_id), case_ids),
        )
        .group_by(col(Flag.case_id), col(Flag.severity))
    ).all():
        row = rows.get(case_id)
        if row is None:
            continue
        row.open_flags += int(count)
        if row.worst_flag is None or SEVERITY_RANK.get(severity, 9) < SEVERITY_RANK.get(
            row.worst_flag, 9
        ):
            row.worst_flag = severity
    # The last word from the client: a message received or an answer stored.
    for model_id, moment in [
        *session.execute(
            select(col(InboundMessage.client_id), func.max(col(InboundMessage.received_at)))
            .where(
                col(InboundMessage.client_id).is_not(None),
                *_in(col(InboundMessage.client_id), client_ids),
            )
            .group_by(col(InboundMessage.client_id))
        ).all(),
        *session.execute(
            select(col(Response.client_id), func.max(col(Response.answered_at)))
            .where(*_in(col(Response.client_id), client_ids))
            .group_by(col(Response.client_id))
        ).all(),
    ]:
        row = by_client.get(model_id)
        moment = _aware(moment)
        if (
            row is not None
            and moment is not None
            and (row.last_contact is None or moment > row.last_contact)
        ):
            row.last_contact = moment
    # The next contact owed, and whether one is past due.
    for case_id, status, due in session.execute(
        select(
            col(ScheduledContact.case_id),
            col(ScheduledContact.status),
            func.min(col(ScheduledContact.due_at)),
        )
        .where(
            col(ScheduledContact.status).in_(OPEN_CONTACT),
            *_in(col(ScheduledContact.case_id), case_ids),
        )
        .group_by(col(ScheduledContact.case_id), col(ScheduledContact.status))
    ).all():
        row = rows.get(case_id)
        due = _aware(due)
        if row is None or due is None:
            continue
        if due < now:
            row.overdue = True
        if status == ContactStatus.PENDING.value and (
            row.next_contact is None or due < row.next_contact
        ):
            row.next_contact = due
    # The latest score of each case per score id.
    newest = (
        select(func.max(col(ScoreResult.id)))
        .where(col(ScoreResult.case_id).is_not(None), *_in(col(ScoreResult.case_id), case_ids))
        .group_by(col(ScoreResult.case_id), col(ScoreResult.score_id))
        .scalar_subquery()
    )
    for score in session.execute(
        select(ScoreResult).where(col(ScoreResult.id).in_(newest))
    ).scalars():
        row = rows.get(score.case_id or 0)
        if row is None:
            continue
        result = score.result or {}
        row.scores[score.score_id] = LatestScore(
            score.score_id,
            score_name(score.score_id, score.instrument),
            score.value,
            score.band,
            tuple(result.get("positive_domains") or ()),
            _aware(score.computed_at) or score.computed_at,
        )


def _filtered(rows: Iterable[CaseloadRow], query: CaseloadQuery) -> list[CaseloadRow]:
    needle = query.search.lower()
    return [
        row
        for row in rows
        if (query.status is None or row.status == query.status)
        and (not query.flagged or row.open_flags > 0)
        and (not query.overdue or row.overdue)
        and (not needle or needle in row.ref.lower())
    ]


def sort_keys(score_ids: Iterable[str]) -> set[str]:
    """Every column the caseload may be sorted by."""
    return {*COLUMNS, *(SCORE_COLUMN + key for key in score_ids)}


def _sort(rows: list[CaseloadRow], query: CaseloadQuery, score_ids: set[str]) -> None:
    """Sort in place by a whitelisted column; empty values always last; ref breaks ties."""
    column = query.sort if query.sort in sort_keys(score_ids) else "ref"
    key: Callable[[CaseloadRow], Any]
    if column == "flags":
        # Most severe first when descending: rank severity, then count.
        def key(r: CaseloadRow) -> Any:
            return (
                (3 - SEVERITY_RANK.get(r.worst_flag or "", 3), r.open_flags)
                if r.open_flags
                else None
            )
    elif column.startswith(SCORE_COLUMN):
        score_id = column[len(SCORE_COLUMN) :]

        def key(r: CaseloadRow) -> Any:
            score = r.scores.get(score_id)
            return None if score is None or score.value is None else score.value
    elif column == "consent":

        def key(r: CaseloadRow) -> Any:
            return CONSENT_STATES.index(r.consent) if r.consent in CONSENT_STATES else 9
    else:

        def key(r: CaseloadRow) -> Any:
            value = getattr(r, column)
            return (len(value), value) if column == "ref" else value

    rows.sort(key=lambda r: (len(r.ref), r.ref))
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    present.sort(key=key, reverse=query.descending)
    rows[:] = present + missing


__all__ = [
    "COLUMNS",
    "SCORE_COLUMN",
    "Caseload",
    "CaseloadQuery",
    "CaseloadRow",
    "LatestScore",
    "Viewer",
    "load_caseload",
    "sort_keys",
]
