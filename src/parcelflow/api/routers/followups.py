"""/v1/followups: the follow-up calls (回访) a resolution makes due, and their outcomes;
/v1/reports: the service KPIs the follow-ups, ratings and the queue add up to.

The same service as the CLI's (`application/followups.py`); the list is read from the
cases read model, as the exception queue is from its own.
"""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from parcelflow.adapters.credentials import Credential
from parcelflow.api.auth import staff
from parcelflow.api.context import context
from parcelflow.api.http import POSITION_HEADER, json_response
from parcelflow.api.problems import problem_responses
from parcelflow.api.routers.exceptions import READERS, WORKERS, by, run_write
from parcelflow.api.schemas import FollowUpDone, FollowUpList, RecordFollowUp
from parcelflow.application.followups import FollowUps
from parcelflow.application.reports import Period, Reports
from parcelflow.domain.followups import FollowUpOutcome

router = APIRouter(tags=["follow-ups"])


@router.get("/v1/followups", summary="Follow-up calls still to make, the first due first",
            response_model=FollowUpList, responses=problem_responses(401, 403, 422))
def follow_ups(
    request: Request,
    due: Annotated[bool, Query(description="only those whose due time has come")] = False,
    every: Annotated[bool, Query(alias="all", description="done ones too")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    _: Credential = Depends(staff(*READERS)),
) -> dict[str, Any]:
    ctx = context(request)
    rows = ctx.cases.follow_ups(due_at=ctx.service.clock() if due else None, every=every,
                                limit=limit)
    position = ctx.cases.max_tracking_id(ctx.service.name) or 0
    return {"count": len(rows), "position": position, "follow_ups": rows}


@router.post("/v1/followups/{follow_up_id}/record", summary="Record a follow-up call",
             response_model=FollowUpDone,
             responses=problem_responses(400, 401, 403, 404, 409, 422))
def record(
    request: Request,
    follow_up_id: Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")],
    body: RecordFollowUp,
    credential: Credential = Depends(staff(*WORKERS)),
) -> Response:
    """`not_satisfied` reopens the exception (and its complaint) to its assignee."""
    ctx = context(request)
    ctx.check_tracking_no(body.tracking_no, "body.tracking_no")
    step = run_write(ctx, lambda: FollowUps(ctx.service).record(
        body.tracking_no, follow_up_id, FollowUpOutcome(body.outcome), by=by(credential),
        note=body.note))
    return json_response({"follow_up_id": step.case_id, "tracking_no": step.tracking_no,
                          "outcome": body.outcome, "position": step.position},
                         headers={POSITION_HEADER: str(step.position)})


@router.get("/v1/reports", summary="Service KPIs for a day, a week or a month",
            tags=["reports"], responses=problem_responses(401, 403, 422))
def reports(
    request: Request,
    period: Period = Period.DAY,
    day: Annotated[date | None, Query(description="a date in the period (default: today)")]
    = None,
    _: Credential = Depends(staff(*READERS)),
) -> dict[str, Any]:
    """The centre, each team and each agent: first-contact resolution, follow-up
    completion, CSAT, complaints per 10,000 parcels delivered, repeat complaints, average
    handling time, SLA hit rate (read from the read models, as they stand)."""
    ctx = context(request)
    wanted = day or ctx.service.clock().astimezone(ctx.service.network.zone).date()
    return Reports(ctx.service, ctx.exceptions, ctx.cases, ctx.tracking.view).report(
        period, wanted)
