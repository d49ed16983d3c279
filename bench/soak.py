"""Benchmark 4 of issue 7: a soak with restarts and a Telegram outage.

The real bot (``python -m cm_bot run``: polling, the outbox sender, the scheduler tick) runs
as a subprocess against the Bot API emulator in this process, on a SQLite file or a fresh
PostgreSQL schema. For ``--minutes`` (an hour compressed) simulated people use it:

* clients, linked to cases beforehand, arrive over the first 60 % of the run and go through
  consent and screening (PHQ, GAD) by tapping the buttons the bot sent or typing the
  answer; some type nonsense first, some ask for a human, one in ten gives a crisis answer;
* the case manager, bound through a staff invite like a real one, acknowledges every flag
  notice with its button, exits some clients (``/exit``) and gives others a goal
  (``/goal``); the follow-up or check-in the app plans for them is moved to a time inside
  the run (the planner works in days), a third of them inside the outage;
* every ``--restart-every`` seconds the bot is stopped, alternately with SIGTERM and
  SIGKILL, and started again; once, at ``--outage-at``, every Bot API call gets a 502 for
  ``--outage-for`` seconds, and the time the backlog takes to drain afterwards is measured.

The bot's resident memory and open file descriptors (and, on PostgreSQL, its connections in
``pg_stat_activity``) are sampled every ``--sample-every`` seconds, per process life. After
a final drain everything is accounted for: every update the emulator delivered is in the
inbox once and done, every client update got one reply, every message went out once (or is
``unknown`` after a kill, never resent), every answer is stored once, every scheduled
contact due in the run was sent once, every flag was acknowledged. The report is a set of
markdown tables; the exit status is 1 if an accounting check failed.

    .venv/bin/python bench/soak.py --minutes 20 --db sqlite
    .venv/bin/python bench/soak.py --minutes 10 --db postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlmodel import col

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runs from a plain checkout too

from engine_throughput import database, machine  # noqa: E402  (same folder)

from cm_bot.engine.staff import INVITE_TTL  # noqa: E402
from cm_bot.flows import load_flows  # noqa: E402
from cm_bot.flows.schema import (  # noqa: E402
    ChoiceStep,
    QuestionStep,
    ScaleStep,
    TextStep,
    YesNoStep,
)
from cm_bot.storage import SqlStore  # noqa: E402
from cm_bot.storage.admin import add_staff, link_client, new_case  # noqa: E402
from cm_bot.storage.db import transaction  # noqa: E402
from cm_bot.storage.models import (  # noqa: E402
    Flag,
    FlowRun,
    InboundMessage,
    Outbox,
    Response,
    ScheduledContact,
)
from cm_bot.storage.outbox import ACTIVE  # noqa: E402
from cm_bot.testing import FakeBotAPI, SentMessage  # noqa: E402
from cm_bot.testing.bot_process import BotProcess, bot_env  # noqa: E402

FLOWS_DIR = ROOT / "conversations"
INTAKE = ("screening_phq", "screening_gad")
MANAGER = "Soak Manager"
STAFF_USER = 6_099_000_001
FIRST_USER = 6_100_000_000  # ten digits, so a user id in the bot's log is not a coincidence
PII = "soakpii"  # in every free-text answer; must never reach the bot's log
BAD_INPUTS = ("maybe", "42", "idk 🙂", "???")
# A message containing one of these ends what the client was doing: nothing to answer.
TERMINAL = (
    "There is nothing for you to answer right now",  # after intake, check-in, follow-up
    "We will stop the questions here",  # PHQ-9 item 9 crisis message
    "You deserve to be safe",  # follow-up safety message
    "I will not keep any answers from you",  # consent declined
)
INTRO = {
    "followup": "Hi! This is the chat assistant from your case management program.",
    "checkin": "Hi! It is time for a quick check-in.",
}
SKIP, DONE, ACK = "Skip this question", "Done", "Acknowledge"


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- what people see --------------------------------------------------------------------------


def labels(message: SentMessage) -> list[tuple[str, str]]:
    """The message's buttons as (label, callback data)."""
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [(str(b["text"]), str(b.get("callback_data", ""))) for row in rows for b in row]


def terminal(message: SentMessage) -> bool:
    return any(marker in (message.text or "") for marker in TERMINAL)


