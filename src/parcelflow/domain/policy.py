"""Service-level policy: the carrier's numbers, with the customer-service manuals' defaults.

These are policy, not facts: every one can be changed in settings. Nothing else in the
code base writes one of these numbers down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from parcelflow.domain.business_hours import Pause, TeamCalendar, TimeBasis, deadline, office_hours
from parcelflow.domain.vocabulary import (
    CustomerTier,
    ExceptionCode,
    ServiceLevel,
    Severity,
    Status,
    Term,
)


@dataclass(frozen=True)
class Clock:
    first_response: timedelta
    resolution: timedelta


class ClockKind(Term):
    """The clocks policy sets, each counting calendar or business time."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"  # of a customer-facing exception
    INTERNAL_RESOLUTION = "internal_resolution"
    COMPLAINT_RESOLUTION = "complaint_resolution"
    FOLLOW_UP = "follow_up"


@dataclass(frozen=True)
class Window:
    kind: ClockKind
    length: timedelta


def _default_basis() -> dict[ClockKind, TimeBasis]:
    # The exception clocks count calendar time, as they always did (a changed basis
    # moves every stored exception's due times, and each new due time can be breached
    # again); the complaint clock is the regulation's 7 calendar days; a follow-up call
    # is made in the service centre's working hours.
    basis = {kind: TimeBasis.CALENDAR for kind in ClockKind}
    basis[ClockKind.FOLLOW_UP] = TimeBasis.BUSINESS
    return basis


DEFAULT_CALENDAR = "default"


def _default_calendars() -> dict[str, TeamCalendar]:
    # Office hours in the network's zone; the holidays come from settings (the adapters
    # read a maintained package), so the bare default has none.
    return {DEFAULT_CALENDAR: TeamCalendar(DEFAULT_CALENDAR, "Asia/Shanghai",
                                           office_hours("09:00-18:00"))}


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
    # Business time: what each clock counts, and each team's working calendar (a team
    # without one of its own works to the `default` calendar).
    basis: dict[ClockKind, TimeBasis] = field(default_factory=_default_basis)
    calendars: dict[str, TeamCalendar] = field(default_factory=_default_calendars)
    follow_up_within: timedelta = timedelta(hours=24)
    follow_up_team: str = "customer_service"  # whose calendar the follow-up clock reads
    follow_up_attempts: int = 3  # unanswered calls before a follow-up is closed unreached
    # Satisfaction: a rating at most this low makes a complaint-level follow-up due,
    # within this (on the follow-up clock's basis).
    low_rating_at_most: int = 2
    complaint_follow_up_within: timedelta = timedelta(hours=4)

    def follow_up_due(self, since: datetime, *, complaint_level: bool = False) -> datetime:
        length = self.complaint_follow_up_within if complaint_level else self.follow_up_within
        due = self.due(Window(ClockKind.FOLLOW_UP, length), team=self.follow_up_team,
                       start=since)
        assert due is not None  # nothing pauses a follow-up
        return due

    def stall_limit(self, level: ServiceLevel | None, status: Status) -> timedelta:
        """How long a parcel of this service level may go without a scan in `status`.
        A parcel without a manifest is held to the standard level."""
        if status in self.stall_after_status:
            return self.stall_after_status[status]
        return self.stall_after[level or ServiceLevel.STANDARD]

    def windows(self, *, code: ExceptionCode, severity: Severity, customer_facing: bool,
                tier: CustomerTier) -> tuple[Window | None, Window]:
        """How long an exception may wait for its first response (None: internal, no
        customer waiting) and for its resolution."""
        clock = self.clocks[tier]
        first = Window(ClockKind.FIRST_RESPONSE, clock.first_response)
        if code == ExceptionCode.COMPLAINT:
            return first, Window(ClockKind.COMPLAINT_RESOLUTION, self.complaint_resolution)
        if customer_facing:
            return first, Window(ClockKind.RESOLUTION, clock.resolution)
        return None, Window(ClockKind.INTERNAL_RESOLUTION, self.internal_resolution[severity])

    def calendar_for(self, team: str) -> TeamCalendar:
        return self.calendars.get(team) or self.calendars[DEFAULT_CALENDAR]

    def due(self, window: Window, *, team: str, start: datetime,
            pauses: tuple[Pause, ...] = ()) -> datetime | None:
        """When a clock started at `start` for `team` runs out, in the time its kind
        counts, paused stretches left out (None: paused now, no due time)."""
        business = self.basis[window.kind] == TimeBasis.BUSINESS
        return deadline(start, window.length, pauses=pauses,
                        calendar=self.calendar_for(team) if business else None)
