"""A stored parcel event as a CloudEvents 1.0 message (structured mode, JSON).

    id       "<parcel id>:<version>": the same event always has the same id, so a consumer
             that sees it twice (the relay republishes after a crash) knows it
    source   "/parcelflow/parcels"
    type     "com.parcelflow.parcel.<event>.v1", e.g. com.parcelflow.parcel.scan_recorded.v1
    subject  the tracking number (also the Kafka key: one parcel, one partition, in order)
    time     occurred_at (device time, with its offset)
    data     the public payload: an allow-list of fields. Personal data (sealed parties,
             the manifest's fingerprint and language) and free text that might hold it
             (notes, signatures, details, reasons, operator ids) never leave the store.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from parcelflow.application.audit import event_name
from parcelflow.domain.parcel import Parcel

SPECVERSION = "1.0"
SOURCE = "/parcelflow/parcels"
TYPE_PREFIX = "com.parcelflow.parcel."
CONTENT_TYPE = b"application/cloudevents+json; charset=utf-8"

# Fields of any parcel event that anyone subscribed to the topic may read.
PUBLIC_FIELDS = frozenset({
    "tracking_no", "occurred_at", "recorded_at", "device_id", "previous_hash", "event_hash",
    "scan_id", "scan_type", "facility", "facility_kind", "next_facility", "exception_code",
    "attempt_reason", "exception_id", "code", "severity", "owner", "customer_facing",
    "occurrence", "auto", "outcome", "target_version", "promised_by", "eta",
})
# The v1 events' published names for fields the code has since renamed: a consumer of
# com.parcelflow.parcel.*.v1 keeps reading what it always read (an exception's occurrence
# key was published as `cause`).
V1_NAMES = {"occurrence": "cause"}
PUBLIC_MANIFEST_FIELDS = frozenset({
    "service_level", "origin", "destination", "promised_by", "customer_tier", "merchant_id",
})



@lru_cache(maxsize=None)
def event_id(parcel_id: Any, version: int) -> str:
    return f"{parcel_id}:{version}"


def public_data(event: Parcel.Event) -> dict[str, Any]:
    fields = vars(event)
    data: dict[str, Any] = {
        "parcel_id": str(event.originator_id),
        "version": event.originator_version,
        "event": event_name(event),
    }
    data.update((V1_NAMES.get(name, name), value) for name, value in fields.items()
                if name in PUBLIC_FIELDS)
    if isinstance(fields.get("manifest"), dict):
        data["manifest"] = {k: v for k, v in fields["manifest"].items()
                            if k in PUBLIC_MANIFEST_FIELDS}
    if isinstance(fields.get("changes"), dict):  # an amendment: only the public fields it changed
        data["changes"] = {k: v for k, v in fields["changes"].items() if k in PUBLIC_FIELDS}
    return data


def to_cloudevent(event: Parcel.Event, tracking_no: str) -> dict[str, Any]:
    data = public_data(event)
    return {
        "specversion": SPECVERSION,
        "id": event_id(data["parcel_id"], data["version"]),
        "source": SOURCE,
        "type": f"{TYPE_PREFIX}{data['event']}.v1",
        "subject": tracking_no,
        "time": event.occurred_at.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


def encode(cloudevent: dict[str, Any]) -> bytes:
    return orjson.dumps(cloudevent)


HEADERS = [("content-type", CONTENT_TYPE)]
