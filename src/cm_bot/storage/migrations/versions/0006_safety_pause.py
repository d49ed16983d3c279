"""the safety pause: messages held while an urgent flag is open; staff who blocked the bot

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 08:00:00.000000

An urgent flag pauses all automated contact with the client until staff resolve it. What
the client writes meanwhile is kept in ``heldmessage`` for the case manager, and every
message asks whether the client is paused: ``ix_flag_client_urgent_open`` covers only the
open urgent flags, so it stays tiny. ``staff.blocked_at`` marks a staff member Telegram
refused, so their urgent flags go to supervisors at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_URGENT = "severity = 'urgent' AND status != 'resolved'"


def upgrade() -> None:
    op.create_table(
        "heldmessage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("crisis", sa.Boolean(), nullable=False),
        sa.Column("opened", sa.Boolean(), nullable=False),
        sa.Column("replied", sa.Boolean(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_heldmessage_client_id_client")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_heldmessage_case_id_case")),
        sa.ForeignKeyConstraint(["flag_id"], ["flag.id"], name=op.f("fk_heldmessage_flag_id_flag")),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["inboundmessage.id"],
            name=op.f("fk_heldmessage_inbound_id_inboundmessage"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heldmessage")),
    )
    op.create_index(
        "ix_heldmessage_client", "heldmessage", ["client_id", "received_at"], unique=False
    )
    op.create_index(op.f("ix_heldmessage_flag_id"), "heldmessage", ["flag_id"], unique=False)
    op.create_index(
        "ix_flag_client_urgent_open",
        "flag",
        ["client_id"],
        unique=False,
        sqlite_where=sa.text(OPEN_URGENT),
        postgresql_where=sa.text(OPEN_URGENT),
    )
    with op.batch_alter_table("staff") as batch:
        batch.add_column(
            sa.Column("blocked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("blocked_at")
    op.drop_index("ix_flag_client_urgent_open", table_name="flag")
    op.drop_index(op.f("ix_heldmessage_flag_id"), table_name="heldmessage")
    op.drop_index("ix_heldmessage_client", table_name="heldmessage")
    op.drop_table("heldmessage")
