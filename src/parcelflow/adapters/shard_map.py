"""The shard map: which server holds each virtual bucket, kept in the first shard.

One row per bucket. A fresh map lays the buckets out evenly over the configured shards;
after that the table, not the settings, says where a bucket is, so reordering or adding
URLs in `PARCELFLOW_SHARDS` moves nothing by itself. Moving a bucket ends in one UPDATE
of its row, which is the atomic switch: every process reads the map at start-up and
when told a bucket moved. Shards are named by their URL without credentials (host,
port, database), so a password in the settings never reaches the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from parcelflow.adapters.sql_tables import SqlTables
from parcelflow.adapters.store import is_postgres, sqlite_path
from parcelflow.domain.buckets import BUCKETS, even_layout


class ShardMapError(RuntimeError):
    pass


def shard_name(database_url: str) -> str:
    """A shard's name in the map: where it is, without user or password."""
    if is_postgres(database_url):
        parts = conninfo_to_dict(database_url)
        return (f"postgresql://{parts.get('host') or '127.0.0.1'}:{parts.get('port') or 5432}"
                f"/{parts.get('dbname') or 'postgres'}")
    return f"sqlite:///{sqlite_path(database_url)}"


def holds_a_map(datastore: Any) -> bool:
    """Whether this database keeps a shard map (without creating one)."""
    probe = SqlShardMap.__new__(SqlShardMap)
    probe.datastore = datastore
    if probe.is_postgres:
        rows = probe.query("SELECT to_regclass('shard_buckets') IS NOT NULL AS found")
    else:
        rows = probe.query("SELECT COUNT(*) > 0 AS found FROM sqlite_master "
                           "WHERE type = 'table' AND name = 'shard_buckets'")
    return bool(rows[0]["found"])


def check_home(datastores: Sequence[Any], urls: Sequence[str]) -> None:
    """The map is kept on the first shard: refuse to start (and make a second map) when
    another listed shard has it — PARCELFLOW_SHARDS' first URL was changed."""
    if holds_a_map(datastores[0]):
        return
    for datastore, url in zip(datastores[1:], urls[1:], strict=True):
        if holds_a_map(datastore):
            raise ShardMapError(f"the shard map is kept on {shard_name(url)}: list it first "
                                "in PARCELFLOW_SHARDS (the first shard holds the map and "
                                "the read side)")


class SqlShardMap(SqlTables):
    create_statements = (
        "CREATE TABLE IF NOT EXISTS shard_buckets ("
        "bucket INTEGER PRIMARY KEY, shard TEXT NOT NULL)",
    )

    def layout(self, urls: Sequence[str]) -> list[int]:
        """Bucket → index into `urls`; a map made now if there is none yet (laid out
        evenly, by whichever process gets there first: the insert keeps the first)."""
        names = [shard_name(u) for u in urls]
        stored = self._rows()
        if not stored:
            with self.transaction() as c:
                for bucket, shard in enumerate(even_layout(len(names))):
                    c.execute(self.sql("INSERT INTO shard_buckets (bucket, shard) VALUES (?, ?) "
                                       "ON CONFLICT (bucket) DO NOTHING"), [bucket, names[shard]])
            stored = self._rows()
        if len(stored) != BUCKETS:
            raise ShardMapError(f"the shard map has {len(stored)} of {BUCKETS} buckets")
        index = {name: i for i, name in enumerate(names)}
        unknown = sorted({name for name in stored.values() if name not in index})
        if unknown:
            raise ShardMapError(f"the shard map places buckets on {', '.join(unknown)}, "
                                "which PARCELFLOW_SHARDS does not list")
        return [index[stored[b]] for b in range(BUCKETS)]

    def assign(self, bucket: int, database_url: str, cursor: Any | None = None) -> None:
        """Switch a bucket to another shard (inside the caller's transaction if given)."""
        statement = self.sql("UPDATE shard_buckets SET shard = ? WHERE bucket = ?")
        params = [shard_name(database_url), bucket]
        if cursor is not None:
            cursor.execute(statement, params)
            return
        with self.transaction() as c:
            c.execute(statement, params)

    def _rows(self) -> dict[int, str]:
        return {int(r["bucket"]): str(r["shard"])
                for r in self.query("SELECT bucket, shard FROM shard_buckets")}
