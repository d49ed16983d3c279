"""``cm-bot flags list``: flags, who acknowledged and resolved them, never the answer behind one.

The read is audited (as ``cli:<login name>`` from the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import col

from cm_bot.domain import FlagStatus
from cm_bot.storage.admin_common import case_by_ref, record_audit
from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, Case, Flag, Staff


@dataclass(frozen=True, slots=True)
class FlagRow:
    """One flag as ``cm-bot flags list`` shows it: its reason, never the answer behind it."""

    flag_id: int
    case_ref: str | None
    severity: str
    status: str
    reason: str
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    escalated_at: datetime | None
    unreached: bool  # its last escalation or hand-over reached nobody


# Audit actions of telling others about a flag; the last one says whether anyone was told.
_TOLD = ("flag_escalated", "flag_handed_over", "escalation_unreached")


def list_flags(
    engine: Engine, actor: str, *, open_only: bool = False, ref: str | None = None
) -> list[FlagRow]:
    """Flags in the order they were raised: all, or not yet resolved, or of one case."""
    with transaction(engine) as session:
        query = (
            select(Flag, col(Case.ref))
            .outerjoin(Case, col(Case.id) == col(Flag.case_id))
            .order_by(col(Flag.id))
        )
        case_id: int | None = None
        if ref is not None:
            case_id = case_by_ref(session, ref).id
            query = query.where(col(Flag.case_id) == case_id)
        if open_only:
            query = query.where(col(Flag.status) != FlagStatus.RESOLVED.value)
        found = session.execute(query).all()
        names = {s.id: s.name for s in session.execute(select(Staff)).scalars()}
        last_told: dict[int, str] = {}
        for action, detail in session.execute(
            select(col(AuditLog.action), col(AuditLog.detail))
            .where(col(AuditLog.action).in_(_TOLD))
            .order_by(col(AuditLog.id))
        ).all():
            flag_id = detail.get("flag_id") if isinstance(detail, dict) else None
            if isinstance(flag_id, int):
                last_told[flag_id] = str(action)
        rows = [
            FlagRow(
                flag.id,
                case_ref,
                flag.severity,
                flag.status,
                flag.reason,
                flag.created_at,
                names.get(flag.acknowledged_by),
                flag.acknowledged_at,
                names.get(flag.resolved_by),
                flag.resolved_at,
                flag.escalated_at,
                last_told.get(flag.id) == "escalation_unreached",
            )
            for flag, case_ref in found
            if flag.id is not None
        ]
        record_audit(session, actor, "flags_listed", case_id, count=len(rows), open_only=open_only)
        return rows


__all__ = ["FlagRow", "list_flags"]
