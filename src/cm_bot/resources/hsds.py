"""Read and check an Open Referral HSDS 3.0 package: CSV tables, a zip of them, or API JSON.

What ``cm-bot resources import PATH`` accepts:

- a folder of CSV files with its ``datapackage.json`` (the tabular data package), or
  the same as a ``.zip`` (``datapackage.json`` at its top or in one folder);
- JSON as an HSDS API returns it from ``/services``: a list of services, a page
  (``{"contents": [...], "total_pages": ...}``), a list of pages, or one service object;
  a folder of such JSON files (without ``datapackage.json``) is read page by page.

Everything is checked before anything is stored: each CSV table against the package's
own table schema (required fields, types, formats, enums, unique ids, foreign keys: a
dangling id is an error) and each row against the HSDS JSON Schema (``tabular.json``);
each JSON service against the HSDS ``service.json`` schema, then its records, flattened
into the same tables, against the HSDS table schema (types and references). The
schemas are the specification's own, shipped in ``schema/`` (CC BY-SA 4.0, see its
README). Problems read ``file:row: field: problem``: the CSV line (the header is line
1), or for JSON the index path (``services.json:contents[0].phones[1]``).

The result is a :class:`Package`: rows per HSDS table, as JSON-like dicts (strings and
numbers; dates and times still as ISO strings, checked), ready for :mod:`.store`.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path, PurePosixPath
from typing import Any

from cm_bot.domain.errors import RefusedError

SCHEMAS = Path(__file__).resolve().parent / "schema"
MAX_PROBLEMS = 200  # more than this many problems: the rest are counted, not listed

Row = dict[str, Any]

# JSON: a nested key -> the HSDS table its records belong to.
_CHILD_TABLES = {
    "phones": "phone",
    "schedules": "schedule",
    "service_areas": "service_area",
    "service_at_locations": "service_at_location",
    "languages": "language",
    "funding": "funding",
    "cost_options": "cost_option",
    "required_documents": "required_document",
    "contacts": "contact",
    "attributes": "attribute",
    "metadata": "metadata",
    "addresses": "address",
    "accessibility": "accessibility",
    "locations": "location",
    "programs": "program",
    "organization_identifiers": "organization_identifier",
    "services": "service",
}
# JSON: a nested object -> (its table, the field of the parent that holds its id).
_OBJECT_TABLES = {
    "organization": ("organization", "organization_id"),
    "program": ("program", "program_id"),
    "location": ("location", "location_id"),
    "taxonomy_term": ("taxonomy_term", "taxonomy_term_id"),
    "taxonomy_detail": ("taxonomy", "taxonomy_id"),
}


@dataclass(frozen=True, slots=True)
class PackageProblem:
    """One problem in a package: where (file and row), which field, and what is wrong."""

    file: str
    row: str  # a CSV line number, or a JSON index path
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.row}" if self.row else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PackageError(RefusedError):
    """The package has problems; nothing from it may be stored. ``problems`` lists them."""

    def __init__(self, problems: list[PackageProblem], more: int = 0) -> None:
        self.problems = problems
        self.more = more
        lines = [str(p) for p in problems]
        if more:
            lines.append(f"... and {more} more problem(s)")
        super().__init__("\n".join(lines))


@dataclass
class Package:
    """A checked HSDS package: rows per table (``service``, ``phone`` ...).

    ``complete`` says whether it lists the whole directory: a single service object, or
    some pages of a paged answer, do not, and a partial import inactivates nothing.
    ``listed``: for JSON, which records' lists of each table were given (table ->
    {(owner table, owner id)}): a service without ``phones`` says nothing about its
    phones. None for CSV, where a table given lists every record of that table.
    """

    source: str
    tables: dict[str, list[Row]] = field(default_factory=dict)
    complete: bool = True
    note: str = ""
    listed: dict[str, set[tuple[str, str]]] | None = None

    def rows(self, table: str) -> list[Row]:
        """The rows of one HSDS table (empty if the package has none)."""
        return self.tables.get(table, [])


# -- schemas ------------------------------------------------------------------------------


@functools.cache
def _schema(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


@functools.cache
def _validator(name: str, table: str | None = None) -> Any:
    from jsonschema import Draft202012Validator

    schema = _schema(name)
    if table is not None:
        schema = schema["properties"][table]["items"]
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def hsds_table_schemas() -> dict[str, dict[str, Any]]:
    """The HSDS table schemas (fields, primary key, foreign keys) by table name."""
    return {r["name"]: r for r in _schema("datapackage.json")["resources"]}


# -- reading ------------------------------------------------------------------------------


def read_package(path: Path) -> Package:
    """Read and check the package at ``path``; :class:`PackageError` lists every problem."""
    # The JSON reader builds on this module's types and checks, so it is imported here.
    from cm_bot.resources.hsds_json import read_json_files as _read_json_files

    if not path.exists():
        raise PackageError([PackageProblem(str(path), "", "", "no such file or folder")])
    if path.is_dir():
        if (path / "datapackage.json").is_file():
            return _read_tabular(_Folder(path))
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json")
        if not files:
            raise PackageError(
                [PackageProblem(str(path), "", "", "no datapackage.json and no .json files")]
            )
        return _read_json_files([(str(f), _load_json(f.read_bytes(), str(f))) for f in files])
    if zipfile.is_zipfile(path):
        return _read_tabular(_Zip(path))
    return _read_json_files([(str(path), _load_json(path.read_bytes(), str(path)))])


def _load_json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        problem = "not UTF-8 text"
    except json.JSONDecodeError as exc:
        raise PackageError(
            [PackageProblem(where, str(exc.lineno), "", f"not valid JSON: {exc.msg}")]
        ) from None
    raise PackageError([PackageProblem(where, "", "", problem)])


class _Source:
    """Where a tabular package's files are: a folder or a zip."""

    name: str

    def read(self, relative: str) -> bytes | None:
        raise NotImplementedError

    def where(self, relative: str) -> str:
        return f"{self.name}/{relative}"


