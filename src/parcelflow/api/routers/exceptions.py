"""/v1/exceptions: the queue customer-service staff work, and the workflow actions on it.

Each action is one entry in ACTIONS: its name, who may take it, its request body, and
the exception workflow's step it takes (`application/exceptions.py`, the same service
the CLI and the staff pages use). Adding an action is one model and one entry; the route
and its OpenAPI entry follow. The parcel enforces the workflow's rules (the first to
take an exception is its assignee until it is handed over or escalated); the API adds
who may ask. Each answers with the log position its step reached.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from starlette.responses import Response

from parcelflow.adapters.credentials import Credential, Role
from parcelflow.api.auth import staff
from parcelflow.api.context import ApiContext, context
from parcelflow.api.http import POSITION_HEADER, json_response
from parcelflow.api.problems import Problem, problem_responses
from parcelflow.api.schemas import (
    ActionDone,
    AwaitAnswer,
    Contact,
    Escalate,
    HandOver,
    OnParcel,
    Queue,
    RaiseException,
    Reopen,
    ResolveException,
    Resume,
    TeamName,
)
from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.exceptions import ExceptionWorkflow
from parcelflow.application.results import Step
from parcelflow.domain.errors import DomainError, NotFound, NotPermitted
from parcelflow.domain.vocabulary import ExceptionCode, ExceptionStatus, Outcome
from parcelflow.wire.common import Timestamp

T = TypeVar("T")
router = APIRouter(tags=["exceptions"])

WORKERS = (Role.CS_AGENT, Role.SUPERVISOR)  # (admin may do anything)
READERS = (*WORKERS, Role.AUDITOR)


def by(credential: Credential) -> str:
    """Who, as the events record it."""
    return staff_id(credential.name)


def staff_id(name: str) -> str:
    return f"staff:{name}"


def _or_none(name: str | None) -> str | None:
    return staff_id(name) if name else None


@dataclass(frozen=True)
class Action:
    name: str
    summary: str
    body: type[OnParcel]
    roles: tuple[Role, ...]
    # (workflow, exception id, body, the caller's credential)
    run: Callable[[ExceptionWorkflow, str, Any, Credential], Step]
    check: Callable[[Any, Credential], None] = lambda body, who: None  # extra rules


def is_supervisor(who: Credential) -> bool:
    return who.role in (Role.SUPERVISOR, Role.ADMIN)


def _resolve_rules(body: ResolveException, who: Credential) -> None:
    # Paying compensation is a supervisor's decision.
    if body.outcome == Outcome.COMPENSATED and not is_supervisor(who):
        raise Problem(403, "forbidden", "resolving with compensation needs a supervisor")


ACTIONS: list[Action] = [
    Action("acknowledge", "First response: the acknowledger becomes the assignee", OnParcel,
           WORKERS, lambda flow, exc, body, c: flow.acknowledge(
               body.tracking_no, exc, by=by(c))),
    Action("hand-over", "Give the exception to another agent or team (the assignee only)",
           HandOver, WORKERS, lambda flow, exc, body, c: flow.hand_over(
               body.tracking_no, exc, by=by(c), to_agent=_or_none(body.to_agent),
               to_team=body.to_team, note=body.note)),
    Action("contact", "Record a conversation with the customer (summary sealed)", Contact,
           WORKERS, lambda flow, exc, body, c: flow.contact(
               body.tracking_no, exc, body.channel, by=by(c), summary=body.summary)),
    Action("escalate", "Raise the exception to another team, optionally a new assignee",
           Escalate, WORKERS, lambda flow, exc, body, c: flow.escalate(
               body.tracking_no, exc, by=by(c), reason=body.reason, to=body.to,
               assignee=_or_none(body.assignee), by_supervisor=is_supervisor(c))),
    Action("resolve", "Close the exception with an outcome (the assignee only)", ResolveException,
           WORKERS, lambda flow, exc, body, c: flow.resolve(
               body.tracking_no, exc, Outcome(body.outcome), by=by(c), note=body.note),
           _resolve_rules),
    Action("await", "Wait for the customer's or a third party's answer (clocks stand still)",
           AwaitAnswer, WORKERS, lambda flow, exc, body, c: flow.await_answer(
               body.tracking_no, exc, ExceptionStatus(f"awaiting_{body.on}"), by=by(c),
               reason=body.reason)),
    Action("resume", "The answer came: the clocks run on", Resume, WORKERS,
           lambda flow, exc, body, c: flow.resume(
               body.tracking_no, exc, by=by(c), note=body.note)),
    Action("reopen", "Open a resolved exception again, for its assignee", Reopen, WORKERS,
           lambda flow, exc, body, c: flow.reopen(
               body.tracking_no, exc, by=by(c), reason=body.reason)),
]


def _done(step: Step, action: str, status: int = 200) -> Response:
    return json_response({"exception_id": step.case_id, "tracking_no": step.tracking_no,
                          "action": action, "position": step.position},
                         status=status, headers={POSITION_HEADER: str(step.position)})


def run_write(ctx: ApiContext, call: Callable[[], T]) -> T:
    """A write through a use-case service, its refusals as problem answers (the parcel,
    or its case, not found: 404; a step the caller may not take: 403; refused by the
    parcel's rules: 409)."""
    try:
        return ctx.write(call)
    except ParcelNotFound:
        raise Problem(404, "not-found", "no parcel with this tracking number") from None
    except NotFound as e:
        raise Problem(404, "not-found", str(e)) from None
    except NotPermitted as e:
        raise Problem(403, "forbidden", str(e)) from None
    except DomainError as e:  # the parcel's rules refused it (its message names no person)
        raise Problem(409, "conflict", str(e)) from None


@router.get("/v1/exceptions", summary="The open exception queue, in working order",
            response_model=Queue, responses=problem_responses(401, 403, 422))
def queue(
    request: Request,
    overdue_at: Annotated[Timestamp | None, Query(
        description="only those whose next due time is before this")] = None,
    overdue: Annotated[bool, Query(description="only those past their due time now")] = False,
    code: ExceptionCode | None = None,
    team: Annotated[TeamName | None, Query(
        description="only those this team must act on (the rule's team, or the team it "
                    "was handed to)")] = None,
    assignee: Annotated[str | None, Query(
        max_length=70, description="only those this person has (staff:NAME)")] = None,
    # Renamed (issue 16): no longer part of the contract, but refused rather than ignored.
    owner: Annotated[str | None, Query(include_in_schema=False)] = None,
    breached: Annotated[bool, Query(description="only those with a missed SLA clock")] = False,
    escalated: Annotated[bool, Query(description="only escalated ones")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    _: Credential = Depends(staff(*READERS)),
) -> dict[str, Any]:
    """Priority first (severity; a large account ahead at equal severity), then due time.
    Read from the exception-queue view: a change shows once the queue's `position`
    reaches the position its action answered with."""
    if owner is not None:
        # "owner" meant both the team and the person: a client still sending it must
        # not get the whole queue back as if it had been filtered.
        raise Problem(422, "validation", "the request does not match the API's schema",
                      errors=[{"field": "query.owner", "reason": "renamed: use team (the "
                               "team that must act) or assignee (the person who has it)"}])
    ctx = context(request)
    moment = overdue_at or (ctx.service.clock() if overdue else None)
    rows = ctx.exceptions.open(overdue_at=moment, code=str(code) if code else None,
                               team=team, assignee=assignee,
                               breached=breached, escalated=escalated, limit=limit)
    position = ctx.exceptions.max_tracking_id(ctx.service.name) or 0
    return {"count": len(rows), "position": position, "exceptions": rows}


@router.post("/v1/exceptions", summary="Raise an exception on a parcel", status_code=201,
             response_model=ActionDone, responses=problem_responses(400, 401, 403, 404, 409, 422))
def raise_exception(
    request: Request, body: RaiseException,
    credential: Credential = Depends(staff(*WORKERS)),
) -> Response:
    """Raising a code that is already open on the parcel returns the open one."""
    ctx = context(request)
    ctx.check_tracking_no(body.tracking_no, "body.tracking_no")
    step = run_write(ctx, lambda: ExceptionWorkflow(ctx.service).raise_exception(
        body.tracking_no, ExceptionCode(body.code), by=by(credential), detail=body.detail))
    return _done(step, "raise", status=201)


def _route(action: Action) -> None:
    def take(
        request: Request,
        exception_id: Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")],
        body: Annotated[action.body, Body()],  # type: ignore[name-defined]
        credential: Credential = Depends(staff(*action.roles)),
    ) -> Response:
        ctx = context(request)
        ctx.check_tracking_no(body.tracking_no, "body.tracking_no")
        action.check(body, credential)
        step = run_write(ctx, lambda: action.run(ExceptionWorkflow(ctx.service), exception_id,
                                                 body, credential))
        return _done(step, action.name)

    router.add_api_route(
        f"/v1/exceptions/{{exception_id}}/{action.name}", take, methods=["POST"],
        summary=action.summary, response_model=ActionDone, name=f"exception_{action.name}",
        responses=problem_responses(400, 401, 403, 404, 409, 422))


for _action in ACTIONS:
    _route(_action)


