"""The customer tracking page: `/track` (the search form) and `/track/{tracking_no}`."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from parcelflow.web.base import render

router = APIRouter(include_in_schema=False)


@router.get("/track")
def track_form(request: Request) -> HTMLResponse:
    return render(request, "track/form.html", tracking_no=None)


@router.get("/track/find")
def find(tracking_no: str = Query("", max_length=64)) -> RedirectResponse:
    """The form's answer (a GET, so it works without JavaScript): the parcel's page."""
    number = "".join(tracking_no.split()).upper()
    return RedirectResponse(f"/track/{number}" if number else "/track", status_code=303)
