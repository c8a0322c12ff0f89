"""The carrier's vocabulary, in one place: statuses, flags, scan types, exception codes.

Every other module reads these tables; nothing else spells a status or a code as a
literal it decides on. Change a rule here and it changes everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Term(StrEnum):
    """A word of the vocabulary: an enum that hashes like its string value.

    Enum's own hash is a Python-level method, paid on every dict and set lookup keyed
    by a member — and the fold and the rule tables do little else. str's hash agrees
    with StrEnum's equality (a member equals its value), so nothing else changes.
    """

    __hash__ = str.__hash__


class Status(Term):
    REGISTERED = "registered"
    PICKED_UP = "picked_up"
    AT_FACILITY = "at_facility"
    IN_TRANSIT = "in_transit"
    IN_CUSTOMS = "in_customs"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    AWAITING_PICKUP = "awaiting_pickup"
    DELIVERED = "delivered"
    RETURNING = "returning"
    RETURNED = "returned"
    LOST = "lost"
    CANCELLED = "cancelled"
    DISPOSED = "disposed"


# `lost` is terminal only until a later scan finds the parcel, so it is not listed.
TERMINAL_STATUSES = frozenset(
    {Status.DELIVERED, Status.RETURNED, Status.CANCELLED, Status.DISPOSED}
)
# Handed over at the end of its journey: to its receiver, or back to its sender.
HANDED_OVER_STATUSES = frozenset({Status.DELIVERED, Status.RETURNED})


class Flag(Term):
    DAMAGED = "damaged"
    MISDIRECTED = "misdirected"
    DELAYED = "delayed"
    ON_HOLD = "on_hold"


class ScanType(Term):
    PICKUP = "pickup"
    ARRIVAL = "arrival"
    SORT = "sort"
    DEPARTURE = "departure"
    CUSTOMS_HOLD = "customs_hold"
    CUSTOMS_RELEASE = "customs_release"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_ATTEMPT = "delivery_attempt"
    DELIVERED = "delivered"
    HELD_AT_PICKUP_POINT = "held_at_pickup_point"
    PICKED_UP_BY_RECIPIENT = "picked_up_by_recipient"
    RETURN_TO_SENDER = "return_to_sender"
    EXCEPTION = "exception"


@dataclass(frozen=True)
class ScanRule:
    """What a scan type does to a parcel, and what it carries."""

    status: Status | None  # the status it moves the parcel to (None: leaves it)
    rank: int  # lifecycle order, breaks ties between scans with equal occurred_at
    description: str
    # A hand-over attempt: it needs the parcel to have been scanned before, and a
    # cancelled parcel takes none (every other scan still comes, on the way back).
    is_delivery: bool = False
    carries: frozenset[str] = frozenset()  # the type-specific fields it may carry
    requires: str | None = None  # the one of them it must carry


# The scan fields that belong to some scan types only (`ScanRule.carries`).
TYPE_SPECIFIC_FIELDS = ("next_facility", "exception_code", "attempt_reason", "signed_by")
_NEXT = frozenset({"next_facility"})
_SIGNED = frozenset({"signed_by"})

SCAN_RULES: dict[ScanType, ScanRule] = {
    ScanType.PICKUP: ScanRule(Status.PICKED_UP, 10, "Picked up from the sender"),
    ScanType.ARRIVAL: ScanRule(Status.AT_FACILITY, 20, "Arrived at facility"),
    ScanType.CUSTOMS_HOLD: ScanRule(Status.IN_CUSTOMS, 25, "Held by customs"),
    ScanType.CUSTOMS_RELEASE: ScanRule(Status.AT_FACILITY, 26, "Released by customs"),
    ScanType.SORT: ScanRule(Status.AT_FACILITY, 30, "Sorted", carries=_NEXT),
    ScanType.EXCEPTION: ScanRule(
        None, 35, "Exception reported", carries=frozenset({"exception_code"}),
        requires="exception_code",
    ),
    ScanType.DEPARTURE: ScanRule(Status.IN_TRANSIT, 40, "Departed facility", carries=_NEXT),
    ScanType.RETURN_TO_SENDER: ScanRule(Status.RETURNING, 45, "Returning to sender"),
    ScanType.OUT_FOR_DELIVERY: ScanRule(
        Status.OUT_FOR_DELIVERY, 50, "Out for delivery", is_delivery=True
    ),
    ScanType.DELIVERY_ATTEMPT: ScanRule(
        Status.DELIVERY_FAILED, 60, "Delivery attempt failed", is_delivery=True,
        carries=frozenset({"attempt_reason"}), requires="attempt_reason",
    ),
    ScanType.HELD_AT_PICKUP_POINT: ScanRule(
        Status.AWAITING_PICKUP, 65, "Waiting at pickup point", is_delivery=True
    ),
    ScanType.DELIVERED: ScanRule(
        Status.DELIVERED, 70, "Delivered", is_delivery=True, carries=_SIGNED,
        requires="signed_by",
    ),
    ScanType.PICKED_UP_BY_RECIPIENT: ScanRule(
        Status.DELIVERED, 75, "Collected by the recipient", is_delivery=True, carries=_SIGNED
    ),
}


@dataclass(frozen=True)
class CbvStep:
    """A scan as GS1's Core Business Vocabulary (CBV 2.0) says it, for EPCIS exports."""

    biz_step: str
    disposition: str | None
    stays: bool  # the parcel is at the scan's place afterwards: it is the bizLocation too
    by_code: tuple[tuple[str, str], ...] = ()  # (exception code, disposition) of a report

    def disposition_for(self, code: str | None) -> str | None:
        return dict(self.by_code).get(code or "", self.disposition)


