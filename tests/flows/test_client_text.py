"""What a client reads, in every language: no jargon, no interviewer words, one apostrophe.

Every client-visible string of every shipped flow (title, step texts, option and scale
labels, flag-rule messages) is taken through the real catalogues with
:class:`cm_bot.i18n.Translator`, as the engine shows it (issue 13; clinical and newcomer
reviews of 2026-12-07). Staff-only text (flag reasons, translator notes) is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from cm_bot.engine.answers import label_of
from cm_bot.flows import Flow, load_flows
from cm_bot.flows.schema import ChoiceStep, ScaleStep
from cm_bot.i18n import Translator

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ("en", "es", "uk")

# Instrument codes and names, and the licence line's names (docs/instruments.md §2.4, §3.4, §4.4,
# §1.8): they belong in the flow files' comments and the README, not in the chat.
JARGON = re.compile(
    r"\b(?:PHQ|GAD|AHC|HVS|HRSN|C-?SSRS)(?![^\W\d_])"
    r"|Hunger\s+Vital\s+Sign|Spitzer|Kroenke|Pfizer|HealthWatch|Accountable\s+Health",
    re.IGNORECASE,
)
# Interviewer language in an answer button ("Don't know/refused"): en, es, uk.
REFUSAL = re.compile(r"refus|rechaz|відмов", re.IGNORECASE)
# Ukrainian uses the typographic apostrophe ʼ (U+02BC) only: not ' ’ ‘ ` ´.
UK_APOSTROPHE = "\u02bc"
OTHER_APOSTROPHES = re.compile("['\u2019\u2018`\u00b4]")


@pytest.fixture(scope="module")
def flows() -> list[Flow]:
    return list(load_flows(ROOT / "conversations"))


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator(ROOT / "locales")


def client_text(flow: Flow, translator: Translator, locale: str) -> Iterator[tuple[str, str]]:
    """(where, text) for everything of ``flow`` a client can read, in ``locale``."""
    _ = translator.get(locale).gettext
    yield "title", _(flow.title)
    for step in flow.steps:
        yield f"{step.id}.text", _(step.text)
        if isinstance(step, ChoiceStep):
            for option in step.options:
                yield f"{step.id}.option[{option.value}]", label_of(option, _)
        if isinstance(step, ScaleStep):
            for end in (step.min_label, step.max_label):
                if end:
                    yield f"{step.id}.scale_label", _(end)
    for rule in flow.flags:
        if rule.message:
            yield f"flags.{rule.id}.message", _(rule.message)


def option_labels(flow: Flow, translator: Translator, locale: str) -> Iterator[tuple[str, str]]:
    _ = translator.get(locale).gettext
    for step in flow.steps:
        if isinstance(step, ChoiceStep):
            for option in step.options:
                yield f"{step.id}.option[{option.value}]", label_of(option, _)


def _every_flow_and_locale() -> list[tuple[str, str]]:
    ids = sorted(flow.id for flow in load_flows(ROOT / "conversations"))
    return [(flow_id, locale) for flow_id in ids for locale in LOCALES]


CASES = _every_flow_and_locale()


def _flow(flows: list[Flow], flow_id: str) -> Flow:
    return next(flow for flow in flows if flow.id == flow_id)


def test_every_locale_has_a_catalogue(translator: Translator) -> None:
    assert set(LOCALES) <= set(translator.locales)


@pytest.mark.parametrize(("flow_id", "locale"), CASES)
def test_no_instrument_code_or_name_reaches_a_client(
    flows: list[Flow], translator: Translator, flow_id: str, locale: str
) -> None:
    found = [
        (where, text)
        for where, text in client_text(_flow(flows, flow_id), translator, locale)
        if JARGON.search(text)
    ]
    assert found == []


@pytest.mark.parametrize(("flow_id", "locale"), CASES)
def test_no_answer_button_says_refused(
    flows: list[Flow], translator: Translator, flow_id: str, locale: str
) -> None:
    found = [
        (where, text)
        for where, text in option_labels(_flow(flows, flow_id), translator, locale)
        if REFUSAL.search(text)
    ]
    assert found == []


@pytest.mark.parametrize("flow_id", sorted({flow_id for flow_id, _ in CASES}))
def test_ukrainian_flow_text_uses_one_apostrophe(
    flows: list[Flow], translator: Translator, flow_id: str
) -> None:
    found = [
        (where, text)
        for where, text in client_text(_flow(flows, flow_id), translator, "uk")
        if OTHER_APOSTROPHES.search(text)
    ]
    assert found == [], f"use {UK_APOSTROPHE} (U+02BC) for the Ukrainian apostrophe"


def test_every_ukrainian_translation_uses_one_apostrophe() -> None:
    """Also the engine's and the program file's text: the whole catalogue, msgstr only."""
    with (ROOT / "locales/uk/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="uk")
    found: list[tuple[int | None, str]] = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        found += [(message.lineno, s) for s in strings if s and OTHER_APOSTROPHES.search(s)]
    assert found == [], f"use {UK_APOSTROPHE} (U+02BC) for the Ukrainian apostrophe"


def test_the_ukrainian_apostrophe_is_actually_used(translator: Translator) -> None:
    # A check for "no other apostrophe" would also pass with none left at all.
    assert UK_APOSTROPHE in translator.gettext("uk", "Follow-up after finishing with the program")


# --- the translation fixes of the clinical review, pinned -----------------------------------


def _step(flows: list[Flow], flow_id: str, key: str) -> ChoiceStep:
    step = next(s for s in _flow(flows, flow_id).steps if getattr(s, "key", None) == key)
    assert isinstance(step, ChoiceStep)
    return step


def test_ukrainian_safety_answers_read_in_order(flows: list[Flow], translator: Translator) -> None:
    """Fairly often (4), then Frequently (5): the top answer must read as the most often."""
    _ = translator.get("uk").gettext
    for key in ("ahc.q7", "ahc.q8", "ahc.q9", "ahc.q10"):
        labels = [(o.value, label_of(o, _)) for o in _step(flows, "screening_ahc", key).options]
        assert labels == [
            (1, "Ніколи"),
            (2, "Рідко"),
            (3, "Іноді"),
            (4, "Досить часто"),
            (5, "Дуже часто"),
        ]


@pytest.mark.parametrize(("locale", "units"), [("es", "ml"), ("uk", "мл")])
def test_drink_sizes_are_given_in_millilitres_and_percent(
    flows: list[Flow], translator: Translator, locale: str, units: str
) -> None:
    text = translator.gettext(locale, _step(flows, "screening_ahc_supplemental", "ahc.q19").text)
    for amount in ("350", "150", "45"):
        assert f"{amount} {units}" in text
    assert "40 %" in text
    assert "80 proof" in text  # the published US units stay


def test_ukrainian_housing_says_stable_not_permanent(
    flows: list[Flow], translator: Translator
) -> None:
    """«постійне місце проживання» reads as a registered address to displaced people."""
    texts = [text for flow in flows for _, text in client_text(flow, translator, "uk")]
    assert not [t for t in texts if re.search(r"постійн\w*\s+(?:житл|місц)", t)]
    _ = translator.get("uk").gettext
    q1 = [label_of(o, _) for o in _step(flows, "screening_ahc", "ahc.q1").options]
    assert "стабільне житло" in q1[0] and "стабільного житла" in q1[2]


def test_reviewed_wording_in_spanish_and_ukrainian(
    flows: list[Flow], translator: Translator
) -> None:
    spanish = [text for flow in flows for _, text in client_text(flow, translator, "es")]
    ukrainian = [text for flow in flows for _, text in client_text(flow, translator, "uk")]
    assert not [t for t in spanish if "petróleo" in t or "petroleo" in t]
    assert any("combustible para calefacción" in t for t in spanish)
    assert not [t for t in ukrainian if "наркотичних речовин" in t]
    assert "Немає опалення" not in ukrainian
    assert not [t for t in ukrainian if "сердил" in t]
