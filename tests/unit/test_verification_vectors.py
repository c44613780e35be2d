"""The test vectors of docs/verification.md are what the code computes: a third party writing a
verifier from the document checks their work against true values."""

from __future__ import annotations

import hashlib
import json
import re

from eth_abi import encode as abi_encode
from eth_utils import keccak

from backend.provenance.epcis.hashing import event_hash, hash_digest, pre_hash_string
from backend.provenance.epcis.identifiers import item_key
from backend.provenance.epcis.public_form import public_body, public_form, shown_body
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


def test_public_form_vectors() -> None:
    """The packing event of the vectors, from its body to the leaf anchored on chain (section 5)."""
    v = vectors()
    gtin, salt = v["gtin"], h(v["salt"])
    tokens = {
        item_key(gtin, s): "item:0x" + item_leaf(int(gtin), item_commitment(salt, s)).hex()
        for s in ("SN0001", "SN0002")
    }
    assert list(tokens.values()) == [v["token_SN0001"], v["token_SN0002"]]
    assert v["token_SN0001"] == "item:" + v["item_leaf"]
    body = json.loads(v["packing_body"])
    assert pre_hash_string(body) == v["packing_canonical"]
    assert event_hash(body) == v["packing_event_hash"]
    public = public_body(body, {}, tokens)
    assert public == json.loads(v["public_body"])
    assert "eventID" not in public
    assert "SN000" not in v["public_body"] + v["public_form"]
    assert public_form(public, {}) == v["public_form"]
    assert hashlib.sha256(v["public_form"].encode()).digest() == h(v["public_hash"])
    assert shown_body(public, v["token_SN0001"], item_key(gtin, "SN0001")) == json.loads(v["shown_body_SN0001"])
    commitment = keccak(abi_encode(["bytes32", "bytes32"], [h(v["event_salt"]), hash_digest(v["packing_event_hash"])]))
    assert commitment == h(v["cbv_commitment"])
    anchored = keccak(abi_encode(["bytes32", "bytes32"], [commitment, h(v["public_hash"])]))
    assert anchored == h(v["anchored"])
    assert event_leaf(anchored) == keccak(anchored) == h(v["event_leaf"])
