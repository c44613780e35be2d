"""Check a verification answer's proofs against any node, trusting nothing but the chain: the
item's salted commitment and its Merkle proof, each event anchor, and the recall. Used by
``credance verify``; written against a minimal ABI so it needs nothing from this repository."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3

from backend.provenance.merkle import MerkleTree, event_leaf, item_commitment, item_leaf, verify

_B32 = {"type": "bytes32"}
ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "isItemRegistered", "stateMutability": "view",
     "inputs": [{"type": "uint64"}, _B32, _B32, {"type": "bytes32[]"}], "outputs": [{"type": "bool"}]},
    {"type": "function", "name": "isEventAnchored", "stateMutability": "view",
     "inputs": [_B32, _B32, {"type": "bytes32[]"}], "outputs": [{"type": "bool"}]},
    {"type": "function", "name": "eventAnchors", "stateMutability": "view", "inputs": [_B32],
     "outputs": [_B32, {"type": "uint32"}, {"type": "uint64"}]},
    {"type": "function", "name": "isGtinRecalled", "stateMutability": "view", "inputs": [{"type": "uint64"}],
     "outputs": [{"type": "bool"}]},
    {"type": "function", "name": "recallOfScope", "stateMutability": "view", "inputs": [_B32],
     "outputs": [{"type": "uint256"}]},
]  # fmt: skip
ITEMS_REGISTERED = keccak(text="ItemsRegistered(bytes32,uint64,bytes32,uint32)")
EVENTS_ANCHORED = keccak(text="EventsAnchored(bytes32,bytes32,uint32)")
ScopeFetcher = Callable[[int], dict[str, Any]]  # on-chain recall id -> /v1/recalls/{id}/scope answer


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
    checks += check_recalls(
        w3,
        proof["contract"],
        gtin,
        commitment,
        answer,
        fetch_scope or http_scope_fetcher(str(answer.get("digital_link") or "")),
    )
    return checks


# -- recalls: asked of the chain, not taken from the answer ------------------------------------

RECALL_ISSUED = keccak(text="RecallIssued(uint256,uint64,bytes32,bytes32,uint32,bytes32)")
RECALL_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": "brandOf", "stateMutability": "view", "inputs": [{"type": "uint64"}],
     "outputs": [_B32]},
    {"type": "function", "name": "isGtinRecalled", "stateMutability": "view", "inputs": [{"type": "uint64"}],
     "outputs": [{"type": "bool"}]},
    {"type": "function", "name": "isItemRecalled", "stateMutability": "view",
     "inputs": [{"type": "uint64"}, _B32, _B32, {"type": "bytes32[]"}], "outputs": [{"type": "bool"}]},
    {"type": "function", "name": "recalls", "stateMutability": "view", "inputs": [{"type": "uint256"}],
     "outputs": [{"type": "uint64"}, {"type": "uint32"}, {"type": "uint64"}, _B32, _B32]},
]  # fmt: skip


def http_scope_fetcher(url: str, timeout: float = 10) -> ScopeFetcher:
    """Scopes from the server at ``url``'s origin (``/v1/recalls/{id}/scope``): the leaves are
    checked against the root on chain, so the server is not trusted for them either."""
    link = urlsplit(url)
    base = f"{link.scheme}://{link.netloc}"

    def fetch(recall_id: int) -> dict[str, Any]:
        response = httpx.get(f"{base}/v1/recalls/{recall_id}/scope", timeout=timeout)
        response.raise_for_status()
        return dict(response.json())

    return fetch


@dataclass(frozen=True)
class _ScopedRecall:
    recall_id: int
    scope_root: bytes
    count: int


def _brand_recalls(w3: Web3, registry: str, brand: bytes, from_block: int) -> list[_ScopedRecall]:
    """Every RecallIssued log of a brand (brandId is the third indexed topic)."""
    logs = w3.eth.get_logs({
        "address": Web3.to_checksum_address(registry), "fromBlock": from_block, "toBlock": "latest",
        "topics": [HexBytes(RECALL_ISSUED), None, None, HexBytes(brand)],
    })  # fmt: skip
    found = []
    for log in logs:
        data = bytes(log["data"])
        found.append(_ScopedRecall(int.from_bytes(bytes(log["topics"][1]), "big"), data[:32],
                                   int.from_bytes(data[32:64], "big")))  # fmt: skip
    return found


def _scope_covers(registry: Any, gtin: int, commitment: bytes, brand: bytes, recall: _ScopedRecall,
                  fetch_scope: ScopeFetcher) -> tuple[bool | None, str]:  # fmt: skip
    """Whether a scoped recall covers the item (None: its scope could not be checked)."""
    try:
        scope = fetch_scope(recall.recall_id)
        leaves = [_b(leaf) for leaf in scope["leaves"]]
    except Exception as exc:  # any failure to get the leaves leaves the question open
        return None, f"recall {recall.recall_id}: its scope is not available ({type(exc).__name__})"
    if (
        not leaves
        or len(leaves) != recall.count
        or MerkleTree.build(leaves).root != recall.scope_root
        or _b(str(scope.get("brand"))) != brand
    ):
        return None, f"recall {recall.recall_id}: the scope served does not hash to the root on chain"
    leaf = item_leaf(gtin, commitment)
    if leaf not in leaves:
        return False, ""
    nodes = MerkleTree.build(leaves).proof(leaves.index(leaf))
    covered = bool(registry.functions.isItemRecalled(gtin, commitment, recall.scope_root, nodes).call())
    return covered, f"recall {recall.recall_id}: isItemRecalled with the scope's proof is {covered}"


def check_recalls(w3: Web3, registry_address: str, gtin: int, commitment: bytes, answer: dict[str, Any],
                  fetch_scope: ScopeFetcher, from_block: int = 0) -> list[Check]:  # fmt: skip
    """Ask the chain which recalls cover the item (its GTIN's, or a scope of its own brand listing
    it, found from the brand's RecallIssued logs and the leaves of each scope, checked against the
    root on chain) and compare with the answer: a covering recall missing from the answer fails,
    and so does a recall in the answer that no recall of the item's own brand backs on chain."""
    registry = w3.eth.contract(address=Web3.to_checksum_address(registry_address), abi=RECALL_ABI)
    brand = bytes(registry.functions.brandOf(gtin).call())
    if brand == bytes(32):
        return [Check("recalls", False, f"GTIN {gtin} has no brand on chain")]
    covering: list[str] = []
    problems: list[str] = []
    if registry.functions.isGtinRecalled(gtin).call():
        covering.append("isGtinRecalled")
    brand_recalls = _brand_recalls(w3, registry_address, brand, from_block)
    for recall in brand_recalls:
        if recall.scope_root == bytes(32):
            continue  # a whole-GTIN recall: isGtinRecalled above answers for this GTIN
        covered, detail = _scope_covers(registry, gtin, commitment, brand, recall, fetch_scope)
        if covered is None:
            problems.append(detail)
        elif covered:
            covering.append(f"recall {recall.recall_id}")
    says_recalled = answer.get("verdict") == "recalled"
    reported = (answer.get("proof") or {}).get("recall") or {}
    checks = [Check(f"recall scopes of brand 0x{brand.hex()[:8]}…", not problems,
                    "; ".join(problems) or f"{len(brand_recalls)} recall(s) of the item's brand checked")]  # fmt: skip
    if covering:
        checks.append(Check("recall on chain is in the answer", says_recalled,
                            f"the chain recalls this item ({', '.join(covering)})"))  # fmt: skip
    elif says_recalled:
        # Recalled through its history (e.g. made from a recalled item later): the chain cannot
        # prove the link, but the recall must exist and be one of the item's own brand.
        recall_id = reported.get("recall_id")
        backed = recall_id is not None and bytes(registry.functions.recalls(int(recall_id)).call()[3]) == brand
        detail = f"recall {recall_id} {'is' if backed else 'is not'} a recall by the item's brand"
        checks.append(Check("recall in the answer is the brand's", backed, detail))
    else:
        checks.append(Check("no recall on chain", True, "no recall of the item's brand covers it"))
    return checks
