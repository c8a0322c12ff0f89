"""Identities derived from the carrier's own numbers, and the occurrences exceptions are
raised for.

An exception's id is derived from its parcel, its code and its occurrence: what it was
raised for. Raising the same code for the same occurrence again therefore names the
same exception, which is how each is raised once. The occurrence keys are stored in the
events, and the detectors' SQL matches read-model rows against them, so they are built
here and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from uuid import UUID, uuid5

from parcelflow.domain.times import instant

# Fixed namespace: the same tracking number always maps to the same parcel id, so two
# registrations of one parcel collide in the store instead of creating two parcels.
PARCEL_NAMESPACE = UUID("6f0e9a52-2f4b-5d8e-9a51-3c1f0c7d2b10")

# Occurrences. A problem the timeline shows is keyed by the scan that shows it (its
# scan id), or by MANIFEST_MISSING; the others by these prefixes and what follows.
MANIFEST_MISSING = "manifest"  # scanned, and no manifest yet
QUIET_SINCE = "quiet:"  # + the last scan's time (UTC, as stored): one quiet spell
PROMISE = "promise:"  # + the promised time (UTC, as stored): one broken promise


@lru_cache(maxsize=1 << 17)  # hot on the ingest path: every scan maps to its parcel
def parcel_id(tracking_no: str) -> UUID:
    return uuid5(PARCEL_NAMESPACE, tracking_no)


@lru_cache(maxsize=1 << 14)
def exception_id(parcel: UUID, code: str, occurrence: str) -> str:
    """Stable id of the exception `code` raised for `occurrence` on a parcel (idempotent
    raising)."""
    return str(uuid5(parcel, f"{code}/{occurrence}"))


def case_id(parcel: UUID, kind: str, key: str) -> str:
    """Stable id of a complaint or claim on a parcel, from what made it (its version)."""
    return str(uuid5(parcel, f"{kind}/{key}"))


def raised_by_hand(version: int) -> str:
    """Raised by staff as the parcel's event `version`: every raising is its own."""
    return f"raised@{version}"


def complaint_filed(complaint_id: str) -> str:
    """A complaint's own exception."""
    return f"complaint:{complaint_id}"


def quiet_since(last_scan_at: datetime) -> str:
    """The quiet spell since the last scan (stalled, lost, not collected)."""
    return QUIET_SINCE + instant(last_scan_at)


def quiet_start(occurrence: str) -> datetime | None:
    """When the quiet spell an occurrence names began (its last scan); None for any
    other occurrence."""
    if not occurrence.startswith(QUIET_SINCE):
        return None
    return datetime.fromisoformat(occurrence[len(QUIET_SINCE):])


def broken_promise(promised_by: datetime) -> str:
    """The promised time that was missed (delayed)."""
    return PROMISE + instant(promised_by)
