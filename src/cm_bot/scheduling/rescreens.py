"""Re-screens (issue 18): a case's repeat PHQ-9 or GAD-7, and the "not improving" flag.

A case manager sets a plan (``/rescreen REF phq9 4w``, ``cm-bot case rescreen``, the
console); the unit of work records :class:`~cm_bot.domain.events.RescreenChanged` and
:func:`plan_rescreen` runs before that transaction commits: it cancels the instrument's
re-screen not yet sent and, while the plan runs, plans the next one ``every_days`` later
as a contact of kind ``rescreen``. The dispatcher sends it like every other contact:
contact hours, the urgent pause, one reminder and then ``no_response``
(:mod:`~cm_bot.scheduling.contact`); it is cancelled when the plan was stopped or the
case has ended. Once a re-screen settles (answered, or waited out) the next is planned
from it (:func:`plan_next_rescreens`); a cancelled one plans nothing more.

The flows (``rescreen_phq9``, ``rescreen_gad7``) ask the whole instrument with the
intake's keys, score ids and rules, so item 9's urgent rule holds on every re-screen and
every score joins the intake's series. A settled answered re-screen whose latest score is
*not improving* (:func:`cm_bot.scoring.trend.milestones`) raises a ``high`` flag, once per
case and instrument (its dedupe key).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, col

from cm_bot.domain import CaseStatus, ContactStatus, Severity
from cm_bot.engine import ConversationEngine
from cm_bot.engine.ports import ClientView
from cm_bot.engine.staff import StaffDesk
from cm_bot.i18n.translator import N_
from cm_bot.scheduling.plan import aware
from cm_bot.scheduling.policy import RESCREEN, SchedulePolicy, client_zone, when_allowed
from cm_bot.scheduling.queries import add_contact, cancel_open, session_of
from cm_bot.scoring.trend import NOT_IMPROVING, milestones
from cm_bot.storage.models import Case, Client, ScheduledContact
from cm_bot.storage.repository import SqlStore, SqlUnitOfWork
from cm_bot.storage.rescreens import instrument_series, plan_of

OPEN_CASE = (CaseStatus.INTAKE, CaseStatus.ACTIVE)
NOT_IMPROVING_REASONS = {
    "phq9": N_(
        "Not improving on the PHQ-9: no response (a drop of 50 % or more from the first "
        "score) 8 weeks or more after it. Please review the plan."
    ),
    "gad7": N_(
        "Not improving on the GAD-7: no response (a drop of 50 % or more from the first "
        "score) 8 weeks or more after it. Please review the plan."
    ),
}


def instrument_of(row: ScheduledContact, policy: SchedulePolicy) -> str | None:
    """The instrument a re-screen contact repeats (from its flow), or ``None``."""
    for instrument, flow_id in policy.rescreen_flows.items():
        if row.flow_id == flow_id:
            return instrument
    return None


def plan_rescreen(
    target: Session | SqlUnitOfWork,
    case_id: int,
    instrument: str,
    now: datetime,
    policy: SchedulePolicy,
    *,
    after: ScheduledContact | None = None,
) -> int | None:
    """Plan the instrument's next re-screen; the new contact's id (``None``: none planned).

    Without ``after`` (the plan was just set or stopped) the re-screen not yet sent is
    cancelled first and the next is due ``every_days`` from ``now``; with ``after`` (a
    re-screen that settled) it is due ``every_days`` after that one was sent, and at least
    ``checkin_min_gap`` from ``now``. Nothing is planned for a stopped plan, an ended case
    or a case with no client; planning twice is harmless (``dedupe_key``).
    """
    session = session_of(target)
    now = aware(now)
    flow_id = policy.rescreen_flows.get(instrument)
    if flow_id is None:
        return None
    if after is None:
        cancel_open(
            session,
            now,
            "rescreen_changed",
            col(ScheduledContact.case_id) == case_id,
            col(ScheduledContact.flow_id) == flow_id,
            col(ScheduledContact.status) == ContactStatus.PENDING.value,
            kind=RESCREEN,
        )
    plan = plan_of(session, case_id, instrument)
    case = session.get(Case, case_id)
    if (
        plan is None
        or plan.stopped_at is not None
        or case is None
        or case.status not in OPEN_CASE
        or case.client_id is None
    ):
        return None
    every = timedelta(days=plan.every_days)
    if after is None:
        moment = now + every
    else:
        moment = max(aware(after.sent_at or after.due_at) + every, now + policy.checkin_min_gap)
    tz, hours = client_zone(session.get(Client, case.client_id), policy)
    day = moment.astimezone(tz).date()
    key = f"rescreen:{plan.id}:{plan.revision}:{day.isoformat()}"
    return add_contact(
        session,
        {
            "case_id": case_id,
            "client_id": case.client_id,
            "flow_id": flow_id,
            "kind": RESCREEN,
            "planned_for": day,
            "due_at": when_allowed(moment, key, tz, hours, policy.spread),
            "dedupe_key": key,
        },
        now,
    )


def plan_next_rescreens(
    target: Session | SqlUnitOfWork,
    rows: Iterable[ScheduledContact],
    now: datetime,
    policy: SchedulePolicy,
) -> int:
    """After each settled re-screen (answered or waited out) of ``rows``, plan the next one."""
    planned = 0
    for row in rows:
        if row.kind != RESCREEN or row.closed_at is None or row.status == ContactStatus.CANCELLED:
            continue
        instrument = instrument_of(row, policy)
        if instrument is not None and (
            plan_rescreen(target, row.case_id, instrument, now, policy, after=row) is not None
        ):
            planned += 1
    return planned


def rescreen_still_wanted(
    session: Session, row: ScheduledContact, policy: SchedulePolicy
) -> str | None:
    """Why a re-screen should no longer be sent (plan stopped, case ended), or ``None``."""
    instrument = instrument_of(row, policy)
    plan = plan_of(session, row.case_id, instrument) if instrument else None
    if plan is None or plan.stopped_at is not None:
        return "rescreen_stopped"
    case = session.get(Case, row.case_id)
    if case is None or case.status not in OPEN_CASE:
        return "case_exited"
    return None


def flag_not_improving(
    engine: ConversationEngine[SqlStore],
    uow: SqlUnitOfWork,
    row: ScheduledContact,
    policy: SchedulePolicy | None = None,
) -> int | None:
    """Raise ``high`` when the instrument's latest score is *not improving*; the flag's id.

    Once per case and instrument (the dedupe key); ``None`` when nothing was raised.
    """
    instrument = instrument_of(row, policy or SchedulePolicy())
    if instrument is None or row.client_id is None:
        return None
    points = instrument_series(uow.session, row.case_id, instrument)
    marks = milestones([p.value for p in points], [p.at for p in points])
    if not marks or NOT_IMPROVING not in marks[-1]:
        return None
    case = uow.session.get(Case, row.case_id)
    client = uow.session.get(Client, row.client_id)
    view = ClientView(
        client_id=row.client_id,
        status=client.status if client else "",
        locale=client.locale if client else None,
        channel="",
        chat_id="",
        case_id=row.case_id,
        case_ref=case.ref if case else None,
        manager_id=case.manager_id if case else None,
    )
    desk = StaffDesk(
        uow, engine.translator, [], bot_username=engine.bot_username, flows=engine.flows
    )
    return desk.raise_flag(
        view,
        Severity.HIGH,
        NOT_IMPROVING_REASONS[instrument],
        rule_id=f"{instrument}_not_improving",
        dedupe_key=f"notimproving:{row.case_id}:{instrument}",
        source_key=instrument,
        source_value=points[-1].value,
    )


__all__ = [
    "NOT_IMPROVING_REASONS",
    "OPEN_CASE",
    "flag_not_improving",
    "instrument_of",
    "plan_next_rescreens",
    "plan_rescreen",
    "rescreen_still_wanted",
]
