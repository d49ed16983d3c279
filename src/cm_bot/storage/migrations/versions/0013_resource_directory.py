"""resource directory: Open Referral HSDS 3.0 organizations, services, locations and terms

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 15:00:00.000000

``cm-bot resources import`` stores an HSDS 3.0 package here, keyed by its HSDS ids:
organizations, services, locations, service-at-location links, phones, addresses,
schedules, languages, taxonomy terms and the attributes that tie terms to services.
``resources match`` reads the active services of a need through the term and language
indexes. No foreign keys: the importer checks every reference, and a service a re-import
no longer lists is kept (inactive) for the referrals that point at it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource_address",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("attention", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("address_1", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("address_2", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("state_province", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("postal_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("address_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_address")),
    )
    with op.batch_alter_table("resource_address", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_address_location_id"), ["location_id"], unique=False
        )

    op.create_table(
        "resource_attribute",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("link_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("taxonomy_term_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("link_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("link_entity", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_attribute")),
    )
    with op.batch_alter_table("resource_attribute", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_attribute_link_id"), ["link_id"], unique=False
        )
        batch_op.create_index(
            "ix_resource_attribute_term_link", ["taxonomy_term_id", "link_id"], unique=False
        )

    op.create_table(
        "resource_language",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("service_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("phone_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("lang", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_language")),
    )
    with op.batch_alter_table("resource_language", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_language_location_id"), ["location_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resource_language_phone_id"), ["phone_id"], unique=False
        )
        batch_op.create_index(
            "ix_resource_language_service_lang", ["service_id", "lang"], unique=False
        )

    op.create_table(
        "resource_location",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("organization_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("location_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("alternate_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("transportation", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_location")),
    )
    with op.batch_alter_table("resource_location", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_location_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "resource_organization",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("alternate_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("website", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("imported_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_organization")),
    )
    op.create_table(
        "resource_phone",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("service_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("organization_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("service_at_location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("contact_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("extension", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_phone")),
    )
    with op.batch_alter_table("resource_phone", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_phone_location_id"), ["location_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resource_phone_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resource_phone_service_at_location_id"),
            ["service_at_location_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_resource_phone_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "resource_schedule",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("service_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("service_at_location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("dtstart", sa.Date(), nullable=True),
        sa.Column("timezone", sa.Float(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("wkst", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("freq", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=True),
        sa.Column("byday", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("byweekno", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("bymonthday", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("byyearday", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("opens_at", sa.Time(), nullable=True),
        sa.Column("closes_at", sa.Time(), nullable=True),
        sa.Column("schedule_link", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("attending_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("hours_text", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_schedule")),
    )
    with op.batch_alter_table("resource_schedule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_schedule_location_id"), ["location_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resource_schedule_service_at_location_id"),
            ["service_at_location_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_resource_schedule_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "resource_service",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("organization_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("alternate_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("interpretation_services", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("application_process", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("fees_description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("eligibility_description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("alert", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("assured_date", sa.Date(), nullable=True),
        sa.Column("last_modified", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("opening_hours", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("missing_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("imported_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_service")),
    )
    with op.batch_alter_table("resource_service", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_service_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "ix_resource_service_status_assured", ["status", "assured_date", "name"], unique=False
        )

    op.create_table(
        "resource_service_at_location",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("service_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_service_at_location")),
    )
    with op.batch_alter_table("resource_service_at_location", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_service_at_location_location_id"), ["location_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resource_service_at_location_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "resource_taxonomy_term",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("parent_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("taxonomy", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("taxonomy_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("term_uri", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("code_key", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_taxonomy_term")),
    )
    with op.batch_alter_table("resource_taxonomy_term", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resource_taxonomy_term_code_key"), ["code_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resource_taxonomy_term_name_key"), ["name_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("resource_taxonomy_term", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_taxonomy_term_name_key"))
        batch_op.drop_index(batch_op.f("ix_resource_taxonomy_term_code_key"))

    op.drop_table("resource_taxonomy_term")
    with op.batch_alter_table("resource_service_at_location", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_service_at_location_service_id"))
        batch_op.drop_index(batch_op.f("ix_resource_service_at_location_location_id"))

    op.drop_table("resource_service_at_location")
    with op.batch_alter_table("resource_service", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_service_status_assured")
        batch_op.drop_index(batch_op.f("ix_resource_service_organization_id"))

    op.drop_table("resource_service")
    with op.batch_alter_table("resource_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_schedule_service_id"))
        batch_op.drop_index(batch_op.f("ix_resource_schedule_service_at_location_id"))
        batch_op.drop_index(batch_op.f("ix_resource_schedule_location_id"))

    op.drop_table("resource_schedule")
    with op.batch_alter_table("resource_phone", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_phone_service_id"))
        batch_op.drop_index(batch_op.f("ix_resource_phone_service_at_location_id"))
        batch_op.drop_index(batch_op.f("ix_resource_phone_organization_id"))
        batch_op.drop_index(batch_op.f("ix_resource_phone_location_id"))

    op.drop_table("resource_phone")
    op.drop_table("resource_organization")
    with op.batch_alter_table("resource_location", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_location_organization_id"))

    op.drop_table("resource_location")
    with op.batch_alter_table("resource_language", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_language_service_lang")
        batch_op.drop_index(batch_op.f("ix_resource_language_phone_id"))
        batch_op.drop_index(batch_op.f("ix_resource_language_location_id"))

    op.drop_table("resource_language")
    with op.batch_alter_table("resource_attribute", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_attribute_term_link")
        batch_op.drop_index(batch_op.f("ix_resource_attribute_link_id"))

    op.drop_table("resource_attribute")
    with op.batch_alter_table("resource_address", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_address_location_id"))

    op.drop_table("resource_address")