class Received:
    """Hands each message the emulator accepted to the chat it was for, and wakes that chat."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.cursor = 0
        self.by_chat: dict[int, list[SentMessage]] = defaultdict(list)
        self._events: dict[int, asyncio.Event] = {}

    def event(self, chat_id: int) -> asyncio.Event:
        return self._events.setdefault(chat_id, asyncio.Event())

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await self.api.wait_until(lambda: len(self.api.sent) > self.cursor, timeout=60)
            new = self.api.sent[self.cursor :]
            self.cursor += len(new)
            for message in new:
                self.by_chat[message.chat_id].append(message)
                self.event(message.chat_id).set()


@dataclass(frozen=True)
class Question:
    flow_id: str
    step: QuestionStep


def question_index() -> list[Question]:
    """Every question of the shipped flows, longest text first (PHQ items share a stem)."""
    found = [
        Question(flow.id, step)
        for flow in load_flows(FLOWS_DIR)
        for step in flow.steps
        if isinstance(step, QuestionStep)
    ]
    return sorted(found, key=lambda q: len(q.step.text), reverse=True)


# -- the run's shared state -------------------------------------------------------------------


@dataclass
class Sample:
    at: float  # seconds since the traffic started
    rss_kib: int
    fds: int
    pg_connections: int | None


@dataclass
class Life:
    """One bot process, from start to the signal that ended it."""

    number: int
    pid: int
    started: float
    ready: float | None = None  # first getUpdates after the start
    ended: float | None = None
    ended_by: str = "final SIGTERM"
    exit_code: int | None = None
    stop_seconds: float | None = None
    samples: list[Sample] = field(default_factory=list)


@dataclass
class Person:
    """A simulated client: who they are, how they will answer, and what they did."""

    index: int
    user_id: int
    ref: str
    case_id: int
    client_id: int
    rng: random.Random
    start_at: float
    declines: bool
    positive: bool
    crisis: bool
    bad_budget: int
    asks_human: bool
    chatter_at: float | None
    started: bool = False
    read: int = 0
    answered: set[int] = field(default_factory=set)
    expecting_since: float | None = None  # when the client last did something needing a reply
    awaiting: str | None = None  # "question": only a question or an ending will do; "any"
    answers: int = 0  # answers the bot must have stored (Response rows)
    intake_done: bool = False
    fate: str | None = None
    did: Counter[str] = field(default_factory=Counter)

    @property
    def idle(self) -> bool:
        return self.awaiting is None

    def expect(self, at: float, what: str) -> None:
        self.expecting_since, self.awaiting = at, what


@dataclass
class Contact:
    """A scheduled contact whose due time this run set inside the run."""

    contact_id: int
    person: Person
    kind: str
    due_at: float  # seconds since the traffic started
    due_wall: datetime  # the same, as the row's due_at
    in_outage: bool


@dataclass
class Check:
    name: str
    ok: bool | None  # None: a reading, not a pass/fail check
    detail: str


class Soak:
    """One soak run: the emulator, the bot process, the people, and the measurements."""

    def __init__(
        self, args: argparse.Namespace, api: FakeBotAPI, db: Engine, url: str, workdir: Path
    ) -> None:
        self.args = args
        self.tick = args.tick_seconds
        self.api = api
        self.db = db  # writes (set-up, moving due times): the app's engine
        self.url = url
        self.kind = "sqlite" if url.startswith("sqlite") else "postgres"
        self.reader = self._reader()
        self.duration = args.minutes * 60.0
        self.rng = random.Random(args.seed)
        self.questions = question_index()
        self.received = Received(api)
        self.people: list[Person] = []
        self.contacts: list[Contact] = []
        self.posted: list[int] = []  # every update id posted, clients and staff
        self.lives: list[Life] = []
        self.t0 = 0.0
        self.traffic_over = False
        self.staff_queue: asyncio.Queue[tuple[str, Person]] = asyncio.Queue()
        self.staff_busy = False
        self.staff_acks: set[int] = set()  # notice message ids tapped
        self.staff_acks_pending = 0
        self.staff_did: Counter[str] = Counter()
        self.contact_failures: list[str] = []
        self.outage: dict[str, Any] = {}
        self.drain_seconds: float | None = None
        self.drain_complete = False
        self.app_name = f"cm_soak_{os.getpid()}"
        self.workdir = workdir
        self.log = self.workdir / "bot.log"
        self.bot = BotProcess(self._env(), self.log, cwd=self.workdir)
        self.tasks: list[asyncio.Task[Any]] = []

    # -- set-up ----------------------------------------------------------------------------

    def _reader(self) -> Engine:
        """Reads for the simulation and the report, without taking SQLite's write lock."""
        if self.url.startswith("sqlite"):
            return create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})
        return self.db

    def _env(self) -> dict[str, str]:
        url = self.url
        if self.kind == "postgres":  # so pg_stat_activity can tell the bot's connections apart
            url += f"&application_name={self.app_name}"
        return bot_env(
            self.api,
            url,
            flows_dir=FLOWS_DIR,
            intake_flows=list(INTAKE),
            backend=self.args.backend,
            contact_hours="00:00-00:00",  # start == end: any time of day (the soak runs at night)
            timezone="UTC",
            tick_seconds=str(self.tick),
            poll_timeout=str(self.args.poll_timeout),
        )

    def prepare(self) -> str:
        """Staff, N cases with linked clients, and a staff invite; returns the invite token."""
        staff = add_staff(self.db, MANAGER, "case_manager")
        arrivals = sorted(
            self.rng.uniform(0, 0.6 * self.duration) for _ in range(self.args.clients)
        )
        for index, start_at in enumerate(arrivals):
            case = new_case(self.db, MANAGER)
            user_id = FIRST_USER + index
            client_id = link_client(self.db, case.ref, "telegram", str(user_id), str(user_id))
            rng = random.Random(self.rng.getrandbits(64))
            # Fixed shares, spread over the arrivals: 1 in 20 declines, 1 in 10 a crisis
            # answer, about 4 in 10 a positive PHQ-2 (so PHQ-9 and its flags).
            declines = index % 20 == 13
            crisis = index % 10 == 5
            assert case.id is not None
            self.people.append(
                Person(
                    index=index,
                    user_id=user_id,
                    ref=case.ref,
                    case_id=case.id,
                    client_id=client_id,
                    rng=rng,
                    start_at=start_at,
                    declines=declines,
                    positive=crisis or index % 3 == 0,
                    crisis=crisis,
                    bad_budget=rng.choice((0, 0, 1, 2)),
                    asks_human=rng.random() < 0.05,
                    chatter_at=rng.uniform(start_at, 0.9 * self.duration),
                )
            )
        with SqlStore(self.db).unit() as uow:
            return uow.cases.create_invite(
                "staff", case_id=None, staff_id=staff.id, expires_at=now_utc() + INVITE_TTL
            )

    # -- clock -----------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    async def until(self, moment: float) -> None:
        """Sleep until ``moment`` seconds after the traffic started."""
        await asyncio.sleep(max(0.0, moment - self.elapsed()))

    # -- reads (in a thread: the emulator shares this event loop) ----------------------------

    def _scalar(self, statement: Any) -> int:
        with self.reader.connect() as conn:
            return int(conn.execute(statement).scalar_one() or 0)

    async def scalar(self, statement: Any) -> int:
        return await asyncio.to_thread(self._scalar, statement)

    def chat_work(self, chat_id: int) -> Any:
        """Pending inbound plus unfinished outbox rows of one chat."""
        chat = str(chat_id)
        inbound = (
            select(func.count())
            .select_from(InboundMessage)
            .where(col(InboundMessage.chat_id) == chat, col(InboundMessage.status) == "pending")
            .scalar_subquery()
        )
        outbox = (
            select(func.count())
            .select_from(Outbox)
            .where(col(Outbox.chat_id) == chat, col(Outbox.status).in_(ACTIVE))
            .scalar_subquery()
        )
        return select(inbound + outbox)

    def backlog(self, max_outbox: int | None = None, max_inbound: int | None = None) -> Any:
        """Unfinished outbox rows plus pending inbound rows (optionally only the older ones)."""
        outbox = select(func.count()).select_from(Outbox).where(col(Outbox.status).in_(ACTIVE))
        inbound = (
            select(func.count())
            .select_from(InboundMessage)
            .where(col(InboundMessage.status) == "pending")
        )
        if max_outbox is not None:
            outbox = outbox.where(col(Outbox.id) <= max_outbox)
        if max_inbound is not None:
            inbound = inbound.where(col(InboundMessage.id) <= max_inbound)
        return select(outbox.scalar_subquery() + inbound.scalar_subquery())

    # -- posting -----------------------------------------------------------------------------

    async def say(self, user_id: int, words: str) -> None:
        update = await self.api.post_message(user_id, words)
        self.posted.append(int(update["update_id"]))

    async def press(self, user_id: int, message: SentMessage, label: str) -> None:
        data = next(d for lbl, d in labels(message) if lbl.removeprefix("✓ ") == label)
        update = await self.api.press_button(user_id, message.message_id, data)
        self.posted.append(int(update["update_id"]))

    # -- the bot process ---------------------------------------------------------------------

    async def start_bot(self) -> None:
        polls = self.api.calls["getUpdates"]
        await self.bot.start()
        life = Life(len(self.lives) + 1, self.bot.pid, self.elapsed())
        self.lives.append(life)
        with contextlib.suppress(TimeoutError):
            await self.api.wait_until(
                lambda: self.api.calls["getUpdates"] > polls, timeout=120, what="first poll"
            )
            life.ready = self.elapsed()

    async def stop_bot(self, how: str) -> None:
        life = self.lives[-1]
        started = time.monotonic()
        if how == "SIGKILL":
            await self.bot.kill()
            assert self.bot.process is not None
            life.exit_code = self.bot.process.returncode
        else:
            life.exit_code = await self.bot.stop(grace=30.0)
        life.stop_seconds = time.monotonic() - started
        life.ended = self.elapsed()
        life.ended_by = how

    async def restarts(self) -> None:
        every = self.args.restart_every
        k = 1
        while k * every < self.duration:
            await self.until(k * every)
            how = "SIGTERM" if k % 2 else "SIGKILL"
            await self.stop_bot(how)
            await asyncio.sleep(self.args.restart_gap)
            await self.start_bot()
            k += 1

    async def sampler(self) -> None:
        pg = self.kind == "postgres"
        query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
        while True:
            if self.bot.running and self.lives:
                life = self.lives[-1]
                try:
                    rss, fds = self.bot.rss_kib(), self.bot.open_fds()
                except (OSError, LookupError, AssertionError):
                    rss = fds = -1  # the process ended between the check and the read
                conns = None
                if pg:
                    conns = await self.scalar(query.bindparams(name=self.app_name))
                if rss >= 0 and self.bot.running and self.bot.pid == life.pid:
                    life.samples.append(Sample(round(self.elapsed(), 1), rss, fds, conns))
            await asyncio.sleep(self.args.sample_every)

    # -- the outage --------------------------------------------------------------------------

    async def run_outage(self) -> None:
        start, length = self.args.outage_at, self.args.outage_for
        if length <= 0 or start >= self.duration:
            return
        await self.until(start)
        await self.api.outage(True, mode=self.args.outage_mode)
        self.outage["started"] = self.elapsed()
        await self.until(start + length)
        max_outbox = await self.scalar(select(func.coalesce(func.max(col(Outbox.id)), 0)))
        max_inbound = await self.scalar(select(func.coalesce(func.max(col(InboundMessage.id)), 0)))
        last_update = max(self.posted, default=0)
        backlog_query = self.backlog(max_outbox, max_inbound)
        self.outage["backlog_rows"] = await self.scalar(backlog_query)
        self.outage["queued_updates"] = len(self.api.pending_updates)
        self.outage["http_502"] = sum(1 for f in self.api.faults_fired if f.kind == "outage")
        await self.api.outage(False)
        ended = self.elapsed()
        self.outage["ended"] = ended
        give_up = time.monotonic() + self.args.drain_timeout
        while time.monotonic() < give_up:
            queued = [u for u in self.api.pending_updates if int(u["update_id"]) <= last_update]
            if not queued and await self.scalar(backlog_query) == 0:
                self.outage["drain_seconds"] = self.elapsed() - ended
                return
            await asyncio.sleep(0.5)

    # -- clients -----------------------------------------------------------------------------

    def identify(self, message: SentMessage) -> Question | None:
        words = message.text or ""
        return next((q for q in self.questions if q.step.text in words), None)

    def actionable(self, person: Person) -> SentMessage | None:
        """The newest keyboard the client has not acted on, unless something ended it since."""
        for message in reversed(self.received.by_chat[person.user_id]):
            if terminal(message):
                return None
            if labels(message):
                return None if message.message_id in person.answered else message
        return None

    def choose(self, person: Person, question: Question, shown: list[str]) -> tuple[str, str, int]:
        """(``tap`` or ``type``, what, answers stored): how this client answers this question."""
        rng, step = person.rng, question.step
        key = step.key
        simple = isinstance(step, YesNoStep | ScaleStep) or (
            isinstance(step, ChoiceStep) and not step.multiple
        )
        if simple and question.flow_id != "consent" and person.bad_budget and rng.random() < 0.12:
            person.bad_budget -= 1
            person.did["bad input"] += 1
            return "type", rng.choice(BAD_INPUTS), 0
        if question.flow_id == "consent":
            if key == "consent.contact":
                return "tap", "No" if person.declines else "Yes", 0
            return "tap", "Yes" if key == "consent.store" or rng.random() < 0.7 else "No", 0
        skippable = step.skippable and SKIP in shown and not isinstance(step, TextStep)
        if skippable and rng.random() < 0.08:
            return "tap", SKIP, 1
        if isinstance(step, ChoiceStep):
            options = [o.label for o in step.options]
            if step.multiple:
                if any(label.startswith("✓") for label in shown):
                    return "tap", DONE, 1
                safe = [o.label for o in step.options if o.value != "safety"]
                return "tap", rng.choice(safe), 0
            if key in ("phq2.q1", "phq2.q2"):
                label = options[2] if person.positive else options[rng.choice((0, 1))]
            elif key == "phq9.q9":
                label = options[1] if person.crisis else options[0]
            else:
                label = rng.choice(options)
            return ("type" if rng.random() < 0.15 else "tap"), label, 1
        if isinstance(step, YesNoStep):
            yes = rng.random() < (0.3 if key in ("followup.want_help", "checkin.contact") else 0.7)
            if rng.random() < 0.15:
                return "type", "yes" if yes else "no", 1
            return "tap", "Yes" if yes else "No", 1
        if isinstance(step, ScaleStep):
            return "tap", str(rng.randint(step.min, step.max)), 1
        if isinstance(step, TextStep):
            if step.skippable and rng.random() < 0.4:
                return "tap", SKIP, 1
            return "type", f"{PII} {person.user_id}: the bus pass helped", 1
        return "tap", shown[0], 0

    async def act(self, person: Person, message: SentMessage) -> None:
        shown = [label for label, _ in labels(message)]
        question = self.identify(message)
        person.answered.add(message.message_id)
        person.expect(self.elapsed(), "question")
        if question is None:  # "Welcome back ... continue?" and the like
            person.did["unrecognised prompt"] += 1
            await self.press(
                person.user_id, message, "Continue" if "Continue" in shown else shown[0]
            )
            return
        if person.asks_human and question.flow_id != "consent":
            person.asks_human = False
            person.did["/human"] += 1
            await self.say(person.user_id, "/human")
            return
        how, what, stored = self.choose(person, question, shown)
        person.answers += stored
        if how == "type":
            person.did["typed"] += 1
            await self.say(person.user_id, what)
        else:
            person.did["tapped"] += 1
            await self.press(person.user_id, message, what)

    def heard(self, person: Person, messages: Sequence[SentMessage]) -> None:
        """New messages arrived: the client may stop waiting; intake may be over."""
        if person.awaiting == "any" or any(
            terminal(m) or (labels(m) and m.message_id not in person.answered) for m in messages
        ):
            person.awaiting = person.expecting_since = None
        if person.intake_done or person.declines or person.crisis:
            return
        if any("There is nothing for you to answer" in (m.text or "") for m in messages):
            person.intake_done = True
            if self.elapsed() < 0.8 * self.duration and not self.traffic_over:
                roll = person.rng.random()
                person.fate = "exit" if roll < 0.35 else "goal" if roll < 0.7 else "idle"
                if person.fate != "idle":
                    self.staff_queue.put_nowait((person.fate, person))

    async def stalled(self, person: Person) -> bool:
        """Waiting, with nothing left for the chat anywhere: the reply was lost (``unknown``)."""
        if person.expecting_since is None:
            return False
        if self.elapsed() - person.expecting_since < self.args.stall_after:
            return False
        if not self.bot.running or any(
            int((u.get("message") or u.get("callback_query") or {}).get("from", {}).get("id", 0))
            == person.user_id
            for u in self.api.pending_updates
        ):
            return False
        return await self.scalar(self.chat_work(person.user_id)) == 0

    async def live(self, person: Person) -> None:
        await self.until(person.start_at)
        person.started = True
        person.expect(self.elapsed(), "question")
        await self.say(person.user_id, "/start")
        event = self.received.event(person.user_id)
        mine = self.received.by_chat[person.user_id]
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=5)
            event.clear()
            if len(mine) > person.read:
                fresh = mine[person.read :]
                person.read = len(mine)
                self.heard(person, fresh)
            target = self.actionable(person)
            if target is not None:
                await asyncio.sleep(person.rng.uniform(0.3, 2.5))  # reading, thumbs
                if self.actionable(person) is target:
                    await self.act(person, target)
            elif await self.stalled(person):
                person.did["nudge (/help)"] += 1
                person.expect(self.elapsed(), "any")
                await self.say(person.user_id, "/help")
            elif (
                person.idle
                and person.fate == "idle"
                and person.chatter_at is not None
                and self.elapsed() >= person.chatter_at
                and not self.traffic_over
            ):
                person.chatter_at = None
                command = person.rng.choice(("/help", "/mydata"))
                person.did[command] += 1
                person.expect(self.elapsed(), "any")
                await self.say(person.user_id, command)

    # -- the case manager --------------------------------------------------------------------

    async def bind_staff(self, token: str) -> None:
        await self.say(STAFF_USER, f"/start {token}")
        await self.api.wait_until(
            lambda: any("Welcome" in (m.text or "") for m in self.received.by_chat[STAFF_USER]),
            timeout=120,
            what="the staff invite",
        )

    async def staff_notices(self) -> None:
        """Tap Acknowledge on every flag notice (and on /flags listings), a moment after it came."""
        event = self.received.event(STAFF_USER)
        seen = 0
        mine = self.received.by_chat[STAFF_USER]
        while True:
            await event.wait()
            event.clear()
            fresh, seen = mine[seen:], len(mine)
            for message in fresh:
                if any(label == ACK for label, _ in labels(message)):
                    self.staff_acks_pending += 1
                    await asyncio.sleep(self.rng.uniform(0.5, 3.0))
                    self.staff_acks_pending -= 1
                    self.staff_acks.add(message.message_id)
                    self.staff_did["acknowledge"] += 1
                    await self.press(STAFF_USER, message, ACK)

    async def staff_reply(self, phrase: str, since: int) -> bool:
        """Wait until a message to the staff chat after the first ``since`` contains ``phrase``."""
        try:
            await self.api.wait_until(
                lambda: any(
                    phrase in (m.text or "") for m in self.received.by_chat[STAFF_USER][since:]
                ),
                timeout=max(180.0, self.args.outage_for + 120),
                what="a staff reply",
            )
        except TimeoutError:
            return False
        return True

    async def staff_commands(self) -> None:
        """Exit clients and add goals, then move the contact the app planned into the run."""
        while True:
            fate, person = await self.staff_queue.get()
            self.staff_busy = True
            try:
                since = len(self.received.by_chat[STAFF_USER])
                if fate == "exit":
                    self.staff_did["/exit"] += 1
                    await self.say(STAFF_USER, f"/exit {person.ref}")
                    ok = await self.staff_reply(f"{person.ref} exited", since)
                else:
                    self.staff_did["/goal"] += 1
                    await self.say(STAFF_USER, f"/goal {person.ref} Find steady work")
                    ok = await self.staff_reply(f"added to {person.ref}", since)
                if not ok:
                    self.contact_failures.append(f"{person.ref}: no reply to /{fate}")
                    continue
                await self.schedule_contact(person, "followup" if fate == "exit" else "checkin")
            finally:
                self.staff_busy = False

    async def staff_flags_sweep(self) -> None:
        """At the end, like a manager before going home: /flags, acknowledge what is listed."""
        since = len(self.received.by_chat[STAFF_USER])
        self.staff_did["/flags"] += 1
        await self.say(STAFF_USER, "/flags")
        await self.staff_reply("flag", since)  # a listing, or "No open flags."

    # -- scheduled contacts ----------------------------------------------------------------

    def _pending_contact(self, case_id: int, kind: str) -> int | None:
        with self.reader.connect() as conn:
            found = conn.execute(
                select(col(ScheduledContact.id))
                .where(
                    col(ScheduledContact.case_id) == case_id,
                    col(ScheduledContact.kind) == kind,
                    col(ScheduledContact.status) == "pending",
                )
                .order_by(col(ScheduledContact.due_at))
                .limit(1)
            ).scalar()
        return None if found is None else int(found)

    def _move_due(self, contact_id: int, due: datetime) -> int:
        with transaction(self.db) as session:
            result = session.execute(
                update(ScheduledContact)
                .where(
                    col(ScheduledContact.id) == contact_id,
                    col(ScheduledContact.status) == "pending",
                )
                .values(due_at=due)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def pick_due(self, rng: random.Random) -> tuple[float, bool]:
        """A due time (s since start) spread over the rest of the run; a third in the outage."""
        now = self.elapsed()
        start, length = self.args.outage_at, self.args.outage_for
        if length > 2 and start > now + 3 and rng.random() < 0.35:
            return rng.uniform(start + 1, start + length - 1), True
        latest = max(now + 5, 0.9 * self.duration)
        return rng.uniform(now + 5, latest), False

    async def schedule_contact(self, person: Person, kind: str) -> None:
        """The planner made the row (30 days out, or a week for a check-in): make it due now-ish."""
        contact_id = None
        deadline = time.monotonic() + max(120.0, 4 * self.tick + self.args.outage_for)
        while contact_id is None and time.monotonic() < deadline:
            contact_id = await asyncio.to_thread(self._pending_contact, person.case_id, kind)
            if contact_id is None:
                await asyncio.sleep(1.0)  # a check-in is planned by the next scheduler tick
        if contact_id is None:
            self.contact_failures.append(f"{person.ref}: no {kind} planned")
            return
        at, in_outage = self.pick_due(person.rng)
        due = now_utc() + timedelta(seconds=at - self.elapsed())
        if await asyncio.to_thread(self._move_due, contact_id, due) != 1:
            self.contact_failures.append(f"{person.ref}: {kind} {contact_id} not pending")
            return
        self.contacts.append(Contact(contact_id, person, kind, at, due, in_outage))

    # -- progress and the end -------------------------------------------------------------

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(30)
            life = self.lives[-1] if self.lives else None
            last = life.samples[-1] if life and life.samples else None
            print(
                f"  t={self.elapsed():6.0f}s life {life.number if life else '-'} "
                f"updates {len(self.posted)} sent {len(self.api.sent)} "
                f"queued {len(self.api.pending_updates)} "
                f"rss {last.rss_kib if last else '-'} kB fds {last.fds if last else '-'} "
                f"contacts {len(self.contacts)} load {os.getloadavg()[0]:.2f}",
                flush=True,
            )

    async def quiet(self) -> bool:
        """Nothing left anywhere: people idle, staff idle, queues and outbox empty."""
        if any(p.started and (not p.idle or self.actionable(p)) for p in self.people):
            return False
        if any(not p.started for p in self.people):
            return False
        if self.staff_busy or not self.staff_queue.empty() or self.staff_acks_pending:
            return False
        if self.api.pending_updates or not self.bot.running:
            return False
        ids = [c.contact_id for c in self.contacts]
        if ids:
            due_left = select(func.count()).where(
                col(ScheduledContact.id).in_(ids), col(ScheduledContact.status) == "pending"
            )
            if await self.scalar(due_left):
                return False
        return await self.scalar(self.backlog()) == 0

    async def drain(self) -> None:
        """After the run: wait until all is quiet (twice in a row), then the staff's /flags."""
        started = time.monotonic()
        deadline = started + self.args.drain_timeout
        for sweep in (False, True):
            if sweep:
                await self.staff_flags_sweep()
            calm = 0
            while calm < 2 and time.monotonic() < deadline:
                calm = calm + 1 if await self.quiet() else 0
                await asyncio.sleep(1.0)
            if calm < 2:
                return
        self.drain_complete = True
        self.drain_seconds = time.monotonic() - started

    async def run(self) -> None:
        token = await asyncio.to_thread(self.prepare)
        self.tasks.append(asyncio.create_task(self.received.run()))
        await self.start_bot()
        self.t0 = time.monotonic()
        self.lives[-1].started = 0.0
        self.lives[-1].ready = 0.0
        self.tasks += [
            asyncio.create_task(self.sampler()),
            asyncio.create_task(self.staff_notices()),
            asyncio.create_task(self.progress()),
        ]
        await self.bind_staff(token)
        self.tasks.append(asyncio.create_task(self.staff_commands()))
        self.tasks += [asyncio.create_task(self.live(p)) for p in self.people]
        timeline = [
            asyncio.create_task(self.restarts()),
            asyncio.create_task(self.run_outage()),
        ]
        await self.until(self.duration)
        self.traffic_over = True
        print(f"  t={self.elapsed():.0f}s traffic over; draining ...", flush=True)
        await asyncio.gather(*timeline)
        await self.drain()
        await asyncio.sleep(self.args.sample_every + 0.5)  # a last sample of the drained bot
        await self.stop_bot("final SIGTERM")
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# -- accounting -------------------------------------------------------------------------------


def rows(reader: Engine, *columns: Any) -> list[Any]:
    with reader.connect() as conn:
        return list(conn.execute(select(*columns)).all())


def account(soak: Soak) -> list[Check]:
    reader, api = soak.reader, soak.api
    checks: list[Check] = []
    people = {str(p.user_id): p for p in soak.people}

    # 1. The inbox: every update delivered is there once, and handled.
    inbound = rows(
        reader,
        col(InboundMessage.id),
        col(InboundMessage.external_id),
        col(InboundMessage.chat_id),
        col(InboundMessage.status),
        col(InboundMessage.attempts),
    )
    by_update: Counter[int] = Counter()
    for _id, external, _chat, _status, _attempts in inbound:
        head = str(external).split(":", 1)[0]
        if head.isdigit():
            by_update[int(head)] += 1
    posted = set(soak.posted)
    missing = posted - set(by_update)
    twice = [u for u in posted if by_update[u] > 1]
    statuses = Counter(str(r[3]) for r in inbound)
    retried = sum(1 for r in inbound if int(r[4] or 0) > 1)
    checks.append(
        Check(
            "Every update delivered is in the inbox once, handled",
            not missing
            and not twice
            and not api.pending_updates
            and statuses["pending"] == 0
            and statuses["dead"] == 0,
            f"{len(posted)} posted, {len(missing)} missing, {len(twice)} twice, "
            f"{len(api.pending_updates)} left at the emulator; inbox {dict(statuses)}; "
            f"{retried} handled after more than one attempt",
        )
    )

    # 2. One reply per client update: at least one message, at most one question.
    outbox = rows(
        reader,
        col(Outbox.id),
        col(Outbox.chat_id),
        col(Outbox.inbound_id),
        col(Outbox.text),
        col(Outbox.buttons),
        col(Outbox.status),
        col(Outbox.external_message_id),
        col(Outbox.edit_of),
        col(Outbox.flag_id),
    )
    replies: dict[int, list[Any]] = defaultdict(list)
    for row in outbox:
        if row[2] is not None:
            replies[int(row[2])].append(row)
    client_inbound = [r for r in inbound if str(r[2]) in people]

    def to_sender(row: Any) -> list[Any]:  # flag notices to staff carry the client's inbound id
        return [o for o in replies.get(int(row[0]), []) if str(o[1]) == str(row[2])]

    silent = [r[0] for r in client_inbound if not to_sender(r)]
    double = [r[0] for r in client_inbound if sum(1 for o in to_sender(r) if o[4]) > 1]
    checks.append(
        Check(
            "Every client update got one reply (no silence, no second question)",
            not silent and not double,
            f"{len(client_inbound)} client updates; {len(silent)} without a reply, "
            f"{len(double)} with two or more questions"
            + (f" (inbound ids {silent[:5]} / {double[:5]})" if silent or double else ""),
        )
    )

    # 3. Messages: each outbox row went out once; nothing went out without a row.
    delivered = {(m.chat_id, m.message_id): m for m in api.sent}
    edited = {(m.chat_id, m.message_id) for m in api.edits}
    claimed: Counter[tuple[int, int]] = Counter()
    sent_ext = {int(r[0]): str(r[6]) for r in outbox if r[6]}
    never = []
    for row in outbox:
        outbox_id, chat, status, ext, edit_of = int(row[0]), int(row[1]), row[5], row[6], row[7]
        if status != "sent" or not ext:
            continue
        keys = [(chat, int(part)) for part in str(ext).split(",")]
        if edit_of is not None and sent_ext.get(int(edit_of)) == ext:
            if not all(k in edited for k in keys):
                never.append(outbox_id)
            continue  # an edit of a message already counted
        for key in keys:
            claimed[key] += 1
            if key not in delivered:
                never.append(outbox_id)
    orphans = [m for key, m in delivered.items() if key not in claimed]
    unknown = [r for r in outbox if r[5] == "unknown"]
    unknown_texts = Counter((int(r[1]), str(r[3])) for r in unknown)
    unexplained, unknown_delivered = [], 0
    for message in orphans:
        key2 = (message.chat_id, message.text or "")
        if unknown_texts[key2] > 0:
            unknown_texts[key2] -= 1
            unknown_delivered += 1
        else:
            unexplained.append(message)
    out_status = Counter(str(r[5]) for r in outbox)
    active = sum(out_status[s] for s in ACTIVE)
    dupes = [k for k, n in claimed.items() if n > 1]
    checks.append(
        Check(
            "Every message went out once (or is `unknown`, never resent)",
            not dupes
            and not never
            and not unexplained
            and active == 0
            and out_status["failed"] == 0,
            f"outbox {dict(out_status)}; {len(api.sent)} sendMessage accepted, "
            f"{len(api.edits)} edits; {len(dupes)} twice, {len(never)} marked sent but not "
            f"delivered, {len(unexplained)} delivered without a row",
        )
    )
    checks.append(
        Check(
            "`unknown` after a kill (sent, answer lost): delivered / not delivered",
            None,
            f"{unknown_delivered} / {len(unknown) - unknown_delivered} "
            "(by design never resent: research F-03)",
        )
    )

    # 4. Answers: every answer given is stored once.
    responses = rows(reader, col(Response.client_id), col(Response.run_id), col(Response.key))
    stored: Counter[int] = Counter(int(r[0]) for r in responses)
    per_step = Counter((int(r[1]), str(r[2])) for r in responses)
    repeated = sum(1 for n in per_step.values() if n > 1)
    wrong = [p for p in soak.people if stored[p.client_id] != p.answers]
    checks.append(
        Check(
            "Every answer given is stored once",
            not wrong and repeated == 0,
            f"{sum(p.answers for p in soak.people)} answers given, {len(responses)} stored; "
            f"{len(wrong)} clients differ"
            + (
                " ("
                + ", ".join(f"{p.ref}: {p.answers} vs {stored[p.client_id]}" for p in wrong[:5])
                + ")"
                if wrong
                else ""
            )
            + f"; {repeated} steps answered twice in one run",
        )
    )

    # 5. Scheduled contacts due in the run: sent once, one run each, first line seen once.
    contacts = {
        int(r[0]): r
        for r in rows(
            reader,
            col(ScheduledContact.id),
            col(ScheduledContact.status),
            col(ScheduledContact.attempts),
            col(ScheduledContact.sent_at),
            col(ScheduledContact.due_at),
        )
    }
    runs: Counter[int] = Counter(
        int(r[0]) for r in rows(reader, col(FlowRun.scheduled_contact_id)) if r[0] is not None
    )
    problems: list[str] = []
    late: list[float] = []  # dispatched (the flow started) after the due time
    seen_late: list[float] = []  # its first line reached the phone after the due time
    seen_late_outage: list[float] = []
    for contact in soak.contacts:
        row = contacts[contact.contact_id]
        intros = [
            m
            for m in soak.received.by_chat[contact.person.user_id]
            if (m.text or "").startswith(INTRO[contact.kind])
        ]
        if row[1] not in ("sent", "answered") or row[2] != 1 or runs[contact.contact_id] != 1:
            problems.append(
                f"{contact.contact_id}: {row[1]}, {row[2]} sends, {runs[contact.contact_id]} runs"
            )
        elif len(intros) != 1:
            problems.append(f"{contact.contact_id}: first line seen {len(intros)}×")
        if row[3] is not None:  # (row[4], due_at, is the reminder's time by now)
            sent_at = row[3] if row[3].tzinfo else row[3].replace(tzinfo=UTC)
            late.append((sent_at - contact.due_wall).total_seconds())
        if intros:  # the emulator's clock is time.monotonic, like the run's
            delay = intros[0].time - (soak.t0 + contact.due_at)
            (seen_late_outage if contact.in_outage else seen_late).append(delay)
    ours = {c.contact_id for c in soak.contacts}
    stray = [cid for cid, r in contacts.items() if r[3] is not None and cid not in ours]
    kinds = Counter(c.kind for c in soak.contacts)

    def spread(values: list[float]) -> str:
        if not values:
            return "–"
        return f"p50 {statistics.median(values):.1f} s, max {max(values):.1f} s"

    checks.append(
        Check(
            "Every scheduled contact due in the run was sent once",
            not problems and not stray and not soak.contact_failures,
            f"{len(soak.contacts)} due ({dict(kinds)}; {sum(c.in_outage for c in soak.contacts)} "
            f"during the outage); {len(problems)} wrong, {len(stray)} sent that were not due, "
            f"{len(soak.contact_failures)} not scheduled"
            + (
                f" ({problems[:3]} {soak.contact_failures[:3]})"
                if problems or soak.contact_failures
                else ""
            )
            + f"; started after due {spread(late)}; first line on the phone after due "
            f"{spread(seen_late)} ({spread(seen_late_outage)} for those due in the outage)",
        )
    )

    # 6. Flags: every one acknowledged; how many from their notice.
    flags = rows(reader, col(Flag.id), col(Flag.severity), col(Flag.status))
    by_severity = Counter(str(r[1]) for r in flags)
    unacked = [r[0] for r in flags if r[2] == "open"]
    notices = sum(1 for r in outbox if r[8] is not None and r[7] is None)
    checks.append(
        Check(
            "Every flag reached the case manager and was acknowledged",
            not unacked,
            f"{len(flags)} flags {dict(by_severity)}, {notices} notices; "
            f"{soak.staff_did['acknowledge']} taps on Acknowledge; {len(unacked)} still open",
        )
    )

    # 7. Restarts: SIGTERM stops cleanly, every start gets back to polling.
    terms = [life for life in soak.lives if life.ended_by.endswith("SIGTERM")]
    unclean = [life.number for life in terms if life.exit_code != 0]
    not_ready = [life.number for life in soak.lives if life.ready is None]
    checks.append(
        Check(
            "SIGTERM stops cleanly; every start gets back to polling",
            not unclean and not not_ready,
            f"{len(terms)} SIGTERM (exit codes {sorted({str(life.exit_code) for life in terms})}, "
            f"max {max((life.stop_seconds or 0 for life in terms), default=0):.1f} s), "
            f"{sum(1 for life in soak.lives if life.ended_by == 'SIGKILL')} SIGKILL; "
            f"{len(not_ready)} starts never polled",
        )
    )

    # 8. The log: no client words, no user ids.
    log = soak.log.read_text(errors="replace")
    leaks = log.count(PII) + sum(log.count(str(p.user_id)) for p in soak.people)
    levels = Counter(
        word for line in log.splitlines() for word in ("ERROR", "WARNING") if f" {word} " in line
    )
    minutes = max(soak.elapsed(), 1) / 60
    checks.append(
        Check(
            "Bot log carries no client text or user ids",
            leaks == 0,
            f"{leaks} leaks; {len(log.encode()) / 1024 / minutes:.1f} KiB/min; "
            f"{levels['ERROR']} ERROR, {levels['WARNING']} WARNING lines",
        )
    )
    return checks


# -- resources --------------------------------------------------------------------------------


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope per minute of (seconds, value) points."""
    if len(points) < 3:
        return None
    xs = [p[0] / 60 for p in points]
    ys = [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var


def settled(life: Life, warmup: float) -> list[Sample]:
    """Samples from ``warmup`` s after the first poll (first connections, caches filling)."""
    since = life.ready if life.ready is not None else life.started
    return [s for s in life.samples if s.at - since >= warmup]


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def life_table(soak: Soak) -> str:
    """Per process life: RSS and FDs after the warm-up, at the end, and their trend."""
    pg = soak.kind == "postgres"
    lines = [
        "| Life | Ended by | Length s | Up after s | RSS after warm-up kB | RSS end kB "
        "| RSS peak kB | RSS slope kB/min | 2nd half kB/min | FDs after warm-up | FDs end "
        "| FDs max | FD slope /min |" + (" DB conns min-max |" if pg else ""),
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        + ("---:|" if pg else ""),
    ]
    for life in soak.lives:
        after = settled(life, soak.args.warmup)
        if not after:
            continue
        length = (life.ended if life.ended is not None else soak.elapsed()) - life.started
        up = "–" if life.ready is None or life.number == 1 else f"{life.ready - life.started:.1f}"
        cells = [
            str(life.number),
            life.ended_by,
            f"{length:.0f}",
            up,
            str(after[0].rss_kib),
            str(after[-1].rss_kib),
            str(max(s.rss_kib for s in life.samples)),
            fmt(slope([(s.at, s.rss_kib) for s in after])),
            fmt(slope([(s.at, s.rss_kib) for s in after[len(after) // 2 :]])),
            str(after[0].fds),
            str(after[-1].fds),
            str(max(s.fds for s in after)),
            fmt(slope([(s.at, s.fds) for s in after]), 2),
        ]
        if pg:
            conns = [s.pg_connections or 0 for s in after]
            cells.append(f"{min(conns)}-{max(conns)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def resource_summary(soak: Soak) -> dict[str, str]:
    """RSS and FDs over the whole run: first and last settled values, slopes per life."""
    lives = [(life, settled(life, soak.args.warmup)) for life in soak.lives]
    lives = [(life, after) for life, after in lives if len(after) >= 3]
    if not lives:
        return {"rss": "–", "fds": "–"}
    rss = [slope([(s.at, s.rss_kib) for s in after]) or 0.0 for _, after in lives]
    fds = [slope([(s.at, s.fds) for s in after]) or 0.0 for _, after in lives]
    first, last = lives[0][1][0], lives[-1][1][-1]
    ends = ", ".join(f"{after[-1].rss_kib / 1024:.0f}" for _, after in lives)
    return {
        "rss": (
            f"{first.rss_kib} / {last.rss_kib} kB; slope per life median "
            f"{fmt(statistics.median(rss))} kB/min (range {fmt(min(rss))} to {fmt(max(rss))}); "
            f"at the end of each life {ends} MiB"
        ),
        "fds": (
            f"{first.fds} / {last.fds}; slope per life median "
            f"{fmt(statistics.median(fds), 2)}/min; "
            f"max in any life {max(max(s.fds for s in after) for _, after in lives)}"
        ),
    }


def report(soak: Soak, checks: list[Check], load_start: str) -> str:
    args, api = soak.args, soak.api
    people = soak.people
    did: Counter[str] = Counter()
    for person in people:
        did.update(person.did)
    kills = sum(1 for life in soak.lives if life.ended_by == "SIGKILL")
    terms = sum(1 for life in soak.lives if life.ended_by == "SIGTERM")
    ready = [life.ready - life.started for life in soak.lives[1:] if life.ready is not None]
    resources = resource_summary(soak)
    outage = soak.outage
    drain = outage.get("drain_seconds")
    rows_ = [
        ("Database / backend", f"{soak.kind} / {args.backend}"),
        (
            "Duration",
            f"{args.minutes:g} min of traffic + {soak.drain_seconds or 0:.0f} s final drain"
            + ("" if soak.drain_complete else " (DRAIN TIMED OUT)"),
        ),
        (
            "Clients",
            f"{len(people)}: {sum(p.intake_done for p in people)} finished intake, "
            f"{sum(p.declines for p in people)} declined consent, {sum(p.crisis for p in people)} "
            f"crisis answers, {sum(p.fate == 'exit' for p in people)} exited, "
            f"{sum(p.fate == 'goal' for p in people)} given a goal",
        ),
        (
            "Updates posted",
            f"{len(soak.posted)} ({did['tapped']} taps, {did['typed']} typed answers, "
            f"{did['bad input']} bad inputs, {did['/human']} /human, "
            f"{did['/help'] + did['/mydata']} idle commands, {did['nudge (/help)']} nudges after a "
            f"lost reply, {did['unrecognised prompt']} taps on a prompt no flow step matches; "
            f"staff {sum(soak.staff_did.values())}: {dict(soak.staff_did)})",
        ),
        (
            "Messages sent",
            f"{len(api.sent)} sendMessage + {len(api.edits)} edits accepted; "
            f"{api.rejected_429} answered 429 by the emulator's flood limits",
        ),
        (
            "Restarts",
            f"{kills + terms} ({kills} SIGKILL, {terms} SIGTERM) every {args.restart_every:g} s; "
            f"back to polling in {fmt(statistics.median(ready) if ready else None)} s (median)",
        ),
        (
            "Outage",
            f"{args.outage_for:g} s of {args.outage_mode} 502 at t={args.outage_at:g} s; "
            f"{outage.get('http_502', 0)} calls refused; backlog at its end "
            f"{outage.get('backlog_rows', '–')} rows + {outage.get('queued_updates', '–')} "
            "queued updates",
        ),
        ("Backlog drained after the outage", "–" if drain is None else f"{drain:.1f} s"),
        ("RSS start / end", resources["rss"]),
        ("FDs start / end", resources["fds"]),
    ]
    if soak.kind == "postgres":
        conns = [s.pg_connections or 0 for life in soak.lives for s in life.samples]
        rows_.append(("DB connections (bot)", f"{min(conns, default=0)}-{max(conns, default=0)}"))
    lines = [
        f"Machine: {machine()}",
        f"Load average at the start: {load_start}",
        "",
        "| Measure | Value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows_),
        "",
        life_table(soak),
        "",
        "| Check | Result | Detail |",
        "|---|---|---|",
        *(
            f"| {c.name} | {'–' if c.ok is None else 'PASS' if c.ok else 'FAIL'} | {c.detail} |"
            for c in checks
        ),
    ]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def options(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="traffic time (default 60)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--backend", choices=("aiogram", "ptb"), default="aiogram")
    parser.add_argument("--clients", type=int, help="default: 5 per minute of run, at least 10")
    parser.add_argument("--restart-every", type=float, help="seconds; default: a sixth of the run")
    parser.add_argument("--restart-gap", type=float, default=1.0, help="seconds down per restart")
    parser.add_argument("--outage-at", type=float, help="seconds; default: 45 %% into the run")
    parser.add_argument("--outage-for", type=float, help="seconds; default: 2 min per hour")
    parser.add_argument("--outage-mode", choices=("json", "html", "refuse"), default="json")
    parser.add_argument("--sample-every", type=float, help="seconds; default 5 (2 if short)")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds left out of slopes")
    parser.add_argument("--tick-seconds", type=float, default=5.0, help="scheduler tick")
    parser.add_argument("--poll-timeout", type=int, default=25, help="getUpdates long poll")
    parser.add_argument("--stall-after", type=float, default=20.0, help="nudge after (s)")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write samples and checks here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (log, SQLite)")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    if args.clients is None:
        args.clients = max(10, round(5 * args.minutes))
    if args.restart_every is None:
        args.restart_every = max(20.0, seconds / 6)
    if args.outage_at is None:
        args.outage_at = 0.45 * seconds
    if args.outage_for is None:
        args.outage_for = max(10.0, seconds / 30)
    if args.sample_every is None:
        args.sample_every = 5.0 if seconds >= 900 else 2.0
    return args


async def main_async(args: argparse.Namespace, db: Engine, url: str, workdir: Path) -> int:
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    async with FakeBotAPI(enforce_limits=True) as api:
        soak = Soak(args, api, db, url, workdir)
        print(
            f"Soak: {args.minutes:g} min on {soak.kind}, {args.clients} clients, restart every "
            f"{args.restart_every:g} s, outage {args.outage_for:g} s at {args.outage_at:g} s; "
            f"work dir {soak.workdir}",
            flush=True,
        )
        try:
            await soak.run()
        except BaseException:
            with contextlib.suppress(Exception):
                await soak.bot.stop()
            print(soak.bot.output()[-3000:], file=sys.stderr)
            raise
        checks = account(soak)
        print()
        print(report(soak, checks, load_start))
        print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "lives": [asdict(life) for life in soak.lives],
                        "outage": soak.outage,
                        "checks": [asdict(c) for c in checks],
                    },
                    indent=1,
                    default=str,
                )
            )
        if soak.reader is not soak.db:
            soak.reader.dispose()
        return 0 if all(c.ok is not False for c in checks) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = options(argv)
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    workdir = Path(tempfile.mkdtemp(prefix="cm-soak-"))
    try:
        with database(args.db, workdir) as got:  # a SQLite file there, or a fresh PG schema
            if got is None:
                return 2
            db, url = got
            return asyncio.run(main_async(args, db, url, workdir))
    finally:
        if args.keep:
            print(f"kept {workdir} (the bot's log; the SQLite file)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
