"""What a client with a need would be offered: the matching active services, best first.

A need (``food``, ``living_situation``, ``hunger`` ...) is mapped in the program file
(``needs:``, :class:`cm_bot.program.NeedMapping`) to taxonomy terms, by code or name
in any case, and to explicit service ids. :func:`match` returns up to ``limit``
services with status ``active`` that carry one of those terms or are named, in order:
those that serve the client's language first, then the most recently assured, then by
name. Each is a :class:`ServiceOffer`, a plain value: the engine will get offers through
a port, never through this module.

One ranking query (term ids by the ``code_key``/``name_key`` indexes, services by the
attribute index, language by ``ix_resource_language_service_lang``), then one query per
kind of detail for the few services found.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select, case, exists, literal, or_, select
from sqlmodel import Session, col

from cm_bot.domain import ServiceStatus
from cm_bot.resources.hours import opening_hours
from cm_bot.resources.store import language_key
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

STALE_AFTER_MONTHS = 12
DESCRIPTION_CHARS = 160


class NeedTerms(Protocol):
    """What a need maps to (``cm_bot.program.NeedMapping`` is one)."""

    @property
    def terms(self) -> Sequence[str]:
        """Taxonomy term codes or names, in any case."""
        ...

    @property
    def services(self) -> Sequence[str]:
        """HSDS service ids offered for the need whatever their terms."""
        ...


@dataclass(frozen=True, slots=True)
class ServiceOffer:
    """One service as a client would be offered it (and staff would see it listed).

    ``stale``: its information was last assured more than 12 months before ``today``,
    or never (no ``assured_date``): staff see it as "possibly stale".
    ``speaks_language``: it lists the client's language (False when none was given).
    """

    id: str
    name: str
    description: str  # one line
    phone: str | None
    address: str | None
    opening_hours: str | None
    languages: tuple[str, ...]  # ISO 639-1 codes where known, else the names given
    assured_date: date | None
    stale: bool
    status: str = ServiceStatus.ACTIVE.value
    organization: str | None = None
    speaks_language: bool = False


Db = Engine | Session | Connection


def stale_before(today: date) -> date:
    """The oldest assured date that is not yet stale: the same day 12 months earlier."""
    year = today.year - STALE_AFTER_MONTHS // 12
    try:
        return today.replace(year=year)
    except ValueError:  # 29 February
        return today.replace(year=year, day=28)


def one_line(text: str | None, limit: int = DESCRIPTION_CHARS) -> str:
    """The first line of ``text``, whitespace collapsed, cut at ``limit`` with an ellipsis."""
    if not text:
        return ""
    first = next((line for line in text.splitlines() if line.strip()), "")
    words = " ".join(first.split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def _terms(mapping: NeedTerms) -> list[str]:
    return sorted({t.strip().lower() for t in mapping.terms if t.strip()})


def ranking_query(
    mapping: NeedTerms,
    language: str | None,
    *,
    active_only: bool = True,
    exclude: Collection[str] = (),
) -> Select[Any]:  # (id, 0 if it speaks the language)
    """The ids (and whether they speak ``language``) of a need's services, best first."""
    terms = _terms(mapping)
    term_ids = select(col(ResourceTaxonomyTerm.id)).where(
        or_(
            col(ResourceTaxonomyTerm.code_key).in_(terms),
            col(ResourceTaxonomyTerm.name_key).in_(terms),
        )
    )
    tagged = select(col(ResourceAttribute.link_id)).where(
        col(ResourceAttribute.taxonomy_term_id).in_(term_ids)
    )
    chosen = [col(ResourceService.id).in_(tagged)]
    if mapping.services:
        chosen.append(col(ResourceService.id).in_(list(mapping.services)))
    lang = language_key(language)
    speaks = exists().where(
        col(ResourceLanguage.service_id) == col(ResourceService.id),
        col(ResourceLanguage.lang) == lang,
    )
    speaks_first = (case((speaks, 0), else_=1) if lang else literal(1)).label("speaks")
    query = select(col(ResourceService.id), speaks_first).where(or_(*chosen))
    if active_only:
        query = query.where(col(ResourceService.status) == ServiceStatus.ACTIVE.value)
    if exclude:
        query = query.where(col(ResourceService.id).not_in(sorted(set(exclude))))
    order = [
        col(ResourceService.assured_date).desc().nulls_last(),
        col(ResourceService.name),
        col(ResourceService.id),
    ]
    return query.order_by(speaks_first, *order) if lang else query.order_by(*order)


