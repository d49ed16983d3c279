"""The case record: SQLModel tables, the engine's ports over them, and Alembic migrations.

The only package (with the migrations) that imports SQL.
"""

from cm_bot.storage.db import create_db_engine, ensure_schema, transaction, upgrade
from cm_bot.storage.repository import SqlStore, SqlUnitOfWork

__all__ = [
    "SqlStore",
    "SqlUnitOfWork",
    "create_db_engine",
    "ensure_schema",
    "transaction",
    "upgrade",
]
