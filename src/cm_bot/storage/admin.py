"""Staff-side writes and listings: staff, cases, clients, flags. Used by the CLI and the demo.

What the command line does is audited as :func:`cli_actor` (``cli:<login name>``).
"""

from __future__ import annotations

import getpass
import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, func, select, update
from sqlmodel import Session, col

from cm_bot.domain import CaseStatus, ClientStatus, FlagStatus
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    Case,
    ChannelIdentity,
    Client,
    Flag,
    Invite,
    Outbox,
    ProgramSetting,
    Staff,
)

if TYPE_CHECKING:
    from cm_bot.flows.loader import FlowRegistry
    from cm_bot.i18n.translator import Translator
    from cm_bot.storage.repository import SqlStore

ROLES = ("case_manager", "supervisor", "admin")
_REF = re.compile(r"^C-\d{4,}$")


class AdminError(ValueError):
    """A staff-side request that cannot be done as asked (unknown name, duplicate ref ...)."""


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


def new_case(engine: Engine, manager: str, ref: str | None = None, actor: str = "cli") -> Case:
    """Open a case for a case manager; the client is linked later by invitation."""
    with transaction(engine) as session:
        staff = active_staff(session, manager)
        if ref is not None:
            if not _REF.match(ref):
                raise AdminError("a case ref looks like C-0042")
            if session.execute(select(Case).where(col(Case.ref) == ref)).first():
                raise AdminError(f"case {ref} already exists")
        case = Case(ref=ref or next_ref(session), manager_id=staff.id)
        session.add(case)
        session.flush()
        session.add(AuditLog(actor=actor, action="case_opened", case_id=case.id))
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


# -- staff and case lifecycle (issue 14): every act and every read is audited ----------------


def cli_actor() -> str:
    """Who a command-line act is recorded as in the audit log: ``cli:<login name>``.

    ``cli:unknown`` where the process has no login name (a container's bare uid).
    """
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = ""
    return f"cli:{user or 'unknown'}"


def _audit(
    session: Session, actor: str, action: str, case_id: int | None = None, **detail: Any
) -> None:
    session.add(AuditLog(actor=actor, action=action, case_id=case_id, detail=detail or None))


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


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


def _last_admin(session: Session, staff: Staff) -> bool:
    """Whether ``staff`` is the only active admin (the program would be left without one)."""
    if staff.role != "admin" or not staff.active:
        return False
    others = session.execute(
        select(func.count())
        .select_from(Staff)
        .where(col(Staff.role) == "admin", col(Staff.active).is_(True), col(Staff.id) != staff.id)
    ).scalar_one()
    return int(others) == 0


def _revoke_invites(session: Session, now: datetime, *where: Any) -> int:
    """Unused links matching ``where`` stop working: they now read as expired."""
    return _rowcount(
        session.execute(
            update(Invite)
            .where(col(Invite.used_at).is_(None), col(Invite.expires_at) > now, *where)
            .values(expires_at=now)
        )
    )


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
        _audit(session, actor, "staff_listed", count=len(rows))
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
        _audit(session, actor, "staff_role_changed", staff_id=staff.id, old_role=old, new_role=role)
        return old


def activate_staff(engine: Engine, name: str, actor: str) -> Staff:
    """Give a deactivated staff member access again, through the account still bound to them."""
    with transaction(engine) as session:
        staff = staff_by_name(session, name)
        if staff.active:
            raise AdminError(f"{staff.name} is already active")
        staff.active = True
        _audit(session, actor, "staff_activated", staff_id=staff.id)
        return staff


