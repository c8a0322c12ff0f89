"""/console/complaints and /console/claims: the lists with their clocks and states (the
cases read model, as `parcelflow complaints` and `claims` read it) and their actions
(file, close; assess, approve, reject, pay) through the same services as the CLI
(`application/complaints.py`, `application/claims.py`).

Who may: cs_agents and supervisors file and close complaints, file and assess claims;
deciding a claim — approve, reject, pay — is compensation, a supervisor's (admin may do
anything, as in the API).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from parcelflow.adapters.credentials import Role
from parcelflow.api.context import context
from parcelflow.api.problems import Problem
from parcelflow.api.routers.exceptions import READERS, WORKERS, by, run_write
from parcelflow.api.schemas import Closed, TrackingNoField
from parcelflow.application.claims import Claims
from parcelflow.application.complaints import Complaints
from parcelflow.domain.vocabulary import (
    STAFF_OUTCOMES,
    Channel,
    ClaimCause,
    ClaimStatus,
    ComplaintCategory,
    Outcome,
)
from parcelflow.web.console.clocks import clock_words, parse_time
from parcelflow.web.console.pages import field_errors, render
from parcelflow.web.console.reads import read_model
from parcelflow.web.console.session import CSRF_FIELD, Refused, Staff, check_csrf, signed_in
from parcelflow.wire.common import Money, PlainText

router = APIRouter(prefix="/console", include_in_schema=False)

CaseId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
Outcomes = Literal[tuple(sorted(o.value for o in STAFF_OUTCOMES))]  # type: ignore[valid-type]


# ---- the forms, checked like the API's bodies --------------------------------------------

class FileComplaint(Closed):
    tracking_no: TrackingNoField
    category: ComplaintCategory
    channel: Channel
    words: PlainText | None = Field(None, max_length=2000)


class CloseComplaint(Closed):
    outcome: Outcomes
    customer_confirmed: bool = False
    reason: PlainText | None = Field(None, max_length=500)


class FileClaim(Closed):
    tracking_no: TrackingNoField
    cause: ClaimCause
    claimed: Money
    evidence: PlainText = Field(min_length=1, max_length=500)


class Approve(Closed):
    amount: Money | None = None
    note: PlainText | None = Field(None, max_length=500)


class Reject(Closed):
    reason: PlainText = Field(min_length=1, max_length=500)


class Pay(Closed):
    payment_ref: PlainText = Field(min_length=1, max_length=100)


class Nothing(Closed):
    pass


@dataclass(frozen=True)
class Refusal:
    status: int
    errors: list[str]


@dataclass(frozen=True)
class CaseAction:
    form: type[Closed]
    roles: tuple[Role, ...]
    run: Callable[[Any, str, str, Any, str], Any]  # (service, tracking_no, case id, form, by)


COMPLAINT_ACTIONS = {
    "close": CaseAction(CloseComplaint, WORKERS, lambda svc, no, ref, f, who: Complaints(
        svc).close(no, ref, Outcome(f.outcome), by=who, customer_confirmed=f.customer_confirmed,
                   reason=f.reason)),
}
CLAIM_ACTIONS = {
    "assess": CaseAction(Nothing, WORKERS, lambda svc, no, ref, f, who: Claims(svc).assess(
        no, ref, by=who)),
    "approve": CaseAction(Approve, (Role.SUPERVISOR,), lambda svc, no, ref, f, who: Claims(
        svc).approve(no, ref, by=who, amount=f.amount, note=f.note)),
    "reject": CaseAction(Reject, (Role.SUPERVISOR,), lambda svc, no, ref, f, who: Claims(
        svc).reject(no, ref, by=who, reason=f.reason)),
    "pay": CaseAction(Pay, (Role.SUPERVISOR,), lambda svc, no, ref, f, who: Claims(svc).pay(
        no, ref, by=who, payment_ref=f.payment_ref)),
}


def _fields(form: Any) -> dict[str, Any]:
    return {k: v for k, v in form.items()
            if k != CSRF_FIELD and isinstance(v, str) and v.strip()}


async def _act(request: Request, staff: Staff, roles: tuple[Role, ...], form_type: type[Closed],
               fields: dict[str, Any], run: Callable[[Any], Any]) -> Refusal | None:
    """Validate, check the role, run the change; the refusal, if any."""
    ctx = context(request)
    try:
        staff.require(*roles)
        form = form_type.model_validate(fields)
        await run_in_threadpool(run_write, ctx, lambda: run(form))
    except ValidationError as e:
        return Refusal(422, field_errors(e))
    except Refused as e:
        return Refusal(e.status, [e.message])
    except Problem as e:
        return Refusal(e.status, [e.detail or e.title])
    return None


# ---- complaints --------------------------------------------------------------------------

def _complaint_rows(request: Request, status: str | None) -> list[dict[str, Any]]:
    now = context(request).service.clock()
    rows = read_model(request, "cases").complaints(status=status, limit=500)
    # The due time is the complaint's exception's clock (business time where policy
    # says): none while it waits on the customer, whose clock stands still.
    return [{**r, "words_due": clock_words(parse_time(r["due"]), now)
             if r["status"] == "open" else None,
             "paused": r["status"] == "open" and r["due"] is None} for r in rows]


async def _complaints_page(request: Request, staff: Staff, *, status: str | None = "open",
                           code: int = 200, errors: list[str] | None = None,
                           done: str | None = None) -> Response:
    rows = await run_in_threadpool(_complaint_rows, request, status)
    return render(request, "console/complaints.html", staff=staff, status=code, rows=rows,
                  errors=errors, done=done, filter=status or "all",
                  categories=[c.value for c in ComplaintCategory],
                  channels=[c.value for c in Channel],
                  outcomes=sorted(o.value for o in STAFF_OUTCOMES),
                  may_work=staff.may(*WORKERS))


@router.get("/complaints")
async def complaints_page(request: Request, status: Literal["open", "closed", "all"] = "open",
                          done: str | None = None, staff: Staff = Depends(signed_in)) -> Response:
    staff.require(*READERS)
    return await _complaints_page(request, staff, status=None if status == "all" else status,
                                  done=done)


@router.post("/complaints")
async def file_complaint(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    form = await request.form()
    check_csrf(request, staff, form)
    who = by(staff.credential)
    refused = await _act(request, staff, WORKERS, FileComplaint, _fields(form),
                        lambda f: Complaints(context(request).service).file(
                            f.tracking_no, f.category, f.channel, words=f.words, by=who))
    if refused:
        return await _complaints_page(request, staff, code=refused.status, errors=refused.errors)
    return RedirectResponse("/console/complaints?done=filed", status_code=303)


@router.post("/complaints/{tracking_no}/{complaint_id}/{action}")
async def complaint_action(request: Request, tracking_no: str, complaint_id: CaseId,
                           action: str, staff: Staff = Depends(signed_in)) -> Response:
    refused = await _case_action(request, staff, COMPLAINT_ACTIONS, action, tracking_no,
                                 complaint_id)
    if refused:
        return await _complaints_page(request, staff, code=refused.status, errors=refused.errors)
    return RedirectResponse(f"/console/complaints?done={action}", status_code=303)


# ---- claims ------------------------------------------------------------------------------

async def _claims_page(request: Request, staff: Staff, *, status: str | None = None,
                       code: int = 200, errors: list[str] | None = None,
                       done: str | None = None) -> Response:
    cases = read_model(request, "cases")
    rows = await run_in_threadpool(lambda: cases.claims(status=status, limit=500))
    return render(request, "console/claims.html", staff=staff, status=code, rows=rows,
                  errors=errors, done=done, filter=status or "all",
                  statuses=[s.value for s in ClaimStatus], causes=[c.value for c in ClaimCause],
                  may_work=staff.may(*WORKERS), may_decide=staff.may(Role.SUPERVISOR))


@router.get("/claims")
async def claims_page(request: Request, status: ClaimStatus | None = None,
                      done: str | None = None, staff: Staff = Depends(signed_in)) -> Response:
    staff.require(*READERS)
    return await _claims_page(request, staff, status=str(status) if status else None, done=done)


@router.post("/claims")
async def file_claim(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    form = await request.form()
    check_csrf(request, staff, form)
    who = by(staff.credential)
    refused = await _act(request, staff, WORKERS, FileClaim, _fields(form),
                        lambda f: Claims(context(request).service).file(
                            f.tracking_no, f.cause, f.claimed, evidence=[f.evidence], by=who))
    if refused:
        return await _claims_page(request, staff, code=refused.status, errors=refused.errors)
    return RedirectResponse("/console/claims?done=filed", status_code=303)


@router.post("/claims/{tracking_no}/{claim_id}/{action}")
async def claim_action(request: Request, tracking_no: str, claim_id: CaseId, action: str,
                       staff: Staff = Depends(signed_in)) -> Response:
    refused = await _case_action(request, staff, CLAIM_ACTIONS, action, tracking_no, claim_id)
    if refused:
        return await _claims_page(request, staff, code=refused.status, errors=refused.errors)
    return RedirectResponse(f"/console/claims?done={action}", status_code=303)


async def _case_action(request: Request, staff: Staff, actions: dict[str, CaseAction],
                       action: str, tracking_no: str, case_id: str) -> Refusal | None:
    """A complaint's or a claim's action from its form: the CSRF check, the action by
    name, then its use case under its roles (a refusal to show on the list page)."""
    form = await request.form()
    check_csrf(request, staff, form)
    take = actions.get(action)
    if take is None:
        raise Refused(404, "no such action")
    try:
        context(request).check_tracking_no(tracking_no, "tracking_no")
    except Problem:
        return Refusal(404, ["no such case on this parcel"])
    service, who = context(request).service, by(staff.credential)
    return await _act(request, staff, take.roles, take.form, _fields(form),
                      lambda f: take.run(service, tracking_no, case_id, f, who))

