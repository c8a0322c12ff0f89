"""Personal data in and out of the store: sealed on the way in, opened (or not) on the way out."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parcelflow.adapters.keystore import KeyStore
from parcelflow.adapters.sealing import SEALED_PREFIX, SealError, fingerprint, open_sealed, seal
from parcelflow.domain.privacy import ERASED, SIGNATURE_ROLES, mask_party, scrub_text

PARTY_FIELDS = ("name", "phone", "address", "email")
UNREADABLE = "[unreadable]"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def is_role(signed_by: str) -> bool:
    """Who signed, when it is a role word ("recipient", "前台"): nobody in particular."""
    return signed_by.strip().lower() in SIGNATURE_ROLES


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

    def seal_text(self, parcel_id: UUID, text: str | None) -> str | None:
        """Free text (a note, a signature, a staff detail) sealed like a party; None
        for none, [erased] once the parcel's data was erased (nothing new is kept)."""
        if text is None or not text.strip():
            return text
        try:
            return seal(self.key(parcel_id), parcel_id, {"text": text})
        except ErasedError:
            return ERASED


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

    def text(self, parcel_id: UUID, value: str | None, *, reveal: bool = False,
             mask: Callable[[str], str] = scrub_text) -> str | None:
        """Free text as stored: sealed (opened, then masked unless `reveal`; [erased]
        once erased) or, from before texts were sealed, in the clear (masked likewise)."""
        if value is None or not is_sealed(value):
            return value if value is None or reveal else mask(value)
        opened = self.open(parcel_id, value, reveal=True)
        text = opened.get("text")
        if not isinstance(text, str):
            return opened.get("name") or ERASED  # erased, or unreadable
        return text if reveal else mask(text)
