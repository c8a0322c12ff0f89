"""Personal data in and out of the store: sealed on the way in, opened (or not) on the
way out.

Each parcel's names, phones, addresses and free text are encrypted with AES-256-GCM
under that parcel's own data key, bound to the parcel id. Destroying the key erases the
data everywhere it was copied — every event, backup and replica — without touching the
events themselves. Free text may hold personal data too — a complaint in the customer's
own words, a summary of a call, what staff write on an exception, a claim or a complaint,
a scanner's note, who signed (beyond a role word): it is sealed the same way, opened
only on request, and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Collection
from typing import Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parcelflow.application.errors import TextTooLong
from parcelflow.application.ports import KeyStore
from parcelflow.domain.privacy import (
    ERASED,
    SEALED,
    SIGNATURE_ROLES,
    UNREADABLE,
    mask_party,
    scrub_text,
)

PARTY_FIELDS = ("name", "phone", "address", "email")
MAX_TEXT = 4000  # characters of free text per complaint, contact summary, note or reason
SEALED_PREFIX = "v1:"
_NONCE = 12


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def is_role(signed_by: str) -> bool:
    """Who signed, when it is a role word ("recipient", "前台"): nobody in particular."""
    return signed_by.strip().lower() in SIGNATURE_ROLES


class ErasedError(Exception):
    """The parcel's personal data was erased; nothing can be sealed for it any more."""


class SealError(Exception):
    """Sealed data could not be opened (wrong key, or altered ciphertext)."""


def seal(key: bytes, parcel_id: UUID, data: dict[str, Any]) -> str:
    nonce = os.urandom(_NONCE)
    plaintext = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, parcel_id.bytes)
    return SEALED_PREFIX + base64.b64encode(nonce + ciphertext).decode()


def open_sealed(key: bytes | AESGCM, parcel_id: UUID, sealed: str) -> dict[str, Any]:
    """Open sealed data with the parcel's key (or an AESGCM made from it, to reuse)."""
    if not sealed.startswith(SEALED_PREFIX):
        raise SealError("not sealed data")
    raw = base64.b64decode(sealed[len(SEALED_PREFIX):])
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        plaintext = aead.decrypt(raw[:_NONCE], raw[_NONCE:], parcel_id.bytes)
    except InvalidTag:
        raise SealError("sealed data does not open with this parcel's key") from None
    return orjson.loads(plaintext)


def fingerprint(key: bytes, data: Any) -> str:
    """A keyed hash: equal for equal data, useless to anyone without the parcel's key."""
    body = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


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

    def pickup_code(self, parcel_id: UUID, scan_id: str) -> str | None:
        """The code the receiver shows at the pickup point: six digits derived from the
        parcel's own secret key and the scan that put it there, so the pickup point can
        check it with the same function and nobody can guess it from the tracking number.
        None once the parcel's personal data is erased."""
        key = self.keys.keys([parcel_id]).get(parcel_id)
        if key is None:
            return None
        digest = fingerprint(key, {"pickup_code": scan_id})
        return f"{int(digest[:12], 16) % 1_000_000:06d}"

    def seal_text(self, parcel_id: UUID, text: str | None) -> str | None:
        """Free text sealed with the parcel's key: None for none, TextTooLong past the
        length kept, ERASED once its personal data was erased (nothing new is kept)."""
        if text is None or not text.strip():
            return None
        if len(text) > MAX_TEXT:
            raise TextTooLong(f"the text is {len(text)} characters; at most {MAX_TEXT}")
        return self.sealer([parcel_id]).seal_text(parcel_id, text)

    def open_text(self, parcel_id: UUID, value: str | None, *, reveal: bool) -> str | None:
        """Free text as staff see it: sealed text SEALED unless `reveal`, then the text
        (ERASED once erased); anything else as it is (the system's own words, ERASED,
        or what staff wrote before their text was sealed)."""
        if not is_sealed(value):
            return value
        if not reveal:
            return SEALED
        return self.opener([parcel_id]).text(parcel_id, value, reveal=True)


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
            return None
        try:
            return seal(self.key(parcel_id), parcel_id, {"text": text})
        except ErasedError:
            return ERASED


class Opener:
    def __init__(self, keys: dict[UUID, bytes | None]):
        self._keys = keys
        self._aeads: dict[UUID, AESGCM] = {}  # a parcel's parties share its key schedule

    def open(self, parcel_id: UUID, sealed: str | None, *, reveal: bool = False) -> dict[str, Any]:
        """A party's fields: masked by default, in the clear with `reveal`, or ERASED."""
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
