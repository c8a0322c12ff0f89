"""The customer tracking page.

- `GET /track`: the search form; `GET /track/{tracking_no}`: the parcel as the public
  lookup shows it without proof (status, city, ETA, promised time, milestones, the route).
- `POST /track/{tracking_no}/proof`: the last four digits of the receiver's or sender's
  phone, in the body (never in a URL), checked by the API's own lookup
  (`parcelflow.api.lookup.look_up`): the same proof, the same per-parcel failure limit,
  and a wrong answer that reads exactly like an unknown parcel. A right answer is
  remembered for `PARCELFLOW_WEB_PROOF_LIFETIME` in a signed, HttpOnly, SameSite=Lax
  cookie without an expiry (it ends with the browser session at the latest); it holds
  which parcels were proved and when, never the digits.
- `POST /track/{tracking_no}/complaints`: after the proof, a complaint in the customer's
  words through the same service as `parcelflow complaints file` (channel `web`).

Everything works without JavaScript: plain links and forms, answers by redirect (POST,
then 303 to the page) so a reload never sends a form twice.
"""

from __future__ import annotations

import math
import secrets
import time
from functools import lru_cache
from typing import Any
from datetime import timezone
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from parcelflow.api.context import ApiContext, context
from parcelflow.api.lookup import Lookup, client_address, look_up
from parcelflow.api.problems import Problem
from parcelflow.application.complaints import Complaints
from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.personal_data import MAX_TEXT
from parcelflow.application.situation import situation
from parcelflow.consumers.notifications.messages import Messages
from parcelflow.domain.vocabulary import Channel, ComplaintCategory
from parcelflow.web import track_view
from parcelflow.web.base import language, render, time_words, web
from parcelflow.web.track_view import Words

router = APIRouter(include_in_schema=False)

PROOF_COOKIE = "pf_proof"
MAX_REMEMBERED = 8  # parcels one browser keeps proofs for
FILED_BY = "customer:web"


@lru_cache(maxsize=1)
def _notification_words() -> dict[str, dict[str, dict[str, str]]]:
    return Messages(tracking_url="{tracking_no}", zone=timezone.utc).words


def words(request: Request) -> Words:
    lang = language(request)
    table = _notification_words().get(lang, {})
    return Words(web(request).catalogue, lang, table.get("reason", {}), table.get("next", {}))


# ---- the remembered proof ----------------------------------------------------------

def _lifetime(request: Request) -> float:
    return web(request).settings.web_proof_lifetime.total_seconds()


def remembered_proofs(request: Request) -> dict[str, float]:
    """Parcels this browser proved a phone for, with when, still within the lifetime."""
    value = web(request).unsign("proof", request.cookies.get(PROOF_COOKIE), _lifetime(request))
    if not isinstance(value, dict):
        return {}
    now = time.time()
    return {str(k): float(v) for k, v in value.items()
            if isinstance(v, (int, float)) and 0 <= now - v < _lifetime(request)}


def remember_proof(request: Request, response: Response, tracking_no: str) -> None:
    proofs = remembered_proofs(request)
    proofs.pop(tracking_no, None)
    proofs[tracking_no] = time.time()
    kept = dict(list(proofs.items())[-MAX_REMEMBERED:])
    # No max_age and no expires: a session cookie, gone when the browser closes; the
    # signed time inside ends it sooner.
    response.set_cookie(PROOF_COOKIE, web(request).signer("proof").dumps(kept),
                        httponly=True, samesite="lax", path="/track",
                        secure=request.url.scheme == "https")


# ---- pages ------------------------------------------------------------------------

@router.get("/track")
def track_form(request: Request) -> HTMLResponse:
    return render(request, "track/form.html", tracking_no=None, error=None)


@router.get("/track/find")
def find(tracking_no: str = Query("", max_length=64)) -> RedirectResponse:
    """The form's answer (a GET, so it works without JavaScript): the parcel's page."""
    number = normalised(tracking_no)
    return RedirectResponse(f"/track/{number}" if number else "/track", status_code=303)


def normalised(tracking_no: str) -> str:
    return "".join(tracking_no.split()).upper()


@router.get("/track/{tracking_no}")
def parcel_page(request: Request, tracking_no: str, filed: str | None = Query(None)
                ) -> HTMLResponse:
    ctx = context(request)
    refused = _bad_number(request, ctx, tracking_no)
    if refused:
        return refused
    remembered = tracking_no in remembered_proofs(request)
    try:
        found = look_up(ctx, client_address(request), tracking_no, remembered=remembered)
    except Problem as problem:
        return refusal(request, tracking_no, problem)
    return _parcel(request, ctx, found, filed=filed is not None)


