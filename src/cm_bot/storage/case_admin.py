"""Cases from the command line: open, link, list, reassign, unlink, invite the client, add a goal.

Every act and every read is audited (as ``cli:<login name>`` from the CLI).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, func, select, update
from sqlmodel import Session, col

from cm_bot.domain import CaseStatus, ClientStatus, FlagStatus, OutboxStatus
from cm_bot.domain.time import SYSTEM_CLOCK
from cm_bot.storage.admin_common import (
    AdminError,
    active_staff,
    case_by_ref,
    record_audit,
    revoke_invites,
    rowcount,
    staff_by_name,
)
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    Case,
    ChannelIdentity,
    Client,
    Flag,
    Goal,
    Invite,
    Outbox,
    Staff,
)

if TYPE_CHECKING:
    from cm_bot.storage.repository import SqlStore

_REF = re.compile(r"^C-\d{4,}$")


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


def has_any_case(engine: Engine) -> bool:
    """Whether the database holds any case yet (a fresh install gets a demo case)."""
    with transaction(engine) as session:
        return bool(session.execute(select(func.count()).select_from(Case)).scalar_one())


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
        record_audit(
            session, actor, "cases_listed", count=len(rows), manager=manager, status=status
        )
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
        record_audit(
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
    removed = rowcount(
        session.execute(
            delete(ChannelIdentity).where(col(ChannelIdentity.client_id) == case.client_id)
        )
    )
    if not removed:
        return 0
    cancelled = rowcount(
        session.execute(
            update(Outbox)
            .where(
                col(Outbox.client_id) == case.client_id, col(Outbox.status) == OutboxStatus.PENDING
            )
            .values(status=OutboxStatus.CANCELLED, error="client unlinked")
        )
    )
    revoked = revoke_invites(
        session, now, col(Invite.kind) == "client", col(Invite.case_id) == case.id
    )
    record_audit(
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
    now = now or SYSTEM_CLOCK.now()
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

    now = now or SYSTEM_CLOCK.now()
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
        token = SqlUnitOfWork(session, now=now).cases.create_invite(
            "client", case_id=case.id, staff_id=None, expires_at=now + INVITE_TTL
        )
        record_audit(session, actor, "client_invite_created", case.id, relink=bool(unlinked))
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
        return uow.cases.add_goal(case_id, text, cadence, target_date, None, actor=actor)


def set_goal_status(store: SqlStore, goal_id: int, status: str, actor: str) -> bool:
    """A goal marked active/met/changed/dropped from the command line (audited as ``actor``).

    A goal that is not active gets no more check-ins. False: there is no such goal.
    """
    with store.unit() as uow:
        goal = uow.session.get(Goal, goal_id)
        if goal is None:
            return False
        return uow.cases.set_goal_status(goal.case_id, goal_id, status, actor=actor)


__all__ = [
    "CaseRow",
    "ClientInvite",
    "add_goal",
    "client_invite",
    "has_any_case",
    "link_client",
    "list_cases",
    "new_case",
    "next_ref",
    "reassign_case",
    "set_goal_status",
    "unlink_client",
]
