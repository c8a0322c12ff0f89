"""The public lookup's reads: tracking-view rows in one round trip, and the phone proof.

Without proof anyone holding the tracking number sees the status, the city, the ETA
and a coarse timeline (milestones by city, no facility codes, no descriptions, no
people). With the last four digits of the receiver's or the sender's phone they see
the full timeline, still masked. The documents themselves are rendered by
`parcelflow.application.tracking_document`, which the command line uses too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from eventsourcing.application import LRUCache
from psycopg_pool import ConnectionPool

from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.service import ParcelService
from parcelflow.projections.tracking_view import decode


class TrackingRows:
    """Tracking-view rows for the lookup, in one round trip each on PostgreSQL.

    The view's own `get()` runs its SELECT inside a transaction (BEGIN, SELECT,
    ROLLBACK: three round trips); a single autocommit SELECT reads the same committed
    row. On SQLite, where a transaction costs no round trip, the view answers itself.

    On PostgreSQL the lookup has a pool of its own, `POOL_SIZE` autocommit connections
    on which the SELECT is prepared once each: the library's pool (4 connections) is
    shared by every query of the API, and at 1,000 lookups a second the lookups' 40
    worker threads queued for it (bench/profiles/README.md §5).
    """

    POOL_SIZE = 8
    _SELECT = "SELECT * FROM tracking_view WHERE tracking_no = %s"

    def __init__(self, view: Any):
        self.view = view
        self._pool: ConnectionPool | None = None
        if view.is_postgres:
            kwargs = {**view.datastore.pool.kwargs, "autocommit": True, "prepare_threshold": 0}
            self._pool = ConnectionPool(kwargs=kwargs, min_size=1, max_size=self.POOL_SIZE,
                                        open=True, name="tracking-lookup")

    def get(self, tracking_no: str) -> dict[str, Any] | None:
        if self._pool is None:
            return self.view.get(tracking_no)  # type: ignore[no-any-return]
        with self._pool.connection() as conn:
            row = conn.execute(self._SELECT, [tracking_no], prepare=True).fetchone()
        return decode(row) if row else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


class PhoneProofs:
    """Checks `phone_last4` against the parcel's receiver and sender phones.

    The phones are sealed in the store; opening them costs a read of the parcel's events
    and a decryption. So each parcel's answer is kept in memory as keyed hashes of the
    two last-four digits (HMAC under a key made when the process starts, never stored),
    tagged with the tracking-view version it was computed for: any later event (a
    redirect to a new receiver, an erasure) changes the version and the hashes are
    computed again. Nothing in memory or on disk holds the digits themselves.

    An unknown tracking number gets the same work as a known one, and the same answer as
    a wrong proof. The first proof on a number in this process opens a parcel either way:
    the parcel itself when it exists, else a decoy (the last parcel really opened, whose
    phones are then thrown away); the answer is kept in memory either way, so asking
    again costs a cache hit for both. Without this the store read made a wrong proof on
    a known parcel measurably slower than an unknown number (bench/proof_timing.py).
    """

    SLOTS = 2  # receiver and sender: always compare against both, present or not

    def __init__(self, service: ParcelService, size: int = 100_000):
        self.service = service
        self._key = secrets.token_bytes(32)
        self._nothing = self._digest("no match " + secrets.token_hex(8))
        self._cache: LRUCache[str, tuple[int | None, tuple[bytes, ...]]] = LRUCache(maxsize=size)
        self._decoy: str | None = None  # a parcel that exists, opened for unknown numbers

    def _digest(self, digits: str) -> bytes:
        return hmac.new(self._key, digits.encode(), hashlib.sha256).digest()

    def matches(self, tracking_no: str, version: int | None, last4: str) -> bool:
        given = self._digest(last4)
        known = self._known(tracking_no, version)
        slots = (*known, *([self._nothing] * self.SLOTS))[: self.SLOTS]
        found = False
        for digest in slots:
            found |= hmac.compare_digest(given, digest)
        return found

    def _known(self, tracking_no: str, version: int | None) -> tuple[bytes, ...]:
        try:
            cached_version, digests = self._cache.get(tracking_no)
            if cached_version == version:
                return digests
        except KeyError:
            pass
        if version is None:  # no such parcel: open the decoy, keep nothing of it
            self._load(self._decoy) if self._decoy else None
            digests = ()
        else:
            digests = self._load(tracking_no)
            self._decoy = tracking_no
        self._cache.put(tracking_no, (version, digests))
        return digests

    def _load(self, tracking_no: str) -> tuple[bytes, ...]:
        try:
            parcel = self.service.get(tracking_no)
        except ParcelNotFound:
            return ()
        manifest = parcel.manifest
        opener = self.service.personal.opener([parcel.id])
        digests = []
        for sealed in (parcel.receiver_sealed, manifest.sender_sealed if manifest else None):
            phone = opener.open(parcel.id, sealed, reveal=True).get("phone") or ""
            digits = re.sub(r"\D", "", phone)  # erased or unreadable: no digits, no proof
            if len(digits) >= 4:
                digests.append(self._digest(digits[-4:]))
        return tuple(digests)
