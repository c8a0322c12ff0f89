"""What a bucket move reads and writes on the shards, in SQL of its own (PostgreSQL).

A bucket's parcels are one range of parcel ids (their first byte, `domain/buckets.py`),
so its events and data keys are read by an index range, never by scanning the store.

- `ShardSide.write_copy` inserts a chunk of copied events exactly as the recorder
  inserts new ones (the events table lock, then NOTIFY), and in the same transaction
  the range of notification ids they took (`copied_events`, which the log followers
  skip: they saw these events on the shard they came from), their data keys, and how
  far the copy got (`bucket_copies`). A mover killed mid-copy resumes from there;
  nothing is copied twice (a second copy would also break the primary key).
- `ShardSide.drop` deletes a bucket's events and keys and records that it did
  (`bucket_drops`, signed with the checkpoint key): checkpoints and `verify` read it, so
  a bucket that left does not look like deleted events.
- `MoveLog` (on the first shard, beside the map) is the move's intent and its phase,
  for `parcelflow shards status` and for the re-run that finishes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from parcelflow.adapters.sql_tables import SqlTables
from parcelflow.domain.buckets import BUCKETS


def bucket_range(bucket: int) -> tuple[UUID, UUID]:
    """[low, high) of the parcel ids in a bucket (the last bucket's high is the top id,
    which no uuid5 reaches: its version nibble is 5)."""
    low = UUID(bytes=bytes([bucket]) + bytes(15))
    high = UUID(bytes=bytes([bucket + 1]) + bytes(15)) if bucket + 1 < BUCKETS else \
        UUID(int=2**128 - 1)
    return low, high


@dataclass(frozen=True)
class Copied:
    source: str
    upto: int  # the source's notification id the copy has reached
    events: int


class ShardSide(SqlTables):
    """One shard as a move sees it: its events and keys of a bucket, its fence row."""

    create_statements = (
        "CREATE TABLE IF NOT EXISTS bucket_copies (bucket INTEGER PRIMARY KEY, "
        "source TEXT NOT NULL, copied_upto BIGINT NOT NULL, events BIGINT NOT NULL)",
    )

    def __init__(self, service: Any, name: str):
        super().__init__(service.factory.datastore)
        if not self.is_postgres:
            raise TypeError("buckets move between PostgreSQL shards")
        self.service = service
        self.recorder = service.recorder
        self.name = name
        self.events = self.recorder._table()

    @contextmanager
    def _cursor(self, *, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as c:
            yield c

    # ---- reading a bucket ---------------------------------------------------------

    def read_after(self, bucket: int, after: int, limit: int) -> list[tuple[Any, ...]]:
        """The bucket's events after notification `after`, in log order: (id, parcel,
        version, topic, state)."""
        low, high = bucket_range(bucket)
        query = SQL("SELECT notification_id, originator_id, originator_version, topic, state "
                    "FROM {} WHERE originator_id >= %s AND originator_id < %s AND "
                    "notification_id > %s ORDER BY notification_id LIMIT %s").format(self.events)
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(query, (low, high, after, limit))
            return curs.fetchall()

    def count(self, bucket: int, after: int = 0) -> int:
        low, high = bucket_range(bucket)
        with self._cursor(commit=False) as c:
            c.execute(SQL("SELECT COUNT(*) AS n FROM {} WHERE originator_id >= %s AND "
                          "originator_id < %s AND notification_id > %s").format(self.events),
                      (low, high, after))
            return int(c.fetchone()["n"])

    def parcels(self, bucket: int) -> list[UUID]:
        low, high = bucket_range(bucket)
        with self._cursor(commit=False) as c:
            c.execute(SQL("SELECT DISTINCT originator_id FROM {} WHERE originator_id >= %s "
                          "AND originator_id < %s").format(self.events), (low, high))
            return [r["originator_id"] for r in c.fetchall()]

    def keys(self, bucket: int, ids: Sequence[UUID] | None = None) -> list[tuple[Any, ...]]:
        """The bucket's data keys as stored (wrapped), erased ones included."""
        low, high = bucket_range(bucket)
        where, params = "parcel_id >= %s AND parcel_id < %s", [low, high]
        if ids is not None:
            where, params = "parcel_id = ANY(%s)", [list(ids)]
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(f"SELECT parcel_id, data_key, created_at, erased_at FROM parcel_keys "
                         f"WHERE {where}", params)
            return curs.fetchall()

    # ---- the copy -----------------------------------------------------------------

    def copied(self, bucket: int) -> Copied | None:
        rows = self.query("SELECT source, copied_upto, events FROM bucket_copies WHERE bucket = ?",
                          [bucket])
        return Copied(rows[0]["source"], int(rows[0]["copied_upto"]),
                      int(rows[0]["events"])) if rows else None

    def start_copy(self, bucket: int, source: str) -> None:
        with self._cursor(commit=True) as c:
            c.execute("INSERT INTO bucket_copies (bucket, source, copied_upto, events) "
                      "VALUES (%s, %s, 0, 0) ON CONFLICT (bucket) DO NOTHING", (bucket, source))
            # Not this shard's until the switch: a writer on a stale map is refused here too.
            c.execute("INSERT INTO bucket_owners (bucket, owned) VALUES (%s, false) "
                      "ON CONFLICT (bucket) DO UPDATE SET owned = false, changed_at = now()",
                      (bucket,))

    def write_copy(self, bucket: int, source: str, rows: Sequence[tuple[Any, ...]],
                   keys: Sequence[tuple[Any, ...]], upto: int) -> None:
        """Append copied events (as read by `read_after`) and keys, and record how far
        the copy got, in one transaction (see the module docstring)."""
        recorder = self.recorder
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            if rows:
                recorder._lock_table(c)  # as every insert: commit order = id order
                recorder._notify_channel(c)
                c.execute(recorder._max_id)
                before = c.fetchone()["n"]
                with c.copy(recorder._copy) as copy:
                    copy.set_types(["uuid", "int8", "text", "bytea"])
                    for _, pid, version, topic, state in rows:
                        copy.write_row((pid, version, topic, state))
                c.execute(SQL("SELECT MIN(notification_id) AS first, MAX(notification_id) "
                              "AS last FROM {} WHERE notification_id > %s").format(self.events),
                          (before,))
                ids = c.fetchone()
                # Under the table lock only this transaction adds rows: every id above
                # the old top is a copy (the top may have dropped since ids were given:
                # a bucket deleted here; so the first is read, not assumed).
                c.execute("INSERT INTO copied_events (first_id, last_id, bucket, source) "
                          "VALUES (%s, %s, %s, %s)", (ids["first"], ids["last"], bucket, source))
            if keys:
                c.execute(
                    "INSERT INTO parcel_keys (parcel_id, data_key, created_at, erased_at) "
                    "SELECT * FROM unnest(%s::uuid[], %s::bytea[], %s::timestamptz[], "
                    "%s::timestamptz[]) ON CONFLICT (parcel_id) DO UPDATE SET "
                    "data_key = excluded.data_key, erased_at = excluded.erased_at",
                    ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
                     [k[3] for k in keys]))
            c.execute("UPDATE bucket_copies SET copied_upto = GREATEST(copied_upto, %s), "
                      "events = events + %s WHERE bucket = %s", (upto, len(rows), bucket))

    def forget_copy(self, bucket: int) -> None:
        self.execute("DELETE FROM bucket_copies WHERE bucket = ?", [bucket])

    # ---- the fence ----------------------------------------------------------------

    def owned(self, bucket: int) -> bool:
        rows = self.query("SELECT owned FROM bucket_owners WHERE bucket = ?", [bucket])
        return bool(rows[0]["owned"]) if rows else True  # no row: as the map laid it out

    def set_owned(self, bucket: int, owned: bool) -> None:
        self.execute("INSERT INTO bucket_owners (bucket, owned) VALUES (?, ?) "
                     "ON CONFLICT (bucket) DO UPDATE SET owned = excluded.owned, "
                     "changed_at = now()", [bucket, owned])

    def arm_fence(self, bucket: int) -> None:
        """Give the bucket an ownership row here (still owned), then wait for every write
        in flight: one that started before the row existed locked nothing, and it
        holds the events table lock until it commits. Every later write locks the row."""
        with self._cursor(commit=True) as c:
            c.execute("INSERT INTO bucket_owners (bucket, owned) VALUES (%s, true) "
                      "ON CONFLICT (bucket) DO NOTHING", (bucket,))
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            self.recorder._lock_table(c)

    @contextmanager
    def fenced(self, bucket: int) -> Iterator[Any]:
        """The bucket's ownership row locked FOR UPDATE: writers of the bucket wait (those
        in flight finish first). On leaving, the row says `owned = false` and commits;
        an error rolls back and the shard still holds the bucket."""
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            c.execute("SELECT owned FROM bucket_owners WHERE bucket = %s FOR UPDATE", (bucket,))
            yield c
            c.execute("UPDATE bucket_owners SET owned = false, changed_at = now() "
                      "WHERE bucket = %s", (bucket,))

    # ---- dropping a copy ----------------------------------------------------------

    def position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def drop(self, bucket: int, reason: str, sign: Any) -> tuple[int, int, int]:
        """Delete the bucket's events and keys, recording it (`sign(position, parcels,
        events)` gives the signed note): (position, parcels, events)."""
        low, high = bucket_range(bucket)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            self.recorder._lock_table(c)
            c.execute(self.recorder._max_id)
            position = int(c.fetchone()["n"])  # before the delete: what checkpoints saw
            c.execute(SQL("DELETE FROM {} WHERE originator_id >= %s AND originator_id < %s "
                          "RETURNING originator_id").format(self.events), (low, high))
            deleted = [r["originator_id"] for r in c.fetchall()]
            parcels = len(set(deleted))
            c.execute("DELETE FROM parcel_keys WHERE parcel_id >= %s AND parcel_id < %s",
                      (low, high))
            c.execute("INSERT INTO bucket_drops (bucket, position, reason, note) "
                      "VALUES (%s, %s, %s, %s)",
                      (bucket, position, reason, sign(position, parcels, len(deleted))))
        return position, parcels, len(deleted)


