"""The parcels' application over several event stores: each parcel on its own shard.

A parcel lives on the shard its bucket is mapped to (`domain/buckets.py`; the map is
kept by an adapter, `adapters/shard_map.py`). Each shard is an ordinary `ParcelService`
— its own events table and notification log, its own data keys and checkpoints — and
`ShardedParcelService` answers the same calls as one, routing each to the parcel's
shard: a batch is cut into one sub-batch per shard (run side by side, one thread each,
so the shards' database time overlaps) and the answers put back in input order. The
CLI, the API and the use-case services built on `ParcelService` use it unchanged.

What belongs to one log has no network-wide meaning: `recorder` answers per-parcel
reads from the parcel's shard and refuses log reads (`ShardedLog`) — followers of the
log (projections, the relay, checkpoints) run per shard, on `shards`. A batch's
`position` is the position on its shard when it wrote to one shard only; otherwise
None, with each shard's position in `extra["positions"]`. The read side (read models,
credentials, request log) lives on the first shard: `factory` and `name` are its.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.personal_data import PersonalData
from parcelflow.application.ports import KeyStore
from parcelflow.application.results import BatchReport, ItemResult, Written
from parcelflow.application.service import ParcelService
from parcelflow.domain.buckets import BUCKETS, bucket_of, bucket_of_parcel
from parcelflow.domain.errors import DomainError
from parcelflow.domain.parcel import Parcel
from parcelflow.wire.scans import BatchTooLarge

T = TypeVar("T")


def stores(service: Any) -> list[ParcelService]:
    """Every event store behind a service: its shards, or itself."""
    return list(getattr(service, "shards", None) or [service])


class ShardedLog(RuntimeError):
    """A read of one notification log asked of the whole network."""

    def __init__(self, what: str):
        super().__init__(f"{what} reads one shard's log: ask each of `service.shards`")


class Router:
    """Bucket → shard; one place that says where a parcel is."""

    def __init__(self, shards: Sequence[ParcelService], layout: Sequence[int]):
        if len(layout) != BUCKETS or not all(0 <= s < len(shards) for s in layout):
            raise ValueError(f"a layout names a shard for each of the {BUCKETS} buckets")
        self.shards = list(shards)
        self.layout = list(layout)

    def index_of(self, tracking_no: str) -> int:
        return self.layout[bucket_of(tracking_no)]

    def index_of_parcel(self, pid: UUID) -> int:
        return self.layout[bucket_of_parcel(pid)]

    def for_parcel(self, pid: UUID) -> ParcelService:
        return self.shards[self.index_of_parcel(pid)]

    def split_ids(self, ids: Collection[UUID]) -> dict[int, list[UUID]]:
        parts: dict[int, list[UUID]] = defaultdict(list)
        for pid in ids:
            parts[self.index_of_parcel(pid)].append(pid)
        return parts

    def split_items(self, items: Sequence[Any]) -> dict[int, list[int]]:
        """Indexes of a batch's items per shard, by their `tracking_no`. An item without
        one is sent to the first shard, whose validation rejects it as it would anyway."""
        parts: dict[int, list[int]] = defaultdict(list)
        for index, item in enumerate(items):
            number = item.get("tracking_no") if isinstance(item, dict) else None
            parts[self.index_of(number) if isinstance(number, str) else 0].append(index)
        return parts


class ShardedKeyStore(KeyStore):
    """Each parcel's data key, on its own shard."""

    def __init__(self, router: Router):
        self.router = router

    def _each(self, ids: Collection[UUID], ask: Callable[[KeyStore, list[UUID]], dict[UUID, Any]]
              ) -> dict[UUID, bytes | None]:
        found: dict[UUID, bytes | None] = {}
        for index, part in self.router.split_ids(ids).items():
            found.update(ask(self.router.shards[index].personal.keys, part))
        return found

    def ensure(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        return self._each(ids, lambda keys, part: keys.ensure(part))

    def keys(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        return self._each(ids, lambda keys, part: keys.keys(part))

    def destroy(self, parcel_id: UUID) -> bool:
        return self.router.for_parcel(parcel_id).personal.keys.destroy(parcel_id)


class ShardedRecorder:
    """The per-parcel reads of `ParcelRecorder`, each from the parcel's shard."""

    def __init__(self, router: Router):
        self.router = router

    def select_events(self, originator_id: UUID, **kwargs: Any) -> list[StoredEvent]:
        return self.router.for_parcel(originator_id).recorder.select_events(originator_id, **kwargs)

    def select_events_for(self, ids: Collection[UUID], upto: int | None = None
                          ) -> dict[UUID, list[StoredEvent]]:
        if upto is not None:
            raise ShardedLog("select_events_for(upto=...)")
        found: dict[UUID, list[StoredEvent]] = {}
        for index, part in self.router.split_ids(ids).items():
            found.update(self.router.shards[index].recorder.select_events_for(part))
        return found

    def max_versions(self, ids: Collection[UUID]) -> dict[UUID, int]:
        found: dict[UUID, int] = {}
        for index, part in self.router.split_ids(ids).items():
            found.update(self.router.shards[index].recorder.max_versions(part))
        return found

    def __getattr__(self, name: str) -> Any:  # the log's reads: notifications, positions
        raise ShardedLog(name)


class ShardedParcelService:
    """`ParcelService`'s calls, each parcel's on its shard (see the module docstring)."""

    def __init__(self, shards: Sequence[ParcelService], layout: Sequence[int],
                 names: Sequence[str] | None = None):
        """`names`: each shard's lasting name (where it is), which keys the read side's
        position in its log; the first shard's position keeps the application's name, as
        with one shard."""
        if len(shards) < 2:
            raise ValueError("one shard is a plain ParcelService")
        self.router = Router(shards, layout)
        self.shards = self.router.shards
        home = self.shards[0]
        self.name = home.name
        names = list(names or (f"shard{i}" for i in range(len(shards))))
        self.log_names = [home.name] + [f"{home.name}@{n}" for n in names[1:]]
        self.factory = home.factory  # the read side's database
        self.mapper = home.mapper  # one transcoder and one event model on every shard
        self.network, self.policy, self.limits, self.clock = (
            home.network, home.policy, home.limits, home.clock)
        self.personal = PersonalData(ShardedKeyStore(self.router))
        self.recorder = ShardedRecorder(self.router)
        self._pool = ThreadPoolExecutor(max_workers=len(self.shards),
                                        thread_name_prefix="parcelflow-shard")

    def shard_for(self, tracking_no: str) -> ParcelService:
        return self.shards[self.router.index_of(tracking_no)]

    # ---- writes --------------------------------------------------------------------

    def ingest(self, items: Sequence[Any], *, now: datetime | None = None) -> BatchReport:
        now = now or self.clock()
        return self._batch(items, lambda shard, part: shard.ingest(part, now=now))

    def register(self, items: Sequence[Any], *, by: str | None = None) -> BatchReport:
        return self._batch(items, lambda shard, part: shard.register(part, by=by))

    def _batch(self, items: Sequence[Any],
               run: Callable[[ParcelService, list[Any]], BatchReport]) -> BatchReport:
        if len(items) > self.limits.max_batch:  # the whole batch, before it is cut
            raise BatchTooLarge(len(items), self.limits.max_batch)
        parts = sorted(self.router.split_items(items).items())
        reports = list(self._pool.map(
            lambda part: run(self.shards[part[0]], [items[i] for i in part[1]]), parts))
        results: list[ItemResult | None] = [None] * len(items)
        positions: dict[int, int] = {}
        events = 0
        for (shard, indexes), report in zip(parts, reports, strict=True):
            for result in report.results:
                results[indexes[result.index]] = replace(result, index=indexes[result.index])
            if report.position is not None:
                positions[shard] = report.position
            events += report.events
        position = next(iter(positions.values())) if len(positions) == 1 else None
        return BatchReport(results=[r for r in results if r is not None], position=position,
                           events=events, extra={"positions": positions})

    def command(self, tracking_no: str, action: Callable[[Parcel], T]) -> Written[T]:
        return self.shard_for(tracking_no).command(tracking_no, action)

    def command_many(self, actions: dict[str, Callable[[Parcel], T]]
                     ) -> dict[str, T | DomainError | ParcelNotFound]:
        parts: dict[int, dict[str, Callable[[Parcel], T]]] = defaultdict(dict)
        for tracking_no, action in actions.items():
            parts[self.router.index_of(tracking_no)][tracking_no] = action
        answers: dict[str, T | DomainError | ParcelNotFound] = {}
        for index, part in parts.items():
            answers.update(self.shards[index].command_many(part))
        return {tracking_no: answers[tracking_no] for tracking_no in actions}

    def load_many(self, ids: Collection[UUID], *, use_cache: bool = True) -> dict[UUID, Parcel]:
        found: dict[UUID, Parcel] = {}
        for index, part in self.router.split_ids(ids).items():
            found.update(self.shards[index].load_many(part, use_cache=use_cache))
        return found

    # ---- reads ---------------------------------------------------------------------

    def get(self, tracking_no: str) -> Parcel:
        return self.shard_for(tracking_no).get(tracking_no)

    def stored_events(self, tracking_no: str) -> list[Parcel.Event]:
        return self.shard_for(tracking_no).stored_events(tracking_no)

    def as_of(self, tracking_no: str, moment: datetime) -> Parcel:
        return self.shard_for(tracking_no).as_of(tracking_no, moment)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for shard in self.shards:
            shard.close()
