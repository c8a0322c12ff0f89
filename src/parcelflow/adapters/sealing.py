"""Sealing personal data with a key per parcel (AES-256-GCM).

Each parcel's names, phones and addresses are encrypted with that parcel's own data
key, bound to the parcel id. Destroying the key erases the data everywhere it was
copied — every event, backup and replica — without touching the events themselves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_PREFIX = "v1:"
_NONCE = 12


class SealError(Exception):
    """Sealed data could not be opened (wrong key, or altered ciphertext)."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


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


class KeyWrap:
    """Wraps data keys with a master key before they are stored (envelope encryption).

    While the master key is being rotated, the keys it replaces (`previous`) still
    unwrap what they wrapped: every process reads every key whatever its rotation state,
    so rotation needs no downtime. AES-GCM's tag tells which master key a wrapped key is
    under.
    """

    def __init__(self, master_key: bytes | None, previous: tuple[bytes, ...] = ()):
        for key in (master_key, *previous):
            if key is not None and len(key) != 32:
                raise ValueError("PARCELFLOW_PII_MASTER_KEY (and _PREVIOUS) must be 32 bytes, "
                                 "base64-encoded")
        self._aead = AESGCM(master_key) if master_key else None
        self._previous = [AESGCM(k) for k in previous]

    @classmethod
    def from_setting(cls, value: str | None, previous: str | None = None) -> KeyWrap:
        return cls(base64.b64decode(value) if value else None,
                   tuple(base64.b64decode(v) for v in (previous or "").split(",") if v.strip()))

    @property
    def rotating(self) -> bool:
        return bool(self._previous)

    def is_current(self, parcel_id: UUID, stored: bytes) -> bool:
        """Wrapped under the current master key (nothing to rotate)."""
        if self._aead is None:
            return True
        try:
            self._aead.decrypt(stored[:_NONCE], stored[_NONCE:], parcel_id.bytes)
            return True
        except InvalidTag:
            return False

    def wrap(self, parcel_id: UUID, key: bytes) -> bytes:
        if self._aead is None:
            return key
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, key, parcel_id.bytes)

    def unwrap(self, parcel_id: UUID, stored: bytes) -> bytes:
        if self._aead is None:
            return stored
        for aead in (self._aead, *self._previous):
            try:
                return aead.decrypt(stored[:_NONCE], stored[_NONCE:], parcel_id.bytes)
            except InvalidTag:
                continue
        raise SealError("data key does not unwrap with the configured master key")