def staff_invite(engine: Engine, name: str, actor: str, now: datetime | None = None) -> str:
    """A new staff invite token; their earlier unused links stop working.

    Opening it binds the Telegram account that opens it, replacing the one bound before
    (which is staff no more). A deactivated member gets none: activate them first.
    """
    from cm_bot.engine.staff import INVITE_TTL
    from cm_bot.storage.repository import SqlUnitOfWork

    now = now or datetime.now(UTC)
    with transaction(engine) as session:
        staff = staff_by_name(session, name)
        if not staff.active:
            quoted = shlex.quote(staff.name)
            raise AdminError(
                f"{staff.name} is deactivated: no invite. To let them back in: "
                f"cm-bot staff activate {quoted}, then cm-bot staff invite {quoted}"
            )
        revoked = _revoke_invites(
            session, now, col(Invite.kind) == "staff", col(Invite.staff_id) == staff.id
        )
        token = SqlUnitOfWork(session).create_invite(
            "staff", case_id=None, staff_id=staff.id, expires_at=now + INVITE_TTL
        )
        _audit(session, actor, "staff_invite_created", staff_id=staff.id, revoked=revoked)
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

    now = now or datetime.now(UTC)
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
        done.cancelled = _rowcount(
            session.execute(
                update(Outbox)
                .where(col(Outbox.staff_id) == staff_id, col(Outbox.status) == "pending")
                .values(status="cancelled", error="staff member deactivated")
            )
        )
        _revoke_invites(session, now, col(Invite.kind) == "staff", col(Invite.staff_id) == staff_id)
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
        uow = SqlUnitOfWork(session)
        targets = uow.escalation_targets()
        desk = StaffDesk(uow, translator, [], flows=flows, now=now)
        for flag_id, case_id, severity, escalated_at in open_flags:
            done.flags.append(flag_id)
            reached = desk.notify(flag_id, targets, team=severity == "urgent", why=HANDED_OVER)
            if not reached:
                done.unreached.append(flag_id)
                uow.audit(actor, "escalation_unreached", case_id, flag_id=flag_id)
                continue
            if reached > len(targets):
                done.team_chat += 1
            if escalated_at is None:  # told now: the timed escalation would tell them again
                uow.mark_escalated(flag_id, now)
            uow.audit(actor, "flag_handed_over", case_id, flag_id=flag_id, from_staff_id=staff_id)
        if done.flags:
            for target in targets:
                told = session.get(Staff, target.staff_id)
                if told is not None:
                    done.recipients.append(told.name)
        _audit(
            session,
            actor,
            "staff_deactivated",
            staff_id=staff_id,
            flags_handed_over=len(done.flags) - len(done.unreached),
            flags_unreached=len(done.unreached),
            notices_cancelled=done.cancelled,
        )
        return done


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One case as ``cm-bot case list`` shows it: no client personal data."""

    ref: str
    status: str
    manager: str | None
    manager_active: bool
    channels: tuple[str, ...]  # the channels the client is linked on (none: not linked)
    opened_at: datetime
    open_flags: int


def list_cases(
    engine: Engine, actor: str, *, manager: str | None = None, status: str | None = None
) -> list[CaseRow]:
    """Cases in the order they were opened, of one manager or in one status if asked."""
    statuses = [s.value for s in CaseStatus]
    if status is not None and status not in statuses:
        raise AdminError(f"status must be one of {', '.join(statuses)}")
    with transaction(engine) as session:
        query = select(Case).order_by(col(Case.id))
        if manager is not None:
            query = query.where(col(Case.manager_id) == staff_by_name(session, manager).id)
        if status is not None:
            query = query.where(col(Case.status) == status)
        cases = list(session.execute(query).scalars())
        staff = {s.id: s for s in session.execute(select(Staff)).scalars()}
        channels: dict[int, set[str]] = {}
        for client_id, channel in session.execute(
            select(col(ChannelIdentity.client_id), col(ChannelIdentity.channel))
        ).all():
            channels.setdefault(int(client_id), set()).add(str(channel))
        flags: dict[int, int] = {
            int(case_id): int(count)
            for case_id, count in session.execute(
                select(col(Flag.case_id), func.count())
                .where(
                    col(Flag.case_id).is_not(None), col(Flag.status) != FlagStatus.RESOLVED.value
                )
                .group_by(col(Flag.case_id))
            ).all()
        }
        rows = []
        for case in cases:
            boss = staff.get(case.manager_id) if case.manager_id is not None else None
            rows.append(
                CaseRow(
                    case.ref,
                    case.status,
                    boss.name if boss else None,
                    bool(boss and boss.active),
                    tuple(sorted(channels.get(case.client_id, ()) if case.client_id else ())),
                    case.opened_at,
                    flags.get(case.id or 0, 0),
                )
            )
        _audit(session, actor, "cases_listed", count=len(rows), manager=manager, status=status)
        return rows


def reassign_case(engine: Engine, ref: str, manager: str, actor: str) -> tuple[str | None, int]:
    """Give a case a new (active) case manager; returns the old one's name and open flags."""
    with transaction(engine) as session:
        case = case_by_ref(session, ref)
        new = active_staff(session, manager)
        old = session.get(Staff, case.manager_id) if case.manager_id is not None else None
        if old is not None and old.id == new.id:
            raise AdminError(f"{case.ref} is already managed by {new.name}")
        case.manager_id = new.id
        _audit(
            session,
            actor,
            "case_reassigned",
            case.id,
            old_staff_id=old.id if old else None,
            new_staff_id=new.id,
        )
        open_flags = session.execute(
            select(func.count()).where(
                col(Flag.case_id) == case.id, col(Flag.status) != FlagStatus.RESOLVED.value
            )
        ).scalar_one()
        return (old.name if old else None), int(open_flags)


def _linked(session: Session, case: Case) -> bool:
    if case.client_id is None:
        return False
    found = session.execute(
        select(col(ChannelIdentity.id)).where(col(ChannelIdentity.client_id) == case.client_id)
    ).first()
    return found is not None


