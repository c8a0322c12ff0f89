"""Predicted delivery dates learned from the store's own history: transit-time
distributions per lane, service level and pickup weekday, as percentiles.

`learn` takes finished trips (picked up, delivered) and keeps, for each key from the
most specific (origin, destination, level, weekday) to the least (origin, destination),
how many trips it saw and their 10th, 50th and 90th percentile hours. `predict` uses the
most specific key with enough history, and falls back to the network's typical hours
(the caller's) when there is none: the range is then the typical time alone, with a
confidence of zero. A prediction's confidence is the share of the learned trips its
range held (80 % by construction), shrunk towards zero when the history is thin.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from statistics import quantiles

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
    basis: str  # lane+level+weekday | lane+level | lane | typical_hours

    def to_json(self) -> dict[str, object]:
        return {"earliest": self.earliest.isoformat(), "likely": self.likely.isoformat(),
                "latest": self.latest.isoformat(), "confidence": self.confidence,
                "basis": self.basis}


BASES = ("lane+level+weekday", "lane+level", "lane")


def _keys(origin: str, destination: str, level: str, weekday: int) -> list[Key]:
    return [(origin, destination, level, str(weekday)), (origin, destination, level),
            (origin, destination)]


@dataclass(frozen=True)
class TransitTimes:
    spreads: dict[Key, Spread]
    zone: tzinfo  # the weekday of a pickup is read here
    min_samples: int = 30

    def predict(self, origin: str, destination: str, level: str, picked_up: datetime, *,
                typical_hours: float) -> Prediction:
        weekday = picked_up.astimezone(self.zone).weekday()
        for basis, key in zip(BASES, _keys(origin, destination, level, weekday)):
            spread = self.spreads.get(key)
            if spread is not None and spread.n >= self.min_samples:
                return Prediction(picked_up + timedelta(hours=spread.p10),
                                  picked_up + timedelta(hours=spread.p50),
                                  picked_up + timedelta(hours=spread.p90),
                                  round(0.8 * spread.n / (spread.n + self.min_samples), 2),
                                  basis)
        typical = picked_up + timedelta(hours=typical_hours)
        return Prediction(typical, typical, typical, 0.0, "typical_hours")


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
