"""Predicted delivery dates: learning the transit-time model from the store's own
history (`parcelflow learn-eta`), and how right the predictions were (`stats`).

Both read the tracking view, which already holds what they need per parcel: the lane
(origin and destination cities), the service level, the timeline (where the pickup scan
is, and the delivering station) and when it was delivered, and the prediction made at pickup. No replay.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean
from typing import Any, Protocol

from parcelflow.adapters.transit_models import ModelVersion, TransitModelStore
from parcelflow.application.service import ParcelService
from parcelflow.domain.times import instant
from parcelflow.domain.transit_times import Trip, learn, reached_station
from parcelflow.domain.vocabulary import FacilityKind

PAGE = 5000  # tracking-view rows read at a time


class TrackingRows(Protocol):
    def query(self, statement: str, params: Any = ()) -> list[dict[str, Any]]: ...

    @classmethod
    def decoded(cls, row: dict[str, Any]) -> dict[str, Any]: ...


def _pages(view: TrackingRows, columns: str, where: str, params: list[Any]
           ) -> Iterator[list[dict[str, Any]]]:
    """Delivered parcels' rows, a page at a time in tracking-number order (keyset)."""
    after = ""
    while True:
        rows = view.query(f"SELECT {columns} FROM tracking_view WHERE delivered_at IS NOT NULL "
                          f"AND tracking_no > ? {where} ORDER BY tracking_no LIMIT {PAGE}",
                          [after, *params])
        if not rows:
            return
        yield [view.decoded(r) for r in rows]
        after = rows[-1]["tracking_no"]


def _trip(row: dict[str, Any], kind_of: Callable[[str], FacilityKind | None]) -> Trip | None:
    """The first scan that stands (the pickup, as `first_pickup` in the domain) to the
    delivery, from a tracking-view row (its timeline is in occurred order), with the
    delivering station and when the parcel was first seen there (`reached_station`)."""
    scans = [e for e in row["timeline"] if e["facility"] is not None and not e["voided"]]
    start = scans[0] if scans else None
    if start is None or not (row["origin"] and row["destination"] and row["service_level"]):
        return None
    picked_up = datetime.fromisoformat(start["occurred_at"])
    delivered = datetime.fromisoformat(row["delivered_at"])
    if delivered <= picked_up:
        return None
    at_station = reached_station(
        [(e["facility"], datetime.fromisoformat(e["occurred_at"])) for e in scans], kind_of)
    station, arrived = at_station if at_station else (None, None)
    return Trip(row["origin"], row["destination"], row["service_level"], picked_up, delivered,
                station, arrived)


@dataclass(frozen=True)
class Learned:
    version: ModelVersion
    rows: int  # deliveries read
    seconds: float


class LearnEta:
    """`learn-eta`: a new model version from the deliveries of the last `days` days."""

    def __init__(self, service: ParcelService, view: TrackingRows, store: TransitModelStore):
        self.service = service
        self.view = view
        self.store = store

    def run(self, days: int = 30, progress: Callable[[int, int], None] | None = None
            ) -> Learned:
        """`progress(rows read, rows in all)` after each page."""
        import time

        started = time.perf_counter()
        now = self.service.clock()
        since = instant(now - timedelta(days=days))
        total = int(self.view.query(
            "SELECT COUNT(*) AS n FROM tracking_view WHERE delivered_at IS NOT NULL "
            "AND delivered_at >= ?", [since])[0]["n"])
        trips: list[Trip] = []
        read = 0
        for page in _pages(self.view, "tracking_no, origin, destination, service_level, "
                           "delivered_at, timeline", "AND delivered_at >= ?", [since]):
            read += len(page)
            trips += [t for r in page if (t := _trip(r, self.service.network.kind_of))]
            if progress:
                progress(read, total)
        model = learn(trips, self.service.network.zone)
        delivered = [t.delivered for t in trips]
        version = self.store.save(
            model, learned_at=self.service.clock(),
            history_from=min(delivered) if delivered else None,
            history_to=max(delivered) if delivered else None,
            source=f"tracking_view: deliveries of the last {days} days")
        return Learned(version, read, time.perf_counter() - started)


def _lane_figures(seen: list[tuple[bool, float]]) -> dict[str, Any]:
    return {"deliveries": len(seen),
            "inside_range": round(mean(hit for hit, _ in seen), 4) if seen else None,
            "mae_hours": round(mean(err for _, err in seen), 2) if seen else None}


def prediction_accuracy(view: TrackingRows) -> dict[str, Any]:
    """How right the original predictions (made at pickup) were, over every delivered
    parcel that had one: the share delivered inside the predicted range, and the mean
    absolute error of the likely time in hours; overall and per lane (origin-destination).
    Predictions from the network's typical hours count too (their range is one time)."""
    lanes: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    for page in _pages(view, "tracking_no, origin, destination, delivered_at, eta_original",
                       "AND eta_original IS NOT NULL", []):
        for row in page:
            p, at = row["eta_original"], datetime.fromisoformat(row["delivered_at"])
            hit = datetime.fromisoformat(p["earliest"]) <= at <= datetime.fromisoformat(p["latest"])
            error = abs((at - datetime.fromisoformat(p["likely"])).total_seconds()) / 3600
            lanes[f"{row['origin']}-{row['destination']}"].append((hit, error))
    every = [x for seen in lanes.values() for x in seen]
    return {"of": "the original prediction, made at pickup",
            "overall": _lane_figures(every),
            "lanes": {lane: _lane_figures(seen) for lane, seen in sorted(lanes.items())}}
