"""The tracking view: one row per parcel, what a customer (or the API) looks up.

Status, flags, where the parcel is, its last event, promised time and ETA, the next
expected activity, open exceptions, delivery, and its timeline in occurred order with
late scans in their place and voided events marked. Personal data appears only masked.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from parcelflow.application.describe import city_name, describe
from parcelflow.application.personal_data import Opener
from parcelflow.application.service import ParcelService
from parcelflow.domain.eta import estimate_eta, next_expected
from parcelflow.domain.parcel import Parcel
from parcelflow.projections.base import ParcelProjection, Replica, ViewStore


def utc(moment: datetime | None) -> str | None:
    """Stored form of a time: UTC ISO 8601, which sorts as text in both backends."""
    return moment.astimezone(timezone.utc).isoformat() if moment else None


COLUMNS = (
    "tracking_no", "parcel_id", "version", "status", "flags", "facility", "city",
    "last_event", "last_event_at", "last_scan_at", "promised_by", "eta", "next_activity",
    "next_facility", "open_exceptions", "delivered_at", "signed_by", "service_level",
    "customer_tier", "origin", "destination", "manifested", "receiver", "sender", "timeline",
)


class TrackingViewStore(ViewStore):
    name = "tracking"
    tables = ("tracking_view",)
    create_statements = (
        "CREATE TABLE IF NOT EXISTS tracking_view ("
        "tracking_no TEXT PRIMARY KEY, parcel_id TEXT NOT NULL, version INTEGER NOT NULL, "
        "status TEXT NOT NULL, flags TEXT NOT NULL, facility TEXT, city TEXT, "
        "last_event TEXT, last_event_at TEXT, last_scan_at TEXT, promised_by TEXT, eta TEXT, "
        "next_activity TEXT, next_facility TEXT, open_exceptions INTEGER NOT NULL, "
        "delivered_at TEXT, signed_by TEXT, service_level TEXT, customer_tier TEXT, "
        "origin TEXT, destination TEXT, manifested INTEGER NOT NULL, receiver TEXT, "
        "sender TEXT, timeline TEXT NOT NULL)",
        # For detectors: active parcels by how long they have been quiet.
        "CREATE INDEX IF NOT EXISTS tracking_view_status_quiet "
        "ON tracking_view (status, last_scan_at)",
    )

    def write_rows(self, rows: list[dict[str, Any]], tracking: Tracking | None) -> None:
        with self.writing(tracking) as c:
            self.upsert(c, "tracking_view", "tracking_no", COLUMNS, rows)

    def get(self, tracking_no: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM tracking_view WHERE tracking_no = ?", [tracking_no])
        return decode(rows[0]) if rows else None

    def all(self) -> list[dict[str, Any]]:
        return [decode(r) for r in self.query("SELECT * FROM tracking_view ORDER BY tracking_no")]

    def count(self) -> int:
        return int(self.query("SELECT COUNT(*) AS n FROM tracking_view")[0]["n"])


def decode(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the view's JSON shape."""
    out = dict(row)
    for name in ("flags", "receiver", "sender", "timeline"):
        if out.get(name) is not None:
            out[name] = orjson.loads(out[name])
    out["manifested"] = bool(out["manifested"])
    return out


def render(parcel: Parcel, service: ParcelService, opener: Opener) -> dict[str, Any]:
    state = parcel.state
    network = service.network
    manifest = parcel.manifest
    step = next_expected(state, manifest, network)
    last = state.last_event
    timeline = [
        {
            "version": e.version,
            "type": e.kind,
            "occurred_at": e.occurred_at.isoformat(),
            "facility": e.scan.facility if e.scan else None,
            "city": city_name(e.scan.facility, network) if e.scan else None,
            "description": describe(e, network),
            "late": e.late,
            "voided": e.voided,
        }
        for e in state.timeline
    ]
    return {
        "tracking_no": parcel.tracking_no,
        "parcel_id": str(parcel.id),
        "version": parcel.version,
        "status": str(state.status),
        "flags": orjson.dumps(sorted(str(f) for f in state.flags)).decode(),
        "facility": state.location,
        "city": city_name(state.location, network),
        "last_event": last.kind if last else None,
        "last_event_at": utc(last.occurred_at) if last else None,
        "last_scan_at": utc(state.last_scan_at),
        "promised_by": utc(parcel.promised_by),
        "eta": utc(estimate_eta(state, manifest, network, revised=parcel.eta)),
        "next_activity": step.activity if step else None,
        "next_facility": step.facility if step else None,
        "open_exceptions": len(parcel.open_exceptions),
        "delivered_at": utc(state.delivered.at) if state.delivered else None,
        "signed_by": state.delivered.signed_by if state.delivered else None,
        "service_level": str(manifest.service_level) if manifest else None,
        "customer_tier": str(manifest.customer_tier) if manifest else None,
        "origin": manifest.origin if manifest else None,
        "destination": manifest.destination if manifest else None,
        "manifested": int(manifest is not None),
        "receiver": _party(parcel, opener, parcel.receiver_sealed),
        "sender": _party(parcel, opener, manifest.sender_sealed if manifest else None),
        "timeline": orjson.dumps(timeline).decode(),
    }


def _party(parcel: Parcel, opener: Opener, sealed: str | None) -> str | None:
    if sealed is None:
        return None
    return orjson.dumps(opener.open(parcel.id, sealed)).decode()  # masked, or [erased]


class TrackingView(ParcelProjection):
    name = "tracking"
    store = TrackingViewStore

    def __init__(self, view: ViewStore, replica: Replica):
        super().__init__(view, replica)
        self.service = replica.service

    def process_batch(self, events: Any, tracking: Tracking) -> None:
        touched = self.replica.apply(events)
        opener = self.service.personal.opener(list(touched))
        rows = [render(p, self.service, opener) for p in touched.values()]
        assert isinstance(self.view, TrackingViewStore)
        self.view.write_rows(rows, tracking)

