"""staff time zone: notices, /flags and /case show times in the staff member's own zone

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:00:00.000000

``staff.timezone`` holds the IANA name a staff member set with ``/timezone`` (for example
``Europe/Kyiv``); ``NULL`` keeps the times they read in UTC, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("timezone")
