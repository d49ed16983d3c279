"""response provenance: an answer taken from another flow says where it came from

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 13:00:00.000000

The two food questions are asked once per intake: when the food screening already has
the answers, the needs screening's items 3 and 4 take them, and ``response.provenance``
records it ("taken from the food questions answered on 2026-12-07").
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("response") as batch:
        batch.add_column(sa.Column("provenance", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("response") as batch:
        batch.drop_column("provenance")
