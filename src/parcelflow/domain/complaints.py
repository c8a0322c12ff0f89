"""Customer complaints on the Parcel aggregate: filed on the complaint clock, closed
with the customer's confirmation or a recorded reason.

A complaint raises its own `complaint` exception, which carries the team, the assignee,
the clocks and the place in the queue, and links to the exceptions it is about. The customer's own
words are personal data: they reach the domain only sealed with the parcel's key.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from parcelflow.domain.errors import DomainError
from parcelflow.domain.exceptions import ExceptionCommands, ExceptionResolved
from parcelflow.domain.ids import case_id, complaint_filed, exception_id
from parcelflow.domain.parcel_core import SYSTEM, ParcelCore, ParcelEvent
from parcelflow.domain.records import ComplaintRecord
from parcelflow.domain.vocabulary import (
    COMPLAINT_LINKS,
    STAFF_OUTCOMES,
    WENT_AWAY,
    Channel,
    ComplaintCategory,
    ComplaintStatus,
    ExceptionCode,
    Outcome,
)


class ComplaintFiled(ParcelEvent):
    complaint_id: str
    exception_id: str
    channel: str
    category: str
    words_sealed: str | None
    links: list[str]
    reference: str | None

    def on(self, parcel: ParcelCore) -> None:
        parcel.complaints[self.complaint_id] = ComplaintRecord(
            complaint_id=self.complaint_id, exception_id=self.exception_id,
            channel=Channel(self.channel), category=ComplaintCategory(self.category),
            words_sealed=self.words_sealed, links=tuple(self.links),
            reference=self.reference, filed_at=self.recorded_at,
            filed_by=self.operator_id or SYSTEM)
        for exc_id in (self.exception_id, *self.links):
            before = parcel.exceptions[exc_id]
            parcel._update_exception(
                exc_id, complaint_ids=(*before.complaint_ids, self.complaint_id))


class ComplaintClosed(ParcelEvent):
    complaint_id: str
    outcome: str
    customer_confirmed: bool
    reason: str | None

    def on(self, parcel: ParcelCore) -> None:
        parcel.complaints[self.complaint_id] = replace(
            parcel.complaints[self.complaint_id], status=ComplaintStatus.CLOSED,
            closed_at=self.recorded_at, closed_by=self.operator_id,
            outcome=Outcome(self.outcome), customer_confirmed=self.customer_confirmed,
            closing_reason=self.reason)


class ComplaintCommands(ExceptionCommands):
    """Part of `Parcel`: filing and closing complaints (each on its own exception)."""

    def file_complaint(self, category: ComplaintCategory, channel: Channel, *,
                       words_sealed: str | None, by: str, recorded_at: datetime,
                       links: list[str] | None = None, reference: str | None = None) -> str:
        """A customer's complaint, linked to the exceptions it is about (those given, or
        the parcel's exceptions its category points at), on the complaint clock. It
        raises its own `complaint` exception, which carries the assignee and the clocks."""
        if reference:
            for complaint in self.complaints.values():
                if complaint.reference == reference:
                    return complaint.complaint_id  # the same complaint sent twice
        if links is None:
            codes = COMPLAINT_LINKS[category]
            links = [r.exception_id for r in self.exceptions.values()
                     if r.code in codes and r.outcome not in WENT_AWAY]
        for exc_id in links:
            self._exception(exc_id)
        key = f"complaint@{self.version + 1}"
        complaint_id = case_id(self.id, "complaint", key)
        occurrence = complaint_filed(complaint_id)
        exc_id = exception_id(self.id, ExceptionCode.COMPLAINT, occurrence)
        self._raise(exc_id, ExceptionCode.COMPLAINT, occurrence=occurrence,
                    auto=False, detail=f"{category} complaint by {channel}",
                    recorded_at=recorded_at, occurred_at=None, by=by)
        self._emit(ComplaintFiled, recorded_at=recorded_at, operator_id=by,
                   complaint_id=complaint_id, exception_id=exc_id, channel=str(channel),
                   category=str(category), words_sealed=words_sealed, links=list(links),
                   reference=reference)
        return complaint_id

    def close_complaint(self, complaint_id: str, outcome: Outcome, *, by: str,
                        recorded_at: datetime, customer_confirmed: bool = False,
                        reason: str | None = None) -> None:
        """Closed with the customer's confirmation, or with a recorded reason why not
        (unreachable, unfounded, ...). Its exception is resolved with the same outcome."""
        complaint = self.complaints.get(complaint_id)
        if complaint is None:
            raise DomainError(f"{self.tracking_no} has no complaint {complaint_id}")
        if complaint.status == ComplaintStatus.CLOSED:
            raise DomainError(f"complaint {complaint_id} is already closed")
        if not customer_confirmed and not (reason or "").strip():
            raise DomainError("close a complaint with the customer's confirmation "
                              "or a recorded reason")
        if outcome not in STAFF_OUTCOMES:
            raise DomainError(f"{outcome} is not an outcome staff can give")
        record = self.exceptions[complaint.exception_id]
        if record.is_open:
            self._check_assignee(record, by, "close the complaint of")
        self._emit(ComplaintClosed, recorded_at=recorded_at, operator_id=by,
                   complaint_id=complaint_id, outcome=str(outcome),
                   customer_confirmed=customer_confirmed, reason=reason)
        if record.is_open:
            note = reason or "the customer confirmed the resolution"
            self._emit(ExceptionResolved, recorded_at=recorded_at, operator_id=by,
                       exception_id=record.exception_id, outcome=str(outcome), note=note)
