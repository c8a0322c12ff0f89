"""The public lookup as one use case, answered alike by the API (`GET /v1/parcels/{no}`)
and the tracking page: the rate limits, the phone proof and its failure limit, and what
the answer shows with and without proof.

A wrong proof is answered exactly like an unknown tracking number (`NotFound` either
way), and counts against the client's proof limits on that parcel whichever door it
came through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from parcelflow.api.context import ApiContext
from parcelflow.api.problems import Problem
from parcelflow.application.tracking_document import coarse, full

# One answer for "no such parcel" and "the proof does not match": a wrong phone_last4
# must not tell a guesser anything an unknown tracking number would not.
NOT_FOUND = "no parcel found for this tracking number"


def client_address(request: Request) -> str:
    # Behind a proxy uvicorn puts the forwarded address here (for trusted proxies only).
    return request.client.host if request.client else "unknown"


def not_found() -> Problem:
    return Problem(404, "not-found", NOT_FOUND)


@dataclass(frozen=True)
class Lookup:
    row: dict[str, Any]  # the tracking-view row (for the pages' own rendering)
    proven: bool

    def answer(self) -> dict[str, Any]:
        """What the public may see: the coarse view, or the full one (masked) with proof."""
        return full(self.row) if self.proven else coarse(self.row)


def look_up(ctx: ApiContext, client: str, tracking_no: str, phone_last4: str | None = None,
            *, remembered: bool = False) -> Lookup:
    """The parcel as the public lookup shows it; `phone_last4` proves a phone on it.
    `remembered`: the tracking page's signed cookie says this client proved it a moment
    ago (the digits themselves are never kept). Raises `Problem` 404 or 429."""
    _count(ctx, client, tracking_no)
    row = ctx.tracking.get(tracking_no)
    return _judge(ctx, client, tracking_no, row, phone_last4, remembered)


async def look_up_async(ctx: ApiContext, client: str, tracking_no: str,
                        phone_last4: str | None = None) -> Lookup:
    """`look_up` on the event loop (the API's route): the same limits, proof and answer.
    The row is read on the asyncio pool (`TrackingRows.aget`); what may block goes to the
    threadpool: a shared rate-limit store (a network round trip) and a phone proof (on a
    cache miss it opens the parcel from the store)."""
    if ctx.limits.shared:
        await run_in_threadpool(_count, ctx, client, tracking_no)
    else:
        _count(ctx, client, tracking_no)  # in-process counters: no I/O
    row = await ctx.tracking.aget(tracking_no)
    if phone_last4 is None:
        return _judge(ctx, client, tracking_no, row, None, False)
    return await run_in_threadpool(_judge, ctx, client, tracking_no, row, phone_last4, False)


def _count(ctx: ApiContext, client: str, tracking_no: str) -> None:
    ctx.limits.per_address.hit(client)
    ctx.limits.per_parcel.hit(tracking_no)


def _judge(ctx: ApiContext, client: str, tracking_no: str, row: dict[str, Any] | None,
           phone_last4: str | None, remembered: bool) -> Lookup:
    if phone_last4 is None:
        if row is None:
            raise not_found()
        return Lookup(row, proven=remembered)
    # Failures count against the client that made them, so whoever guesses at a parcel
    # locks out only themselves; the receiver's right answer still gets through.
    ctx.limits.check_proofs(client, tracking_no)
    if not ctx.proofs.matches(tracking_no, row["version"] if row else None, phone_last4):
        ctx.limits.proof_failed(client, tracking_no)
        raise not_found()
    assert row is not None  # a match implies a row
    return Lookup(row, proven=True)
