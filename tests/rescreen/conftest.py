"""Fixtures for re-screen scenarios: the engine that plans and runs re-screens."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cm_bot.engine import ConversationEngine
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore
from tests.rescreen.support import make_engine


@pytest.fixture
def bot(db: Engine, translator: Translator) -> ConversationEngine[SqlStore]:
    return make_engine(db, translator)