# Where CBV has no word for what a scan is (a failed delivery, a return), the nearest
# standard step is used and the carrier's own scan type travels beside it in the event
# (`parcelflow:scanType`). Exception scans take their disposition from the code reported.
CBV_STEPS: dict[ScanType, CbvStep] = {
    ScanType.PICKUP: CbvStep("accepting", "in_progress", True),
    ScanType.ARRIVAL: CbvStep("arriving", "in_progress", True),
    ScanType.SORT: CbvStep("staging_outbound", "in_progress", True),
    ScanType.DEPARTURE: CbvStep("departing", "in_transit", False),
    ScanType.CUSTOMS_HOLD: CbvStep("holding", "in_progress", True),
    ScanType.CUSTOMS_RELEASE: CbvStep("inspecting", "in_progress", True),
    ScanType.OUT_FOR_DELIVERY: CbvStep("transporting", "in_transit", False),
    ScanType.DELIVERY_ATTEMPT: CbvStep("other", "in_progress", True),
    ScanType.DELIVERED: CbvStep("receiving", None, False),
    ScanType.HELD_AT_PICKUP_POINT: CbvStep("storing", "in_progress", True),
    ScanType.PICKED_UP_BY_RECIPIENT: CbvStep("receiving", None, False),
    ScanType.RETURN_TO_SENDER: CbvStep("other", "returned", True),
    ScanType.EXCEPTION: CbvStep("inspecting", None, True, (("damaged", "damaged"),)),
}


class Fact(Term):
    """A line of a parcel's timeline that is not a scan: something else it was told."""

    REGISTERED = "registered"
    MANIFEST_ATTACHED = "manifest_attached"
    EXCEPTION_RAISED = "exception_raised"
    EXCEPTION_RESOLVED = "exception_resolved"
    EXCEPTION_REOPENED = "exception_reopened"
    CORRECTION = "correction"
    CANCELLED = "cancelled"
    DISPOSED = "disposed"
    RECEIVER_REDIRECTED = "receiver_redirected"
    PROMISED_TIME_CHANGED = "promised_time_changed"
    ETA_REVISED = "eta_revised"
    PERSONAL_DATA_ERASED = "personal_data_erased"


@dataclass(frozen=True)
class FactRule:
    description: str  # in a timeline line (exceptions and corrections add their details)
    rank: int = 90  # sorts among scans at the same instant as ScanRule.rank does


