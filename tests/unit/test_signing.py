"""Checkpoint keys and signed notes (C2SP), checked with the signed-note spec's own example
and by hand-computed key ids."""

from __future__ import annotations

import base64
import hashlib

import pytest

from parcelflow.adapters.signing import BadSignature, KeyFormatError, NoteSigner, NoteVerifier

TEXT = "parcelflow/checkpoints\n3\nAAAA\nposition 9\ntime 2026-11-25T10:00:00+00:00\n"


def test_keys_round_trip_through_their_text_forms_and_the_id_is_the_specs():
    signer = NoteSigner.generate("carrier.example/checkpoints")
    again = NoteSigner.from_text(signer.private_text())
    assert again.public_key == signer.public_key
    name, key_id, key = signer.verifier_text().split("+", 2)
    raw = base64.b64decode(key)
    assert raw[0] == 1 and raw[1:] == signer.public_key
    # key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4]
    assert key_id == hashlib.sha256(name.encode() + b"\n\x01" + raw[1:]).digest()[:4].hex()


def test_a_signed_note_opens_with_its_key_and_no_other():
    signer = NoteSigner.generate("carrier.example/checkpoints")
    note = signer.sign(TEXT)
    assert note.startswith(TEXT + "\n\u2014 carrier.example/checkpoints ")
    assert signer.verifier().open(note) == TEXT
    with pytest.raises(BadSignature, match="does not verify"):
        signer.verifier().open(note.replace("position 9", "position 8"))
    other = NoteSigner.generate("carrier.example/checkpoints")
    with pytest.raises(BadSignature, match="no signature of"):
        other.verifier().open(note)


def test_the_signed_note_specs_example_verifies():
    # From c2sp.org/signed-note: the example note and its verifier key.
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    note = ("If you think cryptography is the answer to your problem,\n"
            "then you don't know what your problem is.\n\n"
            "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
            "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
    assert NoteVerifier.from_text(vkey).open(note).startswith("If you think")


def test_bad_key_texts_are_refused_without_repeating_them():
    for text in ("nonsense", "PRIVATE+KEY+name+00000000+AAAA",
                 "PRIVATE+KEY+a b+00000000+" + base64.b64encode(b"\x01" + b"k" * 32).decode()):
        with pytest.raises(KeyFormatError) as e:
            NoteSigner.from_text(text)
        assert text not in str(e.value)
