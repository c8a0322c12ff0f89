"""What a parcel knows about its cases: exceptions, complaints and claims, as records.

Plain frozen values, folded from the parcel's events (never stored themselves): the
aggregate replaces a record with an updated copy when one of its events is applied.
The SLA clocks, the detectors and the read models all read these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from parcelflow.domain.compensation import Assessment
from parcelflow.domain.vocabulary import (
    Actor,
    Channel,
    ClaimCause,
    ClaimStatus,
    ComplaintCategory,
    ComplaintStatus,
    ExceptionCode,
    ExceptionStatus,
    Outcome,
    Severity,
    SlaClock,
)


@dataclass(frozen=True)
class Breach:
    """A promise missed: `clock` was due at `due`; noticed at `at`."""

    clock: SlaClock
    due: datetime
    at: datetime


@dataclass(frozen=True)
class Contact:
    """A conversation with the customer about an exception. The summary is sealed."""

    at: datetime
    by: str
    channel: Channel
    summary_sealed: str | None


@dataclass(frozen=True)
class Wait:
    """A stretch the exception's clocks stood still: waiting on the customer or a third
    party (`on`, one of the waiting statuses), from `since` until the answer came."""

    on: ExceptionStatus
    since: datetime
    by: str
    reason: str | None
    until: datetime | None = None


@dataclass(frozen=True)
class ExceptionRecord:
    exception_id: str
    code: ExceptionCode
    severity: Severity
    rule_team: Actor  # the team its rule says must act
    customer_facing: bool
    occurrence: str  # what it was raised for (domain/ids.py): one exception per occurrence
    auto: bool  # derived from the timeline (and cleared by it), not raised by a person
    detail: str
    occurred_at: datetime
    raised_at: datetime
    raised_by: str
    status: ExceptionStatus = ExceptionStatus.OPEN
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    outcome: Outcome | None = None
    note: str | None = None
    # The customer-service workflow. The first person to take the exception is its
    # assignee (first-contact responsibility) until they hand it over or it is escalated
    # to a new assignee; `handed_to` is the team it was handed to, if any.
    assignee: str | None = None
    handed_to: str | None = None
    handovers: int = 0
    contacts: tuple[Contact, ...] = ()
    escalation_level: int = 0
    escalated_to: str | None = None
    escalated_at: datetime | None = None
    breaches: tuple[Breach, ...] = ()
    reopened_at: datetime | None = None
    reopen_count: int = 0
    # What ended the condition while someone had the exception (it stays theirs to
    # close): e.g. a stalled parcel scanned again, and when that scan happened.
    condition_ended: str | None = None
    condition_ended_at: datetime | None = None
    waits: tuple[Wait, ...] = ()
    complaint_ids: tuple[str, ...] = ()
    claim_ids: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status != ExceptionStatus.RESOLVED

    @property
    def team(self) -> str:
        """The team that must act: the one it was handed to, else the rule's team."""
        return self.handed_to or str(self.rule_team)

    @property
    def waiting_since(self) -> datetime | None:
        """When the exception began waiting on someone, while it still does."""
        last = self.waits[-1] if self.waits else None
        return last.since if last is not None and self.status == last.on else None

    def pauses(self) -> tuple[tuple[datetime, datetime | None], ...]:
        """The stretches its clocks stood still. A wait that ended without an answer
        (the exception was resolved, and perhaps reopened, meanwhile) ended then."""
        out = []
        for wait in self.waits:
            until = wait.until
            if until is None and self.status != wait.on:
                until = self.resolved_at or self.reopened_at or wait.since
            out.append((wait.since, until))
        return tuple(out)

    def breached_at(self, clock: SlaClock, due: datetime | None) -> datetime | None:
        """When the `due` time of `clock` was recorded as breached (None: it was not;
        each due time is breached once)."""
        if due is None:
            return None
        return next((b.at for b in self.breaches if b.clock == clock and b.due == due), None)


@dataclass(frozen=True)
class ComplaintRecord:
    """A customer's complaint: what they said (sealed), about which problems, and how
    it ended. The words are personal data: they reach the domain only sealed with the
    parcel's key, like the manifest's names and addresses, and are never logged."""

    complaint_id: str
    exception_id: str  # its own `complaint` exception: team, assignee, clock, queue
    channel: Channel
    category: ComplaintCategory
    words_sealed: str | None  # None when the parcel's personal data had been erased
    links: tuple[str, ...]  # the parcel's exceptions it is about
    reference: str | None
    filed_at: datetime
    filed_by: str
    status: ComplaintStatus = ComplaintStatus.OPEN
    closed_at: datetime | None = None
    closed_by: str | None = None
    outcome: Outcome | None = None
    customer_confirmed: bool | None = None
    closing_reason: str | None = None


@dataclass(frozen=True)
class ClaimRecord:
    claim_id: str
    cause: ClaimCause
    claimed: Decimal
    evidence: tuple[str, ...]  # references to documents held elsewhere (photos, invoices)
    exception_id: str  # the recorded loss or damage the claim stands on
    reference: str | None  # the claimant's or the claims system's own number
    filed_at: datetime
    filed_by: str
    status: ClaimStatus = ClaimStatus.FILED
    assessment: Assessment | None = None
    assessed_at: datetime | None = None
    approved: Decimal | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    rejection: str | None = None
    paid: Decimal | None = None
    paid_at: datetime | None = None
    payment_ref: str | None = None

    @property
    def is_live(self) -> bool:
        """Still standing (a rejected claim leaves room for a new one)."""
        return self.status != ClaimStatus.REJECTED


@dataclass(frozen=True)
class Finding:
    """What a detector found on a parcel: an exception to raise, once per occurrence."""

    code: ExceptionCode
    occurrence: str  # the quiet spell or broken promise it is about (domain/ids.py)
    detail: str
