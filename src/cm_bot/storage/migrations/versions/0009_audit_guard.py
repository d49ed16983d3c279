"""audit guard: no INSERT OR REPLACE over an audit row, no TRUNCATE of the audit log

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00.000000

Migration 0002 made the audit log refuse UPDATE and DELETE. Two ways round it were left:

* SQLite: ``INSERT OR REPLACE`` with an existing id deletes the old row without firing the
  DELETE trigger when ``recursive_triggers`` is off (the default of an operator's
  ``sqlite3`` shell). A ``BEFORE INSERT`` trigger now refuses any insert whose id is
  already taken, so the row cannot be replaced whatever the connection's settings.
* PostgreSQL: row triggers do not fire on ``TRUNCATE``. A statement-level
  ``BEFORE TRUNCATE`` trigger now refuses it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER auditlog_no_replace BEFORE INSERT ON auditlog "
            "WHEN EXISTS (SELECT 1 FROM auditlog WHERE id = NEW.id) "
            "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
        )
    elif dialect == "postgresql":
        # cm_bot_audit_append_only() (migration 0002) raises whatever the trigger level.
        op.execute(
            "CREATE TRIGGER auditlog_no_truncate BEFORE TRUNCATE ON auditlog "
            "FOR EACH STATEMENT EXECUTE FUNCTION cm_bot_audit_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS auditlog_no_replace")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS auditlog_no_truncate ON auditlog")
