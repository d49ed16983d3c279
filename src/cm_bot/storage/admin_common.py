"""What the staff-side commands share: the error they raise, lookups by name and ref, the audit.

What the command line does is audited as :func:`cli_actor` (``cli:<login name>``).
"""

from __future__ import annotations

import getpass
import shlex
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from cm_bot.domain import StaffRole
from cm_bot.domain.errors import RefusedError
from cm_bot.storage.models import AuditLog, Case, Invite, Staff

ROLES = (StaffRole.CASE_MANAGER, StaffRole.SUPERVISOR, StaffRole.ADMIN)


class AdminError(RefusedError, ValueError):
    """A staff-side request that cannot be done as asked (unknown name, duplicate ref ...)."""


def cli_actor() -> str:
    """Who a command-line act is recorded as in the audit log: ``cli:<login name>``.

    ``cli:unknown`` where the process has no login name (a container's bare uid).
    """
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = ""
    return f"cli:{user or 'unknown'}"


def record_audit(
    session: Session, actor: str, action: str, case_id: int | None = None, **detail: Any
) -> None:
    """One audit row: every staff-side act and read is recorded, with who did it."""
    session.add(AuditLog(actor=actor, action=action, case_id=case_id, detail=detail or None))


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (0 where the driver does not say)."""
    return int(getattr(result, "rowcount", 0) or 0)


def staff_by_name(session: Session, name: str) -> Staff:
    """The staff member with this name."""
    staff: Staff | None = (
        session.execute(select(Staff).where(col(Staff.name) == name)).scalars().first()
    )
    if staff is None:
        raise AdminError(f"no staff member called {name!r} (add one with: cm-bot staff add)")
    return staff


def active_staff(session: Session, name: str) -> Staff:
    """The staff member with this name, who must not be deactivated."""
    staff = staff_by_name(session, name)
    if not staff.active:
        raise AdminError(
            f"{name} is deactivated (cm-bot staff activate {shlex.quote(name)} to restore access)"
        )
    return staff


def case_by_ref(session: Session, ref: str) -> Case:
    """The case with this reference (c-0001 is C-0001)."""
    case: Case | None = (
        session.execute(select(Case).where(col(Case.ref) == ref.strip().upper())).scalars().first()
    )
    if case is None or case.id is None:
        raise AdminError(f"no case {ref}")
    return case


def revoke_invites(session: Session, now: datetime, *where: Any) -> int:
    """Unused links matching ``where`` stop working: they now read as expired."""
    return rowcount(
        session.execute(
            update(Invite)
            .where(col(Invite.used_at).is_(None), col(Invite.expires_at) > now, *where)
            .values(expires_at=now)
        )
    )


__all__ = [
    "ROLES",
    "AdminError",
    "active_staff",
    "case_by_ref",
    "cli_actor",
    "record_audit",
    "revoke_invites",
    "rowcount",
    "staff_by_name",
]
