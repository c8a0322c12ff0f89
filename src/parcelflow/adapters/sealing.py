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
    """Wraps data keys with a master key before they are stored (envelope encryption)."""

    def __init__(self, master_key: bytes | None):
        if master_key is not None and len(master_key) != 32:
            raise ValueError("PARCELFLOW_PII_MASTER_KEY must be 32 bytes, base64-encoded")
        self._aead = AESGCM(master_key) if master_key else None

    @classmethod
    def from_setting(cls, value: str | None) -> KeyWrap:
        return cls(base64.b64decode(value) if value else None)

    def wrap(self, parcel_id: UUID, key: bytes) -> bytes:
        if self._aead is None:
            return key
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, key, parcel_id.bytes)

    def unwrap(self, parcel_id: UUID, stored: bytes) -> bytes:
        if self._aead is None:
            return stored
        try:
            return self._aead.decrypt(stored[:_NONCE], stored[_NONCE:], parcel_id.bytes)
        except InvalidTag:
            raise SealError("data key does not unwrap with the configured master key") from None
