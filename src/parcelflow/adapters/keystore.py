"""Per-parcel data keys, kept in their own table beside (never inside) the events.

Erasing a parcel's personal data means destroying its key. A tombstone stays so that
the erased parcel is not silently given a fresh key later.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from parcelflow.adapters.bucket_fence import check_owned
from parcelflow.adapters.sealing import KeyWrap, new_data_key
from parcelflow.adapters.sql import in_chunks
from parcelflow.application.personal_data import SealError
from parcelflow.application.ports import KeyStore


@dataclass
class Rewrapped:
    rewrapped: int = 0
    current: int = 0  # already under the current master key
    unreadable: int = 0  # under none of the master keys given


class SqlKeyStore(KeyStore):
    """The key tables: keys wrapped with the master key, a tombstone for each erasure."""

    def __init__(self, wrap: KeyWrap):
        self.wrap = wrap

    def ensure(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        """Each parcel's key, creating the missing ones (None: erased)."""
        fresh = {i: self.wrap.wrap(i, new_data_key()) for i in ids}
        self._insert_missing(fresh)
        return self.keys(ids)

    def keys(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        return {
            pid: (self.wrap.unwrap(pid, stored) if stored is not None else None)
            for pid, stored in self._select(ids).items()
        }

    def rewrap(self, batch: int = 1000) -> Iterator[Rewrapped]:
        """Rewrap every data key not yet under the current master key, a page at a time.

        Each key is swapped only if it is still what was read (compare and set), so it
        runs beside the live processes: one that created or rewrapped a key meanwhile
        wins, and nothing is lost. Yields the running count after each page.
        """
        done = Rewrapped()
        after: UUID | None = None
        while True:
            page = self._page(after, batch)
            if not page:
                return
            for pid, stored in page:
                if self.wrap.is_current(pid, stored):
                    done.current += 1
                    continue
                try:
                    key = self.wrap.unwrap(pid, stored)
                except SealError:
                    done.unreadable += 1  # under a master key we were not given: left as is
                    continue
                if self._swap(pid, stored, self.wrap.wrap(pid, key)):
                    done.rewrapped += 1
                else:
                    done.current += 1  # changed meanwhile by someone holding the new key
            after = page[-1][0]
            yield done

    @abstractmethod
    def _page(self, after: UUID | None, limit: int) -> list[tuple[UUID, bytes]]:
        """Stored (wrapped) keys in parcel-id order after `after`; erased ones left out."""

    @abstractmethod
    def _swap(self, parcel_id: UUID, old: bytes, new: bytes) -> bool: ...

    @abstractmethod
    def _insert_missing(self, wrapped: dict[UUID, bytes]) -> None: ...

    @abstractmethod
    def _select(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]: ...


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class SQLiteKeyStore(SqlKeyStore):
    def __init__(self, datastore: SQLiteDatastore, wrap: KeyWrap):
        super().__init__(wrap)
        self.datastore = datastore
        with datastore.transaction(commit=True) as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS parcel_keys (parcel_id TEXT PRIMARY KEY, "
                "data_key BLOB, created_at TEXT NOT NULL, erased_at TEXT)"
            )

    def _insert_missing(self, wrapped: dict[UUID, bytes]) -> None:
        now = _now()
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                "INSERT OR IGNORE INTO parcel_keys VALUES (?, ?, ?, NULL)",
                [(pid.hex, key, now) for pid, key in wrapped.items()],
            )

    def _select(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        found: dict[UUID, bytes | None] = {}
        keys = [i.hex for i in ids]
        with self.datastore.transaction(commit=False) as c:
            for marks, chunk in in_chunks(keys):
                c.execute(
                    f"SELECT parcel_id, data_key FROM parcel_keys WHERE parcel_id IN ({marks})",
                    chunk,
                )
                found.update({UUID(r["parcel_id"]): r["data_key"] for r in c.fetchall()})
        return found

    def destroy(self, parcel_id: UUID) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "UPDATE parcel_keys SET data_key = NULL, erased_at = ? "
                "WHERE parcel_id = ? AND data_key IS NOT NULL",
                (_now(), parcel_id.hex),
            )
            c.execute("SELECT changes()")
            return bool(c.fetchone()[0])

    def _page(self, after: UUID | None, limit: int) -> list[tuple[UUID, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT parcel_id, data_key FROM parcel_keys WHERE parcel_id > ? AND "
                      "data_key IS NOT NULL ORDER BY parcel_id LIMIT ?",
                      (after.hex if after else "", limit))
            return [(UUID(r["parcel_id"]), r["data_key"]) for r in c.fetchall()]

    def _swap(self, parcel_id: UUID, old: bytes, new: bytes) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute("UPDATE parcel_keys SET data_key = ? WHERE parcel_id = ? AND data_key = ?",
                      (new, parcel_id.hex, old))
            c.execute("SELECT changes()")
            return bool(c.fetchone()[0])


class PostgresKeyStore(SqlKeyStore):
    def __init__(self, datastore: PostgresDatastore, wrap: KeyWrap):
        super().__init__(wrap)
        self.datastore = datastore
        with datastore.transaction(commit=True) as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS parcel_keys (parcel_id uuid PRIMARY KEY, "
                "data_key bytea, created_at timestamptz NOT NULL DEFAULT now(), "
                "erased_at timestamptz)"
            )

    def _insert_missing(self, wrapped: dict[UUID, bytes]) -> None:
        with self.datastore.transaction(commit=True) as c:
            check_owned(c, wrapped)  # not on a shard that gave the bucket away
            c.execute(
                "INSERT INTO parcel_keys (parcel_id, data_key) "
                "SELECT * FROM unnest(%s::uuid[], %s::bytea[]) ON CONFLICT DO NOTHING",
                (list(wrapped), list(wrapped.values())),
            )

    def _select(self, ids: Collection[UUID]) -> dict[UUID, bytes | None]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT parcel_id, data_key FROM parcel_keys WHERE parcel_id = ANY(%s)",
                (list(ids),),
            )
            return {
                r["parcel_id"]: (bytes(r["data_key"]) if r["data_key"] is not None else None)
                for r in c.fetchall()
            }

    def destroy(self, parcel_id: UUID) -> bool:
        with self.datastore.transaction(commit=True) as c:
            check_owned(c, [parcel_id])  # a moving bucket's copy is final once fenced
            c.execute(
                "UPDATE parcel_keys SET data_key = NULL, erased_at = now() "
                "WHERE parcel_id = %s AND data_key IS NOT NULL",
                (parcel_id,),
            )
            return c.rowcount > 0

    def _page(self, after: UUID | None, limit: int) -> list[tuple[UUID, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT parcel_id, data_key FROM parcel_keys WHERE parcel_id > %s AND "
                      "data_key IS NOT NULL ORDER BY parcel_id LIMIT %s",
                      (after or UUID(int=0), limit))
            return [(r["parcel_id"], bytes(r["data_key"])) for r in c.fetchall()]

    def _swap(self, parcel_id: UUID, old: bytes, new: bytes) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute("UPDATE parcel_keys SET data_key = %s WHERE parcel_id = %s AND "
                      "data_key = %s", (new, parcel_id, old))
            return c.rowcount > 0


def keystore_for(datastore: object, wrap: KeyWrap) -> SqlKeyStore:
    if isinstance(datastore, PostgresDatastore):
        return PostgresKeyStore(datastore, wrap)
    if isinstance(datastore, SQLiteDatastore):
        return SQLiteKeyStore(datastore, wrap)
    raise TypeError(f"no key store for {type(datastore).__name__}")
