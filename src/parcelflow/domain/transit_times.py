"""Predicted delivery dates learned from the store's own history: transit-time
distributions per lane, service level and pickup weekday, as percentiles.

`learn` takes finished trips (picked up, delivered) and keeps, for each key from the
most specific (origin, destination, level, weekday) to the least (origin, destination),
how many trips it saw and their 10th, 50th and 90th percentile hours. `predict` uses the
most specific key with enough history, and falls back to the network's typical hours
(the caller's) when there is none: the range is then the typical time alone, with a
confidence of zero.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from statistics import quantiles
from typing import Any

from parcelflow.domain.eta import EtaModel, estimate_eta, typical_trip_hours
from parcelflow.domain.manifest import Manifest
from parcelflow.domain.network import Network
from parcelflow.domain.timeline import Entry, ParcelState
from parcelflow.domain.vocabulary import Status

Key = tuple[str, ...]


@dataclass(frozen=True)
class Trip:
    origin: str  # city codes
    destination: str
    level: str
    picked_up: datetime
    delivered: datetime

    @property
    def hours(self) -> float:
        return (self.delivered - self.picked_up).total_seconds() / 3600


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
    basis: str  # lane+service+weekday | lane+service | lane | network_typical

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
FALLBACK = "network_typical"


def _keys(origin: str, destination: str, level: str, weekday: int) -> list[Key]:
    return [(origin, destination, level, str(weekday)), (origin, destination, level),
            (origin, destination)]


@dataclass(frozen=True)
class TransitTimes:
    spreads: dict[Key, Spread]
    zone: tzinfo  # the weekday of a pickup is read here
    min_samples: int = 30

    def predict(self, origin: str, destination: str, level: str, picked_up: datetime, *,
                typical_hours: float | None) -> Prediction | None:
        """None: no key has enough history and the network has no typical hours."""
        weekday = picked_up.astimezone(self.zone).weekday()
        for basis, key in zip(BASES, _keys(origin, destination, level, weekday)):
            spread = self.spreads.get(key)
            if spread is not None and spread.n >= self.min_samples:
                return Prediction(picked_up + timedelta(hours=spread.p10),
                                  picked_up + timedelta(hours=spread.p50),
                                  picked_up + timedelta(hours=spread.p90),
                                  round(0.8 * spread.n / (spread.n + self.min_samples), 2),
                                  basis)
        return typical_prediction(picked_up, typical_hours)

    @property
    def trips(self) -> int:
        """How many trips it learned from (each is counted once, under its lane)."""
        return sum(s.n for k, s in self.spreads.items() if len(k) == 2)

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


def first_pickup(state: ParcelState) -> Entry | None:
    """Where the trip starts: the first scan that stands, in occurred order (the pickup,
    or where a parcel whose pickup scan was missed was first seen; a pickup scan that
    came in after later scans does not move the start)."""
    physical = state.physical
    return physical[0] if physical else None


def predict_delivery(state: ParcelState, manifest: Manifest | None, network: Network,
                     models: Models, *, revised: datetime | None = None,
                     eta_model: EtaModel = EtaModel()
                     ) -> tuple[Prediction | None, Prediction | None]:
    """(original, current) for a parcel.

    The original is predicted at pickup, from the model learned by the time the pickup
    was recorded: rendering the parcel again later (a rebuild) gives the same original.
    The current one is the range the model in force at the parcel's latest event gives
    from pickup, moved by how far the parcel is ahead of or behind the network's fixed
    schedule at its latest scan: the fixed-hours ETA from where it is now
    (`estimate_eta`, with a revision from someone who knows better) minus the fixed-hours
    ETA it had at pickup. Nothing before the latest scan. So a parcel on schedule keeps
    its range, and a day's delay moves the whole range a day. It is not conditioned on
    the time already spent (three percentiles are too little for that): the confidence
    stays the one learned at pickup. None where there is nothing to predict.
    """
    pickup = first_pickup(state)
    if manifest is None or pickup is None:
        return None, None
    typical = typical_trip_hours(network, manifest.origin, manifest.destination, eta_model)
    level = str(manifest.service_level)

    def from_pickup(model: TransitTimes | None) -> Prediction | None:
        if model is None:
            return typical_prediction(pickup.occurred_at, typical)
        return model.predict(manifest.origin, manifest.destination, level,
                             pickup.occurred_at, typical_hours=typical)

    original = from_pickup(models(pickup.recorded_at))
    if state.status in _NO_PREDICTION or state.last_scan_at is None:
        return original, None
    latest = max(e.recorded_at for e in state.timeline)
    base = from_pickup(models(latest))
    if base is None:
        return original, None
    fixed_now = estimate_eta(state, manifest, network, revised=revised, model=eta_model)
    shift = timedelta(0) if fixed_now is None or typical is None else \
        fixed_now - (pickup.occurred_at + timedelta(hours=typical))
    return original, base.shifted(shift, not_before=state.last_scan_at)


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
    spreads = {}
    for key, seen in hours.items():
        if len(seen) < 2:
            continue
        deciles = quantiles(seen, n=10, method="inclusive")
        spreads[key] = Spread(len(seen), deciles[0], deciles[4], deciles[8])
    return TransitTimes(spreads, zone, min_samples)
