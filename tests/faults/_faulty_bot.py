"""``cm-bot run`` with one fault built in, for the fault matrix in this folder.

Run as ``python tests/faults/_faulty_bot.py``. ``CMBOT_FAULT=<name>:<argument>`` picks
the fault; several may be given, separated by ``;``. Production code has no fault hooks:
each fault is a monkeypatch installed here, in the bot's own process, before the real
command line starts.

* ``kill-before-commit:<answer key>``: SIGKILL once the answer row for that key has
  been written, before its transaction commits (F-01).
* ``kill-after-commit:<chat id>``: SIGKILL as soon as a turn of that chat has committed
  its replies to the outbox, before the sender took them (F-02).
* ``kill-after-send:<chat id>``: SIGKILL as soon as ``sendMessage`` to that chat returned,
  before the outbox row is marked sent (F-03).
* ``poison:<text>``: handling an update with exactly this text raises, every time (F-12).
* ``sqlite-busy:<ms>``: SQLite waits this long for a lock rather than 30 s, so a locked
  database is refused quickly (F-05 on SQLite).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def _die(what: str) -> None:
    print(f"fault: SIGKILL {what}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def kill_before_commit(key: str) -> None:
    from cm_bot.storage.repos.runs import SqlRuns

    original = SqlRuns.add_response  # what ``uow.runs.add_response`` runs

    def add_response(
        self: SqlRuns,
        client: Any,
        run: Any,
        step_id: str,
        answer_key: str,
        *rest: Any,
        **named: Any,
    ) -> None:
        original(self, client, run, step_id, answer_key, *rest, **named)
        if answer_key == key:
            self.session.flush()  # the answer row is in the database, not yet committed
            _die(f"with the answer to {key} written, before commit")

    SqlRuns.add_response = add_response  # type: ignore[method-assign, assignment]


def kill_after_commit(chat_id: str) -> None:
    from cm_bot.engine import ConversationEngine

    original = ConversationEngine.process

    def process(self: ConversationEngine, channel: str, chat: str) -> Any:
        handled = original(self, channel, chat)
        if chat == chat_id and any(h.outbox_ids for h in handled):
            _die("after the turn committed its replies, before they were sent")
        return handled

    ConversationEngine.process = process  # type: ignore[method-assign, assignment]


def kill_after_send(chat_id: str) -> None:
    backend: Any
    if os.environ.get("CM_BOT_BACKEND") == "ptb":
        from cm_bot.channels.ptb_adapter import PTBBackend as backend
    else:
        from cm_bot.channels.aiogram_adapter import AiogramBackend as backend
    original = backend.send

    async def send(self: Any, message: Any) -> str:
        external_id: str = await original(self, message)
        if message.chat_id == chat_id:
            _die("after sendMessage returned, before the outbox row was marked sent")
        return external_id

    backend.send = send


def poison(text: str) -> None:
    from cm_bot.engine import ConversationEngine

    original = ConversationEngine._turn

    def turn(self: ConversationEngine, uow: Any, inbound: Any, *rest: Any) -> Any:
        if inbound.text == text:
            raise RuntimeError("a poisoned update (injected test fault)")
        return original(self, uow, inbound, *rest)

    ConversationEngine._turn = turn  # type: ignore[method-assign]


def sqlite_busy(milliseconds: str) -> None:
    from sqlalchemy import Engine, event

    from cm_bot.storage import db

    original = db._configure_sqlite
    wait = int(milliseconds)

    def configure(engine: Engine) -> None:
        original(engine)

        @event.listens_for(engine, "connect")
        def shorter_wait(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={wait}")
            cursor.close()

    db._configure_sqlite = configure


FAULTS: dict[str, Callable[[str], None]] = {
    "kill-before-commit": kill_before_commit,
    "kill-after-commit": kill_after_commit,
    "kill-after-send": kill_after_send,
    "poison": poison,
    "sqlite-busy": sqlite_busy,
}


def main() -> None:
    for spec in filter(None, os.environ.get("CMBOT_FAULT", "").split(";")):
        name, _, argument = spec.partition(":")
        FAULTS[name](argument)
    from cm_bot.cli import main as cli

    sys.argv = ["cm-bot", "run"]
    cli()


if __name__ == "__main__":
    main()
