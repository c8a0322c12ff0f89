"""Predicted delivery dates on simulated history: learn from a month, predict a held-out
week, against the network's fixed typical hours.

    .venv/bin/python bench/eta.py [--per-day 3000] [--events 1000000]

History: `parcelflow simulate`'s journeys (the demo's network, its lanes' hours with
their spread, missed scans, failed attempts, pickup points), one simulated day after
another for 35 days, from the scans as the scanners sent them. A trip is a parcel's
pickup scan to its delivered (or picked_up_by_recipient) scan. The first 28 days are
learned (`domain/transit_times.py`), the last 7 predicted at pickup; the baseline is the
network's typical hours at pickup (`domain/eta.py`'s allowances: to the origin hub, the
linehaul lane, the last mile). It prints, per method: the share of deliveries inside the
predicted range (the baseline has none), the share within 6 hours of the likely time,
and the mean absolute error of the likely time; then per lane for the ten busiest.

Then the re-prediction when a held-out parcel reaches its delivering station (first seen
there): the station's learned last mile (`predict_last_mile`, the lane where the
station's history is thin), against the lane's range moved by the fixed schedule's lag
at that moment (what `predict_delivery` gives without station history), and against the
fixed station allowance (`EtaModel.at_station`) as the baseline.

Then the time to learn from a month of `--events` scan events: the events grouped into
trips (pickup and delivery per parcel) and the deciles computed, timed in the same run,
next to the time merely to read the events once (the floor any learner pays).
The trips there include the delivering station, so the last mile is learned too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parcelflow.bootstrap import load_network  # noqa: E402
from parcelflow.domain.eta import EtaModel, typical_trip_hours  # noqa: E402
from parcelflow.domain.network import Network  # noqa: E402
from parcelflow.domain.transit_times import TransitTimes, Trip, learn, reached_station  # noqa: E402,E501
from parcelflow.simulation import simulate  # noqa: E402

DONE = ("delivered", "picked_up_by_recipient")


def typical_hours(network: Network, origin: str, destination: str) -> float:
    """The network's fixed hours (`domain/eta.py`), a day's linehaul where it has no lane."""
    known = typical_trip_hours(network, origin, destination)
    return known if known is not None else EtaModel().to_origin_hub + 24.0 + EtaModel().last_mile


def history(network: Network, days: int, per_day: int,
            start: datetime) -> tuple[list[tuple[int, Trip]], list[dict]]:
    """(day, trip) for each finished parcel, and every scan event."""
    out, events = [], []
    # `simulate` keeps only what was scanned by its `now`: to see whole journeys, each
    # day's parcels are booked over that day and the five after it and watched until the
    # end, and only those picked up on the day are kept (about one in six).
    watch = 5
    for day in range(days):
        begins = start + timedelta(days=day)
        now = begins + timedelta(days=1 + watch)
        sim = simulate(network, parcels=per_day * (1 + watch), now=now, seed=100 + day,
                       first_serial=1 + day * per_day * (1 + watch), hours=24 * (1 + watch))
        manifests = {m["tracking_no"]: m for m in sim.manifests}
        events.extend(sim.scans)
        manifests = {m["tracking_no"]: (m["origin"], m["destination"], m["service_level"])
                     for m in sim.manifests}
        for trip in trips_from_events(sim.scans, manifests, network):
            if begins <= trip.picked_up < begins + timedelta(days=1):
                out.append((day, trip))
    return out, events


def trips_from_events(events: list[dict], manifests: dict[str, tuple[str, str, str]],
                      network: Network) -> list[Trip]:
    """Each parcel's first pickup scan to its first delivery, with the delivering station
    and when it was first seen there (`reached_station` over its scans up to then)."""
    pickup: dict[str, datetime] = {}
    done: dict[str, datetime] = {}
    seen: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for e in events:
        number, at = e["tracking_no"], datetime.fromisoformat(e["occurred_at"])
        seen[number].append((e["facility"], at))
        if e["type"] == "pickup":
            pickup.setdefault(number, at)
        elif e["type"] in DONE:
            done.setdefault(number, at)
    trips = []
    for n, at in done.items():
        if n not in pickup or n not in manifests:
            continue
        visits = sorted((v for v in seen[n] if v[1] <= at), key=lambda v: v[1])
        station, arrived = reached_station(visits, network.kind_of) or (None, None)
        trips.append(Trip(*manifests[n], pickup[n], at, station, arrived))
    return trips


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-day", type=int, default=3000)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    network = load_network()
    start = datetime(2026, 10, 12, tzinfo=network.zone)  # a Monday, after National Day

    t0 = time.perf_counter()
    trips, _ = history(network, 35, args.per_day, start)
    print(f"simulated 35 days in {time.perf_counter() - t0:.0f} s")
    learned = [t for d, t in trips if d < 28]
    held_out = [t for d, t in trips if d >= 28]
    model = learn(learned, network.zone)
    print(f"history: {len(learned)} trips learned (28 days), {len(held_out)} predicted (7 days)")

    rows: dict[str, list[tuple[float, float, bool, float]]] = defaultdict(list)
    inside, err_learned, err_base, near_learned, near_base = [], [], [], [], []
    bases: dict[str, int] = defaultdict(int)
    for t in held_out:
        typical = typical_hours(network, t.origin, t.destination)
        p = model.predict(t.origin, t.destination, t.level, t.picked_up, typical_hours=typical)
        bases[p.basis] += 1
        e_learned = abs((t.delivered - p.likely).total_seconds()) / 3600
        e_base = abs(t.hours - typical)
        hit = p.earliest <= t.delivered <= p.latest
        inside.append(hit)
        err_learned.append(e_learned)
        err_base.append(e_base)
        near_learned.append(e_learned <= 6)
        near_base.append(e_base <= 6)
        rows[f"{t.origin}-{t.destination}"].append((e_learned, e_base, hit, 0.0))
    print(f"bases used: {dict(sorted(bases.items()))}")
    print(f"{'method':<26}{'inside range':>14}{'within 6 h':>12}{'MAE h':>9}")
    print(f"{'learned (p10-p90, p50)':<26}{mean(inside):>14.1%}{mean(near_learned):>12.1%}"
          f"{mean(err_learned):>9.2f}")
    print(f"{'typical hours (baseline)':<26}{'n/a':>14}{mean(near_base):>12.1%}"
          f"{mean(err_base):>9.2f}")
    print("per lane (ten busiest): trips, inside range, MAE learned / baseline")
    for lane, seen in sorted(rows.items(), key=lambda kv: -len(kv[1]))[:10]:
        print(f"  {lane:<9}{len(seen):>6}{mean(s[2] for s in seen):>8.1%}"
              f"{mean(s[0] for s in seen):>8.2f} /{mean(s[1] for s in seen):>6.2f}")

    last_mile(network, model, held_out)

    # Learning time over a month of --events events.
    events: list[dict] = []
    manifests: dict[str, tuple[str, str, str]] = {}
    day = 0
    while len(events) < args.events:
        sim = simulate(network, parcels=5000, now=start + timedelta(days=day + 1),
                       seed=900 + day, first_serial=1 + day * 5000, hours=24)
        manifests.update({m["tracking_no"]: (m["origin"], m["destination"], m["service_level"])
                          for m in sim.manifests})
        events.extend(sim.scans)
        day += 1
    events = events[:args.events]
    t0 = time.perf_counter()
    floor = sum(1 for e in events if e["type"])  # read each event once
    t1 = time.perf_counter()
    month = learn(trips_from_events(events, manifests, network), network.zone)
    t2 = time.perf_counter()
    print(f"learn from {len(events)} events ({day} simulated days, {len(month.spreads)} keys): "
          f"{t2 - t1:.2f} s ({len(events) / (t2 - t1):,.0f} events/s); "
          f"reading them once: {t1 - t0:.3f} s (floor, {floor} read)")


def last_mile(network: Network, model: TransitTimes, held_out: list[Trip]) -> None:
    """Re-predicted when first seen at the delivering station, three ways."""
    at_station = EtaModel().at_station
    scores: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    bases: dict[str, int] = defaultdict(int)
    for t in held_out:
        if t.last_mile_hours is None:
            continue  # a pickup point, or first seen at the station by the delivery
        typical = typical_hours(network, t.origin, t.destination)
        arrived = t.at_station
        p = model.predict_last_mile(t.station, t.level, arrived)
        lane = model.predict(t.origin, t.destination, t.level, t.picked_up,
                             typical_hours=typical)
        lane = lane.shifted(arrived + timedelta(hours=at_station)
                            - (t.picked_up + timedelta(hours=typical)), not_before=arrived)
        bases[p.basis if p else f"{lane.basis} (station thin)"] += 1
        fixed = arrived + timedelta(hours=at_station)
        for name, q in (("station", p or lane), ("lane", lane)):
            scores[name].append((q.earliest <= t.delivered <= q.latest,
                                 abs((t.delivered - q.likely).total_seconds()) / 3600))
        scores["fixed"].append((False, abs((t.delivered - fixed).total_seconds()) / 3600))
    print(f"at the delivering station ({len(scores['fixed'])} held-out parcels), "
          f"bases used: {dict(sorted(bases.items()))}")
    print(f"{'method':<34}{'inside range':>14}{'within 2 h':>12}{'MAE h':>9}")
    for name, label in (("station", "learned last mile (station)"),
                        ("lane", "lane range moved by the lag"),
                        ("fixed", "station allowance (baseline)")):
        seen = scores[name]
        inside = "n/a" if name == "fixed" else f"{mean(h for h, _ in seen):.1%}"
        print(f"{label:<34}{inside:>14}{mean(e <= 2 for _, e in seen):>12.1%}"
              f"{mean(e for _, e in seen):>9.2f}")


if __name__ == "__main__":
    main()
