"""/v1/surveys: satisfaction surveys. The customer answers through the signed link they
were sent (the token is their only credential: no account, no staff token); staff make a
link to send after a resolution.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from parcelflow.adapters.credentials import Credential
from parcelflow.api.auth import staff
from parcelflow.api.context import ApiContext, context
from parcelflow.api.http import POSITION_HEADER, json_response
from parcelflow.api.problems import Problem, problem_responses
from parcelflow.api.routers.exceptions import WORKERS, run_write
from parcelflow.api.schemas import (
    SurveyAnswer,
    SurveyAnswered,
    SurveyLink,
    SurveyLinkRequest,
    SurveyQuestion,
)
from parcelflow.application.surveys import SurveyLinkRefused, Surveys
from parcelflow.domain.satisfaction import DELIVERY, resolution

router = APIRouter(tags=["surveys"])

Token = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{16,600}$",
                            description="the signed token of the survey link")]


def _surveys(ctx: ApiContext) -> Surveys:
    if ctx.surveys is None:  # no link can have been made here: none is found
        raise Problem(404, "not-found", "surveys are not configured")
    return ctx.surveys  # type: ignore[no-any-return]


def _refused(e: SurveyLinkRefused) -> Problem:
    expired = "expired" in str(e)
    return Problem(410 if expired else 404, "gone" if expired else "not-found", str(e))


@router.get("/v1/surveys/{token}", summary="What a survey link asks", response_model=SurveyQuestion,
            responses=problem_responses(404, 410, 422))
def question(request: Request, token: Token) -> dict[str, Any]:
    ctx = context(request)
    try:
        return run_write(ctx, lambda: _surveys(ctx).question(token))
    except SurveyLinkRefused as e:
        raise _refused(e) from None


@router.post("/v1/surveys/{token}", summary="Answer a survey (once per parcel and occasion)",
             response_model=SurveyAnswered,
             responses=problem_responses(400, 404, 409, 410, 422))
def answer(request: Request, token: Token, body: SurveyAnswer) -> Response:
    """A rating of 1-2 makes a complaint-level follow-up due."""
    ctx = context(request)
    try:
        step = run_write(ctx, lambda: _surveys(ctx).answer(token, body.rating, body.comment))
    except SurveyLinkRefused as e:
        raise _refused(e) from None
    return json_response({"tracking_no": step.tracking_no, "position": step.position,
                          "follow_up_id": step.case_id or None},
                         headers={POSITION_HEADER: str(step.position)})


@router.post("/v1/surveys", summary="A survey link to send the receiver", status_code=201,
             response_model=SurveyLink,
             responses=problem_responses(400, 401, 403, 404, 409, 422))
def make_link(request: Request, body: SurveyLinkRequest,
              _: Credential = Depends(staff(*WORKERS))) -> dict[str, Any]:
    ctx = context(request)
    ctx.check_tracking_no(body.tracking_no, "body.tracking_no")
    occasion = resolution(body.exception_id) if body.exception_id else DELIVERY
    return {"url": run_write(ctx, lambda: _surveys(ctx).link(body.tracking_no, occasion))}
