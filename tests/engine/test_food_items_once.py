"""The two food questions are asked once per intake, and the reused answers say where from.

Client answers the food screening (Hunger Vital Sign) → the needs screening (AHC) does not
ask its items 3 and 4 again, nor their introduction; its responses carry the food
screening's answers with provenance. A "don't know" the AHC item has no option for is
asked there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from cm_bot.bootstrap import App, build_app
from cm_bot.domain import InboundKind
from cm_bot.flows import FlowDefinitionError, load_flows
from cm_bot.settings import Settings
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Response
from tests.support.paths import ROOT
from tests.support.people import Person, make_client, texts
from tests.support.preferences import keep_defaults

AHC_FOOD = "you worried that your food would run out"
INTRO = "Some people have made the following statements about their food situation"


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    application = build_app(
        Settings(
            database_url=database_url,
            flows_dir=ROOT / "conversations",
            locales_dir=ROOT / "locales",
            intake_flows=["screening_hvs", "screening_ahc"],
        )
    )
    yield application
    application.close()


def _through_food_screening(app: App, q1: str, q2: str) -> Person:
    person = make_client(app.engine, app.db)
    person.say("hello")
    for _ in range(3):
        person.tap("Yes")
    keep_defaults(person)  # the safe-contact preferences come right after consent
    person.tap(q1)
    person.tap(q2)
    # The needs screening: housing (q1, q2), then the food items would come.
    person.deliver(person.inbound(InboundKind.BUTTON, payload=person.buttons[0].payload))
    person.tap("None of the above")
    person.tap("Done")
    return person


def _responses(app: App, key: str) -> list[Response]:
    with transaction(app.db) as session:
        return list(session.execute(select(Response).where(col(Response.key) == key)).scalars())


def test_food_answers_given_once_are_taken_by_the_needs_screening_with_provenance(
    app: App,
) -> None:
    person = _through_food_screening(app, "Often true", "Never true")

    said = texts(person.seen)
    assert AHC_FOOD not in said and INTRO not in said
    (q3,) = _responses(app, "ahc.q3")
    (q4,) = _responses(app, "ahc.q4")
    assert (q3.value, q4.value) == ("often", "never")
    assert q3.provenance is not None and "taken from the food questions" in q3.provenance
    assert "hvs.q1" in q3.provenance and "answered" in q3.provenance
    assert _responses(app, "hvs.q1")[0].provenance is None


def test_a_dont_know_the_needs_screening_cannot_store_is_asked_there(app: App) -> None:
    person = _through_food_screening(app, "Don't know / prefer not to say", "Sometimes true")

    said = texts(person.seen)
    assert AHC_FOOD in said  # asked: AHC has no "don't know"
    assert _responses(app, "ahc.q3") == []  # not answered yet
    person.tap("Often true")
    (q3,) = _responses(app, "ahc.q3")
    assert q3.value == "often" and q3.provenance is None  # answered here
    (q4,) = _responses(app, "ahc.q4")
    assert q4.value == "sometimes" and q4.provenance is not None


def test_a_reuse_of_an_unknown_flow_or_key_is_refused_with_its_line(tmp_path: Path) -> None:
    for name in ("screening_ahc.yaml", "screening_hvs.yaml"):
        text = (ROOT / "conversations" / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("key: hvs.q2,", "key: hvs.q9,"), "utf-8")

    with pytest.raises(FlowDefinitionError) as caught:
        load_flows(tmp_path)

    (problem,) = caught.value.problems
    assert "has no answer key 'hvs.q9'" in problem.message
    lines = (tmp_path / "screening_ahc.yaml").read_text(encoding="utf-8").splitlines()
    assert "hvs.q9" in lines[problem.line - 1]
