"""A least-privilege PostgreSQL role for ``cm-bot run``: rows, never tables.

Migrations run as the owner of the tables. The bot itself needs less, and a leaked
database URL or a flaw in the bot should not be able to rewrite history: the role made
here may read and write the working tables, may only add to and read the audit log, and
may not create, alter, drop or truncate anything (it owns nothing and has no CREATE on
the schema). ``ALTER DEFAULT PRIVILEGES`` gives it the same rights on the tables and
sequences later migrations create, so ``cm-bot db upgrade`` needs no second step.

:func:`role_statements` is a pure function of what :func:`read_schema` found in the live
database; ``cm-bot db roles`` prints it and ``--apply`` runs it via :func:`apply_role`,
which checks the outcome (:func:`role_problems`) before it commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from cm_bot.domain.errors import RefusedError
from cm_bot.storage.models import metadata

AUDIT_TABLES = frozenset({"auditlog"})  # INSERT and SELECT only
READ_ONLY_TABLES = frozenset({"alembic_version"})  # the bot reads its revision, never sets it
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class RoleError(RefusedError, ValueError):
    """The role cannot be set up as asked; the message says why, in one line."""


@dataclass(frozen=True)
class Schema:
    """The cm-bot tables found in one PostgreSQL schema."""

    name: str
    owner: str  # owner of alembic_version: the role migrations run as
    tables: tuple[str, ...]
    sequences: tuple[str, ...]  # those the tables' id columns draw from


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, always quoted ("case" is a reserved word)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A PostgreSQL string literal (``standard_conforming_strings`` is on since 9.1)."""
    return "'" + value.replace("'", "''") + "'"


