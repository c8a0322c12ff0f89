"""RFC 6962 Merkle trees, against Certificate Transparency's published reference vectors.

The leaves, roots and proofs below are the test vectors of the CT reference
implementation (certificate-transparency-go, merkle/rfc6962), reproduced by every
independent implementation; none of them is computed by parcelflow.
"""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from parcelflow.domain import merkle

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index from 0, tree size, audit path)
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (0, 1, []),
]


def hashed(leaves: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(leaf) for leaf in leaves]


def test_the_roots_are_certificate_transparencys_for_every_size():
    for size, expected in enumerate(ROOTS):
        assert merkle.root(hashed(LEAVES[:size])).hex() == expected


def test_the_leaf_and_node_prefixes_are_zero_and_one():
    assert merkle.leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    assert merkle.node_hash(b"L", b"R") == hashlib.sha256(b"\x01LR").digest()


def test_inclusion_proofs_are_the_reference_audit_paths_and_verify():
    for index, size, path in INCLUSION:
        leaves = hashed(LEAVES[:size])
        proof = merkle.inclusion_proof(leaves, index)
        assert [p.hex() for p in proof] == path
        assert merkle.verify_inclusion(leaves[index], index, size, proof,
                                       bytes.fromhex(ROOTS[size]))


def test_a_proof_does_not_verify_for_another_leaf_index_size_or_root():
    leaves = hashed(LEAVES)
    proof = merkle.inclusion_proof(leaves, 5)
    root = bytes.fromhex(ROOTS[8])
    assert not merkle.verify_inclusion(leaves[4], 5, 8, proof, root)
    assert not merkle.verify_inclusion(leaves[5], 4, 8, proof, root)
    # (sizes 7 and 8 give leaf 5 the same path: the signed size and root tell them apart)
    assert not merkle.verify_inclusion(leaves[5], 5, 6, proof, root)
    assert not merkle.verify_inclusion(leaves[5], 5, 8, proof[:-1], root)
    assert not merkle.verify_inclusion(leaves[5], 5, 8, proof, bytes.fromhex(ROOTS[7]))
    assert not merkle.verify_inclusion(leaves[5], 9, 8, proof, root)


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_every_leaf_of_any_tree_proves_its_inclusion(data_leaves, data):
    leaves = hashed(data_leaves)
    root = merkle.root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = merkle.inclusion_proof(leaves, index)
    assert merkle.verify_inclusion(leaves[index], index, len(leaves), proof, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, len(leaves), proof,
                                       root)


def _recursive_root(leaves: list[bytes]) -> bytes:
    # RFC 6962's definition, word for word: split at the largest power of two < n.
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(_recursive_root(leaves[:k]), _recursive_root(leaves[k:]))


@given(st.lists(st.binary(max_size=4), max_size=100))
def test_the_level_by_level_root_is_the_rfcs_recursive_definition(data_leaves):
    leaves = hashed(data_leaves)
    assert merkle.root(leaves) == _recursive_root(leaves)
