"""Reading and writing JSON bodies, and remembering answers to Idempotency-Key retries."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from parcelflow.adapters.credentials import Credential
from parcelflow.adapters.request_log import StoredAnswer
from parcelflow.api.context import ApiContext
from parcelflow.api.problems import Problem
from parcelflow.wire import json_text

POSITION_HEADER = "X-Parcelflow-Position"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_KEY = r"^[A-Za-z0-9._:-]{1,128}$"


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json",
                    headers=headers)


async def read_json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "application/json")
    if not content_type.split(";")[0].strip().lower().endswith("json"):
        raise Problem(415, "unsupported-media-type", "send the body as application/json")
    body = await request.body()
    try:
        return json_text.loads(body)
    except ValueError:
        raise Problem(400, "malformed-json", "the body is not valid JSON") from None


def position_headers(position: int | None) -> dict[str, str]:
    return {POSITION_HEADER: str(position)} if position is not None else {}


Compute = Callable[[], Awaitable[tuple[dict[str, Any], int | None]]]


async def answer_once(ctx: ApiContext, request: Request, credential: Credential,
                      key: str | None, compute: Compute) -> Response:
    """Answer a write; with an Idempotency-Key, a retry gets the first answer again.

    The answer is stored after the work, not locked before it: the writes behind it
    (scans by scan_id, manifests by fingerprint) are idempotent themselves, so two
    concurrent twins do no harm, and whichever stores its answer first is the answer
    both retries see.
    """
    if key is None:
        payload, position = await compute()
        return json_response(payload, headers=position_headers(position))
    principal = credential.key_id
    digest = hashlib.sha256(
        f"{request.method} {request.url.path}\n".encode() + await request.body()).hexdigest()
    stored = await run_in_threadpool(ctx.requests.answer, principal, key)
    if stored is None:
        payload, position = await compute()
        fresh = StoredAnswer(digest, 200, orjson.dumps(payload).decode(), position)
        stored = await run_in_threadpool(ctx.requests.remember, principal, key, fresh)
        replayed = stored is not fresh
    else:
        replayed = True
    if stored.request_hash != digest:
        raise Problem(422, "idempotency-key-reused",
                      "this Idempotency-Key was used for a different request; use a new key")
    headers = position_headers(stored.position)
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(stored.body.encode(), status_code=stored.status,
                    media_type="application/json", headers=headers)
