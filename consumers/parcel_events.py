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
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic

from parcelflow.application.audit import event_class_name, event_name
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


# ---- straight from the stored bytes (the relay's way) -----------------------------------

_DATETIME = "datetime_iso"  # eventsourcing's DatetimeAsISO: {"_type_": ..., "_data_": isoformat}


@lru_cache(maxsize=None)
def _kind(topic: str) -> tuple[str, int] | None:
    """(event name, class version) for a parcel event's topic; None for anything else."""
    try:
        cls = resolve_topic(topic)
    except Exception:  # noqa: BLE001 — an unknown topic: the domain's way decides
        return None
    if not (isinstance(cls, type) and issubclass(cls, Parcel.Event)):
        return None
    return event_class_name(cls), int(getattr(cls, "class_version", 1))


class _Other(Exception):
    """A stored value this module does not turn into JSON itself (a UUID, a Decimal)."""


def _plain(value: Any) -> Any:
    """A stored value as orjson would write the decoded one: a datetime as its ISO text
    (what `isoformat()` gave when it was stored), containers walked."""
    if type(value) is dict:
        if "_type_" in value and "_data_" in value and len(value) == 2:
            if value["_type_"] != _DATETIME or type(value["_data_"]) is not str:
                raise _Other
            return value["_data_"]
        return {k: _plain(v) for k, v in value.items()}
    if type(value) is list:
        return [_plain(v) for v in value]
    return value


def encode_stored(stored: StoredEvent, tracking_no: str, *,
                  decode: Any = None) -> bytes:
    """The CloudEvent of a stored event, made from its stored JSON in one pass: the same
    bytes as `encode(to_cloudevent(event, tracking_no))` of the decoded event (checked
    for every kind of event in tests/unit/test_parcel_events.py), without building the
    event object only to turn it back into JSON. An event stored in an older class
    version (read upcast), or holding a value other than a time among its registered
    types, takes that way: `decode(stored)` gives the event."""
    kind = _kind(stored.topic)
    state = orjson.loads(stored.state) if kind is not None else None
    if kind is not None and state is not None:
        name, version = kind
        if state.pop("class_version", 1) == version:
            try:
                return _encode_state(stored, state, name, tracking_no)
            except _Other:
                pass
    if decode is None:
        raise ValueError(f"not a parcel event in the stored form: {stored.topic}")
    return encode(to_cloudevent(decode(stored), tracking_no))


def _encode_state(stored: StoredEvent, state: dict[str, Any], name: str,
                  tracking_no: str) -> bytes:
    pid = str(stored.originator_id)
    version = stored.originator_version
    data: dict[str, Any] = {"parcel_id": pid, "version": version, "event": name}
    data.update((V1_NAMES.get(key, key), _plain(value)) for key, value in state.items()
                if key in PUBLIC_FIELDS)
    manifest = state.get("manifest")
    if type(manifest) is dict:
        data["manifest"] = {k: _plain(v) for k, v in manifest.items()
                            if k in PUBLIC_MANIFEST_FIELDS}
    changes = state.get("changes")
    if type(changes) is dict:
        data["changes"] = {k: _plain(v) for k, v in changes.items() if k in PUBLIC_FIELDS}
    return orjson.dumps({
        "specversion": SPECVERSION,
        "id": event_id(pid, version),
        "source": SOURCE,
        "type": f"{TYPE_PREFIX}{name}.v1",
        "subject": tracking_no,
        "time": _plain(state["occurred_at"]),
        "datacontenttype": "application/json",
        "data": data,
    })


def stored_tracking_no(stored: StoredEvent) -> str | None:
    """The tracking number a stored event carries (a parcel's first event does)."""
    if b'"tracking_no"' not in stored.state:
        return None
    value = orjson.loads(stored.state).get("tracking_no")
    return value if isinstance(value, str) else None


HEADERS = [("content-type", CONTENT_TYPE)]
