"""The tracking document: what a customer is shown for a parcel, one renderer for every
surface (`GET /v1/parcels/{no}`, `parcelflow track --json`, the audit route's "what did
we tell the customer").

`full` is the document with a phone proof (or for staff and the command line), `coarse`
what anyone holding the tracking number sees. Both are built from a tracking-view row and
mask again on the way out: every customer-facing string goes through
`parcelflow.domain.privacy`.

`eta` is the predicted delivery range now, `eta_original` the range predicted at pickup
(both `{earliest, likely, latest, confidence, basis}` or null; see
`domain/transit_times.py` for how each is made and what the confidence means).
"""

from __future__ import annotations

import re
from typing import Any

from parcelflow.domain.privacy import mask_party, mask_signature, scrub_text
from parcelflow.domain.vocabulary import SCAN_RULES, Fact, ScanType, Status

_SCAN_TYPES = {str(t): t for t in ScanType}
_SIGNED = re.compile(r"\(signed: (.*)\)$")


def _milestone(entry: dict[str, Any]) -> str | None:
    if entry["type"] in (Fact.REGISTERED, Fact.MANIFEST_ATTACHED):
        return str(Status.REGISTERED)
    scan_type = _SCAN_TYPES.get(entry["type"])
    status = SCAN_RULES[scan_type].status if scan_type else None
    return str(status) if status else None


def coarse_timeline(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Milestones: one line each time the parcel's stage or city changes."""
    out: list[dict[str, Any]] = []
    for entry in timeline:
        stage = _milestone(entry)
        if entry["voided"] or stage is None:
            continue
        if out and out[-1]["status"] == stage and out[-1]["city"] == entry["city"]:
            continue
        out.append({"status": stage, "occurred_at": entry["occurred_at"], "city": entry["city"]})
    return out


def coarse(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "tracking_no": row["tracking_no"],
        "detail": "coarse",
        "status": row["status"],
        "city": row["city"],
        "eta": row["eta_current"],
        "eta_original": row["eta_original"],
        "delivered_at": row["delivered_at"],
        "timeline": coarse_timeline(row["timeline"]),
    }


def _masked_description(text: str) -> str:
    text = _SIGNED.sub(lambda m: f"(signed: {mask_signature(m.group(1))})", text)
    return scrub_text(text)


def full(row: dict[str, Any]) -> dict[str, Any]:
    """Everything the view has for a customer, masked again on the way out (the view
    masks parties already; this also catches free text: who signed, notes in details)."""
    next_expected = ({"activity": row["next_activity"], "facility": row["next_facility"]}
                     if row["next_activity"] else None)
    delivered = ({"at": row["delivered_at"],
                  "signed_by": mask_signature(row["signed_by"]) if row["signed_by"] else None}
                 if row["delivered_at"] else None)
    return {
        "tracking_no": row["tracking_no"],
        "detail": "full",
        "status": row["status"],
        "flags": row["flags"],
        "location": {"facility": row["facility"], "city": row["city"]},
        "last_event": row["last_event"],
        "last_event_at": row["last_event_at"],
        "promised_by": row["promised_by"],
        "eta": row["eta_current"],
        "eta_original": row["eta_original"],
        "next_expected": next_expected,
        "open_exceptions": row["open_exceptions"],
        "delivered": delivered,
        "service_level": row["service_level"],
        "origin": row["origin"],
        "destination": row["destination"],
        "receiver": mask_party(row["receiver"]) if row.get("receiver") else None,
        "sender": mask_party(row["sender"]) if row.get("sender") else None,
        "timeline": [
            {"type": e["type"], "occurred_at": e["occurred_at"], "facility": e["facility"],
             "city": e["city"], "description": _masked_description(e["description"]),
             "late": e["late"], "voided": e["voided"]}
            for e in row["timeline"]
        ],
    }