FACT_RULES: dict[Fact, FactRule] = {
    Fact.REGISTERED: FactRule("Shipment information received", 0),
    Fact.MANIFEST_ATTACHED: FactRule("Shipment information received (after the first scan)", 1),
    Fact.EXCEPTION_RAISED: FactRule("Exception"),
    Fact.EXCEPTION_RESOLVED: FactRule("Exception closed"),
    Fact.EXCEPTION_REOPENED: FactRule("Exception reopened"),
    Fact.CORRECTION: FactRule("Correction"),
    Fact.CANCELLED: FactRule("Shipment cancelled", 80),
    Fact.DISPOSED: FactRule("Parcel disposed of", 85),
    Fact.RECEIVER_REDIRECTED: FactRule("Delivery address changed"),
    Fact.PROMISED_TIME_CHANGED: FactRule("Promised delivery time changed"),
    Fact.ETA_REVISED: FactRule("Estimated delivery time revised"),
    Fact.PERSONAL_DATA_ERASED: FactRule("Personal data erased on request"),
}


class Actor(Term):
    """Who must act on an exception."""

    NETWORK_OPS = "network_ops"
    HUB = "hub"
    CUSTOMER_SERVICE = "customer_service"
    CUSTOMER = "customer"
    SHIPPER = "shipper"


class Severity(Term):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


class ExceptionCode(Term):
    DAMAGED = "damaged"
    LOST = "lost"
    DELAYED = "delayed"
    STALLED = "stalled"
    MISDIRECTED = "misdirected"
    ADDRESS_ISSUE = "address_issue"
    RECIPIENT_ABSENT = "recipient_absent"
    REFUSED = "refused"
    CUSTOMS_DOCUMENTS = "customs_documents"
    HELD_FOR_PAYMENT = "held_for_payment"
    PICKUP_MISSED = "pickup_missed"
    PROHIBITED_ITEM = "prohibited_item"
    WEATHER = "weather"
    SCAN_ANOMALY = "scan_anomaly"
    UNMANIFESTED = "unmanifested"
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class ExceptionRule:
    severity: Severity
    team: Actor  # the team that must act
    customer_facing: bool  # is the customer told proactively
    description: str
    flag: Flag | None = None  # the flag an open exception of this code sets
    cleared_by_later_scan: bool = False  # a scan after it means it no longer holds
    closed_by_delivery: bool = False  # a delivery settles it


EXCEPTION_RULES: dict[ExceptionCode, ExceptionRule] = {
    ExceptionCode.DAMAGED: ExceptionRule(
        Severity.HIGH, Actor.HUB, True, "Parcel damaged", Flag.DAMAGED
    ),
    ExceptionCode.LOST: ExceptionRule(
        Severity.CRITICAL, Actor.NETWORK_OPS, True, "Parcel lost",
        cleared_by_later_scan=True,
    ),
    ExceptionCode.DELAYED: ExceptionRule(
        Severity.MEDIUM, Actor.NETWORK_OPS, True,
        "Parcel behind its promised time", Flag.DELAYED, closed_by_delivery=True,
    ),
    ExceptionCode.STALLED: ExceptionRule(
        Severity.MEDIUM, Actor.NETWORK_OPS, False,
        "No scan for too long", cleared_by_later_scan=True, closed_by_delivery=True,
    ),
    ExceptionCode.MISDIRECTED: ExceptionRule(
        Severity.MEDIUM, Actor.HUB, False,
        "Arrived where the route did not expect", Flag.MISDIRECTED, closed_by_delivery=True,
    ),
    ExceptionCode.ADDRESS_ISSUE: ExceptionRule(
        Severity.HIGH, Actor.CUSTOMER, True,
        "Address incomplete or wrong", Flag.ON_HOLD, closed_by_delivery=True,
    ),
    ExceptionCode.RECIPIENT_ABSENT: ExceptionRule(
        Severity.LOW, Actor.CUSTOMER, True, "Recipient not available",
        closed_by_delivery=True,
    ),
    ExceptionCode.REFUSED: ExceptionRule(
        Severity.MEDIUM, Actor.SHIPPER, True, "Recipient refused the parcel"
    ),
    ExceptionCode.CUSTOMS_DOCUMENTS: ExceptionRule(
        Severity.HIGH, Actor.CUSTOMER, True,
        "Customs needs documents", Flag.ON_HOLD,
    ),
    ExceptionCode.HELD_FOR_PAYMENT: ExceptionRule(
        Severity.MEDIUM, Actor.CUSTOMER, True,
        "Held until a payment is made", Flag.ON_HOLD, closed_by_delivery=True,
    ),
    ExceptionCode.PICKUP_MISSED: ExceptionRule(
        Severity.LOW, Actor.CUSTOMER, True,
        "Not collected from the pickup point in time",
    ),
    ExceptionCode.PROHIBITED_ITEM: ExceptionRule(
        Severity.HIGH, Actor.SHIPPER, True,
        "Contains a prohibited item", Flag.ON_HOLD,
    ),
    ExceptionCode.WEATHER: ExceptionRule(
        Severity.MEDIUM, Actor.NETWORK_OPS, True,
        "Delayed by weather", Flag.DELAYED, closed_by_delivery=True,
    ),
    ExceptionCode.SCAN_ANOMALY: ExceptionRule(
        Severity.LOW, Actor.HUB, False, "Impossible scan sequence"
    ),
    ExceptionCode.UNMANIFESTED: ExceptionRule(
        Severity.LOW, Actor.SHIPPER, False, "Scanned before its manifest arrived"
    ),
    ExceptionCode.COMPLAINT: ExceptionRule(
        Severity.HIGH, Actor.CUSTOMER_SERVICE, True, "Customer complaint"
    ),
}