class _Folder(_Source):
    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.name = str(path)

    def read(self, relative: str) -> bytes | None:
        target = (self.path / relative).resolve()
        if not target.is_relative_to(self.path) or not target.is_file():
            return None
        return target.read_bytes()


class _Zip(_Source):
    def __init__(self, path: Path) -> None:
        self.name = str(path)
        with zipfile.ZipFile(path) as archive:
            self.members = {
                info.filename: archive.read(info)
                for info in archive.infolist()
                if not info.is_dir() and info.file_size < 512 * 1024 * 1024
            }
        packages = sorted(
            (m for m in self.members if PurePosixPath(m).name == "datapackage.json"), key=len
        )
        self.base = str(PurePosixPath(packages[0]).parent) if packages else ""

    def read(self, relative: str) -> bytes | None:
        key = str(PurePosixPath(self.base) / relative) if self.base not in ("", ".") else relative
        return self.members.get(key)


class _Problems:
    """Problems found so far, one per (file, row, field), in the order found."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str, str], PackageProblem] = {}
        self.more = 0

    def add(self, file: str, row: str, field_name: str, message: str) -> None:
        key = (file, row, field_name)
        if key in self.found:
            return
        if len(self.found) >= MAX_PROBLEMS:
            self.more += 1
            return
        self.found[key] = PackageProblem(file, row, field_name, message)

    def raise_any(self) -> None:
        if self.found or self.more:
            raise PackageError(list(self.found.values()), self.more)


def _read_tabular(source: _Source) -> Package:
    problems = _Problems()
    raw = source.read("datapackage.json")
    if raw is None:
        raise PackageError([PackageProblem(source.name, "", "", "no datapackage.json found")])
    descriptor = _load_json(raw, source.where("datapackage.json"))
    resources = descriptor.get("resources") if isinstance(descriptor, dict) else None
    if not isinstance(resources, list) or not resources:
        raise PackageError(
            [PackageProblem(source.where("datapackage.json"), "", "resources", "none listed")]
        )
    hsds = hsds_table_schemas()
    package = Package(source.name)
    where_of: dict[str, str] = {}
    lines_of: dict[str, list[int]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict) or not isinstance(resource.get("name"), str):
            problems.add(source.where("datapackage.json"), f"resources[{index}]", "name", "missing")
            continue
        name = resource["name"]
        relative = resource.get("path")
        if not isinstance(relative, str):
            problems.add(source.where("datapackage.json"), f"resources[{index}]", "path", "missing")
            continue
        schema = resource.get("schema") if isinstance(resource.get("schema"), dict) else None
        schema = schema or hsds.get(name, {}).get("schema")
        if schema is None:
            continue  # a table HSDS does not know, without a schema: not ours to read
        data = source.read(relative)
        if data is None:
            if name == "service":
                problems.add(
                    source.where(relative), "", "", "listed in datapackage.json but missing"
                )
            continue  # an HSDS package may leave tables out; references to them still count
        where = source.where(relative)
        rows, lines, absent = _read_csv(data, where, schema, problems)
        if name in hsds:
            _check_with_json_schema(name, rows, lines, where, problems, absent)
        package.tables[name] = rows
        where_of[name], lines_of[name], schemas[name] = where, lines, schema
    _check_keys(package.tables, schemas, where_of, lines_of, problems)
    problems.raise_any()
    if not package.rows("service"):
        raise PackageError([PackageProblem(source.name, "", "", "the package lists no service")])
    return package


def _read_csv(
    data: bytes, where: str, schema: Mapping[str, Any], problems: _Problems
) -> tuple[list[Row], list[int], set[str]]:
    """The rows of one CSV table, their line numbers, and the required columns it lacks."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.add(where, "", "", "not UTF-8 text")
        return [], [], set()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        problems.add(where, "1", "", "no header row")
        return [], [], set()
    fields = {f["name"]: f for f in schema.get("fields", []) if isinstance(f, dict) and "name" in f}
    absent = {name for name, spec in fields.items() if _required(spec) and name not in header}
    for name in sorted(absent):
        problems.add(where, "1", name, "required column is missing")
    rows: list[Row] = []
    lines: list[int] = []
    line = 1
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problems.add(
                    where, str(start), "", f"{len(record)} values for {len(header)} columns"
                )
                continue
            row: Row = {}
            for column, cell in zip(header, record, strict=True):
                known = fields.get(column)
                value = (
                    _cell(cell, known, where, start, column, problems) if known else cell or None
                )
                if value is not None:
                    row[column] = value
            for name, spec in fields.items():
                if _required(spec) and name in header and name not in row:
                    problems.add(where, str(start), name, "required field is empty")
            rows.append(row)
            lines.append(start)
    except csv.Error as exc:
        problems.add(where, str(line + 1), "", f"not valid CSV: {exc}")
    return rows, lines, absent


