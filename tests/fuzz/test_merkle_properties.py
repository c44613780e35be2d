"""Merkle proofs as the chain sees them: random trees built in Python are checked by
ProvenanceRegistry itself (pure leaf functions and anchored batches on Anvil), and tampering with
a proof, a leaf or a root is always detected."""

from __future__ import annotations

import math

import pytest
from eth_utils import keccak
from hypothesis import assume, given
from hypothesis import strategies as st
from web3.contract import Contract

from backend.provenance.merkle import MerkleTree, event_leaf, item_commitment, item_leaf, verify
from tests.budget import chain_settings
from tests.contracts.conftest import Roles
from tests.contracts.helpers import send
from tests.support import rpc

pytestmark = pytest.mark.fuzz
hashes = st.binary(min_size=32, max_size=32)
leaf_sets = st.lists(hashes, min_size=1, max_size=300, unique=True)
gtins = st.integers(min_value=1, max_value=10**14 - 1)
serials = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
ORG = keccak(text="merkle-fuzzer")


@given(leaf_sets, st.data())
def test_tampering_with_proof_leaf_or_root_is_detected(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree.build(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.proof(index)
    assert verify(proof, tree.root, leaves[index])
    assert len(proof) <= math.ceil(math.log2(len(leaves))) if len(leaves) > 1 else proof == []
    flip = data.draw(st.integers(0, 255))
    tampered_root = bytes([tree.root[0] ^ (flip or 1)]) + tree.root[1:]
    assert not verify(proof, tampered_root, leaves[index])
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        broken = [*proof[:at], keccak(proof[at]), *proof[at + 1 :]]
        assert not verify(broken, tree.root, leaves[index])
        assert not verify(proof[:-1], tree.root, leaves[index])
    other = data.draw(st.integers(0, len(leaves) - 1))
    assume(other != index)
    assert not verify(proof, tree.root, leaves[other])


@given(leaf_sets)
def test_the_root_commits_to_every_leaf_and_their_order(leaves: list[bytes]) -> None:
    assume(len(leaves) > 1)
    root = MerkleTree.build(leaves).root
    assert MerkleTree.build(leaves).root == root
    assert MerkleTree.build(leaves[:-1]).root != root
    assert MerkleTree.build([*leaves[:-1], keccak(leaves[-1])]).root != root


def test_an_empty_tree_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        MerkleTree.build([])


@pytest.mark.chain
def test_python_leaves_match_the_contract(registry: Contract) -> None:
    @given(gtins, hashes, serials)
    @chain_settings(short=15, long=200)
    def check(gtin: int, salt: bytes, serial: str) -> None:
        commitment = item_commitment(salt, serial)
        assert registry.functions.itemLeaf(gtin, commitment).call() == item_leaf(gtin, commitment)
        assert registry.functions.hashLeaf(commitment).call() == event_leaf(commitment)

    check()


@pytest.mark.chain
def test_every_proof_verifies_on_chain_and_a_forged_one_does_not(registry: Contract, roles: Roles) -> None:
    send(roles.operator, registry.functions.setOrganisation(ORG, roles.other.address, 4, True))

    @given(st.lists(hashes, min_size=1, max_size=40, unique=True), st.data())
    @chain_settings(short=6, long=60)
    def check(event_hashes: list[bytes], data: st.DataObject) -> None:
        snapshot = rpc(registry.w3, "evm_snapshot")
        roles.other.reset_nonce()
        try:
            tree = MerkleTree.build([event_leaf(h) for h in event_hashes])
            send(roles.other, registry.functions.anchorEvents(tree.root, len(event_hashes)))
            for index in data.draw(st.lists(st.integers(0, len(event_hashes) - 1), min_size=1, max_size=5)):
                proof = tree.proof(index)
                assert registry.functions.isEventAnchored(event_hashes[index], tree.root, proof).call()
                forged = data.draw(hashes.filter(lambda h: h not in event_hashes))
                assert not registry.functions.isEventAnchored(forged, tree.root, proof).call()
        finally:
            rpc(registry.w3, "evm_revert", snapshot)

    check()
