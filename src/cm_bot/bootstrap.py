"""The composition root: the one place that turns settings into a wired application."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.flows import FlowRegistry, load_flows
from cm_bot.i18n import Translator
from cm_bot.settings import Settings
from cm_bot.storage import SqlStore, create_db_engine, ensure_schema


@dataclass(slots=True)
class App:
    """The wired parts every channel and command shares."""

    settings: Settings
    db: Engine
    store: SqlStore
    flows: FlowRegistry
    translator: Translator
    engine: ConversationEngine

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()


def build_app(settings: Settings | None = None, *, migrate: bool = True) -> App:
    """Load flows and translations, open (and on first use create) the database, wire the engine."""
    settings = settings or Settings()
    flows = load_flows(settings.flows_dir)
    translator = Translator(settings.locales_dir, default_locale=settings.default_locale)
    db = create_db_engine(settings.database_url)
    if migrate:
        ensure_schema(db)
    store = SqlStore(db)
    engine = ConversationEngine(
        store,
        flows,
        translator,
        config=EngineConfig(
            intake_flows=tuple(settings.intake_flows),
            max_bad_answers=settings.max_bad_answers,
        ),
    )
    return App(settings, db, store, flows, translator, engine)


__all__ = ["App", "build_app"]
