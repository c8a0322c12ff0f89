"""Corrections, as auditors and supervisors make them: void a scan that did not happen,
amend one that said something else. One service for `parcelflow correct`,
`POST /v1/parcels/{no}/corrections` and the staff pages; the scan is named by its
`scan_id`, as its scanner sent it.

Nothing is edited or deleted: a correction is an event naming the scan it corrects, who
made it and why (GS1 EPCIS error declarations work this way). The parcel then tells its
story again from the corrected timeline, so its status, flags and exceptions follow (a
void that takes back a misdirected arrival closes the misdirection; an amendment that
moves a scan may open one), and so do the read models and the notifications, which are
built from that story.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from parcelflow.application.results import Done
from parcelflow.application.service import ParcelService
from parcelflow.domain.errors import NotFound
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.times import plain_tz

log = structlog.get_logger(__name__)


class CorrectionRefused(ValueError):
    """A correction asked wrongly (no reason, nothing to change, an unknown facility): the
    request is wrong, whatever the parcel's state."""


@dataclass(frozen=True)
class Correction(Done):
    """A correction recorded: the log position is that of the last event it wrote (the
    correction, or what the corrected story raised or closed after it)."""

    scan_id: str
    target_version: int  # the corrected scan's event
    version: int  # the correction's own event
    action: str  # "void" or "amend"


@dataclass
class Corrections:
    service: ParcelService

    def void(self, tracking_no: str, scan_id: str, *, by: str, reason: str) -> Correction:
        """The scan did not happen."""
        _needs(by, reason)
        now = self.service.clock()
        return self._record(tracking_no, scan_id, "void", lambda parcel, target: parcel.void(
            target, reason=reason.strip(), by=by.strip(), recorded_at=now))

    def amend(self, tracking_no: str, scan_id: str, *, by: str, reason: str,
              facility: str | None = None, occurred_at: datetime | None = None,
              next_facility: str | None = None) -> Correction:
        """The scan said something else: these fields (a new facility brings its kind
        from the network registry)."""
        _needs(by, reason)
        if facility is None and occurred_at is None and next_facility is None:
            raise CorrectionRefused("an amendment changes at least one of facility, "
                                    "occurred_at, next_facility")
        now = self.service.clock()

        def act(parcel: Parcel, target: int) -> None:
            parcel.amend_scan(target, self._changes(facility, occurred_at, next_facility),
                              reason=reason.strip(), by=by.strip(), recorded_at=now)

        return self._record(tracking_no, scan_id, "amend", act)

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

    def _record(self, tracking_no: str, scan_id: str, action: str,
                act: Callable[[Parcel, int], None]) -> Correction:
        def run(parcel: Parcel) -> tuple[int, int]:
            target = parcel.scan_versions.get(scan_id)
            if target is None:
                raise NotFound(f"{parcel.tracking_no} has no scan {scan_id}")
            version = parcel.version + 1  # the correction is the first event it records
            act(parcel, target)
            return target, version

        done = self.service.command(tracking_no, run)
        target, version = done.value
        log.info(f"scan.{'voided' if action == 'void' else 'amended'}",
                 tracking_no=tracking_no, version=target)
        return Correction(tracking_no, done.position, scan_id, target, version, action)


def _needs(by: str, reason: str) -> None:
    if not by.strip():
        raise CorrectionRefused("by: say who makes the correction")
    if not reason.strip():
        raise CorrectionRefused("reason: say why the scan is corrected")
