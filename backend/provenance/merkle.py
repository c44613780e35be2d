"""Merkle trees compatible with OpenZeppelin's MerkleProof (sorted-pair keccak256).

Leaves are double-hashed by the caller (see :func:`item_leaf`, :func:`event_leaf`) so a leaf can
never be mistaken for an inner node. An odd node at the end of a level moves up unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import keccak


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def item_commitment(salt: bytes, serial: str) -> bytes:
    """Salted commitment to a serial number (serials are guessable; salts are not)."""
    return keccak(abi_encode(["bytes32", "string"], [salt, serial]))


def item_leaf(gtin: int, commitment: bytes) -> bytes:
    """Leaf of an item: matches ProvenanceRegistry.itemLeaf. ``abi.encode(uint64, bytes32)`` of two
    static values is the GTIN as a 32-byte big-endian word followed by the commitment (packed by
    hand: eth_abi's encoder costs as much as both hashes; tests/unit/test_merkle.py checks it)."""
    if not 0 <= gtin < 2**64 or len(commitment) != 32:
        raise ValueError("itemLeaf takes a uint64 GTIN and a 32-byte commitment")
    return keccak(keccak(gtin.to_bytes(32, "big") + commitment))


def event_leaf(event_hash: bytes) -> bytes:
    """Leaf of an anchored event hash: matches ProvenanceRegistry.hashLeaf."""
    return keccak(event_hash)


@dataclass(frozen=True)
class MerkleTree:
    levels: list[list[bytes]]

    @classmethod
    def build(cls, leaves: list[bytes]) -> MerkleTree:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        levels = [list(leaves)]
        while len(levels[-1]) > 1:
            level = levels[-1]
            parent = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                parent.append(level[-1])
            levels.append(parent)
        return cls(levels)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        proof = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index //= 2
        return proof


def verify(proof: list[bytes], root: bytes, leaf: bytes) -> bool:
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root
