"""The steering questions of the goal check-in in Spanish and Ukrainian: no English left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import col

from cm_bot.engine import ConversationEngine
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Client
from tests.goals.test_goal_checkin_steering import goal, send_checkin, setup
from tests.scheduling.support import flags
from tests.support.people import texts

LABELS = {
    "es": {"skip": "Saltar esta pregunta", "no": "No", "reached": "La he alcanzado"},
    "uk": {"skip": "Пропустити запитання", "no": "Ні", "reached": "Мету досягнуто"},
}
ENGLISH = (
    "What is one small step",
    "Is this goal still right",
    "Congratulations",
    "reached this goal",
    "What got in the way",
)
EXPECTED = {
    "es": ("pequeño paso", "sigue siendo adecuada", "¡Felicidades!", "ha alcanzado esta meta"),
    "uk": ("невеликий крок", "досі підходить Вам", "Вітаємо!", "досягли цієї мети"),
}


@pytest.mark.parametrize("language", ["es", "uk"])
def test_steering_questions_render_translated(
    sched: ConversationEngine, db: Engine, language: str
) -> None:
    who, goal_id, now = setup(sched, db)
    with transaction(db) as session:
        session.execute(
            update(Client).where(col(Client.id) == who.client_id).values(locale=language)  # type: ignore[attr-defined]
        )
    person = who.person  # type: ignore[attr-defined]
    words = LABELS[language]
    assert send_checkin(sched, db, who, goal_id, now) == 1
    seen = person.read() + person.tap("9")
    seen += person.tap(words["reached"])  # congratulated; barriers skipped
    seen += person.tap(words["skip"]) + person.tap(words["skip"])  # helped, next step
    seen += person.tap(words["no"])
    assert send_checkin(sched, db, who, goal_id, now + timedelta(days=7)) == 1
    seen += person.read() + person.tap("3")
    for _ in range(3):  # helped, barriers, next step
        seen += person.tap(words["skip"])
    seen += person.tap(words["no"])
    assert send_checkin(sched, db, who, goal_id, now + timedelta(days=14)) == 1
    seen += person.read() + person.tap("3")  # the third asks "still right?"
    seen += person.tap(words["skip"]) + person.tap(words["skip"])  # helped, barriers
    seen += person.tap(words["no"])  # still right? no
    seen += person.say("Paso / крок")
    seen += person.tap(words["no"])
    shown = texts(seen)
    for english in ENGLISH:
        assert english not in shown
    for expected in EXPECTED[language]:
        assert expected in shown
    assert goal(db, goal_id).next_step == "Paso / крок"
    assert len(flags(db, "goal_checkin.goal_may_be_met")) == 1
    assert len(flags(db, "goal_checkin.goal_not_right")) == 1
