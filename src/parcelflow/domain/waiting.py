"""Waiting on an answer: an exception whose next step is the customer's or a third
party's (a photo of the damage, the shipper's invoice, customs' ruling) stops its clocks
until the answer comes, as Zendesk's "pending" and Jira Service Management's "waiting
for customer" do. Each step an event with who and when; the clocks read the stretches
from the record (`ExceptionRecord.pauses`, `domain/sla.py`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from parcelflow.domain.errors import DomainError
from parcelflow.domain.exceptions import ExceptionCommands
from parcelflow.domain.parcel_core import SYSTEM, ParcelCore, ParcelEvent
from parcelflow.domain.records import Wait
from parcelflow.domain.vocabulary import WAITING_STATUSES, ExceptionStatus


class ExceptionAwaiting(ParcelEvent):
    exception_id: str
    waiting_on: str  # awaiting_customer | awaiting_third_party
    reason: str | None

    def on(self, parcel: ParcelCore) -> None:
        before = parcel.exceptions[self.exception_id]
        wait = Wait(ExceptionStatus(self.waiting_on), self.recorded_at,
                    self.operator_id or SYSTEM, self.reason)
        parcel._update_exception(self.exception_id, status=wait.on,
                                 waits=(*before.waits, wait))


class ExceptionResumed(ParcelEvent):
    exception_id: str
    note: str | None

    def on(self, parcel: ParcelCore) -> None:
        before = parcel.exceptions[self.exception_id]
        last = replace(before.waits[-1], until=self.recorded_at)
        parcel._update_exception(
            self.exception_id,
            # Back to whoever had it: responsibility does not lapse while waiting.
            status=ExceptionStatus.ACKNOWLEDGED if before.assignee else ExceptionStatus.OPEN,
            waits=(*before.waits[:-1], last))


class WaitingCommands(ExceptionCommands):
    """Part of `Parcel`: putting an exception on hold for an answer, and resuming it."""

    def await_answer(self, exc_id: str, waiting_on: ExceptionStatus, *, by: str,
                     recorded_at: datetime, reason: str | None = None) -> None:
        if waiting_on not in WAITING_STATUSES:
            raise DomainError(f"an exception waits on the customer or a third party "
                              f"({', '.join(sorted(WAITING_STATUSES))})")
        record = self._open_exception(exc_id)
        if record.status in WAITING_STATUSES:
            raise DomainError(f"exception {exc_id} is already {record.status}")
        self._check_assignee(record, by, "put on hold")
        self._emit(ExceptionAwaiting, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, waiting_on=str(waiting_on), reason=reason)

    def resume(self, exc_id: str, *, by: str, recorded_at: datetime,
               note: str | None = None) -> None:
        """The answer came (anyone may take it): the clocks run again."""
        record = self._open_exception(exc_id)
        if record.status not in WAITING_STATUSES:
            raise DomainError(f"exception {exc_id} is {record.status}, not waiting")
        self._emit(ExceptionResumed, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, note=note)

    def acknowledge_exception(self, exc_id: str, *, by: str, recorded_at: datetime) -> None:
        # Acknowledging would end the wait without its answer on record.
        if self._exception(exc_id).status in WAITING_STATUSES:
            raise DomainError(f"exception {exc_id} is waiting for an answer; resume it first")
        super().acknowledge_exception(exc_id, by=by, recorded_at=recorded_at)
