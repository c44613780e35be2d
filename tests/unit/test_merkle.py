from __future__ import annotations

from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from backend.provenance.merkle import MerkleTree, hash_pair, item_leaf, verify

leaves = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70, unique=True)


@given(leaves)
def test_every_leaf_has_a_valid_proof(items: list[bytes]) -> None:
    tree = MerkleTree.build(items)
    for index, leaf in enumerate(items):
        assert verify(tree.proof(index), tree.root, leaf)


@given(leaves, st.binary(min_size=32, max_size=32))
def test_a_foreign_leaf_does_not_verify(items: list[bytes], stranger: bytes) -> None:
    tree = MerkleTree.build(items)
    if stranger not in items:
        assert not any(verify(tree.proof(i), tree.root, stranger) for i in range(len(items)))


def test_pair_hashing_is_commutative() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert hash_pair(a, b) == hash_pair(b, a)


@given(st.integers(min_value=0, max_value=2**64 - 1), st.binary(min_size=32, max_size=32))
def test_item_leaf_packs_as_abi_encode_does(gtin: int, commitment: bytes) -> None:
    assert item_leaf(gtin, commitment) == keccak(keccak(abi_encode(["uint64", "bytes32"], [gtin, commitment])))
