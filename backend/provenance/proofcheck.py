"""Check a verification answer's proofs against any node, trusting nothing but the chain: the
item's salted commitment and its Merkle proof, each event anchor, and the recall. Used by
``credance verify``; written against a minimal ABI so it needs nothing from this repository."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3

from backend.provenance.merkle import event_leaf, item_commitment, item_leaf, verify
from backend.provenance.recall_check import ScopeFetcher, http_scope_fetcher, recall_checks

__all__ = ["Check", "check_proof", "check_recalls", "http_scope_fetcher"]

_B32 = {"type": "bytes32"}
ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "isItemRegistered", "stateMutability": "view",
     "inputs": [{"type": "uint64"}, _B32, _B32, {"type": "bytes32[]"}], "outputs": [{"type": "bool"}]},
    {"type": "function", "name": "isEventAnchored", "stateMutability": "view",
     "inputs": [_B32, _B32, {"type": "bytes32[]"}], "outputs": [{"type": "bool"}]},
    {"type": "function", "name": "eventAnchors", "stateMutability": "view", "inputs": [_B32],
     "outputs": [_B32, {"type": "uint32"}, {"type": "uint64"}]},
]  # fmt: skip
ITEMS_REGISTERED = keccak(text="ItemsRegistered(bytes32,uint64,bytes32,uint32)")
EVENTS_ANCHORED = keccak(text="EventsAnchored(bytes32,bytes32,uint32)")


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str = ""


def _b(value: str) -> bytes:
    return bytes(HexBytes(value))


def _in_transaction(w3: Web3, tx_hash: str | None, block: int | None, topic: bytes, root: str) -> Check:
    """The transaction is in the block the proof says, and emitted the event for this root."""
    if not tx_hash:
        return Check("transaction", False, "no transaction given")
    receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    logs = [log for log in receipt["logs"] if log["topics"] and bytes(log["topics"][0]) == topic]
    has_root = any(len(log["topics"]) > 1 and bytes(log["topics"][1]) == _b(root) for log in logs)
    ok = receipt["status"] == 1 and int(receipt["blockNumber"]) == block and has_root
    return Check("transaction", ok, f"{tx_hash} in block {receipt['blockNumber']}")


def check_proof(w3: Web3, answer: dict[str, Any], fetch_scope: ScopeFetcher | None = None) -> list[Check]:
    """Every check that the answer's proof allows, each passed or failed."""
    proof = answer.get("proof")
    if not proof:
        return [Check("proof", False, f"no proof in the answer (verdict {answer.get('verdict')})")]
    registry = w3.eth.contract(address=Web3.to_checksum_address(proof["contract"]), abi=ABI)
    checks = [Check("chain", w3.eth.chain_id == proof["chain_id"], f"chain id {w3.eth.chain_id}")]
    gtin = int(proof["gtin"])
    commitment = item_commitment(_b(proof["salt"]), str(proof["serial"]))
    checks.append(Check("commitment", commitment == _b(proof["commitment"]), "keccak256(abi.encode(salt, serial))"))
    leaf = item_leaf(gtin, commitment)
    nodes = [_b(n) for n in proof["merkle_proof"]]
    checks.append(Check("item Merkle proof", verify(nodes, _b(proof["root"]), leaf), f"root {proof['root']}"))
    on_chain = registry.functions.isItemRegistered(gtin, commitment, _b(proof["root"]), nodes).call()
    checks.append(Check("isItemRegistered", bool(on_chain), proof["contract"]))
    registered = _in_transaction(w3, proof.get("transaction"), proof.get("block_number"), ITEMS_REGISTERED,
                                 proof["root"])  # fmt: skip
    checks.append(Check("item registration transaction", registered.ok, registered.detail))
    for number, anchor in enumerate(proof.get("events") or [], start=1):
        digest = _b(anchor["event_hash"])
        anchor_nodes = [_b(n) for n in anchor["merkle_proof"]]
        local = verify(anchor_nodes, _b(anchor["root"]), event_leaf(digest))
        remote = registry.functions.isEventAnchored(digest, _b(anchor["root"]), anchor_nodes).call()
        writer = registry.functions.eventAnchors(_b(anchor["root"])).call()[0]
        expected = (anchor.get("organisation") or {}).get("chain_id")
        by_writer = expected is None or bytes(writer) == _b(expected)
        checks.append(Check(f"event {number} anchored", local and remote and by_writer, anchor["event_id"]))
        anchored = _in_transaction(w3, anchor.get("transaction"), anchor.get("block_number"), EVENTS_ANCHORED,
                                   anchor["root"])  # fmt: skip
        checks.append(Check(f"event {number} transaction", anchored.ok, anchored.detail))
    checks += check_recalls(w3, proof["contract"], gtin, commitment, answer, fetch_scope)
    return checks


def check_recalls(w3: Web3, registry: str, gtin: int, commitment: bytes, answer: dict[str, Any],
                  fetch_scope: ScopeFetcher | None = None) -> list[Check]:  # fmt: skip
    """Recalls asked of the chain itself (backend.provenance.recall_check), never taken from the answer."""
    return [Check(c.what, c.ok, c.detail) for c in recall_checks(w3, registry, gtin, commitment, answer, fetch_scope)]
