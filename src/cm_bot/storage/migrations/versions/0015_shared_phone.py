"""shared-phone safety: message ids kept for /clear, delete rows, automatic clear

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:00:00.000000

``inboundmessage.message_id``: Telegram's id of the person's message (the bot's own are in
``outbox.external_message_id`` already), so ``/clear`` can delete both sides; set to NULL
once cleared. ``outbox.kind``: a message, or a ``deleteMessages`` of up to 100 ids
(``outbox.delete_ids``), sent through the outbox like any message. ``client.auto_clear_hours``:
delete the chat's messages once they are that many hours old (1-47).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inboundmessage") as batch:
        batch.add_column(sa.Column("message_id", sa.String(), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("kind", sa.String(), nullable=False, server_default="message"))
        batch.add_column(sa.Column("delete_ids", sa.JSON(), nullable=True))
    with op.batch_alter_table("client") as batch:
        batch.add_column(sa.Column("auto_clear_hours", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.drop_column("auto_clear_hours")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("delete_ids")
        batch.drop_column("kind")
    with op.batch_alter_table("inboundmessage") as batch:
        batch.drop_column("message_id")
