"""Ratings on the parcel itself: what can be rated, once per occasion, and what a low
rating sets going."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parcelflow.domain.errors import DomainError
from parcelflow.domain.followups import FollowUpLevel, FollowUpOutcome, FollowUpStatus
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.policy import Policy
from parcelflow.domain.satisfaction import DELIVERY, resolution
from parcelflow.domain.vocabulary import ComplaintCategory, ExceptionCode, Outcome
from tests.support.builders import T0, as_scans, journey, sealed_manifest

LOW = Policy().low_rating_at_most


def delivered() -> Parcel:
    parcel = Parcel.register(sealed_manifest(), recorded_at=T0 - timedelta(hours=1))
    parcel.record_scans(as_scans(*journey()), recorded_at=T0 + timedelta(days=2))
    return parcel


def test_the_delivery_is_rated_once_and_only_once_it_happened():
    waiting = Parcel.register(sealed_manifest(), recorded_at=T0)
    with pytest.raises(DomainError, match="has not been delivered"):
        waiting.rate(DELIVERY, 5, comment_sealed=None, recorded_at=T0, low_at_most=LOW)
    parcel = delivered()
    assert parcel.rate(DELIVERY, 4, comment_sealed=None, recorded_at=T0 + timedelta(days=3),
                       low_at_most=LOW) is None
    assert parcel.ratings[DELIVERY].rating == 4 and parcel.follow_ups == {}
    with pytest.raises(DomainError, match="already rated"):
        parcel.rate(DELIVERY, 1, comment_sealed=None, recorded_at=T0 + timedelta(days=3),
                    low_at_most=LOW)
    for outside in (0, 6):
        with pytest.raises(DomainError, match="1 to 5"):
            delivered().rate(DELIVERY, outside, comment_sealed=None, recorded_at=T0,
                             low_at_most=LOW)


def test_a_poor_delivery_rating_makes_a_complaint_level_follow_up_that_can_become_a_complaint():
    parcel = delivered()
    at = T0 + timedelta(days=3)
    fid = parcel.rate(DELIVERY, 2, comment_sealed="sealed:...", recorded_at=at, low_at_most=LOW)
    follow_up = parcel.follow_ups[fid]
    assert (follow_up.level, follow_up.exception_id, follow_up.since) == (
        FollowUpLevel.COMPLAINT, None, at)
    # The complaint-level clock is the shorter one.
    assert follow_up.due(Policy()) < Policy().follow_up_due(at)
    parcel.record_follow_up(fid, FollowUpOutcome.NOT_SATISFIED, by="cs-2", max_attempts=3,
                            recorded_at=at + timedelta(hours=1), note_sealed=None)
    [complaint] = parcel.complaints.values()
    assert complaint.category == ComplaintCategory.OTHER
    assert parcel.follow_ups[fid].status == FollowUpStatus.DONE


def test_a_resolution_is_rated_only_once_it_is_resolved_and_only_if_the_customer_knew():
    parcel = delivered()
    at = T0 + timedelta(days=3)
    exc = parcel.raise_exception(ExceptionCode.DAMAGED, recorded_at=at, by="cs-1")
    with pytest.raises(DomainError, match="no resolution to rate"):
        parcel.rate(resolution(exc), 5, comment_sealed=None, recorded_at=at, low_at_most=LOW)
    parcel.acknowledge_exception(exc, by="anna", recorded_at=at)
    parcel.resolve_exception(exc, Outcome.COMPENSATED, by="anna", recorded_at=at)
    fid = parcel.rate(resolution(exc), 1, comment_sealed=None, recorded_at=at, low_at_most=LOW)
    assert parcel.follow_ups[fid].exception_id == exc
    assert [f.level for f in parcel.follow_ups.values()] == [FollowUpLevel.STANDARD,
                                                             FollowUpLevel.COMPLAINT]
    with pytest.raises(DomainError, match="delivery or a resolution"):
        parcel.rate("birthday", 5, comment_sealed=None, recorded_at=at, low_at_most=LOW)
