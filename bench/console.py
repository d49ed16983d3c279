"""The web console's case pages under a real caseload (issue 16).

One case manager with 200 cases and 20,000 answers on a SQLite file (as shipped: WAL,
``BEGIN IMMEDIATE``, durable commits), made by the migrations and bulk-inserted in the
shape the bot writes them: each case's client consented (a consent run and record) and
did ten PHQ-9 screenings (ten runs of ten answers, each answer an inbox row, each run a
score); one case in four has an open flag, every case a goal, two notes and a check-in
(one answered, one pending). The console is signed in through a one-use link, as a person
would, and then timed in-process over the ASGI transport (``httpx.ASGITransport``): the
whole request, from the client's call to the last byte of the page, with the session
lookup, the page's queries, its audit row and its commit. Requests are sequential.

Rows: ``GET /cases`` (the whole caseload: 200 rows with their columns),
``GET /cases/{ref}`` (one case's page: 100 answers on its timeline, the PHQ-9 chart),
and a bare FastAPI page returning "hello" from the same kind of sync route, measured in
the same run, as the floor of the framework and transport.

    .venv/bin/python bench/console.py [--requests 50] [--cases 200] [--answers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runs from a plain checkout too

import httpx  # noqa: E402
from engine_throughput import machine  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from cm_bot.bootstrap import App, build_app  # noqa: E402
from cm_bot.domain.time import ManualClock  # noqa: E402
from cm_bot.flows.schema import ChoiceStep  # noqa: E402
from cm_bot.settings import Settings  # noqa: E402
from cm_bot.storage.console_sessions import issue_link  # noqa: E402
from cm_bot.storage.models import (  # noqa: E402
    Case,
    CaseNote,
    ChannelIdentity,
    Client,
    ConsentRecord,
    Flag,
    FlowRun,
    Goal,
    InboundMessage,
    Response,
    ScheduledContact,
    ScoreResult,
    Staff,
)
from cm_bot.web.app import create_app  # noqa: E402

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CHUNK = 2000


def _insert(app: App, model: Any, rows: list[dict[str, Any]]) -> None:
    with app.db.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(model), rows[start : start + CHUNK])


def seed(app: App, cases: int, answers: int) -> list[str]:
    """``cases`` cases of one case manager with ``answers`` answers each; returns the refs."""
    rng = random.Random(16)
    flow = app.flows.get("screening_phq")
    steps = [s for s in flow.steps if isinstance(s, ChoiceStep) and s.key.startswith("phq")]
    questions = [(s.id, s.key, s.text) for s in steps]
    screenings = max(answers // 10, 1)
    _insert(app, Staff, [{"id": 1, "name": "Maria", "role": "case_manager", "active": True}])
    refs = [f"C-{n:04d}" for n in range(1, cases + 1)]
    rows: dict[Any, list[dict[str, Any]]] = {m: [] for m in (Client, ChannelIdentity, Case)}
    more: dict[Any, list[dict[str, Any]]] = {
        m: []
        for m in (
            FlowRun,
            ConsentRecord,
            InboundMessage,
            Response,
            ScoreResult,
            Flag,
            Goal,
            CaseNote,
            ScheduledContact,
        )
    }
    run_id = inbound_id = 0
    for n, ref in enumerate(refs, 1):
        opened = NOW - timedelta(days=200 - n % 60)
        rows[Client].append({"id": n, "locale": "en", "status": "active", "created_at": opened})
        rows[ChannelIdentity].append(
            {
                "id": n,
                "client_id": n,
                "channel": "telegram",
                "external_user_id": str(7_000_000 + n),
                "chat_id": str(7_000_000 + n),
                "created_at": opened,
            }
        )
        rows[Case].append(
            {
                "id": n,
                "ref": ref,
                "client_id": n,
                "manager_id": 1,
                "status": "active",
                "opened_at": opened,
            }
        )
        run_id += 1
        more[FlowRun].append(_run(run_id, n, "consent", opened))
        more[ConsentRecord].append(
            {
                "client_id": n,
                "case_id": n,
                "action": "granted",
                "flow_id": "consent",
                "version": 2,
                "text_sha256": "0" * 64,
                "locale": "en",
                "decisions": {"contact": True, "store": True},
                "recorded_at": opened,
            }
        )
        for screening in range(screenings):
            at = opened + timedelta(days=14 * screening)
            run_id += 1
            more[FlowRun].append(_run(run_id, n, "screening_phq", at))
            values = [rng.randint(0, 3) for _q in range(10)]
            for item, value in enumerate(values):
                step_id, key, text = questions[item % len(questions)]
                inbound_id += 1
                moment = at + timedelta(minutes=item)
                more[InboundMessage].append(
                    {
                        "id": inbound_id,
                        "channel": "telegram",
                        "external_id": f"u{inbound_id}",
                        "external_user_id": str(7_000_000 + n),
                        "chat_id": str(7_000_000 + n),
                        "kind": "button",
                        "client_id": n,
                        "status": "done",
                        "received_at": moment,
                        "handled_at": moment,
                    }
                )
                more[Response].append(
                    {
                        "case_id": n,
                        "client_id": n,
                        "run_id": run_id,
                        "flow_id": "screening_phq",
                        "flow_version": flow.version,
                        "step_id": step_id,
                        "key": key,
                        "value": value,
                        "question": text,
                        "locale": "en",
                        "inbound_id": inbound_id,
                        "answered_at": moment,
                    }
                )
            total = sum(values[:9])
            band = next(b for lower, b in reversed(PHQ9_BANDS) if total >= lower)
            more[ScoreResult].append(
                {
                    "case_id": n,
                    "client_id": n,
                    "run_id": run_id,
                    "flow_id": "screening_phq",
                    "score_id": "phq9",
                    "instrument": "phq9",
                    "value": total,
                    "band": band,
                    "result": {"instrument": "phq9", "score": total, "positive": total >= 10},
                    "computed_at": at + timedelta(minutes=10),
                }
            )
        if n % 4 == 0:
            more[Flag].append(
                {
                    "case_id": n,
                    "client_id": n,
                    "severity": ("urgent", "high", "routine")[n % 3],
                    "reason": "Said they do not feel safe at home",
                    "rule_id": "intake.unsafe",
                    "dedupe_key": f"bench:{n}",
                    "status": "open",
                    "created_at": NOW - timedelta(hours=n),
                }
            )
        more[Goal].append(
            {
                "id": n,
                "case_id": n,
                "text": "Find stable housing",
                "cadence": "weekly",
                "status": "active",
                "created_at": opened,
            }
        )
        for note in range(2):
            more[CaseNote].append(
                {
                    "case_id": n,
                    "staff_id": 1,
                    "text": f"Called the client ({note + 1}).",
                    "created_at": opened + timedelta(days=note),
                }
            )
        for status, due in (
            ("answered", NOW - timedelta(days=7)),
            ("pending", NOW + timedelta(days=n % 7)),
        ):
            more[ScheduledContact].append(
                {
                    "case_id": n,
                    "client_id": n,
                    "flow_id": "goal_checkin",
                    "kind": "checkin",
                    "goal_id": n,
                    "due_at": due,
                    "status": status,
                    "attempts": 1 if status == "answered" else 0,
                    "failures": 0,
                    "created_at": opened,
                    "updated_at": opened,
                }
            )
    for model, batch in [*rows.items(), *more.items()]:
        _insert(app, model, batch)
    return refs


PHQ9_BANDS = (
    (0, "minimal"),
    (5, "mild"),
    (10, "moderate"),
    (15, "moderately_severe"),
    (20, "severe"),
)


def _run(run_id: int, client_id: int, flow_id: str, at: datetime) -> dict[str, Any]:
    return {
        "id": run_id,
        "client_id": client_id,
        "case_id": client_id,
        "flow_id": flow_id,
        "flow_version": 2,
        "status": "completed",
        "prompt_seq": 10,
        "bad_attempts": 0,
        "locale": "en",
        "started_at": at,
        "updated_at": at,
        "ended_at": at,
    }


def hello_app() -> FastAPI:
    """A bare FastAPI application with one sync page, as the console's routes are."""
    bare = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @bare.get("/hello", response_class=HTMLResponse)
    def hello() -> HTMLResponse:
        return HTMLResponse("<!doctype html><p>hello</p>")

    return bare


