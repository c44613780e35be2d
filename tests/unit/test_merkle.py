from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.provenance.merkle import MerkleTree, hash_pair, verify

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
