"""Data keys as they are kept: made fresh for each parcel, and wrapped with the master
key before they are stored (envelope encryption). What they seal, and how, is the
application's (`application/personal_data.py`).
"""

from __future__ import annotations

import base64
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parcelflow.application.personal_data import SealError

_NONCE = 12


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


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
