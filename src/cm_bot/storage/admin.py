"""Staff-side writes: staff, cases, clients. Used by the CLI and the demo set-up."""

from __future__ import annotations

import re

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, Case, ChannelIdentity, Client, ProgramSetting, Staff

ROLES = ("case_manager", "supervisor", "admin")
_REF = re.compile(r"^C-\d{4,}$")


class AdminError(ValueError):
    """A staff-side request that cannot be done as asked (unknown name, duplicate ref ...)."""


def add_staff(engine: Engine, name: str, role: str) -> Staff:
    """Create a staff record (not yet bound to a Telegram account)."""
    if role not in ROLES:
        raise AdminError(f"role must be one of {', '.join(ROLES)}")
    with transaction(engine) as session:
        if session.execute(select(Staff).where(col(Staff.name) == name)).first():
            raise AdminError(f"a staff member called {name!r} already exists")
        staff = Staff(name=name, role=role)
        session.add(staff)
        session.flush()
        session.add(AuditLog(actor="cli", action="staff_added", detail={"staff_id": staff.id}))
        return staff


def staff_by_name(session: Session, name: str) -> Staff:
    """The staff member with this name."""
    staff: Staff | None = (
        session.execute(select(Staff).where(col(Staff.name) == name)).scalars().first()
    )
    if staff is None:
        raise AdminError(f"no staff member called {name!r} (add one with: cm-bot staff add)")
    return staff


def next_ref(session: Session) -> str:
    """The next free ``C-0001`` style reference."""
    refs = session.execute(select(col(Case.ref))).scalars()
    numbers = [int(r[2:]) for r in refs if _REF.match(r)]
    return f"C-{(max(numbers) + 1) if numbers else 1:04d}"


def new_case(engine: Engine, manager: str, ref: str | None = None) -> Case:
    """Open a case for a case manager; the client is linked later by invitation."""
    with transaction(engine) as session:
        staff = staff_by_name(session, manager)
        if ref is not None:
            if not _REF.match(ref):
                raise AdminError("a case ref looks like C-0042")
            if session.execute(select(Case).where(col(Case.ref) == ref)).first():
                raise AdminError(f"case {ref} already exists")
        case = Case(ref=ref or next_ref(session), manager_id=staff.id)
        session.add(case)
        session.flush()
        session.add(AuditLog(actor="cli", action="case_opened", case_id=case.id))
        return case


def link_client(engine: Engine, ref: str, channel: str, external_user_id: str, chat_id: str) -> int:
    """Bind a channel account to a case's client (creating the client); returns the client id."""
    with transaction(engine) as session:
        case = session.execute(select(Case).where(col(Case.ref) == ref)).scalars().first()
        if case is None:
            raise AdminError(f"no case {ref}")
        if case.client_id is None:
            client = Client()
            session.add(client)
            session.flush()
            case.client_id = client.id
        client_id: int = case.client_id
        session.add(
            ChannelIdentity(
                client_id=case.client_id,
                channel=channel,
                external_user_id=external_user_id,
                chat_id=chat_id,
            )
        )
        session.add(
            AuditLog(
                actor="cli", action="client_linked", case_id=case.id, detail={"channel": channel}
            )
        )
        return client_id


def bound_staff_chats(engine: Engine) -> list[tuple[str, str | None]]:
    """Each active staff member bound to Telegram: (private chat id, locale or None).

    A private chat's id is the person's user id, so the binding is the chat. The
    bot sets the staff command menu in these chats at start-up.
    """
    with transaction(engine) as session:
        rows = session.execute(
            select(col(Staff.telegram_user_id), col(Staff.locale))
            .where(col(Staff.active).is_(True), col(Staff.telegram_user_id).is_not(None))
            .order_by(col(Staff.id))
        ).all()
        return [(str(user), locale) for user, locale in rows]


def escalation_reachable(engine: Engine) -> bool:
    """Whether an urgent flag can reach anyone beyond the case manager.

    That takes a bound, active supervisor or admin Telegram has not refused, or a
    registered team chat; without one, a flag for a case manager who cannot be reached
    reaches nobody (``cm-bot run`` warns at start-up).
    """
    with transaction(engine) as session:
        if session.get(ProgramSetting, "team_chat_id") is not None:
            return True
        found = session.execute(
            select(col(Staff.id))
            .where(
                col(Staff.role).in_(("supervisor", "admin")),
                col(Staff.active).is_(True),
                col(Staff.telegram_user_id).is_not(None),
                col(Staff.blocked_at).is_(None),
            )
            .limit(1)
        ).first()
        return found is not None


def has_any_case(engine: Engine) -> bool:
    """Whether the database holds any case yet (a fresh install gets a demo case)."""
    with transaction(engine) as session:
        return bool(session.execute(select(func.count()).select_from(Case)).scalar_one())


__all__ = [
    "ROLES",
    "AdminError",
    "add_staff",
    "bound_staff_chats",
    "escalation_reachable",
    "has_any_case",
    "link_client",
    "new_case",
    "next_ref",
]
