"""Per-case export and erasure: everything held about one case, and nothing about anyone else.

The export is for people to read as well as for programs: beside each code stands what it
meant (an answer's label as the client saw it, Yes or No for a consent decision, the name
of the staff member behind a staff id).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, String, and_, cast, delete, func, literal, or_, select, update
from sqlmodel import Session, SQLModel, col

from cm_bot.domain import CaseStatus, ClientStatus, ContactStatus, FlagStatus, OutboxKind
from cm_bot.domain.errors import RefusedError
from cm_bot.domain.time import SYSTEM_CLOCK
from cm_bot.storage.db import scrub, transaction
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
    Invite,
    Outbox,
    PromptToken,
    Referral,
    ReferralEvent,
    ReferralOffer,
    Response,
    ScheduledContact,
    ScoreResult,
    Staff,
)
from cm_bot.storage.reads.compare import compare_case, compare_rows
from cm_bot.storage.rescreens import marked_series, plan_rows

if TYPE_CHECKING:
    from cm_bot.flows import FlowRegistry
    from cm_bot.i18n import Translator

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
log = logging.getLogger(__name__)


class DataRightsError(RefusedError, ValueError):
    """The case does not exist or cannot be processed as asked."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rows(rows: Any, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{f: _plain(getattr(r, f)) for f in fields} for r in rows]


def _labelling(
    flows: FlowRegistry | None, translator: Translator | None
) -> tuple[FlowRegistry | None, Translator | None]:
    """The flows and translations labels come from: the ones given, else the configured ones.

    Without them the export still holds every code, only without labels.
    """
    if flows is not None and translator is not None:
        return flows, translator
    from cm_bot.flows import FlowDefinitionError, load_flows
    from cm_bot.i18n import Translator
    from cm_bot.settings import Settings

    try:
        settings = Settings()
        if flows is None:
            flows = load_flows(settings.flows_dir)
        if translator is None:
            translator = Translator(settings.locales_dir, default_locale=settings.default_locale)
    except (FlowDefinitionError, OSError, ValueError) as exc:
        log.warning("the export has no labels: the flows could not be loaded (%s)", exc)
    return flows, translator


def _response_rows(
    rows: list[Response], flows: FlowRegistry | None, translator: Translator | None
) -> list[dict[str, Any]]:
    """Responses with ``label`` beside ``value``: the words the client tapped, in their language.

    ``None`` where the answer has no words (typed numbers, dates, free text) or the flow
    that asked it is no longer known.
    """
    from cm_bot.engine.staff import answer_label, step_of

    fields = (
        "flow_id",
        "flow_version",
        "step_id",
        "key",
        "question",
        "value",
        "label",
        "locale",
        "goal_id",
        "answered_at",
        "provenance",
    )
    result = []
    for row in rows:
        label = None
        if flows is not None and translator is not None and row.flow_id in flows:
            step = step_of(flows.get(row.flow_id), row.key)
            label = answer_label(step, row.value, translator.get(row.locale).gettext)
        result.append({f: label if f == "label" else _plain(getattr(row, f)) for f in fields})
    return result


def _consent_rows(rows: list[ConsentRecord], translator: Translator | None) -> list[dict[str, Any]]:
    """Consent records with each decision also as Yes or No, in the language it was asked in."""
    result = _rows(
        rows,
        ("action", "flow_id", "version", "text_sha256", "locale", "decisions", "recorded_at"),
    )
    for row, record in zip(result, rows, strict=True):
        _ = (lambda text: text) if translator is None else translator.get(record.locale).gettext
        row["decision_labels"] = {
            purpose: None if decided is None else _("Yes") if decided is True else _("No")
            for purpose, decided in (record.decisions or {}).items()
        }
    return result


