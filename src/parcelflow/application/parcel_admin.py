"""Changes staff make to the parcel itself: cancel it, send it to another receiver,
change its promised time or its ETA. One service for the CLI, the API and the staff
pages. A new receiver is personal data, sealed with the parcel's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from parcelflow.application.results import Done
from parcelflow.application.service import ParcelService
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.times import plain_tz

log = structlog.get_logger(__name__)


@dataclass
class ParcelAdmin:
    service: ParcelService

    def cancel(self, tracking_no: str, *, reason: str, by: str) -> Done:
        now = self.service.clock()
        done = self.service.command(tracking_no, lambda p: p.cancel(
            reason=reason, by=by, recorded_at=now))
        log.info("parcel.cancelled", tracking_no=tracking_no)
        return Done(tracking_no, done.position)

    def redirect_receiver(self, tracking_no: str, receiver: dict[str, Any], *, reason: str,
                          by: str) -> Done:
        now = self.service.clock()
        pid = parcel_id(tracking_no)
        sealed = self.service.personal.sealer([pid]).seal(pid, receiver)
        done = self.service.command(tracking_no, lambda p: p.redirect_receiver(
            sealed, reason=reason, by=by, recorded_at=now))
        log.info("parcel.redirected", tracking_no=tracking_no)
        return Done(tracking_no, done.position)

    def change_promised_time(self, tracking_no: str, promised_by: datetime, *, reason: str,
                             by: str) -> Done:
        now = self.service.clock()
        done = self.service.command(tracking_no, lambda p: p.change_promised_time(
            plain_tz(promised_by), reason=reason, by=by, recorded_at=now))
        return Done(tracking_no, done.position)

    def revise_eta(self, tracking_no: str, eta: datetime, *, reason: str, by: str) -> Done:
        now = self.service.clock()
        done = self.service.command(tracking_no, lambda p: p.revise_eta(
            plain_tz(eta), reason=reason, by=by, recorded_at=now))
        return Done(tracking_no, done.position)
