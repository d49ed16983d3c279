"""The schema is built by migrations only, and they go both ways on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from cm_bot.storage.db import current_revision, downgrade, head_revision, upgrade
from cm_bot.storage.models import metadata


def test_models_and_migrations_have_not_drifted(db: Engine) -> None:
    with db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], "models changed without a migration: " + repr(differences)[:800]


def test_downgrade_to_base_and_upgrade_again(db: Engine) -> None:
    assert current_revision(db) == head_revision(db)
    downgrade(db, "base")
    assert current_revision(db) is None
    assert set(inspect(db).get_table_names()) <= {"alembic_version"}
    upgrade(db)
    assert current_revision(db) == head_revision(db)
    assert {"client", "case", "flowrun", "outbox", "response"} <= set(inspect(db).get_table_names())
