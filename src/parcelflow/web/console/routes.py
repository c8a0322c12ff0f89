"""/console: signing in and out, the exception queue, and an exception's page with its
actions.

The queue is the exception-queue read model, as `GET /v1/exceptions` reads it; an
exception's page reads the parcel from the store (so an action just taken shows at once)
and the tracking view. Each action is the API's own entry in `api.routers.exceptions.ACTIONS`:
the same request model validates the form, the same roles and extra rules decide who may,
and the same workflow service records the event; its refusals are the API's words.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from parcelflow.adapters.credentials import Role
from parcelflow.api.context import context
from parcelflow.api.problems import Problem
from parcelflow.api.routers.exceptions import ACTIONS, READERS, WORKERS, run_write, staff_id
from parcelflow.application.tracking_document import full
from parcelflow.application.audit import history
from parcelflow.application.claims import Claims
from parcelflow.application.complaints import Complaints
from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.domain.errors import NotFound
from parcelflow.domain.vocabulary import STAFF_OUTCOMES, Actor, Channel, ExceptionCode, Outcome
from parcelflow.web.console.clocks import clock_words, parse_time
from parcelflow.web.console.pages import field_errors, render
from parcelflow.web.console.session import (
    CSRF_FIELD,
    Refused,
    Staff,
    check_csrf,
    check_sign_in_csrf,
    sign_in,
    with_sign_in_token,
    sign_out,
    signed_in,
)

router = APIRouter(prefix="/console", include_in_schema=False)

ExceptionId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
ACTION_BY_NAME = {a.name: a for a in ACTIONS}
ACTION_LABELS = {"acknowledge": "Acknowledge", "contact": "Record contact",
                 "hand-over": "Hand over", "escalate": "Escalate", "resolve": "Resolve",
                 "reopen": "Reopen", "await": "Wait for an answer", "resume": "Answer came"}
_TEAM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # api.schemas.TeamName


# ---- signing in and out ------------------------------------------------------------------

@router.get("")
async def home(request: Request) -> Response:
    return RedirectResponse("/console/queue", status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return _sign_in_form(request)


def _sign_in_form(request: Request, *, status: int = 200, error: str | None = None) -> Response:
    return with_sign_in_token(request, lambda token: render(
        request, "console/sign_in.html", status=status, sign_in_csrf=token, error=error))


@router.post("/sign-in")
async def sign_in_submit(request: Request) -> Response:
    form = await request.form()
    check_sign_in_csrf(request, str(form.get(CSRF_FIELD) or ""))
    token = str(form.get("token") or "").strip()
    response = RedirectResponse("/console/queue", status_code=303)
    try:
        await sign_in(request, response, token)
    except Refused as e:
        return _sign_in_form(request, status=e.status, error=e.message)
    return response


@router.post("/sign-out")
async def sign_out_submit(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    check_csrf(request, staff, await request.form())
    response = RedirectResponse("/console/sign-in", status_code=303)
    await sign_out(request, response)
    return response


# ---- the queue ---------------------------------------------------------------------------

def _queue_query(code: str | None, team: str | None, assignee: str | None, breached: bool,
                 escalated: bool, overdue: bool, mine: bool) -> dict[str, Any]:
    """The filters, checked as the API checks its query (a clear refusal naming the
    field, never repeating the value)."""
    if code and code not in {c.value for c in ExceptionCode}:
        raise Refused(422, "code: not one of the exception codes")
    if team and not _TEAM.fullmatch(team):
        raise Refused(422, "team: a team's name (lower-case letters, digits, _ and -)")
    if assignee and len(assignee) > 64:
        raise Refused(422, "assignee: at most 64 characters")
    return {"code": code or None, "team": team or None, "assignee": assignee or None,
            "breached": breached, "escalated": escalated, "overdue": overdue, "mine": mine}


def _rows(request: Request, staff: Staff, query: dict[str, Any]) -> dict[str, Any]:
    ctx = context(request)
    now = ctx.service.clock()
    assignee = staff_id(staff.name) if query["mine"] else (
        staff_id(query["assignee"]) if query["assignee"] else None)
    rows = ctx.exceptions.open(overdue_at=now if query["overdue"] else None, code=query["code"],
                               team=query["team"], assignee=assignee,
                               breached=query["breached"], escalated=query["escalated"],
                               limit=200)
    shown = []
    for row in rows:
        due = parse_time(row["next_due"])
        clock = "first response" if not row["acknowledged_at"] else "resolution"
        shown.append({**row, "clock": clock,
                      "words": clock_words(due, now)})
    by_code = ctx.exceptions.open_by_code()
    return {"rows": shown, "total": sum(by_code.values()), "by_code": sorted(by_code.items()),
            "breached": sum(1 for r in shown if r["words"] and r["words"].state == "breached"),
            "now": now}


async def _queue_args(
    request: Request,
    code: str | None = None, team: str | None = None,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    breached: bool = False, escalated: bool = False, overdue: bool = False, mine: bool = False,
) -> dict[str, Any]:
    return _queue_query(code, team, assignee, breached, escalated, overdue, mine)


@router.get("/queue")
async def queue_page(request: Request, staff: Staff = Depends(signed_in),
                     query: dict[str, Any] = Depends(_queue_args)) -> Response:
    staff.require(*READERS)
    data = await run_in_threadpool(_rows, request, staff, query)
    return render(request, "console/queue.html", staff=staff, query=query,
                  refresh=_refresh_url(query), codes=[c.value for c in ExceptionCode],
                  teams=_teams(request), **data)


@router.get("/queue/rows")
async def queue_rows(request: Request, staff: Staff = Depends(signed_in),
                     query: dict[str, Any] = Depends(_queue_args)) -> Response:
    """The live part of the queue (counts and rows), which the page fetches every few
    seconds (htmx) so new exceptions and moving clocks show without a reload."""
    staff.require(*READERS)
    data = await run_in_threadpool(_rows, request, staff, query)
    return render(request, "console/_queue_live.html", staff=staff, query=query,
                  refresh=_refresh_url(query), **data)


def _teams(request: Request) -> list[str]:
    """The teams to suggest: the rules' own and the policy's escalation team (a hand-over
    may name any other)."""
    policy = context(request).service.policy
    return sorted({a.value for a in Actor} | {policy.escalation_team})


def _refresh_url(query: dict[str, Any]) -> str:
    kept = {k: ("true" if v is True else v) for k, v in query.items() if v}
    return "/console/queue/rows" + (f"?{urlencode(kept)}" if kept else "")


# ---- an exception ------------------------------------------------------------------------

def _exception_page(request: Request, tracking_no: str, exception_id: str) -> dict[str, Any]:
    ctx = context(request)
    service = ctx.service
    try:
        exc = ExceptionWorkflow(service).show(tracking_no, exception_id)
    except (ParcelNotFound, NotFound):
        raise Refused(404, "no such exception on this parcel") from None
    now = service.clock()
    due = exc["first_response_due"] if exc["status"] == "open" else exc["resolution_due"]
    exc["words"] = None if exc["status"] == "resolved" else clock_words(parse_time(due), now)
    events = [item.to_json() for item in history(service, tracking_no)]
    own = [_step(e) for e in events if e["details"].get("exception_id") == exc["exception_id"]]
    row = ctx.tracking.get(tracking_no)
    complaints = [Complaints(service).show(tracking_no, c) for c in exc["complaints"]]
    claims = [Claims(service).show(tracking_no, c) for c in exc["claims"]]
    return {"exc": exc, "history": own, "tracking": full(row) if row else None,
            "complaints": complaints, "claims": claims}


def _step(event: dict[str, Any]) -> dict[str, Any]:
    """One line of an exception's history: when, what, who, and the step's particulars
    (channel, clock, team, outcome; never the sealed free text)."""
    details = event["details"]
    particulars = [str(details[k]).replace("_", " ") for k in
                   ("channel", "clock", "to", "to_team", "to_agent", "outcome", "code")
                   if details.get(k)]
    return {"at": event["recorded_at"], "what": event["type"].replace("_", " "),
            "by": event["operator_id"], "particulars": ", ".join(particulars)}


def _exception_values(staff: Staff) -> dict[str, Any]:
    return {"labels": ACTION_LABELS, "channels": [c.value for c in Channel],
            "outcomes": [o.value for o in Outcome if o in STAFF_OUTCOMES],
            "teams": [a.value for a in Actor], "may_work": staff.may(*WORKERS),
            "may_compensate": staff.may(Role.SUPERVISOR)}


@router.get("/exceptions/{tracking_no}/{exception_id}")
async def exception_page(request: Request, tracking_no: str, exception_id: ExceptionId,
                         done: str | None = None, staff: Staff = Depends(signed_in)) -> Response:
    staff.require(*READERS)
    _check_tracking_no(request, tracking_no)
    data = await run_in_threadpool(_exception_page, request, tracking_no, exception_id)
    return render(request, "console/exception.html", staff=staff,
                  done=ACTION_LABELS.get(done or ""), **_exception_values(staff), **data)


def _check_tracking_no(request: Request, tracking_no: str) -> None:
    try:
        context(request).check_tracking_no(tracking_no, "tracking_no")
    except Problem:
        raise Refused(404, "no such exception on this parcel") from None


@router.post("/exceptions/{tracking_no}/{exception_id}/{action}")
async def exception_action(request: Request, tracking_no: str, exception_id: ExceptionId,
                           action: str, staff: Staff = Depends(signed_in)) -> Response:
    form = await request.form()
    check_csrf(request, staff, form)
    _check_tracking_no(request, tracking_no)
    take = ACTION_BY_NAME.get(action)
    if take is None:
        raise Refused(404, "no such action")
    fields = {k: v for k, v in form.items() if k != CSRF_FIELD and isinstance(v, str) and v.strip()}
    ctx = context(request)
    try:
        staff.require(*take.roles)
        body = take.body.model_validate({**fields, "tracking_no": tracking_no})
        take.check(body, staff.credential)
        await run_in_threadpool(run_write, ctx, lambda: take.run(
            ExceptionWorkflow(ctx.service), exception_id, body, staff.credential))
    except ValidationError as e:
        return await _refused_on_page(request, staff, tracking_no, exception_id, 422,
                                      field_errors(e))
    except (Problem, Refused) as e:
        status = e.status
        message = (e.detail or e.title) if isinstance(e, Problem) else e.message
        return await _refused_on_page(request, staff, tracking_no, exception_id, status,
                                      [message])
    return RedirectResponse(f"/console/exceptions/{tracking_no}/{exception_id}?done={action}",
                            status_code=303)


async def _refused_on_page(request: Request, staff: Staff, tracking_no: str, exception_id: str,
                           status: int, errors: list[str]) -> Response:
    data = await run_in_threadpool(_exception_page, request, tracking_no, exception_id)
    return render(request, "console/exception.html", staff=staff, status=status,
                  errors=errors, done=None, **_exception_values(staff), **data)
