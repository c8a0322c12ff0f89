"""Customer complaints: what the customer said, about which problems, and how it ended.

The customer's own words are personal data: they reach the domain only sealed with the
parcel's key, like the manifest's names and addresses, and are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parcelflow.domain.vocabulary import Channel, ComplaintCategory, ComplaintStatus, Outcome


@dataclass(frozen=True)
class ComplaintRecord:
    complaint_id: str
    exception_id: str  # its own `complaint` exception: the owner, the clock, the queue
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
class Contact:
    """A conversation with the customer about an exception. The summary is sealed."""

    at: datetime
    by: str
    channel: Channel
    summary_sealed: str | None
