"""Fixtures for goals the client steers: the shipped check-in flow on the test database."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cm_bot.engine import ConversationEngine
from cm_bot.i18n import Translator
from cm_bot.storage import SqlStore
from tests.scheduling.support import make_engine


@pytest.fixture
def sched(db: Engine, translator: Translator) -> ConversationEngine[SqlStore]:
    return make_engine(db, translator)
