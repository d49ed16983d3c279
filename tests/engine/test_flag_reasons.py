"""A flag's reason in the reader's language: the msgid translated first, then filled in.

A formatted reason is no msgid, so its params are kept apart and translated one by one: a
need name is a msgid, a service name is the service's own and stays as it is, a list of
needs is translated item by item. A reason without params is its own msgid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cm_bot.engine.flag_reasons import english, flag_reason
from cm_bot.engine.followup_needs import NEW_NEEDS
from cm_bot.engine.referrals import REFERRAL_FAILED, REFERRAL_REQUESTED
from cm_bot.i18n import Translator

TRANSLATOR = Translator(Path(__file__).resolve().parents[2] / "locales")
PANTRY = "Eastside Pantry"


@pytest.mark.parametrize(
    ("locale", "msgid", "params", "expected"),
    [
        (
            "en",
            REFERRAL_REQUESTED,
            {"need": "food", "service": PANTRY},
            "Referral requested: food — Eastside Pantry",
        ),
        (
            "es",
            REFERRAL_REQUESTED,
            {"need": "food", "service": PANTRY},
            "Derivación solicitada: alimentos — Eastside Pantry",
        ),
        (
            "uk",
            REFERRAL_REQUESTED,
            {"need": "food", "service": PANTRY},
            "Запит на направлення: харчування — Eastside Pantry",
        ),
        (
            "es",
            REFERRAL_FAILED,
            {"need": "living situation", "service": PANTRY, "reason": "could not make contact"},
            "Derivación fallida: situación de vivienda — Eastside Pantry (no se pudo contactar)",
        ),
        (
            "en",
            NEW_NEEDS,
            {"needs": ["food", "living situation"]},
            "Follow-up after exit: new needs since intake: food, living situation",
        ),
        (
            "es",
            NEW_NEEDS,
            {"needs": ["food", "living situation"]},
            "Seguimiento tras el cierre: necesidades nuevas desde la admisión: "
            "alimentos, situación de vivienda",
        ),
        (
            "uk",
            NEW_NEEDS,
            {"needs": ["food", "living situation"]},
            "Контакт після завершення: нові потреби з часу первинної оцінки: "
            "харчування, житлові умови",
        ),
        ("es", "Client declined consent; nothing else is collected", None, None),
        (
            "uk",
            "A reason nobody translated, from an old row",
            None,
            "A reason nobody translated, from an old row",
        ),
    ],
)
def test_a_reason_reads_in_the_readers_language(
    locale: str, msgid: str, params: dict[str, Any] | None, expected: str | None
) -> None:
    _ = TRANSLATOR.get(locale).gettext
    stored = flag_reason(msgid, msgid, params, english)  # what flag.reason keeps
    shown = flag_reason(stored, msgid if params else None, params, _)
    if expected is None:  # a plain msgid: its translation, whatever the catalogue says
        assert shown == _(msgid) != msgid
    else:
        assert shown == expected
    assert "{" not in shown


def test_an_old_row_with_no_params_shows_its_english_text_as_it_is() -> None:
    old = "Referral requested: hunger — Eastside Pantry"  # formatted before migration 0019
    assert flag_reason(old, None, None, TRANSLATOR.get("es").gettext) == old


def test_a_translation_that_does_not_fit_its_params_falls_back_to_the_english() -> None:
    def slip(text: str) -> str:
        return "Derivación: {necesidad}" if text == REFERRAL_REQUESTED else text

    stored = flag_reason(
        REFERRAL_REQUESTED, REFERRAL_REQUESTED, {"need": "food", "service": PANTRY}, english
    )
    assert (
        flag_reason(stored, REFERRAL_REQUESTED, {"need": "food", "service": PANTRY}, slip) == stored
    )
