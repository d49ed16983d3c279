"""Sign-in through the bot, no passwords: single-use links, server-side sessions, CSRF.

A staff member sends ``/console`` to the bot (or an admin runs ``cm-bot console link
NAME``) and opens the link it gives. ``GET /login/{token}`` only asks them to continue:
a link preview or a scanner that fetches the link must not spend it. Their press of the
button, ``POST /login/{token}`` from this same site, starts a session and sets its cookie
(HttpOnly, SameSite=Strict, Secure when the console's URL is https); the redirect that
follows is same-site, so the Strict cookie goes with it. Every
page depends on :func:`current_staff`; every POST must carry the session's CSRF token in
the form field ``csrf`` (else 403). Sign-in, sign-out and refused links are audited.

The rows and their rules (10-minute links, 30-minute idle and 12-hour absolute
sessions) are in :mod:`cm_bot.storage.console_sessions`; this module is the HTTP side.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cm_bot.engine.ports import StaffView
from cm_bot.engine.staff_access import sees_all
from cm_bot.storage.console_sessions import (
    end_session,
    issue_link,
    link_holder,
    revoke_sessions,
    session_for,
)
from cm_bot.storage.console_sessions import open_link as _open_link

if TYPE_CHECKING:
    from cm_bot.bootstrap import App

COOKIE = "cm_console"
CSRF_FIELD = "csrf"  # the form field every POST carries

router = APIRouter()


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The signed-in staff member of one request."""

    staff_id: int
    name: str
    role: str  # case_manager | supervisor | admin
    sees_all: bool  # supervisors and admins: every case (cm_bot.engine.staff_access)
    locale: str | None
    timezone: str | None  # IANA name times are shown in; None: UTC
    csrf: str  # this session's CSRF token, for the forms' hidden ``csrf`` field
    chat_id: str = ""  # their Telegram chat, if bound (the desk's StaffView needs one)

    @property
    def actor(self) -> str:
        """How the audit log names them: ``staff:<id>``, as in Telegram."""
        return f"staff:{self.staff_id}"

    def staff_view(self) -> StaffView:
        """The engine's view of this staff member (for StaffDesk and the flag queries)."""
        return StaffView(
            self.staff_id, self.name, self.role, self.chat_id, self.locale, self.timezone
        )


class SignInRequired(Exception):
    """No live session: an HTML page answers with a 303 to ``/signin`` (see ``create_app``)."""


def cm_app(request: Request) -> App:
    """The bootstrap App the console was built on (``fastapi_app.state.cm``)."""
    cm: App = request.app.state.cm
    return cm


def signed_in(request: Request) -> ConsoleUser | None:
    """The staff member of the request's live session, or ``None`` (no CSRF check here).

    For pages anyone may see (an error page shows the navigation to someone signed in).
    """
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    cm = cm_app(request)
    with cm.store.unit() as uow:
        found = session_for(uow.session, token, uow.now)
    if found is None:
        return None
    return ConsoleUser(
        staff_id=found.staff_id,
        name=found.name,
        role=found.role,
        sees_all=sees_all(found),
        locale=found.locale,
        timezone=found.timezone,
        csrf=found.csrf,
        chat_id=found.telegram_user_id or "",
    )


async def current_staff(request: Request) -> ConsoleUser:
    """The signed-in staff member; for a POST, only with the session's CSRF token.

    Without a live session (none, expired, signed out, deactivated) raises
    :class:`SignInRequired`, which the app turns into a 303 to ``/signin``. A POST whose
    form field ``csrf`` is missing or wrong is refused with 403 and audited.
    """
    user = await run_in_threadpool(signed_in, request)  # the database, off the event loop
    if user is None:
        raise SignInRequired
    if request.method == "POST":
        form = await request.form()
        sent = form.get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, user.csrf):
            await run_in_threadpool(_csrf_refused, request, user)
            raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    return user


def _csrf_refused(request: Request, user: ConsoleUser) -> None:
    with cm_app(request).store.unit() as uow:
        uow.audit.record(user.actor, "console_csrf_refused", None, path=request.url.path)


Staff = Annotated[ConsoleUser, Depends(current_staff)]


def open_link(cm: App, token: str) -> str | None:
    """Open a sign-in link once: the new session's token, or ``None`` (audited either way)."""
    with cm.store.unit() as uow:
        opened = _open_link(uow.session, token, uow.now)
        actor = "console" if opened.staff_id is None else f"staff:{opened.staff_id}"
        if opened.session_token is None:
            uow.audit.record(actor, "console_link_refused", None, reason=opened.refused)
        else:
            uow.audit.record(actor, "console_signed_in", None)
        return opened.session_token


def secure_cookie(request: Request) -> bool:
    """The cookie is Secure when the console's public URL is https."""
    base: str | None = request.app.state.base_url
    return bool(base and base.lower().startswith("https://"))


@router.get("/signin", response_class=HTMLResponse)
def signin(request: Request, refused: int = 0) -> Response:
    """How to sign in: send /console to the bot and open the link it gives."""
    from cm_bot.web.templating import render

    return render(request, "signin.html", {"refused": bool(refused)})


@router.get("/login/{token}", response_class=HTMLResponse)
def login_page(request: Request, token: str) -> Response:
    """A live link: a page with one button to continue (nothing is spent yet)."""
    from cm_bot.web.templating import render

    cm = cm_app(request)
    with cm.store.unit() as uow:
        holder = link_holder(uow.session, token, uow.now)
    if holder is None:
        return RedirectResponse("/signin?refused=1", status_code=303)
    return render(
        request, "login.html", {"token": token, "name": holder.name}, locale=holder.locale
    )


def _same_site(request: Request) -> bool:
    """The form was posted from this console (not a page elsewhere signing someone in).

    Browsers say where a request comes from in ``Sec-Fetch-Site``; with our
    ``Referrer-Policy: no-referrer`` their ``Origin`` on a form post is ``null``, so it
    only counts when it names a site.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")  # "none": typed or opened by the user
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True  # an older client that says neither
    allowed = {f"{request.url.scheme}://{request.url.netloc}"}
    base: str | None = request.app.state.base_url  # behind a proxy, the public origin
    if base:
        public = urlsplit(base)
        allowed.add(f"{public.scheme}://{public.netloc}")
    return origin.rstrip("/") in allowed


@router.post("/login/{token}")
def login(request: Request, token: str) -> Response:
    """Spend a sign-in link: a session cookie and on to ``/flags``; a spent link does nothing."""
    if not _same_site(request):
        raise HTTPException(status_code=403, detail="sign-in from another site")
    session_token = open_link(cm_app(request), token)
    if session_token is None:
        return RedirectResponse("/signin?refused=1", status_code=303)
    response = RedirectResponse("/flags", status_code=303)
    response.set_cookie(
        COOKIE,
        session_token,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, user: Staff) -> Response:
    """Sign out: the session row is revoked and the cookie dropped."""
    cm = cm_app(request)
    with cm.store.unit() as uow:
        end_session(uow.session, request.cookies.get(COOKIE, ""), uow.now)
        uow.audit.record(user.actor, "console_signed_out", None)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


__all__ = [
    "COOKIE",
    "CSRF_FIELD",
    "ConsoleUser",
    "SignInRequired",
    "Staff",
    "cm_app",
    "current_staff",
    "issue_link",
    "open_link",
    "revoke_sessions",
    "router",
    "signed_in",
]
