"""Predicted delivery dates learned from the store's own history: transit-time
distributions per lane, service level and pickup weekday, and per last-mile station
(the final leg, from reaching the delivering station to the delivery), as percentiles.

`learn` takes finished trips (picked up, delivered) and keeps, for each key from the
most specific (origin, destination, level, weekday) to the least (origin, destination),
how many trips it saw and their 10th, 50th and 90th percentile hours. `predict` uses the
most specific key with enough history, and falls back to the network's typical hours
(the caller's) when there is none: the range is then the typical time alone, with a
confidence of zero.

The last mile is keyed (LAST_MILE, station, level, weekday of reaching the station), and
down to (LAST_MILE, station): a station's round depends on the station (its couriers,
its district), which the lane does not see. `predict_last_mile` answers from the
arrival there, or None when the station's history is thin (the caller keeps the lane).

Confidence, a number from 0 to 1: how likely the delivery is to fall inside the range,
as far as the history can say. The 10th-90th percentile range held 80 % of the learned
trips by construction; that 0.8 is shrunk towards zero when the history is thin
(`0.8 * n / (n + min_samples)`: 0.4 at the minimum of 30 trips, 0.73 at 300), and it
is 0 for the network's typical hours, which are one time and no range.

`predict_delivery` is a parcel's prediction: the original one at its pickup, and the
current one from its latest position (see there).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from statistics import quantiles
from typing import Any

from parcelflow.domain.eta import EtaModel, estimate_eta, typical_trip_hours
from parcelflow.domain.manifest import Manifest
from parcelflow.domain.network import Network
from parcelflow.domain.timeline import Entry, ParcelState
from parcelflow.domain.vocabulary import FacilityKind, Status

Key = tuple[str, ...]


@dataclass(frozen=True)
class Trip:
    origin: str  # city codes
    destination: str
    level: str
    picked_up: datetime
    delivered: datetime
    station: str | None = None  # the delivering station (facility code), when it was one
    at_station: datetime | None = None  # when the parcel was first seen there, last stay

    @property
    def hours(self) -> float:
        return (self.delivered - self.picked_up).total_seconds() / 3600

    @property
    def last_mile_hours(self) -> float | None:
        # First seen there by the delivery scan itself: when it got there is unknown.
        if self.station is None or self.at_station is None or self.at_station >= self.delivered:
            return None
        return (self.delivered - self.at_station).total_seconds() / 3600


def reached_station(visits: Sequence[tuple[str, datetime]],
                    kind_of: Callable[[str], FacilityKind | None]
                    ) -> tuple[str, datetime] | None:
    """(station, when first seen there) for scans (facility, occurred_at) in occurred
    order whose last stay is at a station: the start of the last run of scans at one
    facility. The first scan of the run, not only an arrival scan: a missed arrival scan
    is common, and the out-for-delivery scan then is where it was first seen. None: the
    parcel is not (or was not delivered) at a station (a hub, a pickup point)."""
    return _station_run(reversed(visits), kind_of)


def _station_run(latest_first: Iterable[tuple[str, datetime]],
                 kind_of: Callable[[str], FacilityKind | None]) -> tuple[str, datetime] | None:
    """`reached_station` of the scans given latest first: reads only the last stay (a
    follower asks it at every scan, of a lazy view of the standing scans)."""
    scans = iter(latest_first)
    last = next(scans, None)
    if last is None or kind_of(last[0]) != FacilityKind.STATION:
        return None
    station, first = last
    for facility, at in scans:
        if facility != station:
            break
        first = at
    return station, first


@dataclass(frozen=True)
class Spread:
    n: int
    p10: float
    p50: float
    p90: float


@dataclass(frozen=True)
class Prediction:
    earliest: datetime
    likely: datetime
    latest: datetime
    confidence: float
    basis: str  # lane+service+weekday | lane+service | lane | station+service+weekday |
    #             station+service | station (the last mile) | network_typical

    def to_json(self) -> dict[str, object]:
        return {"earliest": self.earliest.isoformat(), "likely": self.likely.isoformat(),
                "latest": self.latest.isoformat(), "confidence": self.confidence,
                "basis": self.basis}

    def shifted(self, by: timedelta, *, not_before: datetime) -> Prediction:
        """The same range moved by `by`, none of it before `not_before`."""
        earliest, likely, latest = (max(t + by, not_before)
                                    for t in (self.earliest, self.likely, self.latest))
        return Prediction(earliest, likely, latest, self.confidence, self.basis)


BASES = ("lane+service+weekday", "lane+service", "lane")
STATION_BASES = ("station+service+weekday", "station+service", "station")
FALLBACK = "network_typical"
# The first part of a last-mile key: no city code (those are three letters) is this.
LAST_MILE = "last_mile"


def _keys(origin: str, destination: str, level: str, weekday: int) -> list[Key]:
    return [(origin, destination, level, str(weekday)), (origin, destination, level),
            (origin, destination)]


def _station_keys(station: str, level: str, weekday: int) -> list[Key]:
    return [(LAST_MILE, station, level, str(weekday)), (LAST_MILE, station, level),
            (LAST_MILE, station)]


@dataclass(frozen=True)
class TransitTimes:
    spreads: dict[Key, Spread]
    zone: tzinfo  # the weekday of a pickup is read here
    min_samples: int = 30

    def predict(self, origin: str, destination: str, level: str, picked_up: datetime, *,
                typical_hours: float | None) -> Prediction | None:
        """None: no key has enough history and the network has no typical hours."""
        weekday = picked_up.astimezone(self.zone).weekday()
        found = self._first_known(picked_up, BASES, _keys(origin, destination, level, weekday))
        return found or typical_prediction(picked_up, typical_hours)

    def predict_last_mile(self, station: str, level: str, arrived: datetime
                          ) -> Prediction | None:
        """From reaching the delivering station; None: the station's history is thin."""
        weekday = arrived.astimezone(self.zone).weekday()
        return self._first_known(arrived, STATION_BASES,
                                 _station_keys(station, level, weekday))

    def _first_known(self, start: datetime, bases: tuple[str, ...], keys: list[Key]
                     ) -> Prediction | None:
        for basis, key in zip(bases, keys):
            spread = self.spreads.get(key)
            if spread is not None and spread.n >= self.min_samples:
                return Prediction(start + timedelta(hours=spread.p10),
                                  start + timedelta(hours=spread.p50),
                                  start + timedelta(hours=spread.p90),
                                  round(0.8 * spread.n / (spread.n + self.min_samples), 2),
                                  basis)
        return None

    @property
    def trips(self) -> int:
        """How many trips it learned from (each is counted once, under its lane)."""
        return sum(s.n for k, s in self.spreads.items() if len(k) == 2 and k[0] != LAST_MILE)

    def to_json(self) -> dict[str, object]:
        return {"min_samples": self.min_samples,
                "spreads": [[*key, s.n, s.p10, s.p50, s.p90]
                            for key, s in sorted(self.spreads.items())]}

    @classmethod
    def from_json(cls, data: dict[str, Any], zone: tzinfo) -> TransitTimes:
        spreads = {}
        for item in data["spreads"]:
            *key, n, p10, p50, p90 = item
            spreads[tuple(key)] = Spread(int(n), float(p10), float(p50), float(p90))
        return cls(spreads, zone, int(data["min_samples"]))