# Reasons a courier may give for a failed delivery attempt: a subset of the codes.
ATTEMPT_REASONS = frozenset(
    {
        ExceptionCode.RECIPIENT_ABSENT,
        ExceptionCode.ADDRESS_ISSUE,
        ExceptionCode.REFUSED,
        ExceptionCode.HELD_FOR_PAYMENT,
        ExceptionCode.WEATHER,
    }
)

# Codes a scanner may not report: the system derives them from the timeline or the clock.
DERIVED_ONLY_CODES = frozenset(
    {ExceptionCode.MISDIRECTED, ExceptionCode.SCAN_ANOMALY, ExceptionCode.UNMANIFESTED,
     ExceptionCode.STALLED, ExceptionCode.COMPLAINT}
)
SCANNABLE_EXCEPTION_CODES = frozenset(ExceptionCode) - DERIVED_ONLY_CODES


class ExceptionStatus(Term):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    # Waiting for an answer: the clocks stand still until it comes (domain/waiting.py).
    AWAITING_CUSTOMER = "awaiting_customer"
    AWAITING_THIRD_PARTY = "awaiting_third_party"
    RESOLVED = "resolved"


WAITING_STATUSES = frozenset({ExceptionStatus.AWAITING_CUSTOMER,
                              ExceptionStatus.AWAITING_THIRD_PARTY})


class Outcome(Term):
    REDELIVERED = "redelivered"
    RETURNED_TO_SENDER = "returned_to_sender"
    COMPENSATED = "compensated"
    RESHIPPED = "reshipped"
    NO_FAULT = "no_fault"
    CUSTOMER_WITHDREW = "customer_withdrew"
    # The system's own outcomes: what closed it. `delivered`: the delivery settled it;
    # `moving_again`: a stalled or lost parcel was scanned again; `manifest_arrived`;
    # `scan_voided`: the scan that showed it was voided; `cleared`: a later scan
    # explains it (and, before issue 16, every automatic closure).
    DELIVERED = "delivered"
    MOVING_AGAIN = "moving_again"
    MANIFEST_ARRIVED = "manifest_arrived"
    SCAN_VOIDED = "scan_voided"
    CLEARED = "cleared"


# The outcomes only the system closes an exception with.
SYSTEM_OUTCOMES = frozenset({Outcome.DELIVERED, Outcome.MOVING_AGAIN, Outcome.MANIFEST_ARRIVED,
                             Outcome.SCAN_VOIDED, Outcome.CLEARED})
# Of those, the ones that say the problem went away (no loss, no damage, nothing to
# complain or claim about stands on it); a delivery settles a problem that was real.
WENT_AWAY = SYSTEM_OUTCOMES - {Outcome.DELIVERED}
# What each automatic closure says on the timeline (customers read it).
CLOSED_BY = {
    Outcome.DELIVERED: "the parcel was delivered",
    Outcome.MOVING_AGAIN: "the parcel is moving again",
    Outcome.MANIFEST_ARRIVED: "the manifest arrived",
    Outcome.SCAN_VOIDED: "the scan was voided",
    Outcome.CLEARED: "a later scan explains it",
}
# What staff may close an exception with.
STAFF_OUTCOMES = frozenset(Outcome) - SYSTEM_OUTCOMES


