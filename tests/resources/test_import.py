"""Importing an Open Referral HSDS 3.0 directory: the specification's examples, a synthetic
directory of 300 services, broken packages refused whole, and re-imports by id (issue 17)."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from cm_bot.resources.hsds import PackageError, read_package
from cm_bot.resources.store import ImportCounts, import_package
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    ResourceAddress,
    ResourceAttribute,
    ResourceLanguage,
    ResourceOrganization,
    ResourcePhone,
    ResourceSchedule,
    ResourceService,
    ResourceServiceAtLocation,
    ResourceTaxonomyTerm,
)
from tests.resources.directory import build, ident, write_csv, write_json
from tests.support.paths import DATA, ROOT

EXAMPLES = DATA / "hsds"
SHARED = ROOT.parent / "shared" / "data" / "hsds-3.0-examples"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
SERVICE = "ac148810-d857-441c-9679-408f346de14b"


def load(db: Engine, path: Path, now: datetime = NOW) -> ImportCounts:
    return import_package(db, read_package(path), "cli:test", now)


def count(db: Engine, model: type) -> int:
    with transaction(db) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def service(db: Engine, service_id: str) -> ResourceService:
    with transaction(db) as session:
        found = session.get(ResourceService, service_id)
        assert found is not None
        return found


def problems(path: Path) -> list[str]:
    with pytest.raises(PackageError) as caught:
        read_package(path)
    return [str(p) for p in caught.value.problems]


# -- the specification's examples --------------------------------------------------------


def test_the_example_csv_package_imports_every_kind_of_record(db: Engine) -> None:
    counts = load(db, EXAMPLES / "csv")
    assert counts.added["service"] == 1 and counts.inactivated == 0
    found = service(db, SERVICE)
    assert found.name == "Community Counselling"
    assert found.status == "active"
    assert found.assured_date == date(2005, 1, 1)
    assert found.last_modified == datetime(2023, 3, 15, 10, 30, 45, 123000, tzinfo=UTC)
    assert found.opening_hours == "Thu, Fri 10:00\u202fAM–6:00\u202fPM"
    for model in (
        ResourceOrganization,
        ResourceServiceAtLocation,
        ResourcePhone,
        ResourceAddress,
        ResourceSchedule,
        ResourceLanguage,
        ResourceTaxonomyTerm,
        ResourceAttribute,
    ):
        assert count(db, model) == 1, model
    with transaction(db) as session:
        language = session.execute(select(ResourceLanguage)).scalar_one()
        term = session.execute(select(ResourceTaxonomyTerm)).scalar_one()
        audit = session.execute(
            select(AuditLog).where(col(AuditLog.action) == "resources_import")
        ).scalar_one()
    assert (language.name, language.lang) == ("Urdu", "ur")
    assert (term.code_key, term.name_key) == ("code", "name")
    assert audit.actor == "cli:test" and audit.detail is not None
    assert audit.detail["services"] == 1


def test_the_same_package_zipped_imports_the_same(db: Engine, tmp_path: Path) -> None:
    archive = tmp_path / "directory.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for file in sorted((EXAMPLES / "csv").iterdir()):
            out.write(file, f"hsds/{file.name}")  # in one folder, as zips often are
    counts = load(db, archive)
    assert counts.added["service"] == 1 and counts.added["phone"] == 1
    assert service(db, SERVICE).name == "Community Counselling"


def test_the_unchanged_example_is_refused_for_its_four_dangling_ids(db: Engine) -> None:
    """The specification's own CSV example names records it does not hold (see README)."""
    source = SHARED / "csv" if (SHARED / "csv").exists() else None
    if source is None:
        pytest.skip("shared/data/hsds-3.0-examples is not beside the repository")
    found = problems(source)
    assert [p.split("csv/", 1)[1] for p in found] == [
        "locations.csv:2: organization_id: 985e4a42-bd9f-4edc-911d-0243a4640aca is not the id "
        "of any organization in the package",
        "contacts.csv:2: organization_id: ae67a707-5893-4225-b0b1-320ab9cb596b is not the id of "
        "any organization in the package",
        "contacts.csv:2: service_at_location_id: 93eaf18d-1cd2-4ec7-bffb-3c9172ee5070 is not the "
        "id of any service_at_location in the package",
        "taxonomy_terms.csv:2: taxonomy_id: 07ff6aee-a219-438c-b694-d2fcb6c5373b is not the id "
        "of any taxonomy in the package",
    ]
    assert count(db, ResourceService) == 0


