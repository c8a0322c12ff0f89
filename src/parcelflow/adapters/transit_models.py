"""The learned transit-time models (`parcelflow learn-eta`), one row per version, beside
the events; and the model in force at a moment, for the renderers that predict.

A version is never changed: each learning adds one, with when it was learned and the
history it came from (the deliveries' period and count). Predictions pick the version
learned by the time the event they render was recorded, so rendering a parcel again
(a rebuild of the tracking view) gives the same original prediction as it had live.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import orjson

from parcelflow.adapters.sql_tables import SqlTables
from parcelflow.domain.times import instant, since_epoch
from parcelflow.domain.transit_times import TransitTimes


@dataclass(frozen=True)
class ModelVersion:
    version: int
    learned_at: str  # UTC ISO 8601
    history_from: str | None  # the first and last delivery it learned from
    history_to: str | None
    trips: int
    keys: int
    source: str  # what it read, e.g. "tracking_view, 30 days"

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


class TransitModelStore(SqlTables):
    create_statements = (
        "CREATE TABLE IF NOT EXISTS eta_models ("
        "version INTEGER PRIMARY KEY, learned_at TEXT NOT NULL, history_from TEXT, "
        "history_to TEXT, trips INTEGER NOT NULL, keys INTEGER NOT NULL, "
        "source TEXT NOT NULL, model TEXT NOT NULL)",
    )
    _META = "version, learned_at, history_from, history_to, trips, keys, source"

    def save(self, model: TransitTimes, *, learned_at: datetime, history_from: datetime | None,
             history_to: datetime | None, source: str) -> ModelVersion:
        """A new version. Two learners saving at once: the loser's INSERT fails on the
        primary key and it tries the next number (a version is never overwritten)."""
        for _ in range(5):
            latest = self.query("SELECT MAX(version) AS v FROM eta_models")[0]["v"]
            row = ModelVersion(int(latest or 0) + 1, instant(learned_at),
                               instant(history_from) if history_from else None,
                               instant(history_to) if history_to else None,
                               model.trips, len(model.spreads), source)
            try:
                self.execute(f"INSERT INTO eta_models ({self._META}, model) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             [*vars(row).values(), orjson.dumps(model.to_json()).decode()])
                return row
            except Exception as e:  # an IntegrityError of either driver
                if "UNIQUE" not in str(e).upper() and "DUPLICATE" not in str(e).upper():
                    raise
        raise RuntimeError("eta_models: could not take a new version number")

    def versions(self) -> list[ModelVersion]:
        return [ModelVersion(**r) for r in self.query(
            f"SELECT {self._META} FROM eta_models ORDER BY version")]

    def models_after(self, version: int, zone: tzinfo) -> list[tuple[ModelVersion, TransitTimes]]:
        rows = self.query(f"SELECT {self._META}, model FROM eta_models WHERE version > ? "
                          "ORDER BY version", [version])
        return [(ModelVersion(**{k: r[k] for k in r if k != "model"}),
                 TransitTimes.from_json(orjson.loads(r["model"]), zone)) for r in rows]


class ModelsInForce:
    """`models(moment)`: the latest version learned by `moment`, or None before the first.

    Versions are read once and then only the new ones, at most every `refresh` seconds,
    and only when asked about a moment after the last read: a rebuild over old events
    reads the table once. Live, a version saved in the last `refresh` seconds may be
    missed for events recorded in those seconds (their original prediction then comes
    from the version before, and a rebuild would use the new one): the one window where
    live and rebuilt can differ, a few seconds every `learn-eta`.
    """

    def __init__(self, store: TransitModelStore, zone: tzinfo, clock: Any, *,
                 refresh: float = 5.0):
        self.store = store
        self.zone = zone
        self.clock = clock
        self.refresh = refresh
        # When each version was learned, ascending with the versions, and when the table
        # was last read (the store's clock), as time since the epoch (`since_epoch`):
        # every row rendered asks twice, and writing the moment as UTC text to compare
        # it with the stored text was ~1.5 us a question.
        self._learned: list[timedelta] = []
        self._models: list[TransitTimes] = []
        self._version = 0
        self._read_until = timedelta.min
        self._read_at = -float("inf")  # monotonic

    def _read(self) -> None:
        now = since_epoch(self.clock())
        for meta, model in self.store.models_after(self._version, self.zone):
            self._version = meta.version
            learned = since_epoch(datetime.fromisoformat(meta.learned_at))
            if self._learned and learned < self._learned[-1]:
                continue  # a clock that went back: keep the order by time
            self._learned.append(learned)
            self._models.append(model)
        self._read_until, self._read_at = now, time.monotonic()

    def __call__(self, moment: datetime) -> TransitTimes | None:
        at = since_epoch(moment)
        if at > self._read_until and time.monotonic() - self._read_at >= self.refresh:
            self._read()
        i = bisect.bisect_right(self._learned, at)
        return self._models[i - 1] if i else None


def models_in_force(service: Any) -> ModelsInForce:
    """The models of a service's database, in its network's time zone."""
    store = TransitModelStore(service.factory.datastore)
    return ModelsInForce(store, service.network.zone, service.clock)
