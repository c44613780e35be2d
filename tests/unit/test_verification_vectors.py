"""The test vectors of docs/verification.md are what the code computes: a third party writing a
verifier from the document checks their work against true values."""

from __future__ import annotations

import json
import re

from eth_abi import encode as abi_encode

from backend.provenance.epcis.hashing import event_hash, hash_digest, pre_hash_string
from backend.provenance.merkle import MerkleTree, event_leaf, hash_pair, item_commitment, item_leaf, verify
from backend.settings import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "verification.md"


def vectors() -> dict[str, str]:
    block = re.search(r"```vectors\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None, "docs/verification.md lost its test vectors"
    return dict(line.split(" = ", 1) for line in block.group(1).strip().splitlines())


def h(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def test_item_vectors() -> None:
    v = vectors()
    gtin, salt, serial = int(v["gtin"]), h(v["salt"]), v["serial"]
    assert gtin == int(v["gtin_uint64"])
    assert abi_encode(["bytes32", "string"], [salt, serial]) == h(v["abi_encode_salt_serial"])
    commitment = item_commitment(salt, serial)
    assert commitment == h(v["commitment"])
    assert abi_encode(["uint64", "bytes32"], [gtin, commitment]) == h(v["abi_encode_gtin_commitment"])
    assert item_leaf(gtin, commitment) == h(v["item_leaf"])


def test_merkle_vectors() -> None:
    v = vectors()
    leaves = [h(x) for x in v["tree_leaves"].split()]
    assert leaves == [item_leaf(int(v["gtin"]), item_commitment(h(v["salt"]), f"SN000{n}")) for n in (1, 2, 3)]
    tree = MerkleTree.build(leaves)
    assert tree.root == h(v["tree_root"])
    assert tree.proof(0) == [h(x) for x in v["proof_0"].split()]
    assert tree.proof(2) == [h(v["proof_2"])] == [hash_pair(leaves[0], leaves[1])]
    assert all(verify(tree.proof(i), tree.root, leaf) for i, leaf in enumerate(leaves))


def test_event_vectors() -> None:
    v = vectors()
    body, namespaces = json.loads(v["event_body"]), json.loads(v["event_namespaces"])
    assert pre_hash_string(body, namespaces) == v["canonical"]
    assert event_hash(body, namespaces) == v["event_hash"]
    assert event_leaf(hash_digest(v["event_hash"])) == h(v["event_leaf"])
