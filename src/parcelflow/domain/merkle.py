"""Merkle trees as Certificate Transparency defines them (RFC 6962 §2.1, RFC 9162 §2.1).

A leaf is hashed as SHA-256(0x00 || data) and an interior node as SHA-256(0x01 || left ||
right); the two prefixes keep a leaf from ever passing for a node (second-preimage
attacks). A tree of n leaves splits at the largest power of two smaller than n, so the
shape is fixed by n alone and anyone can recompute it. The same code builds the tree,
the inclusion proofs and checks them: no third-party verifier needs anything but SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of these leaf hashes (already `leaf_hash`ed).

    Computed level by level, pairing neighbours and carrying an odd last node up
    unchanged: the same tree as RFC 6962's recursive split at the largest power of two,
    without a million-deep call stack.
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    sha = hashlib.sha256
    while len(level) > 1:
        paired = [sha(b"\x01" + level[i] + level[i + 1]).digest()
                  for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf `index` (RFC 6962 §2.1.1 PATH), nearest sibling first."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    proof = []
    level = list(leaves)
    at = index
    while len(level) > 1:
        sibling = at ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        # else: the last node of an odd level goes up unchanged, and has no sibling here.
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        at //= 2
    return proof


def root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); compare it with the
    signed root. Raises ValueError when the proof cannot belong to a tree of `size`."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    fn, sn = index, size - 1
    result = leaf
    for sibling in proof:
        if sn == 0:
            raise ValueError("the proof is longer than the tree is deep")
        if fn % 2 == 1 or fn == sn:
            result = node_hash(sibling, result)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the proof is shorter than the tree is deep")
    return result


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     expected_root: bytes) -> bool:
    try:
        return root_from_proof(leaf, index, size, proof) == expected_root
    except ValueError:
        return False