def test_a_single_service_as_json_imports_with_what_it_nests(db: Engine) -> None:
    counts = load(db, EXAMPLES / "json" / "service_full.json")
    assert not counts.complete
    found = service(db, SERVICE)
    assert found.organization_id == "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610"
    assert found.opening_hours == "Thu, Fri 10:00\u202fAM–6:00\u202fPM"
    with transaction(db) as session:
        link = session.execute(select(ResourceServiceAtLocation)).scalar_one()
        attribute = session.execute(select(ResourceAttribute)).scalar_one()
        address = session.execute(select(ResourceAddress)).scalar_one()
    assert link.service_id == SERVICE and link.location_id == "3a19ff88-4620-4d17-9830-ac1d859eb5d5"
    assert attribute.taxonomy_term_id == "3f7b145d-84af-42d7-8fae-eaca714b02b2"
    assert address.location_id == link.location_id


def test_a_service_list_page_imports_but_inactivates_nothing(db: Engine) -> None:
    """service_list.json is page 1 of 10: the rest of the directory is not in it."""
    load(db, EXAMPLES / "csv")
    write = build(3, TODAY)
    counts = import_package(db, read_package(_json(write)), "cli:test", NOW)  # 3 others
    assert counts.complete and counts.inactivated == 1  # the example service left out
    package = read_package(EXAMPLES / "json" / "service_list.json")
    assert not package.complete and package.note == "1 of 10 pages"
    counts = import_package(db, package, "cli:test", NOW)
    assert counts.inactivated == 0 and counts.updated["service"] == 1
    assert service(db, SERVICE).status == "active"  # listed again: the package's status
    assert service(db, ident("svc", 1)).status == "active"  # not in the page: untouched
    assert count(db, ResourcePhone) == 4  # the list page has no phones: none removed


_tmp: list[Path] = []


def _json(tables: dict[str, list[dict[str, object]]]) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="hsds-json-"))
    _tmp.append(folder)
    return write_json(folder / "services.json", tables)


@pytest.fixture(autouse=True, scope="module")
def _cleanup() -> object:
    yield None
    for folder in _tmp:
        shutil.rmtree(folder, ignore_errors=True)


# -- a synthetic directory ---------------------------------------------------------------


def test_a_synthetic_directory_of_300_services_imports_from_csv_and_from_json(
    db: Engine, tmp_path: Path
) -> None:
    tables = build(300, TODAY)
    counts = load(db, write_csv(tmp_path / "csv", tables))
    assert counts.added["service"] == 300
    assert counts.added["language"] == len(tables["language"])
    assert count(db, ResourceService) == 300
    again = load(db, write_json(tmp_path / "services.json", tables))
    assert again.added.get("service") == 0 and again.updated["service"] == 300
    assert again.inactivated == 0
    assert count(db, ResourcePhone) == 300 and count(db, ResourceLanguage) == len(
        tables["language"]
    )
    statuses = {s.status for s in _all_services(db)}
    assert statuses == {"active", "inactive", "temporarily closed"}


def _all_services(db: Engine) -> list[ResourceService]:
    with transaction(db) as session:
        return list(session.execute(select(ResourceService)).scalars())


def test_a_reimport_updates_by_id_and_inactivates_what_it_leaves_out(
    db: Engine, tmp_path: Path
) -> None:
    tables = build(20, TODAY)
    load(db, write_csv(tmp_path / "first", tables))
    gone = ident("svc", 5)
    tables["service"] = [s for s in tables["service"] if s["id"] != gone]
    for table in ("phone", "schedule", "language", "attribute"):
        tables[table] = [r for r in tables[table] if r.get("service_id", r.get("link_id")) != gone]
    tables["service_at_location"] = [
        r for r in tables["service_at_location"] if r["service_id"] != gone
    ]
    tables["service"][0]["name"] = "Renamed pantry"
    tables["phone"] = [p for p in tables["phone"] if p["service_id"] != ident("svc", 1)]
    later = datetime(2027, 1, 5, tzinfo=UTC)
    counts = load(db, write_csv(tmp_path / "second", tables), now=later)
    assert counts.inactivated == 1
    assert counts.removed["phone"] == 1  # service 1's phone: its service is listed, it is not
    kept = service(db, gone)
    assert kept.status == "inactive" and kept.missing_since == later  # kept, not deleted
    assert service(db, ident("svc", 0)).name == "Renamed pantry"
    assert count(db, ResourceService) == 20
    with transaction(db) as session:
        phones = set(session.execute(select(col(ResourcePhone.service_id))).scalars())
    assert gone in phones  # a missing service keeps its details for its referrals
    assert ident("svc", 1) not in phones
    # listed again: back with the package's status, no longer missing
    load(db, write_csv(tmp_path / "third", build(20, TODAY)))
    back = service(db, gone)
    assert back.status == "active" and back.missing_since is None


