"""Recalls asked of the chain itself, for a verifier that trusts nothing (issue 11, finding 10):
``credance verify`` never takes the answer's word about recalls.

Given the item (its GTIN and the salted commitment the verifier recomputed from the serial it was
asked about), the registry it pinned and the answer, :func:`recall_checks`

1. reads the item's brand (``brandOf``) and whether its whole GTIN is recalled (``isGtinRecalled``);
2. lists every ``RecallIssued`` log of that brand (``brandId`` is the third indexed topic) — a
   recall by anyone else can never cover the item (``isItemRecalled`` counts a scope only for its
   own brand's GTINs);
3. for each scoped recall, fetches the scope's leaves (``GET /v1/recalls/{recall_id}/scope``, from
   any server: the leaves are checked, not trusted), rebuilds the root (sorted-pair keccak256, an
   odd node moves up) and compares it and the leaf count with the log; if the item's leaf
   ``itemLeaf(gtin, commitment)`` is among the leaves it asks ``isItemRecalled`` with the proof it
   built itself;

and compares with the answer. It fails when a recall covering the item is missing from the
answer; when a scope cannot be fetched or does not match the chain (it cannot then tell that the
item is not in it); when the answer claims a recall the chain does not back for this item's brand;
and when a recall notice names a recall that is not on chain or is the item's own brand's.

Written against the verifier's minimal ABI (``verifier/registry.py``) and plain JSON-RPC, so a
verifier needs nothing from this repository's build or from the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from hexbytes import HexBytes
from web3 import Web3

from backend.provenance.merkle import MerkleTree, item_leaf
from backend.provenance.verifier.registry import ABI as REGISTRY_ABI
from backend.provenance.verifier.registry import RECALL_ISSUED

ZERO = bytes(32)

ScopeFetcher = Callable[[int], dict[str, Any]]  # on-chain recall id -> the /v1/recalls/{id}/scope answer


@dataclass(frozen=True)
class RecallCheck:
    what: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class OnChainRecall:
    recall_id: int
    gtin: int
    scope_root: bytes
    count: int


def http_scope_fetcher(url: str, timeout: float = 10) -> ScopeFetcher:
    """Scopes from the server at ``url``'s origin."""
    link = urlsplit(url)
    base = f"{link.scheme}://{link.netloc}"

    def fetch(recall_id: int) -> dict[str, Any]:
        response = httpx.get(f"{base}/v1/recalls/{recall_id}/scope", timeout=timeout)
        response.raise_for_status()
        return dict(response.json())

    return fetch


def brand_recalls(w3: Web3, registry: str, brand: bytes, from_block: int = 0) -> list[OnChainRecall]:
    """Every RecallIssued log of a brand, oldest first."""
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(registry),
            "fromBlock": from_block,
            "toBlock": "latest",
            "topics": [HexBytes(RECALL_ISSUED), None, None, HexBytes(brand)],
        }
    )
    found = []
    for log in logs:
        data, topics = bytes(log["data"]), log["topics"]
        found.append(
            OnChainRecall(
                int.from_bytes(bytes(topics[1]), "big"),
                int.from_bytes(bytes(topics[2]), "big"),
                data[:32],
                int.from_bytes(data[32:64], "big"),
            )
        )
    return found


def _leaves(recall: OnChainRecall, brand: bytes, fetch_scope: ScopeFetcher) -> list[bytes]:
    """The scope's leaves, checked against the chain; ValueError if they do not match it."""
    scope = fetch_scope(recall.recall_id)
    leaves = [bytes(HexBytes(leaf)) for leaf in scope["leaves"]]
    if any(len(leaf) != 32 for leaf in leaves) or len(leaves) != recall.count or not leaves:
        raise ValueError(f"{len(leaves)} leaves served, {recall.count} on chain")
    if MerkleTree.build(leaves).root != recall.scope_root:
        raise ValueError("the leaves served do not hash to the root on chain")
    if bytes(HexBytes(str(scope.get("brand")))) != brand:
        raise ValueError("the scope served names another brand")
    return leaves


