"""The staff side of a unit of work: identities by invitation, cases, flags, notes, goals."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime
from typing import Any, TypeAlias

from sqlalchemy import CursorResult, Executable, bindparam, func, or_, select, update
from sqlmodel import Session, col

from cm_bot.domain import CaseStatus, ClientStatus
from cm_bot.domain.time import aware
from cm_bot.engine.ports import (
    CaseView,
    FlagView,
    InviteOutcome,
    NoticeRef,
    ScoreView,
    StaffTarget,
    StaffView,
)
from cm_bot.storage.models import (
    AuditLog,
    Case,
    CaseNote,
    ChannelIdentity,
    Client,
    ConsentRecord,
    Flag,
    FlowRun,
    Goal,
    HeldMessage,
    Invite,
    Outbox,
    ProgramSetting,
    PromptToken,
    Response,
    ScheduledContact,
    ScoreResult,
    Staff,
)

Rows: TypeAlias = CursorResult[*tuple[Any, ...]]
SEVERITY_ORDER = {"urgent": 0, "high": 1, "routine": 2}
TEAM_CHAT = "team_chat_id"
HELD_SHOWN = 10  # messages held during a pause that /case shows (the export has them all)
_STAFF_TABLE = Staff.metadata.tables["staff"]
_STAFF_FOR = (
    select(
        _STAFF_TABLE.c.id,
        _STAFF_TABLE.c.name,
        _STAFF_TABLE.c.role,
        _STAFF_TABLE.c.locale,
        _STAFF_TABLE.c.timezone,
    )
    .where(_STAFF_TABLE.c.telegram_user_id == bindparam("user"), _STAFF_TABLE.c.active.is_(True))
    .limit(1)
)


def token_hash(token: str) -> str:
    """How an invite token is stored: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def run_of(dedupe_key: str | None) -> int | None:
    """The run a flow rule's flag came from: its dedupe key is ``run:<run id>:<rule id>``."""
    kind, _sep, rest = (dedupe_key or "").partition(":")
    run_id = rest.partition(":")[0]
    return int(run_id) if kind == "run" and run_id.isdigit() else None


