"""POST /v1/scans: scanners post batches of scans (scan wire format v1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from parcelflow import metrics
from parcelflow.adapters.credentials import Credential
from parcelflow.api.auth import scanner
from parcelflow.api.context import ApiContext, context
from parcelflow.api.http import IDEMPOTENCY_KEY, POSITION_HEADER, answer_once, read_json
from parcelflow.api.problems import Problem, problem_responses
from parcelflow.api.schemas import ScanBatchAnswer

router = APIRouter(tags=["scans"])


def body_schema(item_ref: str, max_items: int, *, single: bool = False) -> dict[str, Any]:
    """An OpenAPI request body: an array of items (or one item, with `single`)."""
    array = {"type": "array", "maxItems": max_items, "items": {"$ref": item_ref}}
    schema = {"oneOf": [{"$ref": item_ref}, array]} if single else array
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}


def batch_items(payload: Any, limit: int, *, single: bool = False) -> list[Any]:
    if single and isinstance(payload, dict):
        return [payload]
    if not isinstance(payload, list):
        raise Problem(422, "validation", "the body must be a JSON array of items"
                      + (" (or one item)" if single else ""),
                      errors=[{"field": "body", "reason": "must be an array"}])
    if len(payload) > limit:
        raise Problem(413, "batch-too-large",
                      f"batch has {len(payload)} items; at most {limit} are accepted per batch")
    return payload


def summary(results: list[dict[str, Any]], position: int | None) -> dict[str, Any]:
    counts = {s: 0 for s in ("accepted", "duplicate", "rejected")}
    for r in results:
        counts[r["status"]] += 1
    return {"accepted": counts["accepted"], "duplicates": counts["duplicate"],
            "rejected": counts["rejected"], "position": position, "results": results}


def ingest_for(ctx: ApiContext, credential: Credential, items: list[Any]) -> tuple[dict[str, Any], int | None]:
    """Scans for the key's own facility go to the service; others are refused one by one
    (the rest of the batch is not lost because a gateway mixed in a neighbour's scan)."""
    results: list[dict[str, Any] | None] = [None] * len(items)
    mine: list[int] = []
    for index, item in enumerate(items):
        facility = item.get("facility") if isinstance(item, dict) else None
        if isinstance(facility, str) and facility != credential.facility:
            scan_id = item.get("scan_id")
            results[index] = {
                "index": index, "status": "rejected",
                "scan_id": scan_id if isinstance(scan_id, str) else None,
                "reason": f"facility: this key posts scans for {credential.facility} only",
            }
            metrics.SCANS_REJECTED.labels("facility_scope").inc()
        else:
            mine.append(index)
    report = ctx.ingest([items[i] for i in mine])
    for result in report.results:
        index = mine[result.index]
        results[index] = {"index": index, "status": str(result.status), "scan_id": result.key,
                          "reason": result.reason}
    return summary([r for r in results if r is not None], report.position), report.position


@router.post(
    "/v1/scans",
    summary="Record a batch of scans",
    response_model=None,
    responses={200: {"model": ScanBatchAnswer, "description": "one result per item, in order",
                     "headers": {POSITION_HEADER: {"schema": {"type": "integer"}, "description":
                                 "position of the last event written"}}},
               **problem_responses(400, 401, 403, 413, 415, 422)},
    openapi_extra=body_schema("#/components/schemas/ScanV1", 1000),
)
async def post_scans(
    request: Request,
    credential: Credential = Depends(scanner),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY,
                                         description="a retry with the same key and body gets "
                                         "the first answer again"),
) -> Response:
    """A batch (at most 1000) of scans in the scan wire format v1. One result per item:
    accepted, duplicate (its scan_id was recorded before) or rejected with a reason. The
    valid items are stored even when others are rejected. Scans for a facility other
    than the key's own are rejected item by item."""
    ctx = context(request)
    items = batch_items(await read_json(request), ctx.settings.max_batch)

    async def compute() -> tuple[dict[str, Any], int | None]:
        return await run_in_threadpool(ingest_for, ctx, credential, items)

    return await answer_once(ctx, request, credential, idempotency_key, compute)
