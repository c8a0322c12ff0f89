"""The scans topic cut along the shards' lines: a scan's partition from its bucket.

Kafka's default partitioner hashes the key with murmur2, which knows nothing of the
shard map, so one partition's scans would land on every shard and an ingest worker
would write to all of them in every batch. With the store sharded, the scans topic is
partitioned by the parcel's bucket instead (`domain/buckets.py`): partition p of P holds
the buckets b with b·P // 256 == p, a contiguous run. When P is a multiple of the shard
count, every partition's buckets lie on one shard of an evenly laid-out map (nested
floors: b·n // 256 == (b·P // 256) // (P / n)), so a worker owns whole buckets and
writes one shard per partition. A scan that reaches another worker anyway (a topic
with another partition count, a bucket moved since) is still stored on its own shard:
the ingest service routes every scan by its tracking number, not by its partition.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from parcelflow.domain.buckets import BUCKETS, bucket_of
from parcelflow.settings import Settings


def partition_of_bucket(bucket: int, partitions: int) -> int:
    return bucket * partitions // BUCKETS


def bucket_partitioner(key: bytes | None, all_partitions: Sequence[int],
                       available: Sequence[int]) -> int:
    """kafka-python's `partitioner`: (key bytes, all partitions, available ones)."""
    if not key:  # no tracking number: anywhere (the ingest worker rejects it by name)
        return random.choice(list(available or all_partitions))
    try:
        bucket = bucket_of(key.decode())
    except UnicodeDecodeError:
        return random.choice(list(available or all_partitions))
    return sorted(all_partitions)[partition_of_bucket(bucket, len(all_partitions))]


def scan_producer_options(settings: Settings) -> dict[str, Any]:
    """Producer options for the scans topic: by bucket when sharded; as today otherwise."""
    return {"partitioner": bucket_partitioner} if len(settings.shard_urls()) > 1 else {}
