"""Scans on the Parcel aggregate: every physical fact a scanner reports, recorded once.

A scan id already recorded is a duplicate and changes nothing; what the timeline then
shows (misdirection, anomalies, reported problems) is reconciled with the parcel's
open exceptions by `Parcel.reconcile`.
"""

from __future__ import annotations

from datetime import datetime

from parcelflow.domain.frozen import filled
from parcelflow.domain.parcel_core import ParcelCore, ParcelEvent
from parcelflow.domain.timeline import Scan
from parcelflow.domain.vocabulary import ExceptionCode, FacilityKind, ScanType

_SCAN_TYPES: dict[str, ScanType] = {str(t): t for t in ScanType}
_CODES: dict[str | None, ExceptionCode] = {str(c): c for c in ExceptionCode}
_KINDS: dict[str | None, FacilityKind] = {str(k): k for k in FacilityKind}


class ScanRecorded(ParcelEvent):
    scan_id: str
    scan_type: str
    facility: str
    facility_kind: str | None
    next_facility: str | None
    exception_code: str | None
    attempt_reason: str | None
    signed_by: str | None
    note: str | None

    def on(self, parcel: ParcelCore) -> None:
        # Recorded just now: `record_scans` hands over the Scan it made this event from
        # (the same values: tests/unit/test_parcel.py compares it with a replay); read
        # back from the store, the event makes it again. ~2 us a scan on the ingest path.
        scan = parcel.__dict__.pop("_recording", None)
        if scan is None or scan.scan_id != self.scan_id:
            scan = self.to_scan()
        late = parcel.latest_scan_at is not None and scan.occurred_at < parcel.latest_scan_at
        if parcel.latest_scan_at is None or scan.occurred_at > parcel.latest_scan_at:
            parcel.latest_scan_at = scan.occurred_at
        parcel.scan_versions[self.scan_id] = self.originator_version
        parcel._add_entry(self, self.scan_type, scan=scan, late=late)

    def to_scan(self) -> Scan:
        # Plain dict lookups: Enum(value) calls cost more than the rest of this.
        return filled(Scan, {
            "scan_id": self.scan_id,
            "scan_type": _SCAN_TYPES[self.scan_type],
            "occurred_at": self.occurred_at,
            "facility": self.facility,
            "device_id": self.device_id or "",
            "operator_id": self.operator_id,
            "next_facility": self.next_facility,
            "exception_code": _CODES.get(self.exception_code),
            "attempt_reason": _CODES.get(self.attempt_reason),
            "signed_by": self.signed_by,
            "note": self.note,
            "facility_kind": _KINDS.get(self.facility_kind),
        })


class ScanCommands(ParcelCore):
    """Part of `Parcel`: recording scans."""

    def record_scans(self, scans: list[Scan], *, recorded_at: datetime) -> list[bool]:
        """Record scans; a scan id already recorded is a duplicate and changes nothing.

        Returns, per scan, whether it was recorded (False: duplicate).
        """
        recorded = []
        known = self.scan_versions
        for scan in scans:
            if scan.scan_id in known:  # has_scan
                recorded.append(False)
                continue
            self._recording = scan  # for ScanRecorded.on
            # Every field, in the event's declared order (what `_emit` would assemble).
            self._record(ScanRecorded, {
                "originator_id": self.id,
                "originator_version": self.version + 1,
                "timestamp": recorded_at,
                "occurred_at": scan.occurred_at,
                "recorded_at": recorded_at,
                "device_id": scan.device_id,
                "operator_id": scan.operator_id,
                "previous_hash": self.head_hash,
                "event_hash": "",
                "scan_id": scan.scan_id,
                "scan_type": str(scan.scan_type),
                "facility": scan.facility,
                "facility_kind": str(scan.facility_kind) if scan.facility_kind else None,
                "next_facility": scan.next_facility,
                "exception_code": str(scan.exception_code) if scan.exception_code else None,
                "attempt_reason": str(scan.attempt_reason) if scan.attempt_reason else None,
                "signed_by": scan.signed_by,
                "note": scan.note,
            })
            recorded.append(True)
        if any(recorded):
            self.reconcile(recorded_at)
        return recorded
