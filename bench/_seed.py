"""Bulk seeding for the schedule-scale benchmark: many cases shaped like the ones the app makes.

``cm_bot.storage.admin`` writes one case per transaction (and ``next_ref`` reads every
ref), which takes hours for 100,000 cases. Here the rows go in with SQLAlchemy Core
``insert(table)`` in chunks, with explicit ids, and every column filled the way the app
fills it (``admin.link_client``, the engine's consent and screening runs, ``planner``'s
check-ins and follow-ups, the dispatcher's sent contacts), so the dispatcher meets
realistic tables: history rows included, not only the contacts it is asked about.

Each case is one of these shapes:

* **active**: a weekly goal five weeks old; last week's check-in answered and settled
  (its run and its ``checkin.progress`` answer); the next check-in pending, due in 2 h to
  7 days.
* **exited**: exited 2-28 days ago; the 30-, 90- and 180-day follow-ups pending.
* **waiting** (1 in 20 exited cases): exited 31-32 days ago; the 30-day follow-up sent
  1-2 days ago, its run open, waiting for a reply (due when the reminder is).

Every client has consented (a consent run and record) and done the PHQ-2 (a run, two
answers); one case in five has a resolved ``high`` flag. Every run's messages are in the
outbox, delivered, and the client's last question still has its button tokens. Audit rows
as ``admin``, the planner and the goal commands write them.

The *due pool* is ``groups x due`` cases spread evenly over the id range, whose clients live
in time zones inside contact hours right now. Their next contact (a check-in, a 30-day
follow-up, or, for one in ten, a follow-up already sent and now due for its reminder) is
planned in the future; :func:`arm` makes one group due, so each timed pass meets fresh rows.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, Table, bindparam, func, insert, select, text, update
from sqlmodel import SQLModel, col

from cm_bot.scheduling.plan import ContactHours, at_local, local_day, zone
from cm_bot.scheduling.planner import CHECKIN_FLOW, FOLLOWUP, FOLLOWUP_FLOW, when_allowed
from cm_bot.storage.models import (
    AuditLog,
    Case,
    ChannelIdentity,
    Client,
    ConsentRecord,
    Flag,
    FlowRun,
    Goal,
    Outbox,
    PromptToken,
    Response,
    ScheduledContact,
    Staff,
    metadata,
)

ZONES = (
    None,  # the program's default (UTC)
    "Europe/Kyiv",
    "Europe/Madrid",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Africa/Nairobi",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)
LOCALES = ("en", "en", "en", "en", "uk", "es")
GOALS = (
    "Find a part-time job",
    "Open a bank account",
    "Go to the housing office",
    "Sign up for the language course",
)
FIRST_USER_ID = 20_000_000
CASES_PER_MANAGER = 100
CHUNK_CASES = 2_000
SPREAD = timedelta(minutes=15)
HOURS = ContactHours()
CONSENT_ANSWERS = {"consent.contact": True, "consent.store": True, "consent.share_partners": False}
CONSENT_DECISIONS = {"contact": True, "store": True, "share_partners": False}
PHQ2_QUESTION = (
    "Over the last 2 weeks, how often have you been bothered by any of the following "
    "problems?\n\n{}"
)
PHQ2_ITEMS = (
    ("phq2_q1", "phq2.q1", "Little interest or pleasure in doing things"),
    ("phq2_q2", "phq2.q2", "Feeling down, depressed, or hopeless"),
)
CHECKIN_QUESTIONS = (
    ("progress", "Where are you with this goal today? Choose a number from 0 to 10."),
    ("helped", "What has helped you with this goal? You can skip this question."),
    ("barriers", "What got in the way? You can skip this question."),
    ("contact", "Would you like your case manager to contact you about this?"),
)


@dataclass
class Seeded:
    """What was written, and the contacts of each due group (armed one group per pass)."""

    cases: int
    contacts: int = 0
    rows: int = 0
    groups: list[list[int]] = field(default_factory=list)
    seconds: float = 0.0


def zones_in_hours(now: datetime, margin: timedelta = timedelta(hours=3)) -> list[str | None]:
    """Zones whose local time is inside contact hours now and for ``margin`` more."""
    good = []
    for name in ZONES:
        tz = zone(name)
        start, end = now.astimezone(tz), (now + margin).astimezone(tz)
        if start.date() == end.date() and HOURS.allows(start.time()) and HOURS.allows(end.time()):
            good.append(name)
    if not good:
        raise RuntimeError("no seeded time zone is inside contact hours for the next 3 hours")
    return good


def _table(model: type[SQLModel]) -> Table:
    """The Core table of a model (SQLModel does not type ``__table__``)."""
    return metadata.tables[str(model.__tablename__)]


class _Ids:
    """Explicit primary keys per table, continuing after what the database already holds."""

    def __init__(self, db: Engine, tables: Iterable[Any]) -> None:
        with db.connect() as conn:
            self.next = {
                _table(t).name: int(
                    conn.execute(select(func.coalesce(func.max(col(t.id)), 0))).scalar_one()
                )
                + 1
                for t in tables
            }

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


TABLES = (
    Staff,
    Client,
    Case,
    ChannelIdentity,
    Goal,
    ScheduledContact,
    FlowRun,
    ConsentRecord,
    Response,
    Flag,
    AuditLog,
    Outbox,
    PromptToken,
)


class _Writer:
    """Rows of one chunk, per table, inserted in foreign-key order."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {_table(t).name: [] for t in TABLES}

    def add(self, table: str, **values: Any) -> None:
        self.rows[table].append(values)

    def flush(self, db: Engine) -> int:
        written = 0
        with db.begin() as conn:
            for model in TABLES:
                table = _table(model)
                rows = self.rows[table.name]
                # Rows of one table share one set of keys, so an executemany is exact.
                for start in range(0, len(rows), 1_000):
                    conn.execute(insert(table), rows[start : start + 1_000])
                written += len(rows)
                rows.clear()
        return written


