"""Parcels: registration (the order system), the public lookup, and the audit history."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from parcelflow.adapters.credentials import Credential, Role
from parcelflow.api.auth import manifests, staff
from parcelflow.api.context import ApiContext, context
from parcelflow.api.http import IDEMPOTENCY_KEY, POSITION_HEADER, answer_once, json_response, read_json
from parcelflow.api.problems import Problem, problem_responses
from parcelflow.api.routers.scans import batch_items, body_schema, summary
from parcelflow.api.schemas import History, ManifestBatchAnswer, Tracking
from parcelflow.api.lookup import client_address, look_up
from parcelflow.application.audit import history_report
from parcelflow.application.errors import ParcelNotFound
from parcelflow.wire.common import Timestamp

log = structlog.get_logger(__name__)
router = APIRouter(tags=["parcels"])

TRACKING_NO_MAX = 40
PHONE_LAST4 = r"^[0-9]{4}$"


async def tracking_no_path(
    request: Request,
    tracking_no: Annotated[str, Path(max_length=TRACKING_NO_MAX, examples=["PF202611220000001"],
                                     description="in one of the configured formats")],
) -> str:
    """The path's tracking number, in one of the configured formats (422 otherwise).
    `async` though it awaits nothing: a plain `def` dependency is a threadpool hop of
    its own, before the route's."""
    return context(request).check_tracking_no(tracking_no, "path.tracking_no")


TrackingNo = Annotated[str, Depends(tracking_no_path)]


def register_for(ctx: ApiContext, credential: Credential, items: list[Any]) -> tuple[dict[str, Any], int | None]:
    report = ctx.write(ctx.service.register, items, by=f"{credential.kind}:{credential.name}")
    results = [{"index": r.index, "status": str(r.status), "tracking_no": r.key,
                "reason": r.reason} for r in report.results]
    return summary(results, report.position), report.position


@router.post(
    "/v1/parcels",
    summary="Register parcels (manifests)",
    response_model=None,
    responses={200: {"model": ManifestBatchAnswer, "description": "one result per manifest",
                     "headers": {POSITION_HEADER: {"schema": {"type": "integer"}}}},
               **problem_responses(400, 401, 403, 413, 415, 422)},
    openapi_extra=body_schema("#/components/schemas/ManifestV1", 1000, single=True),
)
async def post_parcels(
    request: Request,
    credential: Credential = Depends(manifests),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY),
) -> Response:
    """One manifest, or a batch of at most 1000 (manifest wire format v1). The same
    manifest again is a duplicate; a different manifest for a registered parcel is
    rejected. A manifest for a parcel already scanned attaches to it."""
    ctx = context(request)
    items = batch_items(await read_json(request), ctx.settings.max_batch, single=True)

    async def compute() -> tuple[dict[str, Any], int | None]:
        return await run_in_threadpool(register_for, ctx, credential, items)

    return await answer_once(ctx, request, credential, idempotency_key, compute)


@router.get(
    "/v1/parcels/{tracking_no}",
    summary="Track a parcel (public)",
    response_model=None,
    responses={200: {"model": Tracking, "description": "coarse without proof; full with it"},
               **problem_responses(404, 422, 429)},
)
def lookup(
    request: Request,
    tracking_no: TrackingNo,
    phone_last4: Annotated[str | None, Query(
        pattern=PHONE_LAST4, description="last four digits of the receiver's or the "
        "sender's phone: shows the full (masked) timeline")] = None,
) -> Response:
    """Status, city, ETA and a coarse timeline for anyone with the tracking number; the
    full timeline, still masked, with the last four digits of a phone on the parcel. A
    wrong `phone_last4` is answered exactly like an unknown tracking number.

    Reads the tracking view, which a `parcelflow project --follow` process keeps up to
    date: a scan shows here once the view's position reaches the position its POST
    answered with (`GET /readyz` shows the positions)."""
    found = look_up(context(request), client_address(request), tracking_no, phone_last4)
    return json_response(found.answer())


