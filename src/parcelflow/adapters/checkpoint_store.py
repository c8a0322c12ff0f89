"""Checkpoints and the heads they commit to, in two tables beside the events.

`checkpoints` keeps each signed checkpoint. `checkpoint_heads` keeps a parcel's head only
in the checkpoint where it changed: the heads of checkpoint k are, per tracking number,
its row with the highest checkpoint id up to k. A checkpoint of a busy day then writes
the parcels that moved, not the whole network again.

These rows live where the database's administrator can edit them, like the events; that
is why every checkpoint is signed and also written elsewhere (`parcelflow checkpoint
--to`). `verify` recomputes the root from these rows and refuses rows that do not hash
to the signed root.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from parcelflow.adapters.sql_tables import SqlTables
from parcelflow.application.ports import CheckpointStore
from parcelflow.domain.checkpoint import AnchoredHead, Checkpoint, Head, StoredCheckpoint


class SqlCheckpointStore(SqlTables, CheckpointStore):
    create_statements = (
        "CREATE TABLE IF NOT EXISTS checkpoints ("
        "id BIGINT PRIMARY KEY, made_at TEXT NOT NULL, position BIGINT NOT NULL, "
        "tree_size BIGINT NOT NULL, root TEXT NOT NULL, origin TEXT NOT NULL, "
        "note TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS checkpoint_heads ("
        "tracking_no TEXT NOT NULL, checkpoint_id BIGINT NOT NULL, parcel_id TEXT NOT NULL, "
        "version BIGINT NOT NULL, event_hash TEXT NOT NULL, previous_hash TEXT NOT NULL, "
        "PRIMARY KEY (tracking_no, checkpoint_id))",
    )

    def newest(self) -> StoredCheckpoint | None:
        rows = self.query("SELECT * FROM checkpoints ORDER BY id DESC LIMIT 1")
        return _stored(rows[0]) if rows else None

    def find(self, checkpoint: Checkpoint) -> StoredCheckpoint | None:
        rows = self.query("SELECT * FROM checkpoints WHERE position = ? AND root = ?",
                          [checkpoint.position, checkpoint.root.hex()])
        return _stored(rows[0]) if rows else None

    def heads(self, checkpoint_id: int) -> list[AnchoredHead]:
        if self.is_postgres:
            statement = (
                "SELECT DISTINCT ON (tracking_no) tracking_no, parcel_id, version, event_hash, "
                "previous_hash FROM checkpoint_heads WHERE checkpoint_id <= ? "
                "ORDER BY tracking_no, checkpoint_id DESC")
        else:
            # SQLite gives a bare column the values of the row MAX() picked.
            statement = (
                "SELECT tracking_no, parcel_id, version, event_hash, previous_hash, "
                "MAX(checkpoint_id) FROM checkpoint_heads WHERE checkpoint_id <= ? "
                "GROUP BY tracking_no")
        # Version 0: a parcel the checkpoint stopped committing to (its bucket moved away).
        return [_anchored(r) for r in self.query(statement, [checkpoint_id])
                if int(r["version"]) > 0]

    def save(self, checkpoint_id: int, checkpoint: Checkpoint, note: str,
             changed: list[AnchoredHead], removed: Sequence[AnchoredHead] = ()) -> None:
        rows = [(a.head.tracking_no, checkpoint_id, a.parcel_id, a.head.version,
                 a.head.event_hash, a.head.previous_hash) for a in changed]
        rows += [(a.head.tracking_no, checkpoint_id, a.parcel_id, 0, "", "") for a in removed]
        with self.transaction() as c:
            c.execute(self.sql(
                "INSERT INTO checkpoints (id, made_at, position, tree_size, root, origin, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)"),
                [checkpoint_id, checkpoint.made_at.isoformat(), checkpoint.position,
                 checkpoint.tree_size, checkpoint.root.hex(), checkpoint.origin, note])
            if self.is_postgres:
                # A first checkpoint of a big store writes a row per parcel: COPY, not
                # one INSERT round trip each.
                with c.copy("COPY checkpoint_heads (tracking_no, checkpoint_id, parcel_id, "
                            "version, event_hash, previous_hash) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                c.executemany("INSERT INTO checkpoint_heads VALUES (?, ?, ?, ?, ?, ?)", rows)


    def drops(self) -> list[tuple[int, int, str]]:
        if not self.is_postgres:  # buckets move between PostgreSQL shards only
            return []
        return [(int(r["bucket"]), int(r["position"]), r["note"]) for r in
                self.query("SELECT bucket, position, note FROM bucket_drops ORDER BY id")]


def _stored(row: dict[str, Any]) -> StoredCheckpoint:
    checkpoint = Checkpoint(row["origin"], int(row["tree_size"]), bytes.fromhex(row["root"]),
                            int(row["position"]), datetime.fromisoformat(row["made_at"]))
    return StoredCheckpoint(int(row["id"]), row["note"], checkpoint)


def _anchored(row: dict[str, Any]) -> AnchoredHead:
    return AnchoredHead(Head(row["tracking_no"], int(row["version"]), row["event_hash"],
                             row["previous_hash"]), row["parcel_id"])
