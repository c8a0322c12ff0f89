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

A bucket can move to another shard while this process runs (`application/bucket_move.py`).
The shard it left refuses writes to it (`BucketMoved`, nothing written); the part of the
call that was refused is sent again on a refreshed map, waiting for the map to switch
(writes to the moving bucket pause that long), and a read that finds nothing on a shard
that gave the bucket away is asked again in the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from parcelflow.application.errors import BucketMoved, ParcelNotFound
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

    def select_events_in(self, versions: Mapping[UUID, range]) -> dict[UUID, list[StoredEvent]]:
        found: dict[UUID, list[StoredEvent]] = {}
        for index, part in self.router.split_ids(versions).items():
            found.update(self.router.shards[index].recorder.select_events_in(
                {pid: versions[pid] for pid in part}))
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

    MOVE_WAIT = 60.0  # seconds a write waits for a moving bucket's map switch

    def __init__(self, shards: Sequence[ParcelService], layout: Sequence[int],
                 names: Sequence[str] | None = None,
                 reload: Callable[[], list[int]] | None = None,
                 gave_away: Callable[[int, int], bool] | None = None):
        """`names`: each shard's lasting name (where it is), which keys the read side's
        position in its log; the first shard's position keeps the application's name, as
        with one shard. `reload`: the shard map read again; `gave_away(shard, bucket)`:
        whether that shard's fence says the bucket left it."""
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
        self._reload = reload
        self._gave_away = gave_away

    def shard_for(self, tracking_no: str) -> ParcelService:
        return self.shards[self.router.index_of(tracking_no)]

    # ---- a bucket that moved -------------------------------------------------------

    def refresh_map(self) -> None:
        if self._reload is not None:
            self.router.layout = list(self._reload())

    def _moved(self, deadline: float, wait: float) -> float | None:
        """After a refusal: wait a little and read the map again; the next wait, or None
        when there is no map to read or the map did not switch in time."""
        if self._reload is None or time.monotonic() > deadline:
            return None
        time.sleep(wait)
        self.refresh_map()
        return min(wait * 2, 0.1)

    def _on_its_shard(self, tracking_no: str, call: Callable[[ParcelService], T]) -> T:
        """`call` on the parcel's shard; again on a refreshed map when that shard gave the
        parcel's bucket away (a write refused, or a read that found nothing)."""
        deadline, wait = time.monotonic() + self.MOVE_WAIT, 0.02
        while True:
            index = self.router.index_of(tracking_no)
            try:
                return call(self.shards[index])
            except BucketMoved:
                again = self._moved(deadline, wait)
            except ParcelNotFound:
                if self._gave_away is None or not self._gave_away(index, bucket_of(tracking_no)):
                    raise
                again = self._moved(deadline, wait)
            if again is None:
                raise BucketMoved([bucket_of(tracking_no)])
            wait = again

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

        def attempt(part: tuple[int, list[int]]) -> BatchReport | None:
            try:
                return run(self.shards[part[0]], [items[i] for i in part[1]])
            except BucketMoved:  # nothing of this part was written: sent again below
                return None

        results: list[ItemResult | None] = [None] * len(items)
        positions: dict[int, int] = {}
        events = 0
        pending = list(range(len(items)))
        deadline, wait = time.monotonic() + self.MOVE_WAIT, 0.02
        while True:
            split = self.router.split_items([items[i] for i in pending])
            parts = sorted((shard, [pending[j] for j in at]) for shard, at in split.items())
            refused: list[int] = []
            for (shard, indexes), report in zip(parts, self._pool.map(attempt, parts),
                                                strict=True):
                if report is None:
                    refused += indexes
                    continue
                for result in report.results:
                    results[indexes[result.index]] = replace(result, index=indexes[result.index])
                if report.position is not None:
                    positions[shard] = max(report.position, positions.get(shard, 0))
                events += report.events
            if not refused:
                break
            pending = sorted(refused)
            again = self._moved(deadline, wait)
            if again is None:
                raise BucketMoved(sorted({bucket_of(items[i]["tracking_no"]) for i in pending}))
            wait = again
        position = next(iter(positions.values())) if len(positions) == 1 else None
        return BatchReport(results=[r for r in results if r is not None], position=position,
                           events=events, extra={"positions": positions})

    def command(self, tracking_no: str, action: Callable[[Parcel], T]) -> Written[T]:
        return self._on_its_shard(tracking_no, lambda shard: shard.command(tracking_no, action))

    def command_many(self, actions: dict[str, Callable[[Parcel], T]]
                     ) -> dict[str, T | DomainError | ParcelNotFound]:
        parts: dict[int, dict[str, Callable[[Parcel], T]]] = defaultdict(dict)
        for tracking_no, action in actions.items():
            parts[self.router.index_of(tracking_no)][tracking_no] = action
        answers: dict[str, T | DomainError | ParcelNotFound] = {}
        for index, part in parts.items():
            try:
                answers.update(self.shards[index].command_many(part))
            except BucketMoved:  # nothing of this part written: each on its shard now
                self.refresh_map()
                for tracking_no, action in part.items():
                    try:
                        answers[tracking_no] = self.command(tracking_no, action).value
                    except (DomainError, ParcelNotFound) as e:
                        answers[tracking_no] = e
        return {tracking_no: answers[tracking_no] for tracking_no in actions}

    def load_many(self, ids: Collection[UUID], *, use_cache: bool = True) -> dict[UUID, Parcel]:
        found: dict[UUID, Parcel] = {}
        for index, part in self.router.split_ids(ids).items():
            found.update(self.shards[index].load_many(part, use_cache=use_cache))
        return found

    # ---- reads ---------------------------------------------------------------------

    def get(self, tracking_no: str) -> Parcel:
        return self._on_its_shard(tracking_no, lambda shard: shard.get(tracking_no))

    def stored_events(self, tracking_no: str) -> list[Parcel.Event]:
        return self._on_its_shard(tracking_no, lambda shard: shard.stored_events(tracking_no))

    def as_of(self, tracking_no: str, moment: datetime) -> Parcel:
        return self._on_its_shard(tracking_no, lambda shard: shard.as_of(tracking_no, moment))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for shard in self.shards:
            shard.close()