@router.post("/track/{tracking_no}/proof")
async def prove(request: Request, tracking_no: str) -> Response:
    ctx = context(request)
    refused = _bad_number(request, ctx, tracking_no)
    if refused:
        return refused
    form = await _form(request)
    digits = form.get("phone_last4", "").strip()
    if not (len(digits) == 4 and digits.isascii() and digits.isdigit()):
        # As the API: a malformed answer is refused before it is checked or counted.
        try:
            found = await run_in_threadpool(look_up, ctx, client_address(request), tracking_no)
        except Problem as problem:
            return refusal(request, tracking_no, problem)
        return await run_in_threadpool(_parcel, request, ctx, found, status=422,
                                       proof_error=True)
    try:
        await run_in_threadpool(look_up, ctx, client_address(request), tracking_no, digits)
    except Problem as problem:
        return refusal(request, tracking_no, problem)
    response = RedirectResponse(f"/track/{tracking_no}#timeline", status_code=303)
    remember_proof(request, response, tracking_no)
    return response


@router.post("/track/{tracking_no}/complaints")
async def file_complaint(request: Request, tracking_no: str) -> Response:
    ctx = context(request)
    refused = _bad_number(request, ctx, tracking_no)
    if refused:
        return refused
    form = await _form(request)
    token_ok = web(request).unsign("complaint", form.get("token"), _lifetime(request)) \
        == tracking_no
    if tracking_no not in remembered_proofs(request) or not token_ok:
        # No proof (or it ran out): the page as without proof, with its proof form.
        return RedirectResponse(f"/track/{tracking_no}#proof", status_code=303)
    category = form.get("category", "")
    text = form.get("words", "").strip()
    errors = {"category": category not in {str(c) for c in ComplaintCategory},
              "words": not text or len(text) > MAX_TEXT}
    if any(errors.values()):
        found = await run_in_threadpool(look_up, ctx, client_address(request), tracking_no,
                                        remembered=True)
        return await run_in_threadpool(_parcel, request, ctx, found, status=422,
                                       complaint_errors=errors,
                                       complaint_form={"category": category, "words": text})
    reference = form.get("ref") or None  # the form's own: sending it twice files once
    await run_in_threadpool(ctx.write, Complaints(ctx.service).file, tracking_no,
                            ComplaintCategory(category), Channel.WEB, words=text, by=FILED_BY,
                            reference=f"web:{reference}" if reference else None)
    return RedirectResponse(f"/track/{tracking_no}?filed=1#complaints", status_code=303)


# ---- what the routes share ----------------------------------------------------------

async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each). The body is bounded by the
    API's BodyLimit; the standard library reads the format (no multipart upload here)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _bad_number(request: Request, ctx: ApiContext, tracking_no: str) -> HTMLResponse | None:
    if ctx.service.limits.tracking_numbers.problem(tracking_no) is None:
        return None
    return render(request, "track/form.html", status=422, here=_page_path(tracking_no),
                  tracking_no=tracking_no, error="bad_number")


def _page_path(tracking_no: str) -> str:
    return f"/track/{tracking_no}"


def refusal(request: Request, tracking_no: str, problem: Problem) -> HTMLResponse:
    """Not found (unknown, or a wrong proof: the same page), or too many tries."""
    if problem.status == 429:
        retry = int(problem.headers.get("Retry-After", "60"))
        return render(request, "track/refused.html", status=429,
                      headers={"Retry-After": str(retry)}, here=_page_path(tracking_no),
                      tracking_no=tracking_no,
                      minutes=max(1, math.ceil(retry / 60)))
    if problem.status == 404:
        return render(request, "track/form.html", status=404, here=_page_path(tracking_no),
                      tracking_no=tracking_no, error="not_found")
    raise problem


def _parcel(request: Request, ctx: ApiContext, found: Lookup, *, status: int = 200,
            filed: bool = False, proof_error: bool = False,
            complaint_errors: dict[str, bool] | None = None,
            complaint_form: dict[str, str] | None = None) -> HTMLResponse:
    answer = found.answer()
    row = found.row
    network = ctx.service.network
    w = words(request)
    page: dict[str, Any] = {
        "tracking_no": row["tracking_no"], "proven": found.proven, "answer": answer,
        "status_words": w.t(f"track.status.{row['status']}"),
        "city": track_view.city_label(network, row["city"], w.lang),
        "eta": row["eta_current"], "eta_original": row["eta_original"],
        "promised_by": row["promised_by"],
        "delivered_at": row["delivered_at"],
        "route": track_view.route(row, network, w),
        "proof_error": proof_error, "filed": filed,
        "categories": [(str(c), w.t(f"track.categories.{c}")) for c in ComplaintCategory],
        "complaint_errors": complaint_errors or {"category": False, "words": False},
        "complaint_form": complaint_form or {"category": "", "words": ""},
    }
    if found.proven:
        when = time_words(request)
        try:
            now = situation(ctx.service, row["tracking_no"])
        except ParcelNotFound:  # erased from the store since the view was written
            now = None
        page.update(
            timeline=track_view.timeline(answer, network, w),
            notices=track_view.story(answer, now, network, w, when) if now else [],
            complaints=track_view.complaints(now, w, when) if now else [],
            next_step=track_view.next_step(answer, network, w),
            signed_by=(answer.get("delivered") or {}).get("signed_by"),
            token=web(request).signer("complaint").dumps(row["tracking_no"]),
            ref=secrets.token_urlsafe(12),
        )
    else:
        page.update(milestones=track_view.milestones(answer, network, w))
    return render(request, "track/parcel.html", status=status,
                  here=_page_path(row["tracking_no"]), **page)
