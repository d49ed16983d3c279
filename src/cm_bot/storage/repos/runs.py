"""Clients and their runs: the client lookup, runs, answers, scores and consent.

The statements of the conversation's hot path (every update runs a dozen of them) are
SQLAlchemy Core, built once at import: running one through the ORM, or building it anew
each time, costs six to eight times more (bench/README.md §1). Rarer paths keep the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, delete, func, insert, select, update
from sqlmodel import col

from cm_bot.domain import FlagStatus, RunStatus, Severity
from cm_bot.engine.ports import ClientView, RunState
from cm_bot.storage.models import (
    Client,
    ConsentRecord,
    Flag,
    FlowRun,
    Goal,
    Referral,
    Response,
    ScoreResult,
)
from cm_bot.storage.repos.base import (
    CASE,
    CLIENT,
    CONSENT,
    FLAG,
    IDENTITY,
    OPEN_RUN,
    RESPONSE,
    RUN,
    SCORE,
    Repo,
    one_of,
)

_RUN_COLUMNS = (
    RUN.c.id,
    RUN.c.flow_id,
    RUN.c.flow_version,
    RUN.c.status,
    RUN.c.step_id,
    RUN.c.prompt_seq,
    RUN.c.bad_attempts,
    RUN.c.locale,
    RUN.c.answers,
    RUN.c.context,
    RUN.c.state,
    RUN.c.fired_flags,
    RUN.c.case_id,
    RUN.c.updated_at,
)


def _newest(table: Any, where: Callable[[Any], Any] | None = None) -> Any:
    """The id of the client's newest row of ``table`` (a subquery of the client lookup)."""
    newest = table.alias(f"newest_{table.name}")
    conditions = [newest.c.client_id == CLIENT.c.id]
    if where is not None:
        conditions.append(where(newest))
    return select(func.max(newest.c.id)).where(*conditions).correlate(CLIENT).scalar_subquery()


# One statement finds the client, their channel identity and newest case, and also reads
# what nearly every turn asks next: the open run and the latest consent record.
_CLIENT_VIEW = select(
    CLIENT.c.id,
    CLIENT.c.status,
    CLIENT.c.locale,
    IDENTITY.c.channel,
    IDENTITY.c.chat_id,
    CASE.c.id,
    CASE.c.ref,
    CASE.c.manager_id,
    # The open urgent flag that pauses the client (ix_flag_client_urgent_open).
    select(func.max(FLAG.c.id))
    .where(
        FLAG.c.client_id == CLIENT.c.id,
        FLAG.c.severity == Severity.URGENT,
        FLAG.c.status != FlagStatus.RESOLVED,
    )
    .correlate(CLIENT)
    .scalar_subquery(),
    *_RUN_COLUMNS,
    CONSENT.c.action,
    CONSENT.c.flow_id,
    CONSENT.c.version,
).select_from(
    IDENTITY.join(CLIENT, CLIENT.c.id == IDENTITY.c.client_id)
    .outerjoin(CASE, CASE.c.id == _newest(CASE))
    .outerjoin(RUN, RUN.c.id == _newest(RUN, lambda run: one_of(run.c.status, OPEN_RUN)))
    .outerjoin(CONSENT, CONSENT.c.id == _newest(CONSENT))
)
_VIEW, _OPEN_RUN, _CONSENT_ROW = slice(0, 9), slice(9, 9 + len(_RUN_COLUMNS)), slice(-3, None)
_CLIENT_FOR = _CLIENT_VIEW.where(
    IDENTITY.c.channel == bindparam("channel"),
    IDENTITY.c.external_user_id == bindparam("user"),
)
_CLIENT_FOR_LOCKED = _CLIENT_FOR.with_for_update(of=CLIENT)
_CLIENT_BY_ID = (
    _CLIENT_VIEW.where(CLIENT.c.id == bindparam("client_id")).order_by(IDENTITY.c.id).limit(1)
)
_SET_CLIENT: dict[tuple[str, ...], Update] = {
    keys: update(CLIENT)
    .where(CLIENT.c.id == bindparam("b_id"))
    .values({key: bindparam(f"b_{key}") for key in keys})
    for keys in (
        ("locale",),
        ("status",),
        ("timezone",),
        ("locale", "status"),
        ("locale", "timezone"),
        ("status", "timezone"),
        ("locale", "status", "timezone"),
    )
}

