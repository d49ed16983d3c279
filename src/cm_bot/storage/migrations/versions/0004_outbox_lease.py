"""outbox: sender leases (claimed_by, lease_until), deliver_by, an index for chat heads

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:05:00.000000

Before this, recovery at start-up took back every claimed or sending row, which is only
right when one sender serves the channel. With leases, a sender takes back only rows of a
dead worker on its own host or rows whose lease ran out. ``deliver_by`` keeps a
scheduled contact that was held up (outage, backlog) from going out after the person's
contact hours.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("deliver_by", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(
            "ix_outbox_channel_status_chat",
            ["channel", "status", "chat_id", "priority", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_channel_status_chat")
        batch_op.drop_column("deliver_by")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_by")
