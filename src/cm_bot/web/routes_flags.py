"""``/flags``, the landing page: open flags, most severe then oldest first, and their actions.

Acknowledge, resolve (with a note) and assign go through the engine's
:class:`~cm_bot.engine.staff.StaffDesk` in one unit of work, as a button tap in Telegram
does: the flag's notices are edited (edit rows in the outbox, sent by the running bot)
and resolving an urgent flag ends the client's pause. Who may see or act on a flag is
:func:`cm_bot.engine.staff_access.sees_case`; a flag out of reach is the same 404 as one
that does not exist. The page read and every action are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from cm_bot.domain import FlagStatus
from cm_bot.domain.time import aware
from cm_bot.engine.ports import FlagView
from cm_bot.engine.staff_access import sees_case
from cm_bot.storage.console_sessions import colleagues
from cm_bot.storage.uow import SqlUnitOfWork
from cm_bot.web.auth import ConsoleUser, Staff, cm_app
from cm_bot.web.desk import staff_desk
from cm_bot.web.templating import render

router = APIRouter()

VIEWS = ("mine", "unassigned", "all")
SHOWN = 200  # flags on one page


@dataclass(frozen=True, slots=True)
class FlagRow:
    """One flag as the page shows it."""

    flag: FlagView
    age: timedelta
    manager: str | None  # the case manager's name (supervisors see whose case it is)


def age_text(age: timedelta, gettext: Any, ngettext: Any) -> str:
    """How long a flag has waited, in the reader's language ("3 h 20 min", "2 days")."""
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 60:
        return str(gettext("{minutes} min")).format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return str(gettext("{hours} h {minutes} min")).format(hours=hours, minutes=minutes)
    days = hours // 24
    return str(ngettext("{days} day", "{days} days", days)).format(days=days)


def _views(user: ConsoleUser) -> tuple[str, ...]:
    """Case managers see their caseload; supervisors and admins may look wider."""
    return VIEWS if user.sees_all else ("mine",)


def _flag_in_reach(
    uow: SqlUnitOfWork, user: ConsoleUser, flag_id: int, action: str
) -> FlagView | None:
    """The flag, if this staff member may see it; else ``None`` (and the refusal audited).

    The caller answers ``None`` with the one 404 *after* its unit of work commits, so the
    audit row of the refusal is kept.
    """
    flag = uow.flags.flag_view(flag_id)
    if flag is None or not sees_case(user, flag.manager_id):
        uow.audit.record(
            user.actor,
            "access_refused",
            None if flag is None else flag.case_id,
            command=action,
            channel="console",
        )
        return None
    return flag


def _back(view: str | None) -> RedirectResponse:
    target = f"/flags?view={view}" if view in VIEWS else "/flags"
    return RedirectResponse(target, status_code=303)


@router.get("/flags")
def flags_page(request: Request, user: Staff, view: str | None = None) -> Response:
    """Open flags in the chosen view, with their actions."""
    cm = cm_app(request)
    views = _views(user)
    if view not in views:
        view = "all" if user.sees_all else "mine"
    with cm.store.unit() as uow:
        now = uow.now
        found = uow.flags.open_flags(user.staff_view(), limit=10_000)
        if view == "mine":
            found = [f for f in found if f.manager_id == user.staff_id]
        elif view == "unassigned":
            found = [f for f in found if f.manager_id is None]
        shown = found[:SHOWN]
        people = colleagues(uow.session) if user.sees_all else []
        names = {staff_id: name for staff_id, name, _role in people}
        uow.audit.record(
            user.actor,
            "read_flags",
            None,
            channel="console",
            view=view,
            count=len(found),
            cases=sorted({f.case_id for f in shown if f.case_id is not None}),
            flags=[f.flag_id for f in shown],
        )
    rows = [
        FlagRow(
            f,
            now - aware(f.created_at),
            names.get(f.manager_id) if f.manager_id is not None else None,
        )
        for f in shown
    ]
    return render(
        request,
        "flags.html",
        {
            "rows": rows,
            "view": view,
            "views": views,
            "total": len(found),
            "colleagues": people,
            "age_text": age_text,
        },
        user=user,
    )


