"""What the bot sends first never names the program's purpose in its first line.

A lock screen shows the first line of a message to whoever holds the phone. The bot
writes first only for scheduled contacts (goal check-ins, re-screens, referral
check-ins, follow-ups): the first line of each such flow's first message is checked, in
every language, against words that would tell someone else what the chat is about.
"""

from __future__ import annotations

import pytest

from cm_bot.flows.loader import load_flows
from cm_bot.flows.schema import FlowKind
from cm_bot.i18n.translator import Translator
from tests.support.paths import ROOT

SCHEDULED = (FlowKind.CHECKIN, FlowKind.FOLLOWUP)
# Lower case; a first line containing any of these (or a placeholder, which may hold a
# goal or a service's name) could tell someone else what the chat is about.
NEVER_FIRST = {
    "en": (
        "depress", "mental", "violence", "abuse", "safety", "case manag", "program",
        "screening", "phq", "gad", "anxiety", "worry", "feeling", "mood", "shelter",
        "counsel", "therapy", "health", "social work", "crisis", "{",
    ),
    "es": (
        "depres", "mental", "violencia", "abuso", "maltrato", "seguridad", "gestor",
        "administrador de casos", "programa", "ansiedad", "preocupa", "ánimo", "refugio",
        "terapia", "salud", "crisis", "{",
    ),
    "uk": (
        "депрес", "психічн", "насильств", "жорсток", "безпек", "менеджер", "програм",
        "тривог", "настр", "притул", "терап", "здоров", "криз", "{",
    ),
}  # fmt: skip
FLOWS = load_flows(ROOT / "conversations")
FIRST_MESSAGES = {
    flow.id: flow.step(flow.start_step).text for flow in FLOWS if flow.kind in SCHEDULED
}


def test_the_flows_the_bot_starts_itself_are_all_checked() -> None:
    assert {"goal_checkin", "exit_followup", "referral_checkin", "exit_conversation"} <= set(
        FIRST_MESSAGES
    )


@pytest.mark.parametrize("locale", sorted(NEVER_FIRST))
@pytest.mark.parametrize("flow_id", sorted(FIRST_MESSAGES))
def test_the_first_line_a_lock_screen_shows_names_nothing_of_the_programs_purpose(
    flow_id: str, locale: str
) -> None:
    text = Translator(ROOT / "locales").gettext(locale, FIRST_MESSAGES[flow_id])
    first_line = text.strip().split("\n", 1)[0].casefold()

    named = [word for word in NEVER_FIRST[locale] if word in first_line]

    assert not named, f"{flow_id} ({locale}) opens with {first_line!r}: it names {named}"
