"""outbox.case_id: a staff reply that quoted a case is erased with it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 11:00:00.000000

``/case`` and ``/flags`` replies to staff carry a client's scores, answers and the words
kept during a pause. Erasure finds them by ``outbox.case_id`` (partial index: client-side
rows, the great majority, leave it empty).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "case_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_outbox_case_id_case"), "case", ["case_id"], ["id"])
    op.create_index(
        "ix_outbox_case",
        "outbox",
        ["case_id"],
        unique=False,
        sqlite_where=sa.text(WHERE),
        postgresql_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_case", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("fk_outbox_case_id_case"), type_="foreignkey")
        batch.drop_column("case_id")