def _act(request: Request, user: ConsoleUser, flag_id: int, status: str, note: str = "") -> None:
    """Acknowledge or resolve as the Telegram buttons do: notices edited, a pause ended."""
    cm = cm_app(request)
    with cm.store.unit() as uow:
        flag = _flag_in_reach(uow, user, flag_id, status)
        if flag is None:
            refused = True
        else:
            refused = False
            _apply(request, uow, user, flag, status, note)
    if refused:
        raise HTTPException(status_code=404)


def _apply(
    request: Request,
    uow: SqlUnitOfWork,
    user: ConsoleUser,
    flag: FlagView,
    status: str,
    note: str,
) -> None:
    """The act itself, inside the caller's unit of work."""
    flag_id = flag.flag_id
    if note and flag.case_id is not None:
        uow.cases.add_note(flag.case_id, user.staff_id, note)
        uow.audit.record(user.actor, "note_added", flag.case_id, flag_id=flag_id, channel="console")
    if uow.flags.act_on_flag(flag_id, status, user.staff_id, uow.now):
        desk = staff_desk(request, uow)
        desk.refresh_notices(flag_id)
        if status == FlagStatus.RESOLVED:
            desk.end_pause(flag)


@router.post("/flags/{flag_id}/ack")
def acknowledge(
    request: Request, user: Staff, flag_id: int, view: Annotated[str | None, Form()] = None
) -> Response:
    """Acknowledge a flag (someone is on it)."""
    _act(request, user, flag_id, FlagStatus.ACKNOWLEDGED)
    return _back(view)


@router.post("/flags/{flag_id}/resolve")
def resolve(
    request: Request,
    user: Staff,
    flag_id: int,
    note: Annotated[str, Form(max_length=4000)] = "",
    view: Annotated[str | None, Form()] = None,
) -> Response:
    """Resolve a flag; the note, if any, is kept as a case note."""
    _act(request, user, flag_id, FlagStatus.RESOLVED, note.strip())
    return _back(view)


@router.post("/flags/{flag_id}/assign")
def assign(
    request: Request,
    user: Staff,
    flag_id: int,
    staff: Annotated[int, Form()],
    view: Annotated[str | None, Form()] = None,
) -> Response:
    """Give the flag's case to a colleague (supervisors and admins); they are told on Telegram."""
    cm = cm_app(request)
    refused: int | None = None
    with cm.store.unit() as uow:
        flag = _flag_in_reach(uow, user, flag_id, "assign")
        if flag is None:
            refused = 404
        elif not user.sees_all:
            uow.audit.record(user.actor, "access_refused", flag.case_id, command="assign")
            refused = 403
        else:
            refused = _assign(request, uow, user, flag, staff)
    if refused is not None:
        raise HTTPException(status_code=refused)
    return _back(view)


def _assign(
    request: Request, uow: SqlUnitOfWork, user: ConsoleUser, flag: FlagView, staff: int
) -> int | None:
    """Give the flag's case to ``staff``: ``None`` when done, else the HTTP status of refusal."""
    flag_id = flag.flag_id
    targets = uow.flags.assign_flag(flag_id, staff)
    if targets is None:
        return 404
    uow.audit.record(
        user.actor,
        "flag_assigned",
        flag.case_id,
        flag_id=flag_id,
        to_staff_id=staff,
        from_staff_id=flag.manager_id,
        channel="console",
    )
    if targets and flag.status != FlagStatus.RESOLVED:
        staff_desk(request, uow).notify(flag_id, targets, team=False)
    return None


__all__ = ["SHOWN", "VIEWS", "FlagRow", "age_text", "router"]
