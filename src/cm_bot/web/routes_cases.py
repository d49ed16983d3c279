"""The caseload and the case pages: ``/cases``, ``/cases/{ref}``, notes, goals and exports.

Who may see a case is the bot's rule (:func:`cm_bot.engine.staff_access.sees_case`). An
unknown reference and one outside the reader's caseload get the same 404 page, so
references cannot be probed; both are audited as ``access_refused``. Every page showing
case data writes an audit row (``read_caseload``, ``read_case``) as ``staff:<id>`` with
``via="console"``; notes and goals go through the same unit-of-work calls as the bot's
``/note`` and ``/goal`` (a goal's first check-in is planned on its ``GoalAdded`` event),
and the exports are the CLI's (:mod:`cm_bot.storage.data_rights`), audited as exports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from cm_bot.domain.needs import DOMAIN_NAMES
from cm_bot.domain.rescreen import RESCREEN_INSTRUMENTS, STOP, parse_every
from cm_bot.domain.values import CADENCES, CaseStatus, ReferralReason, ReferralStatus
from cm_bot.engine.case_summary import WORDS
from cm_bot.engine.notices import REFERRAL_REASON_WORDS, REFERRAL_STATUS_WORDS, SEVERITY_NAMES
from cm_bot.engine.staff_access import sees_case
from cm_bot.engine.staff_commands import RESCREEN_NAMES
from cm_bot.engine.zones import zone_of
from cm_bot.i18n.translator import N_, Gettext
from cm_bot.scoring.trend import ordered, series_marks
from cm_bot.storage.data_rights import export_case, to_csv
from cm_bot.storage.models import Case
from cm_bot.storage.reads.caseload import COLUMNS, SCORE_COLUMN, CaseloadQuery, load_caseload
from cm_bot.storage.reads.compare import compare_case, followup_columns
from cm_bot.storage.reads.referrals import case_referrals
from cm_bot.storage.reads.timeline import case_head, load_case
from cm_bot.storage.repository import SqlUnitOfWork
from cm_bot.storage.rescreens import plan_rows
from cm_bot.web.auth import ConsoleUser, Staff, cm_app
from cm_bot.web.chart import band_label, chart_svg, domain_label, mark_label
from cm_bot.web.desk import staff_desk
from cm_bot.web.templating import render

router = APIRouter()

REF_AUDITED = 20  # characters of a typed reference kept in the audit log
TEXT_LIMIT = 4000  # characters of a note or a goal


def _visible(uow: SqlUnitOfWork, user: ConsoleUser, ref: str, action: str) -> Case | None:
    """The case if ``user`` may see it; else ``None``, audited as ``access_refused``."""
    case = case_head(uow.session, ref)
    if case is None or not sees_case(user, case.manager_id):
        uow.audit.record(
            user.actor,
            "access_refused",
            None if case is None else case.id,
            via="console",
            page=action,
            **({"ref": ref[:REF_AUDITED]} if case is None else {}),
        )
        return None
    return case


def _not_found() -> HTTPException:
    """The one answer for a reference that is unknown or not the reader's."""
    return HTTPException(status_code=404)


def _back(case: Case | None, form: str, saved: bool, section: str) -> Response:
    """After a form: 404 if the case was not the reader's, else back to its section.

    ``saved=form`` or ``problem=form`` in the query tells the page which message to show.
    """
    if case is None:
        raise _not_found()
    outcome = f"saved={form}" if saved else f"problem={form}"
    return RedirectResponse(f"/cases/{case.ref}?{outcome}#{section}", status_code=303)


def _gettext(request: Request, user: ConsoleUser) -> Gettext:
    """The reader's language, for what a form's desk call words."""
    translator = cm_app(request).translator
    return translator.get(translator.locale_for(user.locale)).gettext


def _sort_link(query: CaseloadQuery, column: str) -> str:
    """The caseload's URL sorted by ``column``: descending if it is already ascending."""
    params: dict[str, str] = {}
    if query.status:
        params["status"] = query.status
    if query.flagged:
        params["flag"] = "1"
    if query.overdue:
        params["overdue"] = "1"
    if query.search:
        params["q"] = query.search
    params["sort"] = column
    params["dir"] = "desc" if query.sort == column and not query.descending else "asc"
    return "/cases?" + urlencode(params)


