"""The preferences in Spanish and Ukrainian; the export shows them, erasure removes them."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cm_bot.engine import ConversationEngine
from cm_bot.flows.loader import load_flow
from cm_bot.i18n.translator import Translator
from cm_bot.storage import SqlStore
from cm_bot.storage.data_rights import erase_case, export_case
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client
from tests.preferences.support import preference_flows, prefs_of
from tests.scheduling.support import consented_client
from tests.support.paths import ROOT
from tests.support.people import texts

FLOW = load_flow(ROOT / "conversations" / "contact_preferences.yaml")


def _strings() -> list[str]:
    found = [FLOW.title]
    for step in FLOW.steps:
        found.append(step.text)
        found.extend(option.label for option in getattr(step, "options", None) or ())
    return found


@pytest.mark.parametrize("locale", ["es", "uk"])
def test_every_line_is_translated(locale: str) -> None:
    translator = Translator(ROOT / "locales")
    for text in _strings():
        assert translator.gettext(locale, text) != text, text


@pytest.mark.parametrize(
    ("locale", "question"),
    [("es", "¿Es seguro que le escribamos nosotros primero?"), ("uk", "Чи безпечно нам писати")],
)
def test_the_client_reads_them_in_their_language(
    bot: ConversationEngine[SqlStore], db: Engine, locale: str, question: str
) -> None:
    who = consented_client(bot, db)
    with transaction(db) as session:
        client = session.get(Client, who.client_id)
        assert client is not None
        client.locale = locale
    said = texts(who.person.say("/preferences"))
    assert question in said
    assert "Is it safe" not in said and "quick questions" not in said
    labels = [b.label for b in who.person.buttons]
    assert "Yes" not in labels  # ("No" is Spanish too)


def test_export_shows_the_preferences_and_erasure_removes_them(
    bot: ConversationEngine[SqlStore], db: Engine, translator: Translator
) -> None:
    who = consented_client(bot, db)
    who.person.say("/preferences")
    who.person.tap("No")
    who.person.tap("In the morning")
    who.person.say("kettle")

    data = export_case(db, who.ref, flows=preference_flows(), translator=translator)
    assert data["client"]["contact_preferences"] == {
        "message_first": False,
        "contact_start": "09:00",
        "contact_end": "12:00",
        "safe_word": "set",
    }
    assert "kettle" not in str(data)

    erase_case(db, who.ref)
    assert prefs_of(db, who.client_id) == (None, None, None, None)
