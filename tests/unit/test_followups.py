"""Follow-ups on the parcel itself: which resolutions make one due, its clock, its outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from parcelflow.domain.errors import DomainError
from parcelflow.domain.followups import FollowUpOutcome, FollowUpStatus
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.policy import Policy
from parcelflow.domain.vocabulary import (
    Channel,
    ComplaintCategory,
    ComplaintStatus,
    ExceptionCode,
    ExceptionStatus,
    Outcome,
)
from tests.support.builders import sealed_manifest

CST = timezone(timedelta(hours=8))
FRIDAY_5PM = datetime(2026, 11, 27, 17, tzinfo=CST)


def resolved(code: ExceptionCode) -> tuple[Parcel, str]:
    parcel = Parcel.register(sealed_manifest(), recorded_at=FRIDAY_5PM - timedelta(days=1))
    exc = parcel.raise_exception(code, recorded_at=FRIDAY_5PM - timedelta(hours=2), by="cs-1")
    parcel.acknowledge_exception(exc, by="anna", recorded_at=FRIDAY_5PM - timedelta(hours=1))
    parcel.resolve_exception(exc, Outcome.REDELIVERED, by="anna", recorded_at=FRIDAY_5PM)
    return parcel, exc


def test_resolving_a_customer_facing_exception_makes_a_follow_up_due_in_business_hours():
    parcel, exc = resolved(ExceptionCode.ADDRESS_ISSUE)
    [follow_up] = parcel.follow_ups.values()
    assert (follow_up.exception_id, follow_up.assignee, follow_up.status) == (
        exc, "anna", FollowUpStatus.DUE)
    # 24 business hours from Friday 17:00 (default calendar, 9 h a day): Fri 1 + Mon 9 +
    # Tue 9 + Wed 5 -> Wednesday 2 December 14:00.
    assert follow_up.due(Policy()) == datetime(2026, 12, 2, 14, tzinfo=CST)


def test_an_internal_exception_needs_no_follow_up():
    parcel, _ = resolved(ExceptionCode.SCAN_ANOMALY)
    assert parcel.follow_ups == {}


def test_unanswered_calls_count_until_the_last_attempt_closes_it():
    parcel, _ = resolved(ExceptionCode.ADDRESS_ISSUE)
    [fid] = parcel.follow_ups
    for n in (1, 2):
        parcel.record_follow_up(fid[:8], FollowUpOutcome.NOT_REACHED, by="cs-2",
                                recorded_at=FRIDAY_5PM + timedelta(days=n), max_attempts=3)
        assert (parcel.follow_ups[fid].attempts, parcel.follow_ups[fid].status) == (
            n, FollowUpStatus.DUE)
    parcel.record_follow_up(fid, FollowUpOutcome.NOT_REACHED, by="cs-2",
                            recorded_at=FRIDAY_5PM + timedelta(days=3), max_attempts=3)
    done = parcel.follow_ups[fid]
    assert (done.attempts, done.status, done.outcome) == (3, FollowUpStatus.DONE,
                                                          FollowUpOutcome.NOT_REACHED)
    assert [s.by for s in done.steps] == ["cs-2"] * 3
    with pytest.raises(DomainError, match="already done"):
        parcel.record_follow_up(fid, FollowUpOutcome.SATISFIED, by="cs-2",
                                recorded_at=FRIDAY_5PM + timedelta(days=4), max_attempts=3)


def test_not_satisfied_reopens_the_complaint_and_its_exception_to_their_owner():
    parcel = Parcel.register(sealed_manifest(), recorded_at=FRIDAY_5PM - timedelta(days=1))
    complaint = parcel.file_complaint(ComplaintCategory.DELAY, Channel.PHONE, words_sealed=None,
                                      by="cs-1", recorded_at=FRIDAY_5PM - timedelta(hours=3))
    exc = parcel.complaints[complaint].exception_id
    parcel.acknowledge_exception(exc, by="anna", recorded_at=FRIDAY_5PM - timedelta(hours=2))
    parcel.close_complaint(complaint, Outcome.REDELIVERED, by="anna", recorded_at=FRIDAY_5PM,
                           customer_confirmed=True)
    [follow_up] = parcel.follow_ups.values()  # one, though the complaint's exception closed too
    assert follow_up.complaint_id == complaint
    parcel.record_follow_up(follow_up.follow_up_id, FollowUpOutcome.NOT_SATISFIED, by="cs-2",
                            recorded_at=FRIDAY_5PM + timedelta(days=1), max_attempts=3)
    record = parcel.exceptions[exc]
    assert (record.status, record.assignee, record.reopen_count) == (
        ExceptionStatus.ACKNOWLEDGED, "anna", 1)
    assert parcel.complaints[complaint].status == ComplaintStatus.OPEN
    # Closed again: a new follow-up is due for the new resolution.
    parcel.close_complaint(complaint, Outcome.COMPENSATED, by="anna", customer_confirmed=True,
                           recorded_at=FRIDAY_5PM + timedelta(days=2))
    assert [f.status for f in parcel.follow_ups.values()] == [FollowUpStatus.DONE,
                                                              FollowUpStatus.DUE]
