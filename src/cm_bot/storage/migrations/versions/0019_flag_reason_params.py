"""flag reasons with placeholders: their msgid and values, so staff read them translated

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 18:45:00.000000

A reason built with ``.format(...)`` ("Referral requested: {need} — {service}") is no
msgid once formatted, so it reached a Spanish- or Ukrainian-speaking case manager in
English. ``flag.reason`` keeps the formatted English text: the CLI, the data export, the
terminal channel and any older reader stay right without a change, and rows raised before
this need nothing. Two nullable columns are added beside it: ``reason_msgid`` (the English
source text with its ``{placeholders}``) and ``reason_params`` (JSON, the values); a reader
in another language translates the msgid and each value, then formats
(``cm_bot.engine.flag_reasons.flag_reason``). Both stay NULL for a reason without
placeholders, which is its own msgid. Erasure clears both.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("flag") as batch:
        batch.add_column(sa.Column("reason_msgid", _STR(), nullable=True))
        batch.add_column(sa.Column("reason_params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flag") as batch:
        batch.drop_column("reason_params")
        batch.drop_column("reason_msgid")
