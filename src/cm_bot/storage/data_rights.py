"""Per-case export and erasure: everything held about one case, and nothing about anyone else."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlmodel import SQLModel, col

from cm_bot.storage.db import transaction
from cm_bot.storage.models import (
    AuditLog,
    Case,
    CaseNote,
    ChannelIdentity,
    Client,
    ConsentRecord,
    Flag,
    FlowRun,
    Goal,
    HeldMessage,
    InboundMessage,
    Outbox,
    PromptToken,
    Response,
    ScheduledContact,
    ScoreResult,
    utcnow,
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class DataRightsError(ValueError):
    """The case does not exist or cannot be processed as asked."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rows(rows: Any, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{f: _plain(getattr(r, f)) for f in fields} for r in rows]


def export_case(db: Engine, ref: str, actor: str = "cli") -> dict[str, Any]:
    """Everything held about a case and its client, as JSON-ready values; the export is audited."""
    with transaction(db) as session:
        case = session.execute(select(Case).where(col(Case.ref) == ref)).scalars().first()
        if case is None:
            raise DataRightsError(f"no case {ref}")
        client = session.get(Client, case.client_id) if case.client_id else None
        cid = case.client_id if case.client_id is not None else -1

        def of(model: type[SQLModel], column: Any, value: Any) -> list[Any]:
            order = col(model.id) if hasattr(model, "id") else None
            query = select(model).where(column == value)
            if order is not None:
                query = query.order_by(order)
            return list(session.execute(query).scalars())

        flags = of(Flag, col(Flag.case_id), case.id)
        data: dict[str, Any] = {
            "exported_at": _plain(utcnow()),
            "case": {
                "ref": case.ref,
                "status": case.status,
                "opened_at": _plain(case.opened_at),
                "exited_at": _plain(case.exited_at),
                "followup_outcome": case.followup_outcome,
            },
            "client": None
            if client is None
            else {
                "status": client.status,
                "locale": client.locale,
                "timezone": client.timezone,
                "created_at": _plain(client.created_at),
            },
            "consent_records": _rows(
                of(ConsentRecord, col(ConsentRecord.client_id), cid),
                (
                    "action",
                    "flow_id",
                    "version",
                    "text_sha256",
                    "locale",
                    "decisions",
                    "recorded_at",
                ),
            ),
            "responses": _rows(
                of(Response, col(Response.client_id), cid),
                (
                    "flow_id",
                    "flow_version",
                    "step_id",
                    "key",
                    "question",
                    "value",
                    "locale",
                    "goal_id",
                    "answered_at",
                ),
            ),
            "scores": _rows(
                of(ScoreResult, col(ScoreResult.client_id), cid),
                ("flow_id", "score_id", "instrument", "value", "band", "result", "computed_at"),
            ),
            "flags": _rows(
                flags,
                (
                    "id",
                    "severity",
                    "reason",
                    "rule_id",
                    "source_key",
                    "source_value",
                    "status",
                    "created_at",
                    "acknowledged_at",
                    "acknowledged_by",
                    "resolved_at",
                    "resolved_by",
                    "escalated_at",
                ),
            ),
            "goals": _rows(
                of(Goal, col(Goal.case_id), case.id),
                ("id", "text", "cadence", "target_date", "status", "created_at"),
            ),
            "notes": _rows(
                of(CaseNote, col(CaseNote.case_id), case.id), ("text", "staff_id", "created_at")
            ),
            "scheduled_contacts": _rows(
                of(ScheduledContact, col(ScheduledContact.case_id), case.id),
                ("flow_id", "kind", "goal_id", "due_at", "status", "attempts", "outcome"),
            ),
            "messages_to_client": _rows(
                of(Outbox, col(Outbox.client_id), cid),
                ("text", "status", "created_at", "sent_at"),
            ),
            "messages_from_client": _rows(
                of(InboundMessage, col(InboundMessage.client_id), cid),
                ("kind", "received_at", "status"),
            ),
            # Everything the client wrote while the bot was paused for an urgent flag.
            "messages_while_paused": _rows(
                of(HeldMessage, col(HeldMessage.client_id), cid),
                ("flag_id", "kind", "text", "crisis", "opened", "replied", "received_at"),
            ),
        }
        session.add(AuditLog(actor=actor, action="case_exported", case_id=case.id))
        return data


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    # A spreadsheet would run a cell starting with = + - @ as a formula: quote it.
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def to_csv(data: dict[str, Any]) -> str:
    """The export as one CSV table: section, row number, field, value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["section", "row", "field", "value"])
    for section, content in data.items():
        if isinstance(content, list):
            for index, row in enumerate(content, 1):
                for field, value in row.items():
                    writer.writerow([section, index, field, _cell(value)])
        elif isinstance(content, dict):
            for field, value in content.items():
                writer.writerow([section, 1, field, _cell(value)])
        else:
            writer.writerow([section, 1, section, _cell(content)])
    return buffer.getvalue()


def erase_case(db: Engine, ref: str, actor: str = "cli") -> dict[str, int]:
    """Remove the client's personal data; keep a tombstone (case ref, status) and the audit trail.

    Returns how many rows of each kind were removed or cancelled.
    """
    with transaction(db) as session:
        case = (
            session.execute(select(Case).where(col(Case.ref) == ref).with_for_update())
            .scalars()
            .first()
        )
        if case is None:
            raise DataRightsError(f"no case {ref}")
        counts: dict[str, int] = {}

        def run(name: str, statement: Any) -> None:
            result = session.execute(statement)
            counts[name] = int(getattr(result, "rowcount", 0) or 0)

        cid = case.client_id
        run(
            "scheduled_contacts_cancelled",
            update(ScheduledContact)
            .where(
                col(ScheduledContact.case_id) == case.id, col(ScheduledContact.status) == "pending"
            )
            .values(status="cancelled", outcome="erased", updated_at=utcnow()),
        )
        run(
            "goals_detached",
            update(ScheduledContact)
            .where(col(ScheduledContact.case_id) == case.id)
            .values(goal_id=None),
        )
        if cid is not None:
            run("buttons", delete(PromptToken).where(col(PromptToken.client_id) == cid))
            run("responses", delete(Response).where(col(Response.client_id) == cid))
            run(
                "messages_while_paused",
                delete(HeldMessage).where(col(HeldMessage.client_id) == cid),
            )
            run("scores", delete(ScoreResult).where(col(ScoreResult.client_id) == cid))
            run("consent_records", delete(ConsentRecord).where(col(ConsentRecord.client_id) == cid))
            client_outbox = select(col(Outbox.id)).where(col(Outbox.client_id) == cid)
            session.execute(
                update(Outbox).where(col(Outbox.edit_of).in_(client_outbox)).values(edit_of=None)
            )
            run("messages_to_client", delete(Outbox).where(col(Outbox.client_id) == cid))
            client_inbound = select(col(InboundMessage.id)).where(
                col(InboundMessage.client_id) == cid
            )
            session.execute(
                update(Outbox)
                .where(col(Outbox.inbound_id).in_(client_inbound))
                .values(inbound_id=None)
            )
            run("runs", delete(FlowRun).where(col(FlowRun.client_id) == cid))
            run(
                "messages_from_client",
                delete(InboundMessage).where(col(InboundMessage.client_id) == cid),
            )
            run(
                "identity_links",
                delete(ChannelIdentity).where(col(ChannelIdentity.client_id) == cid),
            )
            session.execute(
                update(Client)
                .where(col(Client.id) == cid)
                .values(status="erased", locale=None, timezone=None)
            )
        # Flags stay (staff history) without the answer that raised them.
        run(
            "flags_scrubbed",
            update(Flag)
            .where(col(Flag.case_id) == case.id)
            .values(source_key=None, source_value=None),
        )
        session.execute(
            update(Outbox)
            .where(
                col(Outbox.flag_id).in_(select(col(Flag.id)).where(col(Flag.case_id) == case.id))
            )
            .values(text="[erased]")
        )
        run("goals", delete(Goal).where(col(Goal.case_id) == case.id))
        run("notes", delete(CaseNote).where(col(CaseNote.case_id) == case.id))
        case.status = "closed"
        session.add(
            AuditLog(
                actor=actor,
                action="case_erased",
                case_id=case.id,
                detail={k: v for k, v in counts.items() if v},
            )
        )
        return counts


__all__ = ["DataRightsError", "erase_case", "export_case", "to_csv"]
