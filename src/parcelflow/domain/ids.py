"""Identities derived from the carrier's own numbers."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

# Fixed namespace: the same tracking number always maps to the same parcel id, so two
# registrations of one parcel collide in the store instead of creating two parcels.
PARCEL_NAMESPACE = UUID("6f0e9a52-2f4b-5d8e-9a51-3c1f0c7d2b10")


@lru_cache(maxsize=1 << 17)  # hot on the ingest path: every scan maps to its parcel
def parcel_id(tracking_no: str) -> UUID:
    return uuid5(PARCEL_NAMESPACE, tracking_no)


@lru_cache(maxsize=1 << 14)
def exception_id(parcel: UUID, code: str, cause: str) -> str:
    """Stable id of the exception `code` caused by `cause` on a parcel (idempotent raising)."""
    return str(uuid5(parcel, f"{code}/{cause}"))


def case_id(parcel: UUID, kind: str, key: str) -> str:
    """Stable id of a complaint or claim on a parcel, from what made it (its version)."""
    return str(uuid5(parcel, f"{kind}/{key}"))
