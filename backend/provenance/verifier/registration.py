"""The item's registration: its salted commitment and leaf recomputed from the serial *asked*
(and the salt the answer gives), its Merkle proof checked locally and by the pinned registry,
the batch's GTIN and manufacturer and the product's brand read from the chain, and the
registration transaction found on the node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.provenance.merkle import item_commitment, item_leaf, verify
from backend.provenance.verifier.checks import Checks, bytes32, need, nodes
from backend.provenance.verifier.item import AskedItem
from backend.provenance.verifier.pinning import ChainPin
from backend.provenance.verifier.registry import ITEMS_REGISTERED, check_transaction, uint_topic


@dataclass(frozen=True)
class ItemLeaf:
    """What the verifier computed itself: the commitment and the leaf of the item asked."""

    commitment: bytes
    leaf: bytes


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _org_chain_id(step: Any) -> str | None:
    organisation = step.get("organisation") if isinstance(step, dict) else None
    return organisation.get("chain_id") if isinstance(organisation, dict) else None


def recompute_leaf(item: AskedItem, proof: Any) -> ItemLeaf:
    salt = bytes32(need(proof, "salt", str), "salt")
    commitment = item_commitment(salt, item.serial)
    return ItemLeaf(commitment, item_leaf(int(item.gtin), commitment))


def check_registration(checks: Checks, pin: ChainPin, item: AskedItem, answer: Any) -> ItemLeaf | None:
    """Every check of the item's registration; the recomputed leaf (None if it cannot be computed)."""
    proof = answer.get("proof") if isinstance(answer, dict) else None
    if not checks.add(
        "proof",
        isinstance(proof, dict),
        f"verdict {answer.get('verdict')!r}, no proof in the answer" if not isinstance(proof, dict) else "present",
    ):
        return None
    assert isinstance(proof, dict)
    with checks.guard("the answer's chain"):
        checks.add(
            "the answer's chain id is the pinned chain",
            need(proof, "chain_id", int) == pin.chain_id,
            f"answer says {proof.get('chain_id')}, pinned {pin.chain_id}",
        )
        contract = need(proof, "contract", str)
        checks.add(
            "the answer's contract is the pinned registry",
            contract.lower() == pin.address.lower(),
            f"answer says {contract}, pinned {pin.address} ({pin.source})",
        )
    leaf: ItemLeaf | None = None
    with checks.guard("commitment"):
        leaf = recompute_leaf(item, proof)
        claimed = bytes32(need(proof, "commitment", str), "commitment")
        checks.add(
            "commitment of the serial asked",
            claimed == leaf.commitment,
            f"keccak256(abi.encode(salt, {item.serial!r})) = {_hex(leaf.commitment)}",
        )
        if "leaf" in proof:
            checks.add("leaf of the item asked", bytes32(proof["leaf"], "leaf") == leaf.leaf, _hex(leaf.leaf))
    if leaf is None:
        return None
    root, manufacturer = b"", b""
    trail = answer.get("trail") if isinstance(answer.get("trail"), list) else []
    step = next((s for s in trail if isinstance(s, dict) and s.get("event") == "registered"), None)
    with checks.guard("item Merkle proof"):
        root = bytes32(need(proof, "root", str), "root")
        path = nodes(need(proof, "merkle_proof", list))
        checks.add("item Merkle proof (local)", verify(path, root, leaf.leaf), f"root {_hex(root)}")
        registered = pin.registry.functions.isItemRegistered(int(item.gtin), leaf.commitment, root, path).call()
        checks.add("isItemRegistered on the pinned registry", bool(registered), f"GTIN {item.gtin}")
    if not root:
        return leaf
    with checks.guard("item batch on chain"):
        batch_gtin, _count, _at, on_chain_manufacturer = pin.registry.functions.itemBatches(root).call()
        manufacturer = bytes(on_chain_manufacturer)
        checks.add("batch is of the GTIN asked", int(batch_gtin) == int(item.gtin), f"batch GTIN {batch_gtin}")
        shown = _org_chain_id(step)
        checks.add(
            "manufacturer shown is the batch's",
            shown is not None and bytes32(shown) == manufacturer,
            f"on chain {_hex(manufacturer)}, shown {shown}",
        )
    with checks.guard("brand on chain"):
        brand = (answer.get("product") or {}).get("brand") or {}
        on_chain = bytes(pin.registry.functions.brandOf(int(item.gtin)).call())
        checks.add(
            "brand shown owns the GTIN on chain",
            bytes32(brand.get("chain_id"), "brand") == on_chain,
            f"brandOf({item.gtin}) = {_hex(on_chain)}",
        )
    with checks.guard("item registration transaction"):
        indexed = [root, uint_topic(int(item.gtin)), manufacturer]
        block_time = check_transaction(checks, "registration", pin.w3, pin.address, proof, ITEMS_REGISTERED, indexed)
        if step is None:
            checks.add("registration shown in the timeline", False, "no 'registered' step")
        elif block_time is not None:
            same = (step.get("transaction"), step.get("block_number"), step.get("time")) == (
                proof["transaction"],
                proof["block_number"],
                block_time,
            )
            checks.add("registration step matches the chain", same, f"block time {block_time}")
    return leaf