def check_role_name(role: str) -> str:
    """Plain lower-case names only: no quoting surprises in psql or in a URL."""
    if not _ROLE_NAME.fullmatch(role):
        raise RoleError(
            f"role name {role!r}: use lower-case letters, digits and _ (at most 63), "
            "not starting with a digit"
        )
    return role


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    r"""The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (as psql's \password).

    Sending the verifier rather than the password keeps the password out of the server's
    statement log and out of anything printed. ASCII only, where SASLprep changes nothing.
    """
    if not password:
        raise RoleError("the password is empty")
    if not password.isascii():
        raise RoleError("use an ASCII password (for example: openssl rand -base64 24)")
    salt = secrets.token_bytes(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def role_statements(role: str, schema: Schema, *, verifier: str | None = None) -> list[str]:
    """The SQL that creates (or brings back into line) the application role.

    Idempotent: it first takes away whatever the role held in the schema, so re-running
    it after a change of these rules leaves exactly what they say.
    """
    name = quote_ident(check_role_name(role))
    space = quote_ident(schema.name)
    owner = quote_ident(schema.owner)
    statements = [
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
        f"{quote_literal(role)}) THEN CREATE ROLE {name} LOGIN; END IF; END $$",
    ]
    if verifier is not None:
        statements.append(f"ALTER ROLE {name} PASSWORD {quote_literal(verifier)}")
    statements += [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {space} FROM {name}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {space} FROM {name}",
        f"REVOKE ALL ON SCHEMA {space} FROM {name}",
        f"GRANT USAGE ON SCHEMA {space} TO {name}",
    ]
    for table in schema.tables:
        if table in AUDIT_TABLES:
            rights = "SELECT, INSERT"
        elif table in READ_ONLY_TABLES:
            rights = "SELECT"
        else:
            rights = "SELECT, INSERT, UPDATE, DELETE"
        statements.append(f"GRANT {rights} ON TABLE {space}.{quote_ident(table)} TO {name}")
    statements += [
        f"GRANT USAGE ON SEQUENCE {space}.{quote_ident(sequence)} TO {name}"
        for sequence in schema.sequences
    ]
    statements += [
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {space} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {name}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {space} "
        f"GRANT USAGE ON SEQUENCES TO {name}",
    ]
    return statements


def read_schema(connection: Connection, schema: str | None = None) -> Schema:
    """The cm-bot tables in ``schema`` (default: the connection's current schema).

    Tables cm-bot does not know (another application's, in a shared schema) are left out.
    """
    if connection.dialect.name != "postgresql":
        raise RoleError(f"roles apply to PostgreSQL only, not {connection.dialect.name}")
    name = schema or connection.exec_driver_sql("SELECT current_schema()").scalar_one_or_none()
    if not name:
        raise RoleError("no current schema (the search_path is empty): give --schema")
    rows = connection.execute(
        text(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"
        ),
        {"schema": name},
    ).all()
    owners: dict[str, str] = {str(table): str(owner) for table, owner in rows}
    if "alembic_version" not in owners:
        raise RoleError(
            f"schema {name} holds no cm-bot tables: run cm-bot db upgrade first (as the owner)"
        )
    known = set(metadata.tables) | READ_ONLY_TABLES
    tables = tuple(sorted(table for table in owners if table in known))
    sequences = connection.execute(
        text(
            "SELECT s.relname, t.relname FROM pg_class s "
            "JOIN pg_namespace n ON n.oid = s.relnamespace "
            "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid "
            "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
            "JOIN pg_class t ON t.oid = d.refobjid "
            "WHERE s.relkind = 'S' AND n.nspname = :schema"
        ),
        {"schema": name},
    ).all()
    owned = tuple(sorted(str(sequence) for sequence, table in sequences if table in tables))
    return Schema(name, owners["alembic_version"], tables, owned)


def role_problems(connection: Connection, role: str, schema: Schema) -> list[str]:
    """What would let ``role`` change more than rows, or touch audit rows; empty when none."""
    found = connection.execute(
        text(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = :role"
        ),
        {"role": role},
    ).one_or_none()
    if found is None:
        return [f"role {role} does not exist"]
    attributes = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
    problems = [f"role {role} has {word}" for word, on in zip(attributes, found, strict=True) if on]
    args = {"role": role, "schema": schema.name}
    if connection.execute(
        text("SELECT has_schema_privilege(:role, :schema, 'CREATE')"), args
    ).scalar_one():
        problems.append(f"role {role} may create objects in schema {schema.name}")
    owned = connection.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') "
            "AND pg_has_role(:role, c.relowner, 'MEMBER') ORDER BY 1"
        ),
        args,
    ).scalars()
    if owned_names := list(owned):
        some = ", ".join(owned_names[:3]) + (", ..." if len(owned_names) > 3 else "")
        problems.append(
            f"role {role} owns, or may act as the owner of, {len(owned_names)} tables ({some})"
        )
    for table in sorted(AUDIT_TABLES & set(schema.tables)):
        for right in ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES"):
            if connection.execute(
                text(
                    "SELECT has_table_privilege(CAST(:role AS name), "
                    "format('%I.%I', CAST(:schema AS text), CAST(:t AS text)), CAST(:r AS text))"
                ),
                {**args, "t": table, "r": right},
            ).scalar_one():
                problems.append(f"role {role} may {right} {table}")
    return problems


def apply_role(
    engine: Engine, role: str, *, schema: str | None = None, password: str | None = None
) -> Schema:
    """Create or update ``role`` in one transaction, committed only if nothing is amiss.

    Run as the owner of the tables (or a superuser). Without a password an existing
    role keeps its own, and a new one has none until given one.

    Raises:
        RoleError: The setup is refused or the result would not be least privilege.
    """
    check_role_name(role)
    verifier = None if password is None else scram_verifier(password)
    with engine.begin() as connection:
        found = read_schema(connection, schema)
        for statement in role_statements(role, found, verifier=verifier):
            connection.exec_driver_sql(statement)
        problems = role_problems(connection, role, found)
        if problems:
            raise RoleError("; ".join(problems))
    return found


__all__ = [
    "AUDIT_TABLES",
    "READ_ONLY_TABLES",
    "RoleError",
    "Schema",
    "apply_role",
    "check_role_name",
    "read_schema",
    "role_problems",
    "role_statements",
    "scram_verifier",
]
