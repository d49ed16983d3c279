"""referrals: offers from the directory, referrals, their status history; referral check-ins

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 16:00:00.000000

``referral_offer`` keeps every service a client was offered for a need and what they
chose (``None`` service: nothing matched). ``referral`` is a referral made (by the client,
or by staff), ``referral_event`` each of its status changes. ``scheduledcontact`` gains
``referral_id``: the "did you get help?" contact of kind ``referral``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_AT = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("need", _STR(), nullable=False),
        sa.Column("service_id", _STR(), nullable=False),
        sa.Column("service_name", _STR(), nullable=False),
        sa.Column("made_by", _STR(), nullable=False),
        sa.Column("status", _STR(), nullable=False),
        sa.Column("reason", _STR(), nullable=True),
        sa.Column("created_at", _AT(), nullable=False),
        sa.Column("updated_at", _AT(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_referral_case_id_case")),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_referral_client_id_client")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral")),
    )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_status"), ["status"], unique=False)

    op.create_table(
        "referral_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("status", _STR(), nullable=False),
        sa.Column("reason", _STR(), nullable=True),
        sa.Column("actor", _STR(), nullable=False),
        sa.Column("at", _AT(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], name=op.f("fk_referral_event_referral_id_referral")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_event")),
    )
    with op.batch_alter_table("referral_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referral_event_referral_id"), ["referral_id"], unique=False
        )

    op.create_table(
        "referral_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("need", _STR(), nullable=False),
        sa.Column("service_id", _STR(), nullable=True),
        sa.Column("choice", _STR(), nullable=True),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("offered_at", _AT(), nullable=False),
        sa.Column("answered_at", _AT(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_referral_offer_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_referral_offer_client_id_client")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], name=op.f("fk_referral_offer_referral_id_referral")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_offer")),
    )
    with op.batch_alter_table("referral_offer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_offer_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_referral_offer_client_id"), ["client_id"], unique=False
        )

    with op.batch_alter_table("scheduledcontact") as batch:
        batch.add_column(sa.Column("referral_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scheduledcontact") as batch:
        batch.drop_column("referral_id")
    with op.batch_alter_table("referral_offer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_offer_client_id"))
        batch_op.drop_index(batch_op.f("ix_referral_offer_case_id"))
    op.drop_table("referral_offer")
    with op.batch_alter_table("referral_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_event_referral_id"))
    op.drop_table("referral_event")
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_status"))
        batch_op.drop_index(batch_op.f("ix_referral_case_id"))
    op.drop_table("referral")
