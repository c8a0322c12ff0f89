"""Which virtual bucket a parcel belongs to: the unit the event store is sharded by.

A parcel's bucket is a stable hash of its tracking number: the first byte of its parcel
id, which is a name-based UUID (SHA-1 of the tracking number), so 256 buckets, evenly
filled, and the same for a tracking number and for its parcel id. Servers own whole
buckets (the shard map, `adapters/shard_map.py`), so adding a server moves buckets, not
single parcels, and the scans topic's partitions can be cut along the same lines.
"""

from __future__ import annotations

from uuid import UUID

from parcelflow.domain.ids import parcel_id

BUCKETS = 256  # one byte of the hash; fixed for good: every stored map is laid out on it


def bucket_of_parcel(pid: UUID) -> int:
    # uuid5's version and variant bits are in bytes 6 and 8; byte 0 is pure hash.
    # `pid.bytes[0]`, the top byte of the 128-bit number, without `bytes` (a property
    # that makes the 16 bytes anew): every event stored asks it.
    return pid.int >> 120


def bucket_of(tracking_no: str) -> int:
    return bucket_of_parcel(parcel_id(tracking_no))


def even_layout(shards: int) -> list[int]:
    """Bucket → shard index for a fresh map: contiguous, equal runs of buckets."""
    if not 1 <= shards <= BUCKETS:
        raise ValueError(f"between 1 and {BUCKETS} shards")
    return [bucket * shards // BUCKETS for bucket in range(BUCKETS)]