_CURRENT_RUN = (
    select(*_RUN_COLUMNS)
    .where(RUN.c.client_id == bindparam("client_id"), one_of(RUN.c.status, OPEN_RUN))
    .order_by(RUN.c.id.desc())
    .limit(1)
)
_ABANDON_RUNS = (
    update(RUN)
    .where(RUN.c.client_id == bindparam("b_client"), one_of(RUN.c.status, OPEN_RUN))
    .values(
        status=RunStatus.ABANDONED.value,
        ended_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
)
_START_RUN = insert(RUN).returning(RUN.c.id)
_RUN_VALUES = {
    "status": bindparam("b_status"),
    "step_id": bindparam("b_step"),
    "prompt_seq": bindparam("b_seq"),
    "bad_attempts": bindparam("b_bad"),
    "locale": bindparam("b_locale"),
    "answers": bindparam("b_answers", type_=RUN.c.answers.type),
    "context": bindparam("b_context", type_=RUN.c.context.type),
    "state": bindparam("b_state", type_=RUN.c.state.type),
    "fired_flags": bindparam("b_fired", type_=RUN.c.fired_flags.type),
    "updated_at": bindparam("b_now"),
}
_SAVE_RUN = update(RUN).where(RUN.c.id == bindparam("b_id")).values(_RUN_VALUES)
_END_RUN = (
    update(RUN)
    .where(RUN.c.id == bindparam("b_id"))
    .values({**_RUN_VALUES, "ended_at": bindparam("b_now")})
)
_FINISHED_FLOWS = (
    select(RUN.c.flow_id)
    .where(
        RUN.c.client_id == bindparam("client_id"),
        one_of(RUN.c.status, (RunStatus.COMPLETED.value, RunStatus.ENDED.value)),
    )
    .distinct()
)

_ADD_RESPONSE = insert(RESPONSE)
NEXT_STEP_KEY = "checkin.next_step"  # goal_checkin's last question, stored on the goal
_SET_NEXT_STEP = (
    update(Goal)
    .where(col(Goal.id) == bindparam("goal"))
    .values(next_step=bindparam("step"), next_step_at=bindparam("at"))
)
_EARLIER_ANSWER = (
    select(RESPONSE.c.value, RESPONSE.c.answered_at)
    .select_from(RESPONSE.join(RUN, RUN.c.id == RESPONSE.c.run_id))
    .where(
        RESPONSE.c.client_id == bindparam("client_id"),
        RESPONSE.c.flow_id == bindparam("flow_id"),
        RESPONSE.c.key == bindparam("key"),
        one_of(RUN.c.status, (RunStatus.COMPLETED.value, RunStatus.ENDED.value)),
    )
    .order_by(RESPONSE.c.id.desc())
    .limit(1)
)
_DELETE_SCORE = delete(SCORE).where(
    SCORE.c.run_id == bindparam("run_id"), SCORE.c.score_id == bindparam("score_id")
)
_ADD_SCORE = insert(SCORE)

_ADD_CONSENT = insert(CONSENT)
_LATEST_CONSENT = (
    select(CONSENT.c.action, CONSENT.c.flow_id, CONSENT.c.version)
    .where(CONSENT.c.client_id == bindparam("client_id"))
    .order_by(CONSENT.c.id.desc())
    .limit(1)
)


class SqlRuns(Repo):
    """Implements :class:`cm_bot.engine.ports.RunsRepo`."""

    def client_for(self, channel: str, external_user_id: str, *, lock: bool) -> ClientView | None:
        """The bound client with their newest case; ``lock`` takes the client's row lock."""
        row = self._sql(
            _CLIENT_FOR_LOCKED if lock else _CLIENT_FOR,
            {"channel": channel, "user": external_user_id},
        ).first()
        return None if row is None else self._view(row)

    def client_by_id(self, client_id: int) -> ClientView | None:
        """The client with their first channel identity (for scheduled contacts)."""
        row = self._sql(_CLIENT_BY_ID, {"client_id": client_id}).first()
        return None if row is None else self._view(row)

    def _view(self, row: Sequence[Any]) -> ClientView:
        self._fresh()
        view = ClientView(*row[_VIEW])
        run, consent = row[_OPEN_RUN], row[_CONSENT_ROW]
        self._tx.runs[view.client_id] = run if run[0] is not None else None
        self._tx.consent[view.client_id] = consent if consent[0] is not None else None
        return view

    def set_client(
        self,
        client_id: int,
        *,
        locale: str | None = None,
        status: str | None = None,
        timezone: str | None = None,
    ) -> None:
        """Change a client's language, status or time zone."""
        values = {
            key: value
            for key, value in (("locale", locale), ("status", status), ("timezone", timezone))
            if value is not None
        }
        if values:
            params: dict[str, Any] = {f"b_{key}": str(value) for key, value in values.items()}
            params["b_id"] = client_id
            self._change(_SET_CLIENT[tuple(values)], params, Client)

    def current_run(self, client_id: int) -> RunState | None:
        """The client's open (active or paused) run."""
        self._fresh()
        if client_id in self._tx.runs:
            row = self._tx.runs[client_id]
        else:
            row = self._tx.runs[client_id] = self._sql(
                _CURRENT_RUN, {"client_id": client_id}
            ).first()
        if row is None:
            return None
        return RunState(
            run_id=row[0],
            flow_id=row[1],
            flow_version=row[2],
            status=row[3],
            step_id=row[4],
            prompt_seq=row[5],
            bad_attempts=row[6],
            locale=row[7],
            answers=dict(row[8] or {}),
            context=dict(row[9] or {}),
            state=dict(row[10] or {}),
            fired_flags=list(row[11] or []),
            case_id=row[12],
            updated_at=row[13],
        )

    def start_run(
        self,
        client: ClientView,
        flow_id: str,
        flow_version: int,
        locale: str,
        context: Mapping[str, Any],
        state: Mapping[str, Any] | None = None,
    ) -> RunState:
        """Abandon any open run and start a new one."""
        state = dict(state or {})
        now = self.now
        self._tx.runs.clear()
        self._change(_ABANDON_RUNS, {"b_client": client.client_id, "b_now": now}, FlowRun)
        run_id = self._sql(
            _START_RUN,
            {
                "client_id": client.client_id,
                "case_id": client.case_id,
                "flow_id": flow_id,
                "flow_version": flow_version,
                "status": RunStatus.ACTIVE.value,
                "step_id": None,
                "prompt_seq": 0,
                "bad_attempts": 0,
                "locale": locale,
                "answers": {},
                "context": dict(context),
                "state": state,
                "fired_flags": [],
                "scheduled_contact_id": state.get("scheduled_contact_id"),
                "started_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        return RunState(
            run_id=int(run_id),
            flow_id=flow_id,
            flow_version=flow_version,
            status=RunStatus.ACTIVE.value,
            step_id=None,
            prompt_seq=0,
            bad_attempts=0,
            locale=locale,
            context=dict(context),
            state=dict(state),
            case_id=client.case_id,
            updated_at=now,
        )

    def save_run(self, run: RunState, *, ended: bool = False) -> None:
        """Persist the run's state (copies, so later mutation cannot leak in)."""
        self._tx.runs.clear()
        self._change(
            _END_RUN if ended else _SAVE_RUN,
            {
                "b_id": run.run_id,
                "b_status": str(run.status),
                "b_step": run.step_id,
                "b_seq": run.prompt_seq,
                "b_bad": run.bad_attempts,
                "b_locale": run.locale,
                "b_answers": dict(run.answers),
                "b_context": dict(run.context),
                "b_state": dict(run.state),
                "b_fired": list(run.fired_flags),
                "b_now": self.now,
            },
            FlowRun,
        )

    def finished_flows(self, client_id: int) -> set[str]:
        """Flows this client completed, or that a rule ended (a crisis stop is not re-offered)."""
        return set(self._sql(_FINISHED_FLOWS, {"client_id": client_id}).scalars())

    # -- answers, scores, consent ---------------------------------------------------

    def add_response(
        self,
        client: ClientView,
        run: RunState,
        step_id: str,
        key: str,
        value: Any,
        question: str,
        inbound_id: int | None,
        provenance: str | None = None,
    ) -> None:
        """Store one answer with the question as shown and the locale it was asked in."""
        goal_id = run.state.get("goal_id")
        self._sql(
            _ADD_RESPONSE,
            {
                "case_id": client.case_id,
                "client_id": client.client_id,
                "run_id": run.run_id,
                "flow_id": run.flow_id,
                "flow_version": run.flow_version,
                "step_id": step_id,
                "key": key,
                "value": value,
                "question": question,
                "locale": run.locale,
                "goal_id": goal_id if isinstance(goal_id, int) else None,
                "inbound_id": inbound_id,
                "provenance": provenance,
                "answered_at": self.now,
            },
        )
        if key == NEXT_STEP_KEY and isinstance(goal_id, int) and isinstance(value, str):
            # The client's next small step lives on the goal too (issue 18), for /case.
            self._sql(_SET_NEXT_STEP, {"goal": goal_id, "step": value, "at": self.now})

    def earlier_answer(self, client_id: int, flow_id: str, key: str) -> tuple[Any, datetime] | None:
        """The client's latest answer to ``key`` in a finished run of ``flow_id``."""
        row = self._sql(
            _EARLIER_ANSWER, {"client_id": client_id, "flow_id": flow_id, "key": key}
        ).first()
        return None if row is None else (row[0], row[1])

    def save_score(
        self,
        client: ClientView,
        run: RunState,
        score_id: str,
        instrument: str | None,
        result: Mapping[str, Any],
    ) -> None:
        """Store a run's score once (a re-computation replaces it)."""
        self._change(_DELETE_SCORE, {"run_id": run.run_id, "score_id": score_id}, ScoreResult)
        value = result.get("score")
        band = result.get("band")
        self._sql(
            _ADD_SCORE,
            {
                "case_id": client.case_id,
                "client_id": client.client_id,
                "run_id": run.run_id,
                "flow_id": run.flow_id,
                "score_id": score_id,
                "instrument": instrument,
                "value": float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else None,
                "band": band if isinstance(band, str) else None,
                "result": dict(result),
                "computed_at": self.now,
            },
        )

    def record_consent(
        self,
        client: ClientView,
        *,
        action: str,
        flow_id: str,
        version: int,
        text_sha256: str,
        locale: str,
        decisions: Mapping[str, Any],
        inbound_id: int | None,
    ) -> None:
        """Append a consent record."""
        self._tx.consent.pop(client.client_id, None)
        self._sql(
            _ADD_CONSENT,
            {
                "client_id": client.client_id,
                "case_id": client.case_id,
                "action": action,
                "flow_id": flow_id,
                "version": version,
                "text_sha256": text_sha256,
                "locale": locale,
                "decisions": dict(decisions),
                "inbound_id": inbound_id,
                "recorded_at": self.now,
            },
        )

    def consent_version(self, client_id: int, flow_id: str) -> int | None:
        """The version of the standing grant, if the latest record is a grant."""
        self._fresh()
        if client_id not in self._tx.consent:
            self._tx.consent[client_id] = self._sql(
                _LATEST_CONSENT, {"client_id": client_id}
            ).first()
        latest = self._tx.consent[client_id]
        if latest is None or latest[0] != "granted" or latest[1] != flow_id:
            return None
        return int(latest[2])

    def data_summary(self, client_id: int) -> dict[str, Any]:
        """What ``/mydata`` tells a client: counts, never contents."""

        def count(table: Any, column: Any) -> int:
            return int(
                self.session.execute(
                    select(func.count()).select_from(table).where(column == client_id)
                ).scalar_one()
            )

        consent: ConsentRecord | None = (
            self.session.execute(
                select(ConsentRecord)
                .where(col(ConsentRecord.client_id) == client_id)
                .order_by(col(ConsentRecord.id).desc())
            )
            .scalars()
            .first()
        )
        return {
            "answers": count(Response, col(Response.client_id)),
            "scores": count(ScoreResult, col(ScoreResult.client_id)),
            "flags": count(Flag, col(Flag.client_id)),
            "referrals": count(Referral, col(Referral.client_id)),
            "consent_action": consent.action if consent else None,
            "consent_at": consent.recorded_at if consent else None,
        }

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


__all__ = ["SqlRuns"]
