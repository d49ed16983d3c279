"""Staff lifecycle from the command line: add, list, change role, activate, invite, deactivate.

Every act and every read is audited (as ``cli:<login name>`` from the CLI).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from cm_bot.domain import FlagStatus, OutboxStatus, Severity, StaffRole
from cm_bot.domain.time import SYSTEM_CLOCK
from cm_bot.storage.admin_common import (
    ROLES,
    AdminError,
    record_audit,
    revoke_invites,
    rowcount,
    staff_by_name,
)
from cm_bot.storage.console_sessions import revoke_sessions
from cm_bot.storage.db import transaction
from cm_bot.storage.models import AuditLog, Case, Flag, Invite, Outbox, ProgramSetting, Staff

if TYPE_CHECKING:
    from cm_bot.flows.loader import FlowRegistry
    from cm_bot.i18n.translator import Translator


def add_staff(engine: Engine, name: str, role: str, actor: str = "cli") -> Staff:
    """Create a staff record (not yet bound to a Telegram account)."""
    if role not in ROLES:
        raise AdminError(f"role must be one of {', '.join(ROLES)}")
    with transaction(engine) as session:
        if session.execute(select(Staff).where(col(Staff.name) == name)).first():
            raise AdminError(f"a staff member called {name!r} already exists")
        staff = Staff(name=name, role=role)
        session.add(staff)
        session.flush()
        session.add(AuditLog(actor=actor, action="staff_added", detail={"staff_id": staff.id}))
        return staff


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
                col(Staff.role).in_((StaffRole.SUPERVISOR, StaffRole.ADMIN)),
                col(Staff.active).is_(True),
                col(Staff.telegram_user_id).is_not(None),
                col(Staff.blocked_at).is_(None),
            )
            .limit(1)
        ).first()
        return found is not None


def _last_admin(session: Session, staff: Staff) -> bool:
    """Whether ``staff`` is the only active admin (the program would be left without one)."""
    if staff.role != StaffRole.ADMIN or not staff.active:
        return False
    others = session.execute(
        select(func.count())
        .select_from(Staff)
        .where(
            col(Staff.role) == StaffRole.ADMIN,
            col(Staff.active).is_(True),
            col(Staff.id) != staff.id,
        )
    ).scalar_one()
    return int(others) == 0


@dataclass(frozen=True, slots=True)
class StaffRow:
    """One staff member as ``cm-bot staff list`` shows them."""

    staff_id: int
    name: str
    role: str
    bound: bool  # a Telegram account is bound to them
    active: bool
    timezone: str | None
    cases: int  # cases naming them as case manager


def list_staff(engine: Engine, actor: str) -> list[StaffRow]:
    """Every staff member, in the order they were added."""
    with transaction(engine) as session:
        counts: dict[int, int] = {
            int(manager): int(count)
            for manager, count in session.execute(
                select(col(Case.manager_id), func.count())
                .where(col(Case.manager_id).is_not(None))
                .group_by(col(Case.manager_id))
            ).all()
        }
        rows = [
            StaffRow(
                s.id,
                s.name,
                s.role,
                s.telegram_user_id is not None,
                s.active,
                s.timezone,
                counts.get(s.id, 0),
            )
            for s in session.execute(select(Staff).order_by(col(Staff.id))).scalars()
            if s.id is not None
        ]
        record_audit(session, actor, "staff_listed", count=len(rows))
        return rows


def set_staff_role(engine: Engine, name: str, role: str, actor: str) -> str:
    """Change a staff member's role (at once: it is read on each message); returns the old one."""
    if role not in ROLES:
        raise AdminError(f"role must be one of {', '.join(ROLES)}")
    with transaction(engine) as session:
        staff = staff_by_name(session, name)
        old = staff.role
        if old == role:
            raise AdminError(f"{staff.name} is already {role}")
        if _last_admin(session, staff):
            raise AdminError(
                f"{staff.name} is the last active admin: make someone else admin first "
                "(cm-bot staff role NAME admin)"
            )
        staff.role = role
        record_audit(
            session, actor, "staff_role_changed", staff_id=staff.id, old_role=old, new_role=role
        )
        return old


def activate_staff(engine: Engine, name: str, actor: str) -> Staff:
    """Give a deactivated staff member access again, through the account still bound to them."""
    with transaction(engine) as session:
        staff = staff_by_name(session, name)
        if staff.active:
            raise AdminError(f"{staff.name} is already active")
        staff.active = True
        record_audit(session, actor, "staff_activated", staff_id=staff.id)
        return staff


