"""The composition root: the one place that turns settings into a wired application."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from cm_bot.channels.telegram_codec import CHANNEL
from cm_bot.domain import Inbound, InboundKind
from cm_bot.domain.time import Clock, SystemClock
from cm_bot.engine import ConversationEngine, EngineConfig
from cm_bot.engine.commands_menu import menus, staff_menu
from cm_bot.flows import FlowRegistry, load_flows
from cm_bot.i18n import Translator
from cm_bot.notify.sender import OutboxSender
from cm_bot.program import load_program
from cm_bot.settings import Settings
from cm_bot.storage import SqlStore, create_db_engine, ensure_schema
from cm_bot.storage.admin import bound_staff_chats

if TYPE_CHECKING:  # imported where used: the admin commands build the app without aiohttp
    from cm_bot.channels.telegram_runtime import CommandMenu, TelegramBackend, TelegramRuntime


@dataclass(slots=True)
class App:
    """The wired parts every channel and command shares."""

    settings: Settings
    db: Engine
    store: SqlStore
    flows: FlowRegistry
    translator: Translator
    engine: ConversationEngine[SqlStore]
    clock: Clock  # the one source of "now" for the engine, the store and the scheduler

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()


def build_app(
    settings: Settings | None = None, *, migrate: bool = True, clock: Clock | None = None
) -> App:
    """Load flows and translations, open (and on first use create) the database, wire the engine.

    ``clock``: where every "now" comes from (default: the wall clock; simulations and
    tests pass a :class:`~cm_bot.domain.time.ManualClock`).
    """
    settings = settings or Settings()
    flows = load_flows(settings.flows_dir)
    program = load_program(settings.program_file)
    translator = Translator(settings.locales_dir, default_locale=settings.default_locale)
    db = create_db_engine(settings.database_url)
    if migrate:
        ensure_schema(db)
    from cm_bot.resources.port import directory_part
    from cm_bot.scheduling import event_handlers, policy_from_settings

    policy = replace(
        policy_from_settings(settings), referral_checkin_days=program.referral_checkin_days
    )
    clock = clock or SystemClock()
    # A case's exit and a goal's addition are recorded as events on the unit of work;
    # scheduling plans their follow-ups / first check-in before the same transaction commits.
    # The engine reads the resource directory through ``uow.directory`` (offers after intake).
    store = SqlStore(
        db,
        clock=clock,
        handlers=event_handlers(flows, policy),
        directory=directory_part(program.needs),
    )
    engine = ConversationEngine(
        store,
        flows,
        translator,
        config=EngineConfig(
            intake_flows=tuple(settings.intake_flows),
            max_bad_answers=settings.max_bad_answers,
            program=program,
            console_url=settings.console_url,
        ),
    )
    return App(settings, db, store, flows, translator, engine, clock)


def command_menus(app: App) -> list[CommandMenu]:
    """Every command menu to publish: the client menu per language, the staff menu per staff chat.

    A staff member's chat-scoped menu replaces the client one in that chat, in
    their own locale (the default one when unset).
    """
    from cm_bot.channels.telegram_runtime import CommandMenu

    plan = [CommandMenu(commands, code) for code, commands in menus(app.translator)]
    plan += [
        CommandMenu(staff_menu(app.translator, locale), None, chat_id)
        for chat_id, locale in bound_staff_chats(app.db)
    ]
    return plan


def build_telegram(app: App) -> TelegramRuntime:
    """Wire the configured Telegram backend, its outbox sender and the shared runtime."""
    from cm_bot.channels.telegram_runtime import TelegramRuntime

    settings = app.settings
    if settings.telegram_token is None:
        raise ValueError("CM_BOT_TELEGRAM_TOKEN is not set")
    token = settings.telegram_token.get_secret_value()
    backend: TelegramBackend
    if settings.backend == "ptb":
        from cm_bot.channels.ptb_adapter import PTBBackend

        backend = PTBBackend(
            token, settings.telegram_api_url, request_timeout=settings.telegram_request_timeout
        )
    else:
        from cm_bot.channels.aiogram_adapter import AiogramBackend

        backend = AiogramBackend(
            token, settings.telegram_api_url, request_timeout=settings.telegram_request_timeout
        )

    async def on_unreachable(channel: str, chat_id: str) -> None:
        # A 403 on send is the person blocking us: the same event as my_chat_member "kicked".
        blocked = Inbound(
            channel=channel,
            external_id=f"403:{uuid.uuid4().hex}",
            user_id=chat_id,
            chat_id=chat_id,
            kind=InboundKind.BLOCKED,
        )
        await asyncio.to_thread(app.engine.handle, blocked)

    sender = OutboxSender(app.db, CHANNEL, backend, on_unreachable=on_unreachable)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return TelegramRuntime(
        app.engine,
        backend,
        sender,
        webhook_secret=secret,
        poll_timeout=settings.poll_timeout,
        command_menus=lambda: command_menus(app),
    )


__all__ = ["App", "build_app", "build_telegram", "command_menus"]
