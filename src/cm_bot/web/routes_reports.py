"""``/reports`` and its CSV download: counts over the caseload the reader may see.

Case managers see their caseload's numbers, supervisors and admins everyone's; the page
says which. Reading a report is audited (``read_report``, ``via="console"``); it shows
counts only, no client data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cm_bot.engine.notices import SEVERITY_NAMES
from cm_bot.storage.reads.reports import AGE_BUCKETS, FOLLOWUP_DAYS, build_report, report_csv
from cm_bot.web.auth import Staff, cm_app
from cm_bot.web.chart import domain_label
from cm_bot.web.templating import render

router = APIRouter()


@router.get("/reports", response_class=HTMLResponse)
def reports(request: Request, user: Staff) -> Response:
    """The report page."""
    cm = cm_app(request)
    with cm.store.unit() as uow:
        report = build_report(uow.session, user, uow.now)
        uow.audit.record(user.actor, "read_report", None, via="console", everyone=report.everyone)
    minutes = None if report.median_ack is None else report.median_ack.total_seconds() / 60
    return render(
        request,
        "reports.html",
        {
            "report": report,
            "buckets": [code for code, _upper in AGE_BUCKETS],
            "followup_days": FOLLOWUP_DAYS,
            "severity_names": {s.value: name for s, name in SEVERITY_NAMES.items()},
            "median_minutes": minutes,
            "domain_label": domain_label,
        },
        user=user,
    )


@router.get("/reports.csv")
def reports_csv(request: Request, user: Staff) -> Response:
    """The same numbers as CSV: section, item, measure, value."""
    cm = cm_app(request)
    with cm.store.unit() as uow:
        report = build_report(uow.session, user, uow.now)
        uow.audit.record(
            user.actor, "read_report", None, via="console", everyone=report.everyone, csv=True
        )
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cm-bot-report.csv"'},
    )


__all__ = ["router"]
