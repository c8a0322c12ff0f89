"""Personal data in and out of the store: sealed on the way in, opened (or not) on the way out."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parcelflow.adapters.keystore import KeyStore
from parcelflow.adapters.sealing import SealError, fingerprint, open_sealed, seal
from parcelflow.domain.privacy import ERASED, UNREADABLE, mask_party

PARTY_FIELDS = ("name", "phone", "address", "email")


class ErasedError(Exception):
    """The parcel's personal data was erased; nothing can be sealed for it any more."""


class PersonalData:
    def __init__(self, keys: KeyStore):
        self.keys = keys

    def sealer(self, ids: Collection[UUID]) -> Sealer:
        """Keys for a batch of parcels, fetched (and created where missing) in one go."""
        return Sealer(self.keys.ensure(ids))

    def opener(self, ids: Collection[UUID]) -> Opener:
        return Opener(self.keys.keys(ids))

    def erase(self, parcel_id: UUID) -> bool:
        return self.keys.destroy(parcel_id)


class Sealer:
    def __init__(self, keys: dict[UUID, bytes | None]):
        self._keys = keys

    def key(self, parcel_id: UUID) -> bytes:
        key = self._keys.get(parcel_id)
        if key is None:
            raise ErasedError("this parcel's personal data was erased; it cannot take new data")
        return key

    def seal(self, parcel_id: UUID, party: dict[str, Any]) -> str:
        return seal(self.key(parcel_id), parcel_id, party)

    def fingerprint(self, parcel_id: UUID, data: Any) -> str:
        return fingerprint(self.key(parcel_id), data)


class Opener:
    def __init__(self, keys: dict[UUID, bytes | None]):
        self._keys = keys
        self._aeads: dict[UUID, AESGCM] = {}  # a parcel's parties share its key schedule

    def open(self, parcel_id: UUID, sealed: str | None, *, reveal: bool = False) -> dict[str, Any]:
        """A party's fields: masked by default, in the clear with `reveal`, or [erased]."""
        if sealed is None:
            return {}
        key = self._keys.get(parcel_id)
        if key is None:
            return {name: ERASED for name in PARTY_FIELDS}
        aead = self._aeads.get(parcel_id)
        if aead is None:
            aead = self._aeads[parcel_id] = AESGCM(key)
        try:
            party = open_sealed(aead, parcel_id, sealed)
        except SealError:
            return {name: UNREADABLE for name in PARTY_FIELDS}
        return party if reveal else mask_party(party)