def _required(spec: Mapping[str, Any]) -> bool:
    constraints = spec.get("constraints") or {}
    return bool(constraints.get("required"))


def _cell(
    cell: str, spec: Mapping[str, Any], where: str, line: int, column: str, problems: _Problems
) -> Any:
    """One CSV value as JSON would have it, or None when empty; a bad one is a problem."""
    if cell == "":
        return None
    problem = _type_problem(cell, spec)
    if problem is not None:
        problems.add(where, str(line), column, problem)
        return cell
    value: Any = cell
    if spec.get("type") in ("number", "integer"):
        number = float(cell)
        value = int(number) if number.is_integer() else number
    elif spec.get("type") == "boolean":
        value = cell.strip().lower() in ("true", "1", "yes")
    return value


def _type_problem(value: Any, spec: Mapping[str, Any]) -> str | None:
    """What is wrong with ``value`` for a table-schema field, or None."""
    kind = spec.get("type", "string")
    text = str(value)
    try:
        if kind in ("number", "integer"):
            if isinstance(value, bool):
                raise ValueError
            number = float(text)
            if kind == "integer" and not number.is_integer():
                raise ValueError
        elif kind == "boolean":
            if text.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
        elif kind == "date":
            date.fromisoformat(text)
        elif kind == "datetime":
            datetime.fromisoformat(text)
        elif kind == "time":
            time.fromisoformat(text)
    except ValueError:
        expected = {"datetime": "date and time (ISO 8601)", "date": "date (YYYY-MM-DD)"}
        return f"{text!r} is not a valid {expected.get(kind, kind)}"
    fmt = spec.get("format")
    if kind == "string" and fmt == "uuid":
        try:
            uuid.UUID(text)
        except ValueError:
            return f"{text!r} is not a valid uuid"
    if kind == "string" and fmt == "email" and "@" not in text:
        return f"{text!r} is not a valid email address"
    constraints = spec.get("constraints") or {}
    allowed = constraints.get("enum") or spec.get("enum")
    if allowed and value not in allowed:
        return f"{text!r} is not one of: {', '.join(str(a) for a in allowed)}"
    return None


