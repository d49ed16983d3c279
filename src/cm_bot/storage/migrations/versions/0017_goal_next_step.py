"""goal next step: the client's "one small step" on the goal (issue 18)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 15:30:00.000000

``goal.next_step`` and ``goal.next_step_at`` hold the answer to the check-in's last
question ("What is one small step you'll take next?"); the answer is also a response.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_AT = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("goal") as batch:
        batch.add_column(sa.Column("next_step", _STR(), nullable=True))
        batch.add_column(sa.Column("next_step_at", _AT(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("goal") as batch:
        batch.drop_column("next_step_at")
        batch.drop_column("next_step")
