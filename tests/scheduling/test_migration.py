"""Migration 0003 adds the scheduling columns to a database that already holds contacts."""

from __future__ import annotations

from sqlalchemy import Engine, text

from cm_bot.storage.db import current_revision, downgrade, upgrade


def test_existing_contacts_survive_upgrade_and_downgrade(db: Engine) -> None:
    downgrade(db, "0002")
    with db.begin() as conn:
        conn.execute(
            text(
                'INSERT INTO "case" (id, ref, status, opened_at) '
                "VALUES (1, 'C-0001', 'exited', '2026-01-01 00:00:00+00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO scheduledcontact (case_id, flow_id, kind, due_at, status, attempts,"
                " created_at, updated_at) VALUES (1, 'exit_followup', 'followup',"
                " '2026-02-01 10:00:00+00', 'pending', 0, '2026-01-01 00:00:00+00',"
                " '2026-01-01 00:00:00+00')"
            )
        )
    upgrade(db, "0003")
    assert current_revision(db) == "0003"
    with db.connect() as conn:
        row = conn.execute(
            text("SELECT status, failures, sent_at, closed_at FROM scheduledcontact")
        ).one()
    assert tuple(row) == ("pending", 0, None, None)
    downgrade(db, "0002")
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scheduledcontact")).scalar_one() == 1
    upgrade(db)