def _unlink(session: Session, case: Case, actor: str, now: datetime) -> int:
    """Unbind the client's accounts, keeping the client record and their answers.

    Messages still waiting to go to the old account are cancelled, and the case's unused
    client links stop working (a link left in an old chat must not bind a stranger).
    """
    if case.client_id is None:
        return 0
    removed = _rowcount(
        session.execute(
            delete(ChannelIdentity).where(col(ChannelIdentity.client_id) == case.client_id)
        )
    )
    if not removed:
        return 0
    cancelled = _rowcount(
        session.execute(
            update(Outbox)
            .where(col(Outbox.client_id) == case.client_id, col(Outbox.status) == "pending")
            .values(status="cancelled", error="client unlinked")
        )
    )
    revoked = _revoke_invites(
        session, now, col(Invite.kind) == "client", col(Invite.case_id) == case.id
    )
    _audit(
        session,
        actor,
        "client_unlinked",
        case.id,
        accounts=removed,
        messages_cancelled=cancelled,
        invites_revoked=revoked,
    )
    return removed


def unlink_client(engine: Engine, ref: str, actor: str, now: datetime | None = None) -> int:
    """Unbind a case's client from their account(s) so a new invite can link another."""
    now = now or datetime.now(UTC)
    with transaction(engine) as session:
        case = case_by_ref(session, ref)
        removed = _unlink(session, case, actor, now)
        if not removed:
            raise AdminError(f"{case.ref} is not linked to any account")
        return removed


@dataclass(frozen=True, slots=True)
class ClientInvite:
    """A new client invite, and how many accounts were unlinked first (``--relink``)."""

    ref: str
    token: str
    unlinked: int = 0


def client_invite(
    engine: Engine, ref: str, actor: str, *, relink: bool = False, now: datetime | None = None
) -> ClientInvite:
    """A new client invite token for a case that has not ended.

    Refused for an erased client or an exited or closed case, and for a client already
    linked unless ``relink`` (which unlinks the old account first).
    """
    from cm_bot.engine.staff import INVITE_TTL
    from cm_bot.storage.repository import SqlUnitOfWork

    now = now or datetime.now(UTC)
    with transaction(engine) as session:
        case = case_by_ref(session, ref)
        client = session.get(Client, case.client_id) if case.client_id is not None else None
        erased = session.execute(
            select(col(AuditLog.id)).where(
                col(AuditLog.case_id) == case.id, col(AuditLog.action) == "case_erased"
            )
        ).first()
        if erased or (client is not None and client.status == ClientStatus.ERASED.value):
            raise AdminError(f"{case.ref} was erased: no invite (open a new case for the person)")
        if case.status in (CaseStatus.EXITED.value, CaseStatus.CLOSED.value):
            raise AdminError(f"{case.ref} is {case.status}: no invite for a case that has ended")
        unlinked = 0
        if _linked(session, case):
            if not relink:
                raise AdminError(
                    f"{case.ref} is already linked to the client's account. To move it to a new "
                    f"account (the old one loses access): cm-bot case invite {case.ref} --relink"
                )
            unlinked = _unlink(session, case, actor, now)
        token = SqlUnitOfWork(session).create_invite(
            "client", case_id=case.id, staff_id=None, expires_at=now + INVITE_TTL
        )
        _audit(session, actor, "client_invite_created", case.id, relink=bool(unlinked))
        return ClientInvite(case.ref, token, unlinked)


def add_goal(
    store: SqlStore,
    ref: str,
    text: str,
    cadence: str,
    target_date: date | None,
    actor: str,
) -> int:
    """A goal in a case plan, added from the command line, with its first check-in planned.

    The bot's ``/goal`` path (``add_goal`` of the unit of work), recorded as ``actor``.
    """
    with store.unit() as uow:
        case_id = case_by_ref(uow.session, ref).id
        assert case_id is not None
        return uow.add_goal(case_id, text, cadence, target_date, None, actor=actor)


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
        _audit(session, actor, "flags_listed", case_id, count=len(rows), open_only=open_only)
        return rows


__all__ = [
    "ROLES",
    "AdminError",
    "CaseRow",
    "ClientInvite",
    "Deactivated",
    "FlagRow",
    "StaffRow",
    "activate_staff",
    "active_staff",
    "add_goal",
    "add_staff",
    "bound_staff_chats",
    "case_by_ref",
    "cli_actor",
    "client_invite",
    "deactivate_staff",
    "escalation_reachable",
    "has_any_case",
    "link_client",
    "list_cases",
    "list_flags",
    "list_staff",
    "new_case",
    "next_ref",
    "reassign_case",
    "set_staff_role",
    "staff_invite",
    "unlink_client",
]
