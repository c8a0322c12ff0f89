"""The satisfaction survey page: where the link in the delivered email (or one staff
made after a resolution) takes the customer.

- `GET /survey/{token}`: the question (a rating of 1 to 5 and an optional comment), or
  that it was already answered; a link not signed here: the not-found page (404); an
  expired one: a page that says so (410).
- `POST /survey/{token}`: the answer, through the same service as `POST
  /v1/surveys/{token}` (`application/surveys.py`), then 303 to the thank-you page, so a
  reload never answers twice; the parcel refuses a second answer anyway (409, "already
  answered").

The link is the customer's only credential (no account, no cookie), so cross-site
request forgery is met where a forged request would come from: the form carries a token
signed for this purpose and bound to this link, valid for a day, which another site
cannot read; and a POST the browser marks as coming from another site (`Sec-Fetch-Site`,
`Origin`) is refused. Anyone holding the
link can answer, as the link means.

The page shows what the link names (the tracking number and the occasion) and nothing
of the receiver; the comment is sealed by the service and never logged.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from parcelflow.api.context import context
from parcelflow.api.problems import Problem
from parcelflow.api.routers.exceptions import run_write
from parcelflow.api.schemas import SurveyAnswer
from parcelflow.application.surveys import SurveyLinkRefused, Surveys
from parcelflow.web.base import render, web
from parcelflow.web.track import _form

router = APIRouter(include_in_schema=False)

FORM_LIFETIME = 86_400.0  # seconds a rendered form may be sent back
RATINGS = (5, 4, 3, 2, 1)  # in the page's order: the best first
# The comment's limit, as the API's body states it.
COMMENT_MAX = next(m.max_length for m in SurveyAnswer.model_fields["comment"].metadata
                   if hasattr(m, "max_length"))
# What a token can look like (the API's path pattern): anything else is no link of ours,
# answered with the not-found page rather than a validation error.
TOKEN = re.compile(r"[A-Za-z0-9_.-]{16,600}")


def _bound(token: str) -> str:
    """What the form token is bound to: a digest of the link's token (short, and the
    link itself is not copied into the form)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _surveys(request: Request) -> Surveys | None:
    return context(request).surveys  # type: ignore[no-any-return]


def _page(request: Request, token: str, template: str, *, status: int = 200,
          **values: Any) -> HTMLResponse:
    return render(request, template, status=status, here=f"/survey/{token}", token=token,
                  **values)


def _refused(request: Request, token: str, refused: SurveyLinkRefused | None) -> HTMLResponse:
    if refused is not None and "expired" in str(refused):
        return _page(request, token, "survey/expired.html", status=410)
    return render(request, "not_found.html", status=404)


def _question(request: Request, token: str) -> dict[str, Any] | HTMLResponse:
    surveys = _surveys(request)
    if surveys is None or not TOKEN.fullmatch(token):  # no link signed here
        return _refused(request, token, None)
    try:
        return run_write(context(request), lambda: surveys.question(token))
    except SurveyLinkRefused as e:
        return _refused(request, token, e)
    except Problem as e:  # the parcel is gone (erased): as a link to nothing
        if e.status == 404:
            return _refused(request, token, None)
        raise


def _form_page(request: Request, token: str, question: dict[str, Any], *, status: int = 200,
               errors: dict[str, bool] | None = None, rating: str = "",
               comment: str = "") -> HTMLResponse:
    return _page(request, token, "survey/question.html", status=status,
                 question=question, ratings=RATINGS, comment_max=COMMENT_MAX,
                 form_token=web(request).signer("survey").dumps(_bound(token)),
                 errors=errors or {"rating": False, "comment": False, "form": False},
                 rating=rating, comment=comment)


@router.get("/survey/{token}")
async def survey_page(request: Request, token: str,
                      thanks: str | None = Query(None)) -> Response:
    question = await run_in_threadpool(_question, request, token)
    if isinstance(question, HTMLResponse):
        return question
    if question["answered"]:
        return _page(request, token, "survey/answered.html", question=question,
                     thanks=thanks is not None)
    return _form_page(request, token, question)


def _cross_site(request: Request) -> bool:
    """A POST another site's page made, as the browser says: `Sec-Fetch-Site`, or an
    `Origin` naming another host. (The pages send no Referer, so Chromium sends
    `Origin: null` with their own forms: that alone is no sign of another site.)"""
    fetched_from = request.headers.get("sec-fetch-site")
    if fetched_from in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


@router.post("/survey/{token}")
async def answer(request: Request, token: str) -> Response:
    if _cross_site(request):
        return render(request, "survey/refused.html", status=403)
    question = await run_in_threadpool(_question, request, token)
    if isinstance(question, HTMLResponse):
        return question
    form = await _form(request)
    rating, comment = form.get("rating", ""), form.get("comment", "").strip()
    fresh = web(request).unsign("survey", form.get("form_token"), FORM_LIFETIME) \
        == _bound(token)
    if question["answered"]:
        return _page(request, token, "survey/answered.html", status=409, question=question,
                     thanks=False)
    try:
        checked = SurveyAnswer.model_validate(
            {"rating": int(rating) if rating.isascii() and rating.isdigit() else 0,
             "comment": comment or None})
    except ValidationError as e:
        wrong = {str(err["loc"][0]) for err in e.errors()}
        return _form_page(request, token, question, status=422, rating=rating, comment=comment,
                          errors={"rating": "rating" in wrong, "comment": "comment" in wrong,
                                  "form": False})
    if not fresh:  # an old or foreign form: ask again, keeping what was chosen
        return _form_page(request, token, question, status=400, rating=rating, comment=comment,
                          errors={"rating": False, "comment": False, "form": True})
    surveys = _surveys(request)
    assert surveys is not None  # _question found the link
    try:
        await run_in_threadpool(run_write, context(request),
                                lambda: surveys.answer(token, checked.rating, checked.comment))
    except SurveyLinkRefused as e:  # expired between the two reads
        return _refused(request, token, e)
    except Problem as e:
        if e.status != 409:
            raise
        return _page(request, token, "survey/answered.html", status=409, question=question,
                     thanks=False)
    return RedirectResponse(f"/survey/{token}?thanks=1", status_code=303)
