"""Fixtures for the safe-contact preferences: the engine as bootstrap wires it, on a test clock."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cm_bot.engine import ConversationEngine
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore
from tests.preferences.support import make_engine


@pytest.fixture
def bot(db: Engine, translator: Translator) -> ConversationEngine[SqlStore]:
    return make_engine(db, translator)
