"""Who may see which case: one rule for the bot's staff commands and the web console.

Supervisors and admins see every case (and flags with no case); a case manager sees
their own caseload only. Callers give a refused and an unknown reference the same
answer, so references cannot be probed.
"""

from __future__ import annotations

from typing import Protocol

from cm_bot.domain import StaffRole


class StaffLike(Protocol):
    """Anyone with a role and a staff id (StaffView, the console's ConsoleUser)."""

    @property
    def staff_id(self) -> int:
        """The staff member's id."""

    @property
    def role(self) -> str:
        """case_manager | supervisor | admin."""


SEES_ALL = frozenset({StaffRole.SUPERVISOR.value, StaffRole.ADMIN.value})


def sees_all(staff: StaffLike) -> bool:
    """Supervisors and admins see every case."""
    return staff.role in SEES_ALL


def sees_case(staff: StaffLike, manager_id: int | None) -> bool:
    """May ``staff`` see a case managed by ``manager_id`` (``None``: no case manager)?"""
    return sees_all(staff) or (manager_id is not None and manager_id == staff.staff_id)


__all__ = ["SEES_ALL", "StaffLike", "sees_all", "sees_case"]
