"""Erasure: destroying a parcel's personal data for good, on request. One service for
the CLI, the API and the staff pages.

The parcel's data key is destroyed, so everything sealed with it — names, phones,
addresses, complaints, call summaries, in every event, backup and replica — reads
`[erased]` from then on; the events stay and the hash chain still verifies. The key goes
first: if recording the erasure then failed, the data would still be gone, and asking
again records it.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from parcelflow.application.results import Done
from parcelflow.application.service import ParcelService
from parcelflow.domain.ids import parcel_id

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Erased(Done):
    key_destroyed: bool  # False: there was nothing left to erase (already erased)


@dataclass
class Erasure:
    service: ParcelService

    def erase(self, tracking_no: str, *, by: str, reason: str = "erasure request") -> Erased:
        self.service.get(tracking_no)  # refuse unknown tracking numbers before destroying anything
        destroyed = self.service.personal.erase(parcel_id(tracking_no))
        now = self.service.clock()
        done = self.service.command(tracking_no, lambda p: p.record_erasure(
            reason=reason, by=by, recorded_at=now))
        log.info("parcel.erased", tracking_no=tracking_no, key_destroyed=destroyed)
        return Erased(tracking_no, done.position, destroyed)
