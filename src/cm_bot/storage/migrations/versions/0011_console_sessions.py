"""console sign-in: single-use links and server-side sessions of the web console

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 14:00:00.000000

``/console`` in Telegram (or ``cm-bot console link NAME``) makes a ``consolelink``: only
the token's SHA-256, bound to one staff member, valid 10 minutes, used once. Opening it
starts a ``consolesession`` (its token hashed too, with the CSRF token of its forms);
``staff deactivate`` revokes every session of that member.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consolelink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_consolelink_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consolelink")),
    )
    with op.batch_alter_table("consolelink", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consolelink_token_sha256"), ["token_sha256"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_consolelink_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "consolesession",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_consolesession_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consolesession")),
    )
    with op.batch_alter_table("consolesession", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consolesession_token_sha256"), ["token_sha256"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_consolesession_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consolesession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consolesession_staff_id"))
        batch_op.drop_index(batch_op.f("ix_consolesession_token_sha256"))
    op.drop_table("consolesession")
    with op.batch_alter_table("consolelink", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consolelink_staff_id"))
        batch_op.drop_index(batch_op.f("ix_consolelink_token_sha256"))
    op.drop_table("consolelink")
