"""A synthetic Open Referral directory, as many services as asked, written as HSDS 3.0.

Deterministic: service ``i`` has one of seven common taxonomy terms (``TERMS[i % 7]``),
speaks English, Spanish (every 3rd) and Ukrainian (every 11th), was assured ``i % 700``
days before ``today`` (so about half are stale), and is active except every 10th
(inactive) and every 25th (temporarily closed). Each has an organization, a location with
an address, a service-at-location link, a phone and a weekly schedule.

Used by the tests (tests/resources) and by bench/referrals.py.
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parents[2] / "src" / "cm_bot" / "resources" / "schema"

TERMS = (
    ("BD-1800.2000", "Food Pantry"),
    ("BD-1800.1900", "Emergency Food"),
    ("BH-1800.8500", "Shelter"),
    ("BH-8000", "Housing"),
    ("BV-8900.9300", "Utility Assistance"),
    ("BT-4500", "Transportation"),
    ("FN-1500.1900", "Domestic Violence"),
)
TABLES = (
    "organization",
    "service",
    "location",
    "service_at_location",
    "phone",
    "address",
    "schedule",
    "language",
    "taxonomy",
    "taxonomy_term",
    "attribute",
)


def ident(kind: str, number: int, source: str = "cm-bot-test") -> str:
    """A stable uuid for record ``number`` of ``kind`` (``source``: another directory's)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}/{kind}/{number}"))


_ident = ident


def status_of(i: int) -> str:
    if i % 25 == 0:
        return "temporarily closed"
    if i % 10 == 0:
        return "inactive"
    return "active"


def build(
    count: int, today: date, *, prefix: str = "Service", source: str = "cm-bot-test"
) -> dict[str, list[dict[str, Any]]]:
    """The directory's rows per HSDS table (``source`` gives other ids, as another provider's)."""

    def ident(kind: str, number: int) -> str:
        return _ident(kind, number, source)

    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    tables["taxonomy"].append(
        {"id": ident("taxonomy", 0), "name": "Test taxonomy", "description": "Common terms"}
    )
    for number, (code, name) in enumerate(TERMS):
        tables["taxonomy_term"].append(
            {
                "id": ident("term", number),
                "code": code,
                "name": name,
                "description": f"{name} services",
                "taxonomy_id": ident("taxonomy", 0),
            }
        )
    for i in range(count):
        org, svc, loc, sal = (ident(k, i) for k in ("org", "svc", "loc", "sal"))
        tables["organization"].append(
            {"id": org, "name": f"Organization {i:05d}", "description": f"Runs service {i}"}
        )
        tables["service"].append(
            {
                "id": svc,
                "organization_id": org,
                "name": f"{prefix} {i:05d}",
                "description": f"{TERMS[i % 7][1]} for families in district {i % 40}.",
                "status": status_of(i),
                "assured_date": (today - timedelta(days=i % 700)).isoformat(),
                "email": f"service{i}@example.org",
            }
        )
        tables["location"].append(
            {"id": loc, "organization_id": org, "location_type": "physical", "name": f"Site {i}"}
        )
        tables["service_at_location"].append({"id": sal, "service_id": svc, "location_id": loc})
        tables["address"].append(
            {
                "id": ident("addr", i),
                "location_id": loc,
                "address_1": f"{i} Main Street",
                "city": "Springfield",
                "state_province": "IL",
                "postal_code": f"6{i % 10000:04d}",
                "country": "US",
                "address_type": "physical",
            }
        )
        tables["phone"].append(
            {"id": ident("phone", i), "service_id": svc, "number": f"555-{i % 10000:04d}"}
        )
        tables["schedule"].append(
            {
                "id": ident("sched", i),
                "service_id": svc,
                "freq": "WEEKLY",
                "byday": "MO,TU,WE,TH,FR",
                "opens_at": "09:00:00",
                "closes_at": "17:00:00",
            }
        )
        languages = ["en"] + (["es"] if i % 3 == 0 else []) + (["uk"] if i % 11 == 0 else [])
        for code in languages:
            tables["language"].append(
                {"id": ident(f"lang-{code}", i), "service_id": svc, "code": code}
            )
        tables["attribute"].append(
            {
                "id": ident("attr", i),
                "link_id": svc,
                "taxonomy_term_id": ident("term", i % 7),
                "link_entity": "service",
            }
        )
    return tables


def write_csv(folder: Path, tables: dict[str, list[dict[str, Any]]]) -> Path:
    """The rows as a tabular data package: one CSV per table and its datapackage.json."""
    hsds = json.loads((SCHEMA / "datapackage.json").read_text(encoding="utf-8"))
    resources = [r for r in hsds["resources"] if r["name"] in tables]
    folder.mkdir(parents=True, exist_ok=True)
    for resource in resources:
        columns = [f["name"] for f in resource["schema"]["fields"]]
        with (folder / resource["path"]).open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            for row in tables[resource["name"]]:
                writer.writerow(row)
    (folder / "datapackage.json").write_text(
        json.dumps(
            {"name": "synthetic", "profile": "tabular-data-package", "resources": resources}
        ),
        encoding="utf-8",
    )
    return folder


def write_json(path: Path, tables: dict[str, list[dict[str, Any]]]) -> Path:
    """The services as an HSDS API's ``/services`` page would give them, nested."""
    by = {name: {row["id"]: row for row in rows} for name, rows in tables.items()}

    def under(table: str, column: str, value: str) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in row.items() if k != column}
            for row in tables[table]
            if row.get(column) == value
        ]

    services = []
    for service in tables["service"]:
        nested = dict(service)
        nested["organization"] = by["organization"][service["organization_id"]]
        nested["phones"] = under("phone", "service_id", service["id"])
        nested["schedules"] = under("schedule", "service_id", service["id"])
        nested["languages"] = under("language", "service_id", service["id"])
        nested["service_at_locations"] = [
            {
                "id": link["id"],
                "location": {
                    **{k: v for k, v in by["location"][link["location_id"]].items()},
                    "addresses": under("address", "location_id", link["location_id"]),
                },
            }
            for link in tables["service_at_location"]
            if link["service_id"] == service["id"]
        ]
        nested["attributes"] = [
            {
                "id": a["id"],
                "link_entity": a["link_entity"],
                "taxonomy_term": {
                    k: v
                    for k, v in by["taxonomy_term"][a["taxonomy_term_id"]].items()
                    if k != "taxonomy_id"
                },
            }
            for a in tables["attribute"]
            if a["link_id"] == service["id"]
        ]
        services.append(nested)
    page = {"total_items": len(services), "total_pages": 1, "page_number": 1, "contents": services}
    path.write_text(json.dumps(page), encoding="utf-8")
    return path
