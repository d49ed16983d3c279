"""Casework: staff and their settings, invitations, cases, goals and notes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlmodel import col

from cm_bot.domain import (
    CaseStatus,
    ClientStatus,
    ContactStatus,
    FlagStatus,
    GoalStatus,
    InviteResult,
    StaffRole,
)
from cm_bot.domain.events import CaseEvent, CaseExited, GoalAdded, RescreenChanged
from cm_bot.domain.time import aware
from cm_bot.engine.ports import CaseView, ClientView, InviteOutcome, StaffTarget, StaffView
from cm_bot.storage.models import (
    AuditLog,
    Case,
    CaseNote,
    ChannelIdentity,
    Client,
    ConsentRecord,
    Flag,
    Goal,
    HeldMessage,
    Invite,
    ProgramSetting,
    Response,
    ScheduledContact,
    ScoreResult,
    Staff,
)
from cm_bot.storage.repos.base import STAFF, Repo, Tx
from cm_bot.storage.repos.flags import SEVERITY_ORDER
from cm_bot.storage.rescreens import marked_series, plan_rows, set_plan

TEAM_CHAT = "team_chat_id"
HELD_SHOWN = 10  # messages held during a pause that /case shows (the export has them all)

_STAFF_FOR = (
    select(
        STAFF.c.id,
        STAFF.c.name,
        STAFF.c.role,
        STAFF.c.locale,
        STAFF.c.timezone,
    )
    .where(STAFF.c.telegram_user_id == bindparam("user"), STAFF.c.active.is_(True))
    .limit(1)
)

_STAFF_BY_ID = select(
    STAFF.c.id,
    STAFF.c.active,
    STAFF.c.telegram_user_id,
    STAFF.c.blocked_at,
    STAFF.c.locale,
    STAFF.c.timezone,
).where(STAFF.c.id == bindparam("staff_id"))


def token_hash(token: str) -> str:
    """How an invite token is stored: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