def match(
    db: Db,
    need: str,
    mapping: Mapping[str, NeedTerms],
    language: str | None = None,
    limit: int = 3,
    *,
    today: date,
    exclude: Collection[str] = (),
) -> list[ServiceOffer]:
    """Up to ``limit`` active services for ``need``, in the order a client is offered them.

    ``mapping`` is the program's ``needs`` (need -> terms and service ids); a need it does
    not map matches nothing. ``language`` is the client's (``uk``, ``es-MX``, ``spa``);
    services listing it come first. ``exclude``: service ids not to offer (those already
    tried: "the next matching service"). Nothing is written.
    """
    terms = mapping.get(need)
    if terms is None or limit <= 0:
        return []
    query = ranking_query(terms, language, exclude=exclude).limit(limit)
    with _reading(db) as reader:
        ranked = [(row[0], row[1] == 0 and bool(language)) for row in reader.execute(query).all()]
        return _offers(reader, ranked, today, language)


def offers_by_id(
    db: Db, ids: Sequence[str], *, today: date, language: str | None = None
) -> list[ServiceOffer]:
    """These services as offers, whatever their status, in the order given (unknown ids left out).

    For a referral's service ("Did you get help from NAME?"), which may have become
    inactive since.
    """
    if not ids:
        return []
    lang = language_key(language)
    with _reading(db) as reader:
        speaking: set[str] = set()
        if lang:
            speaking = {
                str(service_id)
                for service_id in reader.execute(
                    select(col(ResourceLanguage.service_id)).where(
                        _in(ResourceLanguage.service_id, ids), col(ResourceLanguage.lang) == lang
                    )
                ).scalars()
            }
        ranked = [(service_id, service_id in speaking) for service_id in dict.fromkeys(ids)]
        return _offers(reader, ranked, today, language)


def directory(
    db: Db,
    *,
    today: date,
    need: NeedTerms | None = None,
    include_inactive: bool = False,
) -> list[ServiceOffer]:
    """Every service (of one need), by name: what ``cm-bot resources list`` shows staff."""
    if need is not None:
        query: Select[Any] = ranking_query(need, None, active_only=not include_inactive)
        query = query.order_by(None).order_by(col(ResourceService.name), col(ResourceService.id))
    else:
        everything: Any = select(col(ResourceService.id), literal(1).label("speaks"))
        query = everything.order_by(col(ResourceService.name), col(ResourceService.id))
        if not include_inactive:
            query = query.where(col(ResourceService.status) == ServiceStatus.ACTIVE.value)
    with _reading(db) as reader:
        ids = [(row[0], False) for row in reader.execute(query).all()]
        return _offers(reader, ids, today, None)