@router.get("/cases", response_class=HTMLResponse)
def cases(request: Request, user: Staff) -> Response:
    """The caseload: filters (status, open flag, overdue), search by reference, sort."""
    cm = cm_app(request)
    query = CaseloadQuery.parse(request.query_params)
    with cm.store.unit() as uow:
        caseload = load_caseload(uow.session, user, uow.now, query)
        uow.audit.record(
            user.actor,
            "read_caseload",
            None,
            via="console",
            count=len(caseload.rows),
            cases=[row.case_id for row in caseload.rows],
        )
    columns = [*COLUMNS, *(SCORE_COLUMN + key for key, _name in caseload.score_columns)]
    return render(
        request,
        "cases.html",
        {
            "caseload": caseload,
            "query": query,
            "statuses": [s.value for s in CaseStatus],
            "words": WORDS,
            "severity_names": {s.value: name for s, name in SEVERITY_NAMES.items()},
            "band_label": band_label,
            "domain_label": domain_label,
            "sort_links": {column: _sort_link(query, column) for column in columns},
        },
        user=user,
    )


@router.get("/cases/{ref}", response_class=HTMLResponse)
def case_page(request: Request, ref: str, user: Staff) -> Response:
    """One case: its timeline, score charts, the note and goal forms and the exports."""
    cm = cm_app(request)
    with cm.store.unit() as uow:
        case = _visible(uow, user, ref, "read_case")
        if case is not None:
            detail = load_case(uow.session, case, flows=cm.flows, translator=cm.translator)
            referrals = case_referrals(uow.session, case.id) if case.id is not None else []
            rescreens = plan_rows(uow.session, case.id) if case.id is not None else []
            reader = cm.translator.locale_for(user.locale)  # intake against follow-ups
            compared = compare_case(
                uow.session, case, flows=cm.flows, translator=cm.translator, locale=reader
            )
            uow.audit.record(user.actor, "read_case", case.id, via="console")
    if case is None:
        raise _not_found()
    gettext = _gettext(request, user)
    zone = zone_of(user.timezone)
    charts: list[dict[str, Any]] = []
    for index, series in enumerate(detail.series):
        marks = series_marks(series)
        charts.append(
            {
                "series": series,
                "svg": Markup(  # noqa: S704 - built by chart_svg, which escapes every text
                    chart_svg(series, gettext, zone=zone, chart_id=f"chart-{index}")
                ),
                "rows": [
                    {
                        "at": point.at,
                        "value": f"{point.value:g}",
                        "band": band_label(point.band, gettext),
                        "marks": ", ".join(mark_label(m, gettext) for m in ordered(mark)),
                    }
                    for point, mark in zip(series.points, marks, strict=True)
                ],
            }
        )
    return render(
        request,
        "case.html",
        {
            "case": detail,
            "charts": charts,
            "words": WORDS,
            "severity_names": {s.value: name for s, name in SEVERITY_NAMES.items()},
            "band_label": band_label,
            "domain_label": domain_label,
            "cadences": CADENCES,
            "referrals": referrals,
            "rescreens": [{**p, "name": RESCREEN_NAMES[p["instrument"]]} for p in rescreens],
            "compared": compared,
            "compare_columns": followup_columns(compared),
            "referral_statuses": [s.value for s in ReferralStatus],
            "referral_reasons": [r.value for r in ReferralReason],
            **_referral_words(gettext),
            "saved": request.query_params.get("saved"),
            "problem": request.query_params.get("problem"),
        },
        user=user,
    )


def _clean(text: str) -> str:
    return text.strip()[:TEXT_LIMIT]


@router.post("/cases/{ref}/notes")
def add_note(
    request: Request, ref: str, user: Staff, text: Annotated[str, Form()] = ""
) -> Response:
    """Add a case note (the bot's ``/note``); the form carries the CSRF token."""
    cm = cm_app(request)
    note = _clean(text)
    with cm.store.unit() as uow:
        case = _visible(uow, user, ref, "note")
        if case is not None and case.id is not None and note:
            uow.cases.add_note(case.id, user.staff_id, note)
    return _back(case, "note", bool(note), "notes")


@router.post("/cases/{ref}/goals")
def add_goal(
    request: Request,
    ref: str,
    user: Staff,
    text: Annotated[str, Form()] = "",
    cadence: Annotated[str, Form()] = "weekly",
) -> Response:
    """Add a goal (the bot's ``/goal``), its first check-in planned in the same transaction."""
    cm = cm_app(request)
    goal = _clean(text)
    cadence = cadence if cadence in CADENCES else "weekly"
    with cm.store.unit() as uow:
        case = _visible(uow, user, ref, "goal")
        if case is not None and case.id is not None and goal:
            uow.cases.add_goal(case.id, goal, cadence, None, user.staff_id)
    return _back(case, "goal", bool(goal), "goals")