def recall_checks(
    w3: Web3,
    registry_address: str,
    gtin: int,
    commitment: bytes | None,
    answer: Any,
    fetch_scope: ScopeFetcher | None = None,
    from_block: int = 0,
) -> list[RecallCheck]:
    """Every recall check of an item (see the module docstring). ``commitment`` is None when the
    verifier could not recompute it; ``fetch_scope`` defaults to the server the answer's Digital
    Link names."""
    answer = answer if isinstance(answer, dict) else {}
    registry = w3.eth.contract(address=Web3.to_checksum_address(registry_address), abi=REGISTRY_ABI)
    brand = bytes(registry.functions.brandOf(gtin).call())
    if brand == ZERO:
        return [RecallCheck("recalls", False, f"GTIN {gtin} has no brand on chain")]
    proof = answer.get("proof")
    claimed = proof.get("recall") if isinstance(proof, dict) else None
    claimed = claimed if isinstance(claimed, dict) else None
    says_recalled = answer.get("verdict") == "recalled"
    whole = bool(registry.functions.isGtinRecalled(gtin).call())
    checks = [
        RecallCheck(
            "whole-GTIN recall asked of the chain",
            not whole or (says_recalled and claimed is not None),
            f"isGtinRecalled({gtin}) = {whole}; the answer says {answer.get('verdict')!r}",
        ),
        RecallCheck(
            "a recalled verdict shows its recall",
            not says_recalled or claimed is not None,
            "recall shown" if claimed is not None else "no recall shown",
        ),
    ]
    if claimed is not None:
        checks.append(
            RecallCheck(
                "a recall shown makes the verdict 'recalled'", says_recalled, f"verdict {answer.get('verdict')!r}"
            )
        )
    fetch = fetch_scope or http_scope_fetcher(str(answer.get("digital_link") or ""))
    covering, scanned = _scoped_recalls_covering(registry, gtin, commitment, brand, fetch, from_block)
    checks.append(scanned)
    checks.append(
        RecallCheck(
            "every recall on chain is in the answer",
            not covering or says_recalled,
            f"the chain recalls this item: {', '.join(covering)}"
            if covering
            else "no scope of the item's brand lists it",
        )
    )
    if claimed is not None:
        checks += _claimed_recall(registry, gtin, commitment, brand, claimed)
    checks += _notice_checks(registry, brand, answer.get("recall_notices"))
    return checks


def _scoped_recalls_covering(
    registry: Any, gtin: int, commitment: bytes | None, brand: bytes, fetch: ScopeFetcher, from_block: int
) -> tuple[list[str], RecallCheck]:
    """The brand's scoped recalls that list the item, and whether every scope could be checked."""
    covering: list[str] = []
    problems: list[str] = []
    recalls = brand_recalls(registry.w3, registry.address, brand, from_block)
    for recall in recalls:
        if recall.scope_root == ZERO:
            continue  # a whole-GTIN recall: isGtinRecalled answers for this GTIN
        try:
            leaves = _leaves(recall, brand, fetch)
        except Exception as exc:  # whatever went wrong, this scope could not be checked
            problems.append(f"recall {recall.recall_id}: scope not checked ({type(exc).__name__}: {exc})"[:300])
            continue
        if commitment is None:
            problems.append(f"recall {recall.recall_id}: no commitment of the item to look for in its scope")
            continue
        leaf = item_leaf(gtin, commitment)
        if leaf in leaves:
            nodes = MerkleTree.build(leaves).proof(leaves.index(leaf))
            if registry.functions.isItemRecalled(gtin, commitment, recall.scope_root, nodes).call():
                covering.append(f"recall {recall.recall_id} (isItemRecalled)")
            else:
                problems.append(f"recall {recall.recall_id}: its scope lists the item but isItemRecalled says no")
    detail = "; ".join(problems) or f"{len(recalls)} recall(s) of the item's brand, every scope checked"
    return covering, RecallCheck("recall scopes of the item's brand", not problems, detail)


