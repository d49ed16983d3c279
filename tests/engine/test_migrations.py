"""The schema is built by migrations only, and they go both ways on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from cm_bot.storage.db import current_revision, downgrade, head_revision, upgrade
from cm_bot.storage.models import metadata


def test_models_and_migrations_have_not_drifted(db: Engine) -> None:
    with db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], "models changed without a migration: " + repr(differences)[:800]


def test_downgrade_to_base_and_upgrade_again(db: Engine) -> None:
    assert current_revision(db) == head_revision(db)
    downgrade(db, "base")
    assert current_revision(db) is None
    assert set(inspect(db).get_table_names()) <= {"alembic_version"}
    upgrade(db)
    assert current_revision(db) == head_revision(db)
    assert {"client", "case", "flowrun", "outbox", "response"} <= set(inspect(db).get_table_names())


def test_outbox_case_link_is_added_to_a_database_holding_edited_notices(db: Engine) -> None:
    """0010 rebuilds the outbox on SQLite: rows that edit other rows survive it, untouched."""
    from sqlalchemy import text

    downgrade(db, "0009")
    with db.begin() as connection:
        for row_id, edit_of in ((1, None), (2, 1)):
            connection.execute(
                text(
                    "INSERT INTO outbox (id, channel, chat_id, text, priority, status, attempts, "
                    "edit_of, created_at) VALUES (:id, 'telegram', '1', 'notice', 10, 'sent', 1, "
                    ":edit_of, CURRENT_TIMESTAMP)"
                ),
                {"id": row_id, "edit_of": edit_of},
            )
    upgrade(db)
    assert current_revision(db) == head_revision(db)
    with db.connect() as connection:
        rows = connection.execute(text("SELECT id, edit_of, case_id FROM outbox ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(1, None, None), (2, 1, None)]


def test_a_run_in_progress_keeps_its_contact_and_pause_when_engine_keys_leave_the_context(
    db: Engine,
) -> None:
    """0012: the engine's keys move from flowrun.context to flowrun.state; the flow's stay."""
    import json

    from sqlalchemy import text

    downgrade(db, "0011")
    context = {
        "goal": "Find a flat",
        "last_progress": 3,
        "scheduled_contact_id": None,
        "goal_id": 7,
        "selection": [0, 2],
        "safety_pause": True,
        "resume_at": "q2",
    }
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO client (id, status, created_at) "
                "VALUES (1, 'active', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO flowrun (id, client_id, flow_id, flow_version, status, "
                "prompt_seq, bad_attempts, locale, context, started_at, updated_at) VALUES "
                "(1, 1, 'goal_checkin', 1, 'paused', 2, 0, 'en', :context, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            ),
            {"context": json.dumps(context)},
        )
    upgrade(db)
    with db.connect() as connection:
        row = connection.execute(text("SELECT context, state FROM flowrun WHERE id = 1")).one()
    stored = [json.loads(v) if isinstance(v, str) else v for v in row]
    assert stored[0] == {"goal": "Find a flat", "last_progress": 3}
    assert stored[1] == {
        "scheduled_contact_id": None,
        "goal_id": 7,
        "selection": [0, 2],
        "safety_pause": True,
        "resume_at": "q2",
    }
    downgrade(db, "0011")  # and back: the keys return to the context
    with db.connect() as connection:
        back = connection.execute(text("SELECT context FROM flowrun WHERE id = 1")).scalar_one()
    assert (json.loads(back) if isinstance(back, str) else back) == context
    upgrade(db)
