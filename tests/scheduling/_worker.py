"""A dispatcher worker process for the multi-worker test (its own engine, its own connections)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any


def work(url: str, flows_dir: str, now: str, start: Any, results: Any) -> None:
    """Wait for the others, then run dispatch passes until nothing is left to claim."""
    from cm_bot.engine import ConversationEngine, EngineConfig
    from cm_bot.flows import load_flows
    from cm_bot.i18n import Translator
    from cm_bot.scheduling import SchedulePolicy, run_due
    from cm_bot.scheduling.dispatcher import worker_name
    from cm_bot.storage import SqlStore, create_db_engine

    root = Path(__file__).resolve().parents[2]
    db = create_db_engine(url)
    engine = ConversationEngine(
        SqlStore(db),
        load_flows(Path(flows_dir)),
        Translator(root / "locales"),
        config=EngineConfig(intake_flows=()),
    )
    policy = SchedulePolicy(batch_size=25)
    moment = datetime.fromisoformat(now)
    start.wait(timeout=120)
    sent = 0
    try:
        while True:
            report = run_due(engine, moment, policy)
            sent += report.sent
            if report.claimed == 0:
                break
    finally:
        db.dispose()
    results.put((worker_name(), sent))
