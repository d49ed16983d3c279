"""rescreen plans: repeat PHQ-9 / GAD-7 for a case (issue 18)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:00:00.000000

``rescreen_plan`` holds one row per case and instrument: how often the re-screen is due
and whether it was stopped. The re-screens themselves are ``scheduledcontact`` rows of
kind ``rescreen`` (no new column: the plan is found by case and the flow's instrument).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_AT = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "rescreen_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("instrument", _STR(), nullable=False),
        sa.Column("every_days", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("set_by", _STR(), nullable=False),
        sa.Column("created_at", _AT(), nullable=False),
        sa.Column("updated_at", _AT(), nullable=False),
        sa.Column("stopped_at", _AT(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_rescreen_plan_case_id_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rescreen_plan")),
        sa.UniqueConstraint("case_id", "instrument", name=op.f("uq_rescreen_plan_case_id")),
    )
    with op.batch_alter_table("rescreen_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rescreen_plan_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rescreen_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rescreen_plan_case_id"))
    op.drop_table("rescreen_plan")
