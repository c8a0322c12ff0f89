"""The unit of work: a batch of changes to many parcels, decided and saved as one.

The rule it keeps: **what is saved, and every answer given, was decided on the parcels
as they are stored** — never on a copy another writer has moved on from, and never on
a change that was not saved.

How:

- Every parcel a batch touches is loaded in one query (or taken from the ingest cache),
  changed in memory, and all the batch's events are saved with one insert: one
  transaction, one table lock.
- The ingest cache keeps parcels in memory between batches, so a worker that owns a
  partition loads each parcel once. A cached parcel is trusted without re-reading the
  store (no fast-forward query per parcel): if another process wrote it meanwhile, the
  store refuses the save (a second event for the same version) and only the parcels
  that conflicted are reloaded and redone, up to MAX_CONFLICT_RETRIES times; the others
  are saved as they were.
- An answer that changed nothing (a duplicate, a refusal) writes nothing the store
  could refuse, so when it came from a cached parcel, the parcel's stored version is
  checked first (one query for the batch); a stale one is reloaded and asked again.
- Whatever fails (the store, a query, a bug), the parcels the batch changed in memory
  are dropped from the cache: the next batch builds on what is stored.

Reads (`ParcelService.get`) never use the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from parcelflow.application.errors import ConflictRetriesExhausted, ParcelNotFound
from parcelflow.application.ports import ParcelRecorder
from parcelflow.application.results import Written
from parcelflow.domain.errors import DomainError
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.parcel import Parcel

log = structlog.get_logger(__name__)

T = TypeVar("T")
K = TypeVar("K")  # a batch's key for a parcel: its id, or its tracking number
# A parcel's part of a batch: given the parcel as stored (None: not yet), return it
# changed (or None to leave nothing) and what to report.
Work = Callable[[Parcel | None], tuple[Parcel | None, Any]]


def replay(events: Iterable[Any]) -> Parcel:
    """A parcel from its events. The library's `project_aggregate` does the same but
    checks every event against a runtime protocol first, which on Python 3.11 cost a
    sixth of a cold ingest batch (measured with py-spy through the API)."""
    parcel = None
    for event in events:
        parcel = event.mutate(parcel)
    assert isinstance(parcel, Parcel)
    return parcel


@dataclass
class Saved:
    """What a batch did: each parcel's answer (by tracking number), and the events it
    saved (the last one's log position; None when it saved nothing)."""

    outcomes: dict[str, Any] = field(default_factory=dict)
    position: int | None = None
    events: int = 0


class ParcelCache:
    """The ingest cache: parcels by id, least recently used dropped beyond `maxsize`.

    Instead of the library's `LRUCache`, whose Python-level linked list needs a lock
    around every get and put (~3% of a warm ingest's instructions with the calls around
    it): each operation here is one or two `OrderedDict` calls, each atomic under the
    GIL, so threads sharing a service cannot corrupt it. (Two threads never work on one
    cached parcel at once: the API's writes and the workers are serialised above this.)
    """

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._items: OrderedDict[UUID, Parcel] = OrderedDict()

    def get(self, pid: UUID) -> Parcel | None:
        parcel = self._items.get(pid)
        if parcel is not None:
            try:
                self._items.move_to_end(pid)
            except KeyError:  # evicted by another thread meanwhile: still a valid answer
                pass
        return parcel

    def put(self, pid: UUID, parcel: Parcel) -> None:
        items = self._items
        items[pid] = parcel
        items.move_to_end(pid)
        while len(items) > self.maxsize:
            try:
                items.popitem(last=False)
            except KeyError:
                break

    def evict(self, pid: UUID) -> None:
        self._items.pop(pid, None)

    def __len__(self) -> int:
        return len(self._items)


class UnitOfWork:
    MAX_CONFLICT_RETRIES = 5

    def __init__(self, app: Application[UUID], *, cache_size: int = 0):
        self.app = app
        self._cache: ParcelCache | None = ParcelCache(cache_size) if cache_size > 0 else None

    @property
    def caches(self) -> bool:
        """Whether parcels are kept in memory between batches (the ingest cache)."""
        return self._cache is not None

    @property
    def recorder(self) -> ParcelRecorder:
        return self.app.recorder  # type: ignore[return-value]

    # ---- loading -------------------------------------------------------------------

    def load_many(self, ids: Collection[UUID], *, use_cache: bool = True) -> dict[UUID, Parcel]:
        """Parcels by id, from the cache or in one query; unknown ids are left out."""
        return self._loaded([(pid, pid) for pid in ids], use_cache)[0]

    def _load(self, numbers: Collection[str], *, use_cache: bool = True
              ) -> tuple[dict[str, Parcel], dict[str, int]]:
        """Parcels by tracking number, and the version of each one served from the
        cache. (A batch's own dictionaries are keyed by tracking number: a str keeps its
        hash, a UUID's is a Python method, ~1,000 instructions a call and a dozen calls
        a scan. The cache and the store are by id.)"""
        return self._loaded([(number, parcel_id(number)) for number in numbers], use_cache)

    def _loaded(self, keyed: list[tuple[K, UUID]], use_cache: bool
                ) -> tuple[dict[K, Parcel], dict[K, int]]:
        """Parcels by the caller's key (given with each id), from the cache or in one
        query, and the version of each one the cache served."""
        found: dict[K, Parcel] = {}
        cached: dict[K, int] = {}
        cache = self._cache if use_cache else None
        missing = keyed if cache is None else []
        if cache is not None:
            for key, pid in keyed:
                parcel = cache.get(pid)
                if parcel is None:
                    missing.append((key, pid))
                else:
                    found[key] = parcel
                    cached[key] = parcel.version
        if missing:
            keys = {pid: key for key, pid in missing}
            for pid, stored in self.recorder.select_events_for(list(keys)).items():
                found[keys[pid]] = self._replay(stored)
        return found, cached

    def _replay(self, stored: Iterable[Any]) -> Parcel:
        return replay(map(self.app.mapper.to_domain_event, stored))

    def _stale(self, cached: dict[str, int]) -> list[str]:
        """Which of these cached parcels another process has written since (one query)."""
        if not cached:
            return []
        stored = self.recorder.max_versions([parcel_id(number) for number in cached])
        return [number for number, version in cached.items()
                if stored.get(parcel_id(number), version) != version]

    def evict(self, numbers: Iterable[str]) -> None:
        """Forget cached parcels (they may hold a change that was not saved)."""
        if self._cache is not None:
            for number in numbers:
                self._cache.evict(parcel_id(number))

    # ---- a batch -------------------------------------------------------------------

    def run(self, work: dict[str, Work]) -> Saved:
        """Run each parcel's work (by tracking number) on it as stored, and save
        everything it changed."""
        outcomes: dict[str, Any] = {}
        ready: dict[str, tuple[Parcel, list[Parcel.Event]]] = {}
        pending = dict(work)
        cached: dict[str, int] = {}  # parcels of this attempt served from the cache
        # The very objects the cache served (by any attempt): one changed in place, or
        # left as it was, is in the cache already, at its end since `get` (putting it
        # again would hash its UUID twice more). Anything evicted meanwhile was
        # reloaded from the store: another object, which is put. (One that a cache
        # smaller than the batch dropped to make room is loaded by the next batch.)
        served: dict[str, Parcel] = {}

        def apply(number: str, parcel: Parcel | None, unsure: dict[str, int]) -> None:
            """Run `number`'s work. An answer that changed nothing (a duplicate, a refusal)
            given from a cached parcel is `unsure`: the cache may be behind another
            process's writes, which only a save would otherwise reveal."""
            # A loop, not a call of itself: a closure that calls itself holds itself (its
            # own cell), a reference cycle that kept each batch's work, parcels' events
            # and outcomes alive until the cyclic collector found them, ~11 objects a
            # scan, and made its young collections traverse them: 2.5 of 20 s in
            # collections of 80-380 ms in a process ingesting 2,500 scans/s.
            while True:
                version = cached.get(number)
                given = parcel
                try:
                    parcel, outcomes[number] = work[number](parcel)
                    if parcel is None and given is not None:
                        # The work gave the parcel up (a scan's DomainError answered as
                        # "could not be recorded"): the cached object may hold half of that
                        # change, and keeping it would answer the scan's retry as a
                        # duplicate.
                        self.evict([number])
                    break
                except DomainError:
                    self.evict([number])  # it may hold half of the refused change
                    if version is None or not self._stale({number: version}):
                        raise
                    # Refused on a stale copy: once more, on the stored one.
                    del cached[number]
                    parcel, unsure = self._load([number], use_cache=False)[0].get(number), {}
                except BaseException:
                    self.evict([number])  # it may hold half of a change
                    raise
            events = parcel.collect_events() if parcel is not None else []
            if events:
                ready[number] = (parcel, events)  # type: ignore[assignment]
                return
            if version is not None:
                unsure[number] = version
            if parcel is not None and self._cache is not None and parcel is not served.get(number):
                self._cache.put(parcel_id(number), parcel)

        for attempt in range(self.MAX_CONFLICT_RETRIES + 1):
            current, cached = self._load(pending)
            for number in cached:
                served[number] = current[number]
            try:
                unsure: dict[str, int] = {}
                for number in pending:
                    apply(number, current.get(number), unsure)
                stale = self._stale(unsure)
                if stale:
                    self.evict(stale)
                    fresh = self._load(stale, use_cache=False)[0]
                    cached = {}
                    for number in stale:
                        apply(number, fresh.get(number), {})
                events = [e for _, evs in ready.values() for e in evs]
                if not events:
                    return Saved(outcomes)
                try:
                    position = self._put(events)
                except IntegrityError:
                    conflicted = self._conflicted(ready)
                    if not conflicted:
                        raise
                    log.info("batch.conflict", parcels=len(conflicted), attempt=attempt + 1)
                    for number in conflicted:
                        del ready[number]
                    self.evict(conflicted)
                    pending = {number: work[number] for number in conflicted}
                    continue
            except BaseException:
                # Whatever failed (the store, a query, a bug), no cached parcel may keep
                # changes that were not saved: the next batch would build on them.
                self.evict([*ready, *pending])
                raise
            if self._cache is not None:
                for number, (parcel, _) in ready.items():
                    if parcel is not served.get(number):
                        self._cache.put(parcel_id(number), parcel)
            return Saved(outcomes, position, len(events))
        self.evict(ready)
        raise ConflictRetriesExhausted(
            f"{len(pending)} parcels still conflicted after {self.MAX_CONFLICT_RETRIES} retries"
        )

    def _put(self, events: list[Parcel.Event]) -> int | None:
        """Store the events; the log position of the last one (None: no ids given).

        What the library's `EventStore.put` does (map each event, one `insert_events`),
        without the `Recording` and `Notification` it builds per event for its
        `save()` to return: only the highest id is used here. And not `save()`, which
        would first check each event against the library's runtime protocols (on
        Python 3.11 that cost more than encoding it); nothing else of `save()` applies
        here (no snapshots; nothing overrides `_notify`).
        tests/integration/test_store_contract.py checks the rows against `put`'s.
        """
        to_stored = self.app.mapper.to_stored_event
        ids = self.recorder.insert_events([to_stored(e) for e in events])
        return max(ids) if ids else None

    def _conflicted(self, ready: dict[str, tuple[Parcel, list[Parcel.Event]]]) -> list[str]:
        stored = self.recorder.max_versions([parcel_id(number) for number in ready])
        return [
            number for number, (_, events) in ready.items()
            if stored.get(parcel_id(number), 0) >= events[0].originator_version
        ]

    # ---- commands ------------------------------------------------------------------

    def command(self, tracking_no: str, action: Callable[[Parcel], T]) -> Written[T]:
        """Run one command on one parcel and save what it did (conflicts are retried):
        its answer, and the log position a read model shows it from."""
        def run(parcel: Parcel | None) -> tuple[Parcel | None, T]:
            if parcel is None:
                raise ParcelNotFound(tracking_no)
            return parcel, action(parcel)

        saved = self.run({tracking_no: run})
        position = saved.position
        if position is None:  # nothing to record: everything it read is in the log already
            position = self.recorder.max_notification_id() or 0
        return Written(saved.outcomes[tracking_no], position)

    def command_many(self, actions: dict[str, Callable[[Parcel], T]]
                     ) -> dict[str, T | DomainError | ParcelNotFound]:
        """Run a command on each of many parcels in one unit of work: one load query,
        one save. A parcel whose command is refused (or that does not exist) is left
        as it was and reported; the others are saved."""
        def work(tracking_no: str, action: Callable[[Parcel], T]) -> Work:
            def run(parcel: Parcel | None) -> tuple[Parcel | None, Any]:
                if parcel is None:
                    return None, ParcelNotFound(tracking_no)
                try:
                    return parcel, action(parcel)
                except DomainError as e:
                    return None, e  # given up: `run` evicts it (it may hold half the change)
            return run

        return self.run({n: work(n, action) for n, action in actions.items()}).outcomes
