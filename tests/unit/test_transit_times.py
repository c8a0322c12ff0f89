"""Learned transit times: percentiles per lane, the most specific key with enough history,
and the network's typical hours when there is none."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from parcelflow.domain.transit_times import Trip, learn

CST = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 11, 23, 10, tzinfo=CST)


def trips(hours, *, level="standard", start=MONDAY):
    return [Trip("SZX", "SHA", level, start, start + timedelta(hours=h)) for h in hours]


def test_a_lane_with_history_predicts_its_deciles_and_without_falls_back_to_typical_hours():
    # 11 Monday trips of 20..30 h: deciles (inclusive) at 21, 25 and 29 h.
    model = learn(trips(range(20, 31)), CST, min_samples=10)
    p = model.predict("SZX", "SHA", "standard", MONDAY, typical_hours=40)
    assert (p.earliest, p.likely, p.latest) == (MONDAY + timedelta(hours=21),
                                                MONDAY + timedelta(hours=25),
                                                MONDAY + timedelta(hours=29))
    assert p.basis == "lane+service+weekday" and p.confidence == round(0.8 * 11 / 21, 2)
    # A Tuesday pickup has no weekday history: the lane and level's.
    assert model.predict("SZX", "SHA", "standard", MONDAY + timedelta(days=1),
                         typical_hours=40).basis == "lane+service"
    # An express parcel on the lane: only the lane as a whole.
    assert model.predict("SZX", "SHA", "express", MONDAY, typical_hours=40).basis == "lane"
    unknown = model.predict("SZX", "PEK", "standard", MONDAY, typical_hours=40)
    assert (unknown.basis, unknown.confidence, unknown.likely) == (
        "network_typical", 0.0, MONDAY + timedelta(hours=40))


def test_thin_history_is_not_trusted():
    model = learn(trips([20, 22, 24]), CST, min_samples=30)
    assert model.predict("SZX", "SHA", "standard", MONDAY, typical_hours=33).basis == "network_typical"
