"""Scans on the Parcel aggregate: every physical fact a scanner reports, recorded once.

A scan id already recorded is a duplicate and changes nothing; what the timeline then
shows (misdirection, anomalies, reported problems) is reconciled with the parcel's
open exceptions by `Parcel.reconcile`.
"""

from __future__ import annotations

from datetime import datetime

from parcelflow.domain import chain
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
        # Read back from the store (or made by the library's `trigger_event`): the
        # scan made again from the event. `record_scans` applies the scans it records
        # itself, with the Scan it made the event from.
        _take(parcel, self, self.to_scan())

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
        state = self.__dict__
        pending = self._pending_events  # type: ignore[attr-defined]
        for scan in scans:
            if scan.scan_id in known:  # has_scan
                recorded.append(False)
                continue
            # What the library's `trigger_event` does, without its keyword copies, the
            # constructor's setattr per field, `mutate`, `apply` and `on`: every field
            # in the event's declared order (the order of `vars(event)`, stored so),
            # the hash as `ParcelEvent.__post_init__` makes it, then the parcel changed
            # as `mutate` changes it (`originator_id` is the parcel's own, the version
            # the next one). tests/unit/test_parcel.py compares the events and the
            # parcel with those `trigger_event` makes.
            version = state["_version"] + 1
            event = object.__new__(ScanRecorded)
            fields = event.__dict__
            fields.update({
                "originator_id": state["_id"],
                "originator_version": version,
                "timestamp": recorded_at,
                "occurred_at": scan.occurred_at,
                "recorded_at": recorded_at,
                "device_id": scan.device_id,
                "operator_id": scan.operator_id,
                "previous_hash": state["head_hash"],
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
            fields["event_hash"] = event_hash = chain.digest(_TOPIC, fields)
            _take(self, event, scan)  # ScanRecorded.on
            state["head_hash"] = event_hash  # ParcelEvent.apply
            state["_derived"] = None
            state["_version"] = version  # mutate
            state["_modified_on"] = recorded_at
            pending.append(event)
            recorded.append(True)
        if any(recorded):
            self.reconcile(recorded_at)
        return recorded


_TOPIC = ScanRecorded.TOPIC  # what get_topic(ScanRecorded) answers (tests/unit/test_parcel.py)


def _take(parcel: ParcelCore, event: ScanRecorded, scan: Scan) -> None:
    """How a recorded scan changes the parcel (`ScanRecorded.on`)."""
    latest = parcel.latest_scan_at
    occurred_at = scan.occurred_at
    late = latest is not None and occurred_at < latest
    if latest is None or occurred_at > latest:
        parcel.latest_scan_at = occurred_at
    parcel.scan_versions[event.scan_id] = event.originator_version
    parcel._add_entry(event, event.scan_type, scan=scan, late=late)
