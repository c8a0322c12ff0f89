"""Scans on the Parcel aggregate: every physical fact a scanner reports, recorded once.

A scan id already recorded is a duplicate and changes nothing; what the timeline then
shows (misdirection, anomalies, reported problems) is reconciled with the parcel's
open exceptions by `Parcel.reconcile`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import OriginatorIDError, OriginatorVersionError

from parcelflow.domain import chain
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
        # The scan made again from the event. `mutate` below does this itself (for
        # scans read back, or made by the library's `trigger_event`), and `record_scans`
        # with the Scan it made the event from; this is the `apply` chain's step, which
        # the library's own `mutate` calls (the tests compare the two ways).
        _take(parcel, self, self.to_scan())

    def mutate(self, aggregate: Any) -> Any:
        """The library's `mutate` (its two checks, then `apply`, `version` and
        `modified_on`) without its property setters and the `apply` -> `on` calls: a
        scan read back is most of what a rebuild, a cold load and a follower apply.
        A rebuild's instructions an event: 258,163 against 241,800 (-6%,
        bench/projections.py --parts instructions). The ids are compared by their ints
        (`UUID.__eq__` is Python). tests/unit/test_parcel.py compares the parcel, after
        every event, and the refusals with the library's own `mutate`."""
        if aggregate is None:
            return super().mutate(aggregate)
        state = aggregate.__dict__
        originator_id = self.originator_id
        if originator_id.int != state["_id"].int:
            raise OriginatorIDError(originator_id, state["_id"])
        version = state["_version"] + 1
        if self.originator_version != version:
            raise OriginatorVersionError(self.originator_version, version)
        _take(aggregate, self, self.to_scan())  # on
        state["head_hash"] = self.event_hash  # ParcelEvent.apply
        state["_derived"] = None
        state["_version"] = version
        state["_modified_on"] = self.timestamp
        return aggregate

    def to_scan(self) -> Scan:
        # The Scan as its constructor makes it, filled key by key in field order
        # (domain/frozen.py: instances then share their keys), with plain dict lookups:
        # Enum(value) calls cost more than the rest of this. tests/unit/test_parcel.py
        # compares it with Scan(...).
        fields = self.__dict__
        scan = object.__new__(Scan)
        state = scan.__dict__
        state["scan_id"] = fields["scan_id"]
        state["scan_type"] = _SCAN_TYPES[fields["scan_type"]]
        state["occurred_at"] = fields["occurred_at"]
        state["facility"] = fields["facility"]
        state["device_id"] = fields["device_id"] or ""
        state["operator_id"] = fields["operator_id"]
        state["next_facility"] = fields["next_facility"]
        state["exception_code"] = _CODES.get(fields["exception_code"])
        state["attempt_reason"] = _CODES.get(fields["attempt_reason"])
        state["signed_by"] = fields["signed_by"]
        state["note"] = fields["note"]
        state["facility_kind"] = _KINDS.get(fields["facility_kind"])
        return scan


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
