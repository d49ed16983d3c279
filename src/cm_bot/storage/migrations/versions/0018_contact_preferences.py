"""contact preferences: may the bot write first, and the safe word's hash (issue 18)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 17:30:00.000000

``client.message_first`` is the client's answer to "Is it safe for us to message you
first?" (NULL: not asked, which behaves as yes, as consent said); ``client.safe_word_hash``
is ``salt$sha256`` of the normalised safe word, never the word itself. The preferred hours
use the existing ``contact_start``/``contact_end``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("message_first", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("safe_word_hash", _STR(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.drop_column("safe_word_hash")
        batch.drop_column("message_first")
