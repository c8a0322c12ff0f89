"""Customer complaints, as staff handle them: file, close, show. One service for the
CLI, the API and the staff pages.

A complaint is filed in the customer's own words, which are sealed with the parcel's key
(never stored in a read model, never logged), and linked to the exceptions it is about;
the reason staff record when they close one is sealed the same way.
It raises its own `complaint` exception (owner, clock, queue) and closes with the
customer's confirmation or a recorded reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from parcelflow.application.results import Step
from parcelflow.application.service import ParcelService
from parcelflow.domain import sla
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.vocabulary import Channel, ComplaintCategory, Outcome

log = structlog.get_logger(__name__)


@dataclass
class Complaints:
    service: ParcelService

    def file(self, tracking_no: str, category: ComplaintCategory, channel: Channel, *,
             words: str | None, by: str, links: list[str] | None = None,
             reference: str | None = None) -> Step:
        """File a complaint in the customer's own words (sealed), linked to the given
        exceptions (ids, prefixes or codes) or to those its category is about. Filed
        again with the same `reference`, it answers with the first one."""
        sealed = self.service.personal.seal_text(parcel_id(tracking_no), words)
        now = self.service.clock()

        def run(parcel: Parcel) -> str:
            ids = None if links is None else [parcel.find_exception(ref).exception_id
                                              for ref in links]
            return parcel.file_complaint(category, channel, words_sealed=sealed, by=by,
                                         recorded_at=now, links=ids, reference=reference)

        done = self.service.command(tracking_no, run)
        log.info("complaint.filed", tracking_no=tracking_no, complaint_id=done.value,
                 category=str(category), channel=str(channel))
        return Step(tracking_no, done.position, done.value)

    def close(self, tracking_no: str, ref: str, outcome: Outcome, *, by: str,
              customer_confirmed: bool = False, reason: str | None = None) -> Step:
        reason = self.service.personal.seal_text(parcel_id(tracking_no), reason)
        now = self.service.clock()

        def run(parcel: Parcel) -> str:
            complaint = parcel.find_complaint(ref)
            parcel.close_complaint(complaint.complaint_id, outcome, by=by, recorded_at=now,
                                   customer_confirmed=customer_confirmed, reason=reason)
            return complaint.complaint_id

        done = self.service.command(tracking_no, run)
        log.info("complaint.closed", tracking_no=tracking_no, complaint_id=done.value,
                 outcome=str(outcome), customer_confirmed=customer_confirmed)
        return Step(tracking_no, done.position, done.value)

    def show(self, tracking_no: str, ref: str, *, reveal: bool = False) -> dict[str, Any]:
        """One complaint (the customer's words and the closing reason sealed unless
        `reveal`)."""
        parcel = self.service.get(tracking_no)
        c = parcel.find_complaint(ref)
        # Its exception's resolution clock, as the queue and the cases view read it.
        due = sla.clocks(parcel.exceptions[c.exception_id], parcel.customer_tier,
                         self.service.policy).resolution_due
        pid = parcel_id(tracking_no)
        return {
            "complaint_id": c.complaint_id, "tracking_no": tracking_no,
            "exception_id": c.exception_id, "channel": str(c.channel),
            "category": str(c.category),
            "words": self.service.personal.open_text(pid, c.words_sealed, reveal=reveal),
            "links": list(c.links), "reference": c.reference, "filed_at": c.filed_at.isoformat(),
            "filed_by": c.filed_by, "due": due.isoformat() if due else None,
            "status": str(c.status),
            "closed_at": c.closed_at.isoformat() if c.closed_at else None,
            "outcome": str(c.outcome) if c.outcome else None,
            "customer_confirmed": c.customer_confirmed,
            "closing_reason": self.service.personal.open_text(pid, c.closing_reason,
                                                              reveal=reveal),
        }
