"""Fixtures for follow-up scenarios: the engine as bootstrap wires it, on a test clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from cm_bot.engine import ConversationEngine
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore
from tests.followups.support import make_engine
from tests.referrals.support import load_directory


@pytest.fixture
def bot(db: Engine, translator: Translator) -> ConversationEngine[SqlStore]:
    return make_engine(db, translator)


@pytest.fixture
def directory(db: Engine, tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    return load_directory(db, tmp_path / "directory")
