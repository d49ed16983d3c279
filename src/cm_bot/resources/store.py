"""Store a checked HSDS package: upsert by id, in one transaction, never deleting a service.

A package that lists the whole directory (:attr:`Package.complete`) is a snapshot: a
service it leaves out becomes ``inactive`` (``missing_since`` set), because referrals
point at it; listed again, it takes the status the package gives. Organizations,
locations and taxonomy terms are kept too. The records that hang off what the package
lists (phones, addresses, schedules, languages, attributes, service-at-location links)
follow it: one the package no longer lists, under a service, location, organization or
phone it does list, is removed. A partial package (one service, some pages) updates
what it lists and inactivates nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from babel import Locale
from sqlalchemy import Engine, TypeDecorator, delete, insert, select, update
from sqlmodel import SQLModel, col

from cm_bot.domain import ServiceStatus
from cm_bot.resources.hours import opening_hours, schedule_text
from cm_bot.resources.hsds import Package, Row
from cm_bot.storage.admin_common import record_audit
from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    ResourceAddress,
    ResourceAttribute,
    ResourceLanguage,
    ResourceLocation,
    ResourceOrganization,
    ResourcePhone,
    ResourceSchedule,
    ResourceService,
    ResourceServiceAtLocation,
    ResourceTaxonomyTerm,
)

# The HSDS tables the directory keeps, in the order they are written.
TABLES: dict[str, type[SQLModel]] = {
    "organization": ResourceOrganization,
    "location": ResourceLocation,
    "taxonomy_term": ResourceTaxonomyTerm,
    "service": ResourceService,
    "service_at_location": ResourceServiceAtLocation,
    "phone": ResourcePhone,
    "address": ResourceAddress,
    "schedule": ResourceSchedule,
    "language": ResourceLanguage,
    "attribute": ResourceAttribute,
}
# Records that belong to others: (their column, the table it points into).
_OWNED_BY: dict[str, tuple[tuple[str, str], ...]] = {
    "service_at_location": (("service_id", "service"),),
    "phone": (
        ("service_id", "service"),
        ("location_id", "location"),
        ("organization_id", "organization"),
        ("service_at_location_id", "service_at_location"),
    ),
    "address": (("location_id", "location"),),
    "schedule": (
        ("service_id", "service"),
        ("location_id", "location"),
        ("service_at_location_id", "service_at_location"),
    ),
    "language": (("service_id", "service"), ("location_id", "location"), ("phone_id", "phone")),
    "attribute": (("link_id", "*"),),
}
_CHUNK = 500  # ids per IN (...) list

# ISO 639-2 codes seen in directories, to the ISO 639-1 code a client's language has.
_ISO639_2 = {
    "ara": "ar",
    "chi": "zh",
    "deu": "de",
    "eng": "en",
    "fas": "fa",
    "fra": "fr",
    "fre": "fr",
    "ger": "de",
    "hat": "ht",
    "hin": "hi",
    "ita": "it",
    "kor": "ko",
    "per": "fa",
    "pol": "pl",
    "por": "pt",
    "rus": "ru",
    "som": "so",
    "spa": "es",
    "tgl": "tl",
    "ukr": "uk",
    "urd": "ur",
    "vie": "vi",
    "zho": "zh",
}


def language_key(code: str | None, name: str | None = None) -> str | None:
    """The ISO 639-1 code (lower case) a language is matched by, from its code or name."""
    if code:
        short = code.strip().lower().replace("_", "-").split("-")[0]
        if len(short) == 2 and short.isalpha():
            return short
        if short in _ISO639_2:
            return _ISO639_2[short]
    if name:
        return _language_names().get(name.strip().lower())
    return None


_NAMES: dict[str, str] = {}


def _language_names() -> dict[str, str]:
    if not _NAMES:
        for code, name in Locale("en").languages.items():
            if len(code) == 2:
                _NAMES.setdefault(name.lower(), code)
    return _NAMES


@dataclass
class ImportCounts:
    """What an import did, per table: rows added and rows updated; services inactivated."""

    added: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    inactivated: int = 0
    complete: bool = True

    def lines(self) -> list[str]:
        """One line per table with something in it, then the services inactivated."""
        out = []
        for table in TABLES:
            added, updated = self.added.get(table, 0), self.updated.get(table, 0)
            removed = self.removed.get(table, 0)
            if added or updated or removed:
                text = f"{table}: {added} added, {updated} updated"
                out.append(text + (f", {removed} removed" if removed else ""))
        if self.complete:
            out.append(f"services no longer listed, now inactive: {self.inactivated}")
        else:
            out.append("partial import: no service was inactivated")
        return out


def _convert(value: Any, kind: type) -> Any:
    if value is None:
        return None
    if kind is date:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if kind is time:
        return value if isinstance(value, time) else time.fromisoformat(str(value))
    if kind is datetime:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if kind is float:
        return float(value)
    if kind is int:
        return int(float(value))
    if kind is str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return value


def _columns(model: type[SQLModel]) -> dict[str, type]:
    table: Any = model.__table__  # type: ignore[attr-defined]
    kinds: dict[str, type] = {}
    for column in table.columns:
        kind = column.type
        if isinstance(kind, TypeDecorator):  # AutoString, UTCDateTime: their stored type
            kind = kind.impl_instance
        kinds[column.name] = kind.python_type
    return kinds


def _record(table: str, row: Row, columns: Mapping[str, type], now: datetime) -> dict[str, Any]:
    record = {name: _convert(row.get(name), kind) for name, kind in columns.items()}
    if table == "language":
        record["lang"] = language_key(row.get("code"), row.get("name"))
    elif table == "taxonomy_term":
        record["code_key"] = str(row["code"]).strip().lower() if row.get("code") else None
        record["name_key"] = str(row["name"]).strip().lower()
    elif table == "schedule":
        record["hours_text"] = schedule_text(row)
    elif table == "service":
        record["missing_since"] = None
    if "imported_at" in columns:
        record["imported_at"] = now
    return record


def _service_hours(package: Package) -> dict[str, str | None]:
    """Each service's opening hours: its own schedules, else its locations'."""
    by_service: dict[str, list[Row]] = defaultdict(list)
    by_link: dict[str, list[Row]] = defaultdict(list)
    by_location: dict[str, list[Row]] = defaultdict(list)
    for schedule in package.rows("schedule"):
        if schedule.get("service_id"):
            by_service[schedule["service_id"]].append(schedule)
        if schedule.get("service_at_location_id"):
            by_link[schedule["service_at_location_id"]].append(schedule)
        if schedule.get("location_id"):
            by_location[schedule["location_id"]].append(schedule)
    links: dict[str, list[Row]] = defaultdict(list)
    for link in package.rows("service_at_location"):
        links[link["service_id"]].append(link)
    hours: dict[str, str | None] = {}
    for service in package.rows("service"):
        found = by_service.get(service["id"], [])
        for link in links.get(service["id"], []):
            found = found or by_link.get(link["id"], [])
        for link in links.get(service["id"], []):
            found = found or by_location.get(link["location_id"], [])
        hours[service["id"]] = opening_hours(found)
    return hours


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def import_package(engine: Engine, package: Package, actor: str, now: datetime) -> ImportCounts:
    """Write ``package`` in one transaction (audited as ``actor``); what it did, by table."""
    counts = ImportCounts(complete=package.complete)
    hours = _service_hours(package)
    imported: dict[str, set[str]] = {}
    with transaction(engine) as session:
        for table, model in TABLES.items():
            columns = _columns(model)
            records = [_record(table, row, columns, now) for row in package.rows(table)]
            if table == "service":
                for record in records:
                    record["opening_hours"] = hours.get(record["id"])
            ids = [r["id"] for r in records]
            imported[table] = set(ids)
            id_column = col(getattr(model, "id"))  # noqa: B009 - every directory table has one
            existing: set[str] = set()
            for chunk in _chunks(ids):
                existing.update(
                    session.execute(select(id_column).where(id_column.in_(chunk))).scalars()
                )
            new = [r for r in records if r["id"] not in existing]
            old = [r for r in records if r["id"] in existing]
            if new:
                session.execute(insert(model), new)
            if old:
                session.execute(update(model), old)
            counts.added[table], counts.updated[table] = len(new), len(old)
        every = set().union(*imported.values())
        for table, owners in _OWNED_BY.items():
            if package.listed is None and table not in package.tables:
                continue  # the CSV package has no such table: it says nothing about them
            given = (package.listed or {}).get(table, set())

            def lists(target: str, parent: str, table: str = table, given: Any = given) -> bool:
                """Whether the package gave the full list of ``table`` rows of this parent."""
                if package.listed is None:
                    return parent in (every if target == "*" else imported[target])
                if target == "*":
                    return any(owner_id == parent for _, owner_id in given)
                return (target, parent) in given

            model = TABLES[table]
            owned = [col(getattr(model, "id")), *(col(getattr(model, c)) for c, _ in owners)]  # noqa: B009
            gone: list[str] = []
            for row in session.execute(select(*owned)).all():
                if row[0] in imported[table]:
                    continue
                parents = row[1:]
                if any(
                    parent is not None and lists(target, parent)
                    for parent, (_, target) in zip(parents, owners, strict=True)
                ):
                    gone.append(row[0])
            for chunk in _chunks(gone):
                session.execute(delete(model).where(col(getattr(model, "id")).in_(chunk)))  # noqa: B009
            counts.removed[table] = len(gone)
        if package.complete:
            missing = [
                service_id
                for service_id, since in session.execute(
                    select(col(ResourceService.id), col(ResourceService.missing_since))
                ).all()
                if service_id not in imported["service"] and since is None
            ]
            for chunk in _chunks(missing):
                session.execute(
                    update(ResourceService)
                    .where(col(ResourceService.id).in_(chunk))
                    .values(status=ServiceStatus.INACTIVE.value, missing_since=now)
                )
            counts.inactivated = len(missing)
        record_audit(
            session,
            actor,
            "resources_import",
            source=package.source,
            complete=package.complete,
            services=len(imported["service"]),
            added=sum(counts.added.values()),
            updated=sum(counts.updated.values()),
            inactivated=counts.inactivated,
        )
    return counts


def record_read(engine: Engine, actor: str, action: str, **detail: Any) -> None:
    """Audit a staff-side read of the directory (``resources list``, ``resources match``)."""
    with transaction(engine) as session:
        record_audit(session, actor, action, **detail)


__all__ = ["TABLES", "ImportCounts", "import_package", "language_key", "record_read"]
