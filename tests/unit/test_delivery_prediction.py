"""A parcel's predicted delivery: the original at pickup from the model learned by then,
the current one moved by the parcel's lead or lag on the network's schedule, and when
the customer is told that the promise is at risk or missed. Hand-computed cases.

The bundled network: Shenzhen hub to Shanghai hub 25.3 h; the fixed allowances 2 h to
the origin hub, 1.5 h at a hub, 6 h last mile: 33.3 h from pickup to the door."""

from __future__ import annotations

from datetime import timedelta

from parcelflow.bootstrap import load_network
from parcelflow.domain.eta import estimate_eta
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.transit_times import (
    LAST_MILE,
    Prediction,
    Spread,
    TransitTimes,
    current_prediction,
    predict_delivery,
    promise_news,
)
from tests.support.builders import CST, T0, as_scans, scan, sealed_manifest

H = timedelta(hours=1)
NETWORK = load_network()
LEARNED_AT = T0 + 2 * H
SUNDAY = "6"  # T0 is Sunday 22 November 2026, 08:00 in Shanghai
MODEL = TransitTimes({("SZX", "SHA", "standard", SUNDAY): Spread(60, 24.0, 30.0, 40.0)}, CST)


def models(moment):
    return MODEL if moment >= LEARNED_AT else None


def parcel_with(*scans_at):
    parcel = Parcel.register(sealed_manifest(), recorded_at=T0 - H)
    for wire, recorded in scans_at:
        parcel.record_scans(as_scans(wire), recorded_at=recorded)
    return parcel


def predict(parcel):
    return predict_delivery(parcel.state, parcel.manifest, NETWORK, models, revised=parcel.eta)


def test_a_pickup_after_the_learning_is_predicted_from_history_and_a_late_hub_moves_the_range():
    parcel = parcel_with((scan("pickup", "SZX-OUT-07", 0), T0 + 3 * H))
    original, current = predict(parcel)
    # 60 trips of the 30 needed: 0.8 * 60 / 90 = 0.53.
    assert original == Prediction(T0 + 24 * H, T0 + 30 * H, T0 + 40 * H, 0.53,
                                  "lane+service+weekday")
    assert current == original

    # At the Shanghai hub at 30 h: 6 h to the door, 36 h against the schedule's 33.3 h:
    # 2.7 h late. Earliest 24 + 2.7 = 26.7 h is already past: the latest scan's 30 h.
    parcel.record_scans(as_scans(scan("arrival", "SHA-HUB-02", 30)), recorded_at=T0 + 30 * H)
    original_now, current = predict(parcel)
    assert original_now == original
    assert current == Prediction(T0 + 30 * H, T0 + 32.7 * H, T0 + 42.7 * H, 0.53,
                                 "lane+service+weekday")

    parcel.record_scans(as_scans(scan("delivered", "SHA-STA-13", 33, signed_by="recipient")),
                        recorded_at=T0 + 33 * H)
    assert predict(parcel) == (original, None)


def test_a_pickup_before_any_model_keeps_its_typical_hours_while_later_scans_use_the_model():
    parcel = parcel_with((scan("pickup", "SZX-OUT-07", 0), T0 + 1 * H))
    original, current = predict(parcel)
    assert original == Prediction(T0 + 33.3 * H, T0 + 33.3 * H, T0 + 33.3 * H, 0.0,
                                  "network_typical")
    # Shenzhen hub at 2 h, recorded after the learning: 1.5 h there, 25.3, 6: 34.8 h,
    # 1.5 h behind the 33.3 h schedule; the learned range moved by it.
    parcel.record_scans(as_scans(scan("arrival", "SZX-HUB-01", 2)), recorded_at=T0 + 3 * H)
    assert predict(parcel) == (original, Prediction(T0 + 25.5 * H, T0 + 31.5 * H,
                                                    T0 + 41.5 * H, 0.53,
                                                    "lane+service+weekday"))