class _reading:
    """A connection or session to read with: the one given, or one opened on the engine."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.opened: Connection | None = None

    def __enter__(self) -> Session | Connection:
        if isinstance(self.db, Engine):
            self.opened = self.db.connect()
            return self.opened
        return self.db

    def __exit__(self, *_exc: object) -> None:
        if self.opened is not None:
            self.opened.close()


def _in(column: Any, ids: Iterable[str]) -> Any:
    return col(column).in_(sorted(set(ids)))


def _offers(
    reader: Session | Connection,
    ranked: list[tuple[str, bool]],
    today: date,
    language: str | None,
) -> list[ServiceOffer]:
    """The details of the services ``ranked`` (id, speaks the language), in that order."""
    if not ranked:
        return []
    ids = [service_id for service_id, _ in ranked]
    services = {
        row.id: row
        for row in reader.execute(
            select(
                col(ResourceService.id),
                col(ResourceService.name),
                col(ResourceService.description),
                col(ResourceService.status),
                col(ResourceService.assured_date),
                col(ResourceService.opening_hours),
                col(ResourceService.organization_id),
            ).where(_in(ResourceService.id, ids))
        ).all()
    }
    links = reader.execute(
        select(
            col(ResourceServiceAtLocation.id),
            col(ResourceServiceAtLocation.service_id),
            col(ResourceServiceAtLocation.location_id),
        )
        .where(_in(ResourceServiceAtLocation.service_id, ids))
        .order_by(col(ResourceServiceAtLocation.id))
    ).all()
    link_ids = [link.id for link in links]
    location_ids = [link.location_id for link in links]
    organization_ids = [s.organization_id for s in services.values() if s.organization_id]
    locations_of: dict[str, list[str]] = defaultdict(list)
    links_of: dict[str, list[str]] = defaultdict(list)
    for link in links:
        locations_of[link.service_id].append(link.location_id)
        links_of[link.service_id].append(link.id)

    phones = reader.execute(
        select(
            col(ResourcePhone.id),
            col(ResourcePhone.service_id),
            col(ResourcePhone.service_at_location_id),
            col(ResourcePhone.location_id),
            col(ResourcePhone.organization_id),
            col(ResourcePhone.number),
            col(ResourcePhone.extension),
            col(ResourcePhone.type),
        )
        .where(
            or_(
                _in(ResourcePhone.service_id, ids),
                _in(ResourcePhone.service_at_location_id, link_ids),
                _in(ResourcePhone.location_id, location_ids),
                _in(ResourcePhone.organization_id, organization_ids),
            )
        )
        .order_by(col(ResourcePhone.id))
    ).all()
    addresses: dict[str, list[Any]] = defaultdict(list)
    address_table: Any = ResourceAddress.__table__  # type: ignore[attr-defined]
    for address in reader.execute(
        select(address_table)
        .where(_in(ResourceAddress.location_id, location_ids))
        .order_by(col(ResourceAddress.id))
    ).all():
        if address.location_id:
            addresses[address.location_id].append(address)
    location_names = dict(
        reader.execute(
            select(col(ResourceLocation.id), col(ResourceLocation.name)).where(
                _in(ResourceLocation.id, location_ids)
            )
        ).all()
    )
    languages: dict[str, list[str]] = defaultdict(list)
    for row in reader.execute(
        select(
            col(ResourceLanguage.service_id),
            col(ResourceLanguage.location_id),
            col(ResourceLanguage.lang),
            col(ResourceLanguage.name),
            col(ResourceLanguage.code),
        )
        .where(
            or_(
                _in(ResourceLanguage.service_id, ids),
                _in(ResourceLanguage.location_id, location_ids),
            )
        )
        .order_by(col(ResourceLanguage.id))
    ).all():
        label = row.lang or row.name or row.code
        if label:
            languages[row.service_id or f"@{row.location_id}"].append(label)
    schedules: dict[str, list[Any]] = defaultdict(list)
    if language and language_key(language) not in (None, "en"):
        schedule_table: Any = ResourceSchedule.__table__  # type: ignore[attr-defined]
        for schedule in reader.execute(
            select(schedule_table)
            .where(
                or_(
                    _in(ResourceSchedule.service_id, ids),
                    _in(ResourceSchedule.service_at_location_id, link_ids),
                    _in(ResourceSchedule.location_id, location_ids),
                )
            )
            .order_by(col(ResourceSchedule.id))
        ).all():
            for key in (
                schedule.service_id,
                schedule.service_at_location_id and f"#{schedule.service_at_location_id}",
                schedule.location_id and f"@{schedule.location_id}",
            ):
                if key:
                    schedules[key].append(dict(schedule._mapping))
    organizations = dict(
        reader.execute(
            select(col(ResourceOrganization.id), col(ResourceOrganization.name)).where(
                _in(ResourceOrganization.id, organization_ids)
            )
        ).all()
    )

    def phone_of(service_id: str, organization_id: str | None) -> str | None:
        tiers: list[list[Any]] = [[], [], [], []]
        for phone in phones:
            if phone.service_id == service_id:
                tiers[0].append(phone)
            elif phone.service_at_location_id in links_of[service_id]:
                tiers[1].append(phone)
            elif phone.location_id in locations_of[service_id]:
                tiers[2].append(phone)
            elif organization_id and phone.organization_id == organization_id:
                tiers[3].append(phone)
        for tier in tiers:
            if tier:
                best = sorted(tier, key=lambda p: p.type not in (None, "voice", "cell"))[0]
                number = str(best.number).strip().strip('"').strip()
                return f"{number} ext. {best.extension}" if best.extension else number
        return None

    def address_of(service_id: str) -> str | None:
        for location_id in locations_of[service_id]:
            found = sorted(
                addresses.get(location_id, []), key=lambda a: a.address_type != "physical"
            )
            if found:
                a = found[0]
                parts = [a.address_1, a.address_2, a.city, f"{a.state_province} {a.postal_code}"]
                return ", ".join(p.strip() for p in parts if p and p.strip())
        for location_id in locations_of[service_id]:
            if location_names.get(location_id):
                return str(location_names[location_id])
        return None

    def hours_of(service_id: str, stored: str | None) -> str | None:
        if not schedules:
            return stored
        found = schedules.get(service_id, [])
        for link_id in links_of[service_id]:
            found = found or schedules.get(f"#{link_id}", [])
        for location_id in locations_of[service_id]:
            found = found or schedules.get(f"@{location_id}", [])
        return opening_hours(found, language) or stored

    def languages_of(service_id: str) -> tuple[str, ...]:
        found = languages.get(service_id, [])
        for location_id in locations_of[service_id]:
            found = found or languages.get(f"@{location_id}", [])
        return tuple(dict.fromkeys(found))

    oldest = stale_before(today)
    offers: list[ServiceOffer] = []
    for service_id, speaks in ranked:
        service = services.get(service_id)
        if service is None:
            continue
        offers.append(
            ServiceOffer(
                id=service.id,
                name=service.name,
                description=one_line(service.description),
                phone=phone_of(service.id, service.organization_id),
                address=address_of(service.id),
                opening_hours=hours_of(service.id, service.opening_hours),
                languages=languages_of(service.id),
                assured_date=service.assured_date,
                stale=service.assured_date is None or service.assured_date < oldest,
                status=service.status,
                organization=organizations.get(service.organization_id),
                speaks_language=speaks,
            )
        )
    return offers


__all__ = [
    "NeedTerms",
    "ServiceOffer",
    "directory",
    "match",
    "offers_by_id",
    "one_line",
    "ranking_query",
    "stale_before",
]
