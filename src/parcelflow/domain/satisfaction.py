"""Satisfaction: after the delivery and after a resolution the receiver is asked for a
rating of 1 to 5 and, if they like, a comment; at most once per parcel and occasion.

An occasion is `delivery` or `resolution:<exception id>`. The rating is an event on the
parcel; the comment is the customer's own words, sealed with the parcel's key like the
manifest's personal data. A rating at most the policy's `low_rating_at_most` (2) makes a
complaint-level follow-up due (`domain/followups.py`), about the exception it rates, or
about the delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parcelflow.domain.errors import DomainError
from parcelflow.domain.followups import FollowUpCommands, FollowUpLevel
from parcelflow.domain.parcel_core import ParcelCore, ParcelEvent
from parcelflow.domain.vocabulary import HANDED_OVER_STATUSES, ExceptionCode

DELIVERY = "delivery"
RESOLUTION = "resolution:"


def resolution(exception_id: str) -> str:
    return RESOLUTION + exception_id


@dataclass(frozen=True)
class Rating:
    occasion: str
    rating: int
    comment_sealed: str | None
    at: datetime
    follow_up_id: str | None  # the complaint-level follow-up a low rating made due


class SatisfactionRated(ParcelEvent):
    occasion: str
    rating: int
    comment_sealed: str | None
    follow_up_id: str | None

    def on(self, parcel: ParcelCore) -> None:
        parcel.ratings[self.occasion] = Rating(self.occasion, self.rating,
                                               self.comment_sealed, self.recorded_at,
                                               self.follow_up_id)


class SatisfactionCommands(FollowUpCommands):
    """Part of `Parcel`: the receiver's ratings."""

    def survey_exception(self, occasion: str) -> str | None:
        """The exception a survey occasion is about (None: the delivery); refused when
        there is nothing (yet) to rate: a parcel not delivered, an exception not resolved
        or one the customer never heard about."""
        if occasion == DELIVERY:
            if self.state.status not in HANDED_OVER_STATUSES:
                raise DomainError(f"{self.tracking_no} has not been delivered")
            return None
        if not occasion.startswith(RESOLUTION):
            raise DomainError("a survey is about the delivery or a resolution")
        record = self._exception(occasion[len(RESOLUTION):])
        if record.is_open or not (record.customer_facing
                                  or record.code == ExceptionCode.COMPLAINT):
            raise DomainError(f"exception {record.exception_id} has no resolution to rate")
        return record.exception_id

    def rate(self, occasion: str, rating: int, *, comment_sealed: str | None,
             recorded_at: datetime, low_at_most: int) -> str | None:
        """Record the receiver's rating; returns the follow-up a low one made due."""
        if not 1 <= rating <= 5:
            raise DomainError("a rating is a whole number from 1 to 5")
        exc_id = self.survey_exception(occasion)
        if occasion in self.ratings:
            raise DomainError(f"{self.tracking_no} was already rated for this {occasion.split(':')[0]}")
        follow_up = None
        if rating <= low_at_most:
            follow_up = self._make_follow_up(exc_id, FollowUpLevel.COMPLAINT, recorded_at)
        self._emit(SatisfactionRated, recorded_at=recorded_at, occasion=occasion,
                   rating=rating, comment_sealed=comment_sealed, follow_up_id=follow_up)
        return follow_up