# -- broken packages ---------------------------------------------------------------------


def _broken(tmp_path: Path, table: str, row: int, column: str, value: str) -> Path:
    """The 300-service package with one cell changed (row 0 is CSV line 2)."""
    folder = write_csv(tmp_path / "broken", build(300, TODAY))
    path = folder / {"service": "services.csv", "phone": "phones.csv"}.get(table, f"{table}s.csv")
    with path.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    rows[row][column] = value
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "expected"),
    [
        ("service", 41, "name", "", "services.csv:43: name: required field is empty"),
        (
            "service",
            7,
            "status",
            "closed",
            "services.csv:9: status: 'closed' is not one of: active, inactive, defunct, "
            "temporarily closed",
        ),
        (
            "phone",
            120,
            "service_id",
            "5a0f3c1e-0000-4000-8000-000000000000",
            "phones.csv:122: service_id: 5a0f3c1e-0000-4000-8000-000000000000 is not the id of "
            "any service in the package",
        ),
        ("service", 3, "assured_date", "last week", "services.csv:5: assured_date: 'last week' "),
        ("service", 9, "id", "not-a-uuid", "services.csv:11: id: 'not-a-uuid' is not a valid uuid"),
    ],
)
def test_a_broken_package_is_refused_by_file_and_row_and_nothing_is_stored(
    db: Engine,
    tmp_path: Path,
    table: str,
    row: int,
    column: str,
    value: str,
    expected: str,
) -> None:
    found = problems(_broken(tmp_path, table, row, column, value))
    assert any(p.split("broken/", 1)[1].startswith(expected) for p in found), found
    assert count(db, ResourceService) == 0


def test_a_missing_required_column_and_a_duplicate_id_are_problems(tmp_path: Path) -> None:
    folder = write_csv(tmp_path / "pkg", build(5, TODAY))
    services = folder / "services.csv"
    lines = services.read_text(encoding="utf-8").splitlines()
    lines.append(lines[1])  # service 0 twice
    services.write_text("\n".join(lines) + "\n", encoding="utf-8")
    addresses = folder / "addresses.csv"
    text = addresses.read_text(encoding="utf-8").replace("city,", "town,", 1)
    addresses.write_text(text, encoding="utf-8")
    found = [p.split("pkg/", 1)[1] for p in problems(folder)]
    assert "addresses.csv:1: city: required column is missing" in found
    assert any(p.startswith("services.csv:7: id: duplicate id") for p in found), found


def test_a_row_is_named_by_the_line_it_starts_on_when_a_value_spans_lines(
    tmp_path: Path,
) -> None:
    tables = build(5, TODAY)
    tables["service"][1]["description"] = "Food.\nMore food.\nAnd more."  # lines 3-5
    tables["service"][3]["status"] = "gone"  # the fourth service: line 2 + 3 + 2
    found = [p.split("pkg/", 1)[1] for p in problems(write_csv(tmp_path / "pkg", tables))]
    assert found == [
        "services.csv:7: status: 'gone' is not one of: active, inactive, defunct, "
        "temporarily closed"
    ]


def test_json_problems_name_the_index_path(tmp_path: Path, db: Engine) -> None:
    page = json.loads(write_json(tmp_path / "s.json", build(4, TODAY)).read_text())
    del page["contents"][2]["name"]
    page["contents"][3]["phones"][0]["number"] = 5551234
    page["contents"][1]["status"] = "open"
    page["contents"][0]["attributes"][0]["taxonomy_term"]["id"] = "x"
    (tmp_path / "bad.json").write_text(json.dumps(page), encoding="utf-8")
    found = [p.split("bad.json:", 1)[1] for p in problems(tmp_path / "bad.json")]
    assert "contents[2]: name: required field is missing" in found
    assert "contents[3].phones[0]: number: expected string, got 5551234" in found
    assert any(p.startswith("contents[1]: status: 'open' is not one of") for p in found)
    assert "contents[0].attributes[0].taxonomy_term: id: 'x' is not a valid uuid" in found
    assert count(db, ResourceService) == 0


def test_not_a_package_at_all(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text("{not json", encoding="utf-8")
    assert problems(tmp_path / "notes.json")[0].startswith(f"{tmp_path / 'notes.json'}:1: ")
    assert problems(tmp_path / "missing") == [f"{tmp_path / 'missing'}: no such file or folder"]
    (tmp_path / "empty").mkdir()
    assert problems(tmp_path / "empty")[0].endswith("no datapackage.json and no .json files")
