"""/console/audit: a parcel's full history from the store with its hash-chain status
(intact, or the first broken link), for auditors, as `parcelflow verify` and
`GET /v1/parcels/{no}/history` tell it. Personal data masked, as there."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from parcelflow.adapters.credentials import Role
from parcelflow.api.context import context
from parcelflow.api.problems import Problem
from parcelflow.application.audit import history, verify
from parcelflow.application.errors import ParcelNotFound
from parcelflow.web.console.pages import render
from parcelflow.web.console.session import Refused, Staff, signed_in

router = APIRouter(prefix="/console", include_in_schema=False)


def _audit(request: Request, tracking_no: str) -> dict[str, Any]:
    service = context(request).service
    try:
        report = verify(service, tracking_no)
    except ParcelNotFound:
        raise Refused(404, "no events recorded for this tracking number") from None
    broken = report.broken[0][1] if report.broken else None
    try:
        events = [item.to_json() for item in history(service, tracking_no)]
        unreadable = False
    except Exception:  # noqa: BLE001 — a tampered event may not even read: say so, show the chain
        events, unreadable = [], True
    return {"tracking_no": tracking_no, "events_checked": report.events, "broken": broken,
            "events": events, "unreadable": unreadable}


@router.get("/audit")
async def audit_page(request: Request, tracking_no: str | None = None,
                     staff: Staff = Depends(signed_in)) -> Response:
    staff.require(Role.AUDITOR)
    if not tracking_no:
        return render(request, "console/audit.html", staff=staff, result=None)
    try:
        context(request).check_tracking_no(tracking_no.strip(), "tracking_no")
    except Problem:
        raise Refused(422, "tracking_no: not a tracking number in a configured format") from None
    result = await run_in_threadpool(_audit, request, tracking_no.strip())
    return render(request, "console/audit.html", staff=staff, result=result)
