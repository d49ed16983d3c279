"""The exit conversation in Spanish and Ukrainian: every line translated, placeholders kept."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cm_bot.domain import GoalStatus
from cm_bot.engine import ConversationEngine
from cm_bot.flows.loader import load_flow
from cm_bot.i18n.translator import Translator
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client
from tests.exit.support import add_goal
from tests.rescreen.support import manager
from tests.scheduling.support import consented_client
from tests.support.paths import ROOT
from tests.support.people import texts

FLOW = load_flow(ROOT / "conversations" / "exit_conversation.yaml")


def _strings() -> list[str]:
    found = [FLOW.title]
    for step in FLOW.steps:
        found.append(step.text)
        for option in getattr(step, "options", None) or ():
            found.append(option.label)
        for label in (getattr(step, "min_label", None), getattr(step, "max_label", None)):
            if label:
                found.append(label)
    return found


@pytest.mark.parametrize("locale", ["es", "uk"])
def test_every_line_is_translated(locale: str) -> None:
    translator = Translator(ROOT / "locales")
    for text in _strings():
        translated = translator.gettext(locale, text)
        assert translated != text, text
        for name in ("{goals_met}", "{program_contact}"):
            assert (name in text) == (name in translated)


@pytest.mark.parametrize(
    ("locale", "first"),
    [("es", "¡Hola! ¿Tiene unos minutos?"), ("uk", "Вітаємо! Чи маєте Ви кілька хвилин?")],
)
def test_the_client_reads_it_in_their_language(
    bot: ConversationEngine[SqlStore], db: Engine, locale: str, first: str
) -> None:
    who = consented_client(bot, db)
    with transaction(db) as session:
        client = session.get(Client, who.client_id)
        assert client is not None
        client.locale = locale
    add_goal(db, who.case_id, "Find a part-time job", GoalStatus.MET)

    manager(bot, db).say(f"/exit {who.ref}")

    said = texts(who.person.read())
    assert said.startswith(first)
    assert "Find a part-time job" in said
    assert "Do you have" not in said and "How helpful" not in said