def typical_prediction(picked_up: datetime, typical_hours: float | None) -> Prediction | None:
    if typical_hours is None:
        return None
    typical = picked_up + timedelta(hours=typical_hours)
    return Prediction(typical, typical, typical, 0.0, FALLBACK)


# The learned model in force at a moment (the latest learned by then), or None.
Models = Callable[[datetime], "TransitTimes | None"]

# Nothing more to predict: the parcel reached its receiver (or a pickup point, where the
# receiver collects it), or will not.
_NO_PREDICTION = frozenset({Status.DELIVERED, Status.AWAITING_PICKUP, Status.RETURNING,
                            Status.RETURNED, Status.CANCELLED, Status.DISPOSED, Status.LOST})
# Where the last mile's history applies: the parcel is in its delivering station's hands.
_AT_STATION = frozenset({Status.AT_FACILITY, Status.OUT_FOR_DELIVERY, Status.DELIVERY_FAILED})


def first_pickup(state: ParcelState) -> Entry | None:
    """Where the trip starts: the first scan that stands, in occurred order (the pickup,
    or where a parcel whose pickup scan was missed was first seen; a pickup scan that
    came in after later scans does not move the start)."""
    physical = state.physical
    return physical[0] if physical else None


_FIND: Any = object()  # `fixed_now` not given: found here
_FIXED_HOURS = EtaModel()


