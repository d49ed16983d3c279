"""The reports page's numbers, for the caseload a staff member may see.

Case managers get their own caseload's numbers, supervisors and admins everyone's (the
same rule as every other page, :func:`cm_bot.engine.staff_access.sees_case`):

- open flags by severity and age (under a day, 1-3 days, 3-7 days, over 7 days);
- the median time to acknowledge an urgent flag (of those acknowledged);
- follow-up reach at 30, 90 and 180 days after exit (sent, answered, no response);
- positive screens by domain (PHQ-9, GAD-7 ... and each AHC domain);
- consents given and withdrawn.

:func:`report_rows` flattens the report into the CSV download's rows.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from cm_bot.domain import ContactStatus, FlagStatus, Severity
from cm_bot.domain.time import aware
from cm_bot.engine.notices import INSTRUMENT_NAMES
from cm_bot.engine.staff_access import sees_all, sees_case
from cm_bot.storage.models import Case, ConsentRecord, Flag, ScheduledContact, ScoreResult
from cm_bot.storage.reads.caseload import Viewer

SEVERITIES = tuple(s.value for s in Severity)
# (code, upper bound); the last bucket has none.
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("under_1d", timedelta(days=1)),
    ("1_3d", timedelta(days=3)),
    ("3_7d", timedelta(days=7)),
    ("over_7d", None),
)
FOLLOWUP_DAYS = (30, 90, 180)
REACH = ("planned", "sent", "answered", "no_response")
CONSENT_ACTIONS = ("granted", "declined", "withdrawn")
SENT_STATES = (
    ContactStatus.SENT.value,
    ContactStatus.ANSWERED.value,
    ContactStatus.NO_RESPONSE.value,
    ContactStatus.MISSED.value,
)


@dataclass(slots=True)
class Report:
    """Every number on the page; ``everyone``: the whole program, else the reader's caseload."""

    everyone: bool
    cases: int
    generated_at: datetime
    open_flags: dict[str, dict[str, int]] = field(default_factory=dict)  # severity -> bucket
    urgent_acknowledged: int = 0
    urgent_unacknowledged: int = 0
    median_ack: timedelta | None = None
    reach: dict[int, dict[str, int]] = field(default_factory=dict)  # day -> REACH -> count
    positive: list[tuple[str, str, int, int]] = field(default_factory=list)
    consents: dict[str, int] = field(default_factory=dict)


def age_bucket(age: timedelta) -> str:
    """The age bucket an open flag of this age falls in (a bound belongs to the older one)."""
    for code, upper in AGE_BUCKETS:
        if upper is None or age < upper:
            return code
    return AGE_BUCKETS[-1][0]


def median_duration(durations: Iterable[timedelta]) -> timedelta | None:
    """The median of some durations, ``None`` for none."""
    seconds = [d.total_seconds() for d in durations]
    return timedelta(seconds=statistics.median(seconds)) if seconds else None


def followup_day(contact: ScheduledContact, exited: datetime | None) -> int | None:
    """How many days after the exit a follow-up was planned for.

    From its key (``followup:<case>:<exit date>:<days>``), else its planned day minus the
    exit's day.
    """
    key = contact.dedupe_key or ""
    if key.startswith("followup:"):
        last = key.rsplit(":", 1)[-1]
        if last.isdigit():
            return int(last)
    if contact.planned_for is not None and exited is not None:
        return (contact.planned_for - exited.date()).days
    return None


def screen_domains(score: ScoreResult) -> tuple[str | None, list[str]]:
    """The screen a score is (its domain, ``None`` if it screens nothing) and what was positive.

    PHQ/GAD/HVS screens are one domain each (positive or not); the AHC has one per domain.
    Returns (domain of a one-domain screen, positive domains).
    """
    result = score.result or {}
    instrument = score.instrument or str(result.get("instrument") or "")
    if instrument == "ahc":
        return None, [str(d) for d in result.get("positive_domains") or ()]
    if instrument in INSTRUMENT_NAMES:
        name = INSTRUMENT_NAMES[instrument]
        return name, [name] if result.get("positive") else []
    return None, []