LOOKUP_PATH = "/v1/parcels/{tracking_no}"
_DIGITS4 = re.compile(PHONE_LAST4.strip("^$"))  # fullmatch: Python's $ allows a final "\n"


class PlainLookup:
    """The public lookup served without FastAPI's per-request dependency solving, for the
    requests it would accept: a tracking number of at most 40 characters and, if given, a
    `phone_last4` of four digits. Anything else goes to the documented route above, so
    every refusal (which fields, in which order, with which reasons) is FastAPI's own;
    the OpenAPI entry is that route's too.

    Measured reason for the bypass (bench/lookup_cpu.py, bench/profiles/README.md, phase
    6): FastAPI's routing through its included routers and its dependency solving were
    about half of a lookup's 0.7 ms of server CPU, and at 1,000 lookups a second on two
    cores that CPU is the p99's queueing. Same checks, same use case (`look_up`), same
    answer; tests/integration/test_api_reads.py runs both doors."""

    def __init__(self, documented: APIRoute):
        self.documented = documented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        tracking_no: str = scope["path_params"]["tracking_no"]
        phone_last4 = request.query_params.get("phone_last4")  # the last one, as FastAPI
        if len(tracking_no) > TRACKING_NO_MAX or (
                phone_last4 is not None and not _DIGITS4.fullmatch(phone_last4)):
            await self.documented.handle(scope, receive, send)  # it explains the 422
            return
        ctx = context(request)
        ctx.check_tracking_no(tracking_no, "path.tracking_no")  # what the dependency does
        found = await run_in_threadpool(look_up, ctx, client_address(request), tracking_no,
                                        phone_last4)
        await json_response(found.answer())(scope, receive, send)


class _NamedRoute(Route):
    """A Starlette route that tells the request who matched it, as FastAPI's do: the
    access log and the metrics name a request by its route's path template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def plain_lookup_route() -> Route:
    """The route to put first in the app's routes (see PlainLookup)."""
    documented = next(r for r in router.routes if isinstance(r, APIRoute)
                      and r.path == LOOKUP_PATH and "GET" in r.methods)
    route = _NamedRoute(LOOKUP_PATH, PlainLookup(documented), methods=["GET"],
                        include_in_schema=False)
    route.methods = set(documented.methods)  # Starlette would add HEAD; FastAPI does not
    return route


@router.get(
    "/v1/parcels/{tracking_no}/history",
    summary="A parcel's audit history (auditors)",
    response_model=History,
    responses=problem_responses(401, 403, 404, 422),
)
def parcel_history(
    request: Request,
    tracking_no: TrackingNo,
    as_of: Annotated[Timestamp | None, Query(
        description="the parcel as it stood at this time, by when things happened (late "
        "uploads included), and the events that had happened by then (ISO 8601 with "
        "offset)")] = None,
    recorded_by: Annotated[Timestamp | None, Query(
        description="only what had been recorded by this time: what the system knew, and "
        "the customer was shown, then; combines with as_of")] = None,
    reveal: Annotated[bool, Query(description="personal data unmasked (logged)")] = False,
    credential: Credential = Depends(staff(Role.AUDITOR)),
) -> dict[str, Any]:
    """Every event of the parcel from the store (not a read model), with its hash chain;
    personal data masked unless `reveal`."""
    ctx = context(request)
    moment: datetime | None = as_of
    try:
        head, items = history_report(ctx.service, tracking_no, as_of=moment,
                                     recorded_by=recorded_by, reveal=reveal)
    except ParcelNotFound:
        raise Problem(404, "not-found", "no events recorded for this tracking number"
                      + (" by that time" if moment or recorded_by else "")) from None
    if reveal:
        log.info("history.revealed", tracking_no=tracking_no, by=credential.name)
    return {**head, "events": [i.to_json() for i in items]}
