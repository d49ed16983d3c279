"""Every user-facing string reaches Spanish and Ukrainian speakers translated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cm_bot.i18n import Translator
from cm_bot.i18n.catalog import check
from cm_bot.i18n.yaml_extractor import extract

ROOT = Path(__file__).resolve().parents[2]


def test_template_is_current_and_every_catalogue_is_complete() -> None:
    problems = check(ROOT)
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.parametrize(("locale", "yes"), [("es", "Sí"), ("uk", "Так")])
def test_each_locale_loads_a_real_catalogue(locale: str, yes: str) -> None:
    translator = Translator(ROOT / "locales")
    assert locale in translator.locales
    assert translator.gettext(locale, "Yes") == yes
    # A fuzzy or missing entry would silently show English: make sure whole flows are translated.
    assert translator.gettext(locale, "Thank you. Nothing has changed.") != (
        "Thank you. Nothing has changed."
    )


def test_unsupported_language_falls_back_to_the_default() -> None:
    translator = Translator(ROOT / "locales", default_locale="es")
    assert translator.locale_for("fr-FR") == "es"
    assert translator.locale_for("uk-UA") == "uk"
    assert translator.locale_for(None) == "es"


def test_ukrainian_plural_forms_have_three_forms() -> None:
    header = (ROOT / "locales/uk/LC_MESSAGES/messages.po").read_text(encoding="utf-8")
    assert "nplurals=3" in header


def test_yaml_extractor_yields_text_with_line_numbers_and_translator_notes(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(
        "id: f\ntitle: Check-in\nsteps:\n  - id: q\n    type: yesno\n    key: f.q\n"
        "    note: Keep it short\n    text: Are you okay?\n",
        encoding="utf-8",
    )
    with flow.open("rb") as handle:
        found = list(extract(handle, [], [], {}))
    assert (2, None, "Check-in", []) in found
    assert (8, None, "Are you okay?", ["Keep it short"]) in found


@pytest.mark.parametrize(("locale", "never", "no_stress"), [("es", "Ningún día", "Nada")])
def test_the_same_english_label_is_translated_by_its_meaning(
    locale: str, never: str, no_stress: str
) -> None:
    """ "Not at all" answers "how often" in the PHQ and "how much stress" in the AHC."""
    from cm_bot.engine.answers import label_of
    from cm_bot.flows import load_flows
    from cm_bot.flows.schema import ChoiceStep

    flows = load_flows(ROOT / "conversations")

    def first_option(flow_id: str, key: str) -> Any:
        step = next(s for s in flows.get(flow_id).steps if getattr(s, "key", None) == key)
        assert isinstance(step, ChoiceStep)
        return step.options[0]

    _ = Translator(ROOT / "locales").get(locale).gettext
    assert label_of(first_option("screening_phq", "phq2.q1"), _) == never
    stress = first_option("screening_ahc_supplemental", "ahc.q24")
    assert label_of(stress, _) == no_stress
    # In English (no catalogue) the label reads as written, without its context.
    assert label_of(stress, Translator(ROOT / "locales").get("en").gettext) == "Not at all"


def test_an_option_context_becomes_the_msgctxt(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(
        "id: f\nsteps:\n  - id: q\n    type: choice\n    key: f.q\n    text: Stress?\n"
        "    options:\n      - {value: 0, label: Not at all, context: amount of stress}\n",
        encoding="utf-8",
    )
    with flow.open("rb") as handle:
        found = list(extract(handle, [], [], {}))
    assert (
        8,
        "pgettext",
        ("amount of stress", "Not at all"),
        ["A button label: keep it short."],
    ) in found