class SqlCases(Repo):
    """Implements :class:`cm_bot.engine.ports.CasesRepo`."""

    def __init__(self, tx: Tx, events: list[CaseEvent]) -> None:
        super().__init__(tx)
        # The unit of work's event list: a goal added or a case exited is recorded on it.
        self._events = events

    def staff_for(self, channel: str, external_user_id: str) -> StaffView | None:
        """Only Telegram accounts are bound to staff."""
        if channel != "telegram":
            return None
        key = (channel, external_user_id)
        self._fresh()
        if key not in self._tx.staff:
            row = self._sql(_STAFF_FOR, {"user": external_user_id}).first()
            self._tx.staff[key] = (
                None
                if row is None
                else StaffView(
                    row.id, row.name, row.role, external_user_id, row.locale, row.timezone
                )
            )
        return self._tx.staff[key]

    def staff_targets(self, client: ClientView) -> list[StaffTarget]:
        """The client's case manager, if bound to Telegram."""
        if client.manager_id is None:
            return []
        row = self._sql(_STAFF_BY_ID, {"staff_id": client.manager_id}).first()
        if (
            row is None
            or not row.active
            or row.telegram_user_id is None
            or row.blocked_at is not None
        ):
            return []
        return [StaffTarget(row.id, "telegram", row.telegram_user_id, row.locale, row.timezone)]

    def set_staff_timezone(self, staff_id: int, timezone: str | None) -> None:
        """Times this staff member reads are shown in ``timezone`` (``None``: UTC)."""
        self.session.execute(
            update(Staff).where(col(Staff.id) == staff_id).values(timezone=timezone)
        )
        self._tx.staff.clear()

    def escalation_targets(self) -> list[StaffTarget]:
        """Bound supervisors and admins."""
        rows = self.session.execute(
            select(Staff).where(
                col(Staff.role).in_((StaffRole.SUPERVISOR.value, StaffRole.ADMIN.value)),
                col(Staff.active).is_(True),
                col(Staff.telegram_user_id).is_not(None),
                col(Staff.blocked_at).is_(None),
            )
        ).scalars()
        return [
            StaffTarget(s.id, "telegram", str(s.telegram_user_id), s.locale, s.timezone)
            for s in rows
            if s.id is not None
        ]

    def set_staff_blocked(self, staff_id: int, blocked_at: datetime | None) -> None:
        """Telegram refused a message to them (``None``: they came back)."""
        self.session.execute(
            update(Staff).where(col(Staff.id) == staff_id).values(blocked_at=blocked_at)
        )

    def team_chat(self) -> str | None:
        """The registered team chat."""
        row = self.session.get(ProgramSetting, TEAM_CHAT)
        return None if row is None else row.value

    def set_team_chat(self, chat_id: str) -> None:
        """Register (or move) the team chat."""
        row = self.session.get(ProgramSetting, TEAM_CHAT)
        if row is None:
            self.session.add(ProgramSetting(key=TEAM_CHAT, value=chat_id, updated_at=self.now))
        else:
            row.value, row.updated_at = chat_id, self.now

    def create_invite(
        self, kind: str, *, case_id: int | None, staff_id: int | None, expires_at: datetime
    ) -> str:
        """A deep-link token: 22 URL-safe characters, fits Telegram's 64-character start payload."""
        token = secrets.token_urlsafe(16)
        self.session.add(
            Invite(
                token_sha256=token_hash(token),
                kind=kind,
                case_id=case_id,
                staff_id=staff_id,
                expires_at=expires_at,
                created_at=self.now,
            )
        )
        self.session.flush()
        return token

    def issue_console_link(self, staff_id: int, now: datetime) -> str:
        """A web console sign-in token (:mod:`cm_bot.storage.console_sessions`)."""
        from cm_bot.storage.console_sessions import issue_link

        return issue_link(self.session, staff_id, now)

    def redeem_invite(
        self,
        token: str,
        channel: str,
        external_user_id: str,
        chat_id: str,
        now: datetime,
        *,
        as_staff: bool = False,
    ) -> InviteOutcome:
        """Bind on first use to the Telegram user id; used, expired or foreign: bind nothing.

        ``as_staff``: the account is bound to staff, who never become a client (the invite
        stays unused for the client it was made for). An invite for a case that has ended
        (exited, closed, its client erased) binds nothing either.
        """
        invite: Invite | None = (
            self.session.execute(
                select(Invite)
                .where(col(Invite.token_sha256) == token_hash(token))
                .with_for_update()
            )
            .scalars()
            .first()
        )
        if invite is None:
            return InviteOutcome(InviteResult.UNKNOWN)
        if invite.used_at is not None:
            return InviteOutcome(InviteResult.USED)
        if aware(invite.expires_at) < now:
            return InviteOutcome(InviteResult.EXPIRED)
        if invite.kind == "staff":
            self._tx.staff.clear()
            staff = self.session.get(Staff, invite.staff_id) if invite.staff_id else None
            taken = (
                self.session.execute(
                    select(Staff).where(col(Staff.telegram_user_id) == external_user_id)
                )
                .scalars()
                .first()
            )
            if staff is None or (taken is not None and taken.id != staff.id):
                return InviteOutcome(InviteResult.ALREADY_BOUND)
            staff.telegram_user_id = external_user_id
            invite.used_at = now
            return InviteOutcome(InviteResult.BOUND_STAFF, staff_name=staff.name)
        case = self.session.get(Case, invite.case_id) if invite.case_id else None
        if as_staff:
            return InviteOutcome(InviteResult.STAFF_NOT_CLIENT, case_id=invite.case_id)
        if case is not None and self._ended(case):
            return InviteOutcome(InviteResult.CASE_ENDED, case_id=case.id)
        existing = (
            self.session.execute(
                select(ChannelIdentity).where(
                    col(ChannelIdentity.channel) == channel,
                    col(ChannelIdentity.external_user_id) == external_user_id,
                )
            )
            .scalars()
            .first()
        )
        if case is None or existing is not None:
            return InviteOutcome(InviteResult.ALREADY_BOUND)
        if case.client_id is None:
            client = Client(created_at=now)
            self.session.add(client)
            self.session.flush()
            case.client_id = client.id
        else:
            # The case's client already has an account: a forwarded link binds nothing more.
            bound = (
                self.session.execute(
                    select(ChannelIdentity).where(col(ChannelIdentity.client_id) == case.client_id)
                )
                .scalars()
                .first()
            )
            if bound is not None:
                return InviteOutcome(InviteResult.ALREADY_BOUND)
        assert case.client_id is not None
        self.session.add(
            ChannelIdentity(
                client_id=case.client_id,
                channel=channel,
                external_user_id=external_user_id,
                chat_id=chat_id,
                created_at=now,
            )
        )
        invite.used_at = now
        if case.status == CaseStatus.INTAKE:
            case.status = CaseStatus.ACTIVE
        self.session.flush()
        return InviteOutcome(InviteResult.BOUND_CLIENT, case_id=case.id)

    def _ended(self, case: Case) -> bool:
        """A case no client may be (re)linked to: exited, closed, or its client erased."""
        if case.status in (CaseStatus.EXITED.value, CaseStatus.CLOSED.value):
            return True
        client = self.session.get(Client, case.client_id) if case.client_id else None
        return client is not None and client.status == ClientStatus.ERASED.value

    # -- cases -----------------------------------------------------------------------

    def case_by_ref(self, ref: str) -> CaseView | None:
        """Case refs are matched case-insensitively (c-0001 is C-0001)."""
        case: Case | None = (
            self.session.execute(select(Case).where(col(Case.ref) == ref.strip().upper()))
            .scalars()
            .first()
        )
        if case is None or case.id is None:
            return None
        return CaseView(
            case.id, case.ref, case.status, case.manager_id, case.client_id, case.opened_at
        )

    def client_linked(self, client_id: int) -> bool:
        """Whether any channel account is bound to the client."""
        found = self.session.execute(
            select(col(ChannelIdentity.id))
            .where(col(ChannelIdentity.client_id) == client_id)
            .limit(1)
        ).first()
        return found is not None

    def case_summary(self, case_id: int) -> dict[str, Any]:
        """Everything ``/case`` shows, as plain values."""
        case = self.session.get(Case, case_id)
        assert case is not None
        consent: ConsentRecord | None = None
        client: Client | None = None
        if case.client_id is not None:
            client = self.session.get(Client, case.client_id)
            consent = (
                self.session.execute(
                    select(ConsentRecord)
                    .where(col(ConsentRecord.client_id) == case.client_id)
                    .order_by(col(ConsentRecord.id).desc())
                )
                .scalars()
                .first()
            )
        scores: dict[str, ScoreResult] = {}
        for row in self.session.execute(
            select(ScoreResult)
            .where(col(ScoreResult.case_id) == case_id)
            .order_by(col(ScoreResult.id))
        ).scalars():
            scores[row.score_id] = row  # the latest of each
        goals = []
        for goal in self.session.execute(
            select(Goal).where(col(Goal.case_id) == case_id).order_by(col(Goal.id))
        ).scalars():
            last = (
                self.session.execute(
                    select(Response)
                    .where(
                        col(Response.goal_id) == goal.id, col(Response.key) == "checkin.progress"
                    )
                    .order_by(col(Response.id).desc())
                )
                .scalars()
                .first()
            )
            goals.append(
                {
                    "id": goal.id,
                    "text": goal.text,
                    "cadence": goal.cadence,
                    "status": goal.status,
                    "next_step": goal.next_step,
                    "last_progress": last.value if last else None,
                    "last_checkin": last.answered_at if last else None,
                }
            )
        flags = (
            self.session.execute(
                select(Flag).where(
                    col(Flag.case_id) == case_id, col(Flag.status) != FlagStatus.RESOLVED
                )
            )
            .scalars()
            .all()
        )
        next_contact = (
            self.session.execute(
                select(ScheduledContact)
                .where(
                    col(ScheduledContact.case_id) == case_id,
                    col(ScheduledContact.status) == ContactStatus.PENDING.value,
                )
                .order_by(col(ScheduledContact.due_at))
            )
            .scalars()
            .first()
        )
        return {
            "ref": case.ref,
            "status": case.status,
            "client_status": client.status if client else None,
            # Safe-contact preferences (issue 18): the safe word only as set or not.
            "preferences": None
            if client is None
            else {
                "message_first": client.message_first,
                "contact_start": client.contact_start,
                "contact_end": client.contact_end,
                "safe_word": client.safe_word_hash is not None,
            },
            "opened_at": case.opened_at,
            "exited_at": case.exited_at,
            "followup_outcome": case.followup_outcome,
            "consent": None
            if consent is None
            else {
                "action": consent.action,
                "version": consent.version,
                "at": consent.recorded_at,
                "decisions": consent.decisions or {},
            },
            "scores": [
                {
                    "id": s.score_id,
                    "instrument": s.instrument,
                    "score": s.value,
                    "band": s.band,
                    "positive": (s.result or {}).get("positive"),
                    "positive_domains": (s.result or {}).get("positive_domains"),
                }
                for s in scores.values()
            ],
            "goals": goals,
            "open_flags": sorted(
                [
                    {
                        "id": f.id,
                        "severity": f.severity,
                        "reason": f.reason,
                        "reason_msgid": f.reason_msgid,
                        "reason_params": f.reason_params,
                        "status": f.status,
                    }
                    for f in flags
                ],
                key=lambda f: SEVERITY_ORDER.get(str(f["severity"]), 9),
            ),
            "next_contact": None
            if next_contact is None
            else {
                "flow": next_contact.flow_id,
                "due_at": next_contact.due_at,
            },
            # Repeat PHQ-9 / GAD-7 (issue 18): the plans and each series with its markers.
            "rescreens": plan_rows(self.session, case_id),
            "series": marked_series(self.session, case_id),
            # What the client wrote while the bot was paused for an urgent flag, newest last.
            "held": [
                {
                    "at": m.received_at,
                    "kind": m.kind,
                    "text": m.text,
                    "crisis": m.crisis,
                    "opened": m.opened,
                }
                for m in reversed(
                    self.session.execute(
                        select(HeldMessage)
                        .where(col(HeldMessage.case_id) == case_id)
                        .order_by(col(HeldMessage.id).desc())
                        .limit(HELD_SHOWN)
                    )
                    .scalars()
                    .all()
                )
            ],
            "held_total": int(
                self.session.execute(
                    select(func.count()).where(col(HeldMessage.case_id) == case_id)
                ).scalar_one()
            ),
        }

    def add_goal(
        self,
        case_id: int,
        text: str,
        cadence: str,
        target_date: Any,
        staff_id: int | None,
        *,
        actor: str | None = None,
    ) -> int:
        """A goal in the case plan, its first check-in planned with it.

        Audited as the staff member, or ``actor`` (the CLI's ``cli:<user>``).
        """
        goal = Goal(
            case_id=case_id,
            text=text,
            cadence=cadence,
            target_date=target_date if isinstance(target_date, date) else None,
            created_at=self.now,
        )
        self.session.add(goal)
        self.session.flush()
        assert goal.id is not None
        self.session.add(
            AuditLog(
                at=self.now,
                actor=actor or (f"staff:{staff_id}" if staff_id else "cli"),
                action="goal_added",
                case_id=case_id,
                detail={"goal_id": goal.id},
            )
        )
        self._events.append(GoalAdded(goal.id))  # its first check-in, planned before commit
        return goal.id

    def add_note(self, case_id: int, staff_id: int | None, text: str) -> None:
        """A case note."""
        self.session.add(
            CaseNote(case_id=case_id, staff_id=staff_id, text=text, created_at=self.now)
        )
        self.session.add(
            AuditLog(
                at=self.now,
                actor=f"staff:{staff_id}" if staff_id else "cli",
                action="note_added",
                case_id=case_id,
            )
        )

    def exit_case(self, case_id: int, exited_at: datetime) -> None:
        """Exited: follow-ups are planned (on :class:`CaseExited`) in the same transaction."""
        case = self.session.get(Case, case_id)
        assert case is not None
        case.status = CaseStatus.EXITED
        case.exited_at = exited_at
        self._events.append(CaseExited(case_id, exited_at.date()))

    def set_goal_status(self, case_id: int, goal_id: int, status: str, *, actor: str) -> bool:
        """A goal of this case marked active/met/changed/dropped, audited; False: no such goal.

        A goal that is not active gets no more check-ins: its pending ones are cancelled.
        """
        goal = self.session.get(Goal, goal_id)
        if goal is None or goal.case_id != case_id:
            return False
        before = goal.status
        goal.status = GoalStatus(status)
        if goal.status != GoalStatus.ACTIVE:
            self.session.execute(
                update(ScheduledContact)
                .where(
                    col(ScheduledContact.goal_id) == goal_id,
                    col(ScheduledContact.status) == ContactStatus.PENDING,
                )
                .values(status=ContactStatus.CANCELLED, outcome="goal_closed", updated_at=self.now)
            )
        self.session.add(
            AuditLog(
                at=self.now,
                actor=actor,
                action="goal_status",
                case_id=case_id,
                detail={"goal_id": goal_id, "from": before, "to": goal.status.value},
            )
        )
        return True

    def met_goals(self, case_id: int) -> list[str]:
        """The texts of the case's goals with status ``met``, oldest first."""
        rows = self.session.execute(
            select(col(Goal.text))
            .where(col(Goal.case_id) == case_id, col(Goal.status) == GoalStatus.MET.value)
            .order_by(col(Goal.id))
        )
        return [str(row[0]) for row in rows]

    def set_rescreen(
        self, case_id: int, instrument: str, every_days: int | None, *, actor: str
    ) -> bool:
        """A repeat PHQ-9 / GAD-7 set or stopped; re-planned on :class:`RescreenChanged`."""
        if not set_plan(self.session, case_id, instrument, every_days, actor, self.now):
            return False
        self.session.add(
            AuditLog(
                at=self.now,
                actor=actor,
                action="rescreen_set" if every_days is not None else "rescreen_stopped",
                case_id=case_id,
                detail={"instrument": instrument, "every_days": every_days},
            )
        )
        self._events.append(RescreenChanged(case_id, instrument))
        return True


__all__ = ["SqlCases", "token_hash"]
