"""Reading HSDS JSON as an API returns it: ``/services`` (a list, or pages), one service.

Nested records are flattened into the same tables as a tabular package, with where each
was seen, and checked by the same rules (:mod:`cm_bot.resources.hsds`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cm_bot.resources.hsds import (
    _CHILD_TABLES,
    _OBJECT_TABLES,
    Package,
    PackageError,
    PackageProblem,
    Row,
    _describe,
    _one,
    _Problems,
    _type_problem,
    _validator,
    hsds_table_schemas,
)


@dataclass
class _Flat:
    """Records flattened out of nested JSON, with where each was first seen."""

    tables: dict[str, dict[str, Row]] = field(default_factory=dict)
    where: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    listed: dict[str, set[tuple[str, str]]] = field(default_factory=dict)


def _services_of(document: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(index path, service) for each service in one JSON document."""
    if isinstance(document, dict) and "contents" in document:
        contents = document["contents"]
        if not isinstance(contents, list):
            raise PackageError([PackageProblem(where, "contents", "", "is not a list")])
        for index, item in enumerate(contents):
            yield f"contents[{index}]", item
    elif isinstance(document, dict):
        yield "", document
    elif isinstance(document, list):
        for index, item in enumerate(document):
            if isinstance(item, dict) and "contents" in item:
                for path, service in _services_of(item, where):
                    yield f"[{index}].{path}", service
            else:
                yield f"[{index}]", item
    else:
        raise PackageError(
            [PackageProblem(where, "", "", "expected a service, a list of services or a page")]
        )


def _pages(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict) and "contents" in document:
        yield document
    elif isinstance(document, list):
        yield from (d for d in document if isinstance(d, dict) and "contents" in d)


def read_json_files(documents: list[tuple[str, Any]]) -> Package:
    """Check and flatten JSON documents (file name, parsed JSON) into one package."""
    problems = _Problems()
    flat = _Flat()
    validator = _validator("service.json")
    complete, note = True, ""
    pages_seen: set[int] = set()
    total_pages = 0
    for where, document in documents:
        if isinstance(document, dict) and "contents" not in document:
            complete, note = False, "one service"
        for page in _pages(document):
            total = page.get("total_pages")
            number = page.get("page_number")
            if isinstance(total, int) and total > 1:
                total_pages = max(total_pages, total)
                if isinstance(number, int):
                    pages_seen.add(number)
        for path, service in _services_of(document, where):
            if not isinstance(service, dict):
                problems.add(where, path or "[0]", "", "a service must be a JSON object")
                continue
            for error in validator.iter_errors(service):
                field_name, message = _describe(error)
                inner = list(error.absolute_path)
                if error.validator != "required" and inner and isinstance(inner[-1], str):
                    inner = inner[:-1]
                problems.add(where, _join(path, inner) or "$", field_name, message)
            _flatten(flat, "service", service, where, path, parent=None)
    if total_pages and len(pages_seen) < total_pages:
        complete = False
        note = f"{len(pages_seen) or 1} of {total_pages} pages"
    problems.raise_any()
    hsds = hsds_table_schemas()
    tables = {name: list(rows.values()) for name, rows in flat.tables.items()}
    for name, rows in flat.tables.items():
        fields = {f["name"]: f for f in hsds[name]["schema"]["fields"]}
        for row_id, row in rows.items():
            for column, value in row.items():
                spec = fields.get(column)
                if spec is None or spec.get("type", "string") == "string":
                    continue
                problem = _type_problem(value, spec)
                if problem is not None:
                    problems.add(
                        flat.files[name][row_id], flat.where[name][row_id], column, problem
                    )
    schemas = {name: hsds[name]["schema"] for name in tables}
    _check_json_keys(tables, schemas, flat, problems)
    problems.raise_any()
    source = documents[0][0] if len(documents) == 1 else str(Path(documents[0][0]).parent)
    package = Package(source, tables, complete, note, flat.listed)
    if not package.rows("service"):
        raise PackageError([PackageProblem(source, "", "", "no service in the file")])
    return package


def _join(path: str, inner: Iterable[Any]) -> str:
    out = path
    for part in inner:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _flatten(
    flat: _Flat, table: str, record: Mapping[str, Any], where: str, path: str, parent: Any
) -> str | None:
    """Put ``record`` and what it nests into ``flat``; its id (None if it has none)."""
    own: Row = {}
    children: list[tuple[str, Any, str]] = []
    lists: list[str] = []
    for key, value in record.items():
        if key in _CHILD_TABLES and isinstance(value, list):
            lists.append(_CHILD_TABLES[key])
            children.extend(
                (_CHILD_TABLES[key], item, _join(path, [key, index]))
                for index, item in enumerate(value)
            )
        elif key in _OBJECT_TABLES and isinstance(value, dict):
            child_table, link = _OBJECT_TABLES[key]
            child_id = _flatten(flat, child_table, value, where, _join(path, [key]), None)
            if child_id is not None and own.get(link) is None and record.get(link) is None:
                own[link] = child_id
        elif value is not None and not isinstance(value, dict | list):
            own[key] = value
    if parent is not None:
        parent_table, parent_id = parent
        if table == "attribute":
            own.setdefault("link_id", parent_id)
            own.setdefault("link_entity", parent_table)
        elif table == "service" and parent_table == "organization":
            own.setdefault("organization_id", parent_id)
        else:
            link = f"{parent_table}_id"
            columns = {f["name"] for f in hsds_table_schemas()[table]["schema"]["fields"]}
            if link in columns:
                own.setdefault(link, parent_id)
    record_id = own.get("id")
    if not isinstance(record_id, str):
        return None
    rows = flat.tables.setdefault(table, {})
    if record_id in rows:
        for key, value in own.items():  # the same record nested again: fill what was missing
            rows[record_id].setdefault(key, value)
    else:
        rows[record_id] = own
        flat.where.setdefault(table, {})[record_id] = path or "$"
        flat.files.setdefault(table, {})[record_id] = where
    for child_table in lists:
        flat.listed.setdefault(child_table, set()).add((table, record_id))
    for child_table, item, child_path in children:
        if isinstance(item, dict):
            _flatten(flat, child_table, item, where, child_path, (table, record_id))
    return record_id


def _check_json_keys(
    tables: Mapping[str, list[Row]],
    schemas: Mapping[str, Mapping[str, Any]],
    flat: _Flat,
    problems: _Problems,
) -> None:
    """References between the JSON's records: each must name a record it holds."""
    ids = {name: {r["id"] for r in rows} for name, rows in tables.items()}
    for name, rows in tables.items():
        for foreign in schemas[name].get("foreignKeys") or []:
            column = _one(foreign.get("fields"))
            target = (foreign.get("reference") or {}).get("resource") or name
            if column is None:
                continue
            for row in rows:
                value = row.get(column)
                if value is not None and value not in ids.get(target, set()):
                    problems.add(
                        flat.files[name][row["id"]],
                        flat.where[name][row["id"]],
                        column,
                        f"{value} is not the id of any {target} in the file",
                    )


__all__ = ["read_json_files"]
