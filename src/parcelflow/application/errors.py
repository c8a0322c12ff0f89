"""What the application answers when a request cannot be carried out (the domain's own
refusals are `domain.errors.DomainError`)."""

from __future__ import annotations


class ParcelNotFound(LookupError):
    def __init__(self, tracking_no: str):
        super().__init__(f"no parcel with tracking number {tracking_no}")
        self.tracking_no = tracking_no


class ConflictRetriesExhausted(RuntimeError):
    """Other writers kept changing the same parcels: the batch gave up."""


class BadSignature(Exception):
    """A signed note (a checkpoint) whose signature does not verify with the key it names."""


class TextTooLong(ValueError):
    """Free text (a complaint, a contact summary) over the length that is kept."""


class BucketMoved(RuntimeError):
    """A write reached a shard that no longer holds (or does not yet hold) these buckets:
    the writer's shard map is stale. Nothing was written; refresh the map and retry."""

    def __init__(self, buckets: list[int]):
        super().__init__(f"buckets {', '.join(map(str, buckets))} are not held by this shard "
                         "(moved): refresh the shard map and retry")
        self.buckets = buckets
