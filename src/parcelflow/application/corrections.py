"""Correcting a recorded scan: void it (it did not happen) or amend it (it said something
else). Used alike by `parcelflow correct` and `POST /v1/parcels/{no}/corrections`.

Nothing is edited or deleted: a correction is an event naming the scan it corrects, who
made it and why. The parcel then tells its story again from the corrected timeline, so
its status, flags and exceptions follow (a void that takes back a misdirected arrival
closes the misdirection; an amendment that moves a scan may open one), and so do the
read models and the notifications, which are built from that story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parcelflow.application.service import ParcelService, plain_tz
from parcelflow.domain.parcel import NotFound, Parcel


class CorrectionRefused(ValueError):
    """A correction asked wrongly (no reason, nothing to change, an unknown facility): the
    request is wrong, whatever the parcel's state."""


@dataclass(frozen=True)
class Correction:
    tracking_no: str
    scan_id: str
    target_version: int  # the corrected scan's event
    version: int  # the correction's own event
    action: str  # "void" or "amend"
    position: int  # the log's head once it was recorded


class Corrections:
    def __init__(self, service: ParcelService):
        self.service = service

    def void(self, tracking_no: str, scan_id: str, *, by: str, reason: str) -> Correction:
        _needs(by, reason)
        now = self.service.clock()

        def act(parcel: Parcel) -> tuple[int, int]:
            target, correction = self._version(parcel, scan_id), parcel.version + 1
            parcel.void(target, reason=reason.strip(), by=by.strip(), recorded_at=now)
            return target, correction

        return self._done(tracking_no, scan_id, "void", act)

    def amend(self, tracking_no: str, scan_id: str, *, by: str, reason: str,
              facility: str | None = None, occurred_at: datetime | None = None,
              next_facility: str | None = None) -> Correction:
        _needs(by, reason)
        if facility is None and occurred_at is None and next_facility is None:
            raise CorrectionRefused("an amendment changes at least one of facility, "
                                    "occurred_at, next_facility")
        now = self.service.clock()

        def act(parcel: Parcel) -> tuple[int, int]:
            target, correction = self._version(parcel, scan_id), parcel.version + 1
            parcel.amend_scan(target, self._changes(facility, occurred_at, next_facility),
                              reason=reason.strip(), by=by.strip(), recorded_at=now)
            return target, correction

        return self._done(tracking_no, scan_id, "amend", act)

    def _changes(self, facility: str | None, occurred_at: datetime | None,
                 next_facility: str | None) -> dict[str, Any]:
        """The amendment's fields, checked against the registry and the clock (once the
        parcel and its scan are known to exist)."""
        changes: dict[str, Any] = {}
        network = self.service.network
        for name, code in (("facility", facility), ("next_facility", next_facility)):
            if code is not None:
                if code not in network.facilities:
                    raise CorrectionRefused(f"{name}: not a facility of the network registry")
                changes[name] = code
        if facility is not None:
            kind = network.kind_of(facility)
            changes["facility_kind"] = str(kind) if kind else None
        if occurred_at is not None:
            if occurred_at.utcoffset() is None:
                raise CorrectionRefused("occurred_at: needs a timezone offset")
            if occurred_at > self.service.clock() + self.service.limits.max_future:
                raise CorrectionRefused("occurred_at: in the future")
            changes["occurred_at"] = plain_tz(occurred_at)
        return changes

    @staticmethod
    def _version(parcel: Parcel, scan_id: str) -> int:
        version = parcel.scan_versions.get(scan_id)
        if version is None:
            raise NotFound(f"{parcel.tracking_no} has no scan {scan_id}")
        return version

    def _done(self, tracking_no: str, scan_id: str, action: str, act: Any) -> Correction:
        target, version = self.service.command(tracking_no, act)
        position = self.service.recorder.max_notification_id() or 0
        return Correction(tracking_no, scan_id, target, version, action, position)


def _needs(by: str, reason: str) -> None:
    if not by.strip():
        raise CorrectionRefused("by: say who makes the correction")
    if not reason.strip():
        raise CorrectionRefused("reason: say why the scan is corrected")
