"""Migration 0018 adds the preferences to the client record, and takes them away again."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from cm_bot.storage.db import current_revision, downgrade, head_revision, upgrade

_INSERT = "INSERT INTO client (id, status, created_at) VALUES (7, 'active', CURRENT_TIMESTAMP)"


def _columns(db: Engine) -> set[str]:
    return {c["name"] for c in inspect(db).get_columns("client")}


def test_0018_up_and_down_keeps_the_clients(db: Engine) -> None:
    downgrade(db, "0017")
    assert not {"message_first", "safe_word_hash"} & _columns(db)
    with db.begin() as connection:
        connection.execute(text(_INSERT))
    upgrade(db)
    assert current_revision(db) == head_revision(db)
    assert {"message_first", "safe_word_hash"} <= _columns(db)
    with db.connect() as connection:
        row = connection.execute(
            text("SELECT message_first, safe_word_hash FROM client WHERE id = 7")
        ).one()
    assert tuple(row) == (None, None)  # not asked yet: behaves as "yes", as consent said
    downgrade(db, "0017")
    assert not {"message_first", "safe_word_hash"} & _columns(db)
    upgrade(db)