def _contact(
    ids: _Ids,
    *,
    case_id: int,
    client_id: int,
    flow_id: str,
    kind: str,
    due_at: datetime,
    planned_for: date,
    dedupe_key: str,
    created_at: datetime,
    goal_id: int | None = None,
    status: str = "pending",
    attempts: int = 0,
    outcome: str | None = None,
    claimed_by: str | None = None,
    sent_at: datetime | None = None,
    closed_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    """One ``scheduledcontact`` row, every column as the planner and dispatcher write it."""
    return {
        "id": ids.take("scheduledcontact"),
        "case_id": case_id,
        "client_id": client_id,
        "flow_id": flow_id,
        "kind": kind,
        "goal_id": goal_id,
        "planned_for": planned_for,
        "due_at": due_at,
        "status": status,
        "attempts": attempts,
        "failures": 0,
        "outcome": outcome,
        "dedupe_key": dedupe_key,
        "claimed_by": claimed_by,
        "sent_at": sent_at,
        "reminded_at": None,
        "closed_at": closed_at,
        "created_at": created_at,
        "updated_at": updated_at or created_at,
    }


def _run(
    ids: _Ids,
    *,
    client_id: int,
    case_id: int,
    flow_id: str,
    status: str,
    locale: str,
    started: datetime,
    updated: datetime,
    step_id: str | None = None,
    prompt_seq: int = 0,
    answers: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    contact_id: int | None = None,
) -> dict[str, Any]:
    """One ``flowrun`` row (``start_run`` then ``save_run``)."""
    ended = status in ("completed", "ended", "abandoned")
    return {
        "id": ids.take("flowrun"),
        "client_id": client_id,
        "case_id": case_id,
        "flow_id": flow_id,
        "flow_version": 1,
        "status": status,
        "step_id": step_id,
        "prompt_seq": prompt_seq,
        "bad_attempts": 0,
        "locale": locale,
        "answers": answers or {},
        "context": context or {},
        "fired_flags": [],
        "scheduled_contact_id": contact_id,
        "started_at": started,
        "updated_at": updated,
        "ended_at": updated if ended else None,
    }


def _response(
    ids: _Ids,
    *,
    case_id: int,
    client_id: int,
    run_id: int,
    flow_id: str,
    step_id: str,
    key: str,
    value: Any,
    question: str,
    locale: str,
    at: datetime,
    goal_id: int | None = None,
) -> dict[str, Any]:
    return {
        "id": ids.take("response"),
        "case_id": case_id,
        "client_id": client_id,
        "run_id": run_id,
        "flow_id": flow_id,
        "flow_version": 1,
        "step_id": step_id,
        "key": key,
        "value": value,
        "question": question,
        "locale": locale,
        "goal_id": goal_id,
        "inbound_id": None,
        "answered_at": at,
    }


def _conversation(
    writer: _Writer,
    ids: _Ids,
    *,
    client_id: int,
    chat: str,
    run_id: int,
    prompt_seq: int,
    messages: int,
    choices: tuple[Any, ...],
    at: datetime,
    last_prompt: bool,
) -> None:
    """The outbox rows a run sent (all delivered) and, if it holds the client's last prompt,
    that prompt's button tokens (``tokens`` deletes older prompts' tokens)."""
    tokens = [
        (
            secrets.token_urlsafe(12),
            value,
            json.dumps(
                {"r": run_id, "s": prompt_seq, "v": value}, sort_keys=True, separators=(",", ":")
            ),
        )
        for value in choices
    ]
    for k in range(messages):
        sent = at + timedelta(seconds=20 * k)
        question = k == messages - 1
        writer.add(
            "outbox",
            id=ids.take("outbox"),
            channel="telegram",
            chat_id=chat,
            client_id=client_id,
            staff_id=None,
            flag_id=None,
            inbound_id=None,
            text="(a message of the flow)",
            buttons=[[{"label": str(v), "payload": t} for t, v, _ in tokens]] if question else None,
            priority=50,
            status="sent",
            attempts=1,
            next_attempt_at=None,
            external_message_id=str(ids.next["outbox"]),
            error=None,
            edit_of=None,
            claimed_by="bench:1",
            created_at=sent,
            sent_at=sent + timedelta(seconds=1),
        )
    if last_prompt:
        for token, value, key in tokens:
            writer.add(
                "prompttoken",
                id=ids.take("prompttoken"),
                token=token,
                client_id=client_id,
                staff_id=None,
                run_id=run_id,
                prompt_seq=prompt_seq,
                value=value,
                value_key=key,
            )


def seed(
    db: Engine,
    cases: int,
    *,
    due: int,
    groups: int,
    now: datetime,
    seed_value: int = 7,
    progress: bool = True,
) -> Seeded:
    """Write ``cases`` cases (with clients, history and pending contacts) and a due pool."""
    import time as clock

    started = clock.perf_counter()
    if due * groups > cases:
        raise ValueError(f"{groups} groups of {due} due contacts need at least that many cases")
    rng = random.Random(seed_value)
    ids = _Ids(db, TABLES)
    out = Seeded(cases, groups=[[] for _ in range(groups)])
    writer = _Writer()
    day0 = now - timedelta(days=400)

    managers = []
    for m in range(max(1, -(-cases // CASES_PER_MANAGER))):
        staff_id = ids.take("staff")
        managers.append(staff_id)
        writer.add(
            "staff",
            id=staff_id,
            name=f"Bench Manager {staff_id}",
            role="case_manager",
            telegram_user_id=str(9_000_000 + staff_id),
            locale=None,
            active=True,
            created_at=day0 + timedelta(minutes=m),
        )
    supervisor = ids.take("staff")
    writer.add(
        "staff",
        id=supervisor,
        name=f"Bench Supervisor {supervisor}",
        role="supervisor",
        telegram_user_id=str(9_000_000 + supervisor),
        locale=None,
        active=True,
        created_at=day0,
    )

    # The due pool: evenly spread over the ids, interleaved between the groups.
    pool_size = due * groups
    pool = {int(j * cases / pool_size): j for j in range(pool_size)} if pool_size else {}
    in_hours = zones_in_hours(now)

    for index in range(cases):
        j = pool.get(index)
        if j is None:
            tz_name = ZONES[index % len(ZONES)]
            shape = "active" if index % 2 == 0 else "exited"
            if shape == "exited" and index % 40 == 1:
                shape = "waiting"
        else:
            tz_name = in_hours[j % len(in_hours)]
            shape = "reminder" if j % 10 == 0 else "active" if j % 2 else "exited"
        tz = zone(tz_name)
        locale = LOCALES[index % len(LOCALES)]
        user_id = str(FIRST_USER_ID + index)

        client_id = ids.take("client")
        case_id = ids.take("case")
        if shape == "active":
            opened = now - timedelta(days=40, minutes=rng.randrange(60 * 24 * 5))
            exit_day = None
        else:
            ago = {"exited": rng.randrange(2, 29), "waiting": rng.randrange(31, 33)}.get(shape, 33)
            exit_day = local_day(now, tz) - timedelta(days=ago)
            opened = at_local(exit_day, time(12), tz) - timedelta(days=rng.randrange(60, 200))
        manager = managers[index % len(managers)]
        writer.add(
            "client",
            id=client_id,
            locale=locale,
            timezone=tz_name,
            contact_start=None,
            contact_end=None,
            status="active",
            created_at=opened,
        )
        exited_at = at_local(exit_day, time(15), tz) if exit_day else None
        writer.add(
            "case",
            id=case_id,
            ref=f"C-{case_id:04d}",
            client_id=client_id,
            manager_id=manager,
            status="active" if exit_day is None else "exited",
            opened_at=opened,
            exited_at=exited_at,
            followup_outcome=None,
        )
        linked = opened + timedelta(hours=2)
        writer.add(
            "channelidentity",
            id=ids.take("channelidentity"),
            client_id=client_id,
            channel="telegram",
            external_user_id=user_id,
            chat_id=user_id,
            created_at=linked,
        )
        writer.add(
            "auditlog",
            id=ids.take("auditlog"),
            at=opened,
            actor="cli",
            action="case_opened",
            case_id=case_id,
            detail=None,
        )
        writer.add(
            "auditlog",
            id=ids.take("auditlog"),
            at=linked,
            actor="cli",
            action="client_linked",
            case_id=case_id,
            detail={"channel": "telegram"},
        )

        # Intake: consent, then the PHQ-2.
        consented = linked + timedelta(minutes=5)
        consent = _run(
            ids,
            client_id=client_id,
            case_id=case_id,
            flow_id="consent",
            status="completed",
            locale=locale,
            started=linked + timedelta(minutes=1),
            updated=consented,
            prompt_seq=3,
            answers=dict(CONSENT_ANSWERS),
        )
        writer.add("flowrun", **consent)
        _conversation(
            writer,
            ids,
            client_id=client_id,
            chat=user_id,
            run_id=consent["id"],
            prompt_seq=3,
            messages=9,
            choices=(True, False),
            at=consent["started_at"],
            last_prompt=False,
        )
        writer.add(
            "consentrecord",
            id=ids.take("consentrecord"),
            client_id=client_id,
            case_id=case_id,
            action="granted",
            flow_id="consent",
            version=1,
            text_sha256=hashlib.sha256(f"{locale}\nconsent v1".encode()).hexdigest(),
            locale=locale,
            decisions=dict(CONSENT_DECISIONS),
            inbound_id=None,
            recorded_at=consented,
        )
        answers = {"phq2.q1": rng.randrange(4), "phq2.q2": rng.randrange(4)}
        screened = consented + timedelta(minutes=3)
        phq = _run(
            ids,
            client_id=client_id,
            case_id=case_id,
            flow_id="screening_phq",
            status="completed",
            locale=locale,
            started=consented,
            updated=screened,
            prompt_seq=2,
            answers=answers,
        )
        writer.add("flowrun", **phq)
        _conversation(
            writer,
            ids,
            client_id=client_id,
            chat=user_id,
            run_id=phq["id"],
            prompt_seq=2,
            messages=4,
            choices=(0, 1, 2, 3),
            at=consented,
            last_prompt=shape == "exited",
        )
        for step_id, key, item in PHQ2_ITEMS:
            writer.add(
                "response",
                **_response(
                    ids,
                    case_id=case_id,
                    client_id=client_id,
                    run_id=phq["id"],
                    flow_id="screening_phq",
                    step_id=step_id,
                    key=key,
                    value=answers[key],
                    question=PHQ2_QUESTION.format(item),
                    locale=locale,
                    at=screened,
                ),
            )
        if index % 5 == 0:
            writer.add(
                "flag",
                id=ids.take("flag"),
                case_id=case_id,
                client_id=client_id,
                severity="high",
                reason="PHQ-9 screen positive",
                rule_id="phq9_positive",
                dedupe_key=f"run:{phq['id']}:phq9_positive",
                source_key="phq2.q1",
                source_value=answers["phq2.q1"],
                status="resolved",
                created_at=screened,
                acknowledged_at=screened + timedelta(hours=1),
                acknowledged_by=manager,
                resolved_at=screened + timedelta(days=1),
                resolved_by=manager,
                escalated_at=None,
            )

        later = now + timedelta(days=30 + rng.randrange(60))  # a pool contact before arming
        if shape == "active":
            goal_id = ids.take("goal")
            goal_text = GOALS[index % len(GOALS)]
            goal_created = now - timedelta(days=35, hours=rng.randrange(24))
            writer.add(
                "goal",
                id=goal_id,
                case_id=case_id,
                text=goal_text,
                cadence="weekly",
                checkin_weekday=None,
                checkin_time=None,
                target_date=None,
                status="active",
                created_at=goal_created,
            )
            writer.add(
                "auditlog",
                id=ids.take("auditlog"),
                at=goal_created,
                actor="cli",
                action="goal_added",
                case_id=case_id,
                detail={"goal_id": goal_id},
            )
            # Last week's check-in: sent, answered, settled.
            last_day = local_day(now, tz) - timedelta(days=rng.randrange(1, 7))
            last_key = f"checkin:{goal_id}:{last_day.isoformat()}"
            last_due = when_allowed(at_local(last_day, time(10), tz), last_key, tz, HOURS, SPREAD)
            answered = last_due + timedelta(minutes=20)
            last = _contact(
                ids,
                case_id=case_id,
                client_id=client_id,
                flow_id=CHECKIN_FLOW,
                kind="checkin",
                goal_id=goal_id,
                planned_for=last_day,
                due_at=last_due + timedelta(days=3),
                dedupe_key=last_key,
                created_at=last_due - timedelta(days=7),
                status="answered",
                attempts=1,
                outcome="answered",
                claimed_by="bench:1",
                sent_at=last_due,
                closed_at=answered + timedelta(minutes=1),
                updated_at=answered,
            )
            writer.add("scheduledcontact", **last)
            run = _run(
                ids,
                client_id=client_id,
                case_id=case_id,
                flow_id=CHECKIN_FLOW,
                status="completed",
                locale=locale,
                started=last_due,
                updated=answered,
                prompt_seq=4,
                answers={
                    "checkin.progress": rng.randrange(11),
                    "checkin.helped": "my friend helped",
                    "checkin.barriers": "",
                    "checkin.contact": False,
                },
                context={"scheduled_contact_id": last["id"], "goal_id": goal_id, "goal": goal_text},
                contact_id=last["id"],
            )
            writer.add("flowrun", **run)
            _conversation(
                writer,
                ids,
                client_id=client_id,
                chat=user_id,
                run_id=run["id"],
                prompt_seq=4,
                messages=6,
                choices=(True, False),
                at=last_due,
                last_prompt=True,
            )
            for step_id, question in CHECKIN_QUESTIONS:
                key = f"checkin.{step_id}"
                writer.add(
                    "response",
                    **_response(
                        ids,
                        case_id=case_id,
                        client_id=client_id,
                        run_id=run["id"],
                        flow_id=CHECKIN_FLOW,
                        step_id=step_id,
                        key=key,
                        value=run["answers"][key],
                        question=question,
                        locale=locale,
                        at=answered,
                        goal_id=goal_id,
                    ),
                )
            next_day = last_day + timedelta(days=7)
            next_key = f"checkin:{goal_id}:{next_day.isoformat()}"
            if j is None:
                next_due = now + timedelta(hours=2) + timedelta(minutes=rng.randrange(60 * 24 * 6))
            else:
                next_due = later
            pending = _contact(
                ids,
                case_id=case_id,
                client_id=client_id,
                flow_id=CHECKIN_FLOW,
                kind="checkin",
                goal_id=goal_id,
                planned_for=next_day,
                due_at=next_due,
                dedupe_key=next_key,
                created_at=answered + timedelta(minutes=1),
            )
            writer.add("scheduledcontact", **pending)
            if j is not None:
                out.groups[j % groups].append(pending["id"])
        else:
            assert exit_day is not None and exited_at is not None
            writer.add(
                "auditlog",
                id=ids.take("auditlog"),
                at=exited_at,
                actor="system",
                action="followups_planned",
                case_id=case_id,
                detail={
                    "exit_date": exit_day.isoformat(),
                    "planned": 3,
                    "skipped_past": [],
                    "checkins_cancelled": 0,
                },
            )
            for days in (30, 90, 180):
                key = f"followup:{case_id}:{exit_day.isoformat()}:{days}"
                planned = when_allowed(
                    at_local(exit_day + timedelta(days=days), time(10), tz), key, tz, HOURS, SPREAD
                )
                values: dict[str, Any] = {}
                if days == 30 and shape in ("waiting", "reminder"):
                    sent = planned
                    if shape == "reminder":
                        sent = now - timedelta(days=3, minutes=rng.randrange(60))
                    values = {
                        "status": "sent",
                        "attempts": 1,
                        "claimed_by": "bench:1",
                        "sent_at": sent,
                        "updated_at": sent,
                    }
                    planned = later if shape == "reminder" else sent + timedelta(days=3)
                elif days == 30 and j is not None:
                    planned = later
                contact = _contact(
                    ids,
                    case_id=case_id,
                    client_id=client_id,
                    flow_id=FOLLOWUP_FLOW,
                    kind=FOLLOWUP,
                    planned_for=exit_day + timedelta(days=days),
                    due_at=planned,
                    dedupe_key=key,
                    created_at=exited_at,
                    **values,
                )
                writer.add("scheduledcontact", **contact)
                if days == 30 and j is not None:
                    out.groups[j % groups].append(contact["id"])
                if values:
                    # The follow-up's run, asked its first question and not answered yet.
                    followup = _run(
                        ids,
                        client_id=client_id,
                        case_id=case_id,
                        flow_id=FOLLOWUP_FLOW,
                        status="active",
                        locale=locale,
                        started=values["sent_at"],
                        updated=values["sent_at"],
                        step_id="overall",
                        prompt_seq=1,
                        context={"scheduled_contact_id": contact["id"], "days_since_exit": 30},
                        contact_id=contact["id"],
                    )
                    writer.add("flowrun", **followup)
                    _conversation(
                        writer,
                        ids,
                        client_id=client_id,
                        chat=user_id,
                        run_id=followup["id"],
                        prompt_seq=1,
                        messages=2,
                        choices=(1, 2, 3, 4, 5),
                        at=values["sent_at"],
                        last_prompt=True,
                    )
        if (index + 1) % CHUNK_CASES == 0 or index + 1 == cases:
            out.contacts += len(writer.rows["scheduledcontact"])
            out.rows += writer.flush(db)
            if progress and (index + 1) % (CHUNK_CASES * 10) == 0:
                print(f"  ... {index + 1:,} cases", flush=True)
    if db.dialect.name == "postgresql":
        with db.begin() as conn:
            for model in TABLES:
                name = _table(model).name
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                        f'(SELECT max(id) FROM "{name}"))'
                    )
                )
        with db.connect() as conn:  # autovacuum would do it on a live database
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    out.seconds = clock.perf_counter() - started
    return out


def drain_outbox(db: Engine, now: datetime) -> None:
    """Mark every queued message delivered, as the outbox sender does between two ticks."""
    table = _table(Outbox)
    with db.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.status == "pending")
            .values(status="sent", attempts=1, sent_at=now, claimed_by="bench:1")
        )


def arm(db: Engine, contact_ids: list[int], now: datetime) -> None:
    """Make these contacts due: ``due_at`` spread over the last quarter hour."""
    rng = random.Random(len(contact_ids))
    table = _table(ScheduledContact)
    rows = [{"cid": i, "due": now - timedelta(seconds=rng.randrange(1, 900))} for i in contact_ids]
    with db.begin() as conn:
        conn.execute(
            update(table).where(table.c.id == bindparam("cid")).values(due_at=bindparam("due")),
            rows,
        )


__all__ = ["Seeded", "arm", "drain_outbox", "seed"]
