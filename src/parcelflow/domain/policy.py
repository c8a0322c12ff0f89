"""Service-level policy: the carrier's numbers, with the customer-service manuals' defaults.

These are policy, not facts: every one can be changed in settings. Nothing else in the
code base writes one of these numbers down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from parcelflow.domain.vocabulary import (
    CustomerTier,
    ExceptionCode,
    ServiceLevel,
    Severity,
    Status,
)


@dataclass(frozen=True)
class Clock:
    first_response: timedelta
    resolution: timedelta


def _default_clocks() -> dict[CustomerTier, Clock]:
    return {
        CustomerTier.STANDARD: Clock(timedelta(hours=1), timedelta(hours=24)),
        CustomerTier.VIP: Clock(timedelta(minutes=30), timedelta(hours=12)),
    }


def _default_stall_after() -> dict[ServiceLevel, timedelta]:
    return {
        ServiceLevel.SAME_DAY: timedelta(hours=24),
        ServiceLevel.EXPRESS: timedelta(hours=24),
        ServiceLevel.STANDARD: timedelta(hours=48),
        ServiceLevel.ECONOMY: timedelta(hours=72),
    }


def _default_stall_after_status() -> dict[Status, timedelta]:
    # Statuses whose own rhythm beats the service level's: a courier round does not
    # last a day, and customs clearance takes days whatever was paid for.
    return {
        Status.OUT_FOR_DELIVERY: timedelta(hours=24),
        Status.IN_CUSTOMS: timedelta(hours=72),
    }


# Where a parcel is expected to move on: only there can it stall or go missing.
MOVING = frozenset({
    Status.PICKED_UP, Status.AT_FACILITY, Status.IN_TRANSIT, Status.IN_CUSTOMS,
    Status.OUT_FOR_DELIVERY, Status.DELIVERY_FAILED, Status.RETURNING,
})
# Where the carrier still owes the receiver a delivery by the promised time. A parcel
# waiting at a pickup point has arrived; one going back to its sender has no promise.
OWING_DELIVERY = frozenset({
    Status.PICKED_UP, Status.AT_FACILITY, Status.IN_TRANSIT, Status.IN_CUSTOMS,
    Status.OUT_FOR_DELIVERY, Status.DELIVERY_FAILED,
})


@dataclass(frozen=True)
class Policy:
    # First response and closure for customer-facing exceptions, by customer tier.
    clocks: dict[CustomerTier, Clock] = field(default_factory=_default_clocks)
    # Internal (not customer-facing) exceptions run on a slower clock per severity.
    internal_resolution: dict[Severity, timedelta] = field(
        default_factory=lambda: {
            Severity.LOW: timedelta(hours=72),
            Severity.MEDIUM: timedelta(hours=48),
            Severity.HIGH: timedelta(hours=24),
            Severity.CRITICAL: timedelta(hours=12),
        }
    )
    complaint_resolution: timedelta = timedelta(days=7)
    stall_after: dict[ServiceLevel, timedelta] = field(default_factory=_default_stall_after)
    stall_after_status: dict[Status, timedelta] = field(
        default_factory=_default_stall_after_status)
    stall_statuses: frozenset[Status] = MOVING
    complete_delay: timedelta = timedelta(days=7)  # silent this long: declared lost
    lost_statuses: frozenset[Status] = MOVING
    pickup_hold: timedelta = timedelta(days=3)  # at a pickup point before pickup_missed
    delay_statuses: frozenset[Status] = OWING_DELIVERY
    # A late parcel whose route gives no estimate gets this long from now as its ETA.
    delayed_eta_fallback: timedelta = timedelta(hours=24)
    # Who hears about a missed SLA clock (the exception's assignee keeps it).
    escalation_team: str = "cs_supervisors"
    # Compensation: insured parcels up to the declared value; uninsured ones the lesser
    # of the claimed loss and this multiple of the postage.
    uninsured_postage_multiple: Decimal = Decimal(3)
    money_quantum: Decimal = Decimal("0.01")  # CNY fen

    def complaint_due(self, filed_at: datetime) -> datetime:
        """When a complaint filed at `filed_at` must be settled."""
        return filed_at + self.complaint_resolution

    def stall_limit(self, level: ServiceLevel | None, status: Status) -> timedelta:
        """How long a parcel of this service level may go without a scan in `status`.
        A parcel without a manifest is held to the standard level."""
        if status in self.stall_after_status:
            return self.stall_after_status[status]
        return self.stall_after[level or ServiceLevel.STANDARD]

    def windows(self, *, code: ExceptionCode, severity: Severity, customer_facing: bool,
                tier: CustomerTier) -> tuple[timedelta | None, timedelta]:
        """How long an exception may wait for its first response (None: internal, no
        customer waiting) and for its resolution."""
        clock = self.clocks[tier]
        if code == ExceptionCode.COMPLAINT:
            return clock.first_response, self.complaint_resolution
        if customer_facing:
            return clock.first_response, clock.resolution
        return None, self.internal_resolution[severity]

    def due(self, *, code: ExceptionCode, severity: Severity, customer_facing: bool,
            tier: CustomerTier, raised_at: datetime) -> tuple[datetime | None, datetime]:
        """When an exception raised at `raised_at` needs its first response and its
        resolution."""
        first, resolution = self.windows(code=code, severity=severity,
                                         customer_facing=customer_facing, tier=tier)
        return (raised_at + first if first is not None else None), raised_at + resolution
