"""Service-level policy: the carrier's numbers, with the customer-service manuals' defaults.

These are policy, not facts: every one can be changed in settings. Nothing else in the
code base writes one of these numbers down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from parcelflow.domain.vocabulary import CustomerTier, ExceptionCode, ServiceLevel, Severity


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
    complete_delay: timedelta = timedelta(days=7)  # silent this long: declared lost
    pickup_hold: timedelta = timedelta(days=3)  # at a pickup point before pickup_missed
    uninsured_postage_multiple: Decimal = Decimal(3)

    def due(self, *, code: ExceptionCode, severity: Severity, customer_facing: bool,
            tier: CustomerTier, raised_at: datetime) -> tuple[datetime | None, datetime]:
        """When an exception needs its first response (None: internal, no customer
        waiting) and its resolution."""
        clock = self.clocks[tier]
        if code == ExceptionCode.COMPLAINT:
            return raised_at + clock.first_response, raised_at + self.complaint_resolution
        if customer_facing:
            return raised_at + clock.first_response, raised_at + clock.resolution
        return None, raised_at + self.internal_resolution[severity]
