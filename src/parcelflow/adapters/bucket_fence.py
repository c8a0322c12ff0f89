"""The fence against writers on a stale shard map: each shard's own ownership rows.

A shard keeps a row per bucket it gave away or is being given (`bucket_owners`); a
bucket without a row is the shard's own, as laid out by the map (so a store that never
moved a bucket pays one empty lookup per write). Every transaction that writes a
parcel's events or its data key on a PostgreSQL shard reads its buckets' rows FOR
SHARE first, in that transaction, and refuses to go on when one says `owned = false`.
The mover flips a row FOR UPDATE: that waits for the writers in flight and holds back
new ones, which then read the flipped row and get `BucketMoved` (their batch rolled
back whole), refresh the map and retry on the new shard. So no write lands on a shard
after it gave the bucket away, whatever map the writer had cached.

`copied_events` is the other shared table of a move: the notification-id ranges a
mover copied into this shard's log (see `adapters/log_follower.py`, which skips them);
`bucket_drops` records each bucket whose events this shard deleted after it left. All
three are created with the events table (`PostgresParcelRecorder`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from parcelflow.application.errors import BucketMoved
from parcelflow.domain.buckets import bucket_of_parcel

CREATE = (
    "CREATE TABLE IF NOT EXISTS bucket_owners (bucket INTEGER PRIMARY KEY, "
    "owned BOOLEAN NOT NULL, changed_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS copied_events (first_id BIGINT PRIMARY KEY, "
    "last_id BIGINT NOT NULL, bucket INTEGER NOT NULL, source TEXT NOT NULL, "
    "copied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    # A bucket's events deleted here after it moved (or a copy rolled back): what
    # checkpoints and `verify` need to tell it from deleted events (adapters/bucket_moves.py).
    "CREATE TABLE IF NOT EXISTS bucket_drops (id BIGSERIAL PRIMARY KEY, "
    "bucket INTEGER NOT NULL, position BIGINT NOT NULL, reason TEXT NOT NULL, "
    "dropped_at TIMESTAMPTZ NOT NULL DEFAULT now(), note TEXT NOT NULL)",
)

# Every row of these buckets is share-locked, owned or not: a mover flipping one waits
# for this transaction, and this one waits for a flip in progress.
_LOCK = "SELECT bucket, owned FROM bucket_owners WHERE bucket = ANY(%s) FOR SHARE"


def check_owned(cursor: Any, parcel_ids: Iterable[UUID]) -> None:
    """Lock these parcels' buckets' ownership rows for this transaction (FOR SHARE) and
    raise `BucketMoved` when this shard does not hold one of them."""
    buckets = sorted({bucket_of_parcel(pid) for pid in parcel_ids})
    if not buckets:
        return
    cursor.execute(_LOCK, (buckets,))
    refused = [row["bucket"] for row in cursor.fetchall() if not row["owned"]]
    if refused:
        raise BucketMoved(refused)


def gave_away(datastore: Any, bucket: int) -> bool:
    """Whether this shard's fence says `bucket` is not its own (PostgreSQL shards)."""
    from eventsourcing.postgres import PostgresDatastore

    if not isinstance(datastore, PostgresDatastore):
        return False
    with datastore.transaction(commit=False) as c:
        c.execute("SELECT 1 FROM bucket_owners WHERE bucket = %s AND NOT owned", (bucket,))
        return c.fetchone() is not None