def staff_invite(engine: Engine, name: str, actor: str, now: datetime | None = None) -> str:
    """A new staff invite token; their earlier unused links stop working.

    Opening it binds the Telegram account that opens it, replacing the one bound before
    (which is staff no more). A deactivated member gets none: activate them first.
    """
    from cm_bot.engine.staff import INVITE_TTL
    from cm_bot.storage.repository import SqlUnitOfWork

    now = now or SYSTEM_CLOCK.now()
    with transaction(engine) as session:
        staff = staff_by_name(session, name)
        if not staff.active:
            quoted = shlex.quote(staff.name)
            raise AdminError(
                f"{staff.name} is deactivated: no invite. To let them back in: "
                f"cm-bot staff activate {quoted}, then cm-bot staff invite {quoted}"
            )
        revoked = revoke_invites(
            session, now, col(Invite.kind) == "staff", col(Invite.staff_id) == staff.id
        )
        token = SqlUnitOfWork(session, now=now).cases.create_invite(
            "staff", case_id=None, staff_id=staff.id, expires_at=now + INVITE_TTL
        )
        record_audit(session, actor, "staff_invite_created", staff_id=staff.id, revoked=revoked)
        return token


@dataclass
class Deactivated:
    """What ``cm-bot staff deactivate`` did."""

    name: str
    flags: list[int] = field(default_factory=list)  # open flags on their cases, handed over
    recipients: list[str] = field(default_factory=list)  # supervisors and admins told
    team_chat: int = 0  # of the flags, the urgent ones also sent to the team chat
    unreached: list[int] = field(default_factory=list)  # flags nobody could be told of
    cases: list[str] = field(default_factory=list)  # refs still naming them as manager
    cancelled: int = 0  # their notices not yet sent, cancelled


def deactivate_staff(
    engine: Engine,
    name: str,
    actor: str,
    *,
    translator: Translator,
    flows: FlowRegistry | None = None,
    now: datetime | None = None,
) -> Deactivated:
    """End a staff member's access at once and hand their open flags to supervisors.

    In one transaction: ``active`` off (the bot looks staff up on every message, so their
    next command or button press is a stranger's), their unsent notices and unused
    invites cancelled, and a notice of every unresolved flag on their cases written to the
    outbox for the escalation targets (bound supervisors and admins; the team chat for
    urgent flags), as an escalation would. Their cases keep them as manager until
    reassigned.
    """
    from cm_bot.engine.staff import HANDED_OVER, StaffDesk
    from cm_bot.storage.repository import SqlUnitOfWork

    now = now or SYSTEM_CLOCK.now()
    with transaction(engine) as session:
        staff = staff_by_name(session, name)
        if not staff.active:
            raise AdminError(f"{staff.name} is already deactivated")
        if _last_admin(session, staff):
            raise AdminError(
                f"{staff.name} is the last active admin: make someone else admin first "
                "(cm-bot staff role NAME admin)"
            )
        staff_id = staff.id
        staff.active = False
        session.flush()
        done = Deactivated(staff.name)
        done.cancelled = rowcount(
            session.execute(
                update(Outbox)
                .where(col(Outbox.staff_id) == staff_id, col(Outbox.status) == OutboxStatus.PENDING)
                .values(status=OutboxStatus.CANCELLED, error="staff member deactivated")
            )
        )
        revoke_invites(session, now, col(Invite.kind) == "staff", col(Invite.staff_id) == staff_id)
        assert staff_id is not None
        sessions_ended = revoke_sessions(session, staff_id, now)  # signed out of the console
        done.cases = list(
            session.execute(
                select(col(Case.ref)).where(col(Case.manager_id) == staff_id).order_by(col(Case.id))
            ).scalars()
        )
        open_flags = session.execute(
            select(col(Flag.id), col(Flag.case_id), col(Flag.severity), col(Flag.escalated_at))
            .join(Case, col(Case.id) == col(Flag.case_id))
            .where(col(Case.manager_id) == staff_id, col(Flag.status) != FlagStatus.RESOLVED.value)
            .order_by(col(Flag.id))
        ).all()
        uow = SqlUnitOfWork(session, now=now)
        targets = uow.cases.escalation_targets()
        desk = StaffDesk(uow, translator, [], flows=flows)
        for flag_id, case_id, severity, escalated_at in open_flags:
            done.flags.append(flag_id)
            reached = desk.notify(
                flag_id, targets, team=severity == Severity.URGENT, why=HANDED_OVER
            )
            if not reached:
                done.unreached.append(flag_id)
                uow.audit.record(actor, "escalation_unreached", case_id, flag_id=flag_id)
                continue
            if reached > len(targets):
                done.team_chat += 1
            if escalated_at is None:  # told now: the timed escalation would tell them again
                uow.flags.mark_escalated(flag_id, now)
            uow.audit.record(
                actor, "flag_handed_over", case_id, flag_id=flag_id, from_staff_id=staff_id
            )
        if done.flags:
            for target in targets:
                told = session.get(Staff, target.staff_id)
                if told is not None:
                    done.recipients.append(told.name)
        record_audit(
            session,
            actor,
            "staff_deactivated",
            staff_id=staff_id,
            flags_handed_over=len(done.flags) - len(done.unreached),
            flags_unreached=len(done.unreached),
            notices_cancelled=done.cancelled,
            console_sessions_ended=sessions_ended,
        )
        return done


__all__ = [
    "Deactivated",
    "StaffRow",
    "activate_staff",
    "add_staff",
    "bound_staff_chats",
    "deactivate_staff",
    "escalation_reachable",
    "list_staff",
    "set_staff_role",
    "staff_invite",
]
