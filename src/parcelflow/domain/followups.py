"""Follow-ups (回访): after a customer-facing exception or a complaint is resolved, someone
calls the customer back to ask whether it is really settled.

A staff resolution of such an exception makes a follow-up due on the follow-up clock
(policy: within 24 business hours, in the follow-up team's calendar). The agent records
each try: `not_reached` counts an attempt and leaves it due (after the policy's last
attempt it is closed unreached); `reached`, `satisfied` and `not_satisfied` close it, and
`not_satisfied` reopens the exception (and its complaint) to whoever owned it. A rating
of 1-2 (`domain/satisfaction.py`) makes a complaint-level follow-up due on a shorter
clock; one about the delivery has no exception to reopen, so `not_satisfied` files a
complaint instead. Each step
an event with who and when; what the agent writes is sealed like other free text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from parcelflow.domain.complaints import ComplaintCommands
from parcelflow.domain.errors import DomainError, NotFound
from parcelflow.domain.ids import case_id
from parcelflow.domain.parcel_core import SYSTEM, ParcelCore, ParcelEvent
from parcelflow.domain.policy import Policy
from parcelflow.domain.records import ExceptionRecord
from parcelflow.domain.vocabulary import (
    Channel,
    ComplaintCategory,
    ComplaintStatus,
    ExceptionCode,
    Outcome,
    Term,
)


class FollowUpOutcome(Term):
    REACHED = "reached"  # spoke to the customer; nothing more asked
    NOT_REACHED = "not_reached"  # an attempt that did not get through
    SATISFIED = "satisfied"
    NOT_SATISFIED = "not_satisfied"  # reopens the exception (and complaint) to its assignee


class FollowUpStatus(Term):
    DUE = "due"
    DONE = "done"


class FollowUpLevel(Term):
    STANDARD = "standard"  # after a resolution: the follow-up clock
    COMPLAINT = "complaint"  # after a rating of 1-2: the shorter complaint-level clock


@dataclass(frozen=True)
class FollowUpStep:
    at: datetime
    by: str
    outcome: FollowUpOutcome
    note_sealed: str | None


@dataclass(frozen=True)
class FollowUpRecord:
    follow_up_id: str
    exception_id: str | None  # None: a low rating of the delivery, no exception behind it
    complaint_id: str | None
    assignee: str | None  # who had the exception when it was resolved
    since: datetime  # the resolution or the rating it follows: its clock starts here
    level: FollowUpLevel = FollowUpLevel.STANDARD
    status: FollowUpStatus = FollowUpStatus.DUE
    attempts: int = 0  # unanswered tries
    outcome: FollowUpOutcome | None = None
    steps: tuple[FollowUpStep, ...] = ()
    closed_at: datetime | None = None

    @property
    def is_due(self) -> bool:
        return self.status == FollowUpStatus.DUE

    def due(self, policy: Policy) -> datetime:
        """When the call is to be made, on the follow-up clock for its level."""
        return policy.follow_up_due(self.since,
                                    complaint_level=self.level == FollowUpLevel.COMPLAINT)


class FollowUpDue(ParcelEvent):
    follow_up_id: str
    exception_id: str | None
    complaint_id: str | None
    assignee: str | None
    level: str

    def on(self, parcel: ParcelCore) -> None:
        parcel.follow_ups[self.follow_up_id] = FollowUpRecord(
            self.follow_up_id, self.exception_id, self.complaint_id, self.assignee,
            self.recorded_at, FollowUpLevel(self.level))


class FollowUpRecorded(ParcelEvent):
    follow_up_id: str
    outcome: str
    closed: bool
    note_sealed: str | None

    def on(self, parcel: ParcelCore) -> None:
        before = parcel.follow_ups[self.follow_up_id]
        outcome = FollowUpOutcome(self.outcome)
        step = FollowUpStep(self.recorded_at, self.operator_id or SYSTEM, outcome,
                            self.note_sealed)
        parcel.follow_ups[self.follow_up_id] = replace(
            before, steps=(*before.steps, step), outcome=outcome,
            attempts=before.attempts + (outcome == FollowUpOutcome.NOT_REACHED),
            status=FollowUpStatus.DONE if self.closed else FollowUpStatus.DUE,
            closed_at=self.recorded_at if self.closed else None)


class ComplaintReopened(ParcelEvent):
    complaint_id: str
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        parcel.complaints[self.complaint_id] = replace(
            parcel.complaints[self.complaint_id], status=ComplaintStatus.OPEN, closed_at=None,
            closed_by=None, outcome=None, customer_confirmed=None, closing_reason=None)


def _needs_follow_up(record: ExceptionRecord) -> bool:
    return record.customer_facing or record.code == ExceptionCode.COMPLAINT


class FollowUpCommands(ComplaintCommands):
    """Part of `Parcel`: the follow-up a staff resolution makes due, and its outcomes."""

    def resolve_exception(self, exc_id: str, outcome: Outcome, *, by: str,
                          recorded_at: datetime, note: str | None = None) -> None:
        super().resolve_exception(exc_id, outcome, by=by, recorded_at=recorded_at, note=note)
        self._follow_up(exc_id, recorded_at)

    def close_complaint(self, complaint_id: str, outcome: Outcome, *, by: str,
                        recorded_at: datetime, customer_confirmed: bool = False,
                        reason: str | None = None) -> None:
        super().close_complaint(complaint_id, outcome, by=by, recorded_at=recorded_at,
                                customer_confirmed=customer_confirmed, reason=reason)
        self._follow_up(self.complaints[complaint_id].exception_id, recorded_at)

    def _follow_up(self, exc_id: str, recorded_at: datetime) -> None:
        record = self.exceptions[exc_id]
        if record.is_open or not _needs_follow_up(record):
            return
        if any(f.exception_id == exc_id and f.is_due for f in self.follow_ups.values()):
            return  # one call back per exception at a time
        self._make_follow_up(exc_id, FollowUpLevel.STANDARD, recorded_at)

    def _make_follow_up(self, exc_id: str | None, level: FollowUpLevel,
                        recorded_at: datetime) -> str:
        record = self.exceptions[exc_id] if exc_id else None
        complaint = (record.complaint_ids[0] if record is not None and record.complaint_ids
                     and record.code == ExceptionCode.COMPLAINT else None)
        follow_up_id = case_id(self.id, "follow-up", f"follow-up@{self.version + 1}")
        self._emit(FollowUpDue, recorded_at=recorded_at, follow_up_id=follow_up_id,
                   exception_id=exc_id, complaint_id=complaint, level=str(level),
                   assignee=(record.assignee or record.resolved_by) if record else None)
        return follow_up_id

    def find_follow_up(self, ref: str) -> FollowUpRecord:
        """A follow-up by its id or a unique prefix of it (4+ characters)."""
        found = [f for key, f in self.follow_ups.items()
                 if key == ref or (len(ref) >= 4 and key.startswith(ref))]
        if len(found) != 1:
            raise NotFound(f"{self.tracking_no} has no follow-up {ref}"
                           if not found else f"{ref} names more than one follow-up")
        return found[0]

    def record_follow_up(self, follow_up_id: str, outcome: FollowUpOutcome, *, by: str,
                         recorded_at: datetime, max_attempts: int,
                         note_sealed: str | None = None) -> None:
        follow_up = self.find_follow_up(follow_up_id)
        if not follow_up.is_due:
            raise DomainError(f"follow-up {follow_up.follow_up_id} is already done "
                              f"({follow_up.outcome})")
        unreached = follow_up.attempts + 1 if outcome == FollowUpOutcome.NOT_REACHED else 0
        closed = outcome != FollowUpOutcome.NOT_REACHED or unreached >= max_attempts
        self._emit(FollowUpRecorded, recorded_at=recorded_at, operator_id=by,
                   follow_up_id=follow_up.follow_up_id, outcome=str(outcome), closed=closed,
                   note_sealed=note_sealed)
        if outcome != FollowUpOutcome.NOT_SATISFIED:
            return
        reason = "follow-up: the customer is not satisfied"
        if follow_up.exception_id is None:
            # A poor rating of the delivery, still not put right: it becomes a complaint,
            # in the agent's notes of the call (sealed), on the complaint clock.
            self.file_complaint(ComplaintCategory.OTHER, Channel.PHONE, words_sealed=note_sealed,
                                by=by, recorded_at=recorded_at, links=[])
            return
        if not self.exceptions[follow_up.exception_id].is_open:
            self.reopen_exception(follow_up.exception_id, reason=reason, by=by,
                                  recorded_at=recorded_at)
        complaint = self.complaints.get(follow_up.complaint_id or "")
        if complaint is not None and complaint.status == ComplaintStatus.CLOSED:
            self._emit(ComplaintReopened, recorded_at=recorded_at, operator_id=by,
                       complaint_id=complaint.complaint_id, reason=reason)
