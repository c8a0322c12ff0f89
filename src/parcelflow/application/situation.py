"""What a customer who proved their phone needs to know beyond the tracking view: what
went wrong, what happens next, the pickup code, and their complaints on the clock.

Read from the parcel in the store (one read), not from a read model: the pickup code
comes from the parcel's own key, and a complaint just filed must show at once
(read-your-writes). Nothing personal is returned: codes, places, times and states.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parcelflow.application.service import ParcelService
from parcelflow.domain import sla
from parcelflow.domain.vocabulary import ExceptionCode, ScanType, Status


@dataclass(frozen=True)
class ComplaintState:
    complaint_id: str
    category: str
    filed_at: datetime
    # The resolution clock's due time (business time where policy says); None while
    # the complaint waits on the customer.
    due: datetime | None
    status: str
    closed_at: datetime | None


@dataclass(frozen=True)
class Situation:
    problems: tuple[str, ...]  # codes of open customer-facing exceptions, oldest first
    attempt_reason: str | None  # the failed delivery attempt's reason, while it stands
    failed_attempts: int
    pickup_point: str | None  # facility code, while waiting there
    pickup_code: str | None
    collect_by: datetime | None  # the pickup point's hold ends
    complaints: tuple[ComplaintState, ...]


def situation(service: ParcelService, tracking_no: str) -> Situation:
    """Raises ParcelNotFound when nothing is recorded for the number."""
    parcel = service.get(tracking_no)
    state = parcel.state
    scans = [e.scan for e in state.physical if e.scan is not None]
    attempt = next((s for s in reversed(scans) if s.scan_type == ScanType.DELIVERY_ATTEMPT),
                   None)
    held = next((s for s in reversed(scans) if s.scan_type == ScanType.HELD_AT_PICKUP_POINT),
                None)
    waiting = state.status == Status.AWAITING_PICKUP and held is not None
    problems = tuple(str(r.code) for r in sorted(parcel.open_exceptions,
                                                 key=lambda r: r.raised_at)
                     if r.customer_facing and r.code != ExceptionCode.COMPLAINT)
    policy = service.policy
    return Situation(
        problems=tuple(dict.fromkeys(problems)),
        attempt_reason=str(attempt.attempt_reason) if state.status == Status.DELIVERY_FAILED
        and attempt is not None and attempt.attempt_reason else None,
        failed_attempts=state.failed_attempts,
        pickup_point=held.facility if waiting and held else None,
        pickup_code=service.personal.pickup_code(parcel.id, held.scan_id)
        if waiting and held else None,
        collect_by=held.occurred_at + policy.pickup_hold if waiting and held else None,
        complaints=tuple(
            # The due time the staff see (projections.cases): the complaint's own
            # exception's resolution clock, in its team's calendar, paused while waiting.
            ComplaintState(c.complaint_id, str(c.category), c.filed_at,
                           sla.clocks(parcel.exceptions[c.exception_id], parcel.customer_tier,
                                      policy).resolution_due, str(c.status), c.closed_at)
            for c in sorted(parcel.complaints.values(), key=lambda c: c.filed_at)),
    )
