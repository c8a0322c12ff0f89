"""Signing checkpoints with Ed25519, as C2SP signed notes (the format Go's checksum
database, Sigstore and the transparency-dev witnesses use).

A signed note is the text, a blank line, and one line per signature: an em dash, the
key's name, and base64 of the key id (4 bytes) followed by the signature over the
text. Keys travel in the same package's formats, so `golang.org/x/mod/sumdb/note` (or
any C2SP implementation) reads them too:

    signer key    PRIVATE+KEY+<name>+<key id, 8 hex>+base64(0x01 || 32-byte seed)
    verifier key  <name>+<key id, 8 hex>+base64(0x01 || 32-byte public key)
    key id        first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key)
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from parcelflow.application.errors import BadSignature

ED25519 = b"\x01"
DASH = "\u2014 "


class KeyFormatError(ValueError):
    """A key that is not in the signed-note format (the message never repeats it)."""


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise KeyFormatError("a key name must be non-empty, without spaces or '+'")
    return name


def _ed25519(encoded: str, what: str) -> bytes:
    """The 32 key bytes of base64(0x01 || key)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise KeyFormatError(f"{what}: the key is not base64") from None
    if len(raw) != 33 or raw[:1] != ED25519:
        raise KeyFormatError(f"{what}: not an Ed25519 key")
    return raw[1:]


def _check_id(actual: bytes, given: str, what: str) -> None:
    if actual.hex() != given.lower():
        raise KeyFormatError(f"{what}: its key id does not match the key")


class NoteSigner:
    def __init__(self, name: str, private_key: Ed25519PrivateKey):
        self.name = _check_name(name)
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_key)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_text(cls, text: str) -> NoteSigner:
        """A signer from `PRIVATE+KEY+<name>+<id>+<base64>` (PARCELFLOW_CHECKPOINT_KEY)."""
        parts = text.strip().split("+", 4)  # the base64 key may hold '+' itself
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise KeyFormatError("PARCELFLOW_CHECKPOINT_KEY must be a signed-note private key "
                                 "(PRIVATE+KEY+name+id+key; make one with "
                                 "`parcelflow keys checkpoint-create`)")
        name, given_id, encoded = parts[2:]
        what = "PARCELFLOW_CHECKPOINT_KEY"
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(_ed25519(encoded, what)))
        _check_id(signer.key_id, given_id, what)
        return signer

    def private_text(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return (f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+"
                f"{base64.b64encode(ED25519 + seed).decode()}")

    def verifier_text(self) -> str:
        return (f"{self.name}+{self.key_id.hex()}+"
                f"{base64.b64encode(ED25519 + self.public_key).decode()}")

    def verifier(self) -> NoteVerifier:
        return NoteVerifier.from_text(self.verifier_text())

    def sign(self, text: str) -> str:
        """The signed note of `text` (which must end in a newline)."""
        if not text.endswith("\n"):
            raise ValueError("a note's text ends with a newline")
        signature = self._key.sign(text.encode())
        return f"{text}\n{DASH}{self.name} {base64.b64encode(self.key_id + signature).decode()}\n"


class NoteVerifier:
    def __init__(self, name: str, public_key: bytes):
        self.name = _check_name(name)
        self.public_key = public_key
        self.key_id = key_id(name, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_text(cls, text: str) -> NoteVerifier:
        """A verifier from `<name>+<id>+<base64>` (PARCELFLOW_CHECKPOINT_PUBLIC_KEY)."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyFormatError("a checkpoint verifier key is name+id+key "
                                 "(as `parcelflow keys checkpoint-create` prints it)")
        name, given_id, encoded = parts
        what = "the checkpoint verifier key"
        verifier = cls(name, _ed25519(encoded, what))
        _check_id(verifier.key_id, given_id, what)
        return verifier

    def open(self, note: str) -> str:
        """The note's text once this key's signature on it verifies; BadSignature if not."""
        text, sep, signatures = note.rpartition("\n\n")
        if not sep:
            raise BadSignature("not a signed note (no blank line before the signatures)")
        text += "\n"
        for line in signatures.split("\n"):
            if not line.startswith(DASH):
                continue
            name, _, encoded = line[len(DASH):].partition(" ")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except ValueError:
                continue
            if name != self.name or raw[:4] != self.key_id:
                continue  # another key's signature: not ours to judge
            try:
                self._key.verify(raw[4:], text.encode())
            except InvalidSignature:
                raise BadSignature(f"the signature of {self.name} does not verify: the "
                                   "checkpoint was altered or signed by another key") from None
            return text
        raise BadSignature(f"the note carries no signature of {self.name}")
