"""Rendering the console's pages: the templates, the values every page needs, and how
a refusal or a missing session is shown."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from parcelflow.web.base import render as base_render
from parcelflow.web.base import web
from parcelflow.web.console.session import CSRF_FIELD, Refused, SignInNeeded, Staff

# The console is in English (staff tooling; the customer pages are bilingual): the base
# template's own words are taken in English too, and it offers no language switch.
LANG = "en"


def _local(value: str | datetime | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(zone).strftime(fmt)


def field_errors(error: ValidationError) -> list[str]:
    """Per field of a form, what is wrong (never the value that was sent)."""
    return [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in error.errors()]


def render(request: Request, template: str, *, staff: Staff | None = None, status: int = 200,
           **values: Any) -> HTMLResponse:
    """A console page through the web base's renderer (its templates, static paths and
    security headers), with who is signed in, the CSRF field and `local(time)`."""
    zone = request.app.state.ctx.service.network.zone
    catalogue = web(request).catalogue
    values = {"errors": None, "done": None, "nav": None, **values}
    response = base_render(
        request, template, status=status, staff=staff, csrf_field=CSRF_FIELD,
        csrf_token=staff.session.csrf_token if staff else None,
        local=lambda v, fmt="%Y-%m-%d %H:%M": _local(v, zone, fmt),
        lang=LANG, switch=[], t=lambda key, **v: catalogue.text(LANG, key, **v), **values)
    response.headers["Content-Language"] = LANG
    return response


def install(app: FastAPI) -> None:
    """The console's answers to a missing session and to a refusal, as pages."""

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        if request.headers.get("HX-Request"):
            # htmx would swap the sign-in page into the queue: send the browser there.
            return Response(status_code=401, headers={"HX-Redirect": "/console/sign-in"})
        return RedirectResponse("/console/sign-in", status_code=303)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        return render(request, "console/refused.html", status=exc.status, message=exc.message)
