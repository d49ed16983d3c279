"""indexes for the scheduler: a goal's check-ins, a contact's runs, unsettled contacts, escalation

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:30:00.000000

Benchmark 3 (bench/README.md §3) found one dispatch pass growing with the number of cases:
on SQLite the check-in sweep's ``NOT EXISTS`` read every open contact once per goal
(quadratic: about an hour per tick at 100,000 cases), and the per-contact lookups by goal
and by contact scanned whole tables on both databases. All but ``ix_flag_status_severity``
are partial: they cover only the rows that carry the column, so the hot path (answers,
replies) does not write them.

On a large PostgreSQL database the index builds take a write lock on their table for as
long as they run (seconds per million rows); run the upgrade in a quiet moment.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSETTLED = "closed_at IS NULL AND status IN ('answered', 'no_response', 'missed', 'cancelled')"

# (name, table, columns, WHERE of a partial index or None)
INDEXES: tuple[tuple[str, str, list[str], str | None], ...] = (
    ("ix_contact_goal", "scheduledcontact", ["goal_id", "planned_for"], "goal_id IS NOT NULL"),
    ("ix_contact_unsettled", "scheduledcontact", ["id"], UNSETTLED),
    ("ix_response_goal_key", "response", ["goal_id", "key"], "goal_id IS NOT NULL"),
    (
        "ix_flowrun_contact",
        "flowrun",
        ["scheduled_contact_id"],
        "scheduled_contact_id IS NOT NULL",
    ),
    ("ix_flag_status_severity", "flag", ["status", "severity"], None),
    ("ix_outbox_deliver_by", "outbox", ["status", "deliver_by"], "deliver_by IS NOT NULL"),
)


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        partial: dict[str, Any] = (
            {}
            if where is None
            else {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}
        )
        op.create_index(name, table, columns, unique=False, **partial)


def downgrade() -> None:
    for name, table, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name=table)