def predict_delivery(state: ParcelState, manifest: Manifest | None, network: Network,
                     models: Models, *, revised: datetime | None = None,
                     eta_model: EtaModel = _FIXED_HOURS, fixed_now: datetime | None = _FIND,
                     ) -> tuple[Prediction | None, Prediction | None]:
    """(original, current) for a parcel.

    The original is predicted at pickup, from the model learned by the time the pickup
    was recorded: rendering the parcel again later (a rebuild) gives the same original.
    Once the parcel is at its delivering station (there, out for delivery, or after a
    failed attempt), the current one is the station's learned last mile from when it was
    first seen there, moved by how far the fixed schedule has slipped since (the
    fixed-hours ETA now minus that first sighting plus the station allowance), where the
    station has enough history. Otherwise it is the range the model in force at the
    parcel's latest event gives from pickup, moved by how far the parcel is ahead of or behind the network's fixed
    schedule at its latest scan: the fixed-hours ETA from where it is now
    (`estimate_eta`, with a revision from someone who knows better) minus the fixed-hours
    ETA it had at pickup. Nothing before the latest scan. So a parcel on schedule keeps
    its range, and a day's delay moves the whole range a day. It is not conditioned on
    the time already spent (three percentiles are too little for that): the confidence
    stays the one learned at pickup. None where there is nothing to predict.
    `fixed_now`: that fixed-hours ETA (`estimate_eta` with the same `revised` and
    `eta_model`), when the caller has it already.
    """
    pickup = first_pickup(state)
    if manifest is None or pickup is None:
        return None, None
    typical = typical_trip_hours(network, manifest.origin, manifest.destination, eta_model)
    original = original_prediction(manifest, pickup, models(pickup.recorded_at), network,
                                   eta_model)
    return original, _current(state, manifest, network, models, pickup, typical,
                              revised=revised, eta_model=eta_model, fixed_now=fixed_now)


def current_prediction(state: ParcelState, manifest: Manifest | None, network: Network,
                       models: Models, *, revised: datetime | None = None,
                       eta_model: EtaModel = _FIXED_HOURS,
                       fixed_now: datetime | None = _FIND) -> Prediction | None:
    """`predict_delivery(...)[1]`, without the original (the notification worker needs
    only the current one, for every event). `fixed_now`: the fixed-hours ETA
    (`estimate_eta` with the same `revised` and `eta_model`) when the caller has it."""
    pickup = first_pickup(state)
    if manifest is None or pickup is None:
        return None
    typical = typical_trip_hours(network, manifest.origin, manifest.destination, eta_model)
    return _current(state, manifest, network, models, pickup, typical, revised=revised,
                    eta_model=eta_model, fixed_now=fixed_now)


def original_prediction(manifest: Manifest, pickup: Entry, model: TransitTimes | None,
                        network: Network, eta_model: EtaModel = _FIXED_HOURS
                        ) -> Prediction | None:
    """`predict_delivery(...)[0]` from its parts: the parcel's first standing scan
    (`first_pickup`) and the model in force when it was recorded
    (`models(pickup.recorded_at)`). It depends on nothing else, so a renderer that has
    these three unchanged has it unchanged."""
    typical = typical_trip_hours(network, manifest.origin, manifest.destination, eta_model)
    return _from_pickup(model, manifest, pickup, typical)


