"""Stored events written by an earlier layout of the code, and what a parcel is, as data.

`tests/fixtures/stored_events_v0/` holds events as an earlier version stored them; these
helpers put them into a store and describe parcels field by field, so a test can check
that today's code reads them into the same parcels.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from parcelflow.domain import chain

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stored_events_v0"


def load_fixture(service: Any, fixture: Path = FIXTURE) -> None:
    """Put the fixture's stored events (in their log order) and data keys into the
    service's store, byte for byte."""
    stored = []
    for line in (fixture / "events.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        stored.append(StoredEvent(UUID(row["originator_id"]), row["originator_version"],
                                  row["topic"], row["state"].encode("utf-8")))
    service.recorder.insert_events(stored)
    keys = service.personal.keys
    rows = [json.loads(line) for line in
            (fixture / "keys.jsonl").read_text(encoding="utf-8").splitlines()]
    keys._insert_missing({UUID(r["parcel_id"]): base64.b64decode(r["data_key"] or "")
                          for r in rows})
    for r in rows:
        if r["data_key"] is None:
            keys.destroy(UUID(r["parcel_id"]))


def expected(fixture: Path = FIXTURE) -> dict[str, Any]:
    return json.loads((fixture / "expected.json").read_text(encoding="utf-8"))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return chain.canonical(value)  # scalars, and sets of them (sorted)


def snapshot(parcel: Any) -> dict[str, Any]:
    """Everything a parcel knows, as plain JSON data: its own fields, every timeline
    entry, its exceptions, complaints and claims, and what its timeline says."""
    state = parcel.state
    return _plain({
        "tracking_no": parcel.tracking_no,
        "version": parcel.version,
        "head_hash": parcel.head_hash,
        "erased": parcel.erased,
        "manifest": parcel.manifest,
        "receiver_sealed": parcel.receiver_sealed,
        "promised_by": parcel.promised_by,
        "eta": parcel.eta,
        "latest_scan_at": parcel.latest_scan_at,
        "customer_tier": parcel.customer_tier,
        "scan_versions": parcel.scan_versions,
        "entries": [parcel.entries[v] for v in sorted(parcel.entries)],
        "exceptions": parcel.exceptions,
        "complaints": parcel.complaints,
        "claims": parcel.claims,
        "state": {
            "status": state.status,
            "flags": state.flags,
            "location": state.location,
            "last_event": state.last_event.version if state.last_event else None,
            "delivered": state.delivered,
            "expected_next_facility": state.expected_next_facility,
            "failed_attempts": state.failed_attempts,
            "last_scan_at": state.last_scan_at,
            "issues": {"/".join(key): issue for key, issue in state.issues.items()},
            "settled": ["/".join(key) for key in state.settled],
            "anomalies": state.anomalies,
            "timeline": [e.version for e in state.timeline],
            "missed_scans": state.missed_scans,
        },
    })