class SlaClock(Term):
    """The two promises every exception carries."""

    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class Channel(Term):
    """How the customer and the carrier reached each other."""

    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    APP = "app"
    WEB = "web"
    SMS = "sms"
    IN_PERSON = "in_person"
    SOCIAL = "social"
    REGULATOR = "regulator"  # forwarded by the postal regulator (China's 12305 line)


class ComplaintCategory(Term):
    DELAY = "delay"
    DAMAGE = "damage"
    LOSS = "loss"
    COURIER_CONDUCT = "courier_conduct"
    WRONG_DELIVERY = "wrong_delivery"
    FALSE_DELIVERY = "false_delivery"  # marked delivered, never received
    CHARGES = "charges"
    OTHER = "other"


# The exceptions a complaint of each category is about: filing one links it to the
# parcel's exceptions of these codes.
COMPLAINT_LINKS: dict[ComplaintCategory, frozenset[ExceptionCode]] = {
    ComplaintCategory.DELAY: frozenset(
        {ExceptionCode.DELAYED, ExceptionCode.STALLED, ExceptionCode.WEATHER,
         ExceptionCode.MISDIRECTED, ExceptionCode.CUSTOMS_DOCUMENTS}),
    ComplaintCategory.DAMAGE: frozenset({ExceptionCode.DAMAGED}),
    ComplaintCategory.LOSS: frozenset({ExceptionCode.LOST, ExceptionCode.STALLED}),
    ComplaintCategory.COURIER_CONDUCT: frozenset(
        {ExceptionCode.RECIPIENT_ABSENT, ExceptionCode.REFUSED}),
    ComplaintCategory.WRONG_DELIVERY: frozenset(
        {ExceptionCode.MISDIRECTED, ExceptionCode.ADDRESS_ISSUE}),
    ComplaintCategory.FALSE_DELIVERY: frozenset({ExceptionCode.SCAN_ANOMALY}),
    ComplaintCategory.CHARGES: frozenset({ExceptionCode.HELD_FOR_PAYMENT}),
    ComplaintCategory.OTHER: frozenset(),
}


class ComplaintStatus(Term):
    OPEN = "open"
    CLOSED = "closed"


class ClaimCause(Term):
    LOST = "lost"
    DAMAGED = "damaged"


# A claim stands on a recorded problem: the exception of this code.
CLAIM_EXCEPTION: dict[ClaimCause, ExceptionCode] = {
    ClaimCause.LOST: ExceptionCode.LOST,
    ClaimCause.DAMAGED: ExceptionCode.DAMAGED,
}


class ClaimStatus(Term):
    FILED = "filed"
    ASSESSED = "assessed"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"


class ServiceLevel(Term):
    ECONOMY = "economy"
    STANDARD = "standard"
    EXPRESS = "express"
    SAME_DAY = "same_day"


class CustomerTier(Term):
    STANDARD = "standard"
    VIP = "vip"


class FacilityKind(Term):
    OUTLET = "outlet"
    HUB = "hub"
    STATION = "station"
    PICKUP_POINT = "pickup_point"
    CUSTOMS = "customs"


@dataclass(frozen=True)
class VisitScans:
    """The scans a visit to a facility of one kind is expected to carry. Everyday gaps:
    missing ones are recorded as missed scans (scan compliance), never raised."""

    on_visit: tuple[ScanType, ...]  # while it is there
    on_leaving: ScanType | None = None  # once it has moved on


VISIT_SCANS: dict[FacilityKind, VisitScans] = {
    FacilityKind.OUTLET: VisitScans((), ScanType.DEPARTURE),
    FacilityKind.HUB: VisitScans((ScanType.ARRIVAL, ScanType.SORT), ScanType.DEPARTURE),
    FacilityKind.STATION: VisitScans((ScanType.ARRIVAL,)),
    FacilityKind.PICKUP_POINT: VisitScans((ScanType.ARRIVAL,)),
    FacilityKind.CUSTOMS: VisitScans((ScanType.ARRIVAL,)),
}