class MoveLog(SqlTables):
    """The moves in progress and done, beside the shard map (first shard)."""

    create_statements = (
        "CREATE TABLE IF NOT EXISTS shard_moves (bucket INTEGER PRIMARY KEY, "
        "source TEXT NOT NULL, target TEXT NOT NULL, phase TEXT NOT NULL, "
        "started_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
        "updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
        "copied_events BIGINT NOT NULL DEFAULT 0, pause_ms DOUBLE PRECISION)",
    )

    def get(self, bucket: int) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM shard_moves WHERE bucket = ?", [bucket])
        return rows[0] if rows else None

    def all(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM shard_moves ORDER BY bucket")

    def start(self, bucket: int, source: str, target: str) -> None:
        self.execute("INSERT INTO shard_moves (bucket, source, target, phase) "
                     "VALUES (?, ?, ?, 'copying') ON CONFLICT (bucket) DO UPDATE SET "
                     "source = excluded.source, target = excluded.target, phase = 'copying', "
                     "started_at = now(), updated_at = now(), copied_events = 0, "
                     "pause_ms = NULL", [bucket, source, target])

    def update(self, bucket: int, phase: str, **fields: Any) -> None:
        sets = "".join(f", {name} = ?" for name in fields)
        self.execute(f"UPDATE shard_moves SET phase = ?, updated_at = now(){sets} "
                     "WHERE bucket = ?", [phase, *fields.values(), bucket])


def follower_positions(read_side: Any, source: Any, log_name: str) -> dict[str, int]:
    """How far each follower of a shard's log got: every read model's position in it
    (tracking tables on the read side) and each store follower's (the relay's, on the
    shard itself)."""
    found: dict[str, int] = {}
    with read_side.transaction(commit=False) as c:
        c.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                  "current_schema() AND table_name LIKE '%%\\_tracking'")
        tables = [r["table_name"] for r in c.fetchall()]
        for table in tables:
            c.execute(SQL("SELECT MAX(notification_id) AS n FROM {} WHERE "
                          "application_name = %s").format(Identifier(table)), (log_name,))
            n = c.fetchone()["n"]
            if n is not None:
                found[table.removesuffix("_tracking")] = int(n)
    with source.transaction(commit=False) as c:
        c.execute("SELECT to_regclass('follower_positions') IS NOT NULL AS found")
        if c.fetchone()["found"]:
            c.execute("SELECT name, position FROM follower_positions")
            found.update({r["name"]: int(r["position"]) for r in c.fetchall()})
    return found
