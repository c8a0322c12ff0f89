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
    ctx.limits.count_lookup(client, tracking_no)
    row = ctx.tracking.get(tracking_no)
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
