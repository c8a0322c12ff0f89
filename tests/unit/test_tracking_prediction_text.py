"""The tracking view's predictions write their times as `utc` writes every other time
of a row: the detectors' SQL and the pages compare them as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
from parcelflow.projections.tracking_view import _prediction, utc

from parcelflow.domain.times import plain_tz
from parcelflow.domain.transit_times import Prediction

ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-9, minutes=-30)),
         ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York"), ZoneInfo("Europe/London")]


def test_a_prediction_writes_each_time_as_utc_writes_it():
    seen = set()
    for tz in ZONES:
        for microsecond in (0, 1, 500_000):
            at = datetime(2026, 3, 29, 0, 59, 59, microsecond, tzinfo=tz)  # London's change
            for earliest in (at, plain_tz(at)):  # as made, and as read back from the store
                p = Prediction(earliest=earliest, likely=earliest + timedelta(hours=3, seconds=1),
                               latest=earliest + timedelta(days=1), confidence=0.8,
                               basis="lane+service")
                shown = orjson.loads(_prediction(p))
                assert shown == {"earliest": utc(p.earliest), "likely": utc(p.likely),
                                 "latest": utc(p.latest), "confidence": 0.8,
                                 "basis": "lane+service"}
                seen.add(shown["earliest"])
    assert "2026-03-29T00:59:59+00:00" in seen and "2026-03-28T16:59:59.000001+00:00" in seen
    assert _prediction(None) is None
