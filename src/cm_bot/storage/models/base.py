"""What every table module shares: the metadata and its naming convention, two helpers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, MetaData, text
from sqlmodel import Field, SQLModel

from cm_bot.domain.time import utcnow  # column defaults for rows written outside a unit of work

# Stable constraint names, so Alembic batch migrations on SQLite can find them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index over only the rows ``where`` holds, on SQLite and PostgreSQL alike.

    The scheduler looks rows up by columns that are empty on most rows (a goal, a
    contact); indexing only the others keeps the index small and the hot path's writes
    (answers and replies, which leave those columns empty) free of it.
    """
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


def json_column() -> Any:
    """A nullable JSON column (answers, context, details)."""
    return Field(default=None, sa_column=Column(JSON, nullable=True))


__all__ = ["json_column", "metadata", "partial_index", "utcnow"]
