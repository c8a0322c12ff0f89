"""What auditors and regulators ask of a parcel beyond its history: the EPCIS export."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from parcelflow.adapters.credentials import Credential, Role
from parcelflow.api.auth import staff
from parcelflow.api.context import context
from parcelflow.api.problems import Problem, problem_responses
from parcelflow.application.epcis_export import EpcisExport
from parcelflow.application.service import ParcelNotFound
from parcelflow.bootstrap import epcis_identifiers
from parcelflow.wire.common import TRACKING_NO_PATTERN

router = APIRouter(tags=["audit"])

TrackingNo = Annotated[str, Path(pattern=TRACKING_NO_PATTERN, examples=["PF202611220000001"])]
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