def _claimed_recall(
    registry: Any, gtin: int, commitment: bytes | None, brand: bytes, claimed: dict[str, Any]
) -> list[RecallCheck]:
    """The recall the answer shows must be one the chain backs for this item's brand."""
    try:
        scope = bytes(HexBytes(str(claimed.get("scope_root"))))
        if len(scope) != 32:
            raise ValueError("not 32 bytes")
    except ValueError as exc:
        return [RecallCheck("the recall claimed", False, f"scope_root {claimed.get('scope_root')!r}: {exc}")]
    via = claimed.get("via")
    if scope == ZERO and not via:
        whole = bool(registry.functions.isGtinRecalled(gtin).call())
        return [RecallCheck("the whole-GTIN recall claimed is on chain", whole, f"isGtinRecalled({gtin}) = {whole}")]
    if scope == ZERO:  # another GTIN of the brand wholly recalled, reaching this item through its history
        other = claimed.get("gtin")
        other_gtin = int(other) if isinstance(other, str | int) and str(other).isdigit() else 0
        backed = (
            other_gtin != 0
            and bool(registry.functions.isGtinRecalled(other_gtin).call())
            and bytes(registry.functions.brandOf(other_gtin).call()) == brand
        )
        return [
            RecallCheck(
                "the recall reaches the item",
                backed,
                f"through its history ({via}): GTIN {other} "
                f"{'is' if backed else 'is not'} wholly recalled by the item's brand",
            )
        ]
    recall_id = int(registry.functions.recallOfScope(brand, scope).call())
    checks = [
        RecallCheck(
            "the recall scope claimed is on chain",
            recall_id != 0,
            f"recallOfScope(brand of the item, scope) = {recall_id}",
        )
    ]
    issued_by = bytes(registry.functions.recalls(recall_id).call()[3]) if recall_id else ZERO
    checks.append(
        RecallCheck("recalled by the brand of the item", issued_by == brand, f"recall by 0x{issued_by.hex()}")
    )
    if claimed.get("merkle_proof") is not None:
        try:
            nodes = [bytes(HexBytes(n)) for n in claimed["merkle_proof"]]
            inside = commitment is not None and bool(
                registry.functions.isItemRecalled(gtin, commitment, scope, nodes).call()
            )
        except (TypeError, ValueError):
            inside = False
        checks.append(
            RecallCheck("the item is in the recall scope", inside, "isItemRecalled with its own leaf, recomputed")
        )
    else:
        checks.append(
            RecallCheck(
                "the recall reaches the item",
                bool(via),
                f"through its history ({via}): the chain has the brand's recall, not a leaf of this item in it",
            )
        )
    return checks


def _notice_checks(registry: Any, brand: bytes, notices: Any) -> list[RecallCheck]:
    """A notice ("packed with a recalled item") names another brand's recall on chain."""
    if not notices:
        return []
    bad = []
    for notice in notices if isinstance(notices, list) else [None]:
        recall_id = notice.get("recall_id") if isinstance(notice, dict) else None
        if not isinstance(recall_id, int) or isinstance(recall_id, bool) or recall_id <= 0:
            bad.append(f"a notice without a recall id on chain: {notice!r}"[:120])
            continue
        issued_by = bytes(registry.functions.recalls(recall_id).call()[3])
        if issued_by in (ZERO, brand):
            whose = "not on chain" if issued_by == ZERO else "a recall by the item's own brand"
            bad.append(f"recall {recall_id} is {whose}")
    return [
        RecallCheck(
            "recall notices name other brands' recalls on chain", not bad, "; ".join(bad) or f"{len(notices)} notice(s)"
        )
    ]