async def timed(
    call: Callable[[], Awaitable[httpx.Response]], requests: int, warmup: int = 3
) -> list[float]:
    """Wall time of each of ``requests`` sequential calls, after a few uncounted ones."""
    for _n in range(warmup):
        (await call()).raise_for_status()
    times = []
    for _n in range(requests):
        started = time.perf_counter()
        response = await call()
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def quantile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def measure(app: App, refs: list[str], requests: int) -> list[tuple[str, list[float], int]]:
    console = create_app(app)
    with app.store.unit() as uow:
        token = issue_link(uow.session, 1, uow.now)
    results: list[tuple[str, list[float], int]] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hello_app()), base_url="http://bench"
    ) as bare:
        times = await timed(lambda: bare.get("/hello"), requests)
        results.append(('bare FastAPI "hello"', times, len((await bare.get("/hello")).content)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console), base_url="http://bench"
    ) as client:
        signed = await client.get(f"/login/{token}")
        assert signed.status_code == 303, signed.text
        caseload = await client.get("/cases")
        assert caseload.text.count('<th scope="row">') == len(refs), "not the whole caseload"
        times = await timed(lambda: client.get("/cases"), requests)
        results.append((f"GET /cases ({len(refs)} cases)", times, len(caseload.content)))
        picks = iter(refs * (requests // len(refs) + 2))
        page = await client.get(f"/cases/{refs[0]}")
        page.raise_for_status()
        times = await timed(lambda: client.get(f"/cases/{next(picks)}"), requests)
        results.append(("GET /cases/{ref}", times, len(page.content)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page (50)")
    parser.add_argument("--cases", type=int, default=200, help="cases in the caseload (200)")
    parser.add_argument("--answers", type=int, default=100, help="answers per case (100)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(
            Settings(
                database_url=f"sqlite:///{tmp}/console.db",
                flows_dir=ROOT / "conversations",
                locales_dir=ROOT / "locales",
            ),
            clock=ManualClock(NOW),
        )
        try:
            started = time.perf_counter()
            refs = seed(app, args.cases, args.answers)
            seeded = time.perf_counter() - started
            answers = app.store.count(Response)
            print(machine())
            print(
                f"SQLite file, {len(refs)} cases of one case manager, {answers:,} answers "
                f"(seeded in {seeded:.1f} s); {args.requests} sequential requests per row, "
                "in-process over httpx.ASGITransport\n"
            )
            results = asyncio.run(measure(app, refs, args.requests))
        finally:
            app.close()
    print(f"{'page':<32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'bytes':>9}")
    for label, times, size in results:
        print(
            f"{label:<32} {statistics.median(times) * 1000:8.1f} "
            f"{quantile(times, 0.95) * 1000:8.1f} {max(times) * 1000:8.1f} {size:9,}"
        )
    worst = max(quantile(times, 0.95) for _label, times, _size in results[1:])
    print(f"\ntarget p95 < 150 ms: {'met' if worst < 0.150 else 'NOT met'} ({worst * 1000:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
