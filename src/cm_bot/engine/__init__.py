"""The conversation runtime: Inbound -> one transaction -> outbox. No Telegram, no SQL."""

from cm_bot.engine.engine import ConversationEngine, EngineConfig, Handled
from cm_bot.engine.ports import ClientView, RunState, StaffTarget, Store, Token, UnitOfWork

__all__ = [
    "ClientView",
    "ConversationEngine",
    "EngineConfig",
    "Handled",
    "RunState",
    "StaffTarget",
    "Store",
    "Token",
    "UnitOfWork",
]