def test_another_service_level_or_weekday_without_history_falls_back_to_the_typical_hours():
    monday = T0 + 24 * H
    parcel = parcel_with((scan("pickup", "SZX-OUT-07", 24), monday + H))
    original, _ = predict(parcel)
    assert original == Prediction(monday + 33.3 * H, monday + 33.3 * H, monday + 33.3 * H,
                                  0.0, "network_typical")


MONDAY = "0"
LANE = {("SZX", "SHA", "standard", SUNDAY): Spread(60, 24.0, 30.0, 40.0)}


def with_station(n):
    """The lane, and SHA-STA-13's Monday last mile from `n` trips: 1, 2.5 and 6 h."""
    return TransitTimes({**LANE, (LAST_MILE, "SHA-STA-13", "standard", MONDAY):
                         Spread(n, 1.0, 2.5, 6.0)}, CST)


def at_station(*later):
    """Picked up at 0 h (Sunday 08:00), at the Shanghai station at 23 h (Monday 07:00)."""
    parcel = parcel_with((scan("pickup", "SZX-OUT-07", 0), T0 + 3 * H),
                         (scan("arrival", "SHA-STA-13", 23), T0 + 23 * H))
    for wire in later:
        parcel.record_scans(as_scans(wire), recorded_at=T0 + 30 * H)
    return parcel


def test_at_its_station_a_parcel_is_predicted_from_the_stations_last_mile():
    model = with_station(40)
    current = lambda p: predict_delivery(p.state, p.manifest, NETWORK,  # noqa: E731
                                         lambda m: model if m >= LEARNED_AT else None)[1]
    # 23 h + 1 / 2.5 / 6 h; the station allowance (3 h) is the schedule: no shift.
    # 40 trips of the 30 needed: 0.8 * 40 / 70 = 0.46.
    parcel = at_station()
    assert current(parcel) == Prediction(T0 + 24 * H, T0 + 25.5 * H, T0 + 29 * H, 0.46,
                                         "station+service+weekday")
    # Out for delivery at 24 h: 2 h to the door, 26 h as at arrival + 3 h: no shift.
    parcel = at_station(scan("out_for_delivery", "SHA-STA-13", 24))
    assert current(parcel) == Prediction(T0 + 24 * H, T0 + 25.5 * H, T0 + 29 * H, 0.46,
                                         "station+service+weekday")
    # Nobody home at 26 h: the next day's round, 26 + 24 = 50 h against 26 h: a day later.
    parcel = at_station(scan("out_for_delivery", "SHA-STA-13", 24),
                        scan("delivery_attempt", "SHA-STA-13", 26,
                             attempt_reason="recipient_absent"))
    assert current(parcel) == Prediction(T0 + 48 * H, T0 + 49.5 * H, T0 + 53 * H, 0.46,
                                         "station+service+weekday")


def test_a_station_with_thin_history_keeps_the_lanes_range():
    model = with_station(10)
    parcel = at_station()
    _, current = predict_delivery(parcel.state, parcel.manifest, NETWORK,
                                  lambda m: model if m >= LEARNED_AT else None)
    # The lane's 24 / 30 / 40 h moved by 23 + 3 - 33.3 = -7.3 h, none before 23 h.
    assert current == Prediction(T0 + 23 * H, T0 + 23 * H, T0 + 32.7 * H, 0.53,
                                 "lane+service+weekday")


def test_a_missed_station_arrival_starts_the_last_mile_at_the_first_scan_there():
    model = with_station(40)
    parcel = parcel_with((scan("pickup", "SZX-OUT-07", 0), T0 + 3 * H),
                         (scan("out_for_delivery", "SHA-STA-13", 24), T0 + 24 * H))
    _, current = predict_delivery(parcel.state, parcel.manifest, NETWORK,
                                  lambda m: model if m >= LEARNED_AT else None)
    # From 24 h (Monday 08:00): 25 / 26.5 / 30 h, moved by (24 + 2) - (24 + 3) = -1 h,
    # none before the 24 h scan.
    assert current == Prediction(T0 + 24 * H, T0 + 25.5 * H, T0 + 29 * H, 0.46,
                                 "station+service+weekday")


