"""The community-resource directory: Open Referral HSDS 3.0 records (issue 17)."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from cm_bot.storage.models.base import utcnow

# -- The resource directory (issue 17) ------------------------------------------------------
# Open Referral HSDS 3.0 records as `cm-bot resources import` stores them (cm_bot.resources),
# keyed by their HSDS ids (uuid strings). No foreign keys: the importer checks every
# reference before it stores anything, HSDS links are polymorphic (a phone belongs to a
# service, a location, an organization ...), and rows a re-import no longer lists stay for
# the referrals that point at them (a missing service becomes inactive, never deleted).


class ResourceOrganization(SQLModel, table=True):
    """An organization delivering services (HSDS ``organization``)."""

    __tablename__ = "resource_organization"

    id: str = Field(primary_key=True)
    name: str
    alternate_name: str | None = None
    description: str | None = None
    email: str | None = None
    website: str | None = None
    imported_at: datetime = Field(default_factory=utcnow)


class ResourceService(SQLModel, table=True):
    """A service (HSDS ``service``); only ``active`` ones are offered (``ServiceStatus``)."""

    __tablename__ = "resource_service"
    __table_args__ = (
        # match: the active services of a need, most recently assured first
        Index("ix_resource_service_status_assured", "status", "assured_date", "name"),
    )

    id: str = Field(primary_key=True)
    organization_id: str | None = Field(default=None, index=True)
    name: str
    alternate_name: str | None = None
    description: str | None = None
    url: str | None = None
    email: str | None = None
    status: str  # ServiceStatus
    interpretation_services: str | None = None
    application_process: str | None = None
    fees_description: str | None = None
    eligibility_description: str | None = None
    alert: str | None = None
    assured_date: date | None = None
    last_modified: datetime | None = None
    opening_hours: str | None = None  # built from its schedules, in English, for listings
    # Set when a re-import no longer listed it (status became inactive); cleared when listed.
    missing_since: datetime | None = None
    imported_at: datetime = Field(default_factory=utcnow)


class ResourceLocation(SQLModel, table=True):
    """A place services are delivered at, or a virtual or postal one (HSDS ``location``)."""

    __tablename__ = "resource_location"

    id: str = Field(primary_key=True)
    organization_id: str | None = Field(default=None, index=True)
    location_type: str  # physical | postal | virtual
    name: str | None = None
    alternate_name: str | None = None
    description: str | None = None
    transportation: str | None = None
    url: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class ResourceServiceAtLocation(SQLModel, table=True):
    """A service delivered at a location (HSDS ``service_at_location``)."""

    __tablename__ = "resource_service_at_location"

    id: str = Field(primary_key=True)
    service_id: str = Field(index=True)
    location_id: str = Field(index=True)
    description: str | None = None


class ResourcePhone(SQLModel, table=True):
    """A phone number of a service, a location, a service at a location or an organization."""

    __tablename__ = "resource_phone"

    id: str = Field(primary_key=True)
    service_id: str | None = Field(default=None, index=True)
    location_id: str | None = Field(default=None, index=True)
    organization_id: str | None = Field(default=None, index=True)
    service_at_location_id: str | None = Field(default=None, index=True)
    contact_id: str | None = None
    number: str
    extension: str | None = None
    type: str | None = None  # voice, text, fax ... (RFC 6350)
    description: str | None = None


class ResourceAddress(SQLModel, table=True):
    """A location's address (HSDS ``address``)."""

    __tablename__ = "resource_address"

    id: str = Field(primary_key=True)
    location_id: str | None = Field(default=None, index=True)
    attention: str | None = None
    address_1: str
    address_2: str | None = None
    city: str
    region: str | None = None
    state_province: str
    postal_code: str
    country: str
    address_type: str  # physical | postal | virtual


class ResourceSchedule(SQLModel, table=True):
    """When a service or location is open: HSDS ``schedule`` (RFC 5545 RRULE fields)."""

    __tablename__ = "resource_schedule"

    id: str = Field(primary_key=True)
    service_id: str | None = Field(default=None, index=True)
    location_id: str | None = Field(default=None, index=True)
    service_at_location_id: str | None = Field(default=None, index=True)
    valid_from: date | None = None
    valid_to: date | None = None
    dtstart: date | None = None
    timezone: float | None = None  # hours from UTC, as HSDS has it
    until: date | None = None
    count: int | None = None
    wkst: str | None = None
    freq: str | None = None  # WEEKLY | MONTHLY
    interval: int | None = None
    byday: str | None = None
    byweekno: str | None = None
    bymonthday: str | None = None
    byyearday: str | None = None
    description: str | None = None
    opens_at: time | None = None
    closes_at: time | None = None
    schedule_link: str | None = None
    attending_type: str | None = None
    notes: str | None = None
    hours_text: str | None = None  # "Mon–Fri 09:00–17:00", built from the fields above


class ResourceLanguage(SQLModel, table=True):
    """A language spoken at a service, location or phone (HSDS ``language``)."""

    __tablename__ = "resource_language"
    __table_args__ = (Index("ix_resource_language_service_lang", "service_id", "lang"),)

    id: str = Field(primary_key=True)
    service_id: str | None = None
    location_id: str | None = Field(default=None, index=True)
    phone_id: str | None = Field(default=None, index=True)
    name: str | None = None
    code: str | None = None
    note: str | None = None
    lang: str | None = None  # the code as matched: ISO 639-1, lower case ("es"), when known


class ResourceTaxonomyTerm(SQLModel, table=True):
    """A taxonomy term services are classified by (HSDS ``taxonomy_term``).

    ``code_key`` and ``name_key`` are the code and name in lower case: a need's mapping
    matches terms by either, ignoring case.
    """

    __tablename__ = "resource_taxonomy_term"

    id: str = Field(primary_key=True)
    code: str | None = None
    name: str
    description: str | None = None
    parent_id: str | None = None
    taxonomy: str | None = None
    taxonomy_id: str | None = None
    language: str | None = None
    term_uri: str | None = None
    code_key: str | None = Field(default=None, index=True)
    name_key: str = Field(index=True)


class ResourceAttribute(SQLModel, table=True):
    """A taxonomy term attached to a service or other record (HSDS ``attribute``)."""

    __tablename__ = "resource_attribute"
    __table_args__ = (Index("ix_resource_attribute_term_link", "taxonomy_term_id", "link_id"),)

    id: str = Field(primary_key=True)
    link_id: str = Field(index=True)
    taxonomy_term_id: str
    link_type: str | None = None
    link_entity: str  # service, location, organization ...
    value: str | None = None