def _referral_words(gettext: Gettext) -> dict[str, Callable[[str], str]]:
    """How the case page words a referral's status, reason, need and who changed it."""

    def word(words: Mapping[str, str]) -> Gettext:
        return lambda value: gettext(words[value]) if value in words else value

    return {
        "referral_status": word(REFERRAL_STATUS_WORDS),
        "referral_reason": word(REFERRAL_REASON_WORDS),
        "need_name": word(DOMAIN_NAMES),
        "actor_name": word({"client": N_("client"), "system": N_("the bot")}),
    }


@router.post("/cases/{ref}/referrals/{referral_id}")
def change_referral(
    request: Request,
    ref: str,
    referral_id: int,
    user: Staff,
    status: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """A referral's new status (the bot's ``/referral``): the same desk, event and audit."""
    cm = cm_app(request)
    statuses = {s.value for s in ReferralStatus}
    reasons = {r.value for r in ReferralReason}
    with cm.store.unit() as uow:
        case = _visible(uow, user, ref, "referral")
        referral = uow.referrals.referral(referral_id) if case is not None else None
        if case is not None and (referral is None or referral.case_id != case.id):
            case = None  # a referral of another case: the same 404 as an unknown one
        changed = (
            case is not None
            and status in statuses
            and (not reason or reason in reasons)
            and staff_desk(request, uow).set_referral_status(
                user.staff_view(), referral_id, status, reason or None, via="console"
            )
            is not None
        )
    return _back(case, "referral", changed, "referrals")


@router.post("/cases/{ref}/rescreen")
def set_rescreen(
    request: Request,
    ref: str,
    user: Staff,
    instrument: Annotated[str, Form()] = "",
    every: Annotated[str, Form()] = "",
) -> Response:
    """Set or stop a re-screen (the bot's ``/rescreen``): the same desk call and audit."""
    cm = cm_app(request)
    instrument, every = instrument.strip().lower(), every.strip().lower()
    days = parse_every(every)
    valid = instrument in RESCREEN_INSTRUMENTS and (days is not None or every == STOP)
    saved = False
    with cm.store.unit() as uow:
        case = _visible(uow, user, ref, "rescreen")
        view = uow.cases.case_by_ref(case.ref) if case is not None else None
        if (
            valid
            and view is not None
            and (days is None or view.status in (CaseStatus.INTAKE, CaseStatus.ACTIVE))
        ):
            desk = staff_desk(request, uow)
            desk.set_rescreen(view, instrument, days, user.actor, _gettext(request, user))
            saved = True
    return _back(case, "rescreen", saved, "rescreens")


@router.post("/cases/{ref}/exit")
def exit_case(
    request: Request, ref: str, user: Staff, day: Annotated[str, Form()] = ""
) -> Response:
    """Exit the case (the bot's ``/exit``): the same desk call, follow-ups and exit conversation."""
    cm = cm_app(request)
    saved, form = False, "exit"
    with cm.store.unit() as uow:
        case = _visible(uow, user, ref, "exit")
        view = uow.cases.case_by_ref(case.ref) if case is not None else None
        try:
            exit_day = date.fromisoformat(day.strip()) if day.strip() else uow.now.date()
        except ValueError:
            exit_day = None
        if (
            view is not None
            and exit_day is not None
            and view.status in (CaseStatus.INTAKE, CaseStatus.ACTIVE)
        ):
            desk = staff_desk(request, uow)
            if desk.exit_day_error(view, exit_day, _gettext(request, user)) is None:
                saved = True
                if not desk.exit_case(view, exit_day, user.actor):
                    form = "exit_unasked"  # not messaged: no consent, a pause, not safe first
    return _back(case, form, saved, "exit")


def _export(request: Request, ref: str, user: ConsoleUser) -> tuple[str, dict[str, Any]]:
    cm = cm_app(request)
    with cm.store.unit() as uow:
        case = _visible(uow, user, ref, "export")
    if case is None:
        raise _not_found()
    data = export_case(
        cm.db,
        case.ref,
        user.actor,
        flows=cm.flows,
        translator=cm.translator,
        now=cm.clock.now(),
    )
    return case.ref, data


@router.get("/cases/{ref}/export.json")
def export_json(request: Request, ref: str, user: Staff) -> Response:
    """The CLI's JSON export of the case (``cm-bot case export``), audited as an export."""
    name, data = _export(request, ref, user)
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return Response(
        text,
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


@router.get("/cases/{ref}/export.csv")
def export_csv(request: Request, ref: str, user: Staff) -> Response:
    """The CLI's CSV export of the case, audited as an export."""
    name, data = _export(request, ref, user)
    return Response(
        to_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


__all__ = ["router"]
