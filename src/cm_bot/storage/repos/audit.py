"""The audit trail: who did what to which case, never message text."""

from __future__ import annotations

from typing import Any

from cm_bot.storage.models import AuditLog
from cm_bot.storage.repos.base import Repo


class SqlAudit(Repo):
    """Implements :class:`cm_bot.engine.ports.AuditRepo`."""

    def record(self, actor: str, action: str, case_id: int | None = None, **detail: Any) -> None:
        """Append an audit row."""
        self.session.add(
            AuditLog(
                at=self.now, actor=actor, action=action, case_id=case_id, detail=detail or None
            )
        )


__all__ = ["SqlAudit"]
