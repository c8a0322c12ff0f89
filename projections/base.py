"""What every read model shares: parcels as of its position, a store that writes rows and
position together, and the eventsourcing `Projection` it is.

A view is a rendering of domain state, never a second implementation of the rules: the
projection keeps each touched parcel as of its own position in the log (its replica),
applies the events it reads, and renders rows from the parcel's state. An incremental
build and a rebuild therefore cannot disagree.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.application import LRUCache
from eventsourcing.domain import OriginatorIDError, OriginatorVersionError
from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from parcelflow.adapters.sql import PortableSql
from parcelflow.adapters.store import datastore_schema_lock
from parcelflow.application.service import ParcelService
from parcelflow.application.unit_of_work import replay
from parcelflow.domain.parcel import Parcel


class BoundedCache(dict):  # type: ignore[type-arg]
    """A dict that forgets its oldest entries beyond `size` (cheaper than an LRU)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def __setitem__(self, key: Any, value: Any) -> None:
        if len(self) >= self.size and key not in self:
            for old in list(self)[: max(1, self.size // 10)]:
                del self[old]
        super().__setitem__(key, value)


class Replica:
    """Parcels as of a projection's position in the log, kept current by what it reads.

    On a miss the parcel is loaded from the store (one query per batch) and replayed
    only up to the event being read: the store already holds later events, which this
    projection has not reached yet.
    """

    def __init__(self, service: ParcelService, size: int = 20_000):
        self.service = service
        self.size = size
        self._cache: LRUCache[UUID, Parcel] = LRUCache(maxsize=size)

    def apply(self, events: Sequence[Parcel.Event]) -> dict[UUID, Parcel]:
        """Apply events in log order; the parcels they touched, at their new versions."""
        by_parcel: dict[UUID, list[Parcel.Event]] = defaultdict(list)
        for event in events:
            by_parcel[event.originator_id].append(event)
        parcels: dict[UUID, Parcel] = {}
        missing: dict[UUID, int] = {}
        for pid, evs in by_parcel.items():
            try:
                cached = self._cache.get(pid)
            except KeyError:
                cached = None
            # A parcel offered ahead of this batch (`offer`) is used once the batch
            # reaches its version; before that, the parcel is loaded as of the batch.
            if cached is not None and evs[0].originator_version - 1 <= cached.version \
                    <= evs[-1].originator_version:
                parcels[pid] = cached
            elif evs[0].originator_version == 1:
                parcels[pid] = None  # type: ignore[assignment]  # created here: nothing to load
            else:
                missing[pid] = evs[0].originator_version
        if missing:
            stored = self.service.recorder.select_events_for(list(missing))
            for pid, first in missing.items():
                earlier = [self.service.mapper.to_domain_event(s)
                           for s in stored.get(pid, []) if s.originator_version < first]
                parcel = replay(earlier) if earlier else None
                parcels[pid] = parcel  # type: ignore[assignment]
        for pid, evs in by_parcel.items():
            parcel = parcels[pid]
            for event in evs:
                if parcel is not None and event.originator_version <= parcel.version:
                    continue  # already applied (a batch read again after a retry)
                parcel = event.mutate(parcel)  # type: ignore[arg-type]
            assert parcel is not None
            parcels[pid] = parcel
            self._cache.put(pid, parcel)
        return parcels

    def whole(self, events: Sequence[Parcel.Event]) -> dict[UUID, Parcel]:
        """Parcels made from their whole histories, nothing remembered: a rebuild's
        chunk (Runner.replay), every event of each parcel from its first, in order, each
        parcel in one chunk only. Any other events: `apply`. The same parcels as
        `apply` gives after `forget`, without the cache's look-ups and puts.

        The chunk comes parcel by parcel (its histories one after another), so a parcel
        ends where the next one's first event begins: no grouping by id, whose
        `UUID.__hash__` and `__eq__` are Python (0.9% of a rebuild's instructions). An
        event that does not follow its parcel's previous one makes `mutate` refuse it
        (its id or its version), and the events go to `apply` instead
        (tests/integration/test_tracking_rebuild.py gives it the three kinds)."""
        parcels: dict[UUID, Parcel] = {}
        parcel: Any = None

        def keep(parcel: Parcel) -> None:
            if parcel.id in parcels:  # its history again: `apply` skips what it has
                raise OriginatorVersionError(1, parcels[parcel.id].version + 1)
            parcels[parcel.id] = parcel

        try:
            for event in events:
                if event.originator_version == 1:
                    if parcel is not None:
                        keep(parcel)
                    parcel = event.mutate(None)
                elif parcel is None:
                    raise OriginatorVersionError(event.originator_version, 1)
                else:
                    parcel = event.mutate(parcel)
            if parcel is not None:
                keep(parcel)
        except (OriginatorIDError, OriginatorVersionError):
            return self.apply(events)
        return parcels

    def offer(self, parcels: Iterable[Parcel]) -> None:
        """Parcels just saved by this process, as stored (the detectors' pass): when the
        projection reads the events that made them, it applies nothing and loads
        nothing, it only renders (see `apply`). The replica owns them from here: the
        caller must not change them again."""
        for parcel in parcels:
            self._cache.put(parcel.id, parcel)

    def forget(self) -> None:
        self._cache = LRUCache(maxsize=self._cache.maxsize)


def _rename_tracking(statement: str, table: str) -> str:
    return re.sub(r"\btracking\b", table, statement)


class SQLiteViewTracking(SQLiteTrackingRecorder):
    """The library's SQLite tracking recorder, with a tracking table per projection.

    Its table is always named `tracking`; read models sharing one database file (the
    embedded default) each need their own position.
    """

    tracking_table = "tracking"

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any):
        super().__init__(datastore, **kwargs)
        self.insert_tracking_statement = _rename_tracking(
            self.insert_tracking_statement, self.tracking_table)
        self.select_max_tracking_id_statement = _rename_tracking(
            self.select_max_tracking_id_statement, self.tracking_table)
        self.create_table_statements = [
            _rename_tracking(s, self.tracking_table) for s in self.create_table_statements
        ]


class ViewStore(PortableSql, TrackingRecorder):
    """A read model's tables, written together with the position in one transaction.

    One SQL text serves both backends (`adapters.sql.PortableSql`). Times are stored as
    UTC ISO 8601 text, which sorts and compares the same way in both.
    """

    name = ""  # the projection's name: also its tracking table's prefix
    tables: tuple[str, ...] = ()  # dropped by a rebuild
    create_statements: tuple[str, ...] = ()
    json_columns: frozenset[str] = frozenset()  # stored as JSON text, read back as values

    def create_views(self) -> None:
        self.run_all(self.create_statements)

    def rebuild_if_older(self, table: str, columns: set[str]) -> None:
        """A table written by an older version lacks some of `columns`: drop it and the
        position, so the runner rebuilds the read model from the log (read models are
        disposable). Call before `create_views`."""
        have = self.columns_of(table)
        if have and columns - have:
            with self.datastore.transaction(commit=True) as c:
                for name in self.tables:
                    c.execute(f"DROP TABLE IF EXISTS {name}")
                # (the library's own marker row stays: without it, the next start would
                # look for a legacy `tracking` table to migrate)
                c.execute(f"DELETE FROM {self.name}_tracking "
                          "WHERE application_name <> '__migration__'")

    def columns_of(self, table: str) -> set[str]:
        statement = ("SELECT column_name AS name FROM information_schema.columns "
                     "WHERE table_name = ? AND table_schema = current_schema()"
                     if self.is_postgres else "SELECT name FROM pragma_table_info(?)")
        return {r["name"] for r in self.query(statement, [table])}

    @classmethod
    def decoded(cls, row: dict[str, Any]) -> dict[str, Any]:
        """A stored row with its JSON columns as values."""
        out = dict(row)
        for name in cls.json_columns & out.keys():
            if isinstance(out[name], str):
                out[name] = orjson.loads(out[name])
        return out

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """`query`, with the JSON columns decoded."""
        return [self.decoded(row) for row in self.query(statement, params)]

    @contextmanager
    def writing(self, tracking: Tracking | None) -> Iterator[Any]:
        """One transaction for the rows and the position: both or neither."""
        with self.datastore.transaction(commit=True) as c:
            yield c
            if tracking is not None:
                self._insert_tracking(c, tracking)  # type: ignore[attr-defined]

    def drop(self) -> None:
        """Forget every row and the position (for a rebuild)."""
        with self.datastore.transaction(commit=True) as c:
            for table in self.tables:
                c.execute(f"DELETE FROM {table}")
            c.execute(f"DELETE FROM {self.name}_tracking WHERE application_name <> '__migration__'")

    def insert_new(self, table: str, key: str, columns: Sequence[str],
                   rows: Sequence[dict[str, Any]]) -> None:
        """Rows whose keys the table should not hold yet (a rebuild into an emptied
        table), in their own transaction: on PostgreSQL one COPY straight into the
        table, no staging table and no conflict check. Should a key be there after all
        (another runner writing meanwhile), the transaction is rolled back and the rows
        upserted instead, so the outcome is the upsert's either way."""
        if not rows:
            return
        if self.is_postgres:
            names = ", ".join(columns)
            try:
                with self.datastore.transaction(commit=True) as c, \
                        c.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[col] for col in columns])
                return
            except (IntegrityError, psycopg.errors.UniqueViolation):
                pass
        with self.writing(None) as c:
            self.upsert(c, table, key, columns, rows)

    def upsert(self, c: Any, table: str, key: str, columns: Sequence[str],
               rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace rows by their key, inside a `writing()` transaction."""
        if not rows:
            return
        names = ", ".join(columns)
        updates = ", ".join(f"{col} = excluded.{col}" for col in columns if col != key)
        values = [[row[col] for col in columns] for row in rows]
        if not self.is_postgres:
            c.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))}) "
                          f"ON CONFLICT ({key}) DO UPDATE SET {updates}", values)
            return
        # PostgreSQL: executemany is one statement per row (a round trip each in effect);
        # COPY into a transaction-local table and one INSERT ... SELECT is one of each.
        staging = f"{table}_staging"
        c.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
                  f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        with c.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
        c.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
                  f"ON CONFLICT ({key}) DO UPDATE SET {updates}")


def view_store(base: type[ViewStore], datastore: Any) -> ViewStore:
    """The store class for this backend: the view's SQL on the library's tracking recorder."""
    with datastore_schema_lock(datastore):  # one process at a time creates tables
        return _create(base, datastore, base.name)


def _create(base: type[ViewStore], datastore: Any, name: str) -> ViewStore:
    if isinstance(datastore, PostgresDatastore):
        cls = type(f"Postgres{base.__name__}", (base, PostgresTrackingRecorder), {})
        store = cls(datastore, tracking_table_name=f"{name}_tracking")  # type: ignore[call-arg]
    elif isinstance(datastore, SQLiteDatastore):
        tracking = type(f"SQLite{name}Tracking", (SQLiteViewTracking,),
                        {"tracking_table": f"{name}_tracking"})
        cls = type(f"SQLite{base.__name__}", (base, tracking), {})
        store = cls(datastore)  # type: ignore[call-arg]
    else:
        raise TypeError(f"no view store for {type(datastore).__name__}")
    store.create_table()  # type: ignore[attr-defined]
    store.create_views()
    return store


class ParcelProjection(Projection[ViewStore]):
    """A read model of parcels: events in, rows out, position alongside.

    `process_event` makes it usable with the library's own `ProjectionRunner` (one
    transaction per event); `process_batch` is what parcelflow's runner calls, many
    events to a transaction, which is what keeps up with ingest.
    """

    store: type[ViewStore]  # the read model's tables

    def __init__(self, view: ViewStore, replica: Replica):
        super().__init__(view)
        self.replica = replica
        self.service = replica.service

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        self.process_batch([domain_event], tracking)

    def process_batch(self, events: Sequence[Parcel.Event], tracking: Tracking) -> None:
        """Apply the events to the replica, render the touched parcels' rows, and write
        them with `tracking` in one transaction."""
        self.commit(self.prepare(events), tracking)

    @abstractmethod
    def prepare(self, events: Sequence[Parcel.Event]) -> Any:
        """The CPU half of a batch: apply the events, render what to write."""

    @abstractmethod
    def commit(self, prepared: Any, tracking: Tracking) -> None:
        """The database half: write what `prepare` rendered, with the position."""

    def preload(self, ids: Sequence[UUID]) -> Any:
        """What a rebuild's chunk of parcels needs besides their events, read on the
        rebuild's reader thread beside them (Runner.replay), for `prepare_new`."""
        return None

    def prepare_new(self, events: Sequence[Parcel.Event], preloaded: Any = None) -> Any:
        """`prepare` for a rebuild's chunk (Runner.replay): every event of each of its
        parcels, each parcel in one chunk only, so a view may skip remembering what it
        renders; `preloaded`: what `preload` read for them. This default is `prepare`."""
        return self.prepare(events)

    def commit_new(self, prepared: Any) -> None:
        """Write what `prepare` rendered for parcels that have no rows yet, without a
        position: a rebuild's chunks after `drop()` (Runner.replay). A view whose rows
        are one per parcel may insert them plainly; this default upserts."""
        self.commit(prepared, None)  # type: ignore[arg-type]