def _check_with_json_schema(
    table: str,
    rows: list[Row],
    lines: list[int],
    where: str,
    problems: _Problems,
    absent: set[str],
) -> None:
    """Each row against the HSDS JSON Schema of its table (``tabular.json``).

    A required column the file lacks is one problem (on line 1), not one per row.
    """
    validator = _validator("tabular.json", table)
    for row, line in zip(rows, lines, strict=True):
        for error in validator.iter_errors(row):
            field_name, message = _describe(error)
            if field_name not in absent:
                problems.add(where, str(line), field_name, message)


def _describe(error: Any) -> tuple[str, str]:
    """A jsonschema error as (field, problem) in plain words."""
    path = [p for p in error.absolute_path]
    if error.validator == "required":
        missing = [
            name
            for name in error.validator_value
            if isinstance(error.instance, dict) and name not in error.instance
        ]
        return (missing[0] if missing else "?"), "required field is missing"
    field_name = str(path[-1]) if path and isinstance(path[-1], str) else ""
    value = error.instance
    if error.validator == "enum":
        allowed = ", ".join(str(a) for a in error.validator_value)
        return field_name, f"{value!r} is not one of: {allowed}"
    if error.validator == "type":
        return field_name, f"expected {error.validator_value}, got {value!r}"
    if error.validator == "format":
        return field_name, f"{value!r} is not a valid {error.validator_value}"
    return field_name, str(error.message)


def _check_keys(
    tables: Mapping[str, list[Row]],
    schemas: Mapping[str, Mapping[str, Any]],
    where_of: Mapping[str, str],
    lines_of: Mapping[str, list[int]],
    problems: _Problems,
) -> None:
    """Unique primary keys, and every foreign key pointing at a row that exists."""
    ids: dict[str, set[Any]] = {}
    for name, rows in tables.items():
        key = _one(schemas[name].get("primaryKey")) or "id"
        seen: dict[Any, Any] = {}
        for row, line in zip(rows, lines_of[name], strict=True):
            value = row.get(key)
            if value is None:
                continue
            if value in seen:
                problems.add(
                    where_of[name], str(line), key, f"duplicate id {value} (also row {seen[value]})"
                )
            else:
                seen[value] = line
        ids[name] = set(seen)
    for name, rows in tables.items():
        for foreign in schemas[name].get("foreignKeys") or []:
            column = _one(foreign.get("fields"))
            reference = foreign.get("reference") or {}
            target = reference.get("resource") or name  # "" means the table itself
            target_key = _one(reference.get("fields")) or "id"
            if column is None:
                continue
            known = ids.get(target, set())
            if target_key != (_one(schemas.get(target, {}).get("primaryKey")) or "id"):
                known = {r.get(target_key) for r in tables.get(target, [])}
            for row, line in zip(rows, lines_of[name], strict=True):
                value = row.get(column)
                if value is not None and value not in known:
                    problems.add(
                        where_of[name],
                        str(line),
                        column,
                        f"{value} is not the id of any {target} in the package",
                    )


def _one(value: Any) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if len(value) == 1 else None
    return value if isinstance(value, str) else None


__all__ = [
    "Package",
    "PackageError",
    "PackageProblem",
    "hsds_table_schemas",
    "read_package",
]
