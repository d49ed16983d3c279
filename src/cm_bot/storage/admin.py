"""Staff-side writes and listings: staff, cases, clients, flags. Used by the CLI and the demo.

This module gathers them under one name; each job lives in its own module:
:mod:`~cm_bot.storage.admin_common` (``AdminError``, lookups, ``cli_actor``, the audit row),
:mod:`~cm_bot.storage.staff_admin` (staff lifecycle), :mod:`~cm_bot.storage.case_admin`
(cases, client links and invites, goals) and :mod:`~cm_bot.storage.flag_list`
(``cm-bot flags list``). What the command line does is audited as ``cli:<login name>``.
"""

from __future__ import annotations

from cm_bot.storage.admin_common import (
    ROLES,
    AdminError,
    active_staff,
    case_by_ref,
    cli_actor,
    staff_by_name,
)
from cm_bot.storage.case_admin import (
    CaseRow,
    ClientInvite,
    add_goal,
    client_invite,
    has_any_case,
    link_client,
    list_cases,
    new_case,
    next_ref,
    reassign_case,
    unlink_client,
)
from cm_bot.storage.flag_list import FlagRow, list_flags
from cm_bot.storage.staff_admin import (
    Deactivated,
    StaffRow,
    activate_staff,
    add_staff,
    bound_staff_chats,
    deactivate_staff,
    escalation_reachable,
    list_staff,
    set_staff_role,
    staff_invite,
)

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
    "staff_by_name",
    "staff_invite",
    "unlink_client",
]
