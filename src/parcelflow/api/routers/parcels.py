"""Parcels: registration (the order system), the public lookup, and the audit history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

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



async def tracking_no_path(
    request: Request,
    tracking_no: Annotated[str, Path(max_length=40, examples=["PF202611220000001"],
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
        pattern=r"^[0-9]{4}$", description="last four digits of the receiver's or the "
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
