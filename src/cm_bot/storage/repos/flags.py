"""Flags: raised once by their dedupe key, acted on by staff, escalated; the safety pause."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, or_, select, update
from sqlmodel import col

from cm_bot.domain import FlagStatus, Severity
from cm_bot.engine.flag_reasons import english, flag_reason
from cm_bot.engine.ports import (
    ClientView,
    FlagView,
    NoticeRef,
    ScoreView,
    StaffTarget,
    StaffView,
)
from cm_bot.storage.models import (
    AuditLog,
    Case,
    Flag,
    HeldMessage,
    Outbox,
    Response,
    ScoreResult,
    Staff,
)
from cm_bot.storage.repos.base import FLAG, Repo, per_dialect

SEVERITY_ORDER: dict[str, int] = {s.value: s.rank for s in Severity}

_RAISE_FLAG = per_dialect(FLAG, ["dedupe_key"], FLAG.c.id)
_OPEN_FLAG_EXISTS = select(
    exists().where(
        FLAG.c.client_id == bindparam("client_id"),
        FLAG.c.rule_id == bindparam("rule_id"),
        FLAG.c.status != FlagStatus.RESOLVED,
    )
)


class SqlFlags(Repo):
    """Implements :class:`cm_bot.engine.ports.FlagsRepo`."""

    def raise_flag(
        self,
        client: ClientView | None,
        *,
        severity: Severity,
        reason: str,
        rule_id: str,
        dedupe_key: str,
        source_key: str | None = None,
        source_value: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Insert the flag unless its dedupe key exists.

        The reason is stored formatted in English; with ``params`` also its msgid and the
        values, so readers can show it in their own language (migration 0019).
        """
        row = self._sql(
            _RAISE_FLAG[self._tx.dialect],
            {
                "case_id": client.case_id if client else None,
                "client_id": client.client_id if client else None,
                "severity": severity.value,
                "reason": flag_reason(reason, reason, params, english),
                "reason_msgid": reason if params is not None else None,
                "reason_params": dict(params) if params is not None else None,
                "rule_id": rule_id,
                "dedupe_key": dedupe_key,
                "source_key": source_key,
                "source_value": source_value,
                "status": FlagStatus.OPEN,
                "created_at": self.now,
            },
        ).first()
        return None if row is None else int(row[0])

    def open_flag_exists(self, client_id: int, rule_id: str) -> bool:
        """Whether an unresolved flag of this rule exists for the client."""
        return bool(
            self._sql(_OPEN_FLAG_EXISTS, {"client_id": client_id, "rule_id": rule_id}).scalar()
        )

    def _flag_view(self, flag: Flag) -> FlagView:
        case = self.session.get(Case, flag.case_id) if flag.case_id else None
        actor_id = flag.resolved_by or flag.acknowledged_by
        actor = self.session.get(Staff, actor_id) if actor_id else None
        assert flag.id is not None
        held, held_crisis = (0, 0)
        if flag.severity == Severity.URGENT and flag.client_id is not None:
            row = self.session.execute(
                select(func.count(), func.count().filter(col(HeldMessage.crisis).is_(True))).where(
                    col(HeldMessage.flag_id) == flag.id, col(HeldMessage.opened).is_(False)
                )
            ).one()
            held, held_crisis = int(row[0]), int(row[1])
        run_id = run_of(flag.dedupe_key)
        question: str | None = None
        answer_locale: str | None = None
        scores: tuple[ScoreView, ...] = ()
        if run_id is not None:
            if flag.source_key:
                shown = self.session.execute(
                    select(col(Response.question), col(Response.locale))
                    .where(col(Response.run_id) == run_id, col(Response.key) == flag.source_key)
                    .order_by(col(Response.id).desc())
                    .limit(1)
                ).first()
                if shown is not None:
                    question, answer_locale = shown[0], shown[1]
            scores = tuple(
                ScoreView(
                    s.score_id,
                    s.instrument,
                    s.value,
                    s.band,
                    tuple((s.result or {}).get("positive_domains") or ()),
                )
                for s in self.session.execute(
                    select(ScoreResult)
                    .where(col(ScoreResult.run_id) == run_id)
                    .order_by(col(ScoreResult.id))
                ).scalars()
            )
        return FlagView(
            flag_id=flag.id,
            case_id=flag.case_id,
            case_ref=case.ref if case else None,
            manager_id=case.manager_id if case else None,
            severity=flag.severity,
            reason=flag.reason,
            reason_msgid=flag.reason_msgid,
            reason_params=flag.reason_params,
            source_key=flag.source_key,
            source_value=flag.source_value,
            status=flag.status,
            created_at=flag.created_at,
            acted_by=actor.name if actor else None,
            acted_at=flag.resolved_at or flag.acknowledged_at,
            client_id=flag.client_id,
            held=held,
            held_crisis=held_crisis,
            rule_id=flag.rule_id,
            run_id=run_id,
            question=question,
            answer_locale=answer_locale,
            scores=scores,
        )

    def flag_view(self, flag_id: int) -> FlagView | None:
        """One flag."""
        flag = self.session.get(Flag, flag_id)
        return None if flag is None else self._flag_view(flag)

    def open_flags(self, staff: StaffView, limit: int) -> list[FlagView]:
        """Unresolved flags on the staff member's caseload (all, for supervisors)."""
        # Outer join: an unlinked person's crisis flag has no case, and supervisors see it.
        query = (
            select(Flag)
            .outerjoin(Case, col(Case.id) == col(Flag.case_id))
            .where(col(Flag.status) != FlagStatus.RESOLVED)
        )
        if not staff.sees_all:
            query = query.where(col(Case.manager_id) == staff.staff_id)
        flags = list(self.session.execute(query).scalars())
        flags.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.created_at))
        return [self._flag_view(f) for f in flags[:limit]]

    def act_on_flag(self, flag_id: int, status: str, staff_id: int, now: datetime) -> bool:
        """Acknowledge or resolve, recording who and when."""
        flag = self.session.get(Flag, flag_id, with_for_update=True)
        if flag is None or flag.status == FlagStatus.RESOLVED or flag.status == status:
            return False
        if status == FlagStatus.ACKNOWLEDGED:
            flag.status, flag.acknowledged_by, flag.acknowledged_at = status, staff_id, now
        else:
            flag.status, flag.resolved_by, flag.resolved_at = status, staff_id, now
            if flag.acknowledged_at is None:
                flag.acknowledged_by, flag.acknowledged_at = staff_id, now
        self.session.add(
            AuditLog(
                at=self.now,
                actor=f"staff:{staff_id}",
                action=f"flag_{status}",
                case_id=flag.case_id,
                detail={"flag_id": flag_id},
            )
        )
        return True

    def notices_of(self, flag_id: int) -> list[NoticeRef]:
        """The original notices (not edits) about a flag, with their reader's language and zone."""
        rows = self.session.execute(
            select(
                col(Outbox.id),
                col(Outbox.channel),
                col(Outbox.chat_id),
                col(Outbox.staff_id),
                col(Staff.locale),
                col(Staff.timezone),
            )
            .outerjoin(Staff, col(Staff.id) == col(Outbox.staff_id))
            .where(
                col(Outbox.flag_id) == flag_id,
                col(Outbox.edit_of).is_(None),
                # A deactivated staff member's chat hears nothing more about the case.
                or_(col(Outbox.staff_id).is_(None), col(Staff.active).is_(True)),
            )
            .order_by(col(Outbox.id))
        ).all()
        return [NoticeRef(*row) for row in rows if row[0] is not None]

    def due_escalations(self, severity: str, older_than: datetime) -> list[FlagView]:
        """Unacknowledged, not yet escalated flags raised before ``older_than``."""
        rows = self.session.execute(
            select(Flag)
            .where(
                col(Flag.severity) == severity,
                col(Flag.status) == FlagStatus.OPEN,
                col(Flag.escalated_at).is_(None),
                col(Flag.created_at) <= older_than,
            )
            .with_for_update(skip_locked=True)
        ).scalars()
        return [self._flag_view(f) for f in rows]

    def mark_escalated(self, flag_id: int, now: datetime) -> None:
        """Escalated once; never again."""
        self.session.execute(update(Flag).where(col(Flag.id) == flag_id).values(escalated_at=now))

    def assign_flag(self, flag_id: int, staff_id: int) -> list[StaffTarget] | None:
        """Give a flag's case to another active staff member (the console's "Assign").

        ``None``: no such flag, it has no case, or that member is not active. Otherwise
        where the new case manager hears of it: their Telegram chat, if reachable.
        """
        flag = self.session.get(Flag, flag_id)
        staff = self.session.get(Staff, staff_id)
        case = (
            self.session.get(Case, flag.case_id, with_for_update=True)
            if flag is not None and flag.case_id is not None
            else None
        )
        if case is None or staff is None or not staff.active or staff.id is None:
            return None
        case.manager_id = staff.id
        self.session.flush()
        if staff.telegram_user_id is None or staff.blocked_at is not None:
            return []
        return [
            StaffTarget(staff.id, "telegram", staff.telegram_user_id, staff.locale, staff.timezone)
        ]

    # -- the safety pause -----------------------------------------------------------------

    def open_urgent_flag(self, client_id: int) -> int | None:
        """The client's newest unresolved urgent flag: while there is one, the bot is paused."""
        found = self.session.execute(
            select(func.max(col(Flag.id))).where(
                col(Flag.client_id) == client_id,
                col(Flag.severity) == Severity.URGENT,
                col(Flag.status) != FlagStatus.RESOLVED,
            )
        ).scalar()
        return None if found is None else int(found)

    def hold_message(
        self,
        client_id: int,
        case_id: int | None,
        flag_id: int,
        *,
        inbound_id: int | None,
        kind: str,
        text: str | None,
        crisis: bool,
        replied: bool,
        received_at: datetime,
        opened: bool = False,
    ) -> None:
        """Keep a message sent while paused, for the case manager."""
        self.session.add(
            HeldMessage(
                client_id=client_id,
                case_id=case_id,
                flag_id=flag_id,
                inbound_id=inbound_id,
                kind=kind,
                text=text,
                crisis=crisis,
                replied=replied,
                opened=opened,
                received_at=received_at,
            )
        )

    def replied_while_paused(self, client_id: int, since: datetime) -> bool:
        """Whether the bot answered a held message of this client since a time."""
        return (
            self.session.execute(
                select(col(HeldMessage.id))
                .where(
                    col(HeldMessage.client_id) == client_id,
                    col(HeldMessage.replied).is_(True),
                    col(HeldMessage.received_at) >= since,
                )
                .limit(1)
            ).first()
            is not None
        )


def run_of(dedupe_key: str | None) -> int | None:
    """The run a flow rule's flag came from: its dedupe key is ``run:<run id>:<rule id>``."""
    kind, _sep, rest = (dedupe_key or "").partition(":")
    run_id = rest.partition(":")[0]
    return int(run_id) if kind == "run" and run_id.isdigit() else None


__all__ = ["SEVERITY_ORDER", "SqlFlags", "run_of"]
