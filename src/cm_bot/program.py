"""The program file: who runs this bot, when staff answer, and where a person in danger can turn.

A crisis reply that says "call your local emergency number" helps nobody at 3 a.m.;
one that names the program's own crisis line does. So the resources, staff hours,
response time and retention period live in one YAML file a program admin edits
(``conversations/program.yaml`` by default, ``CM_BOT_PROGRAM_FILE`` to point
elsewhere), checked like the flows with ``path:line`` errors. Client-facing strings
in it are English source text, extracted into ``messages.pot`` with the flows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_time, format_timedelta, get_day_names
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cm_bot.flows.loader import PROGRAM_FILE_NAMES, load_document
from cm_bot.i18n.translator import Gettext

SHIPPED = Path(__file__).resolve().parents[2] / "conversations" / "program.yaml"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ResourceKind(StrEnum):
    """What a resource is for; the crisis reply picks resources by kind."""

    EMERGENCY = "emergency"  # police, ambulance: danger right now
    CRISIS = "crisis"  # a suicide and crisis line
    VIOLENCE = "violence"  # domestic and sexual violence
    OTHER = "other"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resource(_Strict):
    """One place to turn: name, what to call or text, and when it answers."""

    id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    kind: ResourceKind
    name: str = Field(min_length=1)
    contact: str = Field(min_length=1)
    hours: str = Field(min_length=1)
    languages: list[str] = Field(min_length=1)
    note: str | None = None  # for translators and admins, never shown

    @field_validator("name", "contact", "hours")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for code in value:
            try:
                Locale.parse(code)
            except (UnknownLocaleError, ValueError):
                raise ValueError(f"unknown language code '{code}'") from None
        return value


class StaffHours(_Strict):
    """When someone reads flags: the days and local hours staff work."""

    days: list[str] = Field(min_length=1)
    opens: time
    closes: time
    timezone: str

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        unknown = [d for d in value if d not in DAYS]
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r}; use {', '.join(DAYS)}")
        return sorted(set(value), key=DAYS.index)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError, OSError):
            raise ValueError(f"unknown time zone '{value}' (use an IANA name)") from None
        return value


class Retention(_Strict):
    """How long records are kept after a case closes."""

    years: int = Field(default=0, ge=0, le=100)
    months: int = Field(default=0, ge=0, le=1200)

    @property
    def period(self) -> timedelta:
        """The period as a span of days (for wording, not for arithmetic on dates)."""
        return timedelta(days=self.years * 365 + self.months * 30)


# The needs a program may map to directory services (issue 17): the AHC domains
# (cm_bot.scoring.ahc.DOMAINS: living_situation is housing), ``hunger`` for a positive
# Hunger Vital Sign, and any need a flow names (:func:`flow_needs`).
HUNGER_NEED = "hunger"
_NEED_ALIASES = {"housing": "living_situation", "hvs": HUNGER_NEED, "violence": "safety"}


def builtin_needs() -> tuple[str, ...]:
    """The AHC domain ids, then ``hunger``."""
    from cm_bot.scoring.ahc import DOMAINS

    return (*(domain for domain, _items in DOMAINS), HUNGER_NEED)


def flow_needs(flows: Iterable[Any]) -> set[str]:
    """The needs flows name: a flag's ``need``, and the options of a question asking for needs.

    A question whose answer key ends in ``needs`` (``followup.new_needs``: "Do you need help
    with any of these now?") names a need with each option that is not exclusive ("none").
    """
    found: set[str] = set()
    for flow in flows:
        for flag in getattr(flow, "flags", ()):
            need = getattr(flag, "need", None)
            if isinstance(need, str):
                found.add(need)
        for step in getattr(flow, "steps", ()):
            if str(getattr(step, "key", "")).endswith("needs"):
                found.update(str(o.value) for o in getattr(step, "options", ()) if not o.exclusive)
    return found


class NeedMapping(_Strict):
    """The directory services a need is offered: by taxonomy term, and by service id.

    ``terms`` match a term's code or name, ignoring case ("Food Pantry", "BD-1800.2000");
    ``services`` are HSDS service ids offered whatever their terms.
    """

    terms: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    note: str | None = None  # for admins, never shown

    @field_validator("terms", "services")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not item.strip() for item in value):
            raise ValueError("must not hold a blank entry")
        return value


class Program(_Strict):
    """The program running the bot, as its admin describes it."""

    name: str = Field(min_length=1)
    contact: str = Field(min_length=1)  # how to reach the program without this chat
    country: str
    example: bool = False  # an example whose numbers a program must verify before use
    staff_hours: StaffHours
    response_time: str = Field(min_length=1)
    retention: Retention
    resources: list[Resource] = Field(min_length=1)
    crisis_words: dict[str, list[str]] = Field(default_factory=dict)
    violence_words: dict[str, list[str]] = Field(default_factory=dict)
    # need -> directory services (cm_bot.resources.match); see builtin_needs()
    needs: dict[str, NeedMapping] = Field(default_factory=dict)
    # Days after a referral (and again after "still waiting") the client is asked whether
    # they got help (issue 17).
    referral_checkin_days: int = Field(default=14, ge=1, le=365)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value not in Locale("en").territories or not value.isalpha():
            raise ValueError(f"unknown country '{value}' (use an ISO 3166 code such as US)")
        return value

    def of_kind(self, *kinds: ResourceKind) -> list[Resource]:
        """Resources of these kinds, in the order given, then in file order."""
        return [r for kind in kinds for r in self.resources if r.kind is kind]

    # -- wording for clients ----------------------------------------------------------------

    def staff_hours_text(self, locale: str) -> str:
        """``Monday–Friday, 9:00 AM–5:00 PM (America/New_York)`` in the reader's language."""
        hours = self.staff_hours
        names = get_day_names("wide", locale=_babel(locale))
        indexes = [DAYS.index(d) for d in hours.days]
        runs: list[list[int]] = []
        for index in indexes:
            if runs and runs[-1][-1] == index - 1:
                runs[-1].append(index)
            else:
                runs.append([index])
        days = ", ".join(
            names[run[0]] if len(run) == 1 else f"{names[run[0]]}–{names[run[-1]]}" for run in runs
        )
        opens = format_time(hours.opens, "short", locale=_babel(locale))
        closes = format_time(hours.closes, "short", locale=_babel(locale))
        return f"{days}, {opens}–{closes} ({hours.timezone})"

    def retention_text(self, locale: str) -> str:
        """``7 years`` in the reader's language."""
        return format_timedelta(
            self.retention.period, locale=_babel(locale), threshold=2, format="long"
        )

    def resource_lines(self, resources: Iterable[Resource], _: Gettext) -> list[str]:
        """One line per resource: ``name: contact (hours)``, translated."""
        return [f"• {_(r.name)}: {_(r.contact)} ({_(r.hours)})" for r in resources]

    def context(self, _: Gettext, locale: str) -> dict[str, str]:
        """Placeholders flow text may use: ``{program}``, ``{emergency}``, ``{crisis_line}`` ..."""
        emergency = self.of_kind(ResourceKind.EMERGENCY)
        crisis = self.of_kind(ResourceKind.CRISIS)
        violence = self.of_kind(ResourceKind.VIOLENCE)
        return {
            "program": _(self.name),
            "program_contact": _(self.contact),
            "emergency": "; ".join(_(r.contact) for r in emergency),
            "crisis_line": "; ".join(f"{_(r.name)}: {_(r.contact)}" for r in crisis),
            "violence_line": "; ".join(f"{_(r.name)}: {_(r.contact)}" for r in violence),
            "response_time": _(self.response_time),
            "staff_hours": self.staff_hours_text(locale),
            "retention": self.retention_text(locale),
        }

    def client_texts(self) -> list[str]:
        """Every translatable string in the file (the extractor finds the same ones)."""
        texts = [self.name, self.contact, self.response_time]
        for resource in self.resources:
            texts.extend((resource.name, resource.contact, resource.hours))
        return texts


# Fields the Babel extractor pulls from a program file (see cm_bot.i18n.yaml_extractor).
PROGRAM_TEXT_FIELDS = frozenset({"name", "contact", "hours", "response_time"})


def _babel(locale: str) -> Locale:
    try:
        return Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        return Locale("en")


def _need_problems(
    program: Program, known: Iterable[str] | None
) -> Iterable[tuple[tuple[str | int, ...], str]]:
    import difflib

    names = sorted(set(known)) if known is not None else None
    for need, mapping in program.needs.items():
        if names is not None and need not in names:
            close = [_NEED_ALIASES[need]] if need in _NEED_ALIASES else []
            close = close or difflib.get_close_matches(need, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            message = f"needs: unknown need '{need}'{hint}; use an AHC domain, '{HUNGER_NEED}'"
            yield ("needs", need), message + " or a need a flow names"
        if not mapping.terms and not mapping.services:
            yield ("needs", need), f"needs.{need}: maps to no taxonomy term and no service id"


def _semantic_problems(
    program: Program, needs: Iterable[str] | None = None
) -> Iterable[tuple[tuple[str | int, ...], str]]:
    yield from _need_problems(program, needs)
    seen: set[str] = set()
    for index, resource in enumerate(program.resources):
        if resource.id in seen:
            yield ("resources", index, "id"), f"duplicate resource id '{resource.id}'"
        seen.add(resource.id)
    for kind in (ResourceKind.EMERGENCY, ResourceKind.CRISIS):
        if not program.of_kind(kind):
            yield ("resources",), f"needs at least one '{kind.value}' resource"
    hours = program.staff_hours
    if hours.opens >= hours.closes:
        yield ("staff_hours", "closes"), "staff hours must close after they open"
    if program.retention.period <= timedelta(0):
        yield ("retention",), "retention must be at least one month"
    from cm_bot.engine.crisis import CrisisWords, PhraseError  # pure; imported late (cycle)

    for field in ("crisis_words", "violence_words"):
        for locale, words in getattr(program, field).items():
            for index, word in enumerate(words):
                try:
                    if field == "crisis_words":
                        CrisisWords({locale: [word]}, locales=[locale])
                    else:
                        CrisisWords(extra_violence={locale: [word]}, locales=[locale])
                except PhraseError as exc:
                    yield (field, locale, index), f"{field}.{locale}: {exc}"


def looks_like_program(data: Any) -> bool:
    """A YAML document that describes a program rather than a flow."""
    return isinstance(data, dict) and "resources" in data and "steps" not in data


def load_program(path: Path, flows: Iterable[Any] | None = None) -> Program:
    """Load and check a program file; :class:`FlowDefinitionError` lists every problem by line.

    With ``flows`` (``cm-bot flows check``), every need in the ``needs`` mapping must be a
    built-in need or one those flows name; without, only empty mappings are refused.
    """
    known = None if flows is None else {*builtin_needs(), *flow_needs(flows)}
    return load_document(
        path,
        Program,
        shape="a program file is a mapping with name, resources ...",
        semantic=functools.partial(_semantic_problems, needs=known),
    )


@functools.cache
def shipped_program() -> Program:
    """The default program shipped with cm-bot (a United States program)."""
    return load_program(SHIPPED)


def program_files(paths: Sequence[Path]) -> list[Path]:
    """Program files among ``paths`` (files, or folders holding ``program.yaml``)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.iterdir()) if p.name in PROGRAM_FILE_NAMES)
        elif path.exists():
            found.append(path)
    return found


__all__ = [
    "HUNGER_NEED",
    "PROGRAM_FILE_NAMES",
    "PROGRAM_TEXT_FIELDS",
    "NeedMapping",
    "Program",
    "Resource",
    "ResourceKind",
    "Retention",
    "StaffHours",
    "builtin_needs",
    "flow_needs",
    "load_program",
    "looks_like_program",
    "program_files",
    "shipped_program",
]
