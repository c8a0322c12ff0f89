"""Corrections, as auditors make them: void a scan that did not happen, amend one that
said something else. One service for the CLI, the API and the staff pages.

Nothing is edited or deleted: each correction is an event pointing at the scan it
corrects (GS1 EPCIS error declarations work this way), and the parcel's story is told
again with it — exceptions the scan raised are closed, new ones raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from parcelflow.application.results import Done
from parcelflow.application.service import ParcelService

log = structlog.get_logger(__name__)


@dataclass
class Corrections:
    service: ParcelService

    def void(self, tracking_no: str, version: int, *, reason: str, by: str) -> Done:
        """The scan recorded as event `version` did not happen."""
        now = self.service.clock()
        done = self.service.command(tracking_no, lambda p: p.void(
            version, reason=reason, by=by, recorded_at=now))
        log.info("scan.voided", tracking_no=tracking_no, version=version)
        return Done(tracking_no, done.position)

    def amend(self, tracking_no: str, version: int, changes: dict[str, Any], *, reason: str,
              by: str) -> Done:
        """The scan recorded as event `version` said something else: these fields. A new
        facility brings its kind from the network registry."""
        now = self.service.clock()
        if "facility" in changes and "facility_kind" not in changes:
            kind = self.service.network.kind_of(changes["facility"])
            changes = {**changes, "facility_kind": str(kind) if kind else None}
        done = self.service.command(tracking_no, lambda p: p.amend_scan(
            version, changes, reason=reason, by=by, recorded_at=now))
        log.info("scan.amended", tracking_no=tracking_no, version=version,
                 fields=sorted(changes))
        return Done(tracking_no, done.position)
