"""Seed rows for the comparison's views: runs and answers as the engine stores them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cm_bot.bootstrap import App
from cm_bot.storage.db import transaction
from cm_bot.storage.models import FlowRun, Response
from tests.web.cases_support import NOW, ids_of

EXIT = NOW - timedelta(days=100)


def stored(
    app: App, ref: str, flow_id: str, answers: dict[str, Any], at: Any, days: int | None = None
) -> None:
    """One finished run of ``flow_id`` with its answers, as the engine stores them."""
    case_id, client_id = ids_of(app, ref)
    with transaction(app.db) as session:
        context = {} if days is None else {"days_since_exit": days}
        run = FlowRun(
            client_id=client_id,
            case_id=case_id,
            flow_id=flow_id,
            flow_version=3,
            status="completed",
            answers=answers,
            context=context,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        for key, value in answers.items():
            session.add(
                Response(
                    case_id=case_id,
                    client_id=client_id,
                    run_id=run.id,
                    flow_id=flow_id,
                    flow_version=3,
                    step_id=key.replace(".", "_"),
                    key=key,
                    value=value,
                    question=f"({key} as asked)",
                    locale="en",
                    answered_at=at,
                )
            )


def history(app: App, ref: str) -> None:
    """Intake steady / not hard / part-time; 30 days the same; 90 days worried and hard."""
    stored(app, ref, "screening_ahc", {"ahc.q1": "steady"}, EXIT - timedelta(days=60))
    stored(
        app,
        ref,
        "intake_basics",
        {"ahc.q11": "not_hard", "employment.status": "part_time"},
        EXIT - timedelta(days=60),
    )
    same = {"ahc.q1": "steady", "ahc.q11": "not_hard", "employment.status": "part_time"}
    stored(app, ref, "exit_followup", same, EXIT + timedelta(days=30), days=30)
    worse = {"ahc.q1": "worried", "ahc.q11": "very_hard", "employment.status": "looking"}
    stored(app, ref, "exit_followup", worse, EXIT + timedelta(days=91), days=91)
