"""What a dispatch pass did: one counter type shared by the pass, settling and upkeep."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(slots=True)
class DispatchReport:
    """What one pass (or batch) did; the counts are for logs, tests and ``run-due``."""

    claimed: int = 0
    sent: int = 0
    reminded: int = 0
    deferred: int = 0
    closed: int = 0
    cancelled: int = 0
    failed: int = 0
    settled: int = 0
    planned: int = 0
    retimed: int = 0
    unknown: int = 0
    staff_task: int = 0  # not safe to message first: a task for the case manager instead

    def add(self, other: DispatchReport) -> None:
        """Add another report's counts to this one."""
        for name in (f.name for f in dataclasses.fields(self)):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def count(self, action: str) -> None:
        """Count one contact's action (``sent``, ``deferred`` ...)."""
        setattr(self, action, getattr(self, action) + 1)

    def __str__(self) -> str:
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in dataclasses.fields(self))


__all__ = ["DispatchReport"]
