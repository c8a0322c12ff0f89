"""Learned transit times: percentiles per lane, the most specific key with enough history,
and the network's typical hours when there is none."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from parcelflow.domain.transit_times import TransitTimes, Trip, learn, reached_station
from parcelflow.domain.vocabulary import FacilityKind

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


def test_the_last_mile_is_learned_per_station_from_reaching_it_to_the_delivery():
    # 11 trips reaching SHA-STA-13 on a Monday at 10:00, delivered 2..12 h later: deciles
    # (inclusive) at 3, 7 and 11 h. Their lane takes 30 h more before that.
    at = MONDAY
    history = [Trip("SZX", "SHA", "standard", at - timedelta(hours=30),
                    at + timedelta(hours=h), "SHA-STA-13", at) for h in range(2, 13)]
    model = learn(history, CST, min_samples=10)
    p = model.predict_last_mile("SHA-STA-13", "standard", at)
    assert (p.earliest, p.likely, p.latest) == (at + timedelta(hours=3), at + timedelta(hours=7),
                                                at + timedelta(hours=11))
    assert p.basis == "station+service+weekday" and p.confidence == round(0.8 * 11 / 21, 2)
    tuesday = at + timedelta(days=1)
    assert model.predict_last_mile("SHA-STA-13", "standard", tuesday).basis == "station+service"
    assert model.predict_last_mile("SHA-STA-13", "express", at).basis == "station"
    # Another station has no history: nothing from the station (the caller keeps the lane).
    assert model.predict_last_mile("SHA-STA-14", "standard", at) is None
    # The whole trips still make the lane's spread: 32..42 h, deciles 33, 37, 41.
    lane = model.predict("SZX", "SHA", "standard", at - timedelta(hours=30), typical_hours=40)
    assert lane.likely - (at - timedelta(hours=30)) == timedelta(hours=37)
    # Each trip is counted once, and a stored model reads back the same.
    assert model.trips == 11
    assert TransitTimes.from_json(model.to_json(), CST) == model


def test_the_station_is_where_the_last_stay_began_even_when_its_arrival_scan_was_missed():
    kinds = {"SHA-HUB-02": FacilityKind.HUB, "SHA-STA-13": FacilityKind.STATION,
             "SHA-PUP-01": FacilityKind.PICKUP_POINT}
    t = [MONDAY + timedelta(hours=h) for h in range(5)]
    # Hub, then first seen at the station by its out-for-delivery scan, then delivered.
    assert reached_station([("SHA-HUB-02", t[0]), ("SHA-STA-13", t[2]), ("SHA-STA-13", t[3])],
                           kinds.get) == ("SHA-STA-13", t[2])
    # Sent back from the station to the hub and on again: the last stay counts.
    assert reached_station([("SHA-STA-13", t[0]), ("SHA-HUB-02", t[1]), ("SHA-STA-13", t[4])],
                           kinds.get) == ("SHA-STA-13", t[4])
    assert reached_station([("SHA-HUB-02", t[0])], kinds.get) is None
    assert reached_station([("SHA-PUP-01", t[0])], kinds.get) is None
    assert reached_station([], kinds.get) is None


def test_a_station_seen_only_in_its_delivery_scan_teaches_no_last_mile():
    done = MONDAY + timedelta(hours=30)
    model = learn([Trip("SZX", "SHA", "standard", MONDAY, done, "SHA-STA-13", done)] * 3,
                  CST, min_samples=1)
    assert model.predict_last_mile("SHA-STA-13", "standard", done) is None
    assert model.predict("SZX", "SHA", "standard", MONDAY, typical_hours=40).basis == \
        "lane+service+weekday"
