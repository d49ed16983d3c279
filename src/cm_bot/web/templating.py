"""Server-rendered pages: one Jinja2 environment over ``web/templates/``, autoescaped.

:func:`render` gives every template the reader's gettext (``_``, ``ngettext``), the
session's CSRF token (``csrf``, for the hidden form field of the same name), ``when(dt)``
(a time in the staff member's zone), ``flag_reason(reason, msgid, params)`` (a flag's reason
in the reader's language), the current ``path`` and the signed-in ``user``.
Client text is never marked safe: a ``<script>`` a client typed shows as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cm_bot.domain.time import aware
from cm_bot.engine.flag_reasons import flag_reason
from cm_bot.engine.notices import when as staff_when
from cm_bot.engine.zones import zone_of
from cm_bot.web.auth import CSRF_FIELD, ConsoleUser, cm_app

TEMPLATES = Path(__file__).resolve().parent / "templates"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def formatter(user: ConsoleUser | None) -> Callable[[datetime | None], str]:
    """``when(dt)``: an aware time in the reader's zone (UTC when unset), to the minute."""
    zone = zone_of(user.timezone if user else None)

    def when(moment: datetime | None) -> str:
        return staff_when(moment, zone)

    return when


def short_formatter(user: ConsoleUser | None) -> Callable[[datetime | None], str]:
    """``short(dt)``: like ``when`` without the zone's name, for tables and timelines.

    Pages that use it say the zone once (``time_zone``).
    """
    zone = zone_of(user.timezone if user else None)

    def short(moment: datetime | None) -> str:
        return "—" if moment is None else f"{aware(moment).astimezone(zone):%Y-%m-%d %H:%M}"

    return short


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    user: ConsoleUser | None = None,
    status_code: int = 200,
    locale: str | None = None,
) -> HTMLResponse:
    """The template ``name`` as an HTML response, in the reader's language and zone.

    ``locale``: the reader's language when nobody is signed in yet (a sign-in link's owner).
    """
    cm = cm_app(request)
    locale = cm.translator.locale_for(user.locale if user else locale)
    catalogue = cm.translator.get(locale)
    values: dict[str, Any] = {
        "_": catalogue.gettext,
        "gettext": catalogue.gettext,
        "ngettext": catalogue.ngettext,
        "locale": locale,
        "user": user,
        "csrf": user.csrf if user else "",
        "csrf_field": CSRF_FIELD,
        "when": formatter(user),
        "short": short_formatter(user),
        "time_zone": zone_of(user.timezone if user else None).key,
        "language": lambda code: cm.translator.language_name_in(code, locale) if code else "—",
        "flag_reason": lambda reason, msgid=None, params=None: flag_reason(
            reason, msgid, params, catalogue.gettext
        ),
        "path": request.url.path,
        "request": request,
    }
    values.update(context or {})
    html = environment.get_template(name).render(values)
    return HTMLResponse(html, status_code=status_code)


__all__ = ["TEMPLATES", "environment", "formatter", "render", "short_formatter"]