def build_report(session: Session, viewer: Viewer, now: datetime) -> Report:
    """The report for ``viewer`` at ``now`` (a few queries, one per kind of row)."""
    now = aware(now)
    cases = session.execute(
        select(col(Case.id), col(Case.manager_id), col(Case.client_id), col(Case.exited_at))
    ).all()
    visible = [c for c in cases if sees_case(viewer, c.manager_id)]
    everyone = sees_all(viewer)
    report = Report(everyone, len(visible), now)
    case_ids = [int(c.id) for c in visible]
    client_ids = [int(c.client_id) for c in visible if c.client_id is not None]
    exited = {int(c.id): c.exited_at for c in visible}
    every = len(visible) == len(cases)

    def scoped(column: Any, ids: list[int]) -> list[Any]:
        return [] if every else [column.in_(ids)]

    report.open_flags = {s: {code: 0 for code, _b in AGE_BUCKETS} for s in SEVERITIES}
    acks: list[timedelta] = []
    for severity, status, created, acknowledged in session.execute(
        select(
            col(Flag.severity), col(Flag.status), col(Flag.created_at), col(Flag.acknowledged_at)
        ).where(col(Flag.case_id).is_not(None), *scoped(col(Flag.case_id), case_ids))
    ).all():
        if status != FlagStatus.RESOLVED.value and severity in report.open_flags:
            report.open_flags[severity][age_bucket(now - aware(created))] += 1
        if severity == Severity.URGENT.value:
            if acknowledged is not None:
                acks.append(aware(acknowledged) - aware(created))
            elif status == FlagStatus.OPEN.value:
                report.urgent_unacknowledged += 1
    report.urgent_acknowledged = len(acks)
    report.median_ack = median_duration(acks)

    report.reach = {day: dict.fromkeys(REACH, 0) for day in FOLLOWUP_DAYS}
    for contact in session.execute(
        select(ScheduledContact).where(
            col(ScheduledContact.kind) == "followup",
            *scoped(col(ScheduledContact.case_id), case_ids),
        )
    ).scalars():
        exit_at = exited.get(contact.case_id)
        day = followup_day(contact, aware(exit_at) if exit_at else None)
        if day not in report.reach or contact.status == ContactStatus.CANCELLED.value:
            continue
        counts = report.reach[day]
        counts["planned"] += 1
        if contact.status in SENT_STATES or contact.sent_at is not None:
            counts["sent"] += 1
        if contact.status == ContactStatus.ANSWERED.value:
            counts["answered"] += 1
        elif contact.status in (ContactStatus.NO_RESPONSE.value, ContactStatus.MISSED.value):
            counts["no_response"] += 1

    screened: dict[str, int] = {}
    positive: dict[str, int] = {}
    kinds: dict[str, str] = {}
    for score in session.execute(
        select(ScoreResult).where(
            col(ScoreResult.case_id).is_not(None),
            *scoped(col(ScoreResult.case_id), case_ids),
        )
    ).scalars():
        one, found = screen_domains(score)
        if one is not None:
            screened[one] = screened.get(one, 0) + 1
            kinds[one] = "instrument"
        elif (score.instrument or "") == "ahc":
            screened["ahc"] = screened.get("ahc", 0) + 1
            for domain in found:
                kinds[domain] = "ahc"
        for domain in found:
            positive[domain] = positive.get(domain, 0) + 1
    rows: list[tuple[str, str, int, int]] = []
    for name in sorted(d for d, k in kinds.items() if k == "instrument"):
        rows.append(("instrument", name, positive.get(name, 0), screened[name]))
    for domain in sorted(d for d, k in kinds.items() if k == "ahc"):
        rows.append(("ahc", domain, positive[domain], screened.get("ahc", 0)))
    report.positive = rows

    report.consents = dict.fromkeys(CONSENT_ACTIONS, 0)
    for (action,) in session.execute(
        select(col(ConsentRecord.action)).where(*scoped(col(ConsentRecord.client_id), client_ids))
    ).all():
        if action in report.consents:
            report.consents[action] += 1
    return report


def report_rows(report: Report) -> list[list[str]]:
    """The report as CSV rows: section, item, measure, value."""
    rows = [["section", "item", "measure", "value"]]
    rows.append(
        ["scope", "everyone" if report.everyone else "caseload", "cases", str(report.cases)]
    )
    for severity, buckets in report.open_flags.items():
        for bucket, count in buckets.items():
            rows.append(["open_flags", severity, bucket, str(count)])
    median = report.median_ack
    rows.append(
        [
            "urgent_acknowledgement",
            "urgent",
            "median_minutes",
            "" if median is None else f"{median.total_seconds() / 60:.1f}",
        ]
    )
    rows.append(
        ["urgent_acknowledgement", "urgent", "acknowledged", str(report.urgent_acknowledged)]
    )
    rows.append(
        ["urgent_acknowledgement", "urgent", "not_acknowledged", str(report.urgent_unacknowledged)]
    )
    for day, counts in report.reach.items():
        for measure, count in counts.items():
            rows.append(["followup_reach", f"{day}d", measure, str(count)])
    for kind, domain, count, screens in report.positive:
        rows.append(["positive_screens", f"{kind}:{domain}", "positive", str(count)])
        rows.append(["positive_screens", f"{kind}:{domain}", "screens", str(screens)])
    for action, count in report.consents.items():
        rows.append(["consents", action, "count", str(count)])
    return rows


def report_csv(report: Report) -> str:
    """The CSV download (no client data: counts only)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(report_rows(report))
    return buffer.getvalue()


__all__ = [
    "AGE_BUCKETS",
    "CONSENT_ACTIONS",
    "FOLLOWUP_DAYS",
    "REACH",
    "SEVERITIES",
    "Report",
    "age_bucket",
    "build_report",
    "followup_day",
    "median_duration",
    "report_csv",
    "report_rows",
    "screen_domains",
]