def export_case(
    db: Engine,
    ref: str,
    actor: str = "cli",
    *,
    flows: FlowRegistry | None = None,
    translator: Translator | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything held about a case and its client, as JSON-ready values; the export is audited.

    ``flows`` and ``translator`` label the answers (by default the configured flows and
    locales, :class:`cm_bot.settings.Settings`). ``now``: when it was exported (default:
    the wall clock; the CLI is outside the app's injected clock).
    """
    flows, translator = _labelling(flows, translator)
    with transaction(db) as session:
        case = session.execute(select(Case).where(col(Case.ref) == ref)).scalars().first()
        if case is None:
            raise DataRightsError(f"no case {ref}")
        client = session.get(Client, case.client_id) if case.client_id else None
        cid = case.client_id if case.client_id is not None else -1
        locale = (client.locale if client is not None else None) or "en"

        def of(model: type[SQLModel], column: Any, value: Any) -> list[Any]:
            order = col(model.id) if hasattr(model, "id") else None
            query = select(model).where(column == value)
            if order is not None:
                query = query.order_by(order)
            return list(session.execute(query).scalars())

        flags = of(Flag, col(Flag.case_id), case.id)
        notes = of(CaseNote, col(CaseNote.case_id), case.id)
        staff_ids = {f.acknowledged_by for f in flags} | {f.resolved_by for f in flags}
        staff_ids |= {n.staff_id for n in notes}
        staff_ids.discard(None)
        names: dict[int | None, str] = (
            {
                s.id: s.name
                for s in session.execute(
                    select(Staff).where(col(Staff.id).in_(staff_ids))
                ).scalars()
            }
            if staff_ids
            else {}
        )

        def named(rows: list[dict[str, Any]], pairs: tuple[tuple[str, str], ...]) -> Any:
            """Each staff id field followed by the staff member's name."""
            out = []
            for row in rows:
                labelled: dict[str, Any] = {}
                for key, value in row.items():
                    labelled[key] = value
                    for id_field, name_field in pairs:
                        if key == id_field:
                            labelled[name_field] = names.get(value)
                out.append(labelled)
            return out

        data: dict[str, Any] = {
            "exported_at": _plain(now or SYSTEM_CLOCK.now()),
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
                # Safe-contact preferences (issue 18); the safe word only as set or not.
                "contact_preferences": {
                    "message_first": client.message_first,
                    "contact_start": client.contact_start and f"{client.contact_start:%H:%M}",
                    "contact_end": client.contact_end and f"{client.contact_end:%H:%M}",
                    "safe_word": "set" if client.safe_word_hash else "not set",
                },
            },
            "consent_records": _consent_rows(
                of(ConsentRecord, col(ConsentRecord.client_id), cid), translator
            ),
            "responses": _response_rows(
                of(Response, col(Response.client_id), cid), flows, translator
            ),
            "scores": _rows(
                of(ScoreResult, col(ScoreResult.client_id), cid),
                ("flow_id", "score_id", "instrument", "value", "band", "result", "computed_at"),
            ),
            "flags": named(
                _rows(
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
                (("acknowledged_by", "acknowledged_by_name"), ("resolved_by", "resolved_by_name")),
            ),
            "goals": _rows(
                of(Goal, col(Goal.case_id), case.id),
                (
                    "id",
                    "text",
                    "cadence",
                    "target_date",
                    "status",
                    "next_step",
                    "next_step_at",
                    "created_at",
                ),
            ),
            "notes": named(
                _rows(notes, ("text", "staff_id", "created_at")), (("staff_id", "staff_name"),)
            ),
            "scheduled_contacts": _rows(
                of(ScheduledContact, col(ScheduledContact.case_id), case.id),
                ("flow_id", "kind", "goal_id", "due_at", "status", "attempts", "outcome"),
            ),
            "messages_to_client": _rows(
                # Not the deletes of /clear: they carry message ids only.
                [m for m in of(Outbox, col(Outbox.client_id), cid) if m.kind != OutboxKind.DELETE],
                ("text", "status", "created_at", "sent_at"),
            ),
            "messages_from_client": _rows(
                of(InboundMessage, col(InboundMessage.client_id), cid),
                ("kind", "received_at", "status"),
            ),
            # Services offered, referrals made and each referral's status history (issue 17).
            "referral_offers": _rows(
                of(ReferralOffer, col(ReferralOffer.client_id), cid),
                ("need", "service_id", "choice", "referral_id", "offered_at", "answered_at"),
            ),
            "referrals": _referral_rows(session, of(Referral, col(Referral.case_id), case.id)),
            # Repeat PHQ-9 / GAD-7 (issue 18): the plans, and each instrument's series with
            # its markers (response, remission, not_improving) against the first score.
            "rescreen_plans": [
                {k: _plain(v) for k, v in plan.items()} for plan in plan_rows(session, case.id)
            ],
            "score_series": [
                {
                    "instrument": series["instrument"],
                    "points": [{**point, "at": _plain(point["at"])} for point in series["points"]],
                }
                for series in marked_series(session, case.id)
            ],
            # Intake against each post-exit follow-up (issue 18), in the client's language.
            "intake_and_followups": compare_rows(
                compare_case(session, case, flows=flows, translator=translator, locale=locale)
            ),
            # Everything the client wrote while the bot was paused for an urgent flag.
            "messages_while_paused": _rows(
                of(HeldMessage, col(HeldMessage.client_id), cid),
                ("flag_id", "kind", "text", "crisis", "opened", "replied", "received_at"),
            ),
        }
        session.add(AuditLog(actor=actor, action="case_exported", case_id=case.id))
        return data


def _referral_rows(session: Session, referrals: list[Referral]) -> list[dict[str, Any]]:
    """Each referral with its status changes (who, when, why), oldest first."""
    rows = _rows(
        referrals,
        (
            "id",
            "need",
            "service_id",
            "service_name",
            "made_by",
            "status",
            "reason",
            "created_at",
            "updated_at",
        ),
    )
    for row in rows:
        events = session.execute(
            select(ReferralEvent)
            .where(col(ReferralEvent.referral_id) == row["id"])
            .order_by(col(ReferralEvent.id))
        ).scalars()
        row["history"] = _rows(list(events), ("status", "reason", "actor", "at"))
    return rows


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


def erase_case(
    db: Engine, ref: str, actor: str = "cli", *, now: datetime | None = None
) -> dict[str, int]:
    """Remove everything written by or about the case's client; keep a tombstone.

    What goes: answers, runs, scores, consent records, notes, goals, messages to and from
    the client (inbox rows found by client and by Telegram account, dead letters
    included), messages kept during a pause, staff replies and notices that quoted the
    case, flag reasons and sources, channel identities, unused invites. What stays: the
    case's ref and dates, the flags' ids, dates, severities and statuses, scheduled
    contacts' dates and statuses, and the audit trail. Open flags are closed: there is
    nobody left to act for.

    After the commit the freed space is wiped (:func:`cm_bot.storage.db.scrub`), so
    neither SQLite's file and log nor PostgreSQL's tables keep the erased text.

    ``now`` stamps what the erasure closes (default: the wall clock).

    Returns how many rows of each kind were removed or changed.
    """
    with transaction(db) as session:
        counts = _erase(session, ref, actor, now or SYSTEM_CLOCK.now())
    scrub(db, ERASED_TABLES)
    return counts


# Every table erase_case deletes from or rewrites (PostgreSQL vacuums them afterwards).
ERASED_TABLES = (
    "response",
    "flowrun",
    "scoreresult",
    "consentrecord",
    "heldmessage",
    "inboundmessage",
    "outbox",
    "prompttoken",
    "channelidentity",
    "flag",
    "goal",
    "casenote",
    "scheduledcontact",
    "referral_offer",
    "referral",
    "referral_event",
    "client",
    "invite",
)


def _erase(session: Session, ref: str, actor: str, now: datetime) -> dict[str, int]:
    case = (
        session.execute(select(Case).where(col(Case.ref) == ref).with_for_update())
        .scalars()
        .first()
    )
    if case is None:
        raise DataRightsError(f"no case {ref}")
    counts: dict[str, int] = {}

    def run(name: str | None, statement: Any) -> None:
        result = session.execute(statement)
        if name is not None:
            counts[name] = counts.get(name, 0) + int(getattr(result, "rowcount", 0) or 0)

    cid = case.client_id
    case_flags = select(col(Flag.id)).where(col(Flag.case_id) == case.id)
    run(
        "scheduled_contacts_cancelled",
        update(ScheduledContact)
        .where(
            col(ScheduledContact.case_id) == case.id,
            col(ScheduledContact.status) == ContactStatus.PENDING,
        )
        .values(status=ContactStatus.CANCELLED, outcome="erased", updated_at=now),
    )
    run(
        None,
        update(ScheduledContact)
        .where(col(ScheduledContact.case_id) == case.id)
        .values(goal_id=None),
    )
    # Staff replies that quoted the case (/case, /flags) and the flags' notices and edits.
    staff_side = select(col(Outbox.id)).where(
        or_(col(Outbox.case_id) == case.id, col(Outbox.flag_id).in_(case_flags))
    )
    run(None, update(Outbox).where(col(Outbox.edit_of).in_(staff_side)).values(edit_of=None))
    run("staff_messages", delete(Outbox).where(col(Outbox.id).in_(staff_side)))
    if cid is not None:
        identities = session.execute(
            select(
                col(ChannelIdentity.channel),
                col(ChannelIdentity.external_user_id),
                col(ChannelIdentity.chat_id),
            ).where(col(ChannelIdentity.client_id) == cid)
        ).all()
        # Inbox rows by client, and by account: dead letters and rows written before the
        # account was linked carry no client id.
        by_account = [
            and_(
                col(InboundMessage.channel) == channel,
                col(InboundMessage.external_user_id) == user,
            )
            for channel, user, _chat in identities
        ]
        # Replies to the chat before it was linked (an invite's welcome) name no client.
        to_chat = [
            and_(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat)
            for channel, _user, chat in identities
        ]
        inbound = select(col(InboundMessage.id)).where(
            or_(col(InboundMessage.client_id) == cid, *by_account)
        )
        run("buttons", delete(PromptToken).where(col(PromptToken.client_id) == cid))
        run("responses", delete(Response).where(col(Response.client_id) == cid))
        run(
            "messages_while_paused",
            delete(HeldMessage).where(
                or_(col(HeldMessage.client_id) == cid, col(HeldMessage.case_id) == case.id)
            ),
        )
        run("scores", delete(ScoreResult).where(col(ScoreResult.client_id) == cid))
        run("consent_records", delete(ConsentRecord).where(col(ConsentRecord.client_id) == cid))
        client_outbox = select(col(Outbox.id)).where(or_(col(Outbox.client_id) == cid, *to_chat))
        run(None, update(Outbox).where(col(Outbox.edit_of).in_(client_outbox)).values(edit_of=None))
        run("messages_to_client", delete(Outbox).where(col(Outbox.id).in_(client_outbox)))
        run(None, update(Outbox).where(col(Outbox.inbound_id).in_(inbound)).values(inbound_id=None))
        run("runs", delete(FlowRun).where(col(FlowRun.client_id) == cid))
        run(
            "messages_from_client",
            delete(InboundMessage).where(col(InboundMessage.id).in_(inbound)),
        )
        run("identity_links", delete(ChannelIdentity).where(col(ChannelIdentity.client_id) == cid))
        run(
            None,
            update(Client)
            .where(col(Client.id) == cid)
            .values(
                status=ClientStatus.ERASED,
                locale=None,
                timezone=None,
                contact_start=None,
                contact_end=None,
                message_first=None,
                safe_word_hash=None,
            ),
        )
    # A staff message about the case still waiting in the inbox ("/note C-0001 ...").
    run(
        "staff_messages_from_inbox",
        update(InboundMessage)
        .where(
            col(InboundMessage.text).is_not(None),
            func.upper(col(InboundMessage.text)).contains(case.ref.upper()),
        )
        .values(text=None, payload=None),
    )
    # Flags stay as a tombstone: ids, dates, severities and statuses; not what raised them.
    run(
        "flags_closed",
        update(Flag)
        .where(col(Flag.case_id) == case.id, col(Flag.status) != FlagStatus.RESOLVED)
        .values(status=FlagStatus.RESOLVED, resolved_at=now),
    )
    run(
        "flags_scrubbed",
        update(Flag)
        .where(col(Flag.case_id) == case.id)
        .values(
            reason="",
            reason_msgid=None,
            reason_params=None,
            rule_id="erased",
            dedupe_key=literal("erased:") + cast(col(Flag.id), String),
            source_key=None,
            source_value=None,
        ),
    )
    # Referrals stay as a tombstone like flags: ids, dates and statuses; not the need, the
    # service, the reason or who made them. What was offered goes.
    case_referrals = select(col(Referral.id)).where(col(Referral.case_id) == case.id)
    run(
        "referral_offers",
        delete(ReferralOffer).where(
            or_(
                col(ReferralOffer.case_id) == case.id,
                *([col(ReferralOffer.client_id) == cid] if cid is not None else []),
            )
        ),
    )
    run(
        None,
        update(ReferralEvent)
        .where(col(ReferralEvent.referral_id).in_(case_referrals))
        .values(reason=None, actor="erased"),
    )
    run(
        "referrals_scrubbed",
        update(Referral)
        .where(col(Referral.case_id) == case.id)
        .values(
            need="erased",
            service_id="",
            service_name="",
            made_by="erased",
            reason=None,
            client_id=None,
        ),
    )
    run("goals", delete(Goal).where(col(Goal.case_id) == case.id))
    run("notes", delete(CaseNote).where(col(CaseNote.case_id) == case.id))
    run(
        "invites_withdrawn",
        update(Invite)
        .where(col(Invite.case_id) == case.id, col(Invite.used_at).is_(None))
        .values(used_at=now),
    )
    case.status = CaseStatus.CLOSED
    session.add(
        AuditLog(
            at=now,
            actor=actor,
            action="case_erased",
            case_id=case.id,
            detail={k: v for k, v in counts.items() if v},
        )
    )
    return counts


__all__ = ["ERASED_TABLES", "DataRightsError", "erase_case", "export_case", "to_csv"]
