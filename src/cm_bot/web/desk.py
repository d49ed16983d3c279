"""The staff desk of one console request: the bot's own, so an action here is one there.

Acknowledging, resolving, assigning and changing a referral go through
:class:`~cm_bot.engine.staff.StaffDesk` in the request's unit of work, exactly as a
button or command in Telegram does: the same rules, audit rows and notice edits.
"""

from __future__ import annotations

from fastapi import Request

from cm_bot.engine.staff import StaffDesk
from cm_bot.storage.repository import SqlUnitOfWork
from cm_bot.web.auth import cm_app


def staff_desk(request: Request, uow: SqlUnitOfWork) -> StaffDesk:
    """The desk over ``uow`` with the console's App (translator, flows, bot name, console URL)."""
    cm = cm_app(request)
    return StaffDesk(
        uow,
        cm.translator,
        [],
        bot_username=cm.engine.bot_username,
        flows=cm.flows,
        console_url=cm.settings.console_url,
        start_flow=cm.engine.start_flow,
    )


__all__ = ["staff_desk"]
