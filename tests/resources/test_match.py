"""What a client with a need is offered: active services of the need's terms, in order
(language served, most recently assured, name), stale ones marked (issue 17)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cm_bot.program import NeedMapping, shipped_program
from cm_bot.resources.hsds import read_package
from cm_bot.resources.match import (
    ServiceOffer,
    directory,
    match,
    offers_by_id,
    one_line,
    stale_before,
)
from cm_bot.resources.store import import_package
from tests.resources.directory import TERMS, build, ident, write_csv

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def load(db: Engine, tmp_path: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    import_package(db, read_package(write_csv(tmp_path / "pkg", tables)), "cli:test", NOW)


@pytest.fixture
def directory_300(db: Engine, tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    tables = build(300, TODAY)
    load(db, tmp_path, tables)
    return tables


def expected_order(
    tables: dict[str, list[dict[str, Any]]], term: int, language: str | None
) -> list[str]:
    """The order the rules give, computed from the rows the test built."""
    speaks = {r["service_id"] for r in tables["language"] if r["code"] == language}
    tagged = {
        r["link_id"] for r in tables["attribute"] if r["taxonomy_term_id"] == ident("term", term)
    }
    candidates = [s for s in tables["service"] if s["id"] in tagged and s["status"] == "active"]
    candidates.sort(key=lambda s: s["name"])
    candidates.sort(key=lambda s: s["assured_date"], reverse=True)
    candidates.sort(key=lambda s: s["id"] not in speaks)
    return [s["id"] for s in candidates]


def test_the_shipped_mapping_offers_three_food_services_most_recently_assured_first(
    db: Engine, directory_300: dict[str, list[dict[str, Any]]]
) -> None:
    needs = shipped_program().needs
    offers = match(db, "food", needs, today=TODAY)
    assert len(offers) == 3
    pantry = expected_order(directory_300, 0, None)
    emergency = expected_order(directory_300, 1, None)
    merged = sorted(
        pantry + emergency,
        key=lambda i: next(
            (-date.fromisoformat(s["assured_date"]).toordinal(), s["name"])
            for s in directory_300["service"]
            if s["id"] == i
        ),
    )
    assert [o.id for o in offers] == merged[:3]
    first = offers[0]
    assert isinstance(first, ServiceOffer)
    assert first.name == "Service 00001" and first.assured_date == TODAY - timedelta(days=1)
    assert first.description == "Emergency Food for families in district 1."
    assert first.phone == "555-0001"
    assert first.address == "1 Main Street, Springfield, IL 60001"
    assert first.opening_hours == "Mon–Fri 9:00\u202fAM–5:00\u202fPM"
    assert first.languages == ("en",)
    assert not first.stale and first.status == "active"
    assert first.organization == "Organization 00001"


@pytest.mark.parametrize("language", ["es", "uk", "spa", "uk-UA"])
def test_services_in_the_clients_language_come_first(
    db: Engine, directory_300: dict[str, list[dict[str, Any]]], language: str
) -> None:
    mapping = {"transportation": NeedMapping(terms=["transportation"])}
    offers = match(db, "transportation", mapping, language, limit=50, today=TODAY)
    code = {"spa": "es", "uk-UA": "uk"}.get(language, language)
    assert [o.id for o in offers] == expected_order(directory_300, 5, code)[:50]
    speaking = [o for o in offers if o.speaks_language]
    assert speaking and offers[: len(speaking)] == speaking
    assert all(code in o.languages for o in speaking)
    assert not any(o.speaks_language for o in offers[len(speaking) :])


def test_terms_match_by_code_or_name_in_any_case_and_services_by_id(
    db: Engine, directory_300: dict[str, list[dict[str, Any]]]
) -> None:
    by_name = match(db, "x", {"x": NeedMapping(terms=["SHELTER"])}, limit=100, today=TODAY)
    by_code = match(
        db, "x", {"x": NeedMapping(terms=[TERMS[2][0].lower()])}, limit=100, today=TODAY
    )
    assert (
        [o.id for o in by_name] == [o.id for o in by_code] == expected_order(directory_300, 2, None)
    )
    named = ident("svc", 3)  # a Housing service, mapped by id to another need
    offers = match(
        db, "x", {"x": NeedMapping(terms=["Shelter"], services=[named])}, limit=100, today=TODAY
    )
    assert named in [o.id for o in offers]
    only = match(db, "y", {"y": NeedMapping(services=[named])}, today=TODAY)
    assert [o.id for o in only] == [named]


def test_inactive_and_closed_services_are_never_offered(
    db: Engine, directory_300: dict[str, list[dict[str, Any]]]
) -> None:
    closed = [s["id"] for s in directory_300["service"] if s["status"] != "active"]
    mapping = {"x": NeedMapping(terms=[name for _, name in TERMS], services=closed)}
    offers = match(db, "x", mapping, limit=1000, today=TODAY)
    assert len(offers) == sum(1 for s in directory_300["service"] if s["status"] == "active")
    assert not set(closed) & {o.id for o in offers}
    listed = directory(db, today=TODAY, include_inactive=True)
    assert len(listed) == 300 and {o.status for o in listed} >= {"inactive", "temporarily closed"}
    assert len(directory(db, today=TODAY)) == len(offers)


def test_services_assured_over_12_months_ago_or_never_are_stale(db: Engine, tmp_path: Path) -> None:
    tables = build(8, TODAY)
    dates = [TODAY, stale_before(TODAY), stale_before(TODAY) - timedelta(days=1), None]
    for index, when in enumerate(dates):
        service = tables["service"][index + 1]
        service["status"] = "active"
        if when is None:
            del service["assured_date"]
        else:
            service["assured_date"] = when.isoformat()
    load(db, tmp_path, tables)
    found = {o.id: o for o in directory(db, today=TODAY)}
    assert [found[ident("svc", i + 1)].stale for i in range(4)] == [False, False, True, True]
    assert stale_before(date(2028, 2, 29)) == date(2027, 2, 28)


def test_a_need_not_mapped_matches_nothing_and_a_session_works_too(
    db: Engine, directory_300: dict[str, list[dict[str, Any]]]
) -> None:
    mapping = {"food": NeedMapping(terms=["Food Pantry"])}
    assert match(db, "education", mapping, today=TODAY) == []
    assert match(db, "food", {"food": NeedMapping(terms=["No such term"])}, today=TODAY) == []
    with Session(db) as session:
        in_session = match(session, "food", mapping, "es", today=TODAY)
    assert in_session == match(db, "food", mapping, "es", today=TODAY)
    assert len(in_session) == 3


def test_opening_hours_are_in_the_clients_language(
    db: Engine, directory_300: dict[str, list[dict[str, Any]]]
) -> None:
    mapping = {"x": NeedMapping(services=[ident("svc", 1)])}
    (spanish,) = match(db, "x", mapping, "es", today=TODAY)
    (ukrainian,) = match(db, "x", mapping, "uk", today=TODAY)
    assert spanish.opening_hours == "lun–vie 9:00–17:00"
    assert ukrainian.opening_hours is not None and ukrainian.opening_hours.startswith("пн–пт")


def test_one_line_descriptions() -> None:
    assert one_line("  Hot meals\n daily.\nSecond line") == "Hot meals"
    assert one_line(None) == ""
    long = "word " * 60
    assert len(one_line(long)) == 160 and one_line(long).endswith("…")


def test_the_next_matching_service_leaves_out_those_tried(
    db: Engine, directory_300: dict[str, list[dict[str, Any]]]
) -> None:
    needs = shipped_program().needs
    first = match(db, "utilities", needs, "es", today=TODAY)
    tried = [first[0].id, first[1].id]
    after = match(db, "utilities", needs, "es", today=TODAY, exclude=tried)
    assert after[0].id == first[2].id
    assert not set(tried) & {o.id for o in after}
    assert [o.id for o in after] == expected_order(directory_300, 4, "es")[2:5]


def test_offers_by_id_keep_the_order_given_whatever_the_status(
    db: Engine, directory_300: dict[str, list[dict[str, Any]]]
) -> None:
    inactive, closed, active = ident("svc", 10), ident("svc", 25), ident("svc", 3)
    offers = offers_by_id(db, [closed, active, "not-there", inactive], today=TODAY, language="es")
    assert [(o.id, o.status) for o in offers] == [
        (closed, "temporarily closed"),
        (active, "active"),
        (inactive, "inactive"),
    ]
    assert [o.speaks_language for o in offers] == [False, True, False]
    assert offers_by_id(db, [], today=TODAY) == []
