"""Migration 0019 adds a flag reason's msgid and params, and takes them away again.

Flags raised before it keep their English reason and need nothing (both columns NULL).
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from cm_bot.storage.db import current_revision, downgrade, head_revision, upgrade

_ADDED = {"reason_msgid", "reason_params"}
_INSERT = (
    "INSERT INTO flag (id, severity, reason, rule_id, dedupe_key, status, created_at) "
    "VALUES (7, 'routine', 'Referral requested: hunger — Pantry', 'referral_requested', "
    "'referral:7', 'open', CURRENT_TIMESTAMP)"
)


def _columns(db: Engine) -> set[str]:
    return {c["name"] for c in inspect(db).get_columns("flag")}


def test_0019_up_and_down_keeps_the_flags(db: Engine) -> None:
    downgrade(db, "0018")
    assert not _ADDED & _columns(db)
    with db.begin() as connection:
        connection.execute(text(_INSERT))
    upgrade(db)
    assert current_revision(db) == head_revision(db)
    assert _columns(db) >= _ADDED
    with db.connect() as connection:
        row = connection.execute(
            text("SELECT reason, reason_msgid, reason_params FROM flag WHERE id = 7")
        ).one()
    assert tuple(row) == ("Referral requested: hunger — Pantry", None, None)
    downgrade(db, "0018")
    assert not _ADDED & _columns(db)
    with db.connect() as connection:
        assert connection.execute(text("SELECT reason FROM flag WHERE id = 7")).scalar_one()
    upgrade(db)
