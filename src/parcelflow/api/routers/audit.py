"""What auditors and regulators ask of a parcel beyond its history: what its customers
were shown at a given time, the EPCIS export, and corrections to its scans."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import Response

from parcelflow.adapters.credentials import Credential, Role
from parcelflow.api.auth import staff
from parcelflow.api.context import context
from parcelflow.api.http import POSITION_HEADER, json_response
from parcelflow.api.problems import Problem, problem_responses
from parcelflow.api.routers.exceptions import by, run_write
from parcelflow.api.routers.parcels import TrackingNo
from parcelflow.api.schemas import CorrectionDone, CorrectionRequest, FullTracking
from parcelflow.application.tracking_document import full
from parcelflow.application.corrections import Correction, CorrectionRefused, Corrections
from parcelflow.application.epcis_export import EpcisExport
from parcelflow.application.errors import ParcelNotFound
from parcelflow.bootstrap import epcis_identifiers
from parcelflow.wire.common import Timestamp

router = APIRouter(tags=["audit"])

JSON_LD = "application/ld+json"


@router.get(
    "/v1/parcels/{tracking_no}/epcis",
    summary="The parcel as GS1 EPCIS 2.0 events (auditors)",
    response_class=Response,
    responses={200: {"description": "an EPCISDocument (JSON-LD): one ObjectEvent per scan, "
                     "corrections as error declarations; no personal data",
                     "content": {JSON_LD: {"schema": {"type": "object"}}}},
               **problem_responses(401, 403, 404, 422)},
)
def parcel_epcis(
    request: Request,
    tracking_no: TrackingNo,
    credential: Credential = Depends(staff(Role.AUDITOR)),
) -> Response:
    """From the store. `eventID` is each event's EPCIS event hash (CBV 2.0 §8.9)."""
    ctx = context(request)
    export = EpcisExport(ctx.service, epcis_identifiers(ctx.service.network, ctx.settings))
    try:
        events = export.parcel(tracking_no)
    except ParcelNotFound:
        raise Problem(404, "not-found", "no events recorded for this tracking number") from None
    return Response(orjson.dumps(export.document(events)), media_type=JSON_LD)


@router.get(
    "/v1/parcels/{tracking_no}/tracking",
    summary="The tracking page as customers were shown it at a time (auditors)",
    response_model=FullTracking,
    responses=problem_responses(401, 403, 404, 422),
)
def tracking_as_seen(
    request: Request,
    tracking_no: TrackingNo,
    recorded_by: Annotated[Timestamp, Query(
        description="the time to look back to (ISO 8601 with offset): the status, ETA, next "
        "step and timeline rebuilt from what had been recorded by then")],
    credential: Credential = Depends(staff(Role.AUDITOR)),
) -> dict[str, Any]:
    """What did we tell the customer, and when: the full (masked) tracking document as the
    tracking view rendered it once it had read everything recorded by `recorded_by`."""
    from parcelflow.projections.tracking_view import as_seen

    row = as_seen(context(request).service, tracking_no, recorded_by)
    if row is None:
        raise Problem(404, "not-found", "nothing recorded for this tracking number by that time")
    return full(row)


@router.post(
    "/v1/parcels/{tracking_no}/corrections",
    summary="Void or amend a recorded scan (auditors, supervisors)",
    status_code=201,
    response_model=CorrectionDone,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def correct(
    request: Request,
    tracking_no: TrackingNo,
    body: Annotated[CorrectionRequest, Body()],
    credential: Credential = Depends(staff(Role.AUDITOR, Role.SUPERVISOR)),
) -> Response:
    """A correction event naming the scan, who and why; nothing is edited. The parcel's
    status, flags, exceptions, read models and notifications follow from the corrected
    timeline; the history shows both the scan and its correction."""
    ctx = context(request)
    corrections = Corrections(ctx.service)
    who = by(credential)
    if body.action == "void":
        def change() -> Correction:
            return corrections.void(tracking_no, body.scan_id, by=who, reason=body.reason)
    else:
        def change() -> Correction:
            return corrections.amend(tracking_no, body.scan_id, by=who, reason=body.reason,
                                     facility=body.facility, occurred_at=body.occurred_at,
                                     next_facility=body.next_facility)
    try:
        done = run_write(ctx, change)
    except CorrectionRefused as e:
        raise Problem(422, "invalid", str(e)) from None
    return json_response(
        {"tracking_no": tracking_no, "scan_id": done.scan_id, "action": done.action,
         "target_version": done.target_version, "version": done.version,
         "position": done.position},
        status=201, headers={POSITION_HEADER: str(done.position)})
