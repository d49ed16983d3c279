"""Repeat PHQ-9 / GAD-7 (issue 18): the plans, and each instrument's series with its markers.

Read by ``/case`` (:meth:`SqlCases.case_summary`), the export
(:func:`cm_bot.storage.data_rights.export_case`) and the scheduler's "not improving"
check (:mod:`cm_bot.scheduling.rescreens`). The markers are computed by the pure
:func:`cm_bot.scoring.trend.milestones`, never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from cm_bot.domain.rescreen import RESCREEN_INSTRUMENTS
from cm_bot.domain.time import aware
from cm_bot.scoring.trend import MARKED_INSTRUMENTS, Point, milestones, ordered
from cm_bot.storage.models import RescreenPlan, ScoreResult

assert set(RESCREEN_INSTRUMENTS) <= MARKED_INSTRUMENTS


def instrument_series(session: Session, case_id: int, instrument: str) -> list[Point]:
    """Every stored score of ``instrument`` on the case (intake and re-screens), oldest first.

    The first is the episode's baseline.
    """
    rows = session.execute(
        select(ScoreResult)
        .where(
            col(ScoreResult.case_id) == case_id,
            col(ScoreResult.instrument) == instrument,
            col(ScoreResult.value).is_not(None),
        )
        .order_by(col(ScoreResult.computed_at), col(ScoreResult.id))
    ).scalars()
    return [Point(aware(r.computed_at), float(r.value or 0), r.band) for r in rows]


def marked_series(session: Session, case_id: int) -> list[dict[str, Any]]:
    """Each re-screenable instrument with scores: its points and their markers, oldest first."""
    out: list[dict[str, Any]] = []
    for instrument in RESCREEN_INSTRUMENTS:
        points = instrument_series(session, case_id, instrument)
        if not points:
            continue
        marks = milestones([p.value for p in points], [p.at for p in points])
        out.append(
            {
                "instrument": instrument,
                "points": [
                    {"at": p.at, "value": p.value, "band": p.band, "marks": ordered(m)}
                    for p, m in zip(points, marks, strict=True)
                ],
            }
        )
    return out


def plan_of(session: Session, case_id: int, instrument: str) -> RescreenPlan | None:
    """The case's plan for ``instrument`` (stopped or not), if any was ever set."""
    return (
        session.execute(
            select(RescreenPlan).where(
                col(RescreenPlan.case_id) == case_id, col(RescreenPlan.instrument) == instrument
            )
        )
        .scalars()
        .first()
    )


def plans_of(session: Session, case_id: int) -> list[RescreenPlan]:
    """Every plan of the case, in instrument order."""
    rows = session.execute(
        select(RescreenPlan).where(col(RescreenPlan.case_id) == case_id)
    ).scalars()
    order = {name: i for i, name in enumerate(RESCREEN_INSTRUMENTS)}
    return sorted(rows, key=lambda p: order.get(p.instrument, 9))


def set_plan(
    session: Session,
    case_id: int,
    instrument: str,
    every_days: int | None,
    actor: str,
    now: datetime,
) -> bool:
    """Set (``every_days``) or stop (``None``) a plan; False when there was no running plan to stop.

    A new interval on an existing row starts it again and bumps its ``revision``.
    """
    plan = plan_of(session, case_id, instrument)
    if every_days is None:
        if plan is not None and plan.stopped_at is None:
            plan.stopped_at = now
            plan.updated_at = now
            plan.set_by = actor
            return True
        return False
    if plan is None:
        plan = RescreenPlan(
            case_id=case_id,
            instrument=instrument,
            every_days=every_days,
            set_by=actor,
            created_at=now,
            updated_at=now,
        )
        session.add(plan)
    else:
        plan.every_days = every_days
        plan.revision += 1
        plan.stopped_at = None
        plan.set_by = actor
        plan.updated_at = now
    session.flush()
    return True


def plan_rows(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The case's plans as plain values (``/case``, the export)."""
    return [
        {
            "instrument": p.instrument,
            "every_days": p.every_days,
            "active": p.stopped_at is None,
            "set_by": p.set_by,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
            "stopped_at": p.stopped_at,
        }
        for p in plans_of(session, case_id)
    ]


__all__ = [
    "RESCREEN_INSTRUMENTS",
    "instrument_series",
    "marked_series",
    "plan_of",
    "plan_rows",
    "plans_of",
    "set_plan",
]