PROMISE = T0 + 40 * H


def likely_at(hours):
    """A prediction whose likely time is `hours` after T0 (None: no prediction)."""
    return None if hours is None else Prediction(T0, T0 + hours * H, T0 + hours * H, 0.5, "lane")


def test_the_customer_hears_once_when_the_likely_time_moves_past_the_promise():
    def news(before, now, *, occurred=10):
        return promise_news(PROMISE, T0 + occurred * H, arrived=False,
                            last_occurred_before=T0 + (occurred - 1) * H,
                            before=likely_at(before), now=likely_at(now))

    assert news(None, 39) is None  # the first prediction, within the promise
    assert news(None, 41) == "past_promise"  # the first prediction is already late
    assert news(39, 41) == "past_promise"
    assert news(41, 45) is None  # still past: told already
    assert news(45, 38) is None  # back within: nothing to apologise for
    assert news(38, 40) is None  # exactly at the promise is within it
    assert news(40, 40.5) == "past_promise"  # moved past again: a new revision


def test_the_first_event_after_the_promise_tells_of_the_miss_once_unless_delivered():
    def news(occurred, last_before, *, arrived=False):
        return promise_news(PROMISE, T0 + occurred * H, arrived=arrived,
                            last_occurred_before=T0 + last_before * H, before=None, now=None)

    assert news(39, 38) is None
    assert news(41, 39) == "promise_missed"
    assert news(42, 41) is None  # the miss was told at 41 h
    assert news(41, 39, arrived=True) is None  # delivered late: the parcel is there
    assert promise_news(None, T0, arrived=False, last_occurred_before=None, before=None,
                        now=likely_at(99)) is None  # no promise, nothing to break


def test_the_current_prediction_alone_is_the_one_predicted_beside_the_original():
    """`current_prediction` (the notification worker's, given the fixed-hours ETA it
    already has, or not) is `predict_delivery`'s second half, and `predict_delivery`
    given that ETA (the tracking view's) is itself, in every story here: the
    lane learned or not yet, a station's last mile with enough history or thin, late,
    out for delivery, a failed attempt, delivered, no pickup yet."""
    lane = with_station(0)
    stories = [Parcel.register(sealed_manifest(), recorded_at=T0),
               parcel_with((scan("pickup", "SZX-OUT-07", 0), T0 + 3 * H)),
               parcel_with((scan("pickup", "SZX-OUT-07", 0), T0 + H)),
               parcel_with((scan("pickup", "SZX-OUT-07", 0), T0 + 3 * H),
                           (scan("arrival", "SHA-HUB-02", 30), T0 + 30 * H)),
               at_station(), at_station(scan("out_for_delivery", "SHA-STA-13", 24)),
               at_station(scan("out_for_delivery", "SHA-STA-13", 24),
                          scan("delivery_attempt", "SHA-STA-13", 26,
                               attempt_reason="recipient_absent")),
               at_station(scan("delivered", "SHA-STA-13", 25, signed_by="recipient"))]
    seen = set()
    for learned in (with_station(40), with_station(10), lane, MODEL):
        in_force = lambda m, learned=learned: learned if m >= LEARNED_AT else None
        for parcel in stories:
            state, manifest, revised = parcel.state, parcel.manifest, parcel.eta
            _, current = predict_delivery(state, manifest, NETWORK, in_force, revised=revised)
            fixed = estimate_eta(state, manifest, NETWORK, revised=revised)
            assert current_prediction(state, manifest, NETWORK, in_force,
                                      revised=revised) == current
            assert current_prediction(state, manifest, NETWORK, in_force, revised=revised,
                                      fixed_now=fixed) == current
            assert predict_delivery(state, manifest, NETWORK, in_force, revised=revised,
                                    fixed_now=fixed)[1] == current
            seen.add(current.basis if current else None)
    assert seen >= {None, "lane+service+weekday", "station+service+weekday"}