def _from_pickup(model: TransitTimes | None, manifest: Manifest, pickup: Entry,
                 typical: float | None) -> Prediction | None:
    if model is None:
        return typical_prediction(pickup.occurred_at, typical)
    return model.predict(manifest.origin, manifest.destination, str(manifest.service_level),
                         pickup.occurred_at, typical_hours=typical)


def _current(state: ParcelState, manifest: Manifest, network: Network, models: Models,
             pickup: Entry, typical: float | None, *, revised: datetime | None,
             eta_model: EtaModel, fixed_now: datetime | None) -> Prediction | None:
    if state.status in _NO_PREDICTION or state.last_scan_at is None:
        return None
    latest = state.latest_recorded_at
    assert latest is not None  # it has a scan
    model = models(latest)
    if fixed_now is _FIND:
        fixed_now = estimate_eta(state, manifest, network, revised=revised, model=eta_model)
    at_station = _station_run(((e.scan.facility, e.occurred_at)  # type: ignore[union-attr]
                               for e in reversed(state.physical)), network.kind_of) \
        if state.status in _AT_STATION else None
    if at_station is not None and model is not None:
        last_mile = model.predict_last_mile(at_station[0], str(manifest.service_level),
                                            at_station[1])
        if last_mile is not None:
            arrived = at_station[1]
            expected = arrived + timedelta(hours=eta_model.at_station)
            shift = timedelta(0) if fixed_now is None else fixed_now - expected
            return last_mile.shifted(shift, not_before=state.last_scan_at)
    base = _from_pickup(model, manifest, pickup, typical)
    if base is None:
        return None
    shift = timedelta(0) if fixed_now is None or typical is None else \
        fixed_now - (pickup.occurred_at + timedelta(hours=typical))
    return base.shifted(shift, not_before=state.last_scan_at)


PAST_PROMISE, PROMISE_MISSED = "past_promise", "promise_missed"


def promise_news(promised_by: datetime | None, occurred_at: datetime, *, arrived: bool,
                 last_occurred_before: datetime | None, before: Prediction | None,
                 now: Prediction | None) -> str | None:
    """What the customer must hear of the prediction after an event that happened at
    `occurred_at`: PROMISE_MISSED once, on the first event after the promised time while
    the parcel has not arrived (nothing on the timeline was after the promise before it);
    else PAST_PROMISE once per move of the likely time past the promise (it was within
    it, or there was no prediction, just before). None: nothing to say."""
    if promised_by is None:
        return None
    if not arrived and occurred_at > promised_by and (
            last_occurred_before is None or last_occurred_before <= promised_by):
        return PROMISE_MISSED
    past_now = now is not None and now.likely > promised_by
    past_before = before is not None and before.likely > promised_by
    return PAST_PROMISE if past_now and not past_before else None


def learn(trips: Iterable[Trip], zone: tzinfo, *, min_samples: int = 30) -> TransitTimes:
    hours: dict[Key, list[float]] = defaultdict(list)
    for trip in trips:
        weekday = trip.picked_up.astimezone(zone).weekday()
        for key in _keys(trip.origin, trip.destination, trip.level, weekday):
            hours[key].append(trip.hours)
        last_mile = trip.last_mile_hours
        if last_mile is not None and trip.station is not None and trip.at_station is not None:
            weekday = trip.at_station.astimezone(zone).weekday()
            for key in _station_keys(trip.station, trip.level, weekday):
                hours[key].append(last_mile)
    spreads = {}
    for key, seen in hours.items():
        if len(seen) < 2:
            continue
        deciles = quantiles(seen, n=10, method="inclusive")
        spreads[key] = Spread(len(seen), deciles[0], deciles[4], deciles[8])
    return TransitTimes(spreads, zone, min_samples)
