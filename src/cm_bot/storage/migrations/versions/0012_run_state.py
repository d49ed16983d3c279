"""flowrun.state: the engine's own bookkeeping, apart from what a flow may read

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 14:00:00.000000

``flowrun.context`` is what a flow's text and conditions may read (a goal's text, the
last progress, days since exit). The engine kept its own keys there too (the scheduled
contact and goal a run answers, a multi-select's picks, the urgent pause and where to
resume); they move to ``flowrun.state``, which flows never see.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENGINE_KEYS = ("scheduled_contact_id", "goal_id", "selection", "safety_pause", "resume_at")
_RUNS = sa.table(
    "flowrun",
    sa.column("id", sa.Integer()),
    sa.column("context", sa.JSON()),
    sa.column("state", sa.JSON()),
)


def _move(into_state: bool) -> None:
    """Move the engine's keys from context to state (or back, on downgrade)."""
    conn = op.get_bind()
    source, target = (
        (_RUNS.c.context, _RUNS.c.state) if into_state else (_RUNS.c.state, _RUNS.c.context)
    )
    rows = conn.execute(sa.select(_RUNS.c.id, source, target)).all()
    for run_id, old, new in rows:
        old, new = dict(old or {}), dict(new or {})
        moved = {key: old.pop(key) for key in ENGINE_KEYS if key in old}
        if not moved:
            continue
        values = {source.name: old, target.name: {**new, **moved}}
        conn.execute(sa.update(_RUNS).where(_RUNS.c.id == run_id).values(values))


def upgrade() -> None:
    with op.batch_alter_table("flowrun") as batch:
        batch.add_column(sa.Column("state", sa.JSON(), nullable=True))
    _move(into_state=True)


def downgrade() -> None:
    _move(into_state=False)
    with op.batch_alter_table("flowrun") as batch:
        batch.drop_column("state")
