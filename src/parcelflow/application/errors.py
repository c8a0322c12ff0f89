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