class CaseworkMixin:
    """Staff-side reads and writes, mixed into :class:`~cm_bot.storage.repository.SqlUnitOfWork`.

    Also the plumbing both halves share: prebuilt Core statements run on the session's
    connection, after the session's pending ORM changes.
    """

    on_exit: Any = None
    on_goal: Any = None

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now  # the transaction's moment (see UnitOfWork.now)
        # Who is staff, read once per transaction (a staff invite redeemed here drops it).
        self._staff: dict[tuple[str, str], StaffView | None] = {}
        self._scope: object = None  # the (sub)transaction the remembered reads were made in

    def _fresh(self) -> None:
        """Forget remembered reads once the savepoint they were made in has ended.

        The scheduler runs several contacts in one transaction, a savepoint each: what
        one of them read must not outlive its savepoint being rolled back.
        """
        scope = self.session.get_nested_transaction() or self.session.get_transaction()
        if scope is not self._scope:
            self._scope = scope
            self._forget()

    def _forget(self) -> None:
        self._staff.clear()

    def _sql(self, statement: Executable, params: Any = None) -> Rows:
        """Run a statement built once, on this transaction's connection.

        The session's pending ORM changes go first (as the ORM's autoflush would do). The
        connection is asked of the session each time: inside ``begin_nested`` that is what
        makes the session emit its SAVEPOINT.
        """
        self.session.flush()
        return self.session.connection().execute(statement, params)

    def _change(self, statement: Executable, params: Any, model: type[Any]) -> Rows:
        """An UPDATE or DELETE: ORM objects of ``model`` loaded earlier are read again after."""
        result = self._sql(statement, params)
        identity_map = self.session.identity_map
        if len(identity_map):  # the staff side and the scheduler hold ORM objects
            for instance in list(identity_map.values()):
                if isinstance(instance, model):
                    self.session.expire(instance)
        return result

    # -- identities ------------------------------------------------------------------

    def staff_for(self, channel: str, external_user_id: str) -> StaffView | None:
        """Only Telegram accounts are bound to staff."""
        if channel != "telegram":
            return None
        key = (channel, external_user_id)
        self._fresh()
        if key not in self._staff:
            row = self._sql(_STAFF_FOR, {"user": external_user_id}).first()
            self._staff[key] = (
                None
                if row is None
                else StaffView(
                    row.id, row.name, row.role, external_user_id, row.locale, row.timezone
                )
            )
        return self._staff[key]

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
            return InviteOutcome("unknown")
        if invite.used_at is not None:
            return InviteOutcome("used")
        if aware(invite.expires_at) < now:
            return InviteOutcome("expired")
        if invite.kind == "staff":
            self._staff.clear()
            staff = self.session.get(Staff, invite.staff_id) if invite.staff_id else None
            taken = (
                self.session.execute(
                    select(Staff).where(col(Staff.telegram_user_id) == external_user_id)
                )
                .scalars()
                .first()
            )
            if staff is None or (taken is not None and taken.id != staff.id):
                return InviteOutcome("already_bound")
            staff.telegram_user_id = external_user_id
            invite.used_at = now
            return InviteOutcome("bound_staff", staff_name=staff.name)
        case = self.session.get(Case, invite.case_id) if invite.case_id else None
        if as_staff:
            return InviteOutcome("staff_not_client", case_id=invite.case_id)
        if case is not None and self._ended(case):
            return InviteOutcome("case_ended", case_id=case.id)
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
            return InviteOutcome("already_bound")
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
                return InviteOutcome("already_bound")
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
        if case.status == "intake":
            case.status = "active"
        self.session.flush()
        return InviteOutcome("bound_client", case_id=case.id)

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
                    "last_progress": last.value if last else None,
                    "last_checkin": last.answered_at if last else None,
                }
            )
        flags = (
            self.session.execute(
                select(Flag).where(col(Flag.case_id) == case_id, col(Flag.status) != "resolved")
            )
            .scalars()
            .all()
        )
        next_contact = (
            self.session.execute(
                select(ScheduledContact)
                .where(
                    col(ScheduledContact.case_id) == case_id,
                    col(ScheduledContact.status) == "pending",
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
                    {"id": f.id, "severity": f.severity, "reason": f.reason, "status": f.status}
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
        if self.on_goal is not None:  # its first check-in, planned with it
            self.on_goal(self, goal.id, self.now)
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
        """Exited: follow-ups are planned by the scheduling layer in the same transaction."""
        case = self.session.get(Case, case_id)
        assert case is not None
        case.status = "exited"
        case.exited_at = exited_at
        on_exit = getattr(self, "on_exit", None)
        if on_exit is not None:
            on_exit(self, case_id, exited_at.date(), self.now)

    # -- flags -----------------------------------------------------------------------

    def _flag_view(self, flag: Flag) -> FlagView:
        case = self.session.get(Case, flag.case_id) if flag.case_id else None
        actor_id = flag.resolved_by or flag.acknowledged_by
        actor = self.session.get(Staff, actor_id) if actor_id else None
        assert flag.id is not None
        held, held_crisis = (0, 0)
        if flag.severity == "urgent" and flag.client_id is not None:
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
            .where(col(Flag.status) != "resolved")
        )
        if not staff.sees_all:
            query = query.where(col(Case.manager_id) == staff.staff_id)
        flags = list(self.session.execute(query).scalars())
        flags.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.created_at))
        return [self._flag_view(f) for f in flags[:limit]]

    def act_on_flag(self, flag_id: int, status: str, staff_id: int, now: datetime) -> bool:
        """Acknowledge or resolve, recording who and when."""
        flag = self.session.get(Flag, flag_id, with_for_update=True)
        if flag is None or flag.status == "resolved" or flag.status == status:
            return False
        if status == "acknowledged":
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

    def run_answers(self, run_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The run's saved answers, brought up to date by its stored responses, and its context.

        The run itself is saved once per turn, after the notices of that turn: its answer of
        this turn is only in ``response`` yet.
        """
        run = self.session.get(FlowRun, run_id)
        if run is None:
            return {}, {}
        answers = dict(run.answers or {})
        for key, value in self.session.execute(
            select(col(Response.key), col(Response.value))
            .where(col(Response.run_id) == run_id)
            .order_by(col(Response.id))
        ).all():
            answers[key] = value
        return answers, dict(run.context or {})

    def set_staff_timezone(self, staff_id: int, timezone: str | None) -> None:
        """Times this staff member reads are shown in ``timezone`` (``None``: UTC)."""
        self.session.execute(
            update(Staff).where(col(Staff.id) == staff_id).values(timezone=timezone)
        )
        self._staff.clear()

    def due_escalations(self, severity: str, older_than: datetime) -> list[FlagView]:
        """Unacknowledged, not yet escalated flags raised before ``older_than``."""
        rows = self.session.execute(
            select(Flag)
            .where(
                col(Flag.severity) == severity,
                col(Flag.status) == "open",
                col(Flag.escalated_at).is_(None),
                col(Flag.created_at) <= older_than,
            )
            .with_for_update(skip_locked=True)
        ).scalars()
        return [self._flag_view(f) for f in rows]

    def mark_escalated(self, flag_id: int, now: datetime) -> None:
        """Escalated once; never again."""
        self.session.execute(update(Flag).where(col(Flag.id) == flag_id).values(escalated_at=now))

    def escalation_targets(self) -> list[StaffTarget]:
        """Bound supervisors and admins."""
        rows = self.session.execute(
            select(Staff).where(
                col(Staff.role).in_(("supervisor", "admin")),
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

    # -- the safety pause -----------------------------------------------------------------

    def open_urgent_flag(self, client_id: int) -> int | None:
        """The client's newest unresolved urgent flag: while there is one, the bot is paused."""
        found = self.session.execute(
            select(func.max(col(Flag.id))).where(
                col(Flag.client_id) == client_id,
                col(Flag.severity) == "urgent",
                col(Flag.status) != "resolved",
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

    # -- buttons and settings -------------------------------------------------------------

    def staff_token(self, staff_id: int | None, value: Any) -> str:
        """A random payload for a staff button (flag actions); checked against the presser."""
        token = secrets.token_urlsafe(12)
        self.session.add(
            PromptToken(
                token=token,
                staff_id=staff_id,
                prompt_seq=0,
                value=value,
                value_key=f"staff:{token}",
            )
        )
        return token

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


__all__ = ["CaseworkMixin", "token_hash"]
