"""Satisfaction surveys: a signed, expiring link per parcel and occasion (the delivery,
a resolution), the question it asks, and the answer. One service for the notification
messages, the API and the tracking page.

The link is the customer's only credential: it names the parcel and the occasion and
expires (`PARCELFLOW_SURVEY_VALID_FOR`, 14 days); the parcel refuses a second answer for
the same occasion. The comment is the customer's own words: sealed with the parcel's key
before it is stored, never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from parcelflow.application.results import Step
from parcelflow.application.service import ParcelService
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.satisfaction import DELIVERY

log = structlog.get_logger(__name__)


class SurveyLinkRefused(Exception):
    """A survey link that was not signed here, or has expired (says which, never what
    it was)."""


class Tokens(Protocol):
    def issue(self, tracking_no: str, occasion: str, expires: datetime) -> str: ...

    def read(self, token: str) -> tuple[str, str, datetime] | None: ...


@dataclass
class Surveys:
    service: ParcelService
    tokens: Tokens
    url: str  # with {token}
    valid_for: timedelta

    def link(self, tracking_no: str, occasion: str, *, asked_at: datetime | None = None) -> str:
        """The link that asks about `occasion` (refused when there is nothing to rate
        yet). The same moment gives the same link, so a retried message repeats it."""
        self.service.get(tracking_no).survey_exception(occasion)
        expires = (asked_at or self.service.clock()) + self.valid_for
        return self.url.format(token=self.tokens.issue(tracking_no, occasion, expires))

    def delivery_link(self, tracking_no: str, delivered_at: datetime) -> str:
        """The delivery's link, for the message that says it was delivered (which knows
        it was: no parcel is loaded). Valid from the delivery on."""
        token = self.tokens.issue(tracking_no, DELIVERY, delivered_at + self.valid_for)
        return self.url.format(token=token)

    def _read(self, token: str) -> tuple[str, str]:
        read = self.tokens.read(token)
        if read is None:
            raise SurveyLinkRefused("this survey link is not valid")
        tracking_no, occasion, expires = read
        if self.service.clock() > expires:
            raise SurveyLinkRefused("this survey link has expired")
        return tracking_no, occasion

    def question(self, token: str) -> dict[str, Any]:
        """What the link asks, and whether it was answered."""
        tracking_no, occasion = self._read(token)
        rating = self.service.get(tracking_no).ratings.get(occasion)
        return {"tracking_no": tracking_no, "occasion": occasion.split(":")[0],
                "answered": rating is not None, "scale": [1, 5]}

    def answer(self, token: str, rating: int, comment: str | None = None) -> Step:
        """The customer's rating (once); a low one makes a complaint-level follow-up due
        (the Step's case is that follow-up, or the parcel's tracking number)."""
        tracking_no, occasion = self._read(token)
        sealed = self.service.personal.seal_text(parcel_id(tracking_no), comment)
        now = self.service.clock()
        low = self.service.policy.low_rating_at_most

        def run(parcel: Parcel) -> str | None:
            return parcel.rate(occasion, rating, comment_sealed=sealed, recorded_at=now,
                               low_at_most=low)

        done = self.service.command(tracking_no, run)
        log.info("survey.answered", tracking_no=tracking_no, occasion=occasion.split(":")[0],
                 rating=rating, follow_up=done.value)
        return Step(tracking_no, done.position, done.value or "")
