"""One read side for a sharded store: each read model follows every shard's log.

Each shard has its own notification log, so a read model keeps one position per shard
(the tracking table's application name says whose: `ShardedParcelService.log_names`),
each written in the same transaction as the rows it covers — exactly-once per shard, as
with one log. A parcel lives on one shard, so its events arrive in its own log's order;
what the views add up across parcels (daily statistics) does not depend on how the
shards' batches interleave. The rows are written once, in the first shard's database,
so the exception queue, the statistics and the console see the whole network.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from parcelflow.application.sharding import ShardedParcelService
from parcelflow.projections.base import ParcelProjection
from parcelflow.projections.runner import Lag, Progress, Runner


@dataclass(frozen=True)
class NetworkLag(Lag):
    """A read model's lag over every shard: events behind and the oldest one's age for
    the whole network; positions and heads are per shard (their sums mean nothing)."""

    shards: list[Lag] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"projection": self.name, "position": [s.position for s in self.shards],
                "head": [s.head for s in self.shards], "behind": self.behind,
                "seconds_behind": round(self.seconds, 3),
                "shards": [{"position": s.position, "head": s.head, "behind": s.behind,
                            "seconds_behind": round(s.seconds, 3)} for s in self.shards]}


class _AllLogs:
    """The shards' logs as far as a progress bar needs them: how many ids they hold."""

    def __init__(self, runners: list[Runner]):
        self.runners = runners

    def head(self) -> int:
        return sum(r.follower.head() for r in self.runners)


class ShardedRunner:
    """`Runner`'s calls for one read model fed by every shard's log."""

    POLL_SECONDS = 0.2  # following: how long to wait when no shard had anything new

    def __init__(self, projection: ParcelProjection, service: ShardedParcelService, *,
                 batch_size: int = 1000):
        self.projection = projection
        self.service = service
        self.name = projection.name
        self.runners = [Runner(projection, shard, batch_size=batch_size, tracking_name=name)
                        for shard, name in zip(service.shards, service.log_names, strict=True)]

    @property
    def positions(self) -> list[int]:
        return [r.position for r in self.runners]

    position = positions  # what the commands print: one position per shard

    @property
    def follower(self) -> _AllLogs:
        return _AllLogs(self.runners)

    def run(self, *, follow: bool = False, stop: threading.Event | None = None,
            upto: int | None = None, progress: Progress | None = None,
            batch_size: int | None = None) -> int:
        """Every shard's log from the view's position there: to each head, or on and on
        (a round over the shards, then a short wait when none had anything new)."""
        if upto is not None:
            raise ValueError("`upto` is a position in one log; a sharded view follows several")
        stop = stop or threading.Event()
        done = 0
        while not stop.is_set():
            new = sum(r.run(stop=stop, progress=progress, batch_size=batch_size)
                      for r in self.runners)
            done += new
            if not follow:
                break
            if not new:
                stop.wait(self.POLL_SECONDS)
        return done

    def rebuild(self, progress: Progress | None = None) -> tuple[int, float]:
        """Drop the view and rebuild it from every shard's events up to its head."""
        import time

        started = time.perf_counter()
        self.projection.view.drop()
        events = 0
        heads = [r.follower.head() for r in self.runners]
        # While a bucket moves, its parcels are on two shards: each is taken from the
        # shard the map gives it (the source until the switch, then the target).
        self.service.refresh_map()
        for index, (r, upto) in enumerate(zip(self.runners, heads, strict=True)):
            def shown(done: int, _position: int, _head: int, before: int = events) -> None:
                if progress:
                    progress(before + done, before + done, sum(heads))

            held = [pid for pid in r.service.recorder.parcel_ids(upto)
                    if self.service.router.index_of_parcel(pid) == index]
            events += r.replay(held, upto, shown)
            r.record_position(upto)
        return events, time.perf_counter() - started

    def lag(self, now: datetime | None = None) -> NetworkLag:
        lags = [r.lag(now) for r in self.runners]
        return NetworkLag(self.name, sum(x.position for x in lags), sum(x.head for x in lags),
                          sum(x.behind for x in lags), max(x.seconds for x in lags), lags)

    def close(self) -> None:
        for r in self.runners:
            r.close()

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"{name}: not defined for a read model fed by several logs")
