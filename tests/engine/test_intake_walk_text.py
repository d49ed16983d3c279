"""The whole default intake, walked as a client would in English, Spanish and Ukrainian.

Every message the client is sent (consent, every screening, the end) is read: none names
an instrument (PHQ, GAD, Hunger Vital Sign, AHC ...) or carries the licence line, and no
answer button says "refused". The walk taps the first button each time ("Yes" to consent,
"Not at all", "Never" ...), so it goes through every default flow to the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cm_bot.bootstrap import App, build_app
from cm_bot.domain import InboundKind
from cm_bot.settings import Settings
from tests.flows.test_client_text import JARGON, REFUSAL
from tests.support.paths import ROOT
from tests.support.people import make_client


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    application = build_app(
        Settings(
            database_url=database_url,
            flows_dir=ROOT / "conversations",
            locales_dir=ROOT / "locales",
        )
    )
    yield application
    application.close()


@pytest.mark.parametrize("language", ["en", "es", "uk"])
def test_the_default_intake_names_no_instrument_and_no_refusal_in_any_language(
    app: App, language: str
) -> None:
    person = make_client(app.engine, app.db)
    person.language = language
    person.say("hello")
    for _turn in range(200):
        if person.step() is None or not person.buttons:
            break
        first = person.buttons[0]
        person.deliver(person.inbound(InboundKind.BUTTON, payload=first.payload))
        if first.label.startswith("✓") or any(b.label.startswith("✓") for b in person.buttons):
            person.deliver(person.inbound(InboundKind.BUTTON, payload=person.buttons[-1].payload))
    assert person.step() is None, "the walk did not reach the end of the intake"
    seen = [m.text for m in person.seen]
    assert len(seen) > 25  # consent and four screenings
    assert "/help" in seen[-1]  # "nothing for you to answer right now ... send /help"
    for text in seen:
        assert not JARGON.search(text), text
        assert "Pfizer" not in text and "Spitzer" not in text
    labels = [b.label for m in person.seen for row in m.buttons for b in row]
    assert not [label for label in labels if REFUSAL.search(label)]  # "refused": no button
