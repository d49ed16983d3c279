"""The scheduled-contact rows: the insert and cancel both planners share, and the reads.

The reads are the dispatcher's due condition and ``cm-bot schedule list`` (:func:`upcoming`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, exists, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from cm_bot.domain import ContactStatus, FlagStatus
from cm_bot.scheduling.plan import aware, zone
from cm_bot.scheduling.policy import FOLLOWUP, OPEN
from cm_bot.storage.models import Case, Client, Flag, ScheduledContact
from cm_bot.storage.repository import SqlUnitOfWork


def session_of(target: Session | SqlUnitOfWork) -> Session:
    """The session behind a unit of work (or the session itself)."""
    return target.session if isinstance(target, SqlUnitOfWork) else target


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ScheduledContact)


def insert_contact(session: Session) -> Any:
    """An INSERT into ``scheduledcontact`` that can skip a duplicate (ON CONFLICT)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ScheduledContact)


def add_contact(session: Session, values: dict[str, Any], now: datetime) -> int | None:
    """Insert unless the dedupe key exists; returns the new id or ``None``."""
    statement = (
        insert_contact(session)
        .values(
            status=ContactStatus.PENDING.value,
            attempts=0,
            failures=0,
            created_at=now,
            updated_at=now,
            **values,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(col(ScheduledContact.id))
    )
    row = session.execute(statement).first()
    return None if row is None else int(row[0])


def cancel_open(
    session: Session, now: datetime, outcome: str, *where: Any, kind: str | None = None
) -> int:
    """Cancel open contacts matching ``where``; settled at once (nothing to write back)."""
    conditions = [col(ScheduledContact.status).in_(OPEN), *where]
    if kind is not None:
        conditions.append(col(ScheduledContact.kind) == kind)
    result = session.execute(
        update(ScheduledContact)
        .where(*conditions)
        .values(
            status=ContactStatus.CANCELLED.value, outcome=outcome, updated_at=now, closed_at=now
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class Upcoming:
    """One open contact as ``schedule list`` shows it."""

    contact_id: int
    case_ref: str
    kind: str
    flow_id: str
    status: str
    due_at: datetime
    local_due: datetime
    timezone: str
    attempts: int
    message_first: bool = True  # False: not safe to message the client first

    @property
    def next_action(self) -> str:
        """What happens at ``due_at``."""
        if self.status == ContactStatus.STAFF_TASK:
            return "staff task: call or see the client"
        if self.status == ContactStatus.PENDING:
            return "send" if self.message_first else "becomes a staff task (not safe to message)"
        if self.kind == FOLLOWUP and self.attempts < 2:
            return "remind if no reply"
        return "close if no reply"


def upcoming(
    target: Session | SqlUnitOfWork,
    ref: str | None = None,
    *,
    default_timezone: str = "UTC",
    limit: int = 100,
) -> list[Upcoming]:
    """Open contacts (pending, or sent and waiting for a reply), soonest first.

    A contact turned into a task for the case manager (not safe to message first) is
    listed until its flag is resolved.
    """
    session = session_of(target)
    query = (
        select(ScheduledContact, Case, Client)
        .join(Case, col(Case.id) == col(ScheduledContact.case_id))
        .outerjoin(Client, col(Client.id) == col(Case.client_id))
        .where(or_(col(ScheduledContact.status).in_(OPEN), _open_staff_task()))
        .order_by(col(ScheduledContact.due_at), col(ScheduledContact.id))
        .limit(limit)
    )
    if ref is not None:
        query = query.where(col(Case.ref) == ref.strip().upper())
    result: list[Upcoming] = []
    for contact, case, client in session.execute(query).all():
        assert contact.id is not None
        tz = zone(client.timezone if client else None, default_timezone)
        due = aware(contact.due_at)
        result.append(
            Upcoming(
                contact_id=contact.id,
                case_ref=case.ref,
                kind=contact.kind,
                flow_id=contact.flow_id,
                status=contact.status,
                due_at=due,
                local_due=due.astimezone(tz),
                timezone=str(tz.key),
                attempts=contact.attempts,
                message_first=client is None or client.message_first is not False,
            )
        )
    return result


def _open_staff_task() -> Any:
    """A contact turned into a task for the case manager whose flag is not yet resolved."""
    key = literal("stafftask:") + cast(col(ScheduledContact.id), String)
    return and_(
        col(ScheduledContact.status) == ContactStatus.STAFF_TASK.value,
        exists().where(col(Flag.dedupe_key) == key, col(Flag.status) != FlagStatus.RESOLVED.value),
    )


def due_condition(now: datetime) -> Any:
    """Rows the dispatcher must look at now."""
    return and_(col(ScheduledContact.status).in_(OPEN), col(ScheduledContact.due_at) <= now)


__all__ = [
    "Upcoming",
    "add_contact",
    "cancel_open",
    "due_condition",
    "insert_contact",
    "session_of",
    "upcoming",
]
